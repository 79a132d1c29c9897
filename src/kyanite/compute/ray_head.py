"""Start and stop a private, single-machine Ray head (for one machine, tests and benchmarks).

``LocalRayHead.start(num_cpus=2)`` runs ``ray start --head --block`` in its own session
with a fresh ``--temp-dir``, free ports for every Ray service, usage statistics off, and
every address on 127.0.0.1; it returns once the dashboard (the Ray Jobs API) answers.
``stop()`` ends exactly the processes it started: the ``ray start`` process, everything
under it, and any process whose command line names its private temp dir (Ray workers
that outlived their parent). It never runs ``ray stop``, which would end every Ray
process of the machine, other users' clusters included. The ``ray start`` process is
started, known again (``record()`` keeps its pid and start time) and ended with its tree
by :mod:`kyanite.supervisor`; a record without a start time (written by an older
version) names the head only while the process at its pid names the head's temp dir.

For a cluster of several machines use Ray's own tools (``ray start --head`` on one node,
``ray start --address HEAD:PORT`` on the others, or KubeRay) and attach its dashboard
address with ``RayCompute.attach_configuration(address='http://HEAD:8265')``.
"""

import json
import os
import shutil
import socket
import sys
import tempfile
import time
import urllib.request
from typing import Any

import psutil

from kyanite import supervisor


def _free_ports(n: int) -> list[Any]:
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def _ray_cli() -> list[str]:
    cand = os.path.join(os.path.dirname(sys.executable), "ray")
    return [cand] if os.path.exists(cand) else [sys.executable, "-m", "ray.scripts.scripts"]


class LocalRayHead(object):
    def __init__(self, handle: Any, address: str, temp_dir: str, gcs_address: Any, log_path: str) -> None:
        self.handle = handle  # the ``ray start`` process (a supervisor.ProcessHandle), or None
        self.proc: Any = handle.proc if handle is not None else None  # None when started by another process
        self.pid = handle.pid if handle is not None else None
        self.address = address          # the dashboard URL: what RayCompute attaches
        self.gcs_address = gcs_address  # for ``ray start --address`` of more nodes
        self.temp_dir = temp_dir
        self.log_path = log_path

    @classmethod
    def start(cls, num_cpus: Any = None, num_gpus: Any = None, resources: Any = None, object_store_mb: int = 200, timeout: float = 120.0,
              extra_env: Any = None) -> "LocalRayHead":
        temp_dir = tempfile.mkdtemp(prefix="kyray-", dir="/tmp")  # short: Ray puts sockets here
        (gcs, dash, nm, om, client, agent_http, agent_grpc, rt_env, metrics, dash_metrics,
         autoscaler_metrics) = _free_ports(11)
        cmd = _ray_cli() + [
            "start", "--head", "--block", "--temp-dir", temp_dir, "--node-ip-address", "127.0.0.1",
            "--port", str(gcs), "--include-dashboard=true", "--dashboard-host", "127.0.0.1",
            "--dashboard-port", str(dash), "--node-manager-port", str(nm), "--object-manager-port", str(om),
            "--ray-client-server-port", str(client), "--dashboard-agent-listen-port", str(agent_http),
            "--dashboard-agent-grpc-port", str(agent_grpc), "--runtime-env-agent-port", str(rt_env),
            "--metrics-export-port", str(metrics), "--disable-usage-stats",
            "--object-store-memory", str(int(object_store_mb) * 2 ** 20)]
        if num_cpus is not None:
            cmd += ["--num-cpus", str(num_cpus)]
        if num_gpus is not None:
            cmd += ["--num-gpus", str(num_gpus)]
        if resources:
            cmd += ["--resources", json.dumps(resources)]
        env = dict(os.environ)
        env.update({
            # keep every Ray address on 127.0.0.1 (Ray otherwise swaps 127.0.0.1 for the
            # machine's outward address), and move the two fixed metrics ports off their defaults
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "DASHBOARD_METRIC_PORT": str(dash_metrics),
            "AUTOSCALER_METRIC_PORT": str(autoscaler_metrics), "RAY_USAGE_STATS_ENABLED": "0",
        })
        env.update(extra_env or {})
        env.pop("RAY_ADDRESS", None)
        log_path = os.path.join(temp_dir, "ray-start.log")
        proc = supervisor.start(cmd, env=env, log=log_path)
        head = cls(proc, "http://127.0.0.1:%d" % dash, temp_dir, "127.0.0.1:%d" % gcs, log_path)
        try:
            head._wait(timeout)
        except BaseException:
            head.stop()
            raise
        return head

    def record(self) -> dict[str, Any]:
        """What ``from_record`` needs to stop this head from another process later."""
        return {"pid": self.pid, "create_time": self.handle.create_time if self.handle else None,
                "address": self.address, "temp_dir": self.temp_dir,
                "gcs_address": self.gcs_address, "log_path": self.log_path}

    @classmethod
    def from_record(cls, record: Any) -> "LocalRayHead":
        handle = supervisor.ProcessHandle.from_json(record)
        if handle is not None and handle.create_time is None:
            handle = cls._legacy_root(record["pid"], record["temp_dir"])
        return cls(handle, record["address"], record["temp_dir"], record.get("gcs_address"),
                   record.get("log_path") or os.path.join(record["temp_dir"], "ray-start.log"))

    @staticmethod
    def _legacy_root(pid: Any, temp_dir: str) -> Any:
        """The handle of the process at ``pid`` when it names ``temp_dir`` (a record
        without a start time), else None."""
        try:
            if temp_dir in " ".join(psutil.Process(pid).cmdline()):
                return supervisor.ProcessHandle.of_pid(pid)
        except psutil.Error:
            pass
        return None

    def running(self) -> Any:
        return supervisor.is_alive(self.handle)

    def _wait(self, timeout: float) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("ray start exited with code %s:\n%s" % (self.proc.returncode, self.log_tail()))
            try:
                with urllib.request.urlopen(self.address + "/api/v0/nodes", timeout=2) as r:
                    nodes = json.loads(r.read().decode())["data"]["result"]["result"]
                with urllib.request.urlopen(self.address + "/api/version", timeout=2) as r:
                    r.read()
                if any(n.get("state") == "ALIVE" for n in nodes):
                    return
            except Exception:
                pass
            time.sleep(0.25)
        raise RuntimeError("The Ray head did not answer within %.0f s:\n%s" % (timeout, self.log_tail()))

    def log_tail(self, n: int = 40) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode("utf-8", "replace")
        except OSError:
            return "(no log)"

    def strays(self) -> Any:
        """Handles of the live processes whose command line names this head's temp dir."""
        out = []
        for p in psutil.process_iter(["cmdline"]):
            try:
                if self.temp_dir in " ".join(p.info.get("cmdline") or []):
                    out.append(supervisor.ProcessHandle(p.pid, p.create_time()))
            except psutil.Error:
                pass
        return out

    def stop(self, grace: float = 10.0, remove_temp_dir: bool = True) -> None:
        """End this head's processes (never others'): SIGTERM to the ``ray start`` tree and
        the strays, SIGKILL after ``grace`` seconds; then remove its temp dir."""
        supervisor.stop_tree(self.handle, grace, extra=self.strays())
        for stray in self.strays():  # started while the others were ending
            supervisor.stop_tree(stray, 0)
        if remove_temp_dir:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
