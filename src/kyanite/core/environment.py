"""Environment: the Python a run executes in, as in the SDK v1.

- ``Environment(name)``: a fresh uv environment with kyanite's Python version and the
  packages of ``env.python.conda_dependencies``.
- ``env.python.user_managed_dependencies = True``: the current interpreter (or
  ``env.python.interpreter_path``), nothing built.
- ``Environment.from_conda_specification(name, path)`` / ``from_pip_requirements``.
- ``env.register(ws)`` stores a version (a new one only when the definition changed);
  ``Environment.get(ws, name, version=None)`` reads the latest or a given version.

Curated environments (:mod:`kyanite.envs.curated`): ``Environment.get(ws, 'AzureML-Minimal')``
and the other ``AzureML-...`` names, listed by ``Environment.list(ws)``; a v1 curated name
(``AzureML-sklearn-0.24-ubuntu18.04-py37-cpu``) gets the nearest one, an unknown one a
clear error; names starting with ``AzureML-`` cannot be registered.

Files and builds: ``env.save_to_directory(path)`` writes ``azureml_environment.json``
(and ``conda_dependencies.yml``) as v1 does, ``Environment.load_from_directory(path)``
reads them back; ``env.build_local(ws)`` and ``env.build(ws).wait_for_completion()``
build the uv environment on this machine now, into the node cache that runs and services
started here reuse (v1 built a conda environment or a Docker image).

Docker settings (``env.docker``: enabled, base_image, base_dockerfile,
base_image_registry, shared_volumes, shm_size, arguments, gpu_support) are kept on the
record; runs never use Docker, and a run whose environment sets them says so in its log.
"""

import json
import os

import yaml

from kyanite.core.conda_dependencies import CondaDependencies, _checked
from kyanite.exceptions import NotFoundException, UserErrorException

__all__ = ["Environment", "PythonSection", "DockerSection", "ContainerRegistry", "ImageBuildDetails"]

#: the files of ``save_to_directory``, named as v1 names them
ENV_FILE = "azureml_environment.json"
CONDA_FILE = "conda_dependencies.yml"


class PythonSection(object):
    def __init__(self):
        self.user_managed_dependencies = False
        self.interpreter_path = None
        self.conda_dependencies = CondaDependencies.create()
        self.conda_dependencies_file = None
        self.pip_requirements = None  # text of a requirements.txt, when made from one


class ContainerRegistry(object):
    """Where a Docker base image comes from (SDK v1 ``azureml.core.ContainerRegistry``):
    ``address``, ``username``, ``password``. Kept on the environment record without the
    password (kyanite pulls no images)."""

    def __init__(self, address=None, username=None, password=None):
        self.address = address
        self.username = username
        self.password = password

    def __repr__(self):
        return "ContainerRegistry(address=%r, username=%r)" % (self.address, self.username)


class DockerSection(object):
    """SDK v1's Docker settings of an environment. kyanite runs every environment as a uv
    virtual environment, without Docker: these are accepted, kept on the environment's
    record (``Environment.get`` gives them back) and not applied; a run whose environment
    sets any of them says so in its log."""

    #: attribute -> key in the environment definition, with the defaults (SDK v1's, but
    #: ``base_image`` None: there is no default image)
    FIELDS = (("enabled", "enabled", False), ("base_image", "baseImage", None),
              ("base_dockerfile", "baseDockerfile", None), ("shared_volumes", "sharedVolumes", True),
              ("shm_size", "shmSize", None), ("arguments", "arguments", ()),
              ("gpu_support", "gpuSupport", False), ("platform", "platform", None))

    def __init__(self):
        for attr, _key, default in self.FIELDS:
            setattr(self, attr, list(default) if isinstance(default, tuple) else default)
        self.base_image_registry = ContainerRegistry()

    def _definition(self):
        d = dict((key, getattr(self, attr)) for attr, key, _ in self.FIELDS)
        d["enabled"] = bool(d["enabled"])
        d["arguments"] = [str(a) for a in d["arguments"] or []]
        reg = self.base_image_registry
        d["baseImageRegistry"] = {"address": getattr(reg, "address", None),
                                  "username": getattr(reg, "username", None)}
        return d

    def _set(self, d):
        for attr, key, default in self.FIELDS:
            value = d.get(key, default)
            setattr(self, attr, list(value) if isinstance(value, (list, tuple)) else value)
        reg = d.get("baseImageRegistry") or {}
        self.base_image_registry = ContainerRegistry(reg.get("address"), reg.get("username"))

    def _changed(self):
        """The settings that differ from their defaults, as in the definition: what a run
        carries, so that its log can name the Docker settings that do not apply."""
        d = self._definition()
        defaults = dict((key, list(v) if isinstance(v, tuple) else v) for _, key, v in self.FIELDS)
        out = dict((k, v) for k, v in d.items() if k in defaults and v != defaults[k])
        if any(d["baseImageRegistry"].values()):
            out["baseImageRegistry"] = d["baseImageRegistry"]
        return out


class Environment(object):
    def __init__(self, name, _skip_validation=False):
        self.name = name
        self.version = None
        self.python = PythonSection()
        self.docker = DockerSection()
        self.environment_variables = {}
        self.inferencing_stack_version = None

    # -- constructors ------------------------------------------------------------------
    @staticmethod
    def from_conda_specification(name, file_path):
        """An environment from a conda YAML file (python version and pip section)."""
        if not os.path.isfile(file_path):
            raise UserErrorException("Conda specification %r does not exist." % file_path)
        env = Environment(name)
        env.python.conda_dependencies = CondaDependencies(conda_dependencies_file_path=file_path)
        return env

    @staticmethod
    def from_pip_requirements(name, file_path, pip_version=None):
        """An environment from a requirements.txt file."""
        if not os.path.isfile(file_path):
            raise UserErrorException("Requirements file %r does not exist." % file_path)
        from kyanite.envs import parse_pip_requirements
        with open(file_path) as f:
            text = f.read()
        _checked(parse_pip_requirements, text, source=file_path)
        env = Environment(name)
        env.python.pip_requirements = text
        return env

    @staticmethod
    def get(workspace, name, version=None, label=None):
        from kyanite.envs import EnvSpecError, curated
        try:
            found = curated.lookup(name)
        except EnvSpecError as exc:
            raise NotFoundException(str(exc)) from None
        if found is not None:
            return Environment._from_curated(found)
        rec = workspace._client.get("/api/environments/%s" % name, params={"version": version})
        return Environment._from_record(rec)

    @staticmethod
    def list(workspace):
        """``{name: Environment}``: the curated environments, then the workspace's."""
        from kyanite.envs import curated
        envs = dict((c.name, Environment._from_curated(c)) for c in curated.CURATED)
        envs.update(workspace.environments)
        return envs

    @staticmethod
    def _from_curated(c):
        env = Environment(c.name)
        env.version = "1"
        env.python.conda_dependencies = CondaDependencies.create(
            python_version=c.python, pip_packages=list(c.pip))
        return env

    @staticmethod
    def _from_record(rec):
        d = rec["definition"]
        env = Environment(rec["name"])
        env.version = str(rec["version"])
        env.python.user_managed_dependencies = d.get("userManaged", False)
        env.python.interpreter_path = d.get("interpreterPath")
        if d.get("conda") is not None:
            env.python.conda_dependencies = CondaDependencies(_underlying_structure=d["conda"])
        env.python.pip_requirements = d.get("pipRequirements")
        env.docker._set(d.get("docker") or {})
        env.environment_variables = dict(d.get("environmentVariables") or {})
        return env

    # -- records ---------------------------------------------------------------------------
    def _definition(self):
        return {
            "userManaged": bool(self.python.user_managed_dependencies),
            "interpreterPath": self.python.interpreter_path,
            "conda": None if self.python.pip_requirements else self.python.conda_dependencies._conda,
            "pipRequirements": self.python.pip_requirements,
            "docker": self.docker._definition(),
            "environmentVariables": dict(self.environment_variables),
        }

    def _spec(self):
        from kyanite.envs import EnvSpec, parse_pip_requirements
        if self.python.user_managed_dependencies:
            return _checked(EnvSpec, user_managed=True, interpreter=self.python.interpreter_path, name=self.name)
        if self.python.pip_requirements:
            spec = _checked(parse_pip_requirements, self.python.pip_requirements,
                            source="environment %r" % self.name)
        else:
            spec = self.python.conda_dependencies._to_spec(source="environment %r" % self.name)
        spec.name = self.name
        return spec

    def _run_definition(self):
        """What a submitted run carries: name, version, the build spec, the Docker settings
        that differ from their defaults, variables."""
        d = self._definition()
        return {"name": self.name, "version": self.version, "spec": self._spec().to_dict(),
                "docker": self.docker._changed(), "environmentVariables": d["environmentVariables"]}

    def register(self, workspace):
        from kyanite.envs.curated import PREFIX
        if self.name.lower().startswith(PREFIX):
            raise UserErrorException(
                "Environment names starting with 'AzureML-' are reserved for the curated "
                "environments; register %r under another name." % self.name)
        rec = workspace._client.post("/api/environments", {"name": self.name, "definition": self._definition()})
        self.version = str(rec["version"])
        return self

    # -- files -------------------------------------------------------------------------------
    def save_to_directory(self, path, overwrite=False):
        """Write this environment into folder ``path``: ``azureml_environment.json`` (name,
        version, Python, Docker settings, variables) and, unless it is made from a
        requirements file, ``conda_dependencies.yml``. An existing folder needs
        ``overwrite=True``."""
        if os.path.exists(path) and not overwrite:
            raise UserErrorException("Folder %r already exists; pass overwrite=True to write over it." % path)
        os.makedirs(path, exist_ok=True)
        d = self._definition()
        conda = d.pop("conda")
        d.update(name=self.name, version=self.version, condaDependenciesFile=CONDA_FILE if conda is not None else None)
        if conda is not None:
            self.python.conda_dependencies.save_to_file(path, CONDA_FILE)
        with open(os.path.join(path, ENV_FILE), "w") as f:
            json.dump(d, f, indent=2, sort_keys=True)

    @staticmethod
    def load_from_directory(path):
        """The environment ``save_to_directory(path)`` wrote (its conda file as edited since)."""
        file = os.path.join(path, ENV_FILE)
        if not os.path.isfile(file):
            raise UserErrorException("Folder %r holds no %s; write one with env.save_to_directory(%r)."
                                     % (path, ENV_FILE, path))
        with open(file) as f:
            d = json.load(f)
        if d.get("condaDependenciesFile"):
            with open(os.path.join(path, d["condaDependenciesFile"])) as f:
                d["conda"] = yaml.safe_load(f)
        env = Environment._from_record({"name": d["name"], "version": 0, "definition": d})
        env.version = d.get("version")
        return env

    # -- builds ------------------------------------------------------------------------------
    def build_local(self, workspace=None, platform=None, **kwargs):
        """Build this environment on this machine now, printing the build log, into the
        node cache (``KYANITE_CACHE_DIR``) that runs and services started here use: a run
        with the same packages then starts without building. ``platform`` and v1's Docker
        arguments are accepted and ignored. Raises UserErrorException when the packages
        cannot be installed."""
        self._build_now(print)

    def build(self, workspace, image_build_compute=None):
        """v1 built a Docker image in the workspace; kyanite builds the uv environment on
        this machine as :meth:`build_local` does, and returns an :class:`ImageBuildDetails`
        whose ``wait_for_completion(show_output=True)`` prints the build log."""
        lines = []
        try:
            self._build_now(lines.append)
        except UserErrorException as exc:
            return ImageBuildDetails("Failed", lines, str(exc))
        return ImageBuildDetails("Succeeded", lines)

    def _build_now(self, log):
        from kyanite import settings
        from kyanite.envs import EnvBuildError, EnvBuilder, EnvSpecError
        spec = self._spec()
        try:
            return EnvBuilder(settings.get("KYANITE_CACHE_DIR")).ensure(spec, log=log)
        except (EnvSpecError, EnvBuildError) as exc:
            raise UserErrorException("environment %r: %s" % (self.name, exc)) from None

    def get_image_details(self, workspace):
        return {"dockerImage": None, "note": "kyanite runs environments as uv virtual environments"}

    def __repr__(self):
        return "Environment(Name: %s,\nVersion: %s)" % (self.name, self.version)


class ImageBuildDetails(object):
    """What ``Environment.build`` returns (v1 ``azureml.core.environment.ImageBuildDetails``):
    ``status`` is ``"Succeeded"`` or ``"Failed"``; ``wait_for_completion(show_output=False)``
    prints the build log with ``show_output`` and raises UserErrorException for a failed
    build; ``get_log()`` is the log's text."""

    def __init__(self, status, lines, error=None):
        self.status, self._lines, self.error = status, list(lines), error

    def get_log(self):
        return "\n".join(self._lines) + ("\n" + self.error if self.error else "")

    def wait_for_completion(self, show_output=False):
        if show_output:
            print(self.get_log())
        if self.error:
            raise UserErrorException(self.error)
        return {"status": self.status}

    def __repr__(self):
        return "ImageBuildDetails(status=%r)" % self.status
