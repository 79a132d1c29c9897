"""Runs inside a private network and pid namespace (see test_ray_two_nodes.py): a 2-node
Ray cluster on 127.0.0.1, a workspace, runs pinned to each node by custom resources, and
a node killed mid-run. Prints one ``RESULT <json>`` line. Everything it starts ends with
the namespace when this process (its pid 1) exits.
"""

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time

from kyanite.compute.ray_head import LocalRayHead, _free_ports, _ray_cli


def wait(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    raise SystemExit("timed out waiting for %s" % what)


def start_cluster(state, extra_env=None, node_b_env=None):
    """A head (resource ``node_a``) and a second node (``node_b``, its own ports and temp
    dir) joining its GCS on 127.0.0.1; both recorded in ``state`` for ``stop_cluster``.
    ``extra_env`` goes to both nodes; ``node_b_env(tmp_b)``, given node B's temp dir, says
    what goes to node B only. Returns the head."""
    head = state["head"] = LocalRayHead.start(num_cpus=1, resources={"node_a": 1}, object_store_mb=100,
                                              extra_env=extra_env)
    nm, om, ah, ag, rt, mp, dm = _free_ports(7)
    tmp_b = state["tmp_b"] = tempfile.mkdtemp(prefix="kyray-b-", dir="/tmp")
    env = dict(os.environ, **dict(extra_env or {}, **(node_b_env(tmp_b) if node_b_env else {})))
    state["node_b"] = subprocess.Popen(_ray_cli() + [
        "start", "--block", "--address", head.gcs_address, "--node-ip-address", "127.0.0.1",
        "--num-cpus", "1", "--resources", json.dumps({"node_b": 1}), "--temp-dir", tmp_b,
        "--node-manager-port", str(nm), "--object-manager-port", str(om), "--dashboard-agent-listen-port", str(ah),
        "--dashboard-agent-grpc-port", str(ag), "--runtime-env-agent-port", str(rt), "--metrics-export-port", str(mp),
        "--object-store-memory", str(100 * 2 ** 20), "--disable-usage-stats"],
        env=env, stdout=open(os.path.join(tmp_b, "start.log"), "wb"), stderr=subprocess.STDOUT,
        start_new_session=True)
    return head


def stop_cluster(state):
    import shutil
    if state.get("node_b") is not None:
        state["node_b"].kill()
    if state.get("head") is not None:
        state["head"].stop(grace=2)
    if state.get("tmp_b"):
        shutil.rmtree(state["tmp_b"], ignore_errors=True)


def main():
    state = {}
    try:
        run_all(state)
    finally:
        stop_cluster(state)


def run_all(state):
    out = {}
    fast_health = {"RAY_health_check_period_ms": "1000", "RAY_health_check_failure_threshold": "3",
                   "RAY_health_check_timeout_ms": "1000"}
    t0 = time.time()
    head = start_cluster(state, extra_env=fast_health)
    tmp_b, node_b = state["tmp_b"], state["node_b"]

    from kyanite.core import Environment, Experiment, ScriptRunConfig, Workspace
    from kyanite.core.compute import ComputeTarget, RayCompute
    ws = Workspace.create(name="two-nodes", path=tempfile.mkdtemp(), show_output=False)
    target = ComputeTarget.attach(ws, "ray2", RayCompute.attach_configuration(address=head.address))
    try:
        st = wait(lambda: (lambda s: s if s.node_count == 2 else None)(target.get_status()), 180, "the second node")
    except SystemExit:
        with open(os.path.join(tmp_b, "start.log"), "rb") as f:
            sys.stderr.write("node B (exit %s):\n%s\n" % (node_b.poll(), f.read()[-4000:].decode("utf-8", "replace")))
        raise
    out["startup_s"] = round(time.time() - t0, 1)
    out["nodes"] = sorted((n["ip"], sorted(k for k in n["total"] if k.startswith("node_"))) for n in st.nodes)
    by_res = dict((r, n["nodeId"]) for n in st.nodes for r in n["total"] if r in ("node_a", "node_b"))

    env_ = Environment("current")
    env_.python.user_managed_dependencies = True
    env_.python.interpreter_path = sys.executable
    src = tempfile.mkdtemp()
    with open(os.path.join(src, "train.py"), "w") as f:
        f.write(textwrap.dedent("""
            import os, sys, time
            from kyanite.core import Run
            run = Run.get_context()
            run.log("on_" + sys.argv[1], 1)
            print("running on", sys.argv[1], os.getpid(), flush=True)
            time.sleep(float(sys.argv[2]))
        """))
    exp = Experiment(ws, "two-nodes")

    def submit(res, seconds):
        return exp.submit(ScriptRunConfig(source_directory=src, script="train.py", arguments=[res, seconds],
                                          compute_target=target, environment=env_,
                                          resources={"cpu": 1, "resources": {res: 1}}))
    from ray.job_submission import JobSubmissionClient
    jobs = JobSubmissionClient(head.address)
    runs = {"node_a": submit("node_a", 0), "node_b": submit("node_b", 0)}
    out["runs"] = {}
    for res, run in runs.items():
        d = run.wait_for_completion(raise_on_error=False)
        node = jobs.get_job_info(d["host"]["job_id"]).driver_node_id
        out["runs"][res] = {"status": d["status"], "on_pinned_node": node == by_res[res],
                            "metrics": run.get_metrics()}

    # a node lost mid-run: kill node B's whole `ray start` tree while a run holds it
    lost = submit("node_b", 600)
    print("PROGRESS " + json.dumps(out), flush=True)
    wait(lambda: "running on node_b" in lost._read_log("user_logs/std_log.txt", 0)[0].decode(), 60,
         "the run on node B to start")
    t_kill = time.time()
    import psutil
    root = psutil.Process(node_b.pid)
    for p in [root] + root.children(recursive=True):  # the node's Ray processes, the run host, the script
        try:
            p.kill()
        except psutil.Error:
            pass
    d = lost.wait_for_completion(raise_on_error=False)
    out["lost"] = {"status": d["status"], "code": (d.get("error") or {}).get("code"),
                   "message": (d.get("error") or {}).get("message"), "seconds": round(time.time() - t_kill, 1)}
    print("RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
