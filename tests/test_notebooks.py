"""The papermill runner on tiny real notebooks: pass, fail at a cell, hang past the limit."""
import json
import os
from dataclasses import replace

import nbformat
import pytest

from course_lib.course.notebooks import execute_one, write_report
from course_lib.course.profiles import load_profile

from factories import make_notebook


@pytest.fixture
def profile(tmp_path):
    p = tmp_path / "t.yaml"
    p.write_text("offline: true\ntimeout: 60\ncell_timeout: 60\nnotebooks:\n  ok: {x: 21}\n")
    return load_profile(str(p))


def test_parameters_are_injected_and_outputs_kept(tmp_path, profile):
    nb = make_notebook(tmp_path / "src" / "ok.ipynb", "import os\nprint('x2 =', x * 2, os.environ['COURSE_OFFLINE'])",
                       "import matplotlib.pyplot as plt\nplt.plot([1, 2]); plt.show()")
    r = execute_one(nb, profile, tmp_path / "out")
    assert r.status == "ok", r.error
    out = nbformat.read(r.executed, as_version=4)
    printed = "".join(o.get("text", "") for c in out.cells for o in c.get("outputs", []))
    assert "x2 = 42 1" in printed
    assert os.path.isfile(r.html) and len(r.figures) == 1


def test_failing_cell_is_named(tmp_path, profile):
    # "ok" gets parameters from the profile, so papermill inserts a cell; the index is still the source's
    nb = make_notebook(tmp_path / "src" / "ok.ipynb", "a = 1", "raise ValueError('corrupt image x.jpg')", "b = 2")
    r = execute_one(nb, profile, tmp_path / "out")
    assert r.status == "failed"
    assert r.cell_index == 2 and r.failing_cell == 4   # In[4]: parameters, injected, a = 1, raise
    assert "ValueError: corrupt image x.jpg" in r.error
    assert r.failure["kind"] == "cell-error" and r.failure["cell_index"] == 2
    assert (r.failure["ename"], r.failure["evalue"]) == ("ValueError", "corrupt image x.jpg")
    assert r.failure["returncode"] == 1


def test_a_dead_kernel_is_a_field_not_a_message(tmp_path, profile):
    nb = make_notebook(tmp_path / "src" / "ok.ipynb", "a = 1", "import os\nos._exit(3)", "b = 2")
    r = execute_one(nb, profile, tmp_path / "out")
    assert r.status == "failed"
    assert r.failure["kind"] == "kernel-died" and r.failure["ename"] == "DeadKernelError"
    assert r.failure["returncode"] == 1


def test_hanging_notebook_is_killed_with_its_kernel(tmp_path, profile):
    nb = make_notebook(tmp_path / "src" / "hang.ipynb", "import os\nopen('kernel.pid', 'w').write(str(os.getpid()))",
                       "import time\ntime.sleep(600)")
    r = execute_one(nb, replace(profile, timeout=15), tmp_path / "out")
    assert r.status == "timeout" and "15 s" in r.error
    assert r.cell_index == 2
    pid = int((tmp_path / "out" / "work" / "hang" / "kernel.pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_report_lists_every_notebook(tmp_path, profile):
    ok = execute_one(make_notebook(tmp_path / "src" / "ok.ipynb", "print(x)"), profile, tmp_path / "out")
    bad = execute_one(make_notebook(tmp_path / "src" / "b.ipynb", "1/0"), profile, tmp_path / "out")
    js, md = write_report([ok, bad], tmp_path / "out", profile)
    data = json.loads(js.read_text())
    assert (data["passed"], data["failed"]) == (1, 1)
    assert "ZeroDivisionError" in md.read_text() and "| ok |" in md.read_text()
