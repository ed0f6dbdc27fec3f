"""Execution profiles: the papermill parameters each notebook gets (``ci/params/<profile>.yaml``).

    offline: true               # also exported as COURSE_OFFLINE to the kernels
    timeout: 120                # seconds per notebook (the process is killed past it)
    cell_timeout: 110           # seconds per cell
    defaults: {}                # parameters for every notebook that declares them
    notebooks:
      01_hub_transfer_learning: {epochs: 1, image_size: 96}

A notebook key must be a notebook's file stem; a parameter must exist in that notebook's
``parameters`` cell (checked, so a typo is an error and not a silently ignored setting).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..exceptions import ProfileError
from ..paths import repo_root

__all__ = ["Profile", "load_profile", "profile_names"]

_KEYS = {"offline", "timeout", "cell_timeout", "defaults", "notebooks", "description"}


@dataclass(frozen=True)
class Profile:
    name: str
    path: Path
    offline: bool
    timeout: int
    cell_timeout: int
    defaults: dict[str, Any] = field(default_factory=dict)
    notebooks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def parameters_for(self, notebook: Path) -> dict[str, Any]:
        """Parameters for ``notebook``, limited to those its ``parameters`` cell declares."""
        declared = declared_parameters(notebook)
        params = {k: v for k, v in self.defaults.items() if k in declared}
        specific = self.notebooks.get(notebook.stem, {})
        unknown = sorted(set(specific) - set(declared))
        if unknown:
            raise ProfileError(
                f"{self.path}: notebooks.{notebook.stem} sets {unknown}, which {notebook.name} does not declare "
                f"in its `parameters` cell (it declares {sorted(declared)}). Fix the name in {self.path.name}.")
        params.update(specific)
        return params


def declared_parameters(notebook: Path) -> set[str]:
    import papermill

    return set(papermill.inspect_notebook(str(notebook)).keys())


def profile_names() -> list[str]:
    return sorted(p.stem for p in (repo_root() / "ci" / "params").glob("*.yaml"))


def load_profile(name_or_path: str) -> Profile:
    """Load and validate a profile by name (``smoke``, ``full``) or by path."""
    p = Path(name_or_path)
    if not p.suffix:
        p = repo_root() / "ci" / "params" / f"{name_or_path}.yaml"
    if not p.is_file():
        raise ProfileError(f"No profile file {p}. Known profiles: {', '.join(profile_names())}.")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise ProfileError(f"{p}{where}: not valid YAML ({getattr(e, 'problem', e)}). Fix the file.") from e
    if not isinstance(data, dict):
        raise ProfileError(f"{p}: expected a mapping with keys {sorted(_KEYS)}, got {type(data).__name__}.")
    extra = set(data) - _KEYS
    if extra:
        raise ProfileError(f"{p}: unknown keys {sorted(extra)}; allowed: {sorted(_KEYS)}.")
    notebooks = data.get("notebooks") or {}
    if not isinstance(notebooks, dict) or not all(isinstance(v, dict) for v in notebooks.values()):
        raise ProfileError(f"{p}: `notebooks` must map a notebook stem to a mapping of parameters.")
    for key in ("timeout", "cell_timeout"):
        if key in data and (not isinstance(data[key], int) or data[key] <= 0):
            raise ProfileError(f"{p}: `{key}` must be a positive number of seconds, got {data[key]!r}.")
    return Profile(name=p.stem, path=p, offline=bool(data.get("offline", False)),
                   timeout=int(data.get("timeout", 600)), cell_timeout=int(data.get("cell_timeout", 600)),
                   defaults=dict(data.get("defaults") or {}), notebooks=notebooks)
