"""The quiet terminal: progress on the terminal, library noise (stderr, logging, warnings, child processes) in a log."""
from __future__ import annotations

import subprocess
import sys
import textwrap


def test_library_noise_goes_to_the_named_log(tmp_path):
    code = textwrap.dedent("""
        import logging, subprocess, sys, warnings
        from course_lib.cli.terminal import quiet_terminal
        with quiet_terminal("t") as term:
            term.say("progress 1/1")
            print("noise on stderr", file=sys.stderr)
            logging.getLogger("distributed.scheduler").info("State start")
            warnings.warn("a library warning")
            subprocess.run([sys.executable, "-c", "import sys; print('child noise', file=sys.stderr)"])
        print("after", file=sys.stderr)
    """)
    env = {"PATH": "/usr/bin:/bin", "COURSE_BUILD": str(tmp_path), "HOME": str(tmp_path)}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    logs = list((tmp_path / "logs").glob("t-*.log"))
    assert len(logs) == 1
    text = logs[0].read_text()
    for noise in ("noise on stderr", "State start", "a library warning", "child noise"):
        assert noise in text and noise not in p.stdout + p.stderr
    assert "progress 1/1" in p.stdout and str(logs[0]) in p.stdout
    assert p.stderr.strip() == "after"
