"""Run hosts as Ray jobs on an existing Ray cluster (the Ray Jobs API).

A ``RayCompute`` target (``kyanite.core.compute.RayCompute``) holds the cluster's
dashboard address (``http://HEAD:8265``). For each run the executor submits one Ray job
whose entrypoint is ``<python> -m kyanite.runtime.host --run-id <id>``, asking Ray for the
run's resource request (``entrypoint_num_cpus``/``_gpus``/``_memory``/``_resources``), so
Ray starts the host on a node with room. From there the host is the same program as on
the local target: it builds the environment on that node with the node's uv cache,
streams logs and metrics to the workspace server, uploads outputs and reports the final
state. Ray places the work; kyanite keeps the runs.

What the nodes need:

- kyanite installed, importable by ``python`` (target config ``python``; default: the
  interpreter path of the workspace server, right for one machine and for clusters built
  from one image). The run host needs nothing else from the node. Each node keeps its
  own node cache (environments, snapshots, dataset files): ``KYANITE_CACHE_DIR`` in the
  environment its Ray node was started with, else ``~/.cache/kyanite``; the target's
  ``env_vars`` may set one for every node. The server's ``KYANITE_*`` and ``UV_*``
  settings are passed on, but not its cache path.
- a route to the workspace server: the host calls ``server_url`` (target config; default
  the server's own URL). A server that must be reached from other machines is started
  with ``--host`` (or the ``host`` setting in ``.kyanite/workspace.json``) set to an
  address the nodes can reach; every call carries the run's own token
  (:mod:`kyanite.server.run_tokens`), never the workspace token.

The run token travels in the job's ``runtime_env`` env_vars, so the Ray dashboard shows
it to whoever can open the dashboard; it is limited to its run and expires after it:
keep the dashboard private all the same (anyone who reaches it can run code on the cluster).

Resource request (per node of the run): ``ResourceConfiguration`` from the run
definition; without one, one CPU per process of the node. GPUs: ``gpu`` per node, or
``gpu_per_process`` x ``process_count_per_node``; Ray assigns them and sets
``CUDA_VISIBLE_DEVICES`` of the host (and so of every rank of its node) to them. A run
with ``node_count > 1`` (PyTorch, Mpi) asks Ray for nothing for its host job; the host reserves one bundle of the
request on each of ``node_count`` distinct nodes itself (:mod:`kyanite.runtime.ray_spread`). A request
that no node of the cluster could ever hold fails the run at once with a message naming
the request and the largest nodes (unless the target is ``autoscaling``, where Ray may
add a node). A request that fits a node but not the cluster's free resources right now
waits in Ray (the job is PENDING): the run stays in Preparing, its host record says what
it waits for (``host.rayStatus``, ``host.waitingFor``), and the executor keeps the run's
heartbeat fresh meanwhile. How many runs go to Ray at once: the target's
``max_concurrent_runs``, else one per CPU of the cluster; further runs wait Queued.

Cancel: ``stop_job`` (Ray sends SIGTERM to the host and every process under it, and
SIGKILL after ``stop_grace_seconds``, 15 by default); the host ends the script's tree,
uploads ``./outputs`` and reports Canceled. A job that ends without the host reporting
(node lost, host killed) fails the run with Ray's message, the script the host left
behind is ended by a small Ray job pinned to its node (``python -m kyanite.supervisor
stop-tree`` with the script's pid and start time, so a reused pid is left alone), and
the job's own log is copied to
``hosts/<run>.log`` in the workspace folder. A job Ray could not place for
``RAY_JOB_START_TIMEOUT_SECONDS`` (Ray's setting, 15 minutes by default) is failed by Ray,
and the run with it, with Ray's reason.

Thread safety: one executor serves the scheduler, the watchdog and request threads; its
caches are guarded by a lock, and Ray clients are used from any thread. Every call to the
cluster has a timeout (5 s; ``timeout_seconds`` for the status calls); a cluster that
does not answer is left alone for 10 s, and meanwhile ``alive`` answers "cannot tell"
(the heartbeats decide) and ``capacity`` the last figure it knew.
"""

import json
import logging
import os
import secrets
import shlex
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from kyanite.compute.base import Executor
from kyanite.protocol.compute import ComputeConfig, normalize_ray_address
from kyanite.runtime.environ import TARGET_ENV_NAMES
from kyanite.protocol.runs import RunRecord

log = logging.getLogger("kyanite.compute.ray")

DEFAULT_TIMEOUT = 5.0
DEFAULT_STOP_GRACE = 15
_TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")
_FORWARD_PREFIXES = ("KYANITE_", "UV_")
# the node cache is each node's own setting (KYANITE_CACHE_DIR in the node's environment,
# else ~/.cache/kyanite): a path on the server's machine means nothing on a cluster node
# and so is the GPU list (KYANITE_GPUS): Ray assigns a run's GPUs on its nodes
_FORWARD_SKIP = ("KYANITE_SERVER_URL", "KYANITE_TOKEN", "KYANITE_HEARTBEAT_TIMEOUT", "KYANITE_CACHE_DIR",
                 "KYANITE_GPUS")


class RayLaunchError(Exception):
    """The run cannot be given to the Ray cluster; the message says why."""


def normalize_address(address: str) -> str:
    """``HOST:PORT`` or ``http(s)://HOST:PORT`` -> the dashboard URL without a trailing slash
    (``kyanite.protocol.compute.normalize_ray_address``; a ValueError otherwise)."""
    return normalize_ray_address(address)


def _client_class() -> Any:
    try:
        from ray.job_submission import JobSubmissionClient
    except ImportError as exc:
        raise RayLaunchError("The Ray target needs Ray's job client on the workspace server: "
                             "pip install 'kyanite[ray]' (%s)." % exc)

    class _Client(JobSubmissionClient):
        """The Ray job client with a timeout on every request."""

        timeout = DEFAULT_TIMEOUT

        def _do_request(self, method: str, endpoint: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("timeout", self.timeout)
            return super(_Client, self)._do_request(method, endpoint, **kwargs)

    return _Client


class ClusterInfo(object):
    """One look at the cluster: alive nodes with their total and free resources."""

    def __init__(self, address: str, nodes: Any, taken: Any = None) -> None:
        self.address = address
        self.nodes = nodes
        self.taken = taken or time.time()

    def totals(self) -> tuple[dict[Any, Any], dict[Any, Any]]:
        total: dict[Any, Any] = {}
        free: dict[Any, Any] = {}
        for n in self.nodes:
            for k, v in n["total"].items():
                total[k] = total.get(k, 0) + v
            for k, v in n["free"].items():
                free[k] = free.get(k, 0) + v
        return total, free

    def fits_some_node(self, request: dict[str, Any]) -> bool:
        return any(all(n["total"].get(k, 0) >= v for k, v in request.items() if v) for n in self.nodes)

    def fits_now(self, request: dict[str, Any]) -> bool:
        return any(all(n["free"].get(k, 0) >= v for k, v in request.items() if v) for n in self.nodes)

    def summary(self) -> dict[str, Any]:
        total, free = self.totals()
        return {
            "address": self.address, "reachable": True, "nodeCount": len(self.nodes),
            "cpus": total.get("CPU", 0), "gpus": total.get("GPU", 0),
            "freeCpus": free.get("CPU", 0), "freeGpus": free.get("GPU", 0),
            "memoryGb": round(total.get("memory", 0) / 2 ** 30, 2),
            "freeMemoryGb": round(free.get("memory", 0) / 2 ** 30, 2),
            "customResources": dict((k, v) for k, v in total.items() if _custom(k)),
            "freeCustomResources": dict((k, v) for k, v in free.items() if _custom(k)),
            "nodes": [dict(n, total=_public(n["total"]), free=_public(n["free"])) for n in self.nodes],
        }


def _custom(key: str) -> bool:
    return key not in ("CPU", "GPU", "memory", "object_store_memory", "objectStoreMemory") \
        and not key.startswith("node:") and not key.startswith("accelerator_type:")


def _public(res: Any) -> dict[Any, Any]:
    out = {}
    for k, v in res.items():
        if k.startswith("node:"):
            continue
        if k in ("memory", "object_store_memory"):
            out[k + "Gb"] = round(v / 2 ** 30, 2)
        else:
            out[k] = v
    return out


def describe_request(request: dict[str, Any], zeros: bool = False) -> str:
    parts = []
    for k, v in sorted(request.items()):
        if not v and not zeros:
            continue
        if k == "memory":
            parts.append("%.2f GiB memory" % (v / 2 ** 30))
        else:
            parts.append("%g %s" % (v, k))
    return ", ".join(parts) or "nothing"


class StoreReporter(object):
    """How the executor speaks for a run host that is not running (yet, or any more):
    keeps a run Ray is still placing alive, notes what it waits for, and fails a run
    whose Ray job ended without the host reporting. Built by the server with its store."""

    def __init__(self, store: Any, notifier: Any, wake: Any) -> None:
        self.store, self.notifier, self.wake = store, notifier, wake

    def pending(self, run_id: str, note: dict[str, Any] | None = None) -> None:
        self.store.heartbeat(run_id)
        if note:
            self.store.update_run(run_id, host=note)
            self.notifier.changed(run_id)

    def note(self, run_id: str, note: dict[str, Any]) -> None:
        self.store.update_run(run_id, host=note)

    def lost(self, run_id: str, message: str, code: Any) -> Any:
        from kyanite.protocol.states import RunStatus
        _, changed = self.store.set_status(run_id, RunStatus.FAILED, error={"message": message, "code": code},
                                           expect=(RunStatus.PREPARING, RunStatus.STARTING, RunStatus.RUNNING,
                                                   RunStatus.FINALIZING))
        if changed:
            self.notifier.changed(run_id)
            self.wake()
        return changed


class RayExecutor(Executor):
    """Run hosts as Ray jobs. ``targets(name)`` returns a compute target record (the
    scheduler's ``target``); ``reporter`` is a ``StoreReporter`` (optional)."""

    def __init__(self, log_dir: str, targets: Any, reporter: Any = None, cache_seconds: float = 5.0, note_after: float = 5.0) -> None:
        self.log_dir = log_dir
        self.note_after = note_after  # a job PENDING longer than this is noted as waiting
        self.targets = targets
        self.reporter = reporter
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._clients: dict[Any, Any] = {}
        self._info: dict[str, Any] = {}
        self._canceled: set[str] = set()
        self._notes: dict[str, Any] = {}
        self._ended: set[str] = set()
        self._down: Any = {}
        self.down_seconds = 10.0
        os.makedirs(log_dir, exist_ok=True)

    # -- the cluster ----------------------------------------------------------------
    def client(self, config_or_handle: Any) -> Any:
        address = normalize_address(config_or_handle.get("address"))
        headers = config_or_handle.get("headers") or None
        key = (address, json.dumps(headers, sort_keys=True))
        with self._lock:
            c = self._clients.get(key)
        if c is None:
            cls = _client_class()
            try:
                c = cls(address, headers=headers)
            except Exception as exc:
                raise RayLaunchError("Cannot reach the Ray cluster at %s: %s" % (address, exc))
            with self._lock:
                self._clients[key] = c
        return c

    def cluster(self, config: Any, fresh: bool = False) -> Any:
        """A ClusterInfo, at most ``cache_seconds`` old (``fresh``: asked now). A cluster
        that did not answer is not asked again for ``down_seconds`` (the scheduler and the
        watchdog must not wait on it pass after pass)."""
        address = normalize_address(config.get("address"))
        with self._lock:
            info = self._info.get(address)
            down = self._down.get(address)
        if info is not None and not fresh and time.time() - info.taken < self.cache_seconds:
            return info
        if down and not fresh and time.time() < down[0]:
            raise RayLaunchError(down[1])
        try:
            info = ClusterInfo(address, _fetch_nodes(address, config.get("headers"),
                                                     float(config.get("timeout_seconds") or DEFAULT_TIMEOUT)))
        except Exception as exc:
            self._mark_down(address, exc)
            raise
        with self._lock:
            self._info[address] = info
            self._down.pop(address, None)
        return info

    def _mark_down(self, address: str, exc: Exception) -> None:
        with self._lock:
            self._down[address] = (time.time() + self.down_seconds,
                                   "The Ray cluster at %s did not answer: %s" % (address, exc))

    def _is_down(self, address: str) -> bool:
        with self._lock:
            down = self._down.get(address)
        return bool(down) and time.time() < down[0]

    def cluster_status(self, config: Any) -> Any:
        """What ``RayCompute.get_status()`` shows: nodes, CPUs, GPUs, memory, what is free."""
        try:
            summary = self.cluster(config, fresh=True).summary()
            # have the job client ready (importing it takes a while) before the first run
            threading.Thread(target=self._warm, args=(dict(config),), daemon=True).start()
            return summary
        except Exception as exc:
            return {"address": config.get("address"), "reachable": False,
                    "error": "Cannot reach the Ray cluster at %s: %s" % (config.get("address"), exc)}

    def _warm(self, config: Any) -> None:
        try:
            self.client(config)
        except Exception:
            pass

    # -- the Executor contract ---------------------------------------------------------
    def capacity(self, config: Any) -> int:
        if config.get("max_concurrent_runs"):
            return max(1, int(config["max_concurrent_runs"]))
        try:
            total, _ = self.cluster(config).totals()
            return max(1, int(total.get("CPU", 1)))
        except Exception:
            with self._lock:
                info = self._info.get(normalize_address(config.get("address")))
            return max(1, int(info.totals()[0].get("CPU", 1))) if info else 1

    def request(self, run: Any, config: Any) -> dict[str, Any]:
        """The Ray resource request of the run's host: ``{"CPU", "GPU", "memory", custom...}``."""
        res = run.definition.resources or {}
        dist = run.definition.distributed or {}
        procs = max(1, int(dist.get("processCountPerNode") or 1)) if dist else 1
        default_cpu = config.get("default_cpus_per_process", 1)
        req = {"CPU": res["cpu"] if res.get("cpu") is not None else default_cpu * procs}
        if res.get("gpu"):
            req["GPU"] = res["gpu"]
        elif res.get("gpuPerProcess"):  # each process of the node gets its own
            req["GPU"] = res["gpuPerProcess"] * procs
        if res.get("memoryGb"):
            req["memory"] = int(float(res["memoryGb"]) * 2 ** 30)
        for k, v in (res.get("custom") or {}).items():
            req[k] = v
        # node_count > 1: this is one node's request; the host reserves one bundle of it on
        # each of node_count distinct nodes (kyanite.runtime.ray_spread)
        return req

    def launch(self, run: RunRecord, env: dict[str, str]) -> dict[str, Any]:
        run_id = run.id
        target = self.targets(run.target)
        config = ComputeConfig.from_json(dict(target["config"], type=target["type"])).to_json()
        client = self.client(config)
        request = self.request(run, config)
        dist = run.definition.distributed or {}
        nodes = max(1, int(dist.get("nodeCount") or 1)) if dist else 1
        spread = nodes > 1 and dist.get("type") != "TensorFlow"
        if not config.get("autoscaling"):
            try:
                info = self.cluster(config)
            except Exception:
                info = None  # the submission below says what is wrong
            if info is not None and not info.fits_some_node(request):
                biggest = sorted(info.nodes, key=lambda n: -n["total"].get("CPU", 0))[:3]
                raise RayLaunchError(
                    "The run asks for %s per node, but no node of the Ray cluster at %s has that much "
                    "(nodes: %s). Ask for less (ScriptRunConfig(resources=...)) or add a node that "
                    "has it; set autoscaling=True on the target to let the run wait for one." % (
                        describe_request(request), info.address,
                        "; ".join("%s: %s" % (n["ip"], describe_request(n["total"])) for n in biggest) or "none alive"))
            if info is not None and spread and len(info.nodes) < nodes:
                raise RayLaunchError(
                    "The run asks for node_count=%d, but the Ray cluster at %s has %d node(s): each node group "
                    "of the run goes to a node of its own. Ask for fewer nodes, or add nodes (set autoscaling=True "
                    "on the target to let the run wait for them)." % (nodes, info.address, len(info.nodes)))
        python = config.get("python") or sys.executable
        entrypoint = " ".join(shlex.quote(a) for a in [python, "-m", "kyanite.runtime.host", "--run-id", run_id])
        node_env = dict((k, v) for k, v in env.items()
                        if k.startswith(_FORWARD_PREFIXES) and k not in _FORWARD_SKIP)
        node_env.update({
            "KYANITE_SERVER_URL": config.get("server_url") or env["KYANITE_SERVER_URL"],
            "KYANITE_TOKEN": env["KYANITE_TOKEN"], "PYTHONUNBUFFERED": "1",
            # how long Ray lets the host end the script and report before SIGKILL
            "RAY_JOB_STOP_WAIT_TIME_S": str(int(config.get("stop_grace_seconds") or DEFAULT_STOP_GRACE)),
        })
        node_env.update(dict((str(k), str(v)) for k, v in (config.get("env_vars") or {}).items()))
        # the script keeps the target's env_vars (kyanite.runtime.environ)
        if config.get("env_vars"):
            node_env[TARGET_ENV_NAMES] = ",".join(str(k) for k in config.get("env_vars") or {})
        job_request = request
        if spread:  # the host reserves the nodes itself (a placement group); its job asks for none
            node_env.update({"KYANITE_RAY_SPREAD": "1", "KYANITE_RAY_BUNDLE": json.dumps(request)})
            job_request = {}
        submission_id = "kyanite-%s-%s" % (run_id, secrets.token_hex(3))
        custom = dict((k, v) for k, v in job_request.items() if k not in ("CPU", "GPU", "memory"))
        try:
            client.submit_job(
                entrypoint=entrypoint, submission_id=submission_id,
                runtime_env={"env_vars": node_env},
                metadata={"kyanite_run_id": run_id, "kyanite_experiment": str(run.experiment),
                          "kyanite_target": str(run.target)},
                entrypoint_num_cpus=job_request.get("CPU") or None, entrypoint_num_gpus=job_request.get("GPU") or None,
                entrypoint_memory=job_request.get("memory") or None, entrypoint_resources=custom or None)
        except RayLaunchError:
            raise
        except Exception as exc:
            raise RayLaunchError("The Ray cluster at %s refused the job: %s" % (client._address, exc))
        return {"executor": "ray", "address": normalize_address(config["address"]),
                "headers": config.get("headers"), "job_id": submission_id, "run_id": run_id,
                "target": run.target, "request": request, "submitted": time.time()}

    def cancel(self, handle: Any) -> None:
        with self._lock:
            self._canceled.add(handle.get("job_id"))
        self._stop(handle)

    def kill(self, handle: Any) -> None:
        self._stop(handle)

    def _stop(self, handle: Any) -> None:
        try:
            self.client(handle).stop_job(handle["job_id"])
        except Exception as exc:
            log.warning("could not stop Ray job %s: %s", handle.get("job_id"), exc)

    def alive(self, handle: Any) -> bool | None:
        job_id, run_id = handle.get("job_id"), handle.get("run_id")
        if self._is_down(handle.get("address")):
            return None  # cannot tell: the heartbeats decide
        try:
            info = self.client(handle).get_job_info(job_id)
        except Exception as exc:
            if _unreachable(exc):
                self._mark_down(handle.get("address"), exc)
                return None
            if "does not exist" in str(exc) or "404" in str(exc):
                self._lost(run_id, "Ray job %s is no longer known to the cluster at %s (was the cluster "
                                   "restarted?); the run host is gone." % (job_id, handle.get("address")),
                           "HostLost")
                return False
            return None  # cannot tell: the heartbeats decide
        status = str(getattr(info.status, "value", info.status))
        if status == "PENDING":
            with self._lock:
                canceled = job_id in self._canceled
            if canceled:
                return False  # the host never started; nothing is left to end
            self._pending(handle, info)
            return True
        if status == "RUNNING":
            self._note(run_id, {"rayStatus": "RUNNING", "rayNodeId": info.driver_node_id, "waitingFor": None})
            return True
        # the job ended: keep its log, and speak for a host that did not report
        self._keep_log(handle)
        with self._lock:
            self._notes.pop(run_id, None)
        lost = False
        if status == "FAILED":
            lost = self._lost(run_id, "The run host's Ray job %s failed without the host reporting: %s" % (
                job_id, (info.message or "no reason given").strip()), "HostLost")
        elif status == "STOPPED":
            with self._lock:
                canceled = job_id in self._canceled
            if not canceled:
                lost = self._lost(run_id, "The run host's Ray job %s was stopped outside kyanite: %s" % (
                    job_id, (info.message or "").strip()), "HostLost")
        if lost and handle.get("script_pid"):
            self._reap(handle, info.driver_node_id)
        return False

    # -- helpers ---------------------------------------------------------------------------
    def _pending(self, handle: Any, info: Any) -> Any:
        """Ray has not placed the host: keep the run alive and say what it waits for."""
        if self.reporter is None:
            return
        if time.time() - float(handle.get("submitted") or 0) < self.note_after:
            return self.reporter.pending(handle["run_id"])  # Ray is still starting the job
        request = handle.get("request") or {}
        try:
            _, free = self.cluster(handle).totals()
            waiting = "Ray has not placed the run host yet: it needs %s on one node; free in the cluster " \
                      "now: %s" % (describe_request(request), describe_request(
                          dict((k, free.get(k, 0)) for k in request if request[k]), zeros=True) if free else "unknown")
        except Exception:
            waiting = "Ray has not placed the run host yet: %s" % (info.message or "")
        note = self._changed(handle["run_id"], {"rayStatus": "PENDING", "waitingFor": waiting})
        try:
            self.reporter.pending(handle["run_id"], note)
        except Exception as exc:
            log.warning("could not note the pending run %s: %s", handle.get("run_id"), exc)

    def _note(self, run_id: str, note: dict[str, Any] | None) -> None:
        note = self._changed(run_id, note)
        if note and self.reporter is not None:
            try:
                self.reporter.note(run_id, note)
            except Exception as exc:
                log.warning("could not note run %s: %s", run_id, exc)

    def _changed(self, run_id: str, note: dict[str, Any] | None) -> dict[str, Any] | None:
        """``note`` when it differs from the last one recorded for the run, else None."""
        with self._lock:
            if self._notes.get(run_id) == note:
                return None
            self._notes[run_id] = note
        return note

    def _lost(self, run_id: str, message: str, code: Any) -> bool:
        """Fail a run whose host is gone; True when the run was still active."""
        if self.reporter is not None and run_id:
            try:
                return bool(self.reporter.lost(run_id, message, code))
            except Exception as exc:
                log.warning("could not fail the lost run %s: %s", run_id, exc)
        return False

    def _reap(self, handle: Any, node_id: str) -> None:
        """The host died but its script (in a session of its own) may live on: end that
        process tree with a small Ray job pinned to the host's node."""
        try:
            node = next((n for n in self.cluster(handle, fresh=True).nodes if n["nodeId"] == node_id), None)
            if node is None:
                return  # the node itself is gone, and the script with it
            python = (self.targets(handle["target"])["config"].get("python") if handle.get("target") else None) \
                or sys.executable
            entrypoint = " ".join(shlex.quote(a) for a in [
                python, "-m", "kyanite.supervisor", "stop-tree", str(handle["script_pid"]),
                str(handle.get("script_create_time") or 0)])
            self.client(handle).submit_job(
                entrypoint=entrypoint, submission_id="kyanite-reap-%s-%s" % (handle["run_id"], secrets.token_hex(3)),
                entrypoint_resources={"node:%s" % node["ip"]: 0.001},
                metadata={"kyanite_run_id": handle["run_id"], "kyanite_purpose": "end the script of a lost host"})
        except Exception as exc:
            log.warning("could not end the script of lost run %s: %s", handle.get("run_id"), exc)

    def _keep_log(self, handle: Any) -> None:
        job_id = handle.get("job_id")
        with self._lock:
            if job_id in self._ended:
                return
            self._ended.add(job_id)
        try:
            text = self.client(handle).get_job_logs(job_id)
            with open(os.path.join(self.log_dir, "%s.log" % handle["run_id"]), "a") as f:
                f.write("--- Ray job %s ---\n%s" % (job_id, text))
        except Exception as exc:
            log.warning("could not fetch the log of Ray job %s: %s", job_id, exc)


def _fetch_nodes(address: str, headers: dict[str, Any] | None = None, timeout: float = DEFAULT_TIMEOUT) -> list[dict[str, Any]]:
    """Alive nodes with total and free resources, from the dashboard's cluster status."""
    status = _get_json(address + "/api/cluster_status", headers, timeout)["data"]["clusterStatus"]
    usage = (status.get("loadMetricsReport") or {}).get("usageByNode") or {}
    nodes_api = _get_json(address + "/api/v0/nodes?limit=10000", headers, timeout)
    listed = nodes_api["data"]["result"]["result"]
    nodes = []
    for n in listed:
        if n.get("state") != "ALIVE":
            continue
        total = dict(n.get("resources_total") or {})
        used = usage.get(n["node_id"])
        free = {}
        for k, t in total.items():
            # the dashboard writes resource names in camel case (node_a -> nodeA)
            u = (used or {}).get(k) or (used or {}).get(_camel(k))
            free[k] = max(0.0, u[1] - u[0]) if u else t
        nodes.append({"nodeId": n["node_id"], "ip": n.get("node_ip"), "isHead": bool(n.get("is_head_node")),
                      "total": total, "free": free, "freeKnown": bool(used)})
    return nodes


def _unreachable(exc: Exception) -> bool:
    names = {type(e).__name__ for e in (exc, exc.__cause__, exc.__context__) if e is not None}
    return bool(names & {"ConnectionError", "ConnectTimeout", "ReadTimeout", "Timeout", "RayLaunchError",
                         "URLError", "timeout", "TimeoutError", "ConnectionRefusedError"})


def _camel(name: str) -> Any:
    head, *rest = name.split("_")
    return head + "".join(x.title() for x in rest)


def _get_json(url: str, headers: dict[str, Any] | None = None, timeout: float = DEFAULT_TIMEOUT) -> Any:
    req = urllib.request.Request(url, headers=dict(headers or {}))
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read().decode("utf-8"))
