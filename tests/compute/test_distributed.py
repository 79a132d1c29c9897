"""Distributed runs on the local target: one process per rank, with the variables each
framework expects; a failing rank stops the others; cancel ends them all."""

import json

import pytest

from kyanite.core import Experiment, ScriptRunConfig
from kyanite.core.runconfig import (
    MpiConfiguration, PyTorchConfiguration, ResourceConfiguration, TensorflowConfiguration,
)
from kyanite.exceptions import UserErrorException

pytestmark = pytest.mark.timeout(120)

DUMP = """
    import json, os
    from kyanite.core import Run
    run = Run.get_context()
    keys = [k for k in os.environ if k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "NODE_RANK",
            "MASTER_ADDR", "MASTER_PORT", "TF_CONFIG", "KYANITE_DIST_BACKEND", "JAX_COORDINATOR_ADDRESS",
            "JAX_NUM_PROCESSES", "JAX_PROCESS_ID", "OMP_NUM_THREADS") or k.startswith(("OMPI_", "PMI_"))]
    print("ENV " + json.dumps(dict((k, os.environ[k]) for k in keys), sort_keys=True), flush=True)
    run.log("ranks", int(os.environ.get("RANK", -1)))
"""


def envs(run, n):
    out = []
    for r in range(n):
        text = run._read_log("user_logs/std_log_process_%d.txt" % r, 0)[0].decode()
        line = next(t for t in text.splitlines() if t.startswith("ENV "))
        out.append(json.loads(line[4:]))
    return out


def submit(ws, src, env, dist, **kw):
    return Experiment(ws, "dist").submit(ScriptRunConfig(
        source_directory=str(src), script="train.py", environment=env, distributed_job_config=dist, **kw))


def test_pytorch_two_node_groups_on_one_machine(ws, make_script, current_env):
    run = submit(ws, make_script(DUMP), current_env, PyTorchConfiguration(process_count=4, node_count=2))
    details = run.wait_for_completion()
    assert details["status"] == "Completed", details.get("error")
    e = envs(run, 4)
    assert [x["RANK"] for x in e] == ["0", "1", "2", "3"]
    assert [x["LOCAL_RANK"] for x in e] == ["0", "1", "0", "1"]
    assert [x["NODE_RANK"] for x in e] == ["0", "0", "1", "1"]
    assert {x["WORLD_SIZE"] for x in e} == {"4"} and {x["LOCAL_WORLD_SIZE"] for x in e} == {"2"}
    assert {x["MASTER_ADDR"] for x in e} == {"127.0.0.1"} and len({x["MASTER_PORT"] for x in e}) == 1
    assert {x["KYANITE_DIST_BACKEND"] for x in e} == {"nccl"}
    assert [x["JAX_PROCESS_ID"] for x in e] == ["0", "1", "2", "3"] and e[0]["JAX_NUM_PROCESSES"] == "4"
    assert sorted(run.get_metrics()["ranks"]) == [0, 1, 2, 3]
    assert details["runDefinition"]["framework"] == "PyTorch" and details["runDefinition"]["nodeCount"] == 2


def test_mpi_ranks_without_mpirun(ws, make_script, current_env):
    run = submit(ws, make_script(DUMP), current_env, MpiConfiguration(process_count_per_node=3))
    assert run.wait_for_completion()["status"] == "Completed"
    e = envs(run, 3)
    assert [x["OMPI_COMM_WORLD_RANK"] for x in e] == ["0", "1", "2"]
    assert {x["OMPI_COMM_WORLD_SIZE"] for x in e} == {"3"} and [x["PMI_RANK"] for x in e] == ["0", "1", "2"]
    assert [x["OMPI_COMM_WORLD_LOCAL_RANK"] for x in e] == ["0", "1", "2"]


def test_tensorflow_config_per_task(ws, make_script, current_env):
    run = submit(ws, make_script(DUMP), current_env, TensorflowConfiguration(worker_count=2, parameter_server_count=1))
    assert run.wait_for_completion()["status"] == "Completed"
    tf = [json.loads(x["TF_CONFIG"]) for x in envs(run, 3)]
    assert [t["task"] for t in tf] == [{"type": "worker", "index": 0}, {"type": "worker", "index": 1},
                                       {"type": "ps", "index": 0}]
    cluster = tf[0]["cluster"]
    assert all(t["cluster"] == cluster for t in tf)
    assert len(cluster["worker"]) == 2 and len(cluster["ps"]) == 1
    assert len(set(cluster["worker"] + cluster["ps"])) == 3


def test_a_failing_rank_stops_the_others(ws, make_script, current_env):
    src = make_script("""
        import os, time
        if os.environ["RANK"] == "1":
            raise SystemExit("rank one gives up")
        time.sleep(600)  # waits forever in a collective, say
    """)
    run = submit(ws, src, current_env, PyTorchConfiguration(process_count=2))
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed"
    assert details["error"]["exitCode"] == 1
    assert "[rank 1] rank one gives up" in details["error"]["message"]
    driver = run._read_log("user_logs/std_log.txt", 0)[0].decode()
    assert "rank 1 exited with code 1; stopping the other 1 processes" in driver


def test_cancel_ends_every_rank(ws, make_script, current_env, wait_until):
    src = make_script("""
        import os, time
        print("up", os.environ["RANK"], os.getpid(), flush=True)
        time.sleep(600)
    """)
    run = submit(ws, src, current_env, MpiConfiguration(process_count_per_node=2))

    def pids():
        got = []
        for r in (0, 1):
            text = run._read_log("user_logs/std_log_process_%d.txt" % r, 0)[0].decode()
            got += [int(t.split()[2]) for t in text.splitlines() if t.startswith("up ")]
        return got if len(got) == 2 else None
    ranks = wait_until(pids, timeout=60, what="both ranks to start")
    run.cancel()
    assert run.wait_for_completion(raise_on_error=False)["status"] == "Canceled"
    import psutil
    for pid in ranks:
        wait_until(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
                   timeout=15, what="rank process %d to end" % pid)


def test_configurations_check_their_arguments():
    assert PyTorchConfiguration(process_count=6, node_count=3).process_count_per_node == 2
    assert PyTorchConfiguration(node_count=2, process_count_per_node=2).process_count == 4
    assert PyTorchConfiguration().process_count == 1
    with pytest.raises(UserErrorException, match="not a multiple"):
        PyTorchConfiguration(process_count=3, node_count=2)
    with pytest.raises(UserErrorException, match="does not match"):
        PyTorchConfiguration(process_count=3, node_count=1, process_count_per_node=2)
    with pytest.raises(UserErrorException, match="node_count must be 1 or more"):
        MpiConfiguration(node_count=0)
    with pytest.raises(UserErrorException, match="whole number"):
        MpiConfiguration(process_count_per_node="two")
    assert TensorflowConfiguration(worker_count=2, parameter_server_count=0).process_count == 2
    with pytest.raises(UserErrorException, match="must not be negative"):
        ResourceConfiguration(cpu=-1)
    with pytest.raises(UserErrorException, match="Unknown resource keys"):
        ScriptRunConfig(script="x.py", resources={"cpus": 2})
    with pytest.raises(UserErrorException, match="distributed_job_config must be"):
        ScriptRunConfig(script="x.py", distributed_job_config={"node_count": 2})
    src = ScriptRunConfig(script="x.py", resources=ResourceConfiguration(cpu=2, gpu=0.5, resources={"a": 1}),
                          distributed_job_config=MpiConfiguration(process_count_per_node=2))
    part = src._distribution()
    assert part["resources"] == {"cpu": 2, "gpu": 0.5, "custom": {"a": 1}} and part["cpuCount"] == 2
    assert part["distributed"] == {"type": "Mpi", "nodeCount": 1, "processCountPerNode": 2}
    assert part["communicator"] == "IntelMpi"
