"""One line at the top of a lesson: is this the full run whose results the lesson quotes, or a smaller one?

    from course_lib.run_banner import banner
    print(banner("01_hub_transfer_learning", globals()))

The reference is the ``full`` profile (``ci/params/full.yaml``) and, for a parameter it does not set, the
default in the committed notebook's ``parameters`` cell. Any parameter that differs is named with both values.
"""
from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

from .exceptions import ProfileError

__all__ = ["full_parameters", "differences", "banner"]


def _notebook(stem: str):
    from .course.notebooks import discover

    found = [p for p in discover() if p.stem == stem]
    if not found:
        raise ProfileError(f"No lesson or assignment notebook named {stem!r}: pass the file's stem, "
                           "e.g. '01_hub_transfer_learning'.")
    return found[0]


def _defaults(path) -> dict[str, Any]:
    """Literal assignments of the notebook's ``parameters`` cell (an expression default is left out)."""
    import json

    cells = json.loads(path.read_text())["cells"]
    source = next(("".join(c["source"]) for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])), "")
    values: dict[str, Any] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return values


def full_parameters(stem: str, profile: str = "full") -> dict[str, Any]:
    """The parameters a ``profile`` run of notebook ``stem`` gets: the profile's, else the notebook's defaults."""
    from .course.profiles import load_profile

    values = _defaults(_notebook(stem))
    prof = load_profile(profile)
    values.update({k: v for k, v in prof.defaults.items() if k in values})
    values.update(prof.notebooks.get(stem, {}))
    return values


def differences(stem: str, values: Mapping[str, Any], profile: str = "full") -> dict[str, tuple[Any, Any]]:
    """``{parameter: (this run's value, the profile's value)}`` for each declared parameter that differs."""
    reference = full_parameters(stem, profile)
    return {k: (values[k], ref) for k, ref in reference.items() if k in values and values[k] != ref}


def _smaller(value: Any, ref: Any) -> bool:
    """A size or count below the reference (0 and None mean 'all' in these notebooks), or fewer items."""
    number = (int, float)
    if isinstance(value, bool) or isinstance(ref, bool):
        return False
    if isinstance(value, number) and value and (ref in (None, 0) or isinstance(ref, number) and value < ref):
        return True
    return isinstance(value, list) and isinstance(ref, list) and set(value) < set(ref)


def banner(stem: str, values: Mapping[str, Any], profile: str = "full") -> str:
    """One line: the full run, or which parameters make this run differ from it (e.g. a smoke run)."""
    diff = differences(stem, values, profile)
    if not diff:
        return (f"FULL RUN: every parameter as in ci/params/{profile}.yaml; the 'Expected results (full run)' "
                "table applies (runs of one recipe still differ a little).")
    kind = "REDUCED RUN" if any(_smaller(v, ref) for v, ref in diff.values()) else "CHANGED RUN"
    listed = ", ".join(f"{k}={v!r} (full: {ref!r})" for k, (v, ref) in diff.items())
    return (f"*** {kind} *** {listed}. The numbers below are not the lesson's results (a short run can score "
            "near chance); the 'Expected results (full run)' table has those.")
