"""Start the workspace server of a local workspace on demand, and reuse it while it lives.

``ensure_server(layout)`` returns the URL of a healthy server for the workspace folder,
starting ``python -m kyanite.server`` detached (its output in ``server.log``) when none
answers. A file lock keeps concurrent callers from starting two, and the server's own
workspace lock (``kyanite.server.workspace_lock``) keeps any other starter out: when the
started process reports that another server holds the workspace (one started by hand, or
still starting), ``start_server`` waits for that server and returns its URL.
"""

import fcntl
import os
import subprocess
import sys
import time

import psutil

from kyanite.exceptions import ServerNotRunningException
from kyanite.runtime._http import Client
from kyanite.server import workspace_lock


def healthy(url, timeout=2.0):
    try:
        Client(url, None, retry_seconds=0, timeout=timeout).get("/api/health")
        return True
    except Exception:
        return False


def running_url(layout):
    """The URL of this workspace's server when it answers: from ``server.json``, else from
    the holder of the workspace lock; None when none answers."""
    info = layout.server_info()
    if info and psutil.pid_exists(info["pid"]) and healthy(info["url"]):
        return info["url"]
    held = workspace_lock.holder(layout)
    if held and held.get("url") and held != info and healthy(held["url"]):
        return held["url"]
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
    if workspace_lock.holder(layout) is None and os.path.exists(layout.server_path):
        os.unlink(layout.server_path)  # left by a server that died
    with open(layout.log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "kyanite.server", "--workspace-dir", layout.root],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() == workspace_lock.EXIT_ALREADY_RUNNING:
            return _wait_for_holder(layout, deadline, quiet)
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


def _wait_for_holder(layout, deadline, quiet):
    """Another server holds the workspace: return its URL once it answers."""
    while time.time() < deadline:
        url = running_url(layout)
        if url:
            if not quiet:
                print("kyanite: the workspace server already runs at %s" % url)
            return url
        if workspace_lock.holder(layout) is None:
            break  # it went away meanwhile
        time.sleep(0.05)
    info = workspace_lock.holder(layout) or {}
    raise ServerNotRunningException(
        "Another workspace server holds %s (pid %s) but does not answer%s. Stop it with "
        "`kyanite server stop`, then try again." % (
            layout.root, info.get("pid", "unknown"), " at %s" % info["url"] if info.get("url") else ""))


def stop_server(layout, timeout=15.0):
    """Stop the server of this workspace folder (the one in ``server.json``, else the
    holder of the workspace lock); True when one was running."""
    info = layout.server_info() or workspace_lock.holder(layout)
    if not info or not info.get("pid") or not psutil.pid_exists(info["pid"]):
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
