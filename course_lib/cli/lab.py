"""``course lab``: JupyterLab on the course, nbgrader's extensions configured; Ctrl-C shuts it down cleanly."""
from __future__ import annotations

import signal
import webbrowser
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("lab", help="open the course in JupyterLab (learner: assignment list; "
                                   "--instructor: formgrader too)")
    p.add_argument("--instructor", action="store_true",
                   help="also enable nbgrader's formgrader and create-assignment tools on assignments/")
    p.add_argument("--port", type=int, default=8888, help="port (default 8888; 0 picks a free one)")
    p.add_argument("--ip", default="127.0.0.1", help="address to listen on (default 127.0.0.1, this machine only)")
    p.add_argument("--exchange", type=Path, help="nbgrader exchange folder (default build/lab/exchange)")
    p.add_argument("--no-browser", action="store_true", help="print the address instead of opening a browser")
    p.set_defaults(func=main)


def main(args) -> int:
    from ..course.lab import start_lab

    role = "instructor" if args.instructor else "learner"
    print(f"course lab: starting JupyterLab for the {role} ...", flush=True)
    server = start_lab(args.instructor, ip=args.ip, port=args.port, exchange=args.exchange,
                       open_path="notebooks/00_setup.ipynb")
    print(f"course lab: JupyterLab is running for the {role} on {server.root}\n"
          f"    {server.url}\n"
          f"  nbgrader menu: Assignment List" + (", Formgrader (course assignments/)" if args.instructor else "")
          + f"; exchange {server.exchange}\n"
          f"  server log: {server.log}\n"
          "  Press Ctrl-C to stop (kernels are shut down first).", flush=True)
    if not args.no_browser:
        webbrowser.open(server.url)

    def _stop(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, _stop)
    try:
        server.process.wait()
    except KeyboardInterrupt:
        print("\ncourse lab: shutting JupyterLab down ...", flush=True)
    code = server.stop()
    if code not in (0, -signal.SIGTERM):
        print(f"course lab: JupyterLab exited with code {code}; see {server.log}", flush=True)
        return 1
    print("course lab: stopped.", flush=True)
    return 0
