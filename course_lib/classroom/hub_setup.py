"""``course hub setup``: the state folder, the accounts and the configuration of the course's JupyterHub.

The steps, in order (each is idempotent, so setup runs again after a roster change and keeps everything):

1. read the roster (a malformed line stops here: nothing has been changed yet);
2. check the machine: root, configurable-http-proxy, an interpreter every user can run (:mod:`.runtime`);
3. the state folder and its secrets (proxy and CLI tokens, 0600);
4. the grader account, then one account per roster member (new ones get an initial password, 0600 file);
5. the course folder (the kit's ``assignments/source`` copied in once; the roster's learners added to the
   gradebook) and the exchange (1777);
6. each kind of server's Jupyter config, ``hub.json`` and ``jupyterhub_config.py``.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..exceptions import HubError
from ..grading.nbgrader_chain import COURSE_ID
from ..paths import repo_root
from .accounts import chown_tree, ensure_grader, make_accounts
from .hub_config import write_jupyter_configs
from .hub_process import find_proxy
from .hub_state import HubSettings, HubState, write_private, write_secret
from .roster import Roster
from .runtime import shared_python

__all__ = ["SetupReport", "require_root", "setup_hub"]

CONFIG = ("# Written by `course hub setup` (rewritten at every setup). JupyterHub's configuration is built from\n"
          "# hub.json beside this file: see course_lib/classroom/hub_config.py. Your own settings (an LTI or OAuth\n"
          "# authenticator, HTTPS) go in jupyterhub_config_local.py beside it, loaded last. Start: `course hub start`.\n"
          "import os\n"
          "from course_lib.classroom.hub_config import configure\n"
          "configure(c, __file__)  # noqa: F821\n"
          "local = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'jupyterhub_config_local.py')\n"
          "if os.path.exists(local):\n"
          "    load_subconfig(local)  # noqa: F821\n")


@dataclass
class SetupReport:
    state: HubState
    settings: HubSettings
    new_passwords: dict[str, str]


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise HubError(f"`course hub {what}` must run as root (it creates Unix accounts, logs users in with PAM and "
                       "starts each user's server as that user)", f"Run it with sudo: `sudo .venv/bin/course hub {what} ...`.")


def _course_folder(state: HubState, settings: HubSettings, roster: Roster) -> None:
    course = state.course
    if not (course / "source").is_dir():
        shutil.copytree(Path(settings.kit) / "assignments" / "source", course / "source")
    # the course's own nbgrader config: the engine's writer applies its late policy as nbgrader autograde would
    (course / "nbgrader_config.py").write_text(
        "# written by `course hub setup` (--late-penalty): nbgrader's late policy for this course\n"
        "c = get_config()  # noqa: F821\n"
        f"c.LateSubmissionPlugin.penalty_method = {settings.late_penalty!r}\n")
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for m in roster.learners:
            first, last = m.first_last
            gb.update_or_create_student(m.username, first_name=first, last_name=last, email=m.email or None)
    chown_tree(course, settings.grader)
    course.chmod(0o700)


def setup_hub(roster_path: Path, state_dir: Path, *, course_id: str = COURSE_ID, ip: str = "127.0.0.1",
              port: int = 8000, hub_port: int = 8081, proxy_api_port: int = 8001, formgrader_port: int = 9999,
              late_penalty: str = "none") -> SetupReport:
    """Set up (or update) the hub in ``state_dir`` for the members of ``roster_path``; see the module docstring."""
    roster = Roster.load(roster_path)                                          # 1
    require_root("setup")                                                      # 2
    proxy = find_proxy()
    state = HubState(state_dir)
    state.root.mkdir(parents=True, exist_ok=True)                              # 3
    state.root.chmod(0o755)
    write_secret(state.proxy_token)
    write_secret(state.cli_token)
    python = shared_python(state.runtime)
    grader = f"grader-{course_id}"[:32]
    ensure_grader(grader, state.grader_home)                                   # 4
    passwords = make_accounts(roster.members, state.passwords)
    write_private(state.roster, roster.path.read_text(encoding="utf-8-sig"))
    by_role = {r: [m.username for m in roster.members if m.role == r] for r in ("instructor", "ta", "learner")}
    settings = HubSettings(course_id=course_id, grader=grader, python=str(python), kit=str(repo_root()),
                           proxy=str(proxy), ip=ip, port=port, hub_port=hub_port, proxy_api_port=proxy_api_port,
                           formgrader_port=formgrader_port, instructors=by_role["instructor"], tas=by_role["ta"],
                           learners=by_role["learner"], late_penalty=late_penalty)
    if state.settings_file.is_file():                                       # kept across setups
        settings.autograde = state.settings().autograde
    state.course.mkdir(exist_ok=True)                                          # 5
    _course_folder(state, settings, roster)
    state.exchange.mkdir(exist_ok=True)
    state.exchange.chmod(0o1777)
    write_jupyter_configs(settings, state)                                     # 6
    state.save(settings)
    write_private(state.config_file, CONFIG)
    state.make_private()
    return SetupReport(state, settings, passwords)
