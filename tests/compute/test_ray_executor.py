"""The Ray executor's decisions, against a fake Ray job client (no cluster needed)."""

import time
import types

import pytest

from kyanite.compute import ray as kray
from kyanite.protocol.runs import RunRecord

NODE = {"nodeId": "n1", "ip": "10.0.0.5", "isHead": True, "freeKnown": True,
        "total": {"CPU": 4.0, "GPU": 1.0, "memory": 8 * 2 ** 30, "node:10.0.0.5": 1.0, "a": 2.0},
        "free": {"CPU": 1.0, "GPU": 0.0, "memory": 4 * 2 ** 30, "node:10.0.0.5": 1.0, "a": 2.0}}
CONFIG = {"executor": "ray", "address": "http://10.0.0.5:8265", "python": "/opt/py/bin/python"}


class FakeClient(object):
    _address = CONFIG["address"]

    def __init__(self):
        self.submitted, self.stopped, self.infos = [], [], {}

    def submit_job(self, **kw):
        self.submitted.append(kw)
        return kw.get("submission_id")

    def stop_job(self, job_id):
        self.stopped.append(job_id)

    def get_job_info(self, job_id):
        if job_id not in self.infos:
            raise RuntimeError("Request failed with status code 404: Job %s does not exist." % job_id)
        return self.infos[job_id]

    def get_job_logs(self, job_id):
        return "host output\n"


class Reporter(object):
    def __init__(self):
        self.calls = []

    def pending(self, run_id, note=None):
        self.calls.append(("pending", run_id, note))

    def note(self, run_id, note):
        self.calls.append(("note", run_id, note))

    def lost(self, run_id, message, code):
        self.calls.append(("lost", run_id, message, code))
        return True


@pytest.fixture
def ex(tmp_path, monkeypatch):
    fetches = []

    def fetch(address, headers=None, timeout=None):
        fetches.append(address)
        return [dict(NODE, total=dict(NODE["total"]), free=dict(NODE["free"]))]
    monkeypatch.setattr(kray, "_fetch_nodes", fetch)
    targets = {"rc": {"name": "rc", "type": "RayCompute", "config": dict(CONFIG)}}
    e = kray.RayExecutor(str(tmp_path), targets.__getitem__, Reporter())
    e.fake = FakeClient()
    e.client = lambda cfg: e.fake
    e.fetches = fetches
    e.target_records = targets
    return e


def run(definition=None, run_id="r1"):
    return RunRecord(id=run_id, target="rc", experiment="x", definition=definition or {})


def info(status, message="", node="n1"):
    return types.SimpleNamespace(status=status, message=message, driver_node_id=node)


def test_addresses():
    assert kray.normalize_address("127.0.0.1:8265/") == "http://127.0.0.1:8265"
    assert kray.normalize_address("https://head:443") == "https://head:443"
    with pytest.raises(ValueError, match="Ray Client address"):
        kray.normalize_address("ray://head:10001")
    with pytest.raises(ValueError):
        kray.normalize_address("")


def test_resource_requests(ex):
    assert ex.request(run(), CONFIG) == {"CPU": 1}
    dist = {"distributed": {"type": "PyTorch", "nodeCount": 1, "processCountPerNode": 3}}
    assert ex.request(run(dist), CONFIG) == {"CPU": 3}
    res = {"resources": {"cpu": 0.5, "gpu": 1, "memoryGb": 2, "custom": {"a": 1}}}
    assert ex.request(run(res), CONFIG) == {"CPU": 0.5, "GPU": 1, "memory": 2 * 2 ** 30, "a": 1}
    two_nodes = {"distributed": {"type": "Mpi", "nodeCount": 2, "processCountPerNode": 1}}
    assert ex.request(run(two_nodes), CONFIG) == {"CPU": 1}  # per node


def test_launch_submits_the_host_with_the_request(ex):
    handle = ex.launch(run({"resources": {"cpu": 2, "gpu": 1, "custom": {"a": 1}}}),
                       {"KYANITE_SERVER_URL": "http://10.0.0.1:7000", "KYANITE_TOKEN": "t", "HOME": "/root",
                        "KYANITE_CACHE_DIR": "/c", "UV_INDEX_URL": "http://idx", "KYANITE_HEARTBEAT_TIMEOUT": "5"})
    job = ex.fake.submitted[0]
    assert job["entrypoint"] == "/opt/py/bin/python -m kyanite.runtime.host --run-id r1"
    assert (job["entrypoint_num_cpus"], job["entrypoint_num_gpus"], job["entrypoint_resources"]) == (2, 1, {"a": 1})
    assert job["entrypoint_memory"] is None
    env = job["runtime_env"]["env_vars"]
    assert env == {"KYANITE_SERVER_URL": "http://10.0.0.1:7000", "KYANITE_TOKEN": "t",  # not the cache path
                   "UV_INDEX_URL": "http://idx", "PYTHONUNBUFFERED": "1", "RAY_JOB_STOP_WAIT_TIME_S": "15"}
    assert job["metadata"]["kyanite_run_id"] == "r1"
    assert handle["job_id"] == job["submission_id"] and handle["job_id"].startswith("kyanite-r1-")
    assert handle["executor"] == "ray" and handle["target"] == "rc"


def test_server_url_and_env_from_the_target(ex):
    ex.target_records["rc"]["config"].update(server_url="http://server.lan:7000", env_vars={"X": 1},
                                             stop_grace_seconds=30)
    ex.launch(run(), {"KYANITE_SERVER_URL": "http://127.0.0.1:7000", "KYANITE_TOKEN": "t"})
    env = ex.fake.submitted[0]["runtime_env"]["env_vars"]
    assert env["KYANITE_SERVER_URL"] == "http://server.lan:7000" and env["X"] == "1"
    assert env["RAY_JOB_STOP_WAIT_TIME_S"] == "30"


def test_a_request_no_node_can_hold_is_refused(ex):
    with pytest.raises(kray.RayLaunchError, match=r"asks for 8 CPU per node.*10\.0\.0\.5: 4 CPU"):
        ex.launch(run({"resources": {"cpu": 8}}), {"KYANITE_SERVER_URL": "u", "KYANITE_TOKEN": "t"})
    with pytest.raises(kray.RayLaunchError, match="1 b"):
        ex.launch(run({"resources": {"custom": {"b": 1}}}), {"KYANITE_SERVER_URL": "u", "KYANITE_TOKEN": "t"})
    assert ex.fake.submitted == []
    ex.target_records["rc"]["config"]["autoscaling"] = True  # a node may come: let Ray wait for it
    ex.launch(run({"resources": {"cpu": 8}}), {"KYANITE_SERVER_URL": "u", "KYANITE_TOKEN": "t"})
    assert ex.fake.submitted[0]["entrypoint_num_cpus"] == 8


def test_capacity(ex):
    assert ex.capacity(CONFIG) == 4  # one run per CPU of the cluster
    assert ex.capacity(dict(CONFIG, max_concurrent_runs=7)) == 7


def test_pending_keeps_the_run_alive_and_says_why(ex):
    handle = {"job_id": "j", "run_id": "r1", "target": "rc", "address": CONFIG["address"],
              "request": {"CPU": 2}, "submitted": time.time()}
    ex.fake.infos["j"] = info("PENDING", "waiting for resources")
    assert ex.alive(handle) is True
    assert ex.reporter.calls == [("pending", "r1", None)]  # just submitted: no note yet
    handle["submitted"] -= 60
    assert ex.alive(handle) is True and ex.alive(handle) is True
    kinds = [c[0] for c in ex.reporter.calls]
    assert kinds == ["pending", "pending", "pending"]
    note = ex.reporter.calls[1][2]
    assert note["rayStatus"] == "PENDING"
    assert note["waitingFor"].endswith("it needs 2 CPU on one node; free in the cluster now: 1 CPU")
    assert ex.reporter.calls[2][2] is None  # noted once, heartbeats after
    ex.cancel(handle)
    assert ex.fake.stopped == ["j"]
    assert ex.alive(handle) is False  # canceled before Ray placed it: nothing to wait for


def test_running_then_ended(ex):
    handle = {"job_id": "j", "run_id": "r1", "target": "rc", "address": CONFIG["address"], "submitted": 0}
    ex.fake.infos["j"] = info("RUNNING")
    assert ex.alive(handle) is True
    assert ex.reporter.calls == [("note", "r1", {"rayStatus": "RUNNING", "rayNodeId": "n1", "waitingFor": None})]
    ex.fake.infos["j"] = info("SUCCEEDED")
    assert ex.alive(handle) is False
    assert len(ex.reporter.calls) == 1  # the host reported: nothing to say
    with open(ex.log_dir + "/r1.log") as f:
        assert "host output" in f.read()


def test_a_failed_job_fails_the_run_and_ends_the_orphaned_script(ex):
    handle = {"job_id": "j", "run_id": "r1", "target": "rc", "address": CONFIG["address"], "submitted": 0,
              "script_pid": 4242, "script_create_time": 1.5}
    ex.fake.infos["j"] = info("FAILED", "Job entrypoint command failed with exit code -9")
    assert ex.alive(handle) is False
    kind, run_id, message, code = ex.reporter.calls[0]
    assert (kind, code) == ("lost", "HostLost") and "exit code -9" in message
    reap = ex.fake.submitted[0]
    assert reap["entrypoint_resources"] == {"node:10.0.0.5": 0.001}
    # the node's kyanite ends that tree when pid 4242 still started at 1.5
    assert reap["entrypoint"] == "/opt/py/bin/python -m kyanite.supervisor stop-tree 4242 1.5"


def test_stopped_by_someone_else_is_a_lost_host(ex):
    handle = {"job_id": "j", "run_id": "r1", "target": "rc", "address": CONFIG["address"], "submitted": 0}
    ex.fake.infos["j"] = info("STOPPED", "Job was intentionally stopped.")
    assert ex.alive(handle) is False
    assert ex.reporter.calls[0][0] == "lost" and "stopped outside kyanite" in ex.reporter.calls[0][2]


def test_a_job_the_cluster_forgot(ex):
    handle = {"job_id": "gone", "run_id": "r1", "target": "rc", "address": CONFIG["address"], "submitted": 0}
    assert ex.alive(handle) is False
    assert "no longer known to the cluster" in ex.reporter.calls[0][2]


def test_an_unreachable_cluster_is_left_alone_for_a_while(ex, monkeypatch):
    class Down(FakeClient):
        def get_job_info(self, job_id):
            self.asked = getattr(self, "asked", 0) + 1
            raise ConnectionError("connection refused")
    ex.fake = Down()
    handle = {"job_id": "j", "run_id": "r1", "target": "rc", "address": CONFIG["address"], "submitted": 0}
    assert ex.alive(handle) is None and ex.alive(handle) is None
    assert ex.fake.asked == 1  # the second call did not wait on the cluster
    assert ex.reporter.calls == []

    def refuse(address, headers=None, timeout=None):
        raise OSError("connection refused")
    ex.capacity(CONFIG)  # known: 4
    monkeypatch.setattr(kray, "_fetch_nodes", refuse)
    ex._info.clear()
    assert ex.capacity(CONFIG) == 1
    st = ex.cluster_status(CONFIG)
    assert st["reachable"] is False and "connection refused" in st["error"]


def test_a_head_is_stopped_by_its_own_pids_only(tmp_path):
    """``LocalRayHead.from_record(...).stop()`` ends the recorded ``ray start`` tree and
    strays naming its temp dir, and leaves a process that merely reuses the pid alone."""
    import subprocess
    import sys

    import psutil

    from kyanite.compute.ray_head import LocalRayHead
    temp_dir = str(tmp_path / "kyray-test")
    os_sleep = ("import subprocess, sys, time; "
                "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)")
    head = subprocess.Popen([sys.executable, "-c", os_sleep, "--temp-dir", temp_dir])
    stray = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "--session-dir=%s/s" % temp_dir])
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        deadline = time.time() + 10
        while not psutil.Process(head.pid).children() and time.time() < deadline:
            time.sleep(0.05)
        child = psutil.Process(head.pid).children()[0]
        record = {"pid": head.pid, "address": "http://127.0.0.1:1", "temp_dir": temp_dir}
        assert LocalRayHead.from_record(record).running()
        assert LocalRayHead.from_record(dict(record, pid=other.pid)).running() is False  # not that head's
        LocalRayHead.from_record(record).stop(grace=2, remove_temp_dir=False)
        assert head.wait(5) is not None and stray.wait(5) is not None
        assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
        assert other.poll() is None
    finally:
        for p in (head, stray, other):
            p.kill()
            p.wait()


def test_gpu_requests_per_process(ex):
    """GPUs per process x processes per node is the node's GPU request (gpu, when given, wins)."""
    from kyanite.core.runconfig import ResourceConfiguration
    per_proc = ResourceConfiguration(gpu_per_process=1)._definition()
    assert per_proc == {"gpuPerProcess": 1}
    dist = {"type": "PyTorch", "nodeCount": 1, "processCountPerNode": 2}
    assert ex.request(run({"resources": per_proc, "distributed": dist}), CONFIG) == {"CPU": 2, "GPU": 2}
    assert ex.request(run({"resources": per_proc}), CONFIG) == {"CPU": 1, "GPU": 1}
    both = {"resources": {"gpu": 1, "gpuPerProcess": 1}, "distributed": dist}
    assert ex.request(run(both), CONFIG) == {"CPU": 2, "GPU": 1}
    two_nodes = dict(dist, nodeCount=2)  # per node; the host reserves one such bundle on each node
    assert ex.request(run({"resources": per_proc, "distributed": two_nodes}), CONFIG) == {"CPU": 2, "GPU": 2}
