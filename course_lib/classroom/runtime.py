"""The interpreter every user's server and kernel runs: the kit's venv, or a shared venv on top of it.

Learners' servers run as their own Unix accounts, so they must be able to execute the kit's interpreter. A
venv made from a private Python (pyenv under ``/root``, mode 0700) cannot be run by them: then
:func:`shared_python` makes ``<state>/python``, a venv from a system Python of the same minor version that
everyone can run (``/usr/bin/python3.11`` on Debian 12), whose one ``.pth`` file adds the kit's
site-packages. Same packages, same versions; nothing is copied or downloaded.
"""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import sysconfig
from pathlib import Path

from ..exceptions import EnvironmentProblem

__all__ = ["shared_python", "world_can_run"]


def world_can_run(path: Path) -> bool:
    """True if any user can reach ``path`` (every folder above it searchable by others) and read/run it."""
    path = Path(path).resolve()
    for p in [*reversed(path.parents)]:
        if not p.stat().st_mode & stat.S_IXOTH:
            return False
    mode = path.stat().st_mode
    return bool(mode & stat.S_IROTH) and (path.is_dir() or bool(mode & stat.S_IXOTH))


def _candidates() -> list[Path]:
    minor = f"python{sys.version_info.major}.{sys.version_info.minor}"
    env = os.environ.get("COURSE_HUB_PYTHON")
    return [Path(p) for p in ([env] if env else []) + [f"/usr/bin/{minor}", f"/usr/local/bin/{minor}"]]


def shared_python(runtime: Path) -> Path:
    """An interpreter with the kit's packages that every user can run (see the module docstring)."""
    site = Path(sysconfig.get_paths()["purelib"])
    here = Path(sys.executable)
    if world_can_run(here) and world_can_run(site):
        return here
    if not world_can_run(site):
        raise EnvironmentProblem(
            f"the kit's packages ({site}) are not readable by other users, so learners' servers could not import "
            "them. Put the kit where every user can read it (e.g. /opt/tf-course-kit, `chmod -R a+rX`) and run "
            "`bash ci/setup.sh` there.")
    target = runtime / "bin" / "python"
    if target.exists():
        return target
    base = next((c for c in _candidates() if c.is_file() and world_can_run(c)), None)
    if base is None:
        raise EnvironmentProblem(
            f"the kit's interpreter {here.resolve()} cannot be run by other users (a folder above it is private), "
            f"and no system Python {sys.version_info.major}.{sys.version_info.minor} was found to share "
            f"({', '.join(map(str, _candidates()))}). Install one (`apt-get install python3.11` on Debian 12), set "
            "COURSE_HUB_PYTHON=/path/to/python3.11, or make the kit's venv from a shared Python "
            "(`PYTHON=/usr/bin/python3.11 bash ci/setup.sh`).")
    subprocess.run([str(base), "-m", "venv", "--without-pip", str(runtime)], check=True, capture_output=True)
    dest = Path(subprocess.run([str(target), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (dest / "zz-course-kit.pth").write_text(f"import site; site.addsitedir({str(site)!r})\n")
    for p in [runtime, *runtime.rglob("*")]:
        if not p.is_symlink():
            p.chmod(p.stat().st_mode | stat.S_IROTH | stat.S_IRGRP | (stat.S_IXOTH | stat.S_IXGRP if p.is_dir() else 0))
    check = subprocess.run([str(target), "-c", "import jupyterhub.singleuser, nbgrader, course_lib"],
                           capture_output=True, text=True)
    if check.returncode != 0:
        raise EnvironmentProblem(f"{target} (a venv from {base} on the kit's packages) does not import the kit: "
                                 f"{check.stderr.strip()[-500:]}. Set COURSE_HUB_PYTHON to a Python "
                                 f"{sys.version_info.major}.{sys.version_info.minor} that matches the kit's.")
    return target
