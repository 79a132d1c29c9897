"""A Ray cluster as a compute target: runs execute as Ray jobs (a real single-node cluster)."""

import os
import socket

import psutil
import pytest

from kyanite.core import Experiment, ScriptRunConfig
from kyanite.core.compute import ComputeTarget, RayCompute
from kyanite.core.compute_target import ComputeTargetException
from kyanite.core.runconfig import PyTorchConfiguration

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def ray_target(ws, ray_cluster):
    return ComputeTarget.attach(ws, "ray-cluster", RayCompute.attach_configuration(address=ray_cluster.address))


def job_status(ray_jobs, run):
    return str(ray_jobs.get_job_status(run.get_details()["host"]["job_id"]).value)


def test_attach_and_status(ws, ray_target, ray_cluster, capsys):
    again = ComputeTarget(workspace=ws, name="ray-cluster")
    assert isinstance(again, RayCompute) and again.address == ray_cluster.address
    assert "ray-cluster" in ws.compute_targets
    st = ray_target.get_status()
    assert st.reachable and st.node_count == 1
    assert st.cpus == 2 and st.gpus == 0 and 0 <= st.free_cpus <= 2
    assert st.custom_resources == {"kyanite_test": 4}
    assert st.nodes[0]["ip"] == "127.0.0.1" and st.nodes[0]["total"]["CPU"] == 2
    assert st.capacity == 2  # one run per CPU goes to Ray at once; more wait Queued
    ray_target.wait_for_completion(show_output=True)
    assert "1 node(s), 2 CPUs" in capsys.readouterr().out


def test_attach_refuses_an_unreachable_cluster(ws):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(ComputeTargetException, match="Cannot attach 'nowhere'.*127.0.0.1:%d" % port):
        ComputeTarget.attach(ws, "nowhere", RayCompute.attach_configuration(address="127.0.0.1:%d" % port))
    assert "nowhere" not in ws.compute_targets  # nothing kept
    with pytest.raises(ComputeTargetException, match="dashboard address"):
        RayCompute.attach_configuration(address="ray://127.0.0.1:10001")


def test_run_executes_as_a_ray_job(ws, ray_target, ray_jobs, make_script, current_env, capsys, wait_until):
    src = make_script("""
        import os, sys
        from kyanite.core import Run
        run = Run.get_context()
        print("hello from ray", sys.argv[1:], flush=True)
        for i in range(5):
            run.log("loss", 1.0 / (i + 1))
        run.log("ray_address_set", int(bool(os.environ.get("RAY_ADDRESS"))))
        open("outputs/result.txt", "w").write("done")
    """)
    run = Experiment(ws, "ray-runs").submit(ScriptRunConfig(
        source_directory=str(src), script="train.py", arguments=["--epochs", 2],
        compute_target=ray_target, environment=current_env))
    details = run.wait_for_completion(show_output=True)
    out = capsys.readouterr().out
    assert details["status"] == "Completed", details.get("error")
    host = details["host"]
    assert host["executor"] == "ray" and host["job_id"].startswith("kyanite-%s-" % run.id)
    assert host["request"] == {"CPU": 1}
    # the host reports the final state, then exits: the Ray job ends just after
    wait_until(lambda: job_status(ray_jobs, run) != "RUNNING", timeout=30, what="the Ray job to end")
    assert job_status(ray_jobs, run) == "SUCCEEDED"
    info = ray_jobs.get_job_info(host["job_id"])
    assert info.metadata["kyanite_run_id"] == run.id
    assert info.entrypoint.endswith("-m kyanite.runtime.host --run-id %s" % run.id)
    assert info.runtime_env["env_vars"]["KYANITE_SERVER_URL"].startswith("http://127.0.0.1:")
    assert "hello from ray ['--epochs', '2']" in out  # streamed through the workspace server
    assert run.get_metrics()["loss"] == [1.0, 0.5, 1.0 / 3, 0.25, 0.2]
    assert run.get_metrics()["ray_address_set"] == 1  # the script may use the cluster itself
    assert "outputs/result.txt" in run.get_file_names()
    assert details["target"] == "ray-cluster"


def test_cancel_stops_the_ray_job_and_the_script(ws, ray_target, ray_jobs, make_script, current_env, wait_until):
    src = make_script("""
        import os, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        print("pids", os.getpid(), child.pid, flush=True)
        time.sleep(600)
    """)
    run = Experiment(ws, "ray-runs").submit(ScriptRunConfig(
        source_directory=str(src), script="train.py", compute_target=ray_target, environment=current_env))

    def pids():
        data = run._read_log("user_logs/std_log.txt", 0)[0].decode()
        for line in data.splitlines():
            if line.startswith("pids "):
                return [int(x) for x in line.split()[1:]]
    script_pid, child_pid = wait_until(pids, timeout=60, what="the script to start on Ray")
    assert job_status(ray_jobs, run) == "RUNNING"
    run.cancel()
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Canceled"
    wait_until(lambda: job_status(ray_jobs, run) == "STOPPED", timeout=30, what="the Ray job to stop")
    for pid in (script_pid, child_pid):
        wait_until(lambda: not _running(pid), timeout=20, what="process %d to end" % pid)


def _running(pid):
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_request_no_node_can_hold_fails_with_a_reason(ws, ray_target, make_script, current_env):
    src = make_script("print('never runs')\n")
    run = Experiment(ws, "ray-runs").submit(ScriptRunConfig(
        source_directory=str(src), script="train.py", compute_target=ray_target, environment=current_env,
        resources={"cpu": 64, "resources": {"kyanite_test": 1}}))
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed"
    msg = details["error"]["message"]
    assert "64 CPU" in msg and "no node of the Ray cluster" in msg and "127.0.0.1: 2 CPU" in msg, msg


def test_request_that_fits_later_waits_for_room(ws, ray_target, ray_jobs, make_script, current_env, wait_until):
    """A run that needs the whole cluster waits in Ray (Preparing, with the reason on its
    host record and its heartbeat kept fresh) while another holds it, then runs."""
    busy_src = make_script("import time\nprint('holding', flush=True)\ntime.sleep(600)\n", name="busy.py")
    busy = Experiment(ws, "ray-runs").submit(ScriptRunConfig(
        source_directory=str(busy_src), script="busy.py", compute_target=ray_target, environment=current_env,
        resources={"cpu": 2}))
    wait_until(lambda: busy.get_status() == "Running", timeout=60, what="the first run to hold the cluster")
    waiting = Experiment(ws, "ray-runs").submit(ScriptRunConfig(
        source_directory=str(busy_src), script="busy.py", compute_target=ray_target, environment=current_env,
        resources={"cpu": 1, "resources": {"kyanite_test": 1}}))
    host = wait_until(lambda: (waiting.get_details().get("host") or {}).get("waitingFor"), timeout=30,
                      what="the waiting run's reason")
    assert "needs 1 CPU, 1 kyanite_test on one node" in host and "0 CPU" in host, host
    assert waiting.get_status() == "Preparing"
    assert job_status(ray_jobs, waiting) == "PENDING"
    busy.cancel()
    wait_until(lambda: waiting.get_status() == "Running", timeout=60, what="the waiting run to start")
    waiting.cancel()
    assert busy.wait_for_completion(raise_on_error=False)["status"] == "Canceled"
    assert waiting.wait_for_completion(raise_on_error=False)["status"] == "Canceled"


def test_distributed_pytorch_run_on_ray(ws, ray_target, make_script, current_env):
    """PyTorchConfiguration(node_count=1, process_count_per_node=2): two processes with
    their ranks, an all-reduce over gloo when torch is installed, metrics from both ranks."""
    src = make_script("""
        import os
        from kyanite.core import Run
        run = Run.get_context()
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        print("rank %d of %d local %s master %s:%s" % (rank, world, os.environ["LOCAL_RANK"],
              os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"]), flush=True)
        run.log("rank_seen", rank)
        try:
            import torch, torch.distributed as dist
        except ImportError:
            torch = None
        if torch is not None:
            dist.init_process_group(os.environ["KYANITE_DIST_BACKEND"])
            t = torch.tensor([float(rank + 1)])
            dist.all_reduce(t)
            run.log("allreduce_rank%d" % rank, t.item())
            dist.destroy_process_group()
    """)
    run = Experiment(ws, "ray-dist").submit(ScriptRunConfig(
        source_directory=str(src), script="train.py", compute_target=ray_target, environment=current_env,
        distributed_job_config=PyTorchConfiguration(communication_backend="gloo", node_count=1,
                                                    process_count_per_node=2)))
    details = run.wait_for_completion()
    assert details["status"] == "Completed", details.get("error")
    assert details["host"]["request"] == {"CPU": 2}  # one CPU per process of the node
    assert details["runDefinition"]["distributed"] == {"type": "PyTorch", "backend": "gloo", "nodeCount": 1,
                                                       "processCountPerNode": 2}
    metrics = run.get_metrics()
    assert sorted(metrics["rank_seen"]) == [0, 1]  # every rank logs into the one run
    logs = [run._read_log("user_logs/std_log_process_%d.txt" % r, 0)[0].decode() for r in (0, 1)]
    for r in (0, 1):
        assert "rank %d of 2 local %d master 127.0.0.1:" % (r, r) in logs[r]
    assert "rank 0 of 2" in run._read_log("user_logs/std_log.txt", 0)[0].decode()
    try:
        import torch  # noqa: F401
    except ImportError:
        pytest.skip("torch is not installed here: the all-reduce part is skipped (ranks checked)")
    assert metrics["allreduce_rank0"] == 3.0 and metrics["allreduce_rank1"] == 3.0


def test_a_lost_host_fails_the_run_with_rays_reason(ws, ray_target, ray_jobs, make_script, current_env, wait_until):
    """The run host dies (killed, as when its node is lost): the run fails with Ray's
    reason, and the script it left behind is ended on its node by a small Ray job."""
    src = make_script("""
        import os, time
        print("pid", os.getpid(), flush=True)
        time.sleep(600)
    """)
    run = Experiment(ws, "ray-runs").submit(ScriptRunConfig(
        source_directory=str(src), script="train.py", compute_target=ray_target, environment=current_env))

    def script_pid():
        data = run._read_log("user_logs/std_log.txt", 0)[0].decode()
        return next((int(t.split()[1]) for t in data.splitlines() if t.startswith("pid ")), None)
    pid = wait_until(script_pid, timeout=60, what="the script to start")
    host_pid = run.get_details()["host"]["host_pid"]
    os.kill(host_pid, 9)
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed"
    assert details["error"]["code"] == "HostLost"
    assert "failed without the host reporting" in details["error"]["message"], details["error"]
    assert job_status(ray_jobs, run) == "FAILED"
    wait_until(lambda: not _running(pid), timeout=30, what="the orphaned script to be ended")



def test_a_local_ray_head_for_the_workspace(ws, ray_cluster, make_script, current_env, monkeypatch):
    """``AmlCompute.provisioning_configuration(..., ray=True)`` starts a private Ray head for
    the workspace and ``delete()`` stops it. The head start is stood in for by the session
    cluster (one Ray cluster per test session; LocalRayHead itself is what started it)."""
    from kyanite.compute import ray_head
    from kyanite.core.compute import AmlCompute
    started, stopped = [], []

    class StandIn(object):
        address = ray_cluster.address

        @classmethod
        def start(cls, **options):
            started.append(options)
            return cls()

        @classmethod
        def from_record(cls, record):
            assert record == {"pid": 1, "address": ray_cluster.address}
            return cls()

        def record(self):
            return {"pid": 1, "address": ray_cluster.address}

        def stop(self):
            stopped.append(True)
    monkeypatch.setattr(ray_head, "LocalRayHead", StandIn)
    target = ComputeTarget.create(ws, "ray-local", AmlCompute.provisioning_configuration(max_nodes=1, ray=True))
    assert started == [{"num_cpus": None, "num_gpus": None, "resources": None, "object_store_mb": 200}]
    assert isinstance(target, RayCompute) and target.address == ray_cluster.address
    st = target.get_status()
    assert st.reachable and st.capacity == 1  # max_nodes runs at once
    run = Experiment(ws, "ray-local").submit(ScriptRunConfig(
        source_directory=str(make_script("print('on the local head')\n")), script="train.py",
        compute_target=target, environment=current_env))
    assert run.wait_for_completion()["status"] == "Completed"
    assert run.get_details()["host"]["executor"] == "ray"
    with pytest.raises(ComputeTargetException, match="already exists"):
        ComputeTarget.create(ws, "ray-local", AmlCompute.provisioning_configuration(ray=True))
    assert len(started) == 1  # nothing started for the refused one
    target.delete()
    assert stopped == [True] and "ray-local" not in ws.compute_targets


def test_a_sweep_sends_its_children_to_the_cluster(ws, ray_target, ray_jobs, make_script, current_env):
    hyperdrive = pytest.importorskip("kyanite.train.hyperdrive")
    src = make_script("""
        import argparse
        from kyanite.core import Run
        p = argparse.ArgumentParser()
        p.add_argument("--lr", type=float)
        Run.get_context().log("Accuracy", p.parse_args().lr)
    """)
    hd = hyperdrive.HyperDriveConfig(
        run_config=ScriptRunConfig(source_directory=str(src), script="train.py", compute_target=ray_target,
                                   environment=current_env),
        hyperparameter_sampling=hyperdrive.GridParameterSampling({"--lr": hyperdrive.choice(0.1, 0.5)}),
        primary_metric_name="Accuracy", primary_metric_goal=hyperdrive.PrimaryMetricGoal.MAXIMIZE,
        max_total_runs=2, max_concurrent_runs=2)
    hd_run = Experiment(ws, "ray-sweep").submit(hd)
    assert hd_run.wait_for_completion()["status"] == "Completed"
    children = list(hd_run.get_children())
    assert len(children) == 2
    for child in children:
        d = child.get_details()
        assert d["status"] == "Completed" and d["host"]["executor"] == "ray"
        assert ray_jobs.get_job_info(d["host"]["job_id"]).metadata["kyanite_run_id"] == child.id
    assert hd_run.get_best_run_by_primary_metric().get_metrics()["Accuracy"] == 0.5
