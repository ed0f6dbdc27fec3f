"""Every error the kit raises on purpose. Each message names the thing and the fix.

    CourseError
     ├── ResourceError
     │    ├── UnknownResource        name not in datasets/manifest.yaml
     │    ├── ResourceUnavailable    offline (or every source failed) and not cached
     │    └── ChecksumMismatch       a downloaded or cached file is not the registered one
     ├── ProfileError               malformed ci/params/<profile>.yaml
     ├── DataError                  a corrupt image, a malformed annotation file
     ├── ModelError                 a model that is not what the lesson needs
     │    └── EdgeTPUCompileError   edgetpu_compiler failed, timed out or wrote no model
     ├── NotebookError              a notebook failed, hung or could not be read
     │    └── NotebookExecutionError  a cell raised, the kernel died or a limit stopped it (fields, as papermill's)
     ├── GradingError               nbgrader chain or expected scores went wrong
     ├── CertificateError           exam rules, keys or gradebook entries for a certificate are missing or wrong
     │    └── VerificationFailed    a certificate failed a check (says which)
     ├── RosterError                a malformed course roster (the file, the line, the problem)
     ├── HubError                   `course hub` cannot do what was asked (not root, not set up, not running...)
     │    └── HubPortInUse          a port the hub needs is taken (which port, for what)
     ├── MultiWorkerError           a multi-worker training job could not run (names the worker)
     │    ├── TFConfigError         a malformed TF_CONFIG (the field, the problem, the fix)
     │    ├── PortInUse             a worker's port is already taken on this machine
     │    ├── WorkerCrashed         a worker exited with an error; every other worker was stopped
     │    ├── WorkerTimeout         workers still running at the time limit (e.g. waiting at a collective)
     │    └── ManifestInvalid       a Kubernetes manifest fails the API schema
     └── EnvironmentProblem         a missing package, system library or CLI
"""
from __future__ import annotations

__all__ = [
    "CourseError",
    "ResourceError",
    "UnknownResource",
    "ResourceUnavailable",
    "ChecksumMismatch",
    "ProfileError",
    "DataError",
    "ModelError",
    "EdgeTPUCompileError",
    "NotebookError",
    "NotebookExecutionError",
    "GradingError",
    "CertificateError",
    "VerificationFailed",
    "EnvironmentProblem",
    "MultiWorkerError",
    "TFConfigError",
    "PortInUse",
    "WorkerCrashed",
    "WorkerTimeout",
    "ManifestInvalid",
    "RosterError",
    "HubError",
    "HubPortInUse",
]


class CourseError(Exception):
    """Base class: anything the kit reports to a learner or an instructor."""


class ResourceError(CourseError):
    """A registered data set or model could not be provided."""


class UnknownResource(ResourceError, KeyError):
    def __init__(self, name: str, known: list[str]):
        self.name = name
        super().__init__(
            f"No resource named {name!r} in datasets/manifest.yaml. "
            f"Known resources: {', '.join(sorted(known))}. Run `course data list` to see them."
        )

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.args[0]


class ResourceUnavailable(ResourceError):
    pass


class ChecksumMismatch(ResourceError):
    def __init__(self, path: str, expected: str, actual: str, fix: str):
        self.path, self.expected, self.actual = path, expected, actual
        super().__init__(
            f"Checksum mismatch for {path}: expected sha256 {expected}, got {actual}. "
            f"The file is not the registered one and was not used. {fix}"
        )


class ProfileError(CourseError):
    pass


class DataError(CourseError):
    pass


class ModelError(CourseError):
    pass


class EdgeTPUCompileError(ModelError):
    """``edgetpu_compiler`` failed, timed out or wrote no compiled model."""


class NotebookError(CourseError):
    pass


class NotebookExecutionError(NotebookError):
    """A notebook did not run to its end. Its facts are fields, as in papermill's ``PapermillExecutionError``:

    ``notebook``; ``cell_index`` (0-based, None when unknown); ``ename`` and ``evalue`` (the exception's class
    name and text); ``returncode`` of the process that ran it (None when it still ran); ``kind``, decided where
    the exception was caught: ``cell-error`` (a cell raised), ``kernel-died``, ``timeout`` (a cell or the
    kernel stopped answering within its limit) or ``runner-error`` (the runner itself failed).
    """

    KINDS = ("cell-error", "kernel-died", "timeout", "runner-error")

    def __init__(self, notebook: str, cell_index: int | None, ename: str, evalue: str, *,
                 returncode: int | None = None, kind: str = "cell-error", exec_count: int | None = None):
        self.notebook, self.cell_index, self.exec_count = str(notebook), cell_index, exec_count
        self.ename, self.evalue, self.returncode, self.kind = ename, evalue, returncode, kind
        where = f"cell #{cell_index}" if cell_index is not None else "no cell named"
        fix = {"kernel-died": "The kernel crashed (memory, a native library, os._exit): run the notebook with "
                              "Restart Kernel and Run All Cells to see which cell stops it.",
               "timeout": "A cell ran past its time limit: look for a loop that never ends or training longer "
                          "than asked."}.get(kind, "")
        super().__init__(f"{notebook}: {kind} at {where}: {ename}: {evalue}".rstrip(": ")
                         + (f" (exit {returncode})" if returncode is not None else "") + (f". {fix}" if fix else ""))

    def to_dict(self) -> dict:
        return {"notebook": self.notebook, "cell_index": self.cell_index, "exec_count": self.exec_count,
                "ename": self.ename, "evalue": self.evalue, "returncode": self.returncode, "kind": self.kind}

    @classmethod
    def from_dict(cls, d: dict, returncode: int | None = None) -> "NotebookExecutionError":
        return cls(d["notebook"], d.get("cell_index"), d.get("ename", ""), d.get("evalue", ""), kind=d["kind"],
                   returncode=d.get("returncode") if returncode is None else returncode,
                   exec_count=d.get("exec_count"))


class GradingError(CourseError):
    pass


class EnvironmentProblem(CourseError):
    pass


class SandboxUnavailable(GradingError):
    """Learner code cannot be run in the OS sandbox here: ``reason`` says why, ``fix`` what to do."""

    def __init__(self, reason: str, fix: str):
        self.reason, self.fix = reason, fix
        super().__init__(f"the grading sandbox cannot start here: {reason}. Fix: {fix}")


class KitModified(GradingError):
    """Files the grader imports changed during a batch (``changed``: their paths); grades are not exported."""

    def __init__(self, changed: list[str]):
        self.changed = changed
        super().__init__(f"the kit or its Python environment changed while grading ({', '.join(changed[:10])}"
                         f"{' ...' if len(changed) > 10 else ''}): grades are not exported. Reinstall the kit "
                         "(`bash ci/setup.sh` in a fresh clone), find which submission did it (the rows' findings, "
                         "the files' times) and grade again.")


class CertificateError(CourseError):
    """A certificate cannot be issued or read (rules, keys, gradebook)."""


class VerificationFailed(CertificateError):
    """A certificate failed verification; ``check`` names the check that failed."""

    def __init__(self, check: str, message: str):
        super().__init__(f"check '{check}' failed: {message}")
        self.check = check


class RosterError(CourseError):
    """The course roster ``path`` is malformed at ``line`` (1-based; 0 for the whole file): ``problem``."""

    def __init__(self, path: str, line: int, problem: str):
        self.path, self.line, self.problem = str(path), line, problem
        where = f"{path}, line {line}" if line else str(path)
        super().__init__(f"{where}: {problem}. Fix that line of the roster (a CSV with the header "
                         "username,role,name,email,lms_id,sis_id,section; username and role are required) "
                         "and run the command again: nothing was changed.")


class HubError(CourseError):
    """``course hub`` cannot do what was asked: ``problem`` says what, ``fix`` what to do."""

    def __init__(self, problem: str, fix: str):
        self.problem, self.fix = problem, fix
        super().__init__(f"{problem}. {fix}")


class HubPortInUse(HubError):
    """Port ``port`` on ``ip``, which the hub needs for ``purpose``, is already in use; nothing was started."""

    def __init__(self, ip: str, port: int, purpose: str, option: str):
        self.ip, self.port, self.purpose, self.option = ip, port, purpose, option
        super().__init__(f"port {port} on {ip} ({purpose}) is already in use, so the hub was not started",
                         f"Stop what holds it (`ss -ltnp 'sport = :{port}'` names it; a hub already running? "
                         f"`course hub status`), or choose another port: `course hub setup ... {option} PORT` "
                         "and start again. Nothing was changed.")


class MultiWorkerError(CourseError):
    """A multi-worker job (local processes or Kubernetes manifests) could not run as asked."""


class TFConfigError(MultiWorkerError):
    """``worker``'s TF_CONFIG is malformed at ``field`` (a dotted path such as ``task.index``)."""

    def __init__(self, worker: str, field: str, problem: str, fix: str):
        self.worker, self.field, self.problem, self.fix = worker, field, problem, fix
        super().__init__(f"{worker}: TF_CONFIG field '{field}': {problem}. {fix}")


class PortInUse(MultiWorkerError):
    def __init__(self, worker: str, address: str, port: int):
        self.worker, self.address, self.port = worker, address, port
        super().__init__(
            f"{worker}: port {port} ({address}) is already in use on this machine, so the worker cannot "
            f"listen there. Let the launcher pick free ports (local_cluster(n)), or stop what holds the port "
            f"(`ss -ltnp 'sport = :{port}'`).")


class WorkerCrashed(MultiWorkerError):
    """``worker`` exited with ``returncode``; ``log_tail`` holds its last lines; ``exits`` every worker's exit."""

    def __init__(self, worker: str, returncode: int, log_tail: list[str], exits: dict[str, int | None]):
        self.worker, self.returncode, self.log_tail, self.exits = worker, returncode, log_tail, exits
        tail = "\n    ".join(log_tail[-8:]) or "(no output)"
        super().__init__(
            f"{worker} exited with code {returncode}; every other worker was stopped "
            f"(exit codes: {exits}). Its last lines:\n    {tail}\n"
            "Fix the error in that worker's log; run again once it trains alone (one worker) if unsure.")


class WorkerTimeout(MultiWorkerError):
    """Workers still running at ``seconds``: usually waiting at a collective for a peer that never came."""

    def __init__(self, seconds: float, running: list[str], last_lines: dict[str, str]):
        self.seconds, self.running, self.last_lines = seconds, running, last_lines
        last = "; ".join(f"{w}: {line!r}" for w, line in last_lines.items())
        super().__init__(
            f"{', '.join(running)} still running after the time limit of {seconds:g} s; all workers were "
            f"stopped. Last lines: {last}. A worker waiting for a peer at a collective (all-reduce) hangs "
            "until every worker of TF_CONFIG has started: check that each worker runs, that their TF_CONFIGs "
            "list the same cluster, and raise time_limit if training is simply slow.")


class ManifestInvalid(MultiWorkerError):
    def __init__(self, file: str, kind: str, name: str, problem: str):
        self.file, self.kind, self.name, self.problem = file, kind, name, problem
        super().__init__(
            f"{file}: {kind} {name!r} does not match the Kubernetes API schema: {problem}. "
            "Fix the field it names (`kubectl explain <kind>.<field>` shows the schema).")
