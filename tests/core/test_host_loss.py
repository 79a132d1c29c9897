"""A run whose host dies is failed with a reason, and the script it ran does not live on.

The server of this module runs with a 3 s heartbeat timeout (hosts beat every 0.5 s).
"""

import os
import signal
import time

import psutil

from kyanite.core import Experiment, ScriptRunConfig

SERVER_ENV = {"KYANITE_HEARTBEAT_TIMEOUT": "3", "KYANITE_HEARTBEAT_INTERVAL": "0.5"}

SCRIPT = """
    import os, sys, time
    from kyanite.core import Run
    run = Run.get_context()
    run.log("alive", 1)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    time.sleep(120)
"""


def _gone(pid):
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_killed_host_fails_the_run(ws, make_script, current_env, tmp_path, wait_until):
    pid_file = tmp_path / "script.pid"
    src = make_script(SCRIPT)
    run = Experiment(ws, "host-loss").submit(ScriptRunConfig(
        source_directory=str(src), script="train.py", arguments=[str(pid_file)], environment=current_env))
    wait_until(pid_file.exists, 30, what="the script to start")
    script_pid = int(pid_file.read_text())
    wait_until(lambda: run.get_metrics(), 10, what="the first metric to be shipped")
    host_pid = run.get_details()["host"]["pid"]
    assert psutil.Process(host_pid).cmdline()[-2:] == ["--run-id", run.id]
    os.kill(host_pid, signal.SIGKILL)
    t0 = time.time()
    details = run.wait_for_completion(raise_on_error=False)
    assert time.time() - t0 < 10
    assert details["status"] == "Failed"
    assert "run host" in details["error"]["message"]
    assert details["error"]["code"] in ("HostLost", "HeartbeatTimeout")
    assert run.get_metrics() == {"alive": 1.0}
    wait_until(lambda: _gone(script_pid), 10, what="the orphaned script to be ended")


def test_normal_runs_survive_a_short_heartbeat_timeout(ws, make_script, current_env):
    src = make_script("""
        import time
        from kyanite.core import Run
        run = Run.get_context()
        for i in range(8):
            run.log("tick", i)
            time.sleep(0.5)
    """)
    run = Experiment(ws, "host-loss").submit(ScriptRunConfig(source_directory=str(src), script="train.py",
                                                             environment=current_env))
    assert run.wait_for_completion()["status"] == "Completed"
    assert run.get_metrics()["tick"] == [float(i) for i in range(8)]


def test_silent_host_fails_on_heartbeat_timeout(ws, make_script, current_env, tmp_path, wait_until):
    """A host that still exists but no longer beats (stopped, hung) is failed after the
    heartbeat timeout, and it and its script are ended."""
    pid_file = tmp_path / "script.pid"
    src = make_script(SCRIPT)
    run = Experiment(ws, "host-loss").submit(ScriptRunConfig(
        source_directory=str(src), script="train.py", arguments=[str(pid_file)], environment=current_env))
    wait_until(pid_file.exists, 30, what="the script to start")
    script_pid = int(pid_file.read_text())
    host_pid = run.get_details()["host"]["pid"]
    os.kill(host_pid, signal.SIGSTOP)
    try:
        t0 = time.time()
        details = run.wait_for_completion(raise_on_error=False)
        assert 2 < time.time() - t0 < 15
        assert details["status"] == "Failed"
        assert details["error"]["code"] == "HeartbeatTimeout"
        assert "run host stopped heartbeating" in details["error"]["message"]
        wait_until(lambda: _gone(host_pid) and _gone(script_pid), 10, what="the host and script to be ended")
    finally:
        try:
            os.kill(host_pid, signal.SIGCONT)
        except OSError:
            pass
