"""``course doctor``: is this environment able to run the course? Each check says how to fix it."""
from __future__ import annotations

import importlib.metadata as md
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..paths import cache_dir, is_offline

__all__ = ["Check", "run_checks", "PACKAGES"]

# The packages the kit is built on, with the version the lock pins (requirements/lock.txt).
PACKAGES = ["tensorflow", "tensorflow-hub", "tensorflow-model-optimization", "tflite-model-maker",
            "tflite-support", "nbgrader", "papermill", "jupyterlab", "numpy", "protobuf", "keras"]

SETUP_FIX = "Run `bash ci/setup.sh` from the course folder (it installs the pinned stack into .venv)."


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


def _python(code: str, timeout: int = 180) -> tuple[bool, str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env)
    lines = (proc.stdout if proc.returncode == 0 else proc.stderr).strip().splitlines()
    return proc.returncode == 0, lines[-1] if lines else f"exit {proc.returncode}"


def _import_all(imports: dict[str, str]) -> dict[str, tuple[bool, str]]:
    """Try each import statement in one child process (TF loads once); a crash fails the rest."""
    import json

    code = ("import json, traceback\nres = {}\n"
            f"for name, stmt in {imports!r}.items():\n"
            "    try:\n        exec(stmt); res[name] = [True, 'works']\n"
            "    except BaseException as e:\n        res[name] = [False, f'{type(e).__name__}: {e}'[:300]]\n"
            "print(json.dumps(res))")
    ok, out = _python(code)
    try:
        return {k: (v[0], v[1]) for k, v in json.loads(out).items()}
    except (ValueError, AttributeError):
        return {name: (False, f"the import check process died: {out}") for name in imports}


def _version(pkg: str) -> str | None:
    try:
        return md.version(pkg)
    except md.PackageNotFoundError:
        return None


def _pinned() -> dict[str, str]:
    from ..paths import repo_root

    pins = {}
    for name in ("lock.txt", "nodeps.txt"):
        p = repo_root() / "requirements" / name
        if p.is_file():
            for line in p.read_text().splitlines():
                if "==" in line and not line.startswith("#"):
                    k, v = line.split("#")[0].strip().split("==")
                    pins[k.lower().replace("_", "-")] = v
    return pins


def run_checks(progress=None, kernel: bool = True) -> list[Check]:
    """Run every check (imports run in a subprocess so a crash is a finding, not a crash).

    ``kernel=False`` skips starting a Jupyter kernel (pointless from inside a notebook).
    """
    checks: list[Check] = []

    def add(c: Check) -> None:
        checks.append(c)
        if progress:
            progress(c)

    add(Check("python", sys.version_info[:2] == (3, 11), sys.version.split()[0],
              "The stack is pinned for Python 3.11 (TF 2.13 has no wheels for newer Pythons)."))
    pins = _pinned()
    for pkg in PACKAGES:
        v = _version(pkg)
        want = pins.get(pkg)
        ok = v is not None and (want is None or v == want)
        add(Check(f"package {pkg}", ok, f"{v or 'missing'}" + (f" (pinned {want})" if want and v != want else ""),
                  SETUP_FIX))
    imports = {
        "Model Maker": "from tflite_model_maker import image_classifier, object_detector",
        "tflite_support.metadata_writers": "from tflite_support.metadata_writers import image_classifier, object_detector",
        "tflite_support.task.vision": "from tflite_support.task import vision",
        "tensorflow_model_optimization": "import tensorflow_model_optimization as tfmot; tfmot.sparsity.keras.prune_low_magnitude",
        "tensorflow_hub": "import tensorflow_hub",
    }
    results = _import_all(imports)
    for name in imports:
        ok, out = results[name]
        fix = SETUP_FIX
        if "libusb" in out:
            fix = "Install the system library: `sudo apt-get install libusb-1.0-0` (Debian/Ubuntu)."
        add(Check(f"import {name}", ok, "works" if ok else out, fix))
    for cli in ("nbgrader", "papermill", "alembic", "jupyter"):
        exe = Path(sys.executable).parent / cli
        found = exe if exe.exists() else shutil.which(cli)
        ok = False
        if found:
            proc = subprocess.run([str(found), "--version"], capture_output=True, text=True, timeout=120)
            ok = proc.returncode == 0
        add(Check(f"CLI {cli}", ok, str(found) if found else "not found", SETUP_FIX +
                  " Put .venv/bin on PATH (nbgrader calls alembic)."))
    ok, out = _python("from jupyter_client.kernelspec import KernelSpecManager as K; "
                      "s = K().get_kernel_spec('python3'); print(s.argv[0])")
    add(Check("Jupyter kernel python3", ok, out, SETUP_FIX))
    if ok and kernel:
        ok2, out2 = _python("from jupyter_client.manager import start_new_kernel as s; km, kc = s(kernel_name='python3', "
                            "startup_timeout=120); kc.execute_interactive('import tensorflow'); "
                            "km.shutdown_kernel(); print('kernel runs and imports tensorflow')", timeout=240)
        add(Check("Jupyter kernel starts", ok2, out2,
                  "A dying kernel is usually ipython >= 8.23 beside typing-extensions 4.5: " + SETUP_FIX))
    edgetpu = shutil.which("edgetpu_compiler")
    add(Check("edgetpu_compiler (optional)", bool(edgetpu), edgetpu or "not on PATH: lesson 5 uses the pre-flight analyzer",
              "Coral's apt repository (x86-64 Linux): apt-get install edgetpu-compiler", required=False))
    offline = is_offline()
    add(Check("network", True, "offline: registered stand-ins and bundled data are used" if offline
              else "online: TF Hub handles are downloaded and cached", required=False))
    cache = cache_dir()
    writable = os.access(cache, os.W_OK)
    add(Check("cache folder", writable, f"{cache} ({'writable' if writable else 'not writable'})",
              "Set COURSE_CACHE to a writable folder."))
    return checks
