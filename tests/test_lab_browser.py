"""``course lab`` in a real browser: headless Debian Chromium driven by Playwright.

A learner's JupyterLab runs 00_setup.ipynb through the venv's kernel, renders a lesson, and uses
nbgrader's Assignment List to fetch and validate a0_warmup released into a temporary exchange; an
instructor's JupyterLab opens the Formgrader and lists the course's assignments. Everything runs on a
copy of the course in a temporary folder (the repo's gradebook and build/ are not touched), on
loopback with a token. Screenshots go to ``build/lab-browser/``.

Chromium comes from Debian (``ci/browser-deps.sh``, run by ``ci/test.sh`` as root). Without it the
module is skipped with the reason, except as root, where it must have been installed: it fails.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from course_lib.resources import registry
from course_lib.exceptions import EnvironmentProblem
from course_lib.grading import assignments
from course_lib.course.lab import LabServer, start_lab
from course_lib.paths import build_dir, repo_root

CHROMIUM = os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                  "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage"]
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:                                                   # pragma: no cover
    sync_playwright = None

if sync_playwright is None or not Path(CHROMIUM).exists():
    missing = "playwright (bash ci/setup.sh)" if sync_playwright is None else f"Chromium at {CHROMIUM}"
    reason = (f"browser tests need {missing}: run `bash ci/browser-deps.sh` as root, or "
              "`sudo apt-get install chromium chromium-driver` (or set COURSE_CHROMIUM=/path/to/chromium)")
    if IS_ROOT:
        pytest.fail(f"running as root (CI) but {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)

ASSIGNMENT = "a0_warmup"
SHOTS = build_dir() / "lab-browser"
SETUP_TIMEOUT_MS = int(os.environ.get("COURSE_LAB_SETUP_TIMEOUT_S", 240)) * 1000          # 00_setup.ipynb takes 60-90 s here (doctor checks, a model)
VALIDATE_TIMEOUT_MS = 120_000


def _course_copy(dest: Path) -> Path:
    """The parts of the course JupyterLab serves, copied (the repo's assignments/gradebook stays untouched)."""
    root = repo_root()
    for d in ("notebooks", "datasets", "ci"):
        shutil.copytree(root / d, dest / d)
    shutil.copytree(root / "assignments" / "source", dest / "assignments" / "source")
    shutil.copy(root / "nbgrader_config.py", dest / "nbgrader_config.py")
    return dest


def _nbgrader(course: Path, *args: str) -> None:
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"nbgrader {' '.join(args)}:\n{proc.stderr[-3000:]}"


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> dict[str, Path]:
    """A course copy, an exchange with a0_warmup released into it (real nbgrader), a learner folder."""
    base = tmp_path_factory.mktemp("lab")
    root = _course_copy(base / "course")
    exchange = base / "exchange"
    exchange.mkdir()
    exchange.chmod(0o777)
    _nbgrader(root, "db", "assignment", "add", ASSIGNMENT)
    _nbgrader(root, "generate_assignment", ASSIGNMENT, "--force")
    _nbgrader(root, "release_assignment", ASSIGNMENT, "--force", f"--Exchange.root={exchange}")
    SHOTS.mkdir(parents=True, exist_ok=True)
    return {"root": root, "exchange": exchange, "work": root / "my-assignments", "state": base / "state"}


def _server(course, instructor: bool) -> LabServer:
    role = "instructor" if instructor else "learner"
    return start_lab(instructor, port=0, root=course["root"], exchange=course["exchange"],
                     assignments_dir=course["work"], state_dir=course["state"] / role,
                     extra_env={"COURSE_OFFLINE": "1",     # the user's own Lab layout and settings stay out
                                "JUPYTERLAB_WORKSPACES_DIR": str(course["state"] / role / "workspaces"),
                                "JUPYTERLAB_SETTINGS_DIR": str(course["state"] / role / "settings")})


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def learner(course):
    server = _server(course, instructor=False)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def instructor(course):
    server = _server(course, instructor=True)
    yield server
    server.stop()


def _open(browser, server: LabServer, path: str = ""):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    page.goto(f"{server.base}/lab{'/tree/' + path if path else ''}?token={server.token}")
    page.wait_for_selector("#jp-main-dock-panel")
    return page


def _menu(page, menu: str, item: str) -> None:
    page.locator("#jp-menu-panel .lm-MenuBar-itemLabel", has_text=menu).click()
    page.locator(".lm-Menu-itemLabel", has_text=item).first.click()


def _notebook(path: Path) -> dict:
    return json.loads(path.read_text())


def test_setup_notebook_runs_all_cells_in_the_browser_on_the_venv_kernel(browser, learner):
    page = _open(browser, learner, "notebooks/00_setup.ipynb")
    nb = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    # the kernel has started and is connected (status bar: "Python 3 (ipykernel) | Idle")
    expect(page.locator("#jp-main-statusbar", has_text="Idle")).to_have_count(1, timeout=90_000)
    _menu(page, "Run", "Run All Cells")
    expect(nb.locator(".jp-CodeCell .jp-InputPrompt", has_text="[*]").first).to_be_visible(timeout=30_000)
    # the last cell loads the (offline stand-in) feature-vector model: its output ends the notebook
    try:
        expect(nb.locator(".jp-OutputArea-output", has_text="feature vector shape: (1, 1280)")).to_have_count(
            1, timeout=SETUP_TIMEOUT_MS)
    except AssertionError:
        page.screenshot(path=str(SHOTS / "00_setup_FAILED.png"), full_page=True)
        raise AssertionError(
            "00_setup.ipynb did not finish; outputs:\n"
            + "\n".join(nb.locator(".jp-OutputArea-output").all_inner_texts())[-3000:]
            + f"\nresources being fetched now (registry.busy()): {registry.busy()}"
            + "\nserver log:\n" + learner.log.read_text(errors="replace")[-2000:]) from None
    expect(nb.locator(".jp-OutputArea-output", has_text="All required checks passed.")).to_have_count(1)
    assert nb.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                      has_text="Traceback").count() == 0
    code_cells = sum(c["cell_type"] == "code" for c in _notebook(learner.root / "notebooks/00_setup.ipynb")["cells"])
    expect(nb.locator(".jp-CodeCell .jp-InputPrompt", has_text="[")).to_have_count(code_cells)
    # the last output can arrive just before its cell's prompt turns from [*] to [n]: wait for it
    expect(nb.locator(".jp-CodeCell .jp-InputPrompt", has_text="[*]")).to_have_count(0, timeout=30_000)
    # the kernel is this venv's interpreter: ask it, in a cell added at the end
    nb.locator(".jp-Cell").last.click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    page.keyboard.press("Enter")
    page.keyboard.type("import sys; print('kernel prefix:', sys.prefix)")
    page.keyboard.press("Shift+Enter")
    expect(nb.locator(".jp-OutputArea-output", has_text=f"kernel prefix: {sys.prefix}")).to_have_count(1)
    page.screenshot(path=str(SHOTS / "00_setup_ran.png"), full_page=True)
    page.close()


def test_lesson_notebook_renders(browser, learner):
    path = "notebooks/01_hub_transfer_learning.ipynb"
    cells = _notebook(learner.root / path)["cells"]
    title = next(line[2:].strip() for c in cells if c["cell_type"] == "markdown"
                 for line in "".join(c["source"]).splitlines() if line.startswith("# "))
    page = _open(browser, learner, path)
    nb = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    expect(nb.locator(".jp-MarkdownOutput h1").first).to_contain_text(title)
    expect(nb.locator(".jp-Cell")).to_have_count(len(cells))
    expect(nb.locator(".jp-CodeCell")).to_have_count(sum(c["cell_type"] == "code" for c in cells))
    expect(page.locator("#jp-main-statusbar", has_text="Idle")).to_have_count(1, timeout=90_000)   # kernel up
    page.screenshot(path=str(SHOTS / "lesson_01.png"))
    page.close()


def test_learner_fetches_and_validates_the_released_assignment(browser, learner, course):
    page = _open(browser, learner)
    page.locator("#jp-menu-panel .lm-MenuBar-itemLabel", has_text="Nbgrader").click()
    items = page.get_by_role("menu").get_by_role("menuitem")
    expect(items.first).to_be_visible()
    labels = [t.strip() for t in items.all_inner_texts()]
    assert "Assignment List" in labels and "Formgrader" not in labels, labels      # learners don't grade
    page.locator(".lm-Menu-itemLabel", has_text="Assignment List").click()

    released = page.locator("#released_assignments_list > .list_item")
    expect(released).to_have_count(1)
    expect(released.first.locator(".item_name")).to_have_text(ASSIGNMENT)
    expect(released.first.locator(".item_course")).to_have_text("tf-on-device")
    released.first.locator(".item_status button", has_text="Fetch").click()

    fetched = page.locator("#fetched_assignments_list > .list_item")
    expect(fetched).to_have_count(1)
    nb_file = course["work"] / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    assert nb_file.is_file(), list(course["work"].rglob("*"))
    page.locator("#fetched_assignments_list a.assignment-notebooks-link", has_text=ASSIGNMENT).click()
    validate = page.locator("#fetched_assignments_list .collapse.in button", has_text="Validate")
    expect(validate).to_have_count(1)

    # the untouched release: the stubs raise NotImplementedError, validation says so
    validate.click()
    error = page.locator(".nbgrader-ErrorDialog")
    expect(error).to_be_visible(timeout=VALIDATE_TIMEOUT_MS)
    expect(error).to_contain_text("NotImplementedError")
    page.screenshot(path=str(SHOTS / "assignment_validate_blank.png"))
    error.locator("button", has_text="Ok").click()

    # the reference answers (a sample made from this release): validation passes
    shutil.copy(repo_root() / "assignments" / "samples" / ASSIGNMENT / "reference" / f"{ASSIGNMENT}.ipynb", nb_file)
    validate.click()
    success = page.locator(".nbgrader-SuccessDialog")
    expect(success).to_be_visible(timeout=VALIDATE_TIMEOUT_MS)
    expect(success).to_contain_text("Success! Your notebook passes all the tests.")
    page.screenshot(path=str(SHOTS / "assignment_validate_reference.png"))
    page.close()


def test_instructor_sees_the_course_assignments_in_the_formgrader(browser, instructor):
    page = _open(browser, instructor)
    _menu(page, "Nbgrader", "Formgrader")
    frame = page.frame_locator("#jp-main-dock-panel iframe")
    expect(frame.locator("h1", has_text="Manage Assignments")).to_be_visible()
    rows = frame.locator("table tbody tr")
    expected = assignments(instructor.root)                   # assignments/source/* of the course
    assert len(expected) >= 1
    for a in expected:
        expect(rows.filter(has=frame.locator("td", has_text=a))).to_have_count(1, timeout=30_000)
    # a0_warmup was released into the exchange this server is configured with; the others are drafts
    expect(rows.filter(has_text=ASSIGNMENT).locator(".label")).to_have_text("released")
    for a in set(expected) - {ASSIGNMENT}:
        expect(rows.filter(has_text=a).locator(".label")).to_have_text("draft")
    page.screenshot(path=str(SHOTS / "formgrader.png"))
    page.close()


def test_port_in_use_is_refused_and_stop_shuts_kernels_down(course):
    import psutil

    server = _server(course, instructor=False)
    try:
        with pytest.raises(EnvironmentProblem, match=rf"Port {server.port} on 127.0.0.1 is already in use.*--port"):
            start_lab(False, port=server.port, root=course["root"], exchange=course["exchange"],
                      assignments_dir=course["work"], state_dir=course["state"] / "second")
        env = dict(os.environ, COURSE_ROOT=str(course["root"]), COURSE_BUILD=str(course["root"] / "build"))
        cli = subprocess.run([sys.executable, "-m", "course_lib.cli.main", "lab", "--port", str(server.port),
                              "--no-browser"], env=env, capture_output=True, text=True, timeout=120)
        assert cli.returncode == 2 and f"Port {server.port} on 127.0.0.1 is already in use" in cli.stderr, cli
        req = urllib.request.Request(f"{server.base}/api/kernels?token={server.token}", method="POST",
                                     data=b'{"name": "python3"}', headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 201
        children = psutil.Process(server.process.pid).children(recursive=True)
        assert any("ipykernel_launcher" in " ".join(c.cmdline()) for c in children)
    finally:
        code = server.stop()
    assert code == 0, server.log.read_text()[-2000:]
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, alive
    assert "Shutting down 1 kernel" in server.log.read_text()
