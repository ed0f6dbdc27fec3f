"""Grading-engine benchmark: `course grade --jobs 2` vs plain `nbgrader autograde` on the same submissions.

    .venv/bin/python bench/grade_engine.py [--n 40] [--jobs 2] [--cell-timeout 30]
    .venv/bin/python bench/grade_engine.py --sandbox-overhead [--n 20] [--jobs 1]

Makes N submissions of a0_warmup (the five samples in turn: correct, three flawed, blank; plus, when
N >= 10, one that hangs and one that calls os._exit), grades them once with plain nbgrader autograde
(one kernel after another, in the grader's process) and once with the engine (Dask LocalCluster of
``--jobs`` workers, each submission confined), and prints both wall times, their ratio, and whether
the well-behaved submissions got identical scores. Results: build/bench/grade_engine.json.

``--sandbox-overhead``: instead, grade the same submissions with the engine twice, in the OS sandbox and with
``--no-sandbox``, and print the mean seconds per submission of each, their ratio and the mean seconds of each
phase of a submission (its row's ``phases``: setup, nbgrader, kernel start, cells, kernel shutdown, exit)
(build/bench/sandbox_overhead.json).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("COURSE_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

A = "a0_warmup"
SAMPLES = ["reference", "flaw_int_tensor", "flaw_nan_on_constant", "flaw_no_training", "blank"]


def _submissions(root: Path, n: int) -> dict[str, Path]:
    """student -> notebook file (written under ``root``); the ill-behaved ones are named bad_*."""
    samples = root / "samples"
    out = {}
    for k in range(n):
        out[f"s{k:02d}_{SAMPLES[k % len(SAMPLES)]}"] = samples / SAMPLES[k % len(SAMPLES)] / f"{A}.ipynb"
    if n >= 10:
        ref = json.loads(out[next(iter(out))].read_text())
        for name, code in (("bad_hang", "import time\nwhile True:\n    time.sleep(1)"), ("bad_exit", "import os\nos._exit(1)")):
            nb = json.loads(json.dumps(ref))
            cell = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "normalize")
            cell["source"] = code + "\n" + "".join(cell["source"])
            p = root / f"{name}.ipynb"
            p.write_text(json.dumps(nb))
            out.pop(sorted(out)[-1])
            out[name] = p
    return out


def _course(where: Path, subs: dict[str, Path], cell_timeout: int) -> Path:
    from course_lib import grading

    course = grading.prepare_course(where, cell_timeout=cell_timeout)
    grading.release(course, A)
    for student, nb in subs.items():
        d = course / "submitted" / student / A
        d.mkdir(parents=True)
        shutil.copy(nb, d / f"{A}.ipynb")
    return course


def _scores(course: Path) -> dict[str, float]:
    from course_lib.grading import read_grades

    return {s: g.score for s, g in read_grades(course, A).items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--cell-timeout", type=int, default=30)
    ap.add_argument("--sandbox-overhead", action="store_true")
    args = ap.parse_args()
    if args.sandbox_overhead:
        return _overhead(args)

    from course_lib import grading
    from course_lib.grading.engine import Limits, grade_assignment
    from course_lib.paths import build_dir, repo_root

    work = Path(tempfile.mkdtemp(prefix="bench-grade-"))
    shutil.copytree(repo_root() / "assignments" / "samples" / A, work / "samples")
    subs = _submissions(work, args.n)
    print(f"{len(subs)} submissions of {A}; cell timeout {args.cell_timeout} s", flush=True)

    plain = _course(work / "plain", subs, args.cell_timeout)
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", A, "--force"], cwd=plain,
                          env=grading.nbgrader_env(plain), capture_output=True, text=True)
    t_plain = time.monotonic() - t0
    print(f"plain nbgrader autograde: {t_plain:.0f} s (exit {proc.returncode})", flush=True)

    engine = _course(work / "engine", subs, args.cell_timeout)
    t0 = time.monotonic()
    report = grade_assignment(A, engine, jobs=args.jobs, limits=Limits(cell_timeout=args.cell_timeout,
                              notebook_timeout=600, memory_mb=8192, cpu_seconds=1200),
                              progress=lambda m: print(m, flush=True))
    t_engine = time.monotonic() - t0

    s_plain, s_engine = _scores(plain), _scores(engine)
    good = [s for s in subs if not s.startswith("bad_")]
    differ = {s: (s_plain.get(s), s_engine.get(s)) for s in good if s_plain.get(s) != s_engine.get(s)}
    status = {r.student: r.status for r in report.rows}
    result = {"n": len(subs), "jobs": args.jobs, "cpus": os.cpu_count(), "plain_s": round(t_plain, 1),
              "engine_s": round(t_engine, 1), "ratio_engine_over_plain": round(t_engine / t_plain, 3),
              "well_behaved": len(good), "identical_scores": not differ, "differences": differ,
              "ill_behaved": {s: {"plain": s_plain.get(s), "engine": s_engine.get(s), "status": status.get(s)}
                              for s in subs if s.startswith("bad_")},
              "isolation": report.isolation}
    out = build_dir() / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "grade_engine.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    print(f"ratio (course grade --jobs {args.jobs} / nbgrader autograde): {t_engine / t_plain:.2f}; "
          f"well-behaved scores identical: {not differ}")
    shutil.rmtree(work, ignore_errors=True)


def _overhead(args) -> None:
    """The same submissions graded in the sandbox and without it: seconds per submission, ratio."""
    from course_lib.grading.engine import Limits, grade_assignment
    from course_lib.paths import build_dir, repo_root

    work = Path(tempfile.mkdtemp(prefix="bench-sandbox-"))
    shutil.copytree(repo_root() / "assignments" / "samples" / A, work / "samples")
    subs = {s: p for s, p in _submissions(work, args.n).items() if not s.startswith("bad_")}
    limits = Limits(cell_timeout=args.cell_timeout, notebook_timeout=600, memory_mb=8192, cpu_seconds=1200)
    result: dict = {"n": len(subs), "jobs": args.jobs, "cpus": os.cpu_count()}
    for name, sandbox in (("no_sandbox", False), ("sandbox", True)):
        course = _course(work / name, subs, args.cell_timeout)
        t0 = time.monotonic()
        report = grade_assignment(A, course, jobs=args.jobs, limits=limits, sandbox=sandbox,
                                  progress=lambda m: print(m, flush=True))
        secs = [r.seconds for r in report.rows if r.seconds]
        phases = [r.phases for r in report.rows if r.phases]
        result[name] = {"wall_s": round(time.monotonic() - t0, 1), "per_submission_s": round(sum(secs) / len(secs), 2),
                        "phases_s": {k: round(sum(p.get(k, 0.0) for p in phases) / len(phases), 2)
                                     for k in phases[0]} if phases else {},
                        "scores": _scores(course), "isolation": report.isolation}
    result["ratio_sandbox_over_none"] = round(result["sandbox"]["per_submission_s"]
                                              / result["no_sandbox"]["per_submission_s"], 3)
    result["identical_scores"] = result["sandbox"]["scores"] == result["no_sandbox"]["scores"]
    out = build_dir() / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "sandbox_overhead.json").write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k not in ("sandbox", "no_sandbox")}
                     | {k: {kk: vv for kk, vv in result[k].items() if kk != "scores"} for k in ("sandbox", "no_sandbox")},
                     indent=1))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
