"""Helpers shared by the benchmarks in this folder (not a benchmark itself).

Each benchmark is a standalone script (``python bench/<name>.py``); Python puts this
folder on ``sys.path`` when such a script runs, so ``import _common`` finds this file.
"""

import contextlib
import math
import os
import shutil
import socket
import sys
import tempfile
import threading
import time


def free_port():
    """A TCP port free on 127.0.0.1 now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def percentile(values, p):
    """Linear-interpolated percentile (``p`` in 0..100) of a non-empty list."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p / 100.0
    lo, hi = int(math.floor(k)), int(math.ceil(k))
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def median(values):
    return percentile(values, 50)


def table(headers, rows, aligns=None):
    """A plain aligned text table: first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    aligns = aligns or ["<"] + [">"] * (len(headers) - 1)
    out = []
    for n, r in enumerate(cells):
        out.append("  ".join("{:{}{}}".format(c, a, w) for c, a, w in zip(r, aligns, widths)).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def default_cache_dir():
    """Where run environments are cached: ``KYANITE_CACHE_DIR`` if set, else a bench cache
    that persists between invocations (so the uv environment is built once)."""
    return os.environ.get("KYANITE_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "kyanite-bench")


@contextlib.contextmanager
def bench_workspace(name, keep=False):
    """A fresh local workspace (server on 127.0.0.1) in a temp folder; stopped and removed at
    the end. Yields ``(ws, tmpdir)``."""
    os.environ.setdefault("KYANITE_CACHE_DIR", default_cache_dir())
    os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")
    from kyanite.core import Workspace
    tmp = tempfile.mkdtemp(prefix="kyanite-bench-")
    ws_path = os.path.join(tmp, "ws")
    ws = None
    try:
        ws = Workspace.create(name=name, path=ws_path, show_output=False)
        yield ws, tmp
    finally:
        _stop_workspace(ws_path)
        if keep:
            print("kept the workspace folder: %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _stop_workspace(ws_path):
    try:
        from kyanite.core._server import stop_server
        from kyanite.server.layout import WorkspaceLayout
        stop_server(WorkspaceLayout.for_path(ws_path))
    except Exception as exc:  # never let clean-up hide the figures
        sys.stderr.write("bench: could not stop the workspace server: %s\n" % exc)


def current_python_env():
    """The user-managed environment: this interpreter, nothing to build."""
    from kyanite.core import Environment
    env = Environment("bench-current-python")
    env.python.user_managed_dependencies = True
    env.python.interpreter_path = sys.executable
    return env


def write_source(folder, **scripts):
    """Create ``folder`` holding ``name.py`` files from keyword arguments; returns it."""
    os.makedirs(folder, exist_ok=True)
    for name, text in scripts.items():
        with open(os.path.join(folder, name + ".py"), "w") as f:
            f.write(text)
    return folder


def driver_log(run):
    """The run's driver log text (user_logs/std_log.txt), by the public API where it exists."""
    try:
        logs = run.get_details_with_logs().get("logFiles") or {}
        for name, text in logs.items():
            if name.endswith("std_log.txt") and text:
                return text
    except Exception:
        pass
    try:
        data, _offset, _status = run._read_log("user_logs/std_log.txt", 0)
        return data.decode("utf-8", "replace")
    except Exception:
        return ""


class StatusWatcher(object):
    """Records when each run state is first seen, with the server's long-poll
    (``GET /api/runs/{id}/wait?status=...``, the call ``wait_for_completion`` makes).

    A state that lasts shorter than one poll round trip can be skipped; it then has no
    time. ``on_state(state, details)`` is called from the watcher thread as states come.
    """

    TERMINAL = ("Completed", "Failed", "Canceled")

    def __init__(self, client, run_id, on_state=None):
        self.client, self.run_id, self.on_state = client, run_id, on_state
        self.seen = {}
        self.details = None
        self.error = None
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        status = None
        try:
            while True:
                d = self.client.get("/api/runs/%s/wait" % self.run_id,
                                    params={"status": status, "timeout": 10})
                now = time.time()
                if d["status"] != status:
                    status = d["status"]
                    self.seen.setdefault(status, now)
                    self.details = d
                    if self.on_state is not None:
                        self.on_state(status, d)
                if status in self.TERMINAL:
                    return
        except Exception as exc:
            self.error = exc

    def join(self, timeout=None):
        self._thread.join(timeout)
        return self.seen


def proc_start_time(pid):
    """Wall-clock start time of a live process (Linux /proc; ~10 ms resolution), else None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        start_ticks = int(fields[19])  # field 22 of stat; 2 fields precede the ")"
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        now = time.time()
        return now - (uptime - start_ticks / float(os.sysconf("SC_CLK_TCK")))
    except (OSError, ValueError, IndexError):
        return None


def iso_to_epoch(s):
    """``2026-01-02T03:04:05.678Z`` (UTC) -> seconds since the epoch."""
    if not s:
        return None
    import calendar
    base, _, frac = s.rstrip("Z").partition(".")
    t = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
    return t + (float("0." + frac) if frac else 0.0)


def fmt_s(x, digits=3):
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else "%.*f" % (digits, x)


def add_standard_args(parser, target="the target"):
    """``--keep``, ``--check`` and ``--keep-env``, as every workspace benchmark takes them."""
    parser.add_argument("--keep", action="store_true", help="keep the temporary workspace folder")
    parser.add_argument("--check", action="store_true", help="exit 1 when %s is missed" % target)
    parser.add_argument("--keep-env", action="store_true",
                        help="keep PYTHONDONTWRITEBYTECODE if set (default: unset it, as on a normal install)")


def start_notes(args):
    """The lines a benchmark prints first: the machine, and what ``prepare_environment``
    settled (after ``add_standard_args``)."""
    return [machine_line()] + prepare_environment(args.keep_env)


def prepare_environment(keep_no_bytecode=False):
    """Settle what the processes the benchmark starts inherit; returns lines to print.

    ``PYTHONDONTWRITEBYTECODE=1`` (set in some sandboxes and containers, never by a normal
    install) makes every run host and server start recompile kyanite and its dependencies
    from source, which adds tens of milliseconds to each run start. It is removed for the
    benchmark unless ``keep_no_bytecode``; the line printed says which was measured."""
    notes = []
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        if keep_no_bytecode:
            notes.append("PYTHONDONTWRITEBYTECODE is set and kept: processes recompile modules at each start")
        else:
            del os.environ["PYTHONDONTWRITEBYTECODE"]
            sys.dont_write_bytecode = False
            notes.append("PYTHONDONTWRITEBYTECODE was set; unset for this benchmark, as on a normal install "
                         "(--keep-env to measure with it)")
    return notes


def machine_line():
    import platform
    try:
        load = "%.2f" % os.getloadavg()[0]
    except (AttributeError, OSError):
        load = "n/a"
    try:
        import kyanite
        kv = kyanite.__version__
    except Exception:
        kv = "?"
    return "machine: %s CPUs, load average %s at start; Python %s; kyanite %s" % (
        os.cpu_count(), load, platform.python_version(), kv)
