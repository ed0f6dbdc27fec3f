"""Failures that come from the machine, not from the answer: which they are and what the learner can do.

Used by the learner's check (:mod:`.selfcheck`) and by the grading engine's worker (:mod:`.engine.worker`).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..exceptions import NotebookExecutionError

__all__ = ["EnvironmentIssue", "classify_error", "execution_issue", "RESOURCE", "MEMORY", "PACKAGE", "SETUP", "DISK",
           "TIMEOUT", "KERNEL"]


@dataclass
class EnvironmentIssue:
    """A failure that comes from the machine, not from the learner's answer."""

    kind: str                       # offline-resource | out-of-memory | kernel-died | missing-package |
    cell: int | None                # environment | disk-full | timeout
    error: str
    advice: str



RESOURCE = ("A course resource (data set or model) is not on this computer and could not be fetched — "
             "probably because you are offline. Fix: connect to the internet once and run "
             "`course data fetch` (the error below names the resource and the exact command), then check again.")
MEMORY = ("The computer ran out of memory. Fix: close other notebooks (JupyterLab: Kernel → Shut Down All "
           "Kernels) and other programs, use a smaller batch size if you chose one, then check again.")
PACKAGE = ("A Python package could not be imported. Fix: run `course doctor` in a terminal: it names what is "
            "missing and how to install it. If you wrote this import yourself, check its spelling.")
SETUP = "The course environment is incomplete. Fix: run `course doctor` and follow the fix it prints."
DISK = "The disk is full. Fix: free some space (old files under build/ can go), then check again."
TIMEOUT = ("A cell ran longer than the grader allows. Fix: look for a loop that never ends, or training much "
            "longer than asked (check `epochs`); on a slow computer close other programs and check again.")
KERNEL = ("The Python kernel running your notebook crashed: it stopped without a Python error (usually it "
           "ran out of memory, or a native library crashed). Fix: close other notebooks and check again; if it "
           "happens again, run your notebook with Kernel → Restart Kernel and Run All Cells to see which cell "
           "stops it.")


def classify_error(ename: str, evalue: str, cell: int | None = None) -> EnvironmentIssue | None:
    """An :class:`EnvironmentIssue` if a cell's error comes from the machine, else None (the answer's)."""
    rules = [
        ({"ResourceUnavailable", "ChecksumMismatch", "ResourceError"}, None, "offline-resource", RESOURCE),
        ({"MemoryError", "_ArrayMemoryError", "ResourceExhaustedError"}, None, "out-of-memory", MEMORY),
        (None, "OOM when allocating", "out-of-memory", MEMORY),
        ({"ModuleNotFoundError", "ImportError"}, None, "missing-package", PACKAGE),
        ({"EnvironmentProblem"}, None, "environment", SETUP),
        (None, "No space left on device", "disk-full", DISK),
        ({"CellTimeoutError", "TimeoutError"}, "timeout", "timeout", TIMEOUT),
        ({"DeadKernelError"}, None, "kernel-died", KERNEL),
    ]
    for names, text, kind, advice in rules:
        if (names is None or ename in names) and (text is None or text.lower() in f"{ename} {evalue}".lower()):
            return EnvironmentIssue(kind, cell, f"{ename}: {evalue}".strip(), advice)
    return None


def execution_issue(error: NotebookExecutionError) -> EnvironmentIssue | None:
    """The :class:`EnvironmentIssue` of a notebook that did not run to its end, if the machine stopped it."""
    if error.kind == "kernel-died":
        return EnvironmentIssue("kernel-died", error.cell_index, f"{error.ename}: the kernel died while running "
                                "the notebook", KERNEL)
    if error.kind == "timeout":
        return EnvironmentIssue("timeout", error.cell_index, f"{error.ename}: {error.evalue}"[:300], TIMEOUT)
    return None
