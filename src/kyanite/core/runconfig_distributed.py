"""Distributed-job configurations and resource requests (``kyanite.core.runconfig``).

``ScriptRunConfig(..., distributed_job_config=X)`` with X one of

- ``PyTorchConfiguration(communication_backend='Nccl', process_count=None, node_count=1,
  process_count_per_node=None)``: ``process_count`` processes in all (the SDK v1
  argument), or ``process_count_per_node`` on each of ``node_count`` nodes. Every process
  gets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``, ``NODE_RANK``,
  ``GROUP_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` (what ``torch.distributed``'s
  ``env://`` initialisation reads) and ``KYANITE_DIST_BACKEND`` (the backend, lower case).
- ``MpiConfiguration(process_count_per_node=1, node_count=1)``: the processes get the
  Open MPI rank variables (``OMPI_COMM_WORLD_RANK``, ``_SIZE``, ``_LOCAL_RANK``,
  ``_LOCAL_SIZE``, ``_NODE_RANK``) and ``PMI_RANK``/``PMI_SIZE``; no ``mpirun`` is used,
  so a script that calls ``MPI_Init`` needs an MPI launcher of its own. ``RANK`` and
  friends are set as well.
- ``TensorflowConfiguration(worker_count=1, parameter_server_count=1)``: one process
  per worker and parameter server, each with ``TF_CONFIG`` (``cluster`` and ``task``).

Every distributed process also gets ``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES``
and ``JAX_PROCESS_ID`` for ``jax.distributed.initialize`` (Keras 3 on JAX).

On the local target and on a single Ray node all processes of a run start on one
machine, as ``node_count`` groups with their own ``NODE_RANK``; ``MASTER_ADDR`` is that
machine. See :mod:`kyanite.runtime.distributed` for how they are started and stopped.

``ResourceConfiguration(cpu=None, gpu=None, memory_gb=None, resources=None,
gpu_per_process=None)`` (a kyanite extension; ``ScriptRunConfig(..., resources=...)`` or
``run_config.resources``) is what the run host of one node needs. The Ray target asks Ray
for it, so Ray puts the run on a node that has room, and gives the node's processes the
GPUs it assigned in ``CUDA_VISIBLE_DEVICES``; ``gpu_per_process`` asks for that many GPUs
per process of the node (``process_count_per_node`` x it, when ``gpu`` is not given);
``resources`` holds Ray custom resources (``{"node_a": 1}``).
"""

from kyanite.exceptions import UserErrorException

__all__ = ["PyTorchConfiguration", "MpiConfiguration", "TensorflowConfiguration",
           "ResourceConfiguration"]


def _count(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            if isinstance(value, bool) or float(value) != int(value):
                raise ValueError
            value = int(value)
        except (TypeError, ValueError):
            raise UserErrorException("%s must be a whole number, got %r." % (name, value))
    if value < minimum:
        raise UserErrorException("%s must be %d or more, got %r." % (name, minimum, value))
    return value


class _Distributed(object):
    framework = "Python"
    communicator = "None"

    @property
    def process_count(self):
        return self.node_count * self.process_count_per_node

    def _definition(self):
        raise NotImplementedError

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join(
            "%s=%r" % (k, v) for k, v in sorted(self.__dict__.items()) if not k.startswith("_")))


class PyTorchConfiguration(_Distributed):
    framework = "PyTorch"

    def __init__(self, communication_backend="Nccl", process_count=None, node_count=1,
                 process_count_per_node=None):
        self.communication_backend = str(communication_backend or "Nccl")
        self.node_count = _count("node_count", node_count)
        if process_count_per_node is not None:
            self.process_count_per_node = _count("process_count_per_node", process_count_per_node)
            if process_count is not None and _count("process_count", process_count) != self.process_count:
                raise UserErrorException(
                    "process_count=%r does not match node_count=%d x process_count_per_node=%d."
                    % (process_count, self.node_count, self.process_count_per_node))
        elif process_count is not None:
            total = _count("process_count", process_count)
            if total % self.node_count:
                raise UserErrorException("process_count=%d is not a multiple of node_count=%d."
                                         % (total, self.node_count))
            self.process_count_per_node = total // self.node_count
        else:
            self.process_count_per_node = 1

    @property
    def communicator(self):
        return self.communication_backend

    def _definition(self):
        return {"type": "PyTorch", "backend": self.communication_backend.lower(),
                "nodeCount": self.node_count, "processCountPerNode": self.process_count_per_node}


class MpiConfiguration(_Distributed):
    communicator = "IntelMpi"

    def __init__(self, process_count_per_node=1, node_count=1):
        self.process_count_per_node = _count("process_count_per_node", process_count_per_node)
        self.node_count = _count("node_count", node_count)

    def _definition(self):
        return {"type": "Mpi", "nodeCount": self.node_count, "processCountPerNode": self.process_count_per_node}


class TensorflowConfiguration(_Distributed):
    framework = "TensorFlow"
    communicator = "ParameterServer"

    def __init__(self, worker_count=1, parameter_server_count=1):
        self.worker_count = _count("worker_count", worker_count)
        self.parameter_server_count = _count("parameter_server_count", parameter_server_count, minimum=0)
        self.node_count = 1  # all tasks run on one node (see the module docstring)

    @property
    def process_count_per_node(self):
        return self.worker_count + self.parameter_server_count

    def _definition(self):
        return {"type": "TensorFlow", "nodeCount": 1, "processCountPerNode": self.process_count_per_node,
                "workerCount": self.worker_count, "parameterServerCount": self.parameter_server_count}


class ResourceConfiguration(object):
    """What the run host of one node needs: ``cpu`` and ``gpu`` counts (fractions allowed),
    ``memory_gb`` and custom ``resources`` (``{"name": amount}``). ``None`` = the target's
    default (on Ray: one CPU per process of the node)."""

    def __init__(self, cpu=None, gpu=None, memory_gb=None, resources=None, gpu_per_process=None):
        self.cpu = _amount("cpu", cpu)
        self.gpu = _amount("gpu", gpu)
        self.gpu_per_process = _amount("gpu_per_process", gpu_per_process)
        self.memory_gb = _amount("memory_gb", memory_gb)
        if resources is not None and not isinstance(resources, dict):
            raise UserErrorException("resources must be a dict {name: amount}, got %r." % (resources,))
        self.resources = dict((str(k), _amount("resources[%r]" % k, v)) for k, v in (resources or {}).items())

    @classmethod
    def _coerce(cls, value):
        if value is None or isinstance(value, cls):
            return value
        if isinstance(value, dict):
            known = {"cpu", "gpu", "memory_gb", "resources", "gpu_per_process"}
            unknown = set(value) - known
            if unknown:
                raise UserErrorException("Unknown resource keys %s; use %s." % (sorted(unknown), sorted(known)))
            return cls(**value)
        raise UserErrorException("resources must be a ResourceConfiguration or a dict, got %r." % (value,))

    def _definition(self):
        out = {}
        if self.cpu is not None:
            out["cpu"] = self.cpu
        if self.gpu is not None:
            out["gpu"] = self.gpu
        if self.gpu_per_process is not None:
            out["gpuPerProcess"] = self.gpu_per_process
        if self.memory_gb is not None:
            out["memoryGb"] = self.memory_gb
        if self.resources:
            out["custom"] = dict(self.resources)
        return out

    def __repr__(self):
        return "ResourceConfiguration(cpu=%r, gpu=%r, memory_gb=%r, resources=%r, gpu_per_process=%r)" % (
            self.cpu, self.gpu, self.memory_gb, self.resources, self.gpu_per_process)


def _amount(name, value):
    if value is None:
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        v = float(value)
    except (TypeError, ValueError):
        raise UserErrorException("%s must be a number, got %r." % (name, value))
    if v < 0:
        raise UserErrorException("%s must not be negative, got %r." % (name, value))
    return int(v) if v == int(v) else v
