"""The nbgrader chain on a working copy of the course: release, submit samples, autograde, export.

The instructor's course is ``assignments/`` (``nbgrader_config.py`` at the repo root). The kit's own
checks work on a copy under ``build/nbgrader/`` so they never touch the instructor's gradebook:

    steps = [prepare_course, release, submit_samples, autograde, export]   # in this order:
    # release (generate_assignment) needs the source and the db entry; submissions are copies of
    # sample notebooks under submitted/<student>/<assignment>/; autograde reads the release's
    # checksums from the gradebook; export reads the gradebook only.

:mod:`.samples` (``course samples``) runs the chain and compares every sample's grades with ``expected.yaml``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


from ..exceptions import GradingError
from ..paths import build_dir, cache_dir, repo_root
from .nbgrader_run import read_failures

__all__ = ["assignments", "nbgrader_env", "run_nbgrader", "prepare_course", "release", "submit_samples",
           "autograde", "export", "model_quality", "COURSE_ID"]

COURSE_ID = "tf-on-device"


def assignments(root: Path | None = None) -> list[str]:
    root = root or repo_root()
    return sorted(p.name for p in (root / "assignments" / "source").iterdir() if p.is_dir())


def nbgrader_env(course: Path | None = None) -> dict[str, str]:
    """The environment nbgrader runs in (``course``: its grading kernels start quiet, see ``prepare_course``)."""
    env = dict(os.environ)
    # nbgrader shells out to `alembic`, which lives beside this interpreter
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("MPLBACKEND", "Agg")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("COURSE_OFFLINE", "1")
    if course is not None:
        # nbgrader fails a test cell on any stderr output: grading kernels start with library
        # warnings off (an IPython startup file that prepare_course copies into the course)
        env["IPYTHONDIR"] = str(course / ".ipython")
        env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return env


def run_nbgrader(course: Path, *args: str, timeout: int = 1800, sandbox: bool = False) -> str:
    """``nbgrader ARGS`` in ``course``; its output. A notebook that did not run to its end raises
    :class:`NotebookExecutionError` (its fields, see :mod:`.nbgrader_run`); any other failure
    :class:`GradingError` with nbgrader's stderr.

    ``sandbox``: run it (and so the kernel) in the grading sandbox (:mod:`.engine.sandbox`, no network) seeing
    ``course`` and the resource cache (writable) and nothing else of this machine's files, where it starts.
    """
    with tempfile.TemporaryDirectory(prefix="nbgrader-run-") as tmp:
        failures_json = Path(tmp) / "failures.json"
        cmd = [sys.executable, "-m", "course_lib.grading.nbgrader_run", str(failures_json), *args]
        env = nbgrader_env(course)
        if sandbox and _sandbox_ok():
            from .engine.sandbox import Limits, View, run_confined

            # the learner's own cache (their notebook fills it), named: HOME is a throwaway folder inside
            cache_dir().mkdir(parents=True, exist_ok=True)
            env.update({"HOME": tmp, "TMPDIR": tmp, "JUPYTER_RUNTIME_DIR": str(Path(tmp) / "runtime"),
                        "COURSE_CACHE": str(cache_dir())})
            view = View(writable=[str(course), tmp, str(cache_dir())])
            rc, out = run_confined(cmd, cwd=str(course), env=env, limits=Limits(notebook_timeout=timeout),
                                   timeout=timeout, view=view)
            proc = subprocess.CompletedProcess(cmd, -9 if rc is None else rc, out, out)
        else:
            proc = subprocess.run(cmd, cwd=course, env=env, capture_output=True, text=True, timeout=timeout)
        failures = read_failures(failures_json, proc.returncode) if proc.returncode != 0 else []
    if failures:
        raise failures[0]
    if proc.returncode != 0:
        raise GradingError(f"`nbgrader {' '.join(args)}` failed in {course} (exit {proc.returncode}):\n"
                           + proc.stderr[-3000:])
    return proc.stdout + (proc.stderr if proc.stderr is not proc.stdout else "")


def _sandbox_ok() -> bool:
    from .engine.sandbox import sandbox_status

    return not sandbox_status().startswith("none")


def prepare_course(course: Path | None = None, cell_timeout: int = 600, source: Path | None = None) -> Path:
    """A fresh working copy of the course (sources only) with its own ``nbgrader_config.py``.

    ``source`` (default ``assignments/source``) is a folder of ``<assignment>/`` folders: a release
    folder makes a course whose gradebook holds only what learners were given (``course check``).
    """
    course = course or build_dir() / "nbgrader"
    if course.exists():
        shutil.rmtree(course)
    shutil.copytree(source or repo_root() / "assignments" / "source", course / "source")
    shutil.copytree(Path(__file__).parent / "ipython_profile", course / ".ipython")
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
        "c.CourseDirectory.root = __import__('os').path.dirname(__file__)\n"
        f"c.Execute.timeout = {cell_timeout}\n"
        f"c.ExecutePreprocessor.timeout = {cell_timeout}\n"
        # after a cell's reply, how long its output may take (nbclient's 4 s): a kernel interrupted at a cell
        # timeout, in the sandbox by message, can take longer on a loaded machine; nbgrader raises on it
        "c.Execute.iopub_timeout = 30\n"
        "c.ClearSolutions.code_stub = {'python': '# YOUR CODE HERE\\nraise NotImplementedError()'}\n")
    return course


def release(course: Path, assignment: str) -> Path:
    """``nbgrader generate_assignment``: solutions and hidden tests removed, checksums recorded."""
    run_nbgrader(course, "db", "assignment", "add", assignment)
    run_nbgrader(course, "generate_assignment", assignment, "--force")
    out = course / "release" / assignment
    if not out.is_dir():
        raise GradingError(f"generate_assignment wrote no {out}")
    return out


def submit_samples(course: Path, assignment: str) -> list[str]:
    """Copy each sample under ``assignments/samples/<assignment>/<student>/`` in as a submission."""
    samples = repo_root() / "assignments" / "samples" / assignment
    students = sorted(p.name for p in samples.iterdir() if p.is_dir())
    for student in students:
        dest = course / "submitted" / student / assignment
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(samples / student, dest)
        run_nbgrader(course, "db", "student", "add", student)
    return students


def autograde(course: Path, assignment: str, timeout: int = 3600, sandbox: bool = False) -> str:
    """``nbgrader autograde``; ``sandbox``: in the grading sandbox where it starts (see :func:`run_nbgrader`)."""
    return run_nbgrader(course, "autograde", assignment, "--force", timeout=timeout, sandbox=sandbox)


def export(course: Path) -> Path:
    run_nbgrader(course, "export", "--to", "grades.csv")
    return course / "grades.csv"


def model_quality(saved: str | Path) -> None:
    """The body of a hidden model-quality test cell; ``course grade``'s evaluator sets its points.

    Nothing is measured in the learner's kernel, where the held-out data is not readable: the grading
    engine measures ``saved`` afterwards in a separate process (``assignments/grading.yaml``). Here the
    cell checks that the model was saved, and fails under plain ``nbgrader autograde``, which cannot
    measure it.
    """
    if not Path(saved).exists():
        raise AssertionError(f"{saved} was not saved: 0 points for model quality.")
    if os.environ.get("COURSE_GRADE_ENGINE") != "1" and os.environ.get("COURSE_PROFILE"):
        print(f"{saved} saved (`course notebooks` runs the instructor's source: nothing is graded here).")
        return
    if os.environ.get("COURSE_GRADE_ENGINE") != "1":
        raise AssertionError(f"{saved} is graded by `course grade`, whose evaluator measures it on held-out data "
                             "outside this notebook; plain `nbgrader autograde` gives no points for model quality.")
    print(f"{saved} saved: the grader measures it on held-out data after this notebook has run.")
