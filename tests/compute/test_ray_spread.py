"""One run over two Ray nodes: ``node_count=2`` reserves a STRICT_SPREAD placement group
and starts one node group per node (rank 0 with the run host, rank 1 on the other node),
with the same MASTER_ADDR/MASTER_PORT, and the ranks talk to each other; a rank that fails
on the other node stops the run; cancel, and Ray's own stop_job, end the ranks on both
nodes; each node prepares a dataset input in its own node cache. Runs in a private network
and pid namespace like test_ray_two_nodes.py."""

import json

import pytest

from test_ray_two_nodes import run_driver_in_namespace

pytestmark = pytest.mark.timeout(540)


def test_node_groups_on_distinct_ray_nodes(tmp_path, mnist_dir):
    out = run_driver_in_namespace("_spread_driver.py", tmp_path, KYANITE_MNIST_DIR=str(mnist_dir))
    assert out["status"] == "Completed", json.dumps(out, indent=1)[-6000:]
    m = out["metrics"]
    assert m["sum_rank0"] == m["sum_rank1"] == 3  # the all-reduce across the two nodes
    assert (m["on_b_rank0"], m["on_b_rank1"]) == (0, 1), m  # rank 1 under node B's raylet
    assert m["raylet_rank0"] != m["raylet_rank1"] and m["raylet_rank0"] and m["raylet_rank1"], m
    logs = out["logs"]
    assert "RANK 0 NODE_RANK 0" in logs["user_logs/std_log_process_0.txt"]
    assert "RANK 1 NODE_RANK 1" in logs["user_logs/std_log_process_1.txt"]
    assert "reserving 2 nodes on Ray (STRICT_SPREAD" in logs["user_logs/std_log.txt"]
    assert "started 1 processes (ranks 1-1)" in logs["user_logs/std_log_node_1.txt"]

    failed = out["failed"]
    assert failed["status"] == "Failed", failed
    assert "[rank 1] rank one gives up on node B" in failed["error"]["message"], failed
    assert "node group 1 failed (rank 1 exited with code 1); stopping the others" in failed["driver"], failed
    assert failed["seconds"] < 60, failed  # rank 0 did not sleep its 600 s

    for key in ("canceled", "ray_stopped"):  # through kyanite, and through Ray's stop_job
        ended = out[key]
        assert ended["status"] == "Canceled" and ended["gone"], json.dumps(ended, indent=1)

    data = out["data"]  # each node mounted the dataset from its own node cache
    assert data["status"] == "Completed", data
    m = data["metrics"]
    assert m["labels_rank0"] == m["labels_rank1"] == 10000, m
    assert m["own_cache_rank0"] == m["own_cache_rank1"] == 1 and (m["cache_b_rank0"], m["cache_b_rank1"]) == (0, 1), m
    assert "dataset labels" in data["node1"] and "1 downloaded" in data["node1"], data["node1"]
