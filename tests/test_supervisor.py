"""kyanite.supervisor with real processes: start, know again (pid + start time), end a tree, reap."""

import os
import signal
import subprocess
import sys
import time

import psutil

from kyanite import supervisor
from kyanite.supervisor import ProcessHandle
from kyanite_testing import running, wait_until

#: parent -> child -> grandchild; the grandchild leaves the group (setsid); each writes its pid
TREE = r"""
import os, subprocess, sys, time
out, level = sys.argv[1], int(sys.argv[2])
if level == 2:
    os.setsid()
with open(out + ".%d" % level, "w") as f:
    f.write(str(os.getpid()))
if level < 2:
    subprocess.Popen([sys.executable, "-c", sys.argv[3], out, str(level + 1), sys.argv[3]])
time.sleep(120)
"""

STUBBORN = r"""
import signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
open(sys.argv[1], "w").close()
time.sleep(120)
"""


def _start_tree(tmp_path):
    out = str(tmp_path / "pid")
    h = supervisor.start([sys.executable, "-c", TREE, out, "0", TREE], log=str(tmp_path / "tree.log"))

    def pids():
        try:
            return [int(open(out + ".%d" % i).read()) for i in range(3)]
        except (OSError, ValueError):
            return None
    return h, wait_until(pids, timeout=15.0, interval=0.05)


def test_a_started_tree_is_known_by_pid_and_start_time_and_stopped_whole(tmp_path):
    h, pids = _start_tree(tmp_path)
    try:
        assert pids[0] == h.pid and all(running(p) for p in pids)
        assert os.getpgid(h.pid) == h.pid  # a session and process group of its own
        assert os.getpgid(pids[2]) != h.pid  # the grandchild left the group
        assert supervisor.is_alive(h)
        again = ProcessHandle.from_json(h.to_json())
        assert again == h and supervisor.is_alive(again)
        assert oct(os.stat(str(tmp_path / "tree.log")).st_mode & 0o777) == "0o600"
        # the same pid with another start time is another process (a reused pid)
        assert not supervisor.is_alive(ProcessHandle(h.pid, h.create_time - 5))
        assert not supervisor.stop_tree(ProcessHandle(h.pid, h.create_time - 5), grace=1)
        assert all(running(p) for p in pids)
        assert supervisor.stop_tree(h, grace=5)
        assert not any(running(p) for p in pids)
        assert not supervisor.is_alive(h)
        assert supervisor.exit_code(h) == -signal.SIGTERM
    finally:
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace(tmp_path):
    ready = str(tmp_path / "ready")
    h = supervisor.start([sys.executable, "-c", STUBBORN, ready])
    wait_until(lambda: os.path.exists(ready), timeout=15.0, interval=0.05)
    t0 = time.time()
    assert supervisor.stop_tree(h, grace=1.0)
    took = time.time() - t0
    assert not running(h.pid)
    assert 1.0 <= took < 6.0
    assert supervisor.exit_code(h) == -signal.SIGKILL


def test_ended_processes_are_reaped_and_keep_their_exit_status(tmp_path):
    h = supervisor.start([sys.executable, "-c", "import sys; sys.exit(3)"])
    wait_until(lambda: h.proc.poll() is not None or psutil.Process(h.pid).status() == psutil.STATUS_ZOMBIE,
               timeout=15.0, interval=0.05)
    assert not supervisor.is_alive(h)
    supervisor.reap()
    assert not psutil.pid_exists(h.pid) or psutil.Process(h.pid).status() != psutil.STATUS_ZOMBIE
    assert supervisor.exit_code(h) == 3
    assert supervisor.exit_code(ProcessHandle(h.pid, h.create_time - 5)) is None  # not that process


def test_a_handle_without_a_pid_or_start_time(tmp_path):
    assert ProcessHandle.from_json({}) is None and ProcessHandle.from_json(None) is None
    assert not supervisor.is_alive(None) and not supervisor.stop_tree(None)
    h = ProcessHandle.from_json({"script_pid": os.getpid(), "script_create_time": None}, prefix="script_")
    assert h.create_time is None and supervisor.is_alive(h)  # an older record: matched by pid
    assert ProcessHandle.of_pid(os.getpid()).create_time == psutil.Process().create_time()


def test_stop_tree_from_the_command_line_ends_only_the_named_process(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    try:
        created = psutil.Process(proc.pid).create_time()
        cmd = [sys.executable, "-m", "kyanite.supervisor", "stop-tree", str(proc.pid)]
        assert subprocess.call(cmd + [str(created - 5)]) == 0
        assert proc.poll() is None  # another start time: left alone
        assert subprocess.call(cmd + [str(created)]) == 0
        assert proc.wait(5) == -signal.SIGKILL
    finally:
        proc.kill()
        proc.wait()
