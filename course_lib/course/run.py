"""``course run``: the kit's main job on its bundled default, offline, as an ordered list of steps.

    STEPS = doctor -> data -> notebooks -> grade -> report
    # doctor first: nothing else can work in a broken environment, and its table explains failures.
    # data before notebooks: fetching and building the registered resources (stand-ins, kit-built
    # models) once, up front, keeps that time out of each notebook's time limit.
    # notebooks before grading: the solution notebooks must run before their samples are graded.
    # grade = nbgrader generate_assignment (the release) + `course grade` of the bundled samples + export.
    # report last: it reads what the other steps left in the run state.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import doctor, notebooks
from ..grading.nbgrader_chain import assignments
from ..grading.samples import check_samples
from ..resources import registry
from ..exceptions import CourseError
from ..paths import build_dir
from .profiles import load_profile
from .report import write_run_report

__all__ = ["RunState", "STEPS", "run"]


@dataclass
class RunState:
    profile: str = "smoke"
    jobs: int = 2
    checks: list = field(default_factory=list)
    notebooks: list = field(default_factory=list)
    grades: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    report: Path | None = None


def step_doctor(s: RunState, say: Callable[[str], None]) -> None:
    s.checks = doctor.run_checks()
    bad = [c for c in s.checks if c.required and not c.ok]
    for c in bad:
        say(f"  FAIL {c.name}: {c.detail}. Fix: {c.fix}")
    if bad:
        s.failures.append(f"doctor: {len(bad)} required check(s) failed")
        raise SystemExit  # stop: the rest would only fail less clearly


def step_data(s: RunState, say: Callable[[str], None]) -> None:
    names = registry.names()
    cached = [n for n in names if registry.status(n) == "cached"]
    todo = [n for n in names if n not in cached]
    for k, name in enumerate(todo, 1):                    # a line for each one that takes work
        t0 = time.monotonic()
        registry.fetch(name)
        say(f"  [{k}/{len(todo)}] {name}: {registry.status(name)} ({time.monotonic() - t0:.0f} s)")
    say(f"  {len(names)} resources ready ({len(cached)} were cached): `course data list` shows them")


def step_notebooks(s: RunState, say: Callable[[str], None]) -> None:
    s.notebooks = notebooks.run_notebooks(load_profile(s.profile), jobs=s.jobs,
                                          progress=lambda m: say("  " + m))
    bad = [r.notebook for r in s.notebooks if r.status != "ok"]
    if bad:
        s.failures.append(f"notebooks failed: {', '.join(bad)}")


def step_grade(s: RunState, say: Callable[[str], None]) -> None:
    # one assignment at a time, its samples in parallel on the grading engine's local Dask cluster
    # (at least 2 workers: a submission spends much of its time starting kernels and nbgrader, not in TF)
    with ThreadPoolExecutor(max_workers=1) as pool:
        futures = {a: pool.submit(check_samples, a, None, lambda m: say("  " + m), max(2, s.jobs))
                   for a in assignments()}
        for a, fut in futures.items():
            try:
                s.grades[a] = fut.result()
            except CourseError as e:
                s.failures.append(f"grade {a}: {e}")
                say(f"  ERROR grading {a}: {e}")
                continue
            bad = [g.student for g in s.grades[a] if not g.ok]
            if bad:
                s.failures.append(f"{a}: unexpected grades for {', '.join(bad)}")


def step_report(s: RunState, say: Callable[[str], None]) -> None:
    s.report = write_run_report(build_dir() / "report.html", s.checks, s.notebooks, s.grades, s.seconds)
    say(f"  report: {s.report}")


STEPS: list[tuple[str, Callable[[RunState, Callable[[str], None]], None]]] = [
    ("doctor", step_doctor),
    ("data", step_data),
    ("notebooks", step_notebooks),
    ("grade", step_grade),
    ("report", step_report),
]


def run(profile: str = "smoke", jobs: int = 2, say: Callable[[str], None] = print) -> RunState:
    """Run every step; a failing step is recorded and the report is still written."""
    state = RunState(profile=profile, jobs=jobs)
    t_all = time.monotonic()
    for k, (name, step) in enumerate(STEPS, 1):
        say(f"[{k}/{len(STEPS)}] {name} ...")
        t0 = time.monotonic()
        try:
            step(state, say)
        except SystemExit:
            state.seconds[name] = round(time.monotonic() - t0, 1)
            step_report(state, say)
            break
        except CourseError as e:  # record it, go on: the report shows what did work
            state.failures.append(f"{name}: {e}")
            say(f"  ERROR in {name}: {e}")
        state.seconds[name] = round(time.monotonic() - t0, 1)
        say(f"[{k}/{len(STEPS)}] {name} done in {state.seconds[name]:.0f} s")
    say(f"total {time.monotonic() - t_all:.0f} s; " + ("all good" if not state.failures else
                                                        "FAILED: " + "; ".join(state.failures)))
    return state
