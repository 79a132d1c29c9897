"""The framework estimators of SDK v1 (``azureml.train.dnn``): ``TensorFlow``,
``PyTorch`` and ``Chainer`` are :class:`~kyanite.train.estimator.Estimator` s whose
environment adds the framework's pip package (``tensorflow``, ``torch``, ``chainer``;
``framework_version='2.1'`` pins ``==2.1.*``). ``use_gpu`` is kept on the record (see
the estimator module); ``distributed_training`` takes ``MpiConfiguration``,
``PyTorchConfiguration`` or ``TensorflowConfiguration``, re-exported here as in v1
(``Mpi``, ``Gloo``, ``Nccl``, ``ParameterServer`` too: the configurations they stand for).
"""

from kyanite.core.runconfig import MpiConfiguration, PyTorchConfiguration, TensorflowConfiguration
from kyanite.train.estimator import MMLBaseEstimator

__all__ = ["TensorFlow", "PyTorch", "Chainer", "Mpi", "Gloo", "Nccl", "ParameterServer",
           "MpiConfiguration", "PyTorchConfiguration", "TensorflowConfiguration"]


class TensorFlow(MMLBaseEstimator):
    """``TensorFlow(source_directory, entry_script, script_params, framework_version, ...)``."""
    FRAMEWORK_PACKAGE = "tensorflow"


class PyTorch(MMLBaseEstimator):
    """``PyTorch(source_directory, entry_script, script_params, framework_version, ...)``."""
    FRAMEWORK_PACKAGE = "torch"


class Chainer(MMLBaseEstimator):
    """``Chainer(source_directory, entry_script, script_params, framework_version, ...)``."""
    FRAMEWORK_PACKAGE = "chainer"


def Mpi(process_count_per_node=1):
    """v1's ``Mpi()`` distributed backend: an MpiConfiguration."""
    return MpiConfiguration(process_count_per_node=process_count_per_node)


def Gloo():
    """v1's ``Gloo()`` backend: a PyTorchConfiguration (gloo)."""
    return PyTorchConfiguration(communication_backend="Gloo")


def Nccl():
    """v1's ``Nccl()`` backend: a PyTorchConfiguration (nccl)."""
    return PyTorchConfiguration(communication_backend="Nccl")


def ParameterServer(worker_count=1, parameter_server_count=1):
    """v1's ``ParameterServer(worker_count, parameter_server_count)``: a TensorflowConfiguration."""
    return TensorflowConfiguration(worker_count=worker_count, parameter_server_count=parameter_server_count)
