"""JupyterHub's and nbgrader's configuration for the course, built from the state folder's ``hub.json``.

It follows nbgrader's documented multi-user setup ("Using nbgrader with JupyterHub"):

* PAM logs members in (their Unix accounts, :mod:`.accounts`); only roster members may (``allowed_users``);
  instructors are hub admins;
* the hub groups ``formgrade-<course>`` (instructors, TAs) and ``nbgrader-<course>`` (learners), read by
  ``nbgrader.auth.JupyterHubAuthPlugin`` in every server to know who is in which course;
* the formgrader runs as a hub service named for the course, as the grader account, on the course folder;
  members of ``formgrade-<course>`` may use it (role with ``access:services!service=<course>``);
* every user's server is JupyterLab with nbgrader's extensions: learners get the Assignment List only,
  instructors and TAs also the course list and the create-assignment tool;
* one exchange folder shared by all (``Exchange.path_includes_course``: fetched work goes to ``~/<course>/``).

``write_jupyter_configs`` writes each kind of server's config folder; ``configure(c, path)`` is what the state
folder's ``jupyterhub_config.py`` calls.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ..course.lab import FORMGRADER, INSTRUCTOR_PLUGINS, OFF_PLUGINS
from .hub_state import HubSettings, HubState

__all__ = ["configure", "write_jupyter_configs", "server_env", "AUTOGRADE_SERVICE", "CLI_SERVICE", "ROLES"]

CLI_SERVICE = "course-cli"             # the token `course hub status/grade` (and tests) talk to the hub with
AUTOGRADE_SERVICE = "autograde"       # grading on submit, when an assignment has it on
ROLES = ("learner", "instructor", "grader")
COURSE_LIST = "nbgrader.server_extensions.course_list"
ASSIGNMENT_LIST = "nbgrader.server_extensions.assignment_list"


def _nbgrader_config(settings: HubSettings, state: HubState, role: str) -> str:
    lines = ["# Written by `course hub setup` (course_lib/classroom/hub_config.py); rewritten at every setup.",
             "from nbgrader.auth import JupyterHubAuthPlugin", "c = get_config()  # noqa: F821",
             f"c.CourseDirectory.course_id = {settings.course_id!r}",
             f"c.Exchange.root = {str(state.exchange)!r}",
             "c.Exchange.path_includes_course = True",
             "c.Authenticator.plugin_class = JupyterHubAuthPlugin"]
    if role == "grader":
        lines += [f"c.CourseDirectory.root = {str(state.course)!r}",
                  "c.Execute.timeout = 300",            # as the kit's nbgrader_config.py (TensorFlow cells)
                  "c.ClearSolutions.code_stub = {'python': '# YOUR CODE HERE\\nraise NotImplementedError()'}"]
    return "\n".join(lines) + "\n"


def write_jupyter_configs(settings: HubSettings, state: HubState) -> None:
    """``<state>/jupyter/<role>/``: nbgrader_config.py, jupyter_server_config.json, labconfig/page_config.json."""
    for role in ROLES:
        d = state.jupyter_config(role)
        (d / "labconfig").mkdir(parents=True, exist_ok=True)
        (d / "nbgrader_config.py").write_text(_nbgrader_config(settings, state, role))
        extensions = {FORMGRADER: role == "grader", COURSE_LIST: role == "instructor",
                      ASSIGNMENT_LIST: role != "grader"}
        (d / "jupyter_server_config.json").write_text(json.dumps(
            {"ServerApp": {"jpserver_extensions": extensions},
             "LabApp": {"news_url": None,
                        "check_for_updates_class": "jupyterlab.handlers.announcements.NeverCheckForUpdate"}},
            indent=1))
        # the formgrader lives in the course's service; a learner sees no instructor tool
        hidden = {p: role == "learner" for p in INSTRUCTOR_PLUGINS} | {"@jupyter/nbgrader:formgrader": role != "grader"}
        (d / "labconfig" / "page_config.json").write_text(json.dumps(
            {"disabledExtensions": hidden | {p: True for p in OFF_PLUGINS}}, indent=1))
        for p in [d, *d.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)


def server_env(settings: HubSettings, state: HubState, role: str) -> dict[str, str]:
    """The environment of a server (and its kernels) of ``role``: the kit's Jupyter data and config, this course's."""
    kit_prefix = Path(sys.prefix)         # the kit's venv: labextensions, server-extension switches, lab assets
    return {"JUPYTER_CONFIG_PATH": f"{state.jupyter_config(role)}:{kit_prefix / 'etc' / 'jupyter'}",
            "JUPYTER_PATH": str(kit_prefix / "share" / "jupyter"),
            "JUPYTERLAB_DIR": str(kit_prefix / "share" / "jupyter" / "lab"),
            "PATH": f"{Path(settings.python).parent}:{kit_prefix / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "COURSE_ROOT": settings.kit, "COURSE_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
            "MPLBACKEND": "module://matplotlib_inline.backend_inline"}


def _roles(settings: HubSettings) -> list[dict]:
    cid = settings.course_id
    return [
        # the servers' own tokens act for their user: JupyterHubAuthPlugin reads the user's groups with it
        {"name": "server", "scopes": ["inherit"]},
        {"name": f"formgrade-{cid}", "groups": [f"formgrade-{cid}"],
         "scopes": [f"access:services!service={cid}", "list:services", f"read:services!service={cid}",
                    "admin-ui", "list:users", "read:users", "admin:servers"]},
        {"name": f"nbgrader-{cid}", "groups": [f"nbgrader-{cid}"],
         "scopes": ["list:services", f"read:services!service={cid}"]},
        # the formgrader adds learners to the course group when an instructor adds a student
        {"name": f"grader-{cid}", "services": [cid],
         "scopes": ["list:users", "read:users", "list:groups", "read:groups", "groups"]},
        {"name": CLI_SERVICE, "services": [CLI_SERVICE],
         "scopes": ["admin:users", "admin:servers", "admin:groups", "list:services", "read:services"]},
    ]


def _services(settings: HubSettings, state: HubState) -> list[dict]:
    env = server_env(settings, state, "grader") | {"JUPYTERHUB_DEFAULT_URL": "/formgrader",
                                                  "HOME": str(state.grader_home)}
    return [{"name": settings.course_id, "url": f"http://127.0.0.1:{settings.formgrader_port}",
             "command": [settings.python, "-m", "jupyterhub.singleuser"], "user": settings.grader,
             "cwd": str(state.course), "environment": env, "oauth_no_confirm": True},
            {"name": CLI_SERVICE, "api_token": state.cli_token.read_text().strip()}] + ([
        # grading on submit (.autograde), as root like `course hub grade`: the engine's sandbox and the course
        {"name": AUTOGRADE_SERVICE, "command": [sys.executable, "-m", "course_lib.classroom.autograde", str(state.root)],
         # runuser (nbgrader as the grader) is in /usr/sbin on Debian
         "environment": {"PATH": f"{Path(sys.executable).parent}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
                                 "/sbin:/bin", "COURSE_OFFLINE": "1",
                         "MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "2"}}] if settings.autograde else [])


def configure(c, config_file: str) -> None:
    """Fill JupyterHub's config ``c`` for the state folder holding ``config_file``."""
    state = HubState(Path(config_file).parent)
    s = state.settings()
    cid = s.course_id
    c.JupyterHub.bind_url = s.url
    c.JupyterHub.hub_ip = "127.0.0.1"
    c.JupyterHub.hub_port = s.hub_port
    c.JupyterHub.db_url = f"sqlite:///{state.db}"
    c.JupyterHub.cookie_secret_file = str(state.cookie_secret)
    c.JupyterHub.pid_file = str(state.pid_file)
    c.JupyterHub.cleanup_servers = True               # `course hub stop` stops every user's server too
    c.ConfigurableHTTPProxy.command = [s.proxy]
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{s.proxy_api_port}"
    c.ConfigurableHTTPProxy.auth_token = state.proxy_token.read_text().strip()
    c.ConfigurableHTTPProxy.pid_file = str(state.proxy_pid_file)

    c.JupyterHub.authenticator_class = "pam"
    c.PAMAuthenticator.open_sessions = False          # no login session (utmp, pam_systemd) for a web login
    # the grader is a hub user too (without a password PAM never lets it in): the formgrader service's
    # JupyterHubAuthPlugin looks its courses up in its groups
    c.Authenticator.allowed_users = set(s.users) | {s.grader}
    c.Authenticator.admin_users = set(s.instructors)
    c.JupyterHub.load_groups = {f"formgrade-{cid}": s.staff + [s.grader], f"nbgrader-{cid}": s.learners}
    c.JupyterHub.load_roles = _roles(s)
    c.JupyterHub.services = _services(s, state)

    c.Spawner.cmd = [s.python, "-m", "jupyterhub.singleuser"]
    c.Spawner.default_url = "/lab"
    c.Spawner.notebook_dir = "~"
    c.Spawner.http_timeout = 120                      # JupyterLab and TensorFlow on a loaded 2-core machine
    c.Spawner.start_timeout = 180
    staff = set(s.staff)

    def role_env(spawner) -> None:
        role = "instructor" if spawner.user.name in staff else "learner"
        spawner.environment = {**spawner.environment, **server_env(s, state, role)}
    c.Spawner.pre_spawn_hook = role_env
