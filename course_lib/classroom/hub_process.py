"""``course hub start|status|stop``: the JupyterHub process of a state folder.

``start`` checks first (set up, not already running, configurable-http-proxy found, every port free), then runs
``jupyterhub -f <state>/jupyterhub_config.py`` in its own session (it outlives the command), appending to
``<state>/hub.log``, and waits until the hub answers through the proxy. ``stop`` sends SIGTERM: JupyterHub stops
every user's server and the proxy it started, then exits; the state folder is kept as it is.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from ..course.lab import port_in_use
from ..exceptions import EnvironmentProblem, HubError, HubPortInUse
from ..paths import repo_root
from .hub_state import DEFAULT_STATE, HubState

__all__ = ["HubStatus", "find_proxy", "hub_api", "hub_pid", "start_hub", "hub_status", "stop_hub", "PROXY"]

PROXY = "configurable-http-proxy"


def find_proxy() -> Path:
    """configurable-http-proxy: ``COURSE_HUB_PROXY``, the kit's pinned npm install, or ``PATH``."""
    env = os.environ.get("COURSE_HUB_PROXY")
    candidates = [Path(env)] if env else [repo_root() / "requirements" / "hub" / "node_modules" / ".bin" / PROXY]
    if not env and shutil.which(PROXY):
        candidates.append(Path(shutil.which(PROXY)))
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    raise EnvironmentProblem(
        f"{PROXY} was not found ({', '.join(map(str, candidates))}): JupyterHub needs it to route users to their "
        "servers, so the hub was not started. Install the pinned version with `bash ci/hub-deps.sh` (npm; "
        "Node.js >= 18: `sudo apt-get install nodejs npm`), or set COURSE_HUB_PROXY=/path/to/" + PROXY + ".")


def hub_pid(state: HubState) -> int | None:
    """The running hub's pid from its pid file, or None (no file, or a stale one: that process is gone)."""
    try:
        pid = int(state.pid_file.read_text().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def hub_api(state: HubState, path: str, method: str = "GET", data: dict | None = None, token: str | None = None,
            timeout: float = 30) -> dict | list:
    """A call to the hub's REST API (``/hub/api/<path>``) through the proxy, with the CLI's token by default."""
    s = state.settings()
    token = token or state.cli_token.read_text().strip()
    req = urllib.request.Request(f"{s.url}/hub/api/{path.lstrip('/')}", method=method,
                                 data=None if data is None else json.dumps(data).encode(),
                                 headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        body = r.read()
    return json.loads(body) if body else {}


@dataclass
class HubStatus:
    running: bool
    url: str
    pid: int | None = None
    version: str = ""
    users: list[dict] = field(default_factory=list)      # name, admin, groups, server running
    seconds: float = 0.0                                  # how long start or stop took


def _answering(url: str) -> str:
    try:
        with urllib.request.urlopen(f"{url}/hub/api/", timeout=3) as r:
            return json.loads(r.read()).get("version", "?")
    except (urllib.error.URLError, OSError, ValueError):
        return ""


def start_hub(state_dir: Path = DEFAULT_STATE, timeout: float = 120) -> HubStatus:
    """Start the hub of ``state_dir`` and wait until it answers (see the module docstring)."""
    t0 = time.monotonic()
    state = HubState(state_dir)
    s = state.settings()
    if os.geteuid() != 0:
        raise HubError("`course hub start` must run as root (PAM logins, servers started as each user)",
                       "Run it with sudo.")
    pid = hub_pid(state)
    if pid:
        raise HubError(f"the hub of {state.root} is already running (pid {pid}, {s.url})",
                       "Use it, or stop it first: `course hub stop`.")
    if os.environ.get("COURSE_HUB_PROXY") or not Path(s.proxy).is_file():
        s.proxy = str(find_proxy())               # moved or reinstalled since setup: found again, or refused
        state.save(s)
    for ip, port, purpose, option in s.ports():
        if port_in_use(ip, port):
            raise HubPortInUse(ip, port, purpose, option)
    state.make_private()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "JPY"))}
    env["PATH"] = f"{Path(sys.executable).parent}:{Path(s.proxy).parent}:{env.get('PATH', '/usr/bin:/bin')}"
    with open(state.log, "a") as log:
        log.write(f"\n--- course hub start {time.strftime('%Y-%m-%d %H:%M:%S')} ---\n")
        log.flush()
        proc = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(state.config_file)], cwd=state.root,
                                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise HubError(f"JupyterHub exited (code {proc.returncode}) before it answered; the end of its log "
                           f"({state.log}):\n{state.log.read_text(errors='replace')[-3000:]}",
                           "Fix what the log names and run `course hub start` again; nothing was changed.")
        version = _answering(s.url)
        if version:
            return HubStatus(True, s.url, proc.pid, version, seconds=round(time.monotonic() - t0, 2))
        time.sleep(0.3)
    proc.terminate()
    raise HubError(f"JupyterHub did not answer on {s.url} within {timeout:.0f} s (stopped again)",
                   f"See {state.log}.")


def hub_status(state_dir: Path = DEFAULT_STATE) -> HubStatus:
    """Whether the hub runs, and each user's groups and server state (through the hub's API)."""
    state = HubState(state_dir)
    s = state.settings()
    pid = hub_pid(state)
    version = _answering(s.url) if pid else ""
    st = HubStatus(bool(pid and version), s.url, pid, version)
    if st.running:
        for u in hub_api(state, "users"):
            st.users.append({"name": u["name"], "admin": u.get("admin", False), "groups": u.get("groups", []),
                             "server": bool(u.get("servers", {}).get("", {}).get("ready"))
                             if "servers" in u else bool(u.get("server"))})
    return st


def stop_hub(state_dir: Path = DEFAULT_STATE, timeout: float = 60) -> HubStatus:
    """SIGTERM to the hub; it stops the users' servers and the proxy. SIGKILL only if it hangs past ``timeout``."""
    t0 = time.monotonic()
    state = HubState(state_dir)
    s = state.settings()
    pid = hub_pid(state)
    if pid is None:
        raise HubError(f"the hub of {state.root} is not running", "Nothing to stop (`course hub start` starts it).")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):      # it removes its pid file before it has exited
        time.sleep(0.2)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    try:
        proxy = int(state.proxy_pid_file.read_text().strip())
        if _alive(proxy):
            os.kill(proxy, signal.SIGTERM)
    except (OSError, ValueError):
        pass
    return HubStatus(False, s.url, None, seconds=round(time.monotonic() - t0, 2))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:                                      # a zombie (our own child, not yet reaped) has exited
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False
