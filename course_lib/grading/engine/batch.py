"""``course grade``: every submission of an assignment, graded in parallel on Dask, merged by one writer."""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ...exceptions import CourseError, GradingError, KitModified
from ...paths import repo_root
from .course import check_gradebook, digest, make_template, read_files, submissions
from ..result import Finding, GradedResult
from .feedback import score_line
from . import integrity
from .sandbox import NO_ISOLATION, Limits, network_isolation, require_sandbox
from .worker import grade_submission
from .writer import Writer

__all__ = ["BatchReport", "grade_assignment", "prepare_data"]


@dataclass
class BatchReport:
    assignment: str
    rows: list[GradedResult] = field(default_factory=list)   # every student's latest result
    graded: list[str] = field(default_factory=list)      # graded in this run
    skipped: list[str] = field(default_factory=list)     # already graded (resume)
    csv: Path | None = None
    seconds: float = 0.0
    isolation: str = ""


def grade_assignment(assignment: str, course: Path, *, jobs: int = 2, scheduler: str | None = None,
                     limits: Limits | None = None, regrade: bool = False, quality: list[dict] | None = None,
                     students: list[str] | None = None, deny: list[str] | None = None,
                     audit: int = 0, audit_seed: int = 0, sandbox: bool = True, progress=print) -> BatchReport:
    """Grade ``course/submitted/*/<assignment>/`` and merge into ``course/gradebook.db``.

    ``scheduler``: address of a running Dask scheduler; default a LocalCluster of ``jobs`` worker processes.
    ``quality``: the assignment's model-quality entries (:func:`course_lib.grading.engine.quality.load_spec`).
    ``deny``: more folders the student code must not open (the course, its source and the hidden data are
    always denied).
    ``audit``: re-train this many randomly chosen submissions (``audit_seed``) at their own parameters and
    compare the re-trained model's quality with the submitted file's (``source: submitted`` entries only);
    the result is reported in the row, never turned into points.
    ``sandbox``: run learner code in the OS sandbox (:mod:`.sandbox`); raises
    :class:`~course_lib.exceptions.SandboxUnavailable` where it cannot start. ``False``: grade anyway, every
    row and the CSV marked "graded without isolation".
    Raises :class:`~course_lib.exceptions.KitModified` (and exports nothing) if the kit or the Python
    environment changed during the batch.
    """
    t0 = time.monotonic()
    course = Path(course).resolve()
    limits = limits or Limits()
    report = BatchReport(assignment, isolation=require_sandbox() if sandbox else
                         f"{NO_ISOLATION} (limits only; network: {network_isolation()})")
    subs = submissions(course, assignment)
    if students is not None:
        subs = {s: p for s, p in subs.items() if s in students}
    if not subs:
        raise GradingError(f"no submissions under {course}/submitted/*/{assignment}/: collect them first "
                           "(`nbgrader collect`, or copy each to submitted/<student>/<assignment>/).")
    work = Path(tempfile.mkdtemp(prefix="course-grade-template-"))
    try:
        progress(f"{assignment}: preparing the grading template (nbgrader generate_assignment)")
        template = make_template(course, assignment, work, limits.cell_timeout)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    check_gradebook(course, assignment, template)
    unknown = sorted({g for e in quality or [] for g in e["thresholds"]} - set(template["grade_cells"]))
    if unknown:
        raise GradingError(f"the model-quality spec of {assignment} names {unknown}, which are not graded cells of "
                           f"it ({sorted(template['grade_cells'])}): use the grade id of its quality test cell.")
    writer = Writer(course, assignment, template["hidden"])
    withheld: list[str] = []
    if quality:
        from .quality import attach_hidden

        progress(f"{assignment}: hidden data for model quality (built here, given only to the evaluator)")
        quality, hidden_dirs, withheld = attach_hidden(quality, course)
        deny = [*(deny or []), *hidden_dirs]
    from .submitted import rerun_parameters, special_files

    overrides = rerun_parameters(quality)
    audited = _audit_sample(subs, audit, audit_seed) if any(
        e.get("source") == "submitted" for e in quality or []) else set()
    # a LocalCluster's kernels share this machine's cores: each gets its share of math threads, so two
    # workers do not both run TensorFlow and BLAS on every core (0: a scheduler's machines, left as they are)
    threads = 0 if scheduler else max(1, (os.cpu_count() or 1) // max(1, jobs))
    tasks = []
    for student, folder in subs.items():
        files = read_files(folder)
        d = digest(files)
        if not regrade and student not in audited and writer.done(student, d):
            report.skipped.append(student)
            continue
        tasks.append({"assignment": assignment, "student": student, "digest": d, "files": files,
                      "special": special_files(folder), "audit": student in audited,
                      "rerun_parameters": {} if student in audited else overrides,
                      "template": template["files"], "notebooks": template["notebooks"],
                      "grade_cells": template["grade_cells"], "limits": limits.to_dict(),
                      "deny": [str(course), str(repo_root() / "assignments"), *(deny or [])],
                      "withheld": withheld, "sandbox": sandbox, "threads": threads})
    progress(f"{assignment}: {len(tasks)} to grade, {len(report.skipped)} already graded (resume); "
             f"isolation: {report.isolation}, memory {limits.memory_mb} MB, CPU {limits.cpu_seconds} s, "
             f"{limits.cell_timeout} s per cell, {limits.notebook_timeout} s per submission")
    if tasks:
        prepare_data(progress)
        before = integrity.snapshot()
        _run(tasks, quality or None, writer, jobs, scheduler, progress, report)
        diff = integrity.changed(before, integrity.snapshot())
        if diff:
            raise KitModified(diff)
    report.rows = writer.rows()
    report.csv = writer.export_csv()
    report.seconds = round(time.monotonic() - t0, 1)
    waiting = [r.student for r in report.rows if r.manual]
    progress(f"{assignment}: {len(report.graded)} graded, {len(report.skipped)} skipped in {report.seconds} s; "
             f"grades: {report.csv}" + (f"; {len(waiting)} with answers awaiting manual grading "
                                        "(nbgrader formgrader)" if waiting else ""))
    return report


def _audit_sample(subs: dict, k: int, seed: int) -> set[str]:
    """``k`` students chosen at random (seeded: the same ``seed`` picks the same learners)."""
    import random

    return set(random.Random(seed).sample(sorted(subs), min(k, len(subs)))) if k > 0 else set()


def prepare_data(progress=print) -> list[str]:
    """Fetch or build here every registered resource that is not cached yet; return those it could not get.

    A submission's kernel runs offline and cannot read the hidden data, so a resource built from it (a kit
    model measured on a test split) cannot be built there: without this, a fresh cache turns every
    submission that uses one into "tampered; model-missing".
    """
    from ...resources import registry

    todo = [n for n in registry.names() if registry.status(n) != "cached"]
    failed = []
    for k, name in enumerate(todo, 1):
        t0 = time.monotonic()
        try:
            registry.fetch(name)
        except CourseError as e:
            failed.append(name)
            progress(f"  data [{k}/{len(todo)}] {name}: not available ({e}); submissions that use it will fail")
            continue
        progress(f"  data [{k}/{len(todo)}] {name}: ready for the kernels ({time.monotonic() - t0:.0f} s)")
    return failed


def _run(tasks: list[dict], quality: list[dict] | None, writer: Writer, jobs: int, scheduler: str | None, progress,
         report: BatchReport) -> None:
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler:
        client = Client(scheduler, timeout=60)
    else:
        cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, memory_limit=0,
                               dashboard_address=None, silence_logs=40)
        client = Client(cluster)
    try:
        shared = client.scatter([quality], broadcast=True)[0] if quality else None   # hidden data: sent once
        futures = {client.submit(grade_submission, t, shared, pure=False, retries=0,
                                 key=f"grade-{t['assignment']}-{t['student']}-{t['digest'][:12]}"): t for t in tasks}
        for k, fut in enumerate(as_completed(futures), 1):
            t = futures[fut]
            try:
                row = fut.result()
            except Exception as e:                  # the worker process itself died (KilledWorker, ...)
                row = GradedResult(t["student"], t["assignment"], status="grader-error", digest=t["digest"],
                                   issues=[Finding("grader-error", f"{type(e).__name__}: {e}")])
                for g, c in t["grade_cells"].items():
                    row.set_score(g, 0.0, float(c["max_score"]))
            writer.merge(row)                        # the only gradebook writer
            report.graded.append(row.student)
            progress(f"  [{k}/{len(tasks)}] {row.student:28} {score_line(row)}  {row.status}  ({row.seconds} s)")
            for q in row.quality:
                if q.get("audit"):
                    progress(f"      audit {q['model']}: {q['audit']}")
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
