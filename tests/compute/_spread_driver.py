"""Runs inside a private network and pid namespace (see test_ray_spread.py): a 2-node Ray
cluster on 127.0.0.1 and one ``node_count=2`` run whose node groups must land on distinct
nodes. Prints one ``RESULT <json>`` line; everything ends with the namespace."""

import json
import os
import sys
import tempfile
import textwrap
import time

from _two_node_driver import start_cluster, stop_cluster, wait

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
    state = {}
    try:
        head = start_cluster(state, node_b_env=lambda tmp_b: {  # node B's own node cache
            "KYANITE_CACHE_DIR": os.path.join(tmp_b, "cache")})

        from kyanite.core import Environment, Experiment, ScriptRunConfig, Workspace
        from kyanite.core.compute import ComputeTarget, RayCompute
        from kyanite.core.runconfig import PyTorchConfiguration
        ws = Workspace.create(name="spread", path=tempfile.mkdtemp(), show_output=False)
        target = ComputeTarget.attach(ws, "ray2", RayCompute.attach_configuration(address=head.address))
        wait(lambda: target.get_status().node_count == 2, 180, "the second node")
        src = tempfile.mkdtemp()
        with open(os.path.join(src, "train.py"), "w") as f:
            f.write(textwrap.dedent(SCRIPT))

        def submit(mode=None, arguments=None):
            """SCRIPT over two nodes (one rank each), this interpreter, ``SPREAD_<mode>=1``."""
            env = Environment("current" + ("-" + mode.lower() if mode else ""))
            env.python.user_managed_dependencies = True
            env.python.interpreter_path = sys.executable
            env.environment_variables = {"SPREAD_" + mode: "1"} if mode else {}
            return Experiment(ws, "spread").submit(ScriptRunConfig(
                source_directory=src, script="train.py", compute_target=target, environment=env,
                arguments=arguments or [],
                distributed_job_config=PyTorchConfiguration(node_count=2, process_count_per_node=1)))

        t0 = time.time()
        run = submit()
        d = run.wait_for_completion(raise_on_error=False)
        logs = dict((name, run._read_log(name, 0)[0].decode()) for name in (
            "user_logs/std_log.txt", "user_logs/std_log_process_0.txt", "user_logs/std_log_process_1.txt",
            "user_logs/std_log_node_1.txt"))
        out = {"status": d["status"], "error": d.get("error"), "metrics": run.get_metrics(),
               "logs": logs, "seconds": round(time.time() - t0, 1)}

        # rank 1 fails on node B: rank 0 (here) is stopped, the run fails with rank 1's words
        t0 = time.time()
        bad = submit("FAIL")
        d = bad.wait_for_completion(raise_on_error=False)
        out["failed"] = {"status": d["status"], "error": d.get("error"), "seconds": round(time.time() - t0, 1),
                         "driver": bad._read_log("user_logs/std_log.txt", 0)[0].decode()}

        # cancel ends the ranks on both nodes
        sleepy = submit("SLEEP")

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
        stopped = submit("SLEEP")

        def stop_job():
            job = next(j.submission_id for j in jobs.list_jobs()
                       if (j.submission_id or "").startswith("kyanite-%s-" % stopped.id))
            jobs.stop_job(job)
        ends(stopped, stop_job, "ray_stopped")

        # a dataset input is prepared on each node, in that node's cache
        from kyanite.core import Dataset
        ds = Dataset.File.from_files(path=[os.path.join(os.environ["KYANITE_MNIST_DIR"], "t10k-labels-idx1-ubyte.gz")])
        ds = ds.register(ws, name="labels")
        fed = submit("DATA", ["--data", ds.as_named_input("labels").as_mount()])
        d = fed.wait_for_completion(raise_on_error=False)
        out["data"] = {"status": d["status"], "error": d.get("error"), "metrics": fed.get_metrics(),
                       "node1": fed._read_log("user_logs/std_log_node_1.txt", 0)[0].decode()[-2000:]}
        print("RESULT " + json.dumps(out), flush=True)
    finally:
        stop_cluster(state)


if __name__ == "__main__":
    main()
