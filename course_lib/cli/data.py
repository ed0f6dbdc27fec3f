"""``course data``: list, fetch and check the registered data sets and models."""
from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("data", help="the resource registry (datasets/manifest.yaml)")
    s = p.add_subparsers(dest="action", required=True)
    s.add_parser("list", help="every resource with its licence, size and cache status")
    f = s.add_parser("fetch", help="fetch (or build) resources into the cache")
    f.add_argument("names", nargs="*", help="resource names (default: all)")
    f.add_argument("--refresh", action="store_true", help="move the cached copy aside and fetch again")
    i = s.add_parser("info", help="everything the registry says about one resource")
    i.add_argument("name")
    p.set_defaults(func=main)


def main(args) -> int:
    from ..resources import registry
    from ..paths import cache_dir

    if args.action == "list":
        print(f"cache: {cache_dir()}")
        for n in registry.names():
            r = registry.get(n)
            print(f"{n:45} {r.kind:8} {r.size / 1e6:7.1f} MB  {registry.status(n):11} {r.license}")
        return 0
    if args.action == "info":
        r = registry.get(args.name)
        print(f"{r.name}: {r.title}\n  kind: {r.kind}\n  licence: {r.license}\n  citation: {r.citation}\n"
              f"  size: {r.size} bytes\n  status: {registry.status(r.name)} ({r.path})")
        for rel, h in r.files.items():
            print(f"  file {rel}  sha256 {h}")
        for s in r.sources:
            print(f"  source {s['type']}: {s.get('requirement') or s.get('package') or ''}")
        if r.generator:
            print(f"  generator {r.generator['function']} from {r.generator.get('inputs')}")
        return 0
    for n in args.names or registry.names():
        print(f"{n}: {registry.fetch(n, refresh=args.refresh)}")
    return 0
