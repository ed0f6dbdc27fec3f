# IPython startup file of the kernels that run submissions in the grading engine (course_lib.grading.engine).
# Copied into the worker's profile as 99-course-guard.py; it runs before any student code.
#
# 1. Reporting file guard: access control is the OS sandbox's (course_lib.grading.engine.sandbox: what must
#    not be read is not mounted). This Python audit hook (it cannot be removed once added) makes attempts
#    visible in the row's findings: open(), sqlite3.connect() and file removal/renaming under the denied
#    folders (the grader's working course with its gradebook, the instructor's course, hidden data), except the
#    submission's own folder and HOME, are logged and refused; subprocesses naming a denied path and ctypes
#    look-ups of C file functions are logged (the sandbox refuses what they reach). Each entry goes to the engine's log through a descriptor
#    opened here. Native code that makes system calls itself is not seen here, only stopped by the sandbox.
# 2. os._exit() called from a cell raises SystemExit instead, like sys.exit(): the kernel survives, so the
#    tests before and after that cell still earn their points (a kill or a crash still ends the kernel).
# 3. Test-function guard: before every cell, functions of numpy.testing, tensorflow.debugging and
#    tf.test and the builtins that were replaced by code defined in the notebook are put back, module
#    names (np, tf) rebound to something else are restored, and each repair is logged.
def _course_guard() -> None:
    import builtins
    import json
    import os
    import sys
    import types

    deny = [os.path.realpath(p) for p in json.loads(os.environ.pop("COURSE_GUARD_DENY", "[]"))]
    allow = [os.path.realpath(p) for p in json.loads(os.environ.pop("COURSE_GUARD_ALLOW", "[]"))]
    log_path = os.environ.pop("COURSE_GUARD_LOG", "")
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600) if log_path else None
    realpath, fspath, write, dumps = os.path.realpath, os.fspath, os.write, json.dumps

    def under(path: str, roots: list) -> bool:
        return any(path == r or path.startswith(r + os.sep) for r in roots)

    def report(kind: str, detail: str) -> None:
        if fd is not None:
            write(fd, (dumps({"kind": kind, "detail": detail}) + "\n").encode())

    watched = {"open": 0, "sqlite3.connect": 0, "os.remove": 0, "os.rename": 0, "os.rmdir": 0,
               "shutil.rmtree": 0, "os.truncate": 0, "os.chmod": 0, "shutil.copyfile": 0}

    spawns = {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn"}

    def mentions(args) -> str:
        for a in args if isinstance(args, (list, tuple)) else [args]:
            if isinstance(a, (list, tuple)):
                hit = mentions(a)
                if hit:
                    return hit
            elif isinstance(a, (str, bytes)):
                text = a.decode(errors="replace") if isinstance(a, bytes) else a
                if any(r in text for r in deny) and not any(r in text for r in allow):
                    return text[:200]
        return ""

    native = {"open", "open64", "openat", "openat64", "fopen", "fopen64", "creat", "unlink", "rename", "link",
              "symlink", "syscall", "execve"}

    def hook(event: str, args: tuple) -> None:
        if event == "ctypes.dlsym" and len(args) > 1 and args[1] in native:
            report("file-access", f"ctypes.dlsym {args[1]} (a C file function called from Python: the sandbox "
                                  "decides what it reaches)")
            return
        if event in spawns:                   # the OS sandbox refuses it; the attempt is reported
            hit = mentions(args)
            if hit:
                report("file-access", f"{event} {hit}")
            return
        if event not in watched or not args:
            return
        target = args[0]
        if isinstance(target, int) or target is None:
            return
        try:
            path = realpath(fspath(target)) if not isinstance(target, bytes) else realpath(target.decode())
        except Exception:
            return
        if under(path, deny) and not under(path, allow):
            report("file-access", f"{event} {path}")
            raise PermissionError(f"course grader: {path} is outside your submission; access refused")

    sys.addaudithook(hook)

    def from_cell(name: str) -> bool:
        # cells compile to $TMPDIR/ipykernel_<pid>/<hash>.py; numpy's dispatchers say "<__array_function__ ...>"
        return "ipykernel_" in name or name.startswith(("<ipython-input", "<string>", "<stdin>"))

    def library(f) -> bool:
        code = getattr(f, "__code__", None)
        if code is None:                      # builtins, ufuncs, C functions: not written in a cell
            return True
        return not from_cell(code.co_filename)

    real_exit = os._exit

    def cell_exit(status: int = 0) -> None:
        if not from_cell(sys._getframe(1).f_code.co_filename):
            real_exit(status)                  # the kernel's own shutdown
        raise SystemExit(status)

    os._exit = cell_exit
    originals: dict = {}
    skip = {"exit", "quit", "get_ipython", "display", "__IPYTHON__", "_", "__", "___", "input", "raw_input",
            "getpass", "help"}                # ipykernel swaps input/getpass around each execution
    originals["builtins"] = {k: v for k, v in vars(builtins).items() if k not in skip}

    def snapshot(modname: str) -> None:
        mod = sys.modules.get(modname)
        if mod is not None and modname not in originals:
            originals[modname] = {k: v for k, v in vars(mod).items() if callable(v) and library(v)}

    watch = ["numpy", "numpy.testing", "tensorflow.debugging", "tensorflow.test"]
    try:
        import numpy.testing  # noqa: F401  the one every test uses: pristine before any cell runs
    except ImportError:
        pass
    for m in watch:
        snapshot(m)
    ip = get_ipython()  # noqa: F821 - IPython provides it in startup files
    modules: dict = {}

    def pre_run_cell(*_a) -> None:
        for modname, saved in originals.items():
            mod = builtins if modname == "builtins" else sys.modules.get(modname)
            if mod is None:
                continue
            ns = vars(mod)
            for k, v in saved.items():
                if ns.get(k) is not v:
                    report("monkeypatch", f"{modname}.{k} was replaced; restored")
                    setattr(mod, k, v)
        for m in watch:
            snapshot(m)
            mod = sys.modules.get(m)
            for k, v in (vars(mod).items() if mod is not None else ()):
                if callable(v) and not library(v) and k not in originals.get(m, {}):
                    report("monkeypatch", f"{m}.{k} was replaced in the cell that imported it")
        ns = ip.user_ns
        for k, mod in list(modules.items()):
            if ns.get(k) is not mod and not isinstance(ns.get(k), types.ModuleType):
                report("monkeypatch", f"the name {k} (module {mod.__name__}) was rebound; restored")
                ns[k] = mod
        for k, v in list(ns.items()):
            if isinstance(v, types.ModuleType) and not k.startswith("_"):
                modules[k] = v

    ip.events.register("pre_run_cell", pre_run_cell)


_course_guard()
del _course_guard
