"""``course hub``: the course on a multi-user JupyterHub on this machine (run as root).

    course hub setup --roster roster.csv [--state DIR] [--port 8000]   accounts, config, course folder
    course hub start|status|stop [--state DIR]
    course hub release ASSIGNMENT        generate + release into the exchange (as the grader account)
    course hub collect ASSIGNMENT        each learner's newest submission into the course
    course hub grade ASSIGNMENT          collect, grade with the kit's engine (sandboxed), release feedback
    course hub autograde ASSIGNMENT [--daily-limit N | --off]   grading on submit (a hub service)
"""
from __future__ import annotations

import os
from pathlib import Path

from ..classroom.hub_state import DEFAULT_STATE


def add_parser(sub) -> None:
    p = sub.add_parser("hub", help="the course on a multi-user JupyterHub (PAM accounts from a roster, nbgrader "
                                   "exchange and formgrader, grading with the kit's engine); run as root")
    hub = p.add_subparsers(dest="hub_command", required=True)
    state_help = f"the hub's state folder (default $COURSE_HUB_STATE or {DEFAULT_STATE})"

    s = hub.add_parser("setup", help="Unix accounts for the roster (new ones get a password in <state>/passwords.csv), "
                                     "the course folder, the exchange, JupyterHub's config; run again after a roster change")
    s.add_argument("--roster", type=Path, required=True,
                   help="CSV: username,role[,name,email,lms_id,sis_id,section]; role instructor, ta or learner")
    s.add_argument("--ip", default="127.0.0.1", help="address of the hub (default 127.0.0.1; 0.0.0.0 for a network, "
                                                   "behind HTTPS: see the README)")
    s.add_argument("--port", type=int, default=8000, help="public port (default 8000)")
    s.add_argument("--hub-port", type=int, default=8081, help="the hub's API, loopback (default 8081)")
    s.add_argument("--proxy-api-port", type=int, default=8001, help="the proxy's API, loopback (default 8001)")
    s.add_argument("--formgrader-port", type=int, default=9999, help="the formgrader service, loopback (default 9999)")
    s.add_argument("--late-penalty", choices=("none", "zero"), default="none",
                   help="nbgrader's late policy after an assignment's due date: none (lateness recorded; default) "
                        "or zero (the late submission scores 0)")
    for name, text in [("start", "start the hub (it keeps running after this command)"),
                       ("status", "is it running; every member's groups and server"),
                       ("stop", "stop the hub, every user's server and the proxy (the state folder is kept)")]:
        hub.add_parser(name, help=text)
    for name, text in [("release", "generate an assignment and release it into the exchange"),
                       ("collect", "collect each learner's newest submission (nbgrader collect --update)"),
                       ("grade", "collect, grade new or changed submissions with the kit's engine, release feedback")]:
        a = hub.add_parser(name, help=text)
        a.add_argument("assignment")
        if name == "grade":
            a.add_argument("--jobs", type=int, default=2, help="submissions graded at once (default 2)")
            a.add_argument("--regrade", action="store_true", help="grade again submissions already graded")
    g = hub.add_parser("autograde", help="grading on submit for an assignment: a hub service grades each new "
                                         "submission and releases feedback (applied at the next `course hub start`)")
    g.add_argument("assignment")
    g.add_argument("--daily-limit", type=int, default=3, help="gradings per learner per day (default 3; 0: no limit)")
    g.add_argument("--off", action="store_true", help="turn it off for this assignment")
    for q in hub.choices.values():
        q.add_argument("--state", type=Path, default=Path(os.environ.get("COURSE_HUB_STATE", DEFAULT_STATE)),
                       help=state_help)
    p.set_defaults(func=main)


def main(args) -> int:
    from ..classroom import hub_course, hub_process
    from ..classroom.hub_setup import require_root, setup_hub
    from ..classroom.hub_state import HubState

    cmd = args.hub_command
    state = HubState(args.state)
    if cmd == "setup":
        r = setup_hub(args.roster, args.state, ip=args.ip, port=args.port, hub_port=args.hub_port,
                      proxy_api_port=args.proxy_api_port, formgrader_port=args.formgrader_port,
                      late_penalty=args.late_penalty)
        s = r.settings
        print(f"course hub: set up in {r.state.root} for {s.course_id}: {len(s.instructors)} instructor(s), "
              f"{len(s.tas)} TA(s), {len(s.learners)} learner(s); grader account {s.grader}")
        print(f"  new accounts: {', '.join(r.new_passwords) or 'none'}"
              + (f"; their initial passwords are in {r.state.passwords} (root only): hand them out" if r.new_passwords
                 else ""))
        print("  start it: course hub start" + ("" if r.state.root == DEFAULT_STATE else f" --state {r.state.root}"))
        return 0
    if cmd == "start":
        st = hub_process.start_hub(args.state)
        print(f"course hub: JupyterHub {st.version} running at {st.url} (pid {st.pid}, started in {st.seconds} s); "
              f"log {state.log}")
        return 0
    if cmd == "status":
        st = hub_process.hub_status(args.state)
        print(f"course hub: {'running' if st.running else 'not running'} ({st.url}"
              + (f", pid {st.pid}, JupyterHub {st.version})" if st.running else ")"))
        for u in st.users:
            print(f"  {u['name']:<20} {'admin ' if u['admin'] else ''}{','.join(u['groups']):<30} "
                  f"server {'running' if u['server'] else 'stopped'}")
        return 0 if st.running else 1
    if cmd == "stop":
        st = hub_process.stop_hub(args.state)
        print(f"course hub: stopped in {st.seconds} s (users' servers and the proxy too); {state.root} is kept")
        return 0
    require_root(cmd)
    if cmd == "release":
        hub_course.release_assignment(state, args.assignment)
        print(f"course hub: {args.assignment} released; learners fetch it from Nbgrader > Assignment List")
        return 0
    if cmd == "collect":
        for line in hub_course.collect(state, args.assignment).lines():
            print(f"  {line}")
        return 0
    if cmd == "autograde":
        from ..classroom.autograde import set_autograde

        on = set_autograde(state, args.assignment, None if args.off else args.daily_limit)
        which = ", ".join(f"{a} (daily limit {n or 'none'})" for a, n in on.items()) or "off"
        print(f"course hub: grading on submit: {which}; restart the hub to apply it "
              "(`course hub stop && course hub start`); what it does goes to <state>/autograde.jsonl")
        return 0
    report = hub_course.grade(state, args.assignment, jobs=args.jobs, regrade=args.regrade)
    faults = [r for r in report.rows if r.status != "ok"]
    print(f"course hub: {args.assignment}: {len(report.graded)} graded, {len(report.skipped)} unchanged; feedback "
          f"released (learners: Assignment List > Fetch Feedback); grades {report.csv}")
    return 1 if faults else 0
