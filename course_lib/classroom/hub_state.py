"""The hub's state folder: everything ``course hub`` keeps between runs, in one place, and its settings.

    <state>/                      root, 0755 (learners' servers read jupyter/ and reach exchange/)
      hub.json                    the settings below (written by ``course hub setup``), 0600 as every file of
      roster.csv                  the roster the accounts were made from (a copy)      the hub's own here
      jupyterhub_config.py        three lines: JupyterHub's config is built by :mod:`.hub_config`
      jupyterhub.sqlite           the hub's database (users, groups, tokens)
      jupyterhub_cookie_secret    written by JupyterHub, 0600
      proxy_token, cli_token      the proxy's API token and the token `course hub` talks to the hub with, 0600
      passwords.csv               initial passwords of the accounts setup created, for the instructor, 0600
      hub.log, jupyterhub.pid, proxy.pid
      course/                     the nbgrader course (source/, release/, submitted/, gradebook.db...), the grader's, 0700
      grader-home/                the grader account's HOME
      exchange/                   nbgrader's exchange, 1777 (nbgrader sets the modes of what it makes inside)
      jupyter/{learner,instructor,grader}/   the Jupyter config each kind of server starts with (0755)
      python/                     where the kit's interpreter is private (e.g. under /root): a venv every user can run

Nothing in it is removed by ``course hub stop``/``start``: a restart finds users, submissions and grades.
"""
from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..exceptions import HubError

__all__ = ["HubSettings", "HubState", "DEFAULT_STATE", "write_private", "write_secret"]

DEFAULT_STATE = Path("/srv/tf-course-hub")


@dataclass
class HubSettings:
    """What the hub is configured with; ``course hub setup`` writes it, every other command reads it."""

    course_id: str
    grader: str                                   # the Unix account the formgrader and nbgrader's grading run as
    python: str                                   # the interpreter every user's server and kernel runs
    kit: str                                      # the course kit checkout (its assignments/source, grading.yaml)
    proxy: str = ""                               # configurable-http-proxy (found again at start if moved)
    ip: str = "127.0.0.1"                         # where the hub's public address listens
    port: int = 8000                              # the public port (the proxy)
    hub_port: int = 8081                          # the hub's own API, loopback only
    proxy_api_port: int = 8001                    # the proxy's REST API, loopback only
    formgrader_port: int = 9999                   # the formgrader service, loopback only
    instructors: list[str] = field(default_factory=list)
    tas: list[str] = field(default_factory=list)
    learners: list[str] = field(default_factory=list)
    autograde: dict[str, int] = field(default_factory=dict)   # grading on submit: assignment -> daily limit (0: none)
    late_penalty: str = "none"                    # nbgrader's LateSubmissionPlugin.penalty_method: none or zero

    @property
    def staff(self) -> list[str]:
        return self.instructors + self.tas

    @property
    def users(self) -> list[str]:
        return self.instructors + self.tas + self.learners

    @property
    def url(self) -> str:
        return f"http://{self.ip}:{self.port}"

    def ports(self) -> list[tuple[str, int, str, str]]:
        """(ip, port, what it is for, the setup option that changes it) of every port the hub listens on."""
        return [(self.ip, self.port, "the hub's public address", "--port"),
                ("127.0.0.1", self.hub_port, "the hub's API", "--hub-port"),
                ("127.0.0.1", self.proxy_api_port, "the proxy's API", "--proxy-api-port"),
                ("127.0.0.1", self.formgrader_port, "the formgrader service", "--formgrader-port")]


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by its owner only (created so: never readable by others meanwhile)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def write_secret(path: Path, value: str | None = None) -> str:
    """Write ``value`` (default: a new random token) to ``path``, readable by its owner only; keep an existing one."""
    if path.exists():
        return path.read_text().strip()
    value = value or secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value


@dataclass(frozen=True)
class HubState:
    """The paths of a state folder (see the module docstring)."""

    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root).resolve())

    settings_file = property(lambda self: self.root / "hub.json")
    roster = property(lambda self: self.root / "roster.csv")
    config_file = property(lambda self: self.root / "jupyterhub_config.py")
    db = property(lambda self: self.root / "jupyterhub.sqlite")
    cookie_secret = property(lambda self: self.root / "jupyterhub_cookie_secret")
    proxy_token = property(lambda self: self.root / "proxy_token")
    cli_token = property(lambda self: self.root / "cli_token")
    passwords = property(lambda self: self.root / "passwords.csv")
    log = property(lambda self: self.root / "hub.log")
    pid_file = property(lambda self: self.root / "jupyterhub.pid")
    proxy_pid_file = property(lambda self: self.root / "proxy.pid")
    course = property(lambda self: self.root / "course")
    grader_home = property(lambda self: self.root / "grader-home")
    exchange = property(lambda self: self.root / "exchange")
    runtime = property(lambda self: self.root / "python")

    def jupyter_config(self, role: str) -> Path:
        """The Jupyter config folder of a learner's, an instructor's (and TA's) or the grader's server."""
        return self.root / "jupyter" / role

    def settings(self) -> HubSettings:
        if not self.settings_file.is_file():
            raise HubError(f"{self.root} is not a course hub's state folder (no hub.json)",
                           "Set it up first: `course hub setup --roster ROSTER.csv"
                           + ("" if self.root == DEFAULT_STATE else f" --state {self.root}") + "`.")
        return HubSettings(**json.loads(self.settings_file.read_text()))

    def save(self, settings: HubSettings) -> None:
        write_private(self.settings_file, json.dumps(asdict(settings), indent=1) + "\n")

    def make_private(self) -> None:
        """The hub's own files readable by root only (JupyterHub and SQLite would make them 0644)."""
        for p in (self.db, self.log):                 # an empty file is a new SQLite database
            p.touch(0o600)
        for p in (self.db, self.log, self.settings_file, self.config_file, self.roster, self.cookie_secret):
            if p.exists():
                p.chmod(0o600)
