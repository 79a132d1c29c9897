"""RunConfiguration: how a script runs (target, environment, limits), as in the SDK v1."""

from kyanite.core.environment import Environment
from kyanite.core.runconfig_distributed import (
    MpiConfiguration, PyTorchConfiguration, ResourceConfiguration, TensorflowConfiguration,
)

__all__ = ["RunConfiguration", "PyTorchConfiguration", "MpiConfiguration", "TensorflowConfiguration",
           "ResourceConfiguration", "DockerConfiguration"]


class DockerConfiguration(object):
    """SDK v1's ``DockerConfiguration`` (``ScriptRunConfig(docker_runtime_config=...)``,
    ``run_config.docker``): accepted and recorded in the run definition
    (``dockerConfiguration``); runs never use Docker, and the run's log says so when one of
    these is set."""

    def __init__(self, use_docker=None, shared_volumes=None, arguments=None, shm_size=None):
        self.use_docker = use_docker
        self.shared_volumes = shared_volumes
        self.arguments = list(arguments or [])
        self.shm_size = shm_size

    def _definition(self):
        return {"useDocker": self.use_docker, "sharedVolumes": self.shared_volumes,
                "arguments": [str(a) for a in self.arguments], "shmSize": self.shm_size}


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
        self.docker = None  # a DockerConfiguration: recorded, not applied
