"""The pinned stack: environment.yml agrees with the lock; the installed venv is the lock."""
import importlib.metadata as md

import yaml

from course_lib.paths import repo_root


def pins(path):
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            k, v = line.split("==")
            out[k.strip().lower().replace("_", "-")] = v.strip()
    return out


def test_environment_yml_matches_the_lock():
    env = yaml.safe_load((repo_root() / "environment.yml").read_text())
    deps = env["dependencies"]
    assert "python=3.11" in deps
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict))
    conda_pins = {k.lower().replace("_", "-"): v for k, v in (p.split("==") for p in pip_section)}
    assert conda_pins == pins(repo_root() / "requirements" / "lock.txt")


def test_installed_versions_are_the_locked_ones():
    locked = pins(repo_root() / "requirements" / "lock.txt") | pins(repo_root() / "requirements" / "nodeps.txt")
    wrong = {k: (v, md.version(k)) for k, v in locked.items() if md.version(k) != v}
    assert not wrong, f"installed differs from the lock: {wrong}"


def test_constraints_agree_with_the_lock():
    locked = pins(repo_root() / "requirements" / "lock.txt") | pins(repo_root() / "requirements" / "nodeps.txt")
    for k, v in pins(repo_root() / "requirements" / "constraints.txt").items():
        assert locked[k] == v, k
