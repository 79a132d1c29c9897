"""RunConfiguration: how a script runs (target, environment, limits), as in the SDK v1."""

from kyanite.core.environment import Environment
from kyanite.core.runconfig_distributed import (
    MpiConfiguration, PyTorchConfiguration, ResourceConfiguration, TensorflowConfiguration,
)

__all__ = ["RunConfiguration", "PyTorchConfiguration", "MpiConfiguration", "TensorflowConfiguration",
           "ResourceConfiguration"]


class RunConfiguration(object):
    def __init__(self, script=None, arguments=None, framework="Python", communicator="None",
                 conda_dependencies=None, _history_enabled=True, _path=None, _name=None, command=None):
        self.script = script
        self.arguments = list(arguments or [])
        self.framework = framework
        self.communicator = communicator
        self.target = "local"
        self.environment = Environment("default-environment")
        if conda_dependencies is not None:
            self.environment.python.conda_dependencies = conda_dependencies
        self.max_run_duration_seconds = None
        self.node_count = 1
        self.environment_variables = {}
        self.command = command
        self.resources = None  # a ResourceConfiguration (kyanite extension), None = target default
