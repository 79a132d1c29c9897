"""Start the workspace server of a local workspace on demand, and reuse it while it lives.

``ensure_server(layout)`` returns the URL of a healthy server for the workspace folder,
starting ``python -m kyanite.server`` detached (its output in ``server.log``) when none
answers. A file lock keeps concurrent callers from starting two.
"""

import fcntl
import os
import subprocess
import sys
import time

import psutil

from kyanite.exceptions import ServerNotRunningException
from kyanite.runtime._http import Client


def healthy(url, timeout=2.0):
    try:
        Client(url, None, retry_seconds=0, timeout=timeout).get("/api/health")
        return True
    except Exception:
        return False


def running_url(layout):
    info = layout.server_info()
    if info and psutil.pid_exists(info["pid"]) and healthy(info["url"]):
        return info["url"]
    return None


def ensure_server(layout, timeout=60.0, quiet=False):
    url = running_url(layout)
    if url:
        return url
    with open(layout.p("server.lock"), "w") as lockf:
        fcntl.flock(lockf, fcntl.LOCK_EX)
        url = running_url(layout)
        if url:
            return url
        return start_server(layout, timeout, quiet)


def start_server(layout, timeout=60.0, quiet=False):
    if os.path.exists(layout.server_path):
        os.unlink(layout.server_path)
    with open(layout.log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "kyanite.server", "--workspace-dir", layout.root],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise ServerNotRunningException(
                "The workspace server for %s exited at start (code %s):\n%s" % (
                    layout.root, proc.returncode, _tail(layout.log_path)))
        info = layout.server_info()
        if info and info.get("pid") == proc.pid and healthy(info["url"], timeout=1.0):
            if not quiet:
                print("kyanite: started the workspace server at %s (pid %d)" % (info["url"], proc.pid))
            return info["url"]
        time.sleep(0.05)
    proc.kill()
    raise ServerNotRunningException("The workspace server did not answer within %.0f s. Its log:\n%s"
                                    % (timeout, _tail(layout.log_path)))


def stop_server(layout, timeout=15.0):
    """Stop the server of this workspace folder; True when one was running."""
    info = layout.server_info()
    if not info or not psutil.pid_exists(info["pid"]):
        return False
    try:
        p = psutil.Process(info["pid"])
        p.terminate()
        p.wait(timeout)
    except psutil.TimeoutExpired:
        p.kill()
    except psutil.NoSuchProcess:
        pass
    if os.path.exists(layout.server_path):
        os.unlink(layout.server_path)
    return True


def _tail(path, n=30):
    try:
        with open(path, "rb") as f:
            return b"\n".join(f.read().splitlines()[-n:]).decode("utf-8", "replace")
    except OSError:
        return "(no log)"
