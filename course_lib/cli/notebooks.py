"""``course notebooks``: execute every notebook with papermill under a profile."""
from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("notebooks", help="execute every notebook (lessons + assignment solutions) with papermill")
    p.add_argument("pattern", nargs="?", help="only notebooks whose stem matches this glob (or path contains it)")
    p.add_argument("--profile", default="smoke", help="ci/params/<profile>.yaml, or a path (default: smoke)")
    p.add_argument("--jobs", "-j", type=int, default=1, help="notebooks run in parallel (default 1)")
    p.add_argument("--timeout", type=int, help="override the profile's per-notebook limit (seconds)")
    p.set_defaults(func=main)


def main(args) -> int:
    from dataclasses import replace

    from ..course.notebooks import run_notebooks
    from ..paths import build_dir
    from ..course.profiles import load_profile

    profile = load_profile(args.profile)
    if args.timeout:
        profile = replace(profile, timeout=args.timeout)
    results = run_notebooks(profile, args.pattern, jobs=args.jobs, progress=lambda m: print(m, flush=True))
    bad = [r for r in results if r.status != "ok"]
    print(f"\n{len(results) - len(bad)} passed, {len(bad)} failed; report: {build_dir() / 'notebooks' / 'report.md'}")
    return 1 if bad else 0
