"""One distributed run across several Ray nodes (``node_count > 1`` on a Ray target).

The Ray executor starts the run host as a Ray job with ``KYANITE_RAY_SPREAD=1`` and the
per-node request in ``KYANITE_RAY_BUNDLE``. The host (a Ray job driver) then

- reserves a placement group of ``node_count`` bundles of that request with the
  ``STRICT_SPREAD`` strategy, bundle 0 on the host's own node (the host runs node group 0
  there, with ``MASTER_ADDR`` that node's address and ports free there);
- starts one ``NodeGroup`` actor in each other bundle: it fetches the snapshot and builds
  the environment on its node, starts the ranks of its ``NODE_RANK`` with the same
  ``MASTER_ADDR``/ports, ships their logs (``user_logs/std_log_process_<rank>.txt``,
  its own notes in ``user_logs/std_log_node_<k>.txt``) and metrics to the server, and
  returns the group's exit code;
- GPUs (a bundle with ``GPU``): each node group actor asks Ray for the bundle's GPUs and
  its ranks see them in ``CUDA_VISIBLE_DEVICES`` as Ray assigned them; node 0's are held
  by a small actor in bundle 0 (``gpu_ids``), which the host puts in its ranks'
  ``CUDA_VISIBLE_DEVICES``;
- waits for every group: the first that fails stops the others; cancel and timeout stop
  them all; the placement group is removed at the end in every case.

Every node prepares the run's input datasets in its own node cache (the host on node 0,
each node group on its node), so a rank's dataset arguments are paths on its node;
``./outputs`` is uploaded from node 0 (rank 0's working folder).
"""

import json
import logging
import os
import shutil
import signal
import threading
import time

from kyanite import settings

SPREAD_VAR = "KYANITE_RAY_SPREAD"
BUNDLE_VAR = "KYANITE_RAY_BUNDLE"


def wanted(definition):
    """Whether the run of ``definition`` (a ``RunDefinition``) spreads its node groups."""
    dist = definition.distributed or {}
    return (settings.get(SPREAD_VAR) and bool(dist) and dist.get("type") != "TensorFlow"
            and int(dist.get("nodeCount") or 1) > 1)


class NodeGroup(object):
    """The ranks of one node of a spread run (a Ray actor in that node's bundle)."""

    def __init__(self):
        self.group = None
        self.stopped = False

    def run(self, run_id, experiment, node_rank, definition, env_def, master_addr, ports):
        """Run node group ``node_rank``; ``definition`` is the run definition's JSON object."""
        from kyanite.envs import EnvBuilder, EnvSpec
        from kyanite.protocol.runs import RunDefinition
        from kyanite.runtime import distributed
        from kyanite.runtime._http import Client
        from kyanite.runtime.host import Host, LogShipper, MetricShipper
        client = Client(settings.require("KYANITE_SERVER_URL"), settings.get("KYANITE_TOKEN"), retry_seconds=600)
        host = Host(run_id, client)
        host.experiment = experiment
        log = LogShipper(client, run_id, "user_logs/std_log_node_%d.txt" % node_rank)
        workdir = os.path.join(host.cache, "runs", "%s.node%d" % (run_id, node_rank))
        try:
            import socket
            log.line("node group %d of run %s on %s" % (node_rank, run_id, socket.gethostname()))
            definition = RunDefinition.from_json(definition)
            src = host.fetch_snapshot(definition.snapshot_id)
            spec = EnvSpec.from_dict(env_def.get("spec") or {"user_managed": True})
            built = EnvBuilder(host.cache).ensure(spec, log=log.line)
            if definition.input_datasets:  # into this node's cache, as the host does on node 0
                from kyanite.data import DataError, materialize_run_inputs
                try:
                    inputs = materialize_run_inputs(client, definition, host.cache, workdir, log.line)
                except DataError as exc:
                    log.line("input datasets could not be prepared: %s" % exc.message)
                    return {"rc": 1, "failedRank": None, "tail": [],
                            "error": ["input datasets could not be prepared on node %d: %s" % (node_rank, exc.message)]}
                definition = definition.replace(arguments=inputs.arguments)
                env_def = dict(env_def, environmentVariables=dict(env_def.get("environmentVariables") or {},
                                                                  **inputs.env))
            if os.path.exists(workdir):
                shutil.rmtree(workdir)
            shutil.copytree(src, workdir, symlinks=True)
            for d in ("outputs", "logs"):
                os.makedirs(os.path.join(workdir, d), exist_ok=True)
            spool = workdir + ".metrics"
            if os.path.exists(spool):
                os.unlink(spool)
            metrics = MetricShipper(client, spool)
            env = host.script_env(definition, env_def, spool, resolved=built.resolved, python=built.python)
            members = [m for m in distributed.plan(definition.distributed, env, env_def.get("environmentVariables"),
                                                   master_addr=master_addr, ports=ports)
                       if m.env["NODE_RANK"] == str(node_rank)]
            cmd = [built.python, definition.script] + [str(a) for a in definition.arguments]
            if self.stopped:
                return {"rc": -15, "failedRank": None, "tail": []}
            self.group = distributed.ProcessGroup(members, log, lambda name: LogShipper(client, run_id, name))
            self.group.start(cmd, workdir)
            rc = self.group.wait()
            metrics.close()
            failed = self.group.failed_rank
            tail = self.group._logs[failed].tail[-10:] if failed is not None else []
            return {"rc": rc, "failedRank": None if failed is None else members[failed].rank, "tail": tail}
        finally:
            log.close()
            shutil.rmtree(workdir, ignore_errors=True)
            shutil.rmtree(workdir + ".inputs", ignore_errors=True)  # mounted/downloaded datasets

    def stop(self):
        self.stopped = True
        if self.group is not None:
            self.group.stop()
        return True


class _GpuLease(object):
    """Holds node 0's GPUs of a spread run for as long as the run (a Ray actor in bundle 0)."""

    def ids(self):
        import ray
        return ray.get_gpu_ids()


class Spread(object):
    """The coordinator's side, in the run host: reserve, start, wait, clean up."""

    def __init__(self, host, log, definition, env_def):
        self.host, self.log, self.definition, self.env_def = host, log, definition, env_def
        self.nodes = int(definition.distributed["nodeCount"])
        self.pg = None
        self.actors = []
        self.refs = []
        self._stop = threading.Event()
        #: node 0's GPU ids as Ray assigned them (``reserve``), or None when the bundle has no GPU
        self.gpu_ids = None
        self._lease = None

    def reserve(self, timeout=None):
        """Connect to the cluster and reserve one bundle per node; returns ``(master_addr,
        ports)`` for ``distributed.plan`` (node 0 is this node)."""
        import ray
        from ray.util.placement_group import placement_group
        ray.init(address=os.environ.get("RAY_ADDRESS") or "auto", logging_level=logging.WARNING,
                 log_to_driver=False)
        # ray.init replaces the SIGTERM handler with sys.exit: put the host's back, so that
        # Ray's stop_job (SIGTERM) cancels the run and stops the node groups on the other
        # nodes, rather than dropping their actors with the ranks still running there
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.host.cancel)
        bundle = dict((k, v) for k, v in settings.get(BUNDLE_VAR).items() if v)
        node_id = ray.get_runtime_context().get_node_id()
        self.pg = placement_group([dict(bundle) for _ in range(self.nodes)], strategy="STRICT_SPREAD",
                                  bundle_label_selector=[{"ray.io/node-id": node_id}] + [{}] * (self.nodes - 1))
        self.log.line("reserving %d nodes on Ray (STRICT_SPREAD, %s each; node 0 is this one)"
                      % (self.nodes, ", ".join("%g %s" % (v, k) for k, v in sorted(bundle.items()))))
        ready = self.pg.ready()
        limit = timeout or settings.get("KYANITE_RAY_SPREAD_TIMEOUT")
        deadline = time.time() + limit
        while True:
            done, _ = ray.wait([ready], timeout=1.0)
            if done:
                break
            if self.host.cancel_requested.is_set() or time.time() > deadline:
                raise TimeoutError("Ray could not place %d node groups of %s on distinct nodes within %gs"
                                   % (self.nodes, bundle, limit) if not self.host.cancel_requested.is_set()
                                   else "canceled while waiting for Ray nodes")
        if bundle.get("GPU"):  # node 0's GPUs: held by an actor in bundle 0, as Ray assigns them
            from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy
            self._lease = ray.remote(num_cpus=0, num_gpus=bundle["GPU"])(_GpuLease).options(
                scheduling_strategy=PlacementGroupSchedulingStrategy(
                    placement_group=self.pg, placement_group_bundle_index=0)).remote()
            self.gpu_ids = [str(g) for g in ray.get(self._lease.ids.remote(), timeout=60)]
            self.log.line("node 0 holds GPU(s) %s" % ",".join(self.gpu_ids))
        from kyanite.runtime.distributed import free_ports
        addr = ray.util.get_node_ip_address()
        return addr, tuple(free_ports(2, "127.0.0.1" if addr == "127.0.0.1" else ""))

    def start(self, run_id, experiment, definition, env_def, master_addr, ports):
        """Start node groups 1.. on the other nodes; ``definition`` is the run's ``RunDefinition``."""
        import ray
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy
        gpus = dict(settings.get(BUNDLE_VAR)).get("GPU") or 0  # Ray sets each group's CUDA_VISIBLE_DEVICES
        cls = ray.remote(num_cpus=0, num_gpus=gpus, max_concurrency=2)(NodeGroup)
        for k in range(1, self.nodes):
            a = cls.options(scheduling_strategy=PlacementGroupSchedulingStrategy(
                placement_group=self.pg, placement_group_bundle_index=k)).remote()
            self.actors.append(a)
            self.refs.append(a.run.remote(run_id, experiment, k, definition.to_json(), env_def, master_addr, ports))
        self.log.line("started node groups 1-%d on the other Ray nodes" % (self.nodes - 1))

    def wait(self, group):
        """Wait for the local group and every remote one; returns the run's exit code."""
        import ray
        local = {}
        t = threading.Thread(target=lambda: local.setdefault("rc", group.wait()), daemon=True)
        t.start()
        pending, rc = list(self.refs), 0
        while pending or t.is_alive():
            if "rc" in local and local["rc"] != 0 and rc == 0:
                rc = local["rc"]
                self.stop_remote()
            if pending:
                done, pending = ray.wait(pending, timeout=0.2)
                for ref in done:
                    try:
                        out = ray.get(ref)
                    except Exception as exc:  # a lost node or worker
                        out = {"rc": 1, "failedRank": None, "tail": [], "error": str(exc).strip().splitlines()[-1:]}
                    if out["rc"] != 0 and rc == 0:
                        rc = out["rc"]
                        for line in out.get("tail") or []:
                            self.log.write("[rank %s] %s\n" % (out["failedRank"], line))
                        self.log.line("node group %d failed (%s); stopping the others" % (
                            self.refs.index(ref) + 1, "rank %s exited with code %s" % (out["failedRank"], out["rc"])
                            if out["failedRank"] is not None else "; ".join(out.get("error") or []) or "code %s" % rc))
                        group.stop()
                        self.stop_remote()
            else:
                t.join(0.2)
        t.join()
        return rc or local.get("rc", 0)

    def stop_remote(self):
        for a in self.actors:
            try:
                a.stop.remote()
            except Exception:
                pass

    def close(self, grace=15.0):
        """Stop every node group (waiting up to ``grace`` seconds for their ranks to end),
        then drop the actors and the placement group. An actor killed first would leave its
        ranks running on its node."""
        try:
            import ray
            stops = []
            for a in self.actors:
                try:
                    stops.append(a.stop.remote())
                except Exception:
                    pass
            if stops:
                try:
                    ray.wait(stops, num_returns=len(stops), timeout=grace)
                except Exception:
                    pass
            for a in self.actors:
                try:
                    ray.kill(a)
                except Exception:
                    pass
            if self.pg is not None:
                from ray.util.placement_group import remove_placement_group
                remove_placement_group(self.pg)
        except Exception as exc:
            self.log.line("could not release the Ray placement group: %s" % exc)
