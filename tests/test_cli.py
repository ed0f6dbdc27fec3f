"""The `course` command: exit codes and messages (real subprocesses)."""
import os
import subprocess
import sys

from course_lib.paths import repo_root


def course(*args, **env):
    return subprocess.run([sys.executable, "-m", "course_lib.cli.main", *args], cwd=repo_root(),
                          env=dict(os.environ, **env), capture_output=True, text=True, timeout=600)


def test_doctor_passes_here():
    p = course("doctor")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "import Model Maker" in p.stdout and "edgetpu_compiler" in p.stdout


def test_unknown_resource_exits_2_with_the_fix():
    p = course("data", "info", "imagenet")
    assert p.returncode == 2 and "course data list" in p.stderr


def test_unknown_profile_exits_2():
    p = course("notebooks", "--profile", "smok")
    assert p.returncode == 2 and "Known profiles" in p.stderr


def test_malformed_profile_file_exits_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("notebooks: [\n")
    p = course("notebooks", "--profile", str(bad))
    assert p.returncode == 2 and "bad.yaml" in p.stderr


def test_no_matching_notebook_exits_2():
    p = course("notebooks", "zz_no_such_notebook")
    assert p.returncode == 2 and "No notebook matches" in p.stderr


def test_data_list_shows_licences():
    p = course("data", "list")
    assert p.returncode == 0 and "neon-treecrowns" in p.stdout and "MIT" in p.stdout
