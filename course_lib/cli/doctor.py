"""``course doctor``: check the environment; non-zero exit if a required part fails."""
from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("doctor", help="check the environment (packages, imports, CLIs, kernel, cache)")
    p.set_defaults(func=main)


def main(args) -> int:
    from ..course.doctor import run_checks

    def show(c) -> None:
        mark = "ok  " if c.ok else ("--  " if not c.required else "FAIL")
        print(f"{mark} {c.name:38} {c.detail}" + (f"\n     fix: {c.fix}" if not c.ok and c.fix else ""), flush=True)

    checks = run_checks(progress=show)
    bad = [c for c in checks if c.required and not c.ok]
    print(f"\n{len(checks) - len(bad)}/{len(checks)} checks passed" + ("" if not bad else f"; {len(bad)} required failed"))
    return 1 if bad else 0
