"""ScriptRunConfig: a script, its arguments, a compute target and an environment.

``Experiment(ws, name).submit(ScriptRunConfig(...))`` snapshots ``source_directory``
(uploaded once per content), records the definition and queues the run on the target.
Missing folders or scripts and unknown targets are refused here, before anything runs.
"""

import os

from kyanite.core.runconfig import RunConfiguration
from kyanite.exceptions import UserErrorException

__all__ = ["ScriptRunConfig"]


class ScriptRunConfig(object):
    def __init__(self, source_directory=".", script=None, arguments=None, run_config=None,
                 _telemetry_values=None, compute_target=None, environment=None,
                 distributed_job_config=None, resume_from=None, max_run_duration_seconds=None,
                 command=None, docker_runtime_config=None, resources=None):
        self.source_directory = source_directory
        self.script = script
        self.arguments = list(arguments or [])
        self.run_config = run_config or RunConfiguration()
        if compute_target is not None:
            self.run_config.target = compute_target
        if environment is not None:
            self.run_config.environment = environment
        if max_run_duration_seconds is not None:
            self.run_config.max_run_duration_seconds = max_run_duration_seconds
        self.distributed_job_config = distributed_job_config
        if distributed_job_config is not None and not hasattr(distributed_job_config, "_definition"):
            raise UserErrorException("distributed_job_config must be a PyTorchConfiguration, MpiConfiguration "
                                     "or TensorflowConfiguration, got %r." % (distributed_job_config,))
        if docker_runtime_config is not None:
            self.run_config.docker = docker_runtime_config
        if resources is not None:  # kyanite extension: what one node of the run needs
            from kyanite.core.runconfig_distributed import ResourceConfiguration
            self.run_config.resources = ResourceConfiguration._coerce(resources)

    @property
    def compute_target(self):
        return self.run_config.target

    @property
    def environment(self):
        return self.run_config.environment

    def _target_name(self):
        t = self.run_config.target
        return t if isinstance(t, str) else getattr(t, "name", None) or "local"

    def _definition(self, experiment):
        """Validate and build the run definition (uploads the snapshot)."""
        from kyanite.core._snapshot import upload_snapshot
        src = os.path.abspath(self.source_directory)
        if not os.path.isdir(src):
            raise UserErrorException("source_directory %r does not exist. Give the folder that holds "
                                     "your script." % self.source_directory)
        if not self.script:
            raise UserErrorException("ScriptRunConfig needs script='name.py' (a file in source_directory).")
        if not os.path.isfile(os.path.join(src, self.script)):
            raise UserErrorException("Script %r not found in source_directory %s." % (self.script, src))
        env = self.run_config.environment
        from kyanite.core.dataset import _run_inputs  # datasets -> placeholders + inputDatasets
        args, input_datasets = _run_inputs(experiment.workspace, self.arguments,
                                           getattr(self.run_config, "data", None))
        arguments = [a if isinstance(a, (str, int, float)) else _argument(a) for a in args]
        definition = {
            "script": self.script,
            "arguments": [str(a) for a in arguments],
            "sourceDirectory": src,
            "snapshotId": upload_snapshot(experiment.workspace._client, src),
            "target": self._target_name(),
            "environment": env._run_definition(),
            "maxRunDurationSeconds": self.run_config.max_run_duration_seconds,
            "framework": self.run_config.framework,
            "nodeCount": self.run_config.node_count,
        }
        definition.update(self._distribution())
        docker = getattr(self.run_config, "docker", None)
        if docker is not None:
            definition["dockerConfiguration"] = docker._definition()
        if input_datasets:
            definition["inputDatasets"] = input_datasets
        return definition

    def _distribution(self):
        """The distributed-job and resource parts of the run definition."""
        from kyanite.core.runconfig_distributed import ResourceConfiguration
        out = {}
        dist = self.distributed_job_config
        if dist is not None:
            out.update(distributed=dist._definition(), framework=dist.framework,
                       communicator=dist.communicator, nodeCount=dist.node_count)
        res = ResourceConfiguration._coerce(getattr(self.run_config, "resources", None))
        if res is not None:
            out["resources"] = res._definition()
            if res.cpu:
                out["cpuCount"] = res.cpu
        return out

    def _submit(self, experiment, tags=None, **kwargs):
        from kyanite.core.run import Run
        definition = self._definition(experiment)
        details = experiment.workspace._client.post("/api/runs", {
            "experiment": experiment.name, "target": definition["target"], "definition": definition,
            "tags": tags or {}})
        return Run._from_details(experiment.workspace._client, details, experiment)


def _argument(a):
    if isinstance(a, bool):
        return str(a)
    raise UserErrorException("Argument %r of type %s cannot be passed to a script; use str, int or float."
                             % (a, type(a).__name__))
