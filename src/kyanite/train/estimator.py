"""Estimators (SDK v1 ``azureml.train.estimator``), kept so v1 notebooks run unchanged.

An ``Estimator`` is a :class:`~kyanite.core.ScriptRunConfig` built from the v1 estimator
arguments: ``exp.submit(est)`` and ``HyperDriveConfig(estimator=est, ...)`` take it.

- ``script_params={'--lr': 0.1, '--data': ds.as_mount(), '--flag': ''}`` become the
  script's arguments in order: ``--lr 0.1 --data <mount> --flag`` (a value of ``''``
  or None passes the key alone); ``arguments`` are appended after them.
- The environment: ``environment_definition`` when given; else ``user_managed=True``
  runs the current interpreter as-is; else a uv environment named after the estimator
  with ``conda_packages``, ``pip_packages``, ``pip_requirements_file`` or
  ``conda_dependencies_file`` (and, for the framework estimators of
  :mod:`kyanite.train.dnn`, the framework's package at ``framework_version``).
- ``compute_target``, ``node_count``, ``distributed_training`` (a PyTorchConfiguration,
  MpiConfiguration or TensorflowConfiguration), ``max_run_duration_seconds``,
  ``environment_variables`` and ``inputs`` (datasets: mounted or downloaded as for a
  ScriptRunConfig) are applied. ``custom_docker_image``, ``use_docker``, ``shm_size``
  and ``use_gpu`` are kept on the environment's Docker settings, which do not apply
  (runs never use Docker; a GPU the machine has is visible to the script either way).
"""

from kyanite.core.environment import Environment
from kyanite.core.script_run_config import ScriptRunConfig
from kyanite.exceptions import UserErrorException

__all__ = ["Estimator", "MMLBaseEstimator"]


class MMLBaseEstimator(ScriptRunConfig):
    """The base of every estimator: a ScriptRunConfig made from estimator arguments."""

    #: (pip package, pinned as ``==version``) of a framework estimator; None for Estimator
    FRAMEWORK_PACKAGE = None

    def __init__(self, source_directory, compute_target=None, entry_script=None, script_params=None,
                 node_count=1, process_count_per_node=1, distributed_backend=None, distributed_training=None,
                 use_gpu=False, use_docker=True, custom_docker_image=None, image_registry_details=None,
                 user_managed=False, conda_packages=None, pip_packages=None, conda_dependencies_file_path=None,
                 pip_requirements_file_path=None, conda_dependencies_file=None, pip_requirements_file=None,
                 environment_variables=None, environment_definition=None, inputs=None, source_directory_data_store=None,
                 shm_size=None, resume_from=None, max_run_duration_seconds=None, framework_version=None,
                 arguments=None, _disable_validation=True, _show_lint_warnings=False, _show_package_warnings=False,
                 **kwargs):
        if not entry_script:
            raise UserErrorException("%s needs entry_script='train.py' (a file in source_directory)."
                                     % type(self).__name__)
        if distributed_training is not None and not hasattr(distributed_training, "_definition"):
            raise UserErrorException("distributed_training must be a PyTorchConfiguration, MpiConfiguration or "
                                     "TensorflowConfiguration, got %r." % (distributed_training,))
        env = environment_definition
        if env is None:
            env = self._environment(
                user_managed, conda_packages, pip_packages, conda_dependencies_file or conda_dependencies_file_path,
                pip_requirements_file or pip_requirements_file_path, framework_version)
            env.docker.enabled = bool(use_docker and custom_docker_image)
            env.docker.base_image = custom_docker_image
            env.docker.shm_size = shm_size
            env.docker.gpu_support = bool(use_gpu)
            if image_registry_details is not None:
                env.docker.base_image_registry = image_registry_details
        if environment_variables:
            env.environment_variables = dict(env.environment_variables, **environment_variables)
        super(MMLBaseEstimator, self).__init__(
            source_directory=source_directory, script=entry_script,
            arguments=_script_arguments(script_params) + list(arguments or []),
            compute_target=compute_target, environment=env, distributed_job_config=distributed_training,
            max_run_duration_seconds=max_run_duration_seconds)
        self.run_config.node_count = node_count
        if distributed_training is not None and node_count != 1:  # v1: the node count is the estimator's
            distributed_training.node_count = node_count
        if inputs:
            self.run_config.data = dict((getattr(i, "name", None) or "input_%d" % n, i) for n, i in enumerate(inputs))
        self.script_params = dict(script_params or {})
        self.framework_version = framework_version

    def _environment(self, user_managed, conda_packages, pip_packages, conda_file, pip_file, framework_version):
        name = "%s-estimator" % type(self).__name__.lower()
        if user_managed:
            env = Environment(name)
            env.python.user_managed_dependencies = True
            return env
        if conda_file and pip_file:
            raise UserErrorException("Give conda_dependencies_file or pip_requirements_file, not both.")
        if conda_file:
            env = Environment.from_conda_specification(name, conda_file)
        elif pip_file:
            env = Environment.from_pip_requirements(name, pip_file)
        else:
            env = Environment(name)
        if self.FRAMEWORK_PACKAGE:
            pkg = self.FRAMEWORK_PACKAGE + ("==%s.*" % framework_version if framework_version else "")
            pip_packages = [pkg] + list(pip_packages or [])
        if env.python.pip_requirements is not None:
            if conda_packages or pip_packages:
                env.python.pip_requirements += "\n" + "\n".join(list(conda_packages or []) + list(pip_packages or []))
            return env
        for p in conda_packages or []:
            env.python.conda_dependencies.add_conda_package(p)
        for p in pip_packages or []:
            env.python.conda_dependencies.add_pip_package(p)
        return env

    @property
    def conda_dependencies(self):
        return self.run_config.environment.python.conda_dependencies


class Estimator(MMLBaseEstimator):
    """SDK v1's generic ``Estimator(source_directory, compute_target, entry_script,
    script_params, pip_packages, conda_packages, ...)``: see the module docstring."""


def _script_arguments(script_params):
    if script_params is None:
        return []
    if not isinstance(script_params, dict):
        raise UserErrorException("script_params must be a dict {'--name': value}, got %s."
                                 % type(script_params).__name__)
    out = []
    for key, value in script_params.items():
        out.append(str(key))
        if value is not None and not (isinstance(value, str) and value == ""):
            out.append(value)
    return out
