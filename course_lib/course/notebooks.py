"""Execute every notebook of the course with papermill: profiles, parallel jobs, time limits, report.

Each notebook runs in its own process (papermill + a fresh kernel) in a scratch working folder under
``build/notebooks/work/``; the executed copy and its HTML go to ``build/notebooks/``; the report is
``build/notebooks/report.json`` and ``report.md``. A notebook past its time limit is killed with its
kernel and reported with the cell it was running.
"""
from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..exceptions import NotebookError
from ..paths import build_dir, repo_root
from .profiles import Profile

__all__ = ["NotebookResult", "discover", "run_notebooks", "execute_one", "write_report", "cell_label"]


@dataclass
class NotebookResult:
    notebook: str                  # path relative to the course root
    status: str                    # ok | failed | timeout
    seconds: float
    failing_cell: int | None = None  # execution count ("In [n]") of the failing cell
    cell_index: int | None = None    # 0-based index of that cell in the source notebook
    error: str | None = None
    failure: dict | None = None      # the fields of a NotebookExecutionError (kind, ename, evalue, ...)
    executed: str | None = None
    html: str | None = None
    figures: list[str] = field(default_factory=list)


def discover(pattern: str | None = None, root: Path | None = None) -> list[Path]:
    """Lesson notebooks, then every assignment's source (solution) notebook; ``pattern`` filters."""
    root = root or repo_root()
    found = sorted((root / "notebooks").glob("*.ipynb")) + sorted((root / "assignments" / "source").glob("*/*.ipynb"))
    found = [p for p in found if ".ipynb_checkpoints" not in p.parts]
    if pattern:
        found = [p for p in found if fnmatch.fnmatch(p.stem, pattern) or pattern in str(p.relative_to(root))]
    return found


def _env(profile: Profile) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"   # figures go into the notebook
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["COURSE_PROFILE"] = profile.name
    if profile.offline:
        env["COURSE_OFFLINE"] = "1"
    return env


def _kill_tree(pid: int) -> None:
    """Kill a process and every descendant (jupyter_client starts kernels in their own session)."""
    import psutil

    try:
        parent = psutil.Process(pid)
        procs = parent.children(recursive=True) + [parent]
    except psutil.NoSuchProcess:
        return
    for p in procs:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=10)


def _running_cell(executed: Path) -> tuple[int | None, int | None]:
    """(execution count, index) of the cell papermill marked running or failed in a partial output."""
    import nbformat

    try:
        nb = nbformat.read(str(executed), as_version=4)
    except Exception:
        return None, None
    for i, cell in enumerate(nb.cells):
        if cell.get("metadata", {}).get("papermill", {}).get("status") in ("running", "failed"):
            return cell.get("execution_count"), i
    return None, None


def _source_index(executed: Path, index: int) -> int:
    """Map a cell index of the executed copy back to the source (papermill inserts a parameters cell)."""
    import nbformat

    try:
        nb = nbformat.read(str(executed), as_version=4)
    except Exception:
        return index
    injected = [i for i, c in enumerate(nb.cells) if "injected-parameters" in c.get("metadata", {}).get("tags", [])]
    return index - sum(1 for i in injected if i < index)


def _figures(executed: Path, out_dir: Path) -> list[str]:
    """Save every PNG a notebook displayed as ``<stem>_fig<k>.png`` (for the HTML report)."""
    import base64

    import nbformat

    nb = nbformat.read(str(executed), as_version=4)
    saved = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {}).get("image/png")
            if data:
                p = out_dir / f"{executed.stem}_fig{len(saved) + 1}.png"
                p.write_bytes(base64.b64decode(data))
                saved.append(str(p))
    return saved


def _to_html(executed: Path) -> Path:
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(str(executed), as_version=4))
    html = executed.with_suffix(".html")
    html.write_text(body)
    return html


def execute_one(notebook: Path, profile: Profile, out_dir: Path, timeout: int | None = None) -> NotebookResult:
    """Run one notebook in its own process group; kill it (and its kernel) past ``timeout`` seconds."""
    root = repo_root()
    rel = str(notebook.relative_to(root)) if notebook.is_relative_to(root) else str(notebook)
    timeout = timeout or profile.timeout
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / notebook.name
    params = profile.parameters_for(notebook)
    work = out_dir / "work" / notebook.stem
    shutil.rmtree(work, ignore_errors=True)
    if notebook.parent.parent.name == "source":      # an assignment: run beside its data files
        shutil.copytree(notebook.parent, work)
    else:
        work.mkdir(parents=True)
    with tempfile.NamedTemporaryFile("r", suffix=".json", delete=False) as rf:
        result_file = Path(rf.name)
    cmd = [sys.executable, "-m", "course_lib.course.nbworker", str(notebook), str(executed), str(work),
           json.dumps(params), str(profile.cell_timeout), str(result_file)]
    log = out_dir / f"{notebook.stem}.log"
    t0 = time.monotonic()
    with open(log, "w") as logf:
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=_env(profile),
                                start_new_session=True)
        try:
            proc.wait(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            _kill_tree(proc.pid)
            proc.wait()
            timed_out = True
    seconds = round(time.monotonic() - t0, 1)
    res = NotebookResult(rel, "ok", seconds, executed=str(executed) if executed.exists() else None)
    if timed_out:
        res.status = "timeout"
        res.failing_cell, res.cell_index = _running_cell(executed)
        res.error = f"exceeded the notebook time limit of {timeout} s (profile {profile.name}); killed"
        res.failure = {"notebook": rel, "cell_index": res.cell_index, "ename": "NotebookTimeout", "evalue": res.error,
                       "returncode": proc.returncode, "kind": "timeout"}
    else:
        try:
            outcome = json.loads(result_file.read_text() or "{}")
        except (OSError, json.JSONDecodeError):
            outcome = {}
        if not outcome:
            outcome = {"status": "failed", "error": f"worker exited {proc.returncode}; see {log}"}
        res.status = outcome["status"]
        res.error, res.failure = outcome.get("error"), outcome.get("failure")
        if res.failure is None and res.status != "ok":
            res.failure = {"notebook": rel, "cell_index": None, "ename": "", "evalue": res.error or "",
                           "returncode": proc.returncode, "kind": "runner-error"}
        elif res.failure is not None:
            res.failure["returncode"] = proc.returncode
        res.failing_cell, res.cell_index = outcome.get("failing_cell"), outcome.get("cell_index")
        if res.status != "ok" and res.cell_index is None and executed.exists():
            res.failing_cell, res.cell_index = _running_cell(executed)
    result_file.unlink(missing_ok=True)
    if res.cell_index is not None and executed.exists():
        res.cell_index = _source_index(executed, res.cell_index)
        if res.failure is not None:
            res.failure["cell_index"] = res.cell_index
    if executed.exists():
        try:
            res.html = str(_to_html(executed))
            res.figures = _figures(executed, out_dir)
        except Exception as e:  # a half-written notebook after a kill: keep the result, note it
            res.error = (res.error or "") + f" (could not render HTML: {e})"
    return res


def run_notebooks(profile: Profile, pattern: str | None = None, jobs: int = 1,
                  out_dir: Path | None = None, progress=print) -> list[NotebookResult]:
    """Execute the discovered notebooks, ``jobs`` at a time; always writes the report."""
    notebooks = discover(pattern)
    if not notebooks:
        raise NotebookError(f"No notebook matches {pattern!r} under notebooks/ or assignments/source/.")
    out_dir = out_dir or build_dir() / "notebooks"
    for nb in notebooks:                       # fail fast on a bad profile, before anything runs
        profile.parameters_for(nb)
    results: list[NotebookResult] = []
    progress(f"executing {len(notebooks)} notebooks, profile {profile.name}, {jobs} at a time, "
             f"limit {profile.timeout} s each")
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(execute_one, nb, profile, out_dir): nb for nb in notebooks}
        for k, fut in enumerate(as_completed(futures), 1):
            r = fut.result()
            results.append(r)
            where = f" at {cell_label(r)}" if r.cell_index is not None else ""
            progress(f"[{k}/{len(notebooks)}] {r.status.upper():7} {r.notebook} {r.seconds:.1f}s"
                     + (f"{where}: {r.error}" if r.status != "ok" else ""))
    order = {str(nb.relative_to(repo_root())): i for i, nb in enumerate(notebooks)}
    results.sort(key=lambda r: order.get(r.notebook, 0))
    write_report(results, out_dir, profile)
    return results


def cell_label(r: NotebookResult) -> str:
    """'cell #5 (In[7])': the 0-based position in the source notebook, and the execution count if any."""
    return f"cell #{r.cell_index}" + (f" (In[{r.failing_cell}])" if r.failing_cell is not None else "")


def write_report(results: list[NotebookResult], out_dir: Path, profile: Profile) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    total = round(sum(r.seconds for r in results), 1)
    data = {"profile": profile.name, "total_seconds": total,
            "passed": sum(r.status == "ok" for r in results), "failed": sum(r.status != "ok" for r in results),
            "notebooks": [asdict(r) for r in results]}
    js = out_dir / "report.json"
    js.write_text(json.dumps(data, indent=1))
    lines = [f"# Notebook run, profile `{profile.name}`", "",
             f"{data['passed']} passed, {data['failed']} failed; {total} s of notebook time.", "",
             "| notebook | status | seconds | failing cell | error |", "|---|---|---:|---|---|"]
    for r in results:
        cell = cell_label(r) if r.cell_index is not None else ""
        err = (r.error or "").replace("|", "\\|").replace("\n", " ")[:200]
        lines.append(f"| {r.notebook} | {r.status} | {r.seconds:.1f} | {cell} | {err} |")
    md = out_dir / "report.md"
    md.write_text("\n".join(lines) + "\n")
    return js, md
