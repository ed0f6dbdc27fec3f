"""Unix accounts for the course: one per roster member (PAM logs them in) and the grader account.

Accounts are made with ``useradd`` and given a random initial password (``chpasswd``) that is written, with
the username, to the state folder's ``passwords.csv`` (mode 0600, root only) for the instructor to hand out.
An account that already exists keeps its password and files. Every home folder is made private (0700):
learners cannot read each other's work.
"""
from __future__ import annotations

import csv
import io
import os
import pwd
import secrets
import subprocess
from pathlib import Path

from ..exceptions import HubError

__all__ = ["chown_tree", "ensure_account", "ensure_grader", "make_accounts", "new_password", "run_as", "user_exists"]

FIRST_USER_UID = 1000            # below: system accounts, never taken over by a roster line
WORDS = "abcdefghjkmnpqrstuvwxyz23456789"       # no 0/O, 1/l/i: read aloud or copied from paper


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def new_password(n: int = 4) -> str:
    """A random password like ``k7dq-x2mf-9rht-bc4w`` (80 bits)."""
    return "-".join("".join(secrets.choice(WORDS) for _ in range(4)) for _ in range(n))


def _run(cmd: list[str], stdin: str | None = None) -> None:
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True)
    if proc.returncode != 0:
        raise HubError(f"`{cmd[0]}` failed (exit {proc.returncode}): "
                       f"{proc.stderr.strip()}", "Check that this machine manages its accounts in /etc/passwd "
                       "(useradd, chpasswd) and run `course hub setup` again; accounts made so far are kept.")


def ensure_account(name: str, comment: str = "") -> str | None:
    """Create ``name`` with a private home and a new password, which is returned; None if it already existed."""
    if user_exists(name):
        uid = pwd.getpwnam(name).pw_uid
        if uid < FIRST_USER_UID:
            raise HubError(f"the roster names {name!r}, a system account of this machine (uid {uid})",
                           "Give that member another username in the roster; nothing was changed for them.")
        return None
    _run(["useradd", "--create-home", "--shell", "/bin/bash", "--comment", comment.replace(":", " "), name])
    os.chmod(pwd.getpwnam(name).pw_dir, 0o700)
    password = new_password()
    _run(["chpasswd"], stdin=f"{name}:{password}\n")
    return password


def ensure_grader(name: str, home: Path) -> None:
    """The grader account: no password (no login), home ``home``; the formgrader and nbgrader run as it."""
    if not user_exists(name):
        _run(["useradd", "--system", "--create-home", "--home-dir", str(home), "--shell", "/usr/sbin/nologin",
              "--comment", "course hub grader", name])
    home.mkdir(parents=True, exist_ok=True)
    u = pwd.getpwnam(name)
    os.chown(home, u.pw_uid, u.pw_gid)
    home.chmod(0o700)


def make_accounts(members, passwords_file: Path) -> dict[str, str]:
    """An account for every roster member; new passwords appended to ``passwords_file`` (0600). Returns them."""
    made = {}
    for m in members:
        password = ensure_account(m.username, m.name)
        if password:
            made[m.username] = password
    if made:
        new = not passwords_file.exists()
        fd = os.open(passwords_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(fd, 0o600)
        buf = io.StringIO()
        w = csv.writer(buf)
        if new:
            w.writerow(["username", "initial_password"])
        w.writerows(made.items())
        with os.fdopen(fd, "w") as f:
            f.write(buf.getvalue())
    return made


def run_as(user: str, cmd: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 1800
           ) -> subprocess.CompletedProcess:
    """``cmd`` as Unix account ``user`` (``runuser``, as root), with exactly ``env`` (HOME and USER set)."""
    u = pwd.getpwnam(user)
    env = {**env, "HOME": u.pw_dir, "USER": user, "LOGNAME": user}
    full = ["runuser", "-u", user, "--", "env", "-i", *(f"{k}={v}" for k, v in env.items()), *cmd]
    return subprocess.run(full, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def chown_tree(path: Path, user: str) -> None:
    """Give ``path`` and everything under it to ``user`` (and their group)."""
    subprocess.run(["chown", "-R", f"{user}:{pwd.getpwnam(user).pw_gid}", str(path)], check=True)
