"""The grading sandbox against real hostile submissions: real a0 notebooks, real nbgrader, a real 2-worker batch.

Each hostile submission is the a0 reference answer with extra code in an answer cell that tries to escape
(write the kit or the venv, unmount what hides withheld data or remount the kit, read withheld data or the
gradebook by open(), a subprocess and ctypes, reach the host's loopback, fork without end, outlive the kernel,
follow a symlink). Every attempt prints ``GOT:`` when
it succeeds and ``NO:`` when refused; the batch must give full points (the attempts are harmless), no
``GOT:``, the attempts in the findings, the gradebook and the kit unchanged, and no process left over.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import psutil
import pytest

from course_lib import grading
from course_lib.grading.engine import Limits, grade_assignment, sandbox_status
from course_lib.grading.engine.sandbox import View, run_confined
from course_lib.paths import cache_dir

ROOT = Path(__file__).resolve().parents[1]
A = "a0_warmup"
SAMPLES = ROOT / "assignments" / "samples" / A
LIMITS = Limits(cell_timeout=60, notebook_timeout=300, memory_mb=4000, cpu_seconds=600, max_processes=400)
MARK = f"sbxtest{uuid.uuid4().hex[:8]}"          # names the processes the submissions leave behind
SLEEP = f"300.{uuid.uuid4().int % 10 ** 6:06d}1"   # the fork bomb's children: sleep SLEEP

pytestmark = pytest.mark.skipif(sandbox_status().startswith("none"), reason=sandbox_status())

TRY = '''
def _try(label, fn):
    try:
        r = fn()
        print(f"GOT: {label}: {str(r)[:60]!r}")
    except Exception as e:
        print(f"NO: {label}: {type(e).__name__}")
'''


def _nb_with(code: str) -> dict:
    nb = json.loads((SAMPLES / "reference" / f"{A}.ipynb").read_text())
    cell = next(c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "make_tensor")
    cell["source"] = TRY + code + "\n" + "".join(cell["source"])
    return nb


def _site() -> Path:
    import numpy

    return Path(numpy.__file__).resolve().parents[1]


def _ctypes_read(path: str) -> str:
    return (f"__import__('ctypes').CDLL(None).open({path.encode()!r}, 0) >= 0 "
            f"or (_ for _ in ()).throw(OSError('ctypes open failed'))")


def _hostile(course: Path, canary: Path, host_port: int) -> dict[str, str]:
    kit = ROOT / "course_lib" / "__init__.py"
    site = _site()
    other = course / "submitted" / "reference" / A / f"{A}.ipynb"
    worker_gb = "../../../gradebook.db"
    hidden = [str(canary / "secret.txt"), str(course / "gradebook.db"), str(course / "source" / A / f"{A}.ipynb"),
              str(ROOT / "assignments" / "source" / A / f"{A}.ipynb"), worker_gb]
    sp = "__import__('subprocess').run"           # as root: unmount what hides withheld data, remount the kit
    reads = (f"_try('umount {canary}', lambda: {sp}(['umount', {str(canary)!r}], check=True, capture_output=True))\n"
             f"_try('remount', lambda: {sp}(['mount', '-o', 'remount,rw,bind', {str(ROOT / 'course_lib')!r}], "
             "check=True, capture_output=True))\n")
    reads += "".join(
        f"_try('open {p}', lambda: open({p!r}, 'rb').read(40))\n"
        f"_try('cat {p}', lambda: {sp}(['cat', {p!r}], capture_output=True, check=True).stdout)\n"
        f"_try('ctypes {p}', lambda: {_ctypes_read(p)})\n" for p in hidden)
    writes = "".join(
        f"_try('append {p}', lambda: open({p!r}, 'a').write('#x'))\n"
        f"_try('sh {p}', lambda: __import__('subprocess').run(['sh', '-c', 'echo >> {p}'], check=True))\n"
        for p in [kit, site / "numpy" / "testing" / "__init__.py", site / "sitecustomize.py", site / "evil.pth",
                  Path(sys.base_prefix) / "lib" / "python3.11" / "usercustomize.py", other, course / "gradebook.db"])
    second = (f"import sqlite3; c = sqlite3.connect({str(course / 'gradebook.db')!r}); "
              "c.execute('update grade set auto_score = 99'); c.commit()")
    writes += (f"_try('python2 {course / 'gradebook.db'}', lambda: __import__('subprocess').run("
               f"[__import__('sys').executable, '-c', {second!r}], check=True))\n")
    net = (f"_try('host loopback', lambda: __import__('socket').create_connection(('127.0.0.1', {host_port}), 3))\n"
           "import socket as _s\n_srv = _s.socket(); _srv.bind(('127.0.0.1', 0)); _srv.listen(1)\n"
           "_c = _s.create_connection(_srv.getsockname(), 3); _a, _ = _srv.accept(); _c.sendall(b'hi')\n"
           "print('LOOPBACK:', _a.recv(2))\n")
    fork = ("import subprocess as _sp\n_kids = []\n"
            "for _i in range(2000):\n    try:\n"
            f"        _kids.append(_sp.Popen(['sleep', '{SLEEP}']))\n"
            "    except OSError as e:\n        break\n"
            "print('FORKED:', len(_kids))\n"
            "for _k in _kids:\n    _k.kill(); _k.wait()\n")
    outlive = ("import subprocess as _sp, sys as _sys\n"
               "_sp.Popen([_sys.executable, '-c', 'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
               f"time.sleep(600)  # {MARK}'], start_new_session=True, stdin=_sp.DEVNULL, stdout=_sp.DEVNULL, "
               "stderr=_sp.DEVNULL)\nprint('SPAWNED')\n")
    link = "_try('symlink', lambda: open('leak.txt').read())\n"
    return {"reads": reads, "writes": writes, "network": net, "forkbomb": fork, "outlive": outlive, "symlink": link}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    course = grading.prepare_course(tmp_path_factory.mktemp("sandbox") / "course")
    grading.release(course, A)
    canary = cache_dir() / f".sandbox-test-{MARK}"            # withheld data inside the resource cache
    canary.mkdir(parents=True)
    (canary / "secret.txt").write_text("the held-out labels")
    host = socket.socket()
    host.bind(("127.0.0.1", 0))
    host.listen(5)
    subs = {"reference": _nb_with(""), **{s: _nb_with(c) for s, c in
                                         _hostile(course, canary, host.getsockname()[1]).items()}}
    for s, nb in subs.items():
        d = course / "submitted" / s / A
        d.mkdir(parents=True)
        (d / f"{A}.ipynb").write_text(json.dumps(nb))
    (course / "submitted" / "symlink" / A / "leak.txt").symlink_to(canary / "secret.txt")
    watched = [ROOT / "course_lib" / "__init__.py", _site() / "numpy" / "testing" / "__init__.py",
               course / "submitted" / "reference" / A / f"{A}.ipynb"]
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in watched}
    try:
        report = grade_assignment(A, course, jobs=2, limits=LIMITS, deny=[str(canary)], progress=lambda m: None)
    finally:
        host.close()
        (canary / "secret.txt").unlink()
        canary.rmdir()
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in watched}
    left = [p.info["cmdline"] for p in psutil.process_iter(["cmdline"])
            if MARK in " ".join(p.info["cmdline"] or []) or SLEEP in " ".join(p.info["cmdline"] or [])]
    return course, {r.student: r for r in report.rows}, before, after, left, report


def _outputs(course: Path, student: str) -> str:
    """The printed output of ``student``'s graded notebook (as the writer stored it in the course)."""
    nb = json.loads((course / "autograded" / student / A / f"{A}.ipynb").read_text())
    return "".join(o.get("text", "") if isinstance(o.get("text"), str) else "".join(o.get("text", []))
                   for c in nb["cells"] for o in c.get("outputs", []))


def test_hostile_submissions_get_full_points_and_nothing_escapes(batch):
    course, rows, before, after, left, report = batch
    assert set(rows) == {"reference", "reads", "writes", "network", "forkbomb", "outlive", "symlink"}
    for s, r in rows.items():
        assert r.score == 12, (s, r.status, r.issues)
        out = _outputs(course, s)
        assert "GOT:" not in out, (s, [line for line in out.splitlines() if "GOT:" in line])
        assert r.isolation["sandbox"].startswith("bubblewrap"), r.isolation
    assert rows["reference"].status == "ok" and rows["reference"].findings == []
    phases = rows["reference"].phases                   # where its time went, as recorded in the sandbox
    assert {"setup", "nbgrader", "kernel_start", "cells", "kernel_shutdown", "exit"} <= set(phases), phases
    assert phases["kernel_start"] > 0 and phases["cells"] > 0
    assert sum(phases.values()) <= rows["reference"].seconds + 1
    assert _outputs(course, "reads").count("NO:") == 17 and _outputs(course, "writes").count("NO:") == 15
    assert "LOOPBACK: b'hi'" in _outputs(course, "network") and "NO: host loopback" in _outputs(course, "network")
    assert "SPAWNED" in _outputs(course, "outlive") and "NO: symlink: FileNotFoundError" in _outputs(course, "symlink")
    forked = int(_outputs(course, "forkbomb").split("FORKED:")[1].split()[0])
    assert forked < LIMITS.max_processes               # stopped by the process cap, not by the loop's end
    assert left == []                                  # nothing outlived its grading
    assert before == after                             # the kit, the venv and the other learner's work
    assert not (_site() / "sitecustomize.py").exists() and not (_site() / "evil.pth").exists()


def test_attempts_are_reported_and_the_gradebook_is_intact(batch):
    import sqlite3

    course, rows, *_ = batch
    found = {s: " ".join(f"{f.kind}: {f.detail}" for f in r.findings) for s, r in rows.items()}
    for what in ("open", "subprocess.Popen", "ctypes.dlsym open"):
        assert f"file-access: {what}" in found["reads"], (what, found["reads"])
    assert "secret.txt" in found["reads"] and "gradebook.db" in found["reads"] and f"{A}.ipynb" in found["reads"]
    assert "gradebook.db" in found["writes"]
    assert "special-file: leak.txt is a symbolic link" in found["symlink"]
    con = sqlite3.connect(course / "gradebook.db")
    assert con.execute("pragma integrity_check").fetchone()[0] == "ok"
    assert con.execute("select max(auto_score) from grade").fetchone()[0] <= 3
    assert all(r.status in ("ok", "tampered") for r in rows.values()), {s: r.status for s, r in rows.items()}


def test_sandbox_view_hides_the_machine_and_keeps_its_own_loopback(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "secret").write_text("not for the sandbox")
    probe = ("import os, socket\n"
             "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1); socket.create_connection(s.getsockname(), 3)\n"
             f"print('seen', [os.path.exists(p) for p in ({__file__!r}, {str(tmp_path / 'secret')!r})])\n"
             f"open({str(work / 'ok.txt')!r}, 'w').write('x')\n"
             "try:\n    open('/usr/evil', 'w')\nexcept OSError as e:\n    print('ro', e.errno)\n"
             "print('caps', [line.split()[1] for line in open('/proc/self/status') if line.startswith('CapEff')])\n"
             f"print('pid', os.getpid())")
    rc, out = run_confined([sys.executable, "-c", probe], cwd=str(work), env=dict(os.environ), limits=Limits(),
                           timeout=120, view=View(writable=[str(work)]))
    assert rc == 0, out
    assert "seen [False, False]" in out and "ro 30" in out and (work / "ok.txt").read_text() == "x"
    assert int(out.split("pid")[1].split()[0]) < 10      # its own PID namespace
    assert "caps ['0000000000000000']" in out            # no capabilities, even when the grader runs as root


def test_course_grade_refuses_without_a_sandbox_and_no_sandbox_marks_the_rows(tmp_path):
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}   # no bwrap on it
    out = subprocess.run([sys.executable, "-m", "course_lib.cli.main", "grade", A, "--course", str(tmp_path)],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and "bubblewrap" in out.stdout + out.stderr and "--no-sandbox" in out.stdout + out.stderr
    course = grading.prepare_course(tmp_path / "course")
    grading.release(course, A)
    d = course / "submitted" / "plain" / A
    d.mkdir(parents=True)
    (d / f"{A}.ipynb").write_text((SAMPLES / "reference" / f"{A}.ipynb").read_text())
    report = grade_assignment(A, course, jobs=1, limits=LIMITS, sandbox=False, progress=lambda m: None)
    assert report.rows[0].score == 12 and report.rows[0].isolation["sandbox"] == "graded without isolation"
    assert "graded without isolation" in report.isolation
    with open(report.csv) as f:
        assert [r["isolation"] for r in csv.DictReader(f)] == ["graded without isolation"]


def test_evaluator_sandbox_keeps_a_loading_savedmodel_from_host_files(tmp_path):
    """A SavedModel whose *loading* reads a file (a lookup table initialised from an asset that is a symbolic link
    to a host file): the graph check cannot see it (no file op in the serving function), so in-process the model
    reads the file and scores; the sandboxed evaluator does not see that file, and the model gets no points."""
    import io

    import numpy as np
    import tensorflow as tf

    from course_lib.grading.engine.quality import evaluate, grade_quality
    from course_lib.grading.result import GradedResult

    secret = tmp_path / "secret.txt"
    secret.write_text("a\nb\n")                   # the model predicts class 1 only if it has read this file
    (tmp_path / "vocab.txt").write_text("z\n")

    class Reader(tf.Module):
        def __init__(self, path: str):
            init = tf.lookup.TextFileInitializer(path, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE, tf.int64,
                                                 tf.lookup.TextFileIndex.LINE_NUMBER)
            self.table = tf.lookup.StaticHashTable(init, -1)

        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32)])
        def serve(self, x):
            k = tf.clip_by_value(self.table.lookup(tf.constant("b")), 0, 1)
            return {"p": tf.one_hot(tf.fill(tf.shape(x)[:1], k), 2) + 0.0 * x}

    graded = tmp_path / "graded"
    m = Reader(str(tmp_path / "vocab.txt"))
    tf.saved_model.save(m, str(graded / "model"), signatures={"serving_default": m.serve})
    asset = graded / "model" / "assets" / "vocab.txt"
    asset.unlink()
    asset.symlink_to(secret)
    data = io.BytesIO()
    np.savez(data, x=np.zeros((4, 2), "float32"), y=np.ones(4, int))
    (tmp_path / "data.npz").write_bytes(data.getvalue())
    assert evaluate("accuracy", graded / "model", tmp_path / "data.npz")["value"] == 1.0   # it does read the file

    spec = {"model": ["model"], "metric": "accuracy", "thresholds": {"t": 0.5}, "margin": 0.0, "source": "rerun",
            "hidden": data.getvalue()}
    task = {"quality": [spec], "grade_cells": {"t": {"max_score": 2}}, "sandbox": True}
    row = GradedResult("ada", "a1")
    grade_quality(task, graded, tmp_path / "eval", Limits(memory_mb=4000, notebook_timeout=300), row)
    assert row.scores()["t"] == (0.0, 2)
    assert [i.kind for i in row.issues] == ["model-unloadable"], row.issues
    assert row.quality[0]["value"] is None


PLANT = '''
import os, site
_startup = os.path.join(os.environ["IPYTHONDIR"], "profile_default", "startup")
_user = site.getusersitepackages()
_spec = os.path.join(os.environ["JUPYTER_DATA_DIR"], "kernels", "python3", "kernel.json")
_try("kernel spec", lambda: open(_spec, "a").write(" "))
_try("startup", lambda: (os.makedirs(_startup, exist_ok=True),
                         open(os.path.join(_startup, "00-plant.py"), "w").write("print('PLANTED startup')")))
_try("user site", lambda: (os.makedirs(_user, exist_ok=True),
                           open(os.path.join(_user, "usercustomize.py"), "w").write("print('PLANTED usersite')")))
_try("home", lambda: open(os.path.expanduser("~/.planted"), "w").write("x"))
'''
LOOK = '''
import os, site
print("SEEN", [os.path.exists(p) for p in (
    os.path.join(os.environ["IPYTHONDIR"], "profile_default", "startup", "00-plant.py"),
    os.path.join(site.getusersitepackages(), "usercustomize.py"), os.path.expanduser("~/.planted"))])
'''


def test_what_one_learner_leaves_behind_never_reaches_the_next(tmp_path):
    """One worker grades a submission that plants code where a later kernel would run it (an IPython startup
    file, a ``usercustomize`` in the user site, a file in HOME) and tries to change the kernel spec nbgrader
    starts kernels from; then, in the same grader process, another learner's: that one sees none of it."""
    course = grading.prepare_course(tmp_path / "course")
    grading.release(course, A)
    for s, code in (("a_planter", PLANT), ("b_next", LOOK)):     # graded in this order by the one worker
        d = course / "submitted" / s / A
        d.mkdir(parents=True)
        (d / f"{A}.ipynb").write_text(json.dumps(_nb_with(code)))
    report = grade_assignment(A, course, jobs=1, limits=LIMITS, progress=lambda m: None)
    rows = {r.student: r for r in report.rows}
    planter, after = _outputs(course, "a_planter"), _outputs(course, "b_next")
    assert "NO: kernel spec: OSError" in planter              # read-only in the kernel's sandbox
    assert "GOT: startup" in planter and "GOT: home" in planter   # its own folders: allowed, and emptied after
    assert "SEEN [False, False, False]" in after and "PLANTED" not in after
    assert rows["b_next"].score == 12 and rows["b_next"].status == "ok", rows["b_next"].issues
    assert rows["a_planter"].score == 12
