"""Compute targets: where runs execute.

``local`` is built in: this machine, as many runs at once as it has cores. An
``AmlCompute`` provisioned with ``max_nodes=N`` is a local cluster that runs at most N runs
at once; the others wait Queued. Records live on the workspace server.
"""


from kyanite.exceptions import ComputeTargetException, ConflictException, NotFoundException, UserErrorException
from kyanite.protocol.compute import ComputeConfig, ComputeConfigError

__all__ = ["ComputeTarget", "AmlCompute", "AmlComputeProvisioningConfiguration", "ComputeTargetStatus"]


class ComputeTargetStatus(object):
    def __init__(self, record):
        st = record.get("status", {})
        self.provisioning_state = record.get("provisioningState", "Succeeded")
        self.capacity = st.get("capacity")
        self.running_run_count = st.get("running")
        self.queued_run_count = st.get("queued")
        self.free_capacity = st.get("free")
        self.current_node_count = st.get("running")
        self.node_state_counts = {"runningNodeCount": st.get("running"), "idleNodeCount": st.get("free")}
        #: GPUs each slot holds (0: CPU only; None: Ray decides)
        self.gpus_per_slot = st.get("gpusPerSlot")
        #: ``[{"id", "name", "memoryMiB", "run"}]``: the GPUs the target's active runs hold
        self.gpus = st.get("gpus")

    def serialize(self):
        return dict(self.__dict__)

    def __repr__(self):
        return "ComputeTargetStatus(%s)" % ", ".join("%s=%r" % kv for kv in self.__dict__.items())


class ComputeTarget(object):
    """``ComputeTarget(workspace, name)`` fetches a target; ComputeTargetException if absent."""

    _type = None

    def __new__(cls, workspace=None, name=None, **kwargs):
        if cls is ComputeTarget and workspace is not None and name is not None:
            record = _fetch(workspace, name)
            sub = _TYPES.get(record["type"], ComputeTarget)
            obj = object.__new__(sub)
            obj._init(workspace, record)
            return obj
        return object.__new__(cls)

    def __init__(self, workspace=None, name=None):
        if getattr(self, "_record", None) is None and workspace is not None:
            self._init(workspace, _fetch(workspace, name))

    def _init(self, workspace, record):
        self.workspace = workspace
        self._record = record
        self.name = record["name"]
        self.type = record["type"]
        self.provisioning_state = record.get("provisioningState", "Succeeded")
        #: ``[{"code", "message"}]`` when the server cannot use the target's stored config, else None
        self.provisioning_errors = [record["error"]] if record.get("error") else None

    @classmethod
    def _from_record(cls, workspace, record):
        obj = object.__new__(_TYPES.get(record["type"], ComputeTarget))
        obj._init(workspace, record)
        return obj

    @staticmethod
    def create(workspace, name, provisioning_configuration):
        """Create a target from ``AmlCompute.provisioning_configuration(...)``."""
        cfg = provisioning_configuration
        provision = getattr(cfg, "_provision", None)  # e.g. a local Ray head to start first
        if provision is not None and name in workspace.compute_targets:
            raise ComputeTargetException("A compute target named %r already exists." % name)
        resource = provision(workspace, name) if provision is not None else None
        try:
            record = workspace._client.post("/api/computes", {"name": name, "type": cfg.type, "config": cfg.config})
        except BaseException as exc:
            if resource is not None:
                resource.stop()
            if isinstance(exc, UserErrorException):  # a taken name, a refused config
                raise ComputeTargetException(exc.message)
            raise
        return ComputeTarget._from_record(workspace, record)

    @staticmethod
    def attach(workspace, name, attach_configuration):
        """Attach existing compute, e.g. ``RayCompute.attach_configuration(address=...)``.
        The workspace server must reach it, else ComputeTargetException and nothing is kept."""
        target = ComputeTarget.create(workspace, name, attach_configuration)
        check = getattr(target, "_check_attached", None)
        if check is not None:
            try:
                check()
            except Exception:
                try:
                    target.delete()
                except Exception:
                    pass
                raise
        return target

    @staticmethod
    def list(workspace):
        return list(workspace.compute_targets.values())

    def refresh_state(self):
        self._init(self.workspace, _fetch(self.workspace, self.name))

    def wait_for_completion(self, show_output=False, min_node_count=None, timeout_in_minutes=20,
                            is_delete_operation=False):
        self.refresh_state()
        if show_output:
            st = self.get_status()
            print("Provisioning operation finished, operation \"%s\"" % self.provisioning_state)
            if self.provisioning_errors:
                print("%s %r cannot run anything: %s" % (self.type, self.name, self.provisioning_errors[0]["message"]))
                return
            print("%s %r: %d of %d slots free, %d queued" % (self.type, self.name, st.free_capacity,
                                                              st.capacity, st.queued_run_count))

    def get_status(self):
        self.refresh_state()
        return ComputeTargetStatus(self._record)

    def delete(self):
        try:
            self.workspace._client.delete("/api/computes/%s" % self.name)
        except ConflictException as exc:
            raise ComputeTargetException(exc.message)

    def serialize(self):
        return dict(self._record)

    def __repr__(self):
        return "%s(workspace=%r, name=%r, type=%r)" % (type(self).__name__, self.workspace.name, self.name, self.type)


class AmlComputeProvisioningConfiguration(object):
    type = "AmlCompute"

    def __init__(self, vm_size="", vm_priority="dedicated", min_nodes=0, max_nodes=None,
                 idle_seconds_before_scaledown=None, run_as=None, gpus_per_node=None, **kwargs):
        self.config = checked_config(self.type, {
            "vm_size": vm_size, "vm_priority": vm_priority, "min_nodes": min_nodes, "max_nodes": max_nodes,
            "idle_seconds_before_scaledown": idle_seconds_before_scaledown, "run_as": run_as,
            "gpus_per_node": gpus_per_node})


class AmlCompute(ComputeTarget):
    """A local cluster: ``max_nodes`` runs at once on this machine."""

    _type = "AmlCompute"

    @staticmethod
    def provisioning_configuration(vm_size="", vm_priority="dedicated", min_nodes=0, max_nodes=None,
                                   idle_seconds_before_scaledown=None, admin_username=None,
                                   admin_user_password=None, admin_user_ssh_key=None, vnet_resourcegroup_name=None,
                                   vnet_name=None, subnet_name=None, tags=None, description=None,
                                   remote_login_port_public_access="NotSpecified", identity_type=None,
                                   identity_id=None, location=None, enable_node_public_ip=True, ray=False,
                                   run_as=None, gpus_per_node=None):
        """``vm_size`` names each slot's GPUs: an Azure GPU size (``'STANDARD_NC6'``: 1,
        ``'Standard_NC12s_v3'``: 2... see ``kyanite.protocol.compute.VM_SIZE_GPUS``), or
        ``'gpu'``/``'gpu:N'``; ``gpus_per_node`` (kyanite extension) says it as a number.
        Each of the ``max_nodes`` runs at once then holds that many of this machine's GPUs,
        alone, in its ``CUDA_VISIBLE_DEVICES`` (a CPU size: empty); creating the target
        fails when the machine has fewer GPUs than the slots hold together.
        ``ray=True`` (kyanite extension): a private Ray head on this machine instead, with
        ``max_nodes`` runs at once (see ``RayCompute.provisioning_configuration``).
        ``run_as="kyanite-run"`` (kyanite extension): run hosts and scripts run as that OS
        user, so they cannot read the workspace folder (the server must run as root; see
        docs/security.md)."""
        if ray:
            if run_as:
                raise ComputeTargetException("run_as is for local clusters; a Ray cluster's workers run as "
                                             "the user that started them.")
            # RayCompute registers itself in _TYPES (kyanite.core.compute imports it)
            return _TYPES["RayCompute"].provisioning_configuration(max_concurrent_runs=max_nodes)
        return AmlComputeProvisioningConfiguration(vm_size, vm_priority, min_nodes, max_nodes,
                                                   idle_seconds_before_scaledown, run_as=run_as,
                                                   gpus_per_node=gpus_per_node)

    @property
    def max_nodes(self):
        return self._record["config"].get("max_nodes")

    @property
    def run_as(self):
        return self._record["config"].get("run_as")

    @property
    def vm_size(self):
        return self._record["config"].get("vm_size")

    @property
    def gpus_per_node(self):
        """GPUs each slot holds (0: CPU only)."""
        return self._record["config"].get("gpus_per_node") or 0


_TYPES = {"AmlCompute": AmlCompute}


def checked_config(type_, config):
    """``config`` validated and filled in by ``kyanite.protocol.compute.ComputeConfig`` (without
    ``type``, as it is stored); ComputeTargetException naming the wrong field."""
    try:
        data = ComputeConfig.from_json(dict(config, type=type_)).to_json()
    except ComputeConfigError as exc:
        raise ComputeTargetException(exc.message)
    data.pop("type")
    return data


def _fetch(workspace, name):
    if not isinstance(name, str) or not name:
        raise ComputeTargetException("A compute target name is needed, got %r." % (name,))
    try:
        return workspace._client.get("/api/computes/%s" % name)
    except NotFoundException:
        known = [c["name"] for c in workspace._client.get("/api/computes")["computes"]]
        raise ComputeTargetException(
            "ComputeTargetNotFound: Compute Target with name %s not found in provided workspace. "
            "Known targets: %s. Create it with ComputeTarget.create(ws, name, "
            "AmlCompute.provisioning_configuration(max_nodes=N))." % (name, ", ".join(known)))


