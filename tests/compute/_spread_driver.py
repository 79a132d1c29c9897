"""Runs inside a private network and pid namespace (see test_ray_spread.py): a 2-node Ray
cluster on 127.0.0.1 and one ``node_count=2`` run whose node groups must land on distinct
nodes. Prints one ``RESULT <json>`` line; everything ends with the namespace."""

import json
import os
import sys
import tempfile
import textwrap
import time

from _two_node_driver import wait
from kyanite.compute.ray_head import LocalRayHead, _free_ports, _ray_cli

SCRIPT = """
    import os, socket, time
    import psutil
    from kyanite.core import Run

    def raylet():
        p = psutil.Process()
        while p is not None:
            if p.name() == "raylet" or "raylet" in " ".join(p.cmdline()[:1]):
                return p.pid, "kyray-b-" in " ".join(p.cmdline())
            p = p.parent()
        return None, None

    rank = int(os.environ["RANK"])
    if os.environ.get("SPREAD_DATA"):  # the dataset argument: a folder on this rank's node
        import argparse, gzip
        ap = argparse.ArgumentParser()
        ap.add_argument("--data")
        folder = ap.parse_args().data
        with gzip.open(os.path.join(folder, "t10k-labels-idx1-ubyte.gz")) as f:
            labels = len(f.read()) - 8
        cache = os.environ.get("KYANITE_CACHE_DIR") or os.path.expanduser("~/.cache/kyanite")
        print("RANK", rank, "data", folder, flush=True)
        run = Run.get_context()
        run.log("labels_rank%d" % rank, labels)
        run.log("own_cache_rank%d" % rank, int(os.path.realpath(folder).startswith(os.path.realpath(cache) + os.sep)))
        run.log("cache_b_rank%d" % rank, int(cache.startswith("/tmp/kyray-b-")))
        raise SystemExit(0)
    if os.environ.get("SPREAD_FAIL") and rank == 1:
        raise SystemExit("rank one gives up on node B")
    if os.environ.get("SPREAD_SLEEP"):
        print("up", rank, os.getpid(), flush=True)
        time.sleep(600)
    if os.environ.get("SPREAD_FAIL"):
        print("rank 0 waits", flush=True)
        time.sleep(600)  # in a collective, say: must be stopped
    pid, on_b = raylet()
    print("RANK", rank, "NODE_RANK", os.environ["NODE_RANK"], "raylet", pid, "node_b", on_b, flush=True)
    addr, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
    value = rank + 1
    if rank == 0:  # a two-rank all-reduce (sum) over MASTER_ADDR:MASTER_PORT
        srv = socket.create_server((addr, port))
        conn, _ = srv.accept()
        other = int(conn.recv(64).decode())
        conn.sendall(str(value + other).encode())
        total = value + other
    else:
        for _ in range(300):
            try:
                conn = socket.create_connection((addr, port))
                break
            except OSError:
                time.sleep(0.1)
        conn.sendall(str(value).encode())
        total = int(conn.recv(64).decode())
    run = Run.get_context()
    run.log("sum_rank%d" % rank, total)
    run.log("on_b_rank%d" % rank, int(bool(on_b)))
    run.log("raylet_rank%d" % rank, pid or 0)
"""


def main():
    import shutil
    import subprocess
    state = {}
    try:
        head = state["head"] = LocalRayHead.start(num_cpus=1, resources={"node_a": 1}, object_store_mb=100)
        nm, om, ah, ag, rt, mp, dm = _free_ports(7)
        tmp_b = state["tmp_b"] = tempfile.mkdtemp(prefix="kyray-b-", dir="/tmp")
        state["node_b"] = subprocess.Popen(_ray_cli() + [
            "start", "--block", "--address", head.gcs_address, "--node-ip-address", "127.0.0.1",
            "--num-cpus", "1", "--resources", json.dumps({"node_b": 1}), "--temp-dir", tmp_b,
            "--node-manager-port", str(nm), "--object-manager-port", str(om),
            "--dashboard-agent-listen-port", str(ah), "--dashboard-agent-grpc-port", str(ag),
            "--runtime-env-agent-port", str(rt), "--metrics-export-port", str(mp),
            "--object-store-memory", str(100 * 2 ** 20), "--disable-usage-stats"],
            stdout=open(os.path.join(tmp_b, "start.log"), "wb"), stderr=subprocess.STDOUT, start_new_session=True,
            env=dict(os.environ, KYANITE_CACHE_DIR=os.path.join(tmp_b, "cache")))  # node B's own node cache

        from kyanite.core import Environment, Experiment, ScriptRunConfig, Workspace
        from kyanite.core.compute import ComputeTarget, RayCompute
        from kyanite.core.runconfig import PyTorchConfiguration
        ws = Workspace.create(name="spread", path=tempfile.mkdtemp(), show_output=False)
        target = ComputeTarget.attach(ws, "ray2", RayCompute.attach_configuration(address=head.address))
        wait(lambda: target.get_status().node_count == 2, 180, "the second node")
        env = Environment("current")
        env.python.user_managed_dependencies = True
        env.python.interpreter_path = sys.executable
        src = tempfile.mkdtemp()
        with open(os.path.join(src, "train.py"), "w") as f:
            f.write(textwrap.dedent(SCRIPT))
        t0 = time.time()
        run = Experiment(ws, "spread").submit(ScriptRunConfig(
            source_directory=src, script="train.py", compute_target=target, environment=env,
            distributed_job_config=PyTorchConfiguration(node_count=2, process_count_per_node=1)))
        d = run.wait_for_completion(raise_on_error=False)
        logs = dict((name, run._read_log(name, 0)[0].decode()) for name in (
            "user_logs/std_log.txt", "user_logs/std_log_process_0.txt", "user_logs/std_log_process_1.txt",
            "user_logs/std_log_node_1.txt"))
        out = {"status": d["status"], "error": d.get("error"), "metrics": run.get_metrics(),
               "logs": logs, "seconds": round(time.time() - t0, 1)}

        # rank 1 fails on node B: rank 0 (here) is stopped, the run fails with rank 1's words
        fail_env = Environment("current-fail")
        fail_env.python.user_managed_dependencies = True
        fail_env.python.interpreter_path = sys.executable
        fail_env.environment_variables = {"SPREAD_FAIL": "1"}
        t0 = time.time()
        bad = Experiment(ws, "spread").submit(ScriptRunConfig(
            source_directory=src, script="train.py", compute_target=target, environment=fail_env,
            distributed_job_config=PyTorchConfiguration(node_count=2, process_count_per_node=1)))
        d = bad.wait_for_completion(raise_on_error=False)
        out["failed"] = {"status": d["status"], "error": d.get("error"), "seconds": round(time.time() - t0, 1),
                         "driver": bad._read_log("user_logs/std_log.txt", 0)[0].decode()}

        # cancel ends the ranks on both nodes
        sleep_env = Environment("current-sleep")
        sleep_env.python.user_managed_dependencies = True
        sleep_env.python.interpreter_path = sys.executable
        sleep_env.environment_variables = {"SPREAD_SLEEP": "1"}
        sleepy = Experiment(ws, "spread").submit(ScriptRunConfig(
            source_directory=src, script="train.py", compute_target=target, environment=sleep_env,
            distributed_job_config=PyTorchConfiguration(node_count=2, process_count_per_node=1)))

        def pids(run):
            got = []
            for r in (0, 1):
                text = run._read_log("user_logs/std_log_process_%d.txt" % r, 0)[0].decode()
                got += [int(t.split()[2]) for t in text.splitlines() if t.startswith("up ")]
            return got if len(got) == 2 else None
        import psutil

        def alive(ranks):
            left = []
            for p in ranks:
                try:
                    if psutil.Process(p).status() != psutil.STATUS_ZOMBIE:
                        left.append(p)
                except psutil.NoSuchProcess:
                    pass
            return left

        def ends(run, stop, key):
            ranks = wait(lambda: pids(run), 120, "both ranks to start")
            t0 = time.time()
            stop()
            d = run.wait_for_completion(raise_on_error=False)
            deadline = time.time() + 30
            while alive(ranks) and time.time() < deadline:
                time.sleep(0.2)
            left = alive(ranks)
            out[key] = {"status": d["status"], "seconds": round(time.time() - t0, 1), "gone": not left,
                        "left": [" ".join(psutil.Process(p).cmdline()) for p in left],
                        "driver": run._read_log("user_logs/std_log.txt", 0)[0].decode()[-3000:],
                        "node1": run._read_log("user_logs/std_log_node_1.txt", 0)[0].decode()[-2000:]}

        ends(sleepy, sleepy.cancel, "canceled")

        # Ray's own stop_job (SIGTERM to the host, a Ray driver) ends the ranks on both nodes
        from ray.job_submission import JobSubmissionClient
        jobs = JobSubmissionClient(head.address)
        stopped = Experiment(ws, "spread").submit(ScriptRunConfig(
            source_directory=src, script="train.py", compute_target=target, environment=sleep_env,
            distributed_job_config=PyTorchConfiguration(node_count=2, process_count_per_node=1)))

        def stop_job():
            job = next(j.submission_id for j in jobs.list_jobs()
                       if (j.submission_id or "").startswith("kyanite-%s-" % stopped.id))
            jobs.stop_job(job)
        ends(stopped, stop_job, "ray_stopped")

        # a dataset input is prepared on each node, in that node's cache
        from kyanite.core import Dataset
        ds = Dataset.File.from_files(path=[os.path.join(os.environ["KYANITE_MNIST_DIR"], "t10k-labels-idx1-ubyte.gz")])
        ds = ds.register(ws, name="labels")
        data_env = Environment("current-data")
        data_env.python.user_managed_dependencies = True
        data_env.python.interpreter_path = sys.executable
        data_env.environment_variables = {"SPREAD_DATA": "1"}
        fed = Experiment(ws, "spread").submit(ScriptRunConfig(
            source_directory=src, script="train.py", compute_target=target, environment=data_env,
            arguments=["--data", ds.as_named_input("labels").as_mount()],
            distributed_job_config=PyTorchConfiguration(node_count=2, process_count_per_node=1)))
        d = fed.wait_for_completion(raise_on_error=False)
        out["data"] = {"status": d["status"], "error": d.get("error"), "metrics": fed.get_metrics(),
                       "node1": fed._read_log("user_logs/std_log_node_1.txt", 0)[0].decode()[-2000:]}
        print("RESULT " + json.dumps(out), flush=True)
    finally:
        if state.get("node_b") is not None:
            state["node_b"].kill()
        if state.get("head") is not None:
            state["head"].stop(grace=2)
        if state.get("tmp_b"):
            shutil.rmtree(state["tmp_b"], ignore_errors=True)


if __name__ == "__main__":
    main()
