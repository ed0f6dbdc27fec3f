"""``course hub``: a real JupyterHub on this machine, real Unix accounts logged in with PAM, two learners.

One hub for the module (loopback, free ports, a state folder under /tmp): an instructor and two learners from a
roster get Unix accounts; the instructor logs in and a0_warmup is released (nbgrader, as the grader account);
both learners log in through the hub's API, start their JupyterLab, fetch through nbgrader's Assignment List
server extension and submit (one the reference answers, resubmitted once; one a flawed sample); each is checked,
as a Unix user, not to read the other's work or the course; the instructor grades with the kit's engine and both
learners fetch exactly their expected score, with no hidden test in any of their files, and `course export
--lms canvas` holds both; the hub restarts and everything is still there; ten more learners from the same roster
start, submit and are graded on submit at once (the load test, printing its figures); in Chromium a learner sees
the Assignment List and the instructor the formgrader. The accounts are removed at the end.

Needs root (accounts, PAM, servers run as each user), PAM and configurable-http-proxy (``bash ci/hub-deps.sh``).
Without them the module is skipped with the reason, except as root, where a missing proxy fails it.
"""
from __future__ import annotations

import csv
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from course_lib.exceptions import EnvironmentProblem, HubError, HubPortInUse
from course_lib.paths import repo_root

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
if not IS_ROOT:
    pytest.skip("course hub needs root: it creates Unix accounts and starts each user's server as that user "
                "(run `sudo bash ci/test.sh tests/test_classroom_hub.py`)", allow_module_level=True)
if not Path("/etc/pam.d/login").is_file():
    pytest.skip("no PAM service 'login' (/etc/pam.d/login) to log users in with", allow_module_level=True)

from course_lib.classroom import hub_course  # noqa: E402
from course_lib.classroom.autograde import poll_once, set_autograde  # noqa: E402
from course_lib.classroom.hub_process import find_proxy, hub_api, hub_status, start_hub, stop_hub  # noqa: E402
from course_lib.classroom.hub_setup import setup_hub  # noqa: E402

try:
    find_proxy()
except EnvironmentProblem as e:
    pytest.fail(f"running as root (CI) but {e}", pytrace=False)

requests = pytest.importorskip("requests")

A = "a0_warmup"
TAG = secrets.token_hex(3)
COURSE = f"tfc{TAG}"
INSTRUCTOR, L1, L2 = f"hi{TAG}", f"hl{TAG}a", f"hl{TAG}b"
LOAD = [f"hn{TAG}{i}" for i in range(10)]     # the load test's learners (API only)
SAMPLES = repo_root() / "assignments" / "samples" / A
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", re.S)


def _free_port() -> int:
    """A free port below Linux's ephemeral range (32768-60999), so no outgoing connection takes it meanwhile."""
    while True:
        port = secrets.randbelow(12000) + 20000
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue


class Hub:
    def __init__(self, report):
        self.state, self.settings = report.state, report.settings
        self.passwords = {r["username"]: r["initial_password"] for r in csv.DictReader(open(self.state.passwords))}
        self.tokens: dict[str, str] = {}

    @property
    def url(self) -> str:
        return self.settings.url

    def login(self, user: str, password: str | None = None) -> requests.Response:
        """PAM login through the hub's API: a token for ``user`` if the hub lets them in."""
        return requests.post(f"{self.url}/hub/api/users/{user}/tokens", timeout=60,
                             json={"auth": {"username": user, "password": password or self.passwords.get(user, "")},
                                   "note": "test_classroom_hub"})

    def token(self, user: str) -> str:
        if user not in self.tokens:
            r = self.login(user)
            assert r.status_code == 201, (user, r.status_code, r.text)
            self.tokens[user] = r.json()["token"]
        return self.tokens[user]

    def call(self, user: str, method: str, path: str, **kw) -> requests.Response:
        return requests.request(method, f"{self.url}{path}", timeout=300,
                                headers={"Authorization": f"token {self.token(user)}"}, **kw)

    def start_server(self, user: str) -> None:
        r = self.call(user, "POST", f"/hub/api/users/{user}/server")
        assert r.status_code in (201, 202, 400), r.text            # 400: already running

    def wait_ready(self, user: str, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.call(user, "GET", f"/hub/api/users/{user}").json()["servers"].get("", {}).get("ready"):
                return
            time.sleep(0.5)
        raise AssertionError(f"{user}'s server not ready in {timeout} s:\n{self.state.log.read_text()[-3000:]}")

    def assignments(self, user: str, action: str | None = None) -> list[dict]:
        """nbgrader's Assignment List extension in ``user``'s own server: list, or fetch/submit/fetch_feedback."""
        form = {"course_id": COURSE, "assignment_id": A}
        r = (self.call(user, "POST", f"/user/{user}/assignments/{action}", data=form) if action else
             self.call(user, "GET", f"/user/{user}/assignments", params={"course_id": COURSE}))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["success"], body.get("value")
        return body["value"]

    def put_notebook(self, user: str, sample: str) -> None:
        nb = json.loads((SAMPLES / sample / f"{A}.ipynb").read_text())
        r = self.call(user, "PUT", f"/user/{user}/api/contents/{COURSE}/{A}/{A}.ipynb",
                      json={"type": "notebook", "format": "json", "content": nb})
        assert r.status_code in (200, 201), r.text


def _expected_scores(hub) -> tuple[float, float, dict[str, float]]:
    """a0's total, the points of its written answers (left for the formgrader when answered), and each sample's
    autograded score, from the course's gradebook and the samples' ``expected.yaml``."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{hub.state.course / 'gradebook.db'}") as gb:
        points = {g.name: float(g.max_score) for nb in gb.find_assignment(A).notebooks for g in nb.grade_cells}
        written = {c.name for nb in gb.find_assignment(A).notebooks for c in nb.solution_cells} & set(points)
    expected = yaml.safe_load((SAMPLES / "expected.yaml").read_text())
    total = sum(points.values())
    waiting = sum(points[w] for w in written)
    # a written answer left blank is scored 0 by nbgrader (listed as failing), an answered one waits
    return total, waiting, {k: total - sum(points[t] for t in v["failing"])
                            - sum(points[w] for w in written if w not in v["failing"]) for k, v in expected.items()}


def _as(user: str, *cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", user, "--", *cmd], capture_output=True, text=True, errors="replace",
                          timeout=60)


def _rss_mb(user: str) -> float:
    out = subprocess.run(["ps", "-o", "rss=", "-u", user], capture_output=True, text=True).stdout.split()
    return sum(int(x) for x in out) / 1024


def _searchable_by_all(path: Path) -> list[tuple[Path, int]]:
    """Let every user pass through the folders above ``path`` (o+x, not read), as the README's deployment has the
    kit in a folder everyone can read; a fresh clone in a private temp folder (mode 0700, as CI's) is not.
    Returns the folders changed and their modes, to put back."""
    changed = []
    for d in reversed([path, *path.parents]):
        mode = d.stat().st_mode
        if not mode & 0o001:
            d.chmod(mode | 0o001)
            changed.append((d, mode))
    return changed


@pytest.fixture(scope="module")
def hub():
    base = Path(tempfile.mkdtemp(prefix="course-hub-test-"))
    base.chmod(0o755)                     # learners' servers reach the state folder's exchange and configs
    opened = _searchable_by_all(Path(sys.prefix).resolve()) + _searchable_by_all(repo_root())
    roster = base / "roster.csv"
    roster.write_text("username,role,name,email,lms_id\n"
                      f"{INSTRUCTOR},instructor,Ada Lovelace,ada@example.edu,\n"
                      f"{L1},learner,Bo Chen,bo@example.edu,\n{L2},learner,Cy Diaz,,4242\n"
                      + "".join(f"{u},learner,Load {u},{u}@example.edu,\n" for u in LOAD))
    users = [INSTRUCTOR, L1, L2, *LOAD, f"grader-{COURSE}"]
    try:
        report = setup_hub(roster, base / "state", course_id=COURSE, port=_free_port(), hub_port=_free_port(),
                           proxy_api_port=_free_port(), formgrader_port=_free_port())
        h = Hub(report)
        (h.state.root / "jupyterhub_config_local.py").write_text(    # the instructor's own settings, loaded last
            f"c.JupyterHub.template_vars = {{'announcement_login': 'Welcome to {COURSE}'}}\n")
        started = start_hub(h.state.root)
        print(f"\nhub start: {started.seconds} s")
        yield h
    finally:
        try:
            stop_hub(base / "state")
        except (HubError, OSError):
            pass
        for u in users:
            subprocess.run(["userdel", "--remove", u], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
        for d, mode in reversed(opened):
            d.chmod(mode)


def test_setup_made_private_accounts_a_root_only_password_file_and_the_course_groups(hub):
    assert sorted(hub.passwords) == sorted([INSTRUCTOR, L1, L2, *LOAD])
    st = os.stat(hub.state.passwords)
    assert (st.st_mode & 0o777, st.st_uid) == (0o600, 0)
    for u in (INSTRUCTOR, L1, L2, *LOAD):
        assert os.stat(f"/home/{u}").st_mode & 0o777 == 0o700
    users = {u["name"]: u for u in hub_status(hub.state.root).users}
    assert users[INSTRUCTOR]["admin"] and users[INSTRUCTOR]["groups"] == [f"formgrade-{COURSE}"]
    assert {u: users[u]["groups"] for u in (L1, L2, *LOAD)} == {u: [f"nbgrader-{COURSE}"] for u in (L1, L2, *LOAD)}


def test_a_wrong_password_and_an_unknown_user_are_refused(hub):
    assert hub.login(L1, "not-the-password").status_code == 403
    assert hub.login(f"nobody{TAG}", "x").status_code == 403                  # no such account
    assert hub.login(f"grader-{COURSE}", "").status_code == 403               # an account, not on the roster
    assert "PAM Authentication failed" in hub.state.log.read_text()
    assert f"Welcome to {COURSE}" in requests.get(f"{hub.url}/hub/login", timeout=30).text   # local config loaded


def test_instructor_logs_in_and_releases_with_the_formgrader_service_behind_the_course_group(hub):
    me = hub.call(INSTRUCTOR, "GET", "/hub/api/user").json()
    assert me["name"] == INSTRUCTOR and me["admin"]
    hub_course.release_assignment(hub.state, A)                    # nbgrader release_assignment as the grader
    released = hub.state.exchange / COURSE / "outbound" / A / f"{A}.ipynb"
    assert released.is_file() and "BEGIN HIDDEN" not in released.read_text()
    fg = f"/services/{COURSE}/formgrader/api/assignments"
    r = hub.call(INSTRUCTOR, "GET", fg)
    assert r.status_code == 200, hub.state.log.read_text()[-4000:]
    assert {a["name"]: a["status"] for a in r.json()}[A] == "released"
    assert hub.call(L1, "GET", fg, allow_redirects=False).status_code in (302, 403, 404)   # learners: no formgrader


def test_learners_fetch_and_submit_and_cannot_read_each_others_work(hub):
    t0 = time.monotonic()
    for u in (L1, L2):
        hub.start_server(u)
    for u in (L1, L2):
        hub.wait_ready(u)
    print(f"\ntwo learner servers ready in {time.monotonic() - t0:.1f} s; RSS {_rss_mb(L1):.0f} MB, {_rss_mb(L2):.0f} MB")
    for u in (L1, L2):
        listed = hub.assignments(u)
        assert [(a["assignment_id"], a["status"]) for a in listed] == [(A, "released")]
        assert [a["status"] for a in hub.assignments(u, "fetch")] == ["fetched"]
        assert Path(f"/home/{u}/{COURSE}/{A}/{A}.ipynb").is_file()
    hub.put_notebook(L1, "blank")                     # L1 submits twice: the untouched release, then the answers
    hub.assignments(L1, "submit")
    time.sleep(1.1)                                   # nbgrader's timestamps order the submissions
    hub.put_notebook(L1, "reference")
    hub.put_notebook(L2, "flaw_int_tensor")
    subs = {u: [a for a in hub.assignments(u, "submit") if a["status"] == "submitted"][0]["submissions"]
            for u in (L1, L2)}
    assert (len(subs[L1]), len(subs[L2])) == (2, 1)
    mine = f"/home/{L1}/{COURSE}/{A}/{A}.ipynb"
    assert _as(L1, "cat", mine).returncode == 0                                # the check itself works
    inbound = hub.state.exchange / COURSE / "inbound"
    for who, path in [(L2, mine), (L2, f"/home/{L1}"), (L2, str(inbound)), (L1, str(hub.state.course / "source")),
                      (L1, str(hub.state.passwords)), (L1, str(hub.state.db)), (L1, str(hub.state.log)),
                      (L1, str(hub.state.settings_file)), (L2, f"/home/{INSTRUCTOR}")]:
        r = _as(who, "ls" if Path(path).is_dir() else "cat", path)
        assert r.returncode != 0 and "Permission denied" in r.stderr, (who, path, r.stdout[:200])


def test_instructor_grades_with_the_engine_and_each_learner_fetches_exactly_the_expected_score(hub):
    said: list[str] = []
    report = hub_course.grade(hub.state, A, jobs=2, progress=said.append)       # collect, engine, release_feedback
    print("\n".join(said))
    assert said[:2] == [f"{L1}: submitted 2 times; nbgrader keeps the newest", f"collected: {L1}, {L2}; updated: none"]
    assert {r.student: r.status for r in report.rows} == {L1: "ok", L2: "ok"}
    assert report.isolation.startswith("bubblewrap")
    total, waiting, want = _expected_scores(hub)
    want = {L1: want["reference"], L2: want["flaw_int_tensor"]}
    assert waiting > 0 and want[L1] == total - waiting > want[L2]
    source = json.loads((repo_root() / "assignments" / "source" / A / f"{A}.ipynb").read_text())
    hidden = [line.strip() for c in source["cells"] for block in HIDDEN.findall("".join(c["source"]))
              for line in block.splitlines() if line.strip()]
    released = (hub.state.exchange / COURSE / "outbound" / A / f"{A}.ipynb").read_text()
    hidden = [line for line in hidden if json.dumps(line)[1:-1] not in released]   # lines only the hidden tests have
    assert len(hidden) >= 4, hidden
    for u in (L1, L2):
        listed = hub.assignments(u, "fetch_feedback")
        assert any(s["has_local_feedback"] for a in listed for s in a.get("submissions", [])), listed
        feedback = list(Path(f"/home/{u}/{COURSE}/{A}/feedback").rglob("*.html"))
        assert len(feedback) == 1, feedback
        html = feedback[0].read_text()
        score = re.search(r"<h1>[^<]*: autograded ([\d.]+)/([\d.]+), ([\d.]+) points? awaits? manual grading</h1>", html)
        assert (float(score[1]), float(score[2]), float(score[3])) == (want[u], total, waiting), html[:500]
        for f in Path(f"/home/{u}").rglob("*"):
            if f.is_file():
                text = f.read_text(errors="replace")
                leaked = [line for line in hidden if line in text]
                assert not leaked, (f, leaked[:2])
    assert "dtype" in feedback[0].read_text()                     # L2's: why test_make_tensor failed
    out = hub.state.root / "canvas.csv"                           # `course export --lms canvas` (issue #27, test 4)
    r = subprocess.run([sys.executable, "-m", "course_lib.cli.main", "export", "--lms", "canvas", "--roster",
                        str(hub.state.roster), "--course", str(hub.state.course), "-o", str(out), A],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and f"{len(LOAD)} blank (no submission)" in r.stdout, r.stdout + r.stderr
    rows = list(csv.reader(out.open()))
    assert rows[:2] == [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", A],
                        ["Points Possible", "", "", "", "", f"{total:g}"]]
    assert rows[2:4] == [["Bo Chen", "", "", "bo@example.edu", "", f"{want[L1]:g}"],
                         ["Cy Diaz", "4242", "", "", "", f"{want[L2]:g}"]]
    assert [r[-1] for r in rows[4:]] == [""] * len(LOAD)           # no submission yet: blank, not 0


def test_grading_on_submit_grades_a_resubmission_and_keeps_the_daily_limit(hub):
    set_autograde(hub.state, A, 1)                # applied to the hub at its next start (the restart below)
    due = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    hub_course.as_grader(hub.state, "db", "assignment", "add", A, f"--duedate={due}")    # due now: what follows is late
    time.sleep(1.1)
    hub.put_notebook(L2, "reference")             # L2 fixes the dtype and submits again, after the due date
    hub.assignments(L2, "submit")
    said: list[str] = []
    first = poll_once(hub.state, progress=said.append)   # what the service does every 15 s; L1's graded work is skipped
    assert [(r["learner"], r["status"], r.get("score")) for r in first] == [(L2, "graded", 12.0)], first
    assert any(line.startswith(f"{L2}: submitted") and "after the due date (nbgrader's late policy: penalty none, 0 points)"
               in line for line in said), said
    assert poll_once(hub.state) == []             # nothing new
    feedback = sorted(Path(f"/home/{L2}/{COURSE}/{A}/feedback").rglob("*.html"))
    hub.assignments(L2, "fetch_feedback")
    newest = sorted(Path(f"/home/{L2}/{COURSE}/{A}/feedback").rglob("*.html"))
    assert len(newest) == len(feedback) + 1 and "autograded 12/13, 1 point awaits manual grading" in newest[-1].read_text()
    time.sleep(1.1)
    hub.put_notebook(L2, "flaw_int_tensor")       # a third submission the same day: over the limit of 1
    hub.assignments(L2, "submit")
    [waits] = poll_once(hub.state)
    assert (waits["learner"], waits["status"]) == (L2, "daily-limit") and "1 of 1" in waits["note"]
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{hub.state.course / 'gradebook.db'}") as gb:
        sub = gb.find_submission(A, L2)
        assert sub.score == 12.0                             # not regraded; late, penalty "none": nbgrader's default
        assert sub.total_seconds_late > 0 and gb.find_submission(A, L1).total_seconds_late == 0


def test_a_restart_keeps_users_submissions_grades_and_refuses_a_port_in_use_or_a_missing_proxy(hub, monkeypatch):
    before = {u["name"]: u["groups"] for u in hub_status(hub.state.root).users}
    stopped = stop_hub(hub.state.root)
    print(f"\nhub stop: {stopped.seconds} s")
    assert not hub_status(hub.state.root).running
    for u in (L1, L2):
        assert subprocess.run(["pgrep", "-u", u], capture_output=True).returncode == 1     # servers stopped too
    with socket.socket() as s:                                     # the public port taken: refused, nothing started
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((hub.settings.ip, hub.settings.port))
        s.listen()
        with pytest.raises(HubPortInUse, match=rf"port {hub.settings.port} on .* public address.*--port"):
            start_hub(hub.state.root)
    monkeypatch.setenv("COURSE_HUB_PROXY", "/nonexistent/configurable-http-proxy")
    with pytest.raises(EnvironmentProblem, match=r"configurable-http-proxy was not found.*ci/hub-deps.sh"):
        start_hub(hub.state.root)
    monkeypatch.delenv("COURSE_HUB_PROXY")
    assert not hub_status(hub.state.root).running
    started = start_hub(hub.state.root)
    print(f"hub restart: {started.seconds} s")
    assert {u["name"]: u["groups"] for u in hub_status(hub.state.root).users} == before
    assert hub.call(L1, "GET", "/hub/api/user").json()["name"] == L1            # tokens (the hub's DB) kept
    with pytest.raises(HubError, match="already running"):
        start_hub(hub.state.root)
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{hub.state.course / 'gradebook.db'}") as gb:
        assert {s.student.id: s.score for s in gb.find_assignment(A).submissions} == {L1: 12.0, L2: 12.0}
    services = {sv["name"] for sv in hub_api(hub.state, "services").values()}
    assert {COURSE, "autograde"} <= services                 # the formgrader, and grading on submit (enabled above)
    assert "Starting service 'autograde'" in hub.state.log.read_text()
    assert subprocess.run(["pgrep", "-f", f"course_lib.classroom.autograde {hub.state.root}"],
                          capture_output=True).returncode == 0    # the service runs (as root, under the hub)
    hub.start_server(L2)
    hub.wait_ready(L2)
    listed = hub.assignments(L2)
    assert [(a["status"], len(a["submissions"])) for a in listed if a["status"] == "submitted"] == [("submitted", 3)]


def _pct(xs: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``xs``."""
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * len(xs) + 0.5) - 1))]


class TimedHub:
    """``hub``'s calls with the duration of each kept: ``api`` (the hub's REST API), ``server`` (a learner's own)."""

    def __init__(self, hub):
        self.hub, self.api, self.server, self.logins = hub, [], [], []

    def call(self, user: str, method: str, path: str, **kw) -> requests.Response:
        t = time.monotonic()
        r = self.hub.call(user, method, path, **kw)
        (self.api if path.startswith("/hub/api/") else self.server).append(time.monotonic() - t)
        return r


def _records(hub, learners: list[str], wait: float = 120) -> list[dict]:
    """The grading-on-submit service's records of ``learners`` in ``autograde.jsonl``, once there is one for each:
    the service writes them after the batch's feedback is released, so a learner may see the score first."""
    deadline = time.monotonic() + wait
    while True:
        log = hub.state.root / "autograde.jsonl"
        recs = [r for r in map(json.loads, log.read_text().splitlines()) if r["learner"] in learners]
        if {r["learner"] for r in recs} >= set(learners) or time.monotonic() > deadline:
            return recs
        time.sleep(1)


def test_load_ten_learners_start_submit_and_are_graded_on_submit_none_lost(hub):
    """Issue #27's load test: len(LOAD) learners at once, through the hub's REST API and nbgrader's endpoints in
    their own servers: log in, start, fetch, submit (half the release untouched, half the reference answers);
    grading on submit (on since the restart) grades every one; each learner sees their own score. Prints the
    figures (hub API latency, servers' start, memory, submit-to-score); asserts behaviour, not timing."""
    from concurrent.futures import ThreadPoolExecutor

    _, _, want = _expected_scores(hub)
    timed = TimedHub(hub)
    sample = {u: "blank" if i % 2 == 0 else "reference" for i, u in enumerate(LOAD)}
    form = {"course_id": COURSE, "assignment_id": A}
    t0 = time.monotonic()

    def learner(u: str) -> dict:
        got = {"login": time.monotonic()}
        t = time.monotonic()
        hub.token(u)                                                  # PAM login: POST /hub/api/users/<u>/tokens
        timed.logins.append(time.monotonic() - t)
        r = timed.call(u, "POST", f"/hub/api/users/{u}/server")
        assert r.status_code in (201, 202), r.text
        while not timed.call(u, "GET", f"/hub/api/users/{u}").json()["servers"].get("", {}).get("ready"):
            assert time.monotonic() - t0 < 300, f"{u}'s server not ready in 300 s"
            time.sleep(0.5)
        got["ready"], got["rss"] = time.monotonic(), _rss_mb(u)      # the server alone: no kernel runs
        assert timed.call(u, "POST", f"/user/{u}/assignments/fetch", data=form).json()["success"]
        if sample[u] == "reference":                                  # "blank": the release as fetched
            nb = json.loads((SAMPLES / "reference" / f"{A}.ipynb").read_text())
            r = timed.call(u, "PUT", f"/user/{u}/api/contents/{COURSE}/{A}/{A}.ipynb",
                           json={"type": "notebook", "format": "json", "content": nb})
            assert r.status_code in (200, 201), r.text
        r = timed.call(u, "POST", f"/user/{u}/assignments/submit", data=form).json()
        assert r["success"], r
        got["submitted"] = time.monotonic()
        while True:                         # the Assignment List says feedback is there: the score is visible
            listed = timed.call(u, "GET", f"/user/{u}/assignments", params={"course_id": COURSE}).json()["value"]
            subs = [s for a in listed if a["status"] == "submitted" for s in a["submissions"]]
            if subs and subs[-1].get("has_exchange_feedback"):
                break
            assert time.monotonic() - got["submitted"] < 600, f"{u}: no feedback 600 s after submitting"
            time.sleep(2)
        got["score_visible"] = time.monotonic()
        assert timed.call(u, "POST", f"/user/{u}/assignments/fetch_feedback", data=form).json()["success"]
        [html] = Path(f"/home/{u}/{COURSE}/{A}/feedback").rglob("*.html")
        score = re.search(r"<h1>[^<]*: (?:autograded )?([\d.]+)/", html.read_text())     # "0/13" for a blank
        assert score, html.read_text()[:500]
        got["score"] = float(score[1])
        return got

    with ThreadPoolExecutor(len(LOAD)) as pool:
        got = dict(zip(LOAD, pool.map(learner, LOAD)))
    graded = _records(hub, LOAD)
    starts = [g["ready"] - g["login"] for g in got.values()]
    to_score = [g["score_visible"] - g["submitted"] for g in got.values()]
    print(f"\nload: {len(LOAD)} learners; all servers ready {max(g['ready'] for g in got.values()) - t0:.1f} s after "
          f"the first login (each: median {_pct(starts, .5):.1f} s), all submitted by "
          f"{max(g['submitted'] for g in got.values()) - t0:.1f} s\n"
          f"load: hub API {len(timed.api) + len(timed.logins)} calls, p50 {_pct(timed.api + timed.logins, .5) * 1000:.0f}"
          f" ms, p95 {_pct(timed.api + timed.logins, .95) * 1000:.0f} ms, max {max(timed.api + timed.logins) * 1000:.0f}"
          f" ms (PAM logins alone: p50 {_pct(timed.logins, .5) * 1000:.0f} ms, max {max(timed.logins) * 1000:.0f} ms; "
          f"the rest: p95 {_pct(timed.api, .95) * 1000:.0f} ms); learners' servers (nbgrader) {len(timed.server)} "
          f"calls, p95 {_pct(timed.server, .95) * 1000:.0f} ms\n"
          f"load: submit to score visible (grading on submit, polled every 15 s): median {_pct(to_score, .5):.1f} s, "
          f"p95 {_pct(to_score, .95):.1f} s, max {max(to_score):.1f} s\n"
          f"load: a learner's server {_pct([g['rss'] for g in got.values()], .5):.0f} MB RSS (median; max "
          f"{max(g['rss'] for g in got.values()):.0f} MB)\n"
          f"load: autograde rounds {sorted(set(r['at'] for r in graded))}")
    assert {u: g["score"] for u, g in got.items()} == {u: want[sample[u]] for u in LOAD}       # each sees theirs
    assert {u: len(v) for u, v in hub_course.inbound(hub.state, A).items() if u in LOAD} == dict.fromkeys(LOAD, 1)
    assert sorted((r["learner"], r["status"], r.get("score")) for r in graded) == \
        sorted((u, "graded", want[sample[u]]) for u in LOAD)                    # each graded once, none lost
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{hub.state.course / 'gradebook.db'}") as gb:
        assert {s.student.id: s.score for s in gb.find_assignment(A).submissions if s.student.id in LOAD} == \
            {u: want[sample[u]] for u in LOAD}


CHROMIUM = os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium")      # as tests/test_lab_browser.py
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                  "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage"]


def test_in_the_browser_a_learner_sees_the_submission_and_the_instructor_the_formgrader(hub):
    """After the restart: the hub's login form (PAM), the server spawned, nbgrader's Assignment List in JupyterLab;
    the instructor's login leads to the formgrader service: a0_warmup released, both learners' scores."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (bash ci/browser-deps.sh)")
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(120_000)
            page.goto(f"{hub.url}/hub/login")
            page.fill("#username_input", L1)
            page.fill("#password_input", "not-the-password")
            page.click("#login_submit")
            expect(page.locator(".login_error, #login_error, .alert-danger").first).to_contain_text("Invalid")
            page.fill("#username_input", L1)
            page.fill("#password_input", hub.passwords[L1])
            page.click("#login_submit")
            page.wait_for_url(f"**/user/{L1}/lab**")
            page.wait_for_selector("#jp-main-dock-panel")
            page.locator("#jp-menu-panel .lm-MenuBar-itemLabel", has_text="Nbgrader").click()
            labels = [t.strip() for t in page.get_by_role("menu").get_by_role("menuitem").all_inner_texts()]
            assert "Assignment List" in labels and "Formgrader" not in labels, labels
            page.locator(".lm-Menu-itemLabel", has_text="Assignment List").click()
            submitted = page.locator("#submitted_assignments_list > .list_item")
            expect(submitted.first).to_contain_text(A)
            page.screenshot(path=str(Path(hub.state.root) / "assignment_list.png"))
            # the instructor, in a browser of their own, straight to the formgrader (no server of theirs spawned)
            fg = f"/services/{COURSE}/formgrader"
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.set_default_timeout(120_000)
            page.goto(f"{hub.url}/hub/login?next={fg}/manage_assignments")
            page.fill("#username_input", INSTRUCTOR)
            page.fill("#password_input", hub.passwords[INSTRUCTOR])
            page.click("#login_submit")
            page.wait_for_url(f"**{fg}/manage_assignments")
            row = page.locator("#main-table tr", has_text=A)
            expect(row).to_contain_text("released")
            row.locator(f"a[href$='{fg}/manage_submissions/{A}']").click()       # the number of submissions
            page.wait_for_url(f"**{fg}/manage_submissions/{A}")
            expect(page.locator("#main-table tr", has_text=L1)).to_contain_text("12 / 13")
            # L2's third submission, held at the daily limit, was collected with the load test's batch: it waits
            expect(page.locator("#main-table tr", has_text=L2)).to_contain_text("needs autograding")
            page.screenshot(path=str(Path(hub.state.root) / "formgrader.png"))
        finally:
            browser.close()


def test_a_malformed_roster_line_is_named_and_nothing_is_set_up(tmp_path):
    roster = tmp_path / "roster.csv"
    ok = f"ok{TAG}"
    roster.write_text(f"username,role,name\n{ok},instructor,Ada\nbo{TAG},student,Bo\n")
    out = subprocess.run([sys.executable, "-m", "course_lib.cli.main", "hub", "setup", "--roster", str(roster),
                          "--state", str(tmp_path / "state")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and f"{roster}, line 3" in out.stderr and "nothing was changed" in out.stderr, out
    assert not (tmp_path / "state").exists()
    assert subprocess.run(["id", ok], capture_output=True).returncode != 0      # line 2 was fine: still no account
    st = subprocess.run([sys.executable, "-m", "course_lib.cli.main", "hub", "status", "--state", str(tmp_path)],
                        capture_output=True, text=True, timeout=120)
    assert st.returncode == 2 and "not a course hub's state folder" in st.stderr and "course hub setup" in st.stderr
