"""Grade one submission in its own confined process tree (runs inside a Dask worker).

``grade_submission(task, quality)`` gets everything as bytes (the assignment's template course, the submission's
files, hidden data for the model evaluator), so workers need no shared file system; it never raises:
whatever goes wrong becomes a status of the returned row.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

from ...paths import cache_dir
from .grader_process import clear, run_in_grader, worker_root
from .sandbox import NO_ISOLATION, Limits, View, kernel_argv, network_isolation, sandbox_status
from .submitted import inject_parameters
from .tamper import scan
from ..nbgrader_run import read_failures, read_phases
from ..result import Finding, GradedResult, TestResult, pass_fail

__all__ = ["grade_submission", "STATUS_ORDER"]

# most severe first: the row's status is the most severe of what happened
STATUS_ORDER = ["grader-error", "invalid-notebook", "missing-notebook", "notebook-timeout", "cpu-limit",
                "kernel-died", "out-of-memory", "timeout", "exited", "tampered", "model-missing",
                "model-invalid", "model-unloadable"]


def _write_tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def _cell_issues(nb: dict) -> tuple[list[Finding], dict[str, str]]:
    """Environment/fault issues from the executed notebook's error outputs, and each graded cell's error."""
    from ..diagnosis import classify_error

    issues, messages = [], {}
    for k, cell in enumerate(nb.get("cells", []), 1):
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        for o in errors:
            ename, evalue = o.get("ename", ""), o.get("evalue", "")
            if ename == "SystemExit":
                issues.append(Finding("exited", f"cell {k} called sys.exit({evalue}) or os._exit(); "
                                                "the cells after it still ran"))
            else:
                issue = classify_error(ename, evalue, k)
                if issue is not None:
                    kind = {"kernel-died": "kernel-died", "out-of-memory": "out-of-memory",
                            "timeout": "timeout"}.get(issue.kind, issue.kind)
                    issues.append(Finding(kind, f"cell {k}: {ename}: {evalue}"[:300]))
        if gid and errors:
            messages[gid] = f"{errors[-1].get('ename', 'Error')}: {errors[-1].get('evalue', '')}".strip()[:500]
    return issues, messages


def _read_scores(course: Path, assignment: str, student: str) -> dict[str, TestResult]:
    """Each graded cell as nbgrader autograde scored it in the worker's own course; a cell it left for the
    formgrader (an answered manually graded cell: no auto score) is ``manual``, counted 0 until graded by hand."""
    from nbgrader.api import Gradebook, MissingEntry

    tests: dict[str, TestResult] = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        try:
            sub = gb.find_submission(assignment, student)
        except MissingEntry:
            return tests
        for nb in sub.notebooks:
            for g in nb.grades:
                if g.max_score:
                    points = float(g.max_score)
                    tests[g.name] = (TestResult(g.name, points, None, "manual") if g.auto_score is None else
                                     TestResult(g.name, points, float(g.auto_score),
                                                pass_fail(float(g.auto_score), points)))
    return tests


def grade_submission(task: dict, quality: list[dict] | None = None) -> GradedResult:
    """Autograde ``task["student"]``'s submission of ``task["assignment"]``; returns its result.

    ``quality``: the model-quality entries with their hidden data (:func:`.quality.attach_hidden`).
    """
    task = {**task, "quality": quality}
    t0 = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="course-grade-"))
    row = GradedResult(task["student"], task["assignment"], digest=task["digest"],
                       isolation={"sandbox": sandbox_status() if task.get("sandbox", True) else NO_ISOLATION,
                                  "network": "new network namespace (loopback only)" if task.get("sandbox", True)
                                  else network_isolation(), **task["limits"]})
    try:
        _grade(task, root, row)
    except Exception as e:                                    # the batch must go on: report it
        row.issues.append(Finding("grader-error", f"{type(e).__name__}: {e}", traceback.format_exc()[-2000:]))
    finally:
        shutil.rmtree(root, ignore_errors=True)
        clear(worker_root())                              # the working course holds the hidden tests' source
    for gid, ref in task["grade_cells"].items():              # every graded cell gets a score
        if gid not in row.tests:
            row.set_score(gid, 0.0, float(ref["max_score"]))
    kinds = {i.kind for i in row.issues} | ({"tampered"} if row.findings else set())
    row.status = "; ".join(k for k in STATUS_ORDER if k in kinds) or "ok"
    row.seconds = round(time.monotonic() - t0, 1)
    return row


def _run_phases(recorded: dict, start: float, end: float) -> dict[str, float]:
    """Seconds of one confined nbgrader run (``start``, ``end``: epoch s) by phase: its kernel's start, cells and
    shutdown (:func:`read_phases`), nbgrader's own work (process and sandbox start, imports, its steps before and
    after the kernel) and the exit (the interpreter's and the sandbox's teardown)."""
    def num(key: str, default: float) -> float:        # the file is in the run's writable HOME: numbers only
        v = recorded.get(key, default)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else default

    kernel = {k: num(k, 0.0) for k in ("kernel_start", "cells", "kernel_shutdown")}
    done = num("done_at", end)
    return {**kernel, "nbgrader": round(max(0.0, done - start - sum(kernel.values())), 2),
            "exit": round(max(0.0, end - done), 2)}


def _grade(task: dict, root: Path, row: GradedResult) -> None:
    import nbformat

    t0 = time.monotonic()
    a, s = task["assignment"], task["student"]
    limits = Limits(**task["limits"])
    work = worker_root()                       # the grader process's folder: emptied before every submission
    clear(work)
    home, course = work / "home", work / "course"
    (home / "tmp").mkdir(parents=True)
    _write_tree(course, task["template"])
    sub = course / "submitted" / s / a
    sub.mkdir(parents=True)
    _write_tree(sub, task["files"])
    models = {n for e in task.get("quality") or [] for n in e["model"]}      # reported by the quality check
    for rel, what in task.get("special", {}).items():
        if rel.split("/")[0] not in models:
            row.findings.append(Finding("special-file", f"{rel} is {what}: not given to the grader"))
    runnable = 0
    for name, ref in task["notebooks"].items():
        path = sub / f"{name}.ipynb"
        if not path.is_file():
            row.issues.append(Finding("missing-notebook", f"{name}.ipynb was not submitted (0 points)"))
            continue
        try:
            text = path.read_text(encoding="utf-8")
            nbformat.validate(nbformat.reads(text, as_version=4))
            nb = json.loads(text)
        except Exception as e:
            path.unlink()                      # nbgrader then scores this notebook 0 and grades the others
            row.issues.append(Finding("invalid-notebook", f"{name}.ipynb is not a valid notebook "
                                                          f"({type(e).__name__}: {str(e)[:200]}); 0 points"))
            continue
        row.findings += [Finding.of(f) for f in scan(nb, ref["cells"], ref["helpers"])]
        if task.get("rerun_parameters") and inject_parameters(nb, task["rerun_parameters"]):
            path.write_text(json.dumps(nb, indent=1), encoding="utf-8")
        runnable += 1
    if task.get("quality"):                   # before the kernel: the re-run cannot replace what is graded
        from .quality import take_submitted

        take_submitted(task, root / "submitted-models", row)
    row.phases["setup"] = round(time.monotonic() - t0, 2)   # the course copy, checks, the submitted models
    if runnable:
        _autograde(task, root, work, limits, row)
    if task.get("quality"):
        from .quality import grade_quality

        t0 = time.monotonic()
        grade_quality(task, course / "autograded" / s / a, root / "eval", limits, row)
        row.phases["quality"] = round(time.monotonic() - t0, 2)


def _autograde(task: dict, root: Path, work: Path, limits: Limits, row: GradedResult) -> None:
    """nbgrader autograde of the submission copied into ``work`` (:func:`.grader_process.worker_root`), in this
    worker's grader process; ``root``: the submission's private folder (submitted models, hidden data)."""
    a, s = task["assignment"], task["student"]
    course, home, log = work / "course", work / "home", work / "guard.log"
    graded_dir = course / "autograded" / s / a
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COURSE_GUARD_", "JUPYTER_", "DASK_"))}
    env.update({
        "HOME": str(home), "TMPDIR": str(home / "tmp"), "IPYTHONDIR": str(course / ".ipython"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_PATH": str(home / "data"),   # our kernel spec first
        "MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "3",
        "COURSE_OFFLINE": "1", "COURSE_GRADE_ENGINE": "1",   # grading.model_quality: the engine scores it
        "COURSE_CACHE": str(cache_dir()), "COURSE_WITHHELD": json.dumps(task.get("withheld", [])),
        "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
        "COURSE_GUARD_DENY": json.dumps([str(root), str(work), *task["deny"]] +   # the worker holds hidden data
                                         [f"/proc/{os.getpid()}/{f}" for f in ("mem", "environ", "fd", "maps")]),
        "COURSE_GUARD_ALLOW": json.dumps([str(graded_dir), str(home), str(course / ".ipython")]),
        "COURSE_GUARD_LOG": str(log),
    })
    if task.get("threads"):                   # the kernel's share of the cores (see batch)
        n = str(task["threads"])
        env.update({k: n for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                   "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")})
    failures_json = course / ".nbgrader-failures.json"     # why a notebook stopped, as fields (kernels: unseen)
    cache = cache_dir()
    if task.get("sandbox", True):             # the kernel: a nested sandbox without the gradebook and nbgrader
        (course / ".ipython").mkdir(exist_ok=True)
        spec = {"argv": kernel_argv(str(course), [str(graded_dir), str(course / ".ipython")],
                                    read_only=[str(home / "data")]),   # the next notebook's kernel spec
                "display_name": "Python 3 (grading sandbox)", "language": "python",
                "interrupt_mode": "message"}      # a cell timeout interrupts the kernel, not bwrap
        (home / "data" / "kernels" / "python3").mkdir(parents=True)
        (home / "data" / "kernels" / "python3" / "kernel.json").write_text(json.dumps(spec))
    view = View(writable=[str(course), str(home), str(log)], readable=[str(cache)],
                hidden=[str(cache / w) for w in task.get("withheld", [])]
                + [d for d in task["deny"] if Path(d).is_relative_to(cache)],
                nests=True) if task.get("sandbox", True) else None
    start = time.time()
    config = hashlib.sha256(task["template"].get("nbgrader_config.py", b"")).hexdigest()
    args = ["autograde", a, "--student", s, "--force"]
    if task.get("sandbox", True):
        # the last cell's outputs are in: kill the kernel's sandbox (and all it started) at once, rather than
        # ask the kernel to quit and wait for TensorFlow's exit handlers (1-8 s, then SIGTERM anyway)
        args.append("--Execute.shutdown_kernel=immediate")
    rc, out = run_in_grader(args, root=work, env=env, limits=limits,
                           view=view, failures=failures_json, timeout=limits.notebook_timeout, generation=config)
    row.phases.update(_run_phases(read_phases(failures_json), start, time.time()))
    failures = read_failures(failures_json, rc) if rc else []
    if rc is None:
        row.issues.append(Finding("notebook-timeout", f"stopped after the {limits.notebook_timeout} s limit per "
                                                      "submission; no points from the notebook's tests"))
    elif rc != 0:
        if any(f.kind == "kernel-died" for f in failures):
            row.issues.append(Finding("kernel-died", "the kernel died (os._exit, a crash or a kill) and nbgrader "
                                                     "gave up on the notebook: no points from its tests"))
        elif rc in (-24, 128 + 24):                 # SIGXCPU: killed directly, or its exit status through bwrap
            row.issues.append(Finding("cpu-limit", f"stopped at the {limits.cpu_seconds} s CPU limit"))
        else:
            row.issues.append(Finding("grader-error", f"nbgrader autograde exit {rc}: "
                                      + ("; ".join(str(f) for f in failures) or out[-1500:])))

    tests = _read_scores(course, a, s) if rc is not None else {}
    if rc is not None and rc != 0:                                     # nbgrader stored nothing trustworthy
        tests = {g: TestResult(g, t.points, 0.0, "failed") for g, t in tests.items()}
    row.tests.update(tests)
    for nb_path in sorted(graded_dir.glob("*.ipynb")) if rc == 0 else []:
        text = nb_path.read_text(encoding="utf-8")
        row.autograded[nb_path.stem] = text
        issues, messages = _cell_issues(json.loads(text))
        row.issues += issues
        for gid, message in messages.items():
            if gid in row.tests:
                row.tests[gid].message = message
    if log.is_file():
        seen = set()
        for line in log.read_text(errors="replace").splitlines():
            try:
                f = json.loads(line)
            except json.JSONDecodeError:
                f = {"kind": "guard-log", "detail": line[:200]}
            if (f.get("kind"), f.get("detail")) not in seen:
                seen.add((f.get("kind"), f.get("detail")))
                row.findings.append(Finding.of(f))
