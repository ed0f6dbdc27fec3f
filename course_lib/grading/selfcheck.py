"""Self-study checks: a learner's working copy graded on the public tests only (``course check``).

    report = check("a0_warmup")        # the copy JupyterLab's Assignment List fetched, or pass a path
    print(report.text())               # in a notebook, `report` shows itself as an HTML table
    report.status                      # "passing" | "failing" | "environment"

The runner is the grader's (:mod:`course_lib.grading`): ``nbgrader autograde`` in a throwaway course
whose kernels start with the quiet grading profile. The steps, in this order:

    steps = [public_course, submit, autograde, read_results, measure_quality, write_report, record]
    # public_course: generate_assignment in a course made from the instructor's source gives the
    #   release; that release is the *source* of a second course, so its gradebook holds public test
    #   text only. (autograde overwrites every locked cell with the gradebook's copy: a gradebook made
    #   from the full source would put the hidden tests back.) Built once per source version, cached.
    # read_results: a hidden-only test cell is empty in the release, so it "passes" there: it is
    #   reported as graded by the instructor and never counted in the public points. Errors that come
    #   from the machine (a resource missing offline, memory, a crashed kernel, a missing package, a
    #   cell past the time limit) are reported as such, not as a wrong answer.
    # measure_quality: for an assignment whose assignments/grading.yaml entry has a `public:` part
    #   (hidden model-quality tests), the saved model is measured by the grader's own evaluator
    #   (:func:`course_lib.grading.engine.quality.measure`, sandboxed) on that public data against the
    #   grader's thresholds. Hidden data is never read.
"""
from __future__ import annotations

import hashlib
import html
import json
import re
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path


from .nbgrader_chain import COURSE_ID, assignments, autograde, prepare_course, run_nbgrader
from .diagnosis import EnvironmentIssue, classify_error, execution_issue
from .progress import working_copy
from .result import TestResult, pass_fail
from .samples import read_grades
from ..exceptions import GradingError, NotebookError, NotebookExecutionError
from ..paths import build_dir, repo_root

__all__ = ["TestResult", "EnvironmentIssue", "QualityResult", "CheckReport", "check", "working_copy",
           "public_course", "quality_entry", "classify_error", "STUDENT"]

STUDENT = "me"                      # the learner's id in the throwaway gradebook
_TEMPLATE_VERSION = "1"             # bump when the public course's layout changes
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class QualityResult:
    """A model-quality check on public data standing in for hidden quality tests."""

    metric: str
    split: str
    thresholds: dict[str, float]    # hidden test id -> the value it needs
    value: float | None = None
    note: str | None = None

    @property
    def ok(self) -> bool:
        return self.value is not None and all(self.value >= t for t in self.thresholds.values())


@dataclass
class CheckReport:
    assignment: str
    notebook: str
    tests: list[TestResult]
    issues: list[EnvironmentIssue] = field(default_factory=list)
    quality: QualityResult | None = None
    seconds: float = 0.0
    html_path: str | None = None
    autograded: str | None = None   # the notebook as the runner executed it, with every output
    written_points: float = 0.0     # written answers ("why" questions): graded by hand, never here

    @property
    def public(self) -> list[TestResult]:
        return [t for t in self.tests if t.status != "hidden"]

    @property
    def score(self) -> float:
        return sum(t.score or 0.0 for t in self.public)

    @property
    def max_score(self) -> float:
        return sum(t.points for t in self.public)

    @property
    def hidden_points(self) -> float:
        return sum(t.points for t in self.tests if t.status == "hidden")

    @property
    def failing(self) -> list[str]:
        return sorted(t.grade_id for t in self.public if t.status != "passed")

    @property
    def status(self) -> str:
        if any(t.status == "not checked" for t in self.tests):
            return "environment"
        if self.failing or (self.quality is not None and not self.quality.ok):
            return "failing"
        return "passing"

    def verdict(self) -> str:
        if self.status == "environment":
            return ("Some tests could not be checked because of a problem with this computer, not with your "
                    "answer: fix it as described above and run the check again.")
        wrong = [t for t in self.public if t.status == "failed"]
        if wrong:
            cells = sorted({t.answer_cell for t in wrong if t.answer_cell})
            return (f"{len(wrong)} public test(s) fail: your answer needs work"
                    + (f" in {', '.join(f'`{c}`' for c in cells)}" if cells else "") + ". Fix it and check again.")
        if self.quality is not None and not self.quality.ok:
            return ("Every public test passes, but your model does not reach the quality the grader asks for "
                    "(see above): it would lose those points.")
        return "Every public test passes."

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(status=self.status, score=self.score, max_score=self.max_score,
                 hidden_points=self.hidden_points, failing=self.failing)
        return d

    def summary(self) -> str:
        passed = sum(t.status == "passed" for t in self.public)
        hidden = (f"; hidden tests ({self.hidden_points:g} points) are graded by your instructor"
                  if self.hidden_points else "")
        if self.written_points:
            hidden += f"; written answers ({self.written_points:g} points) are graded by hand by your instructor"
        return (f"Public tests: {self.score:g}/{self.max_score:g} points ({passed} of {len(self.public)} tests "
                f"passed){hidden}.")

    def _quality_line(self) -> str:
        q = self.quality
        value = f"{q.value:.3f}" if q.value is not None else "not measured"
        need = ", ".join(f">= {v:g} ({k})" for k, v in q.thresholds.items())
        return f"Model quality ({q.metric} on the {q.split}): {value}; the grader needs {need}"

    def _detail(self, t: TestResult) -> str:
        if t.status == "hidden":
            return "graded by your instructor" + _quality_note(self.quality, t.grade_id)
        return (t.message or "") if t.status != "passed" else ""

    def text(self) -> str:
        lines = [f"course check {self.assignment}: {self.notebook}", _PREAMBLE, ""]
        for i in self.issues:
            lines += [f"ENVIRONMENT PROBLEM{f' (cell {i.cell})' if i.cell else ''}, not your answer: {i.advice}",
                      f"    {_first_lines(i.error, 3)}", ""]
        width = max((len(t.grade_id) for t in self.tests), default=10)
        for t in self.tests:
            label = t.status.upper() if t.status in ("failed", "not checked") else t.status
            lines.append(f"  {label:11} {t.grade_id:{width}}  {_points(t):>7}  {' | '.join(_where(t))}")
            lines += ["              " + ln for ln in _first_lines(self._detail(t), 6).splitlines()]
        if self.quality is not None:
            lines += ["", self._quality_line()] + (["  " + self.quality.note] if self.quality.note else [])
        lines += ["", self.summary(), self.verdict()]
        if self.html_path:
            lines.append(f"Report: {self.html_path}")
        return "\n".join(lines)

    def html(self) -> str:
        e = html.escape
        colour = {"passed": "#2e7d32", "failed": "#c62828", "hidden": "#757575", "not checked": "#ef6c00"}
        rows = "".join(
            f"<tr><td style='color:{colour[t.status]};font-weight:bold'>{e(t.status)}</td>"
            f"<td><code>{e(t.grade_id)}</code></td><td>{e(_points(t))}</td><td>{e(' · '.join(_where(t)))}</td>"
            f"<td><pre style='margin:0;white-space:pre-wrap'>{e(_first_lines(self._detail(t), 8))}</pre></td></tr>"
            for t in self.tests)
        issues = "".join(f"<p style='background:#fff3e0;padding:6px'><b>Environment problem"
                         f"{f' (cell {i.cell})' if i.cell else ''}, not your answer:</b> {e(i.advice)}<br>"
                         f"<code>{e(_first_lines(i.error, 3))}</code></p>" for i in self.issues)
        quality = "" if self.quality is None else \
            f"<p>{e(self._quality_line())}" + (f"<br>{e(self.quality.note)}" if self.quality.note else "") + "</p>"
        return (f"<div><h3>course check {e(self.assignment)}</h3><p><code>{e(self.notebook)}</code><br>"
                f"{e(_PREAMBLE)}</p>{issues}<table><tr><th>result</th><th>test</th><th>points</th><th>where</th>"
                f"<th>details</th></tr>{rows}</table>{quality}<p>{e(self.summary())}<br><b>{e(self.verdict())}</b>"
                "</p></div>")

    def _repr_html_(self) -> str:
        return self.html()


_PREAMBLE = "Your notebook ran in the grader's runner with the public tests; hidden tests are not run."


def _points(t: TestResult) -> str:
    return f"{t.score:g}/{t.points:g}" if t.score is not None else f"-/{t.points:g}"


def _where(t: TestResult) -> list[str]:
    return ([f"cell {t.cell}" if t.cell else "cell missing"] + ([t.section] if t.section else [])
            + ([f"checks `{t.answer_cell}`"] if t.answer_cell else []))


# ------------------------------------------------------------------------------------------------ inputs

def _source_notebook(assignment: str) -> Path:
    known = assignments()
    if assignment not in known:
        raise GradingError(f"No assignment named {assignment!r}. Known assignments: {', '.join(known)}.")
    nbs = sorted((repo_root() / "assignments" / "source" / assignment).glob("*.ipynb"))
    if len(nbs) != 1:
        raise GradingError(f"assignments/source/{assignment}/ should hold exactly one notebook, holds {len(nbs)}.")
    return nbs[0]


def _read_learner_notebook(assignment: str, notebook: Path | None, answer_ids: set[str]) -> Path:
    import nbformat

    path = Path(notebook) if notebook else working_copy(assignment)
    if not path.is_file():
        if notebook:
            raise NotebookError(f"{path} does not exist. Pass the path of your {assignment} notebook.")
        raise NotebookError(
            f"No working copy of {assignment} at {path}. Fetch it in JupyterLab (`course lab`, then the "
            f"Assignment List's Fetch button), or pass your notebook's path: "
            f"`course check {assignment} path/to/{assignment}.ipynb`.")
    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception as e:
        raise NotebookError(f"{path} is not a readable notebook ({type(e).__name__}: {_first_lines(str(e), 1)}). "
                            "Open it in JupyterLab and save it again, or restore it with File → Revert Notebook "
                            "to Checkpoint.") from e
    mine = {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells}
    missing = sorted(answer_ids - mine)
    if missing == sorted(answer_ids):
        raise NotebookError(f"{path} has none of {assignment}'s answer cells: is it the right notebook? Pass your "
                            f"{assignment} notebook, or fetch it again in JupyterLab's Assignment List.")
    if missing:
        raise NotebookError(f"{path} lacks the answer cell(s) {missing} of {assignment} (deleted, or their nbgrader "
                            "metadata was lost): fetch a fresh copy in JupyterLab's Assignment List (rename yours "
                            "first) and move your answers into it.")
    return path


def quality_entry(assignment: str) -> dict | None:
    """The first model-quality entry of ``assignment`` in ``assignments/grading.yaml`` with a ``public`` part
    (the data ``course check`` may measure on), or None."""
    from .engine.quality import load_spec

    f = repo_root() / "assignments" / "grading.yaml"
    entry = next((e for e in load_spec(assignment, f) or [] if e.get("public")), None)
    if entry is not None and not {"data", "split"} <= set(entry["public"]):
        raise GradingError(f"{f}: the public part of {assignment}'s quality entry needs `data` and `split` "
                           f"(has {sorted(entry['public'])}).")
    return entry


# ------------------------------------------------------------------------------------------------ the runner

def _fingerprint(source: Path) -> str:
    from importlib.metadata import version

    h = hashlib.sha256(f"{_TEMPLATE_VERSION} {version('nbgrader')} {COURSE_ID}".encode())
    startup = Path(__file__).parent / "ipython_profile"
    for f in sorted(source.rglob("*")) + sorted(startup.rglob("*")):
        if f.is_file() and "__pycache__" not in f.parts:
            h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()[:12]


def public_course(assignment: str, course: Path) -> Path:
    """A fresh throwaway course at ``course`` whose gradebook holds the *release* of ``assignment``."""
    source = _source_notebook(assignment).parent
    template = build_dir() / "selfcheck" / "_public" / f"{assignment}-{_fingerprint(source)}"
    if not (template / "gradebook.db").is_file():
        template.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{assignment}-", dir=template.parent))
        try:
            # generate_assignment adds the assignment to the gradebook itself (its create_assignment option)
            instructor = prepare_course(work / "instructor")
            run_nbgrader(instructor, "generate_assignment", assignment, "--force")   # the release
            public = prepare_course(work / "public", source=instructor / "release")
            run_nbgrader(public, "generate_assignment", assignment, "--force")       # its gradebook
            if not (public / "gradebook.db").is_file():
                raise GradingError(f"generate_assignment wrote no gradebook in {public}")
            for old in template.parent.glob(f"{assignment}-{'?' * 12}"):     # built from an older source
                shutil.rmtree(old, ignore_errors=True)
            (work / "public").rename(template)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if course.exists():
        shutil.rmtree(course)
    shutil.copytree(template, course)
    return course


def check(assignment: str, notebook: str | Path | None = None, *, record: bool = True,
          out_dir: Path | None = None, progress=lambda msg: None) -> CheckReport:
    """Grade ``notebook`` (default :func:`working_copy`) on the public tests of ``assignment``.

    Writes ``report.html`` and ``report.json`` to ``out_dir`` (default ``<build>/selfcheck/<id>/``)
    and, with ``record``, the result to the learner's progress (:mod:`course_lib.grading.progress`).
    """
    t0 = time.monotonic()
    source_nb = _source_notebook(assignment)
    path = _read_learner_notebook(assignment, Path(notebook) if notebook else None, _answer_ids(source_nb))
    out_dir = Path(out_dir or build_dir() / "selfcheck" / assignment)
    out_dir.mkdir(parents=True, exist_ok=True)
    progress(f"{assignment}: preparing the public tests")
    course = public_course(assignment, out_dir / "course")
    dest = course / "submitted" / STUDENT / assignment
    dest.mkdir(parents=True)
    shutil.copy(path, dest / f"{source_nb.stem}.ipynb")           # only the notebook: no stale outputs
    progress(f"{assignment}: running {path.name} with the public tests (a fresh kernel, as the grader does)")
    died = None
    try:
        autograde(course, assignment, sandbox=True)     # the learner's machine deserves the sandbox too
    except NotebookExecutionError as e:
        died = execution_issue(e)
        if died is None:
            raise
    tests, issues = _read_results(course, assignment, source_nb.stem)
    if died is not None:
        issues.append(died)
        for t in tests:
            if t.status != "hidden":
                t.score, t.status, t.message = 0.0, "not checked", "not checked: the kernel crashed (see above)"
    report = CheckReport(assignment, str(path), tests, issues,
                         written_points=sum(_written_answers(course, assignment, source_nb.stem).values()))
    entry = quality_entry(assignment)
    if entry is not None:
        progress(f"{assignment}: measuring your model on the {entry['public']['split']}")
        report.quality = _measure_quality(entry, course / "autograded" / STUDENT / assignment, course)
    graded = course / "autograded" / STUDENT / assignment / f"{source_nb.stem}.ipynb"
    report.autograded = str(graded) if graded.is_file() else None
    report.seconds = round(time.monotonic() - t0, 1)
    report.html_path = str(out_dir / "report.html")
    Path(report.html_path).write_text(f"<!doctype html><meta charset='utf-8'><title>course check {assignment}"
                                      f"</title><body style='font-family:sans-serif'>{report.html()}</body>")
    (out_dir / "report.json").write_text(json.dumps(report.to_dict(), indent=1))
    if record:
        from .progress import record_check

        record_check(report)
    return report


# ------------------------------------------------------------------------------------------------ results

def _answer_ids(nb_path: Path) -> set[str]:
    """The grade ids of the cells a learner writes in (nbgrader's solution cells)."""
    nb = json.loads(nb_path.read_text())
    return {c["metadata"]["nbgrader"]["grade_id"] for c in nb["cells"]
            if c.get("metadata", {}).get("nbgrader", {}).get("solution")}


def _hidden_only(course: Path, assignment: str, stem: str) -> set[str]:
    """Test cells the release leaves empty: all their text was hidden."""
    nb = json.loads((course / "source" / assignment / f"{stem}.ipynb").read_text())
    return {c["metadata"]["nbgrader"]["grade_id"] for c in nb["cells"]
            if c.get("metadata", {}).get("nbgrader", {}).get("grade") and not "".join(c["source"]).strip()}


def _written_answers(course: Path, assignment: str, stem: str) -> dict[str, float]:
    """Manually graded answer cells (nbgrader ``grade`` and ``solution``): grade id -> points."""
    nb = json.loads((course / "source" / assignment / f"{stem}.ipynb").read_text())
    return {m["grade_id"]: float(m.get("points", 0)) for c in nb["cells"]
            for m in [c.get("metadata", {}).get("nbgrader", {})] if m.get("grade") and m.get("solution")}


def _read_results(course: Path, assignment: str, stem: str) -> tuple[list[TestResult], list[EnvironmentIssue]]:
    import nbformat

    grades = read_grades(course, assignment).get(STUDENT)
    written = _written_answers(course, assignment, stem)     # graded by hand: not a test, not checked here
    scores = {g: v for g, v in grades.scores().items() if g not in written} if grades else {}
    hidden = _hidden_only(course, assignment, stem)
    graded = course / "autograded" / STUDENT / assignment / f"{stem}.ipynb"
    ran = graded.is_file()            # else nbgrader gave up on it (a crashed kernel): positions from the copy,
    if not ran:                       # whose outputs are the learner's own, not this run's
        graded = course / "submitted" / STUDENT / assignment / f"{stem}.ipynb"
    cells = nbformat.read(str(graded), as_version=4).cells
    tests: dict[str, TestResult] = {}
    issues: list[EnvironmentIssue] = []
    section, answer = "", None
    for k, c in enumerate(cells, 1):
        meta = c.metadata.get("nbgrader", {})
        if c.cell_type == "markdown":
            heads = [ln.lstrip("#").strip() for ln in c.source.splitlines() if ln.startswith("#")]
            section = heads[0] if heads else section
            continue
        errors = [o for o in c.get("outputs", []) if o.get("output_type") == "error"] if ran else []
        issue = next((i for i in (classify_error(o["ename"], o.get("evalue", ""), k) for o in errors) if i), None)
        if issue is not None and not any((i.kind, i.error) == (issue.kind, issue.error) for i in issues):
            issues.append(issue)          # the same error again later is a consequence, not news
        if meta.get("solution"):
            answer = meta.get("grade_id")
        if not meta.get("grade") or meta.get("grade_id") not in scores:
            continue
        gid = meta["grade_id"]
        score, points = scores[gid]
        t = TestResult(gid, points, score, pass_fail(score, points), k, section, answer)
        if gid in hidden:
            t.score, t.status = None, "hidden"
        elif t.status == "failed":
            t.message = _failure_message(errors, answer) or "the test cell failed"
            env_cell = max((i.cell for i in issues if i.cell and i.cell < k), default=None)
            if issue is not None or env_cell is not None:
                t.status = "not checked"
                t.message = (t.message if issue is not None else
                             f"not checked: cell {env_cell} failed because of the environment (see above); "
                             f"this test's own error was: {_first_lines(t.message, 2)}")
        tests[gid] = t
    for gid, (score, points) in scores.items():         # a test cell the learner deleted
        if gid not in tests:
            tests[gid] = TestResult(gid, points, None if gid in hidden else score,
                                    "hidden" if gid in hidden else pass_fail(score, points),
                                    message="this test cell is missing from your notebook: fetch a fresh copy "
                                            "and move your answers into it")
    order = {c.metadata.get("nbgrader", {}).get("grade_id"): k for k, c in enumerate(cells)}
    return sorted(tests.values(), key=lambda t: order.get(t.grade_id, 1 << 30)), issues


def _failure_message(errors: list[dict], answer: str | None = None) -> str | None:
    """The assertion's message, or the failing line when the assert has none."""
    if not errors:
        return None
    err = errors[-1]
    ename, evalue = err.get("ename", "Error"), (err.get("evalue") or "").strip()
    if ename == "NotImplementedError" and not evalue:
        return ("not answered yet: replace `raise NotImplementedError()` in "
                + (f"`{answer}`" if answer else "the answer cell above") + " with your code")
    if evalue:
        return f"{ename}: {evalue}"
    for block in err.get("traceback", []):
        for line in _ANSI.sub("", block).splitlines():
            if line.lstrip().startswith("---->"):
                return f"{ename} at: {line.split('---->', 1)[1].strip().lstrip('0123456789').strip()}"
    return ename


def _first_lines(text: str, n: int) -> str:
    lines = _ANSI.sub("", text or "").strip().splitlines()
    return "\n".join(lines[:n]) + (" …" if len(lines) > n else "")


# ------------------------------------------------------------------------------------------------ quality

def _measure_quality(entry: dict, workdir: Path, course: Path) -> QualityResult:
    """The grader's measurement of the model the notebook saved, on the entry's public data, sandboxed."""
    from .engine.hidden_data import resolve
    from .engine.quality import measure
    from .engine.sandbox import Limits

    q = QualityResult(entry["metric"], entry["public"]["split"],
                      {k: float(v) for k, v in entry["thresholds"].items()})
    model = next((workdir / m for m in entry["model"] if (workdir / m).exists()), None)
    if model is None:
        q.note = f"no model saved at {entry['model'][0]}/ when your notebook ran: nothing to measure yet."
        return q
    data = resolve(entry["public"]["data"], course).read_bytes()
    res, last = measure(entry["metric"], data, model, course / "quality", Limits(), sandbox=True)
    if res is None:
        issue = classify_error(last.split(":")[0].split(".")[-1], last)
        q.note = (f"could not measure the model ({last})" +
                  (f": {issue.advice}" if issue else ". Does your notebook save the model the assignment asks for?"))
        return q
    q.value = float(res["value"])
    q.note = (f"measured on {res['n']} examples of the public data ({entry['public']['split']}, {res['format']}); "
              "the grader measures on held-out data, which is usually harder, so aim above the thresholds with a "
              "margin.")
    return q


def _quality_note(q: QualityResult | None, grade_id: str) -> str:
    if q is None or grade_id not in q.thresholds:
        return ""
    need = q.thresholds[grade_id]
    if q.value is None:
        return f" (needs {q.metric} >= {need:g}; your model could not be measured here)"
    return (f" on held-out data; on the public validation split your model's {q.metric} is {q.value:.3f} "
            f"(this test needs >= {need:g}: {'reached' if q.value >= need else 'NOT reached'})")
