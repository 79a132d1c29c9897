"""RayCompute: an existing Ray cluster as a compute target.

::

    cfg = RayCompute.attach_configuration(address='http://HEAD:8265')
    target = ComputeTarget.attach(ws, 'ray-cluster', cfg)
    target.wait_for_completion(show_output=True)
    target.get_status()          # nodes, CPUs, GPUs, memory and what is free

``address`` is the Ray dashboard's address (the Ray Jobs API). Runs submitted to the
target are started as Ray jobs (see :mod:`kyanite.compute.ray` for what the nodes need,
how resources are asked for and what happens to a run Ray cannot place). Attaching
checks that the workspace server reaches the cluster and refuses the target otherwise.

Options of ``attach_configuration`` (all optional but ``address``):

- ``python``: the interpreter on the nodes that has kyanite installed (default: the
  workspace server's own interpreter path; ``"python"`` means the node's PATH);
- ``server_url``: the workspace server's URL as the nodes reach it (default: its own);
- ``max_concurrent_runs``: how many runs are handed to Ray at once (default: one per
  CPU of the cluster); the others wait Queued;
- ``autoscaling``: the cluster adds nodes on demand, so a request larger than every
  current node waits instead of failing;
- ``env_vars``: variables for every run host; ``headers``: HTTP headers for the
  dashboard (authentication); ``stop_grace_seconds``: how long a canceled host may take
  before Ray kills it (default 15); ``default_cpus_per_process`` (default 1).
"""

from kyanite.core.compute.compute import _TYPES, ComputeTarget, ComputeTargetStatus, checked_config
from kyanite.exceptions import ComputeTargetException

__all__ = ["RayCompute", "RayComputeAttachConfiguration", "RayComputeProvisioningConfiguration",
           "RayComputeStatus"]


class RayComputeAttachConfiguration(object):
    type = "RayCompute"

    def __init__(self, address, python=None, server_url=None, max_concurrent_runs=None, autoscaling=False,
                 env_vars=None, headers=None, stop_grace_seconds=None, default_cpus_per_process=None):
        self.config = checked_config(self.type, {
            "address": address, "python": python, "server_url": server_url,
            "max_concurrent_runs": max_concurrent_runs, "autoscaling": bool(autoscaling),
            "env_vars": dict(env_vars or {}), "headers": dict(headers) if headers else None,
            "stop_grace_seconds": stop_grace_seconds, "default_cpus_per_process": default_cpus_per_process})
        self.address = self.config["address"]

    def __repr__(self):
        return "RayComputeAttachConfiguration(address=%r)" % self.address


class RayComputeProvisioningConfiguration(object):
    """A private Ray head on this machine, started for the workspace when the target is
    created and stopped when it is deleted (``RayCompute.provisioning_configuration``)."""

    type = "RayCompute"

    def __init__(self, num_cpus=None, num_gpus=None, resources=None, object_store_mb=200,
                 max_concurrent_runs=None):
        self.head_options = {"num_cpus": num_cpus, "num_gpus": num_gpus, "resources": resources or None,
                             "object_store_mb": object_store_mb}
        self.config = {"executor": "ray", "address": None,
                       "max_concurrent_runs": int(max_concurrent_runs) if max_concurrent_runs else None,
                       "autoscaling": False, "env_vars": {}, "headers": None, "stop_grace_seconds": None,
                       "default_cpus_per_process": 1, "python": None, "server_url": None}

    def _provision(self, workspace, name):
        """Start the head (the SDK and the server share this machine for a local workspace)."""
        if getattr(workspace, "_layout", None) is None:
            raise ComputeTargetException(
                "A local Ray head can only be started for a local workspace. For a remote workspace start "
                "a cluster with `ray start --head` and attach it with RayCompute.attach_configuration(address=...).")
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ComputeTargetException("A local Ray head needs Ray: pip install 'kyanite[ray]'.")
        from kyanite.compute.ray_head import LocalRayHead
        try:
            head = LocalRayHead.start(**self.head_options)
        except Exception as exc:
            raise ComputeTargetException("Could not start a local Ray head for %r: %s" % (name, exc))
        self.config.update(address=head.address, local_head=head.record())
        return head

    def __repr__(self):
        return "RayComputeProvisioningConfiguration(%r)" % (self.head_options,)


class RayComputeStatus(ComputeTargetStatus):
    """``ComputeTargetStatus`` plus what the Ray cluster holds."""

    def __init__(self, record, cluster):
        super(RayComputeStatus, self).__init__(record)
        self.reachable = bool(cluster.get("reachable"))
        self.error = cluster.get("error")
        self.address = cluster.get("address")
        self.node_count = cluster.get("nodeCount", 0)
        self.current_node_count = self.node_count
        self.cpus = cluster.get("cpus", 0)
        self.gpus = cluster.get("gpus", 0)
        self.free_cpus = cluster.get("freeCpus", 0)
        self.free_gpus = cluster.get("freeGpus", 0)
        self.memory_gb = cluster.get("memoryGb", 0)
        self.free_memory_gb = cluster.get("freeMemoryGb", 0)
        self.custom_resources = cluster.get("customResources", {})
        self.free_custom_resources = cluster.get("freeCustomResources", {})
        self.nodes = cluster.get("nodes", [])
        self.node_state_counts = {"runningNodeCount": self.node_count, "idleNodeCount": 0}


class RayCompute(ComputeTarget):
    """A Ray cluster attached by its dashboard address."""

    _type = "RayCompute"

    @staticmethod
    def attach_configuration(address=None, python=None, server_url=None, max_concurrent_runs=None,
                             autoscaling=False, env_vars=None, headers=None, stop_grace_seconds=None,
                             default_cpus_per_process=None):
        return RayComputeAttachConfiguration(address, python, server_url, max_concurrent_runs, autoscaling,
                                             env_vars, headers, stop_grace_seconds, default_cpus_per_process)

    @staticmethod
    def provisioning_configuration(num_cpus=None, num_gpus=None, resources=None, object_store_mb=200,
                                   max_concurrent_runs=None):
        """A private single-machine Ray head for this (local) workspace, started by
        ``ComputeTarget.create`` and stopped by ``delete()``. ``num_cpus`` defaults to the
        machine's; ``resources`` are custom Ray resources of the node."""
        return RayComputeProvisioningConfiguration(num_cpus, num_gpus, resources, object_store_mb,
                                                   max_concurrent_runs)

    @property
    def address(self):
        return self._record["config"].get("address")

    def delete(self):
        """Forget the target; a head this workspace started for it is stopped too."""
        super(RayCompute, self).delete()
        head = self._record["config"].get("local_head")
        if head:
            from kyanite.compute.ray_head import LocalRayHead
            LocalRayHead.from_record(head).stop()

    def cluster(self):
        """What the cluster holds now, as the workspace server sees it (a dict)."""
        return self.workspace._client.get("/api/computes/%s/cluster" % self.name)["cluster"]

    def get_status(self):
        self.refresh_state()
        return RayComputeStatus(self._record, self.cluster())

    def _check_attached(self):
        cluster = self.cluster()
        if not cluster.get("reachable"):
            raise ComputeTargetException("Cannot attach %r: %s" % (self.name, cluster.get("error")))

    def wait_for_completion(self, show_output=False, min_node_count=None, timeout_in_minutes=20,
                            is_delete_operation=False):
        st = self.get_status()
        if show_output:
            if not st.reachable:
                print("Ray cluster %s: not reachable: %s" % (self.address, st.error))
            else:
                print("Ray cluster %s: %d node(s), %g CPUs (%g free), %g GPUs (%g free); "
                      "%d runs at once, %d running, %d queued" % (
                          self.address, st.node_count, st.cpus, st.free_cpus, st.gpus, st.free_gpus,
                          st.capacity or 0, st.running_run_count or 0, st.queued_run_count or 0))

    def detach(self):
        """Forget an attached cluster (the cluster itself keeps running)."""
        ComputeTarget.delete(self)


_TYPES["RayCompute"] = RayCompute
