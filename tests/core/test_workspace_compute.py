"""Workspace files and reuse of the running server; compute targets; queueing on a full
target; cancel of queued and running runs; live log streaming."""

import json
import os
import threading
import time

import psutil
import pytest

from kyanite.core import Experiment, ScriptRunConfig, Workspace
from kyanite.core.compute import AmlCompute, ComputeTarget
from kyanite.core.compute_target import ComputeTargetException
from kyanite.server.layout import WorkspaceLayout


def test_create_writes_config(ws):
    layout = WorkspaceLayout.for_path(ws.path)
    cfg = json.load(open(os.path.join(ws.path, ".kyanite", "config.json")))
    assert cfg == {"workspace_name": "test-ws", "workspace_dir": layout.root}
    settings = layout.settings()
    info = layout.server_info()
    assert settings["name"] == "test-ws" and settings["host"] == "127.0.0.1"
    assert info["url"] == ws.server_url == "http://127.0.0.1:%d" % settings["port"]
    assert ws.get_details()["workspaceDir"] == layout.root


def test_from_config_in_subfolder_reuses_server(ws, monkeypatch):
    sub = os.path.join(ws.path, "notebooks", "deep")
    os.makedirs(sub, exist_ok=True)
    monkeypatch.chdir(sub)
    pid = WorkspaceLayout.for_path(ws.path).server_info()["pid"]
    again = Workspace.from_config()
    assert again.name == "test-ws" and again.server_url == ws.server_url and again == ws
    assert WorkspaceLayout.for_path(ws.path).server_info()["pid"] == pid
    assert Workspace.create(name="test-ws", path=ws.path, show_output=False).server_url == ws.server_url


def test_create_refuses_other_name(ws):
    from kyanite.exceptions import UserErrorException
    with pytest.raises(UserErrorException, match="already holds workspace 'test-ws'"):
        Workspace.create(name="other", path=ws.path, show_output=False)


def test_missing_compute_target(ws):
    with pytest.raises(ComputeTargetException, match="'?missing'?.*not found") as info:
        ComputeTarget(workspace=ws, name="missing")
    assert "ComputeTarget.create" in info.value.message


def test_compute_target_lifecycle(ws, capsys):
    target = ComputeTarget.create(ws, "cpu-life", AmlCompute.provisioning_configuration(vm_size="cpu", max_nodes=3))
    assert isinstance(target, AmlCompute) and target.max_nodes == 3
    target.wait_for_completion(show_output=True)
    assert "Succeeded" in capsys.readouterr().out
    st = target.get_status()
    assert (st.capacity, st.running_run_count, st.queued_run_count, st.free_capacity) == (3, 0, 0, 3)
    assert "cpu-life" in ws.compute_targets and "local" not in ws.compute_targets
    fetched = ComputeTarget(workspace=ws, name="cpu-life")
    assert isinstance(fetched, AmlCompute) and fetched.name == "cpu-life"
    with pytest.raises(ComputeTargetException, match="already exists"):
        ComputeTarget.create(ws, "cpu-life", AmlCompute.provisioning_configuration(max_nodes=1))
    with pytest.raises(ComputeTargetException, match="max_nodes"):
        AmlCompute.provisioning_configuration(max_nodes=0)
    target.delete()
    assert "cpu-life" not in ws.compute_targets
    with pytest.raises(ComputeTargetException):
        ComputeTarget(workspace=ws, name="cpu-life")


HOLD_SCRIPT = """
    import os, sys, time
    from kyanite.core import Run
    run = Run.get_context()
    gate, name = sys.argv[1], sys.argv[2]
    open(os.path.join(os.path.dirname(gate), name + ".started"), "w").close()
    deadline = time.time() + 60
    while not os.path.exists(gate) and time.time() < deadline:
        time.sleep(0.05)
    run.log("held", 1)
    print(name, "released")
"""


def test_max_nodes_queues_extra_runs(ws, make_script, current_env, tmp_path, wait_until):
    target = ComputeTarget.create(ws, "one-node", AmlCompute.provisioning_configuration(max_nodes=1))
    src = make_script(HOLD_SCRIPT)
    gate = tmp_path / "gate"
    exp = Experiment(ws, "queueing")

    def submit(name):
        return exp.submit(ScriptRunConfig(source_directory=str(src), script="train.py", arguments=[str(gate), name],
                                          compute_target=target, environment=current_env))
    first = submit("first")
    wait_until(lambda: first.get_status() == "Running", 30, what="the first run to start")
    second, third = submit("second"), submit("third")
    # while the first one holds the only slot, the others wait Queued
    seen = set()
    end = time.time() + 1.5
    while time.time() < end:
        seen.add((first.get_status(), second.get_status(), third.get_status()))
        time.sleep(0.1)
    assert seen == {("Running", "Queued", "Queued")}
    st = target.get_status()
    assert (st.running_run_count, st.queued_run_count, st.free_capacity) == (1, 2, 0)
    assert not (tmp_path / "second.started").exists()
    # cancel of a queued run: at once
    t0 = time.time()
    third.cancel()
    assert third.get_status() == "Canceled" and time.time() - t0 < 2
    gate.write_text("go")
    assert first.wait_for_completion()["status"] == "Completed"
    assert second.wait_for_completion()["status"] == "Completed"
    assert third.get_status() == "Canceled" and not (tmp_path / "third.started").exists()
    d1, d2 = first.get_details(), second.get_details()
    assert d2["startTimeUtc"] >= d1["endTimeUtc"]  # never both at once
    assert d2["target"] == "one-node"
    fourth = submit("fourth")
    with pytest.raises(ComputeTargetException, match="1 queued or running"):
        target.delete()
    ComputeTarget(workspace=ws, name="one-node")  # still there
    assert fourth.wait_for_completion()["status"] == "Completed"
    target.delete()


CANCEL_SCRIPT = """
    import os, subprocess, sys, time
    from kyanite.core import Run
    run = Run.get_context()
    child = subprocess.Popen(["sleep", "300"])
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write("%d %d" % (os.getpid(), child.pid))
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    run.log("started", 1)
    print("sleeping", flush=True)
    time.sleep(300)
"""


def test_cancel_running_run_ends_process_tree(ws, make_script, current_env, tmp_path, wait_until):
    pids_file = tmp_path / "pids"
    src = make_script(CANCEL_SCRIPT)
    run = Experiment(ws, "cancel").submit(ScriptRunConfig(
        source_directory=str(src), script="train.py", arguments=[str(pids_file)], environment=current_env))
    wait_until(pids_file.exists, 30, what="the script to start")
    script_pid, child_pid = [int(x) for x in pids_file.read_text().split()]
    assert psutil.pid_exists(script_pid) and psutil.pid_exists(child_pid)
    assert run.get_status() == "Running"
    t0 = time.time()
    run.cancel()
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Canceled" and time.time() - t0 < 10

    def gone(pid):
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True
    wait_until(lambda: gone(script_pid) and gone(child_pid), 5, what="the script and its child to end")
    assert run.get_metrics() == {"started": 1.0}
    assert "sleeping" in run.get_details_with_logs()["logFiles"]["user_logs/std_log.txt"]


STREAM_SCRIPT = """
    import sys, time
    print("line before the sleep", flush=True)
    sys.stderr.write("a line on stderr\\n")
    time.sleep(3)
    print("line after the sleep")
"""


def test_wait_for_completion_streams_live(ws, make_script, current_env, capsys):
    src = make_script(STREAM_SCRIPT)
    run = Experiment(ws, "stream").submit(ScriptRunConfig(source_directory=str(src), script="train.py",
                                                          environment=current_env))
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("d", run.wait_for_completion(show_output=True)))
    t.start()
    seen = ""
    status_when_seen = None
    deadline = time.time() + 30
    while time.time() < deadline and t.is_alive():
        seen += capsys.readouterr().out
        if "line before the sleep" in seen:
            status_when_seen = run.get_status()
            break
        time.sleep(0.05)
    assert status_when_seen == "Running", seen  # streamed while the script still ran
    assert "line after the sleep" not in seen
    t.join(30)
    seen += capsys.readouterr().out
    assert result["d"]["status"] == "Completed"
    assert seen.index("line before the sleep") < seen.index("line after the sleep")
    assert "a line on stderr" in seen
    assert "RunId: %s" % run.id in seen and "Status: Completed" in seen
    assert seen.count("line after the sleep") == 1


def test_script_leaving_a_child_behind_completes(ws, make_script, current_env, tmp_path, wait_until):
    """A background process that inherited the script's output neither holds the run open
    nor outlives it."""
    pid_file = tmp_path / "child.pid"
    src = make_script("""
        import subprocess, sys
        child = subprocess.Popen(["sleep", "300"])
        open(sys.argv[1], "w").write(str(child.pid))
        print("leaving", child.pid)
    """)
    run = Experiment(ws, "stray").submit(ScriptRunConfig(source_directory=str(src), script="train.py",
                                                         arguments=[str(pid_file)], environment=current_env))
    t0 = time.time()
    wait_until(lambda: run.get_status() in ("Completed", "Failed", "Canceled"), 20,
               what="the run to end although its child still runs")
    assert run.get_status() == "Completed" and time.time() - t0 < 20
    child = int(pid_file.read_text())

    def gone():
        try:
            return psutil.Process(child).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True
    wait_until(gone, 5, what="the stray child to be ended")
    assert "leaving" in run.get_details_with_logs()["logFiles"]["user_logs/std_log.txt"]


def test_ray_flag_gives_a_private_ray_head_configuration():
    from kyanite.core.compute import RayCompute
    cfg = AmlCompute.provisioning_configuration(max_nodes=2, ray=True)
    assert type(cfg) is type(RayCompute.provisioning_configuration())
    assert cfg.config["executor"] == "ray" and cfg.config["max_concurrent_runs"] == 2
