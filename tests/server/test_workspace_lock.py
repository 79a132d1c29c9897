"""One server per workspace: a second ``python -m kyanite.server`` on the same workspace
exits naming the running one and leaves ``server.json`` alone; the SDK's on-demand start
beside a running server returns that server."""

import os
import subprocess
import sys
import time

import psutil
import pytest

from kyanite.core import _server
from kyanite.server import workspace_lock
from kyanite.server.layout import WorkspaceLayout


def _serve(layout):
    return subprocess.Popen([sys.executable, "-m", "kyanite.server", "--workspace-dir", layout.root,
                             "--port", "0"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)


def _wait_listening(layout, proc, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, proc.communicate()[1].decode()
        info = layout.server_info()
        if info and info.get("pid") == proc.pid and _server.healthy(info["url"], timeout=1.0):
            return info
        time.sleep(0.05)
    pytest.fail("the server did not come up")


def _stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def layout(tmp_path):
    lay = WorkspaceLayout.for_path(str(tmp_path))
    lay.create("lock-ws")
    return lay


def test_a_second_server_exits_naming_the_running_one(layout):
    first = _serve(layout)
    try:
        info = _wait_listening(layout, first)
        with open(layout.server_path, "rb") as f:
            before = f.read()
        second = _serve(layout)
        out, err = second.communicate(timeout=60)
        err = err.decode()
        assert second.returncode == workspace_lock.EXIT_ALREADY_RUNNING != 0, err
        assert "Another workspace server already runs" in err
        assert "pid %d" % first.pid in err and info["url"] in err, err
        with open(layout.server_path, "rb") as f:
            assert f.read() == before  # server.json untouched
        assert _server.healthy(info["url"])
        assert workspace_lock.holder(layout)["pid"] == first.pid
    finally:
        _stop(first)
    # the lock goes with its process: a new server starts (the old lock file's content is no bar)
    assert workspace_lock.holder(layout) is None
    third = _serve(layout)
    try:
        assert _wait_listening(layout, third)["pid"] == third.pid
    finally:
        _stop(third)


def test_sdk_start_beside_a_running_server_returns_that_server(layout):
    """A server started by hand whose server.json is not there (yet): the SDK's on-demand
    start finds the workspace held, and uses the running server instead of a second one."""
    first = _serve(layout)
    try:
        info = _wait_listening(layout, first)
        os.unlink(layout.server_path)
        assert _server.start_server(layout, timeout=60, quiet=True) == info["url"]
        assert _server.ensure_server(layout, quiet=True) == info["url"]
        servers = [p for p in psutil.process_iter(["cmdline"])
                   if "kyanite.server" in (p.info["cmdline"] or []) and layout.root in (p.info["cmdline"] or [])]
        assert [p.pid for p in servers] == [first.pid]
        assert not os.path.exists(layout.server_path)  # the starter leaves server.json alone too
        assert _server.stop_server(layout)  # found through the lock
        first.wait(20)
    finally:
        _stop(first)
