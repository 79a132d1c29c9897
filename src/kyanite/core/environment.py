"""Environment: the Python a run executes in, as in the SDK v1.

- ``Environment(name)``: a fresh uv environment with kyanite's Python version and the
  packages of ``env.python.conda_dependencies``.
- ``env.python.user_managed_dependencies = True``: the current interpreter (or
  ``env.python.interpreter_path``), nothing built.
- ``Environment.from_conda_specification(name, path)`` / ``from_pip_requirements``.
- ``env.register(ws)`` stores a version (a new one only when the definition changed);
  ``Environment.get(ws, name, version=None)`` reads the latest or a given version.

Docker settings (``env.docker``) are kept on the record; the local target runs without
Docker and says so in the run's log.
"""

import os

from kyanite.core.conda_dependencies import CondaDependencies, _checked
from kyanite.exceptions import UserErrorException

__all__ = ["Environment", "PythonSection", "DockerSection"]


class PythonSection(object):
    def __init__(self):
        self.user_managed_dependencies = False
        self.interpreter_path = None
        self.conda_dependencies = CondaDependencies.create()
        self.conda_dependencies_file = None
        self.pip_requirements = None  # text of a requirements.txt, when made from one


class DockerSection(object):
    def __init__(self):
        self.enabled = False
        self.base_image = None
        self.base_dockerfile = None
        self.shm_size = None
        self.arguments = []


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
        rec = workspace._client.get("/api/environments/%s" % name, params={"version": version})
        return Environment._from_record(rec)

    @staticmethod
    def list(workspace):
        return workspace.environments

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
        env.docker.enabled = d.get("docker", {}).get("enabled", False)
        env.docker.base_image = d.get("docker", {}).get("baseImage")
        env.environment_variables = dict(d.get("environmentVariables") or {})
        return env

    # -- records ---------------------------------------------------------------------------
    def _definition(self):
        return {
            "userManaged": bool(self.python.user_managed_dependencies),
            "interpreterPath": self.python.interpreter_path,
            "conda": None if self.python.pip_requirements else self.python.conda_dependencies._conda,
            "pipRequirements": self.python.pip_requirements,
            "docker": {"enabled": bool(self.docker.enabled), "baseImage": self.docker.base_image},
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
        """What a submitted run carries: name, version, the build spec, docker, variables."""
        d = self._definition()
        return {"name": self.name, "version": self.version, "spec": self._spec().to_dict(),
                "docker": d["docker"], "environmentVariables": d["environmentVariables"]}

    def register(self, workspace):
        rec = workspace._client.post("/api/environments", {"name": self.name, "definition": self._definition()})
        self.version = str(rec["version"])
        return self

    def get_image_details(self, workspace):
        return {"dockerImage": None, "note": "kyanite runs environments as uv virtual environments"}

    def __repr__(self):
        return "Environment(Name: %s,\nVersion: %s)" % (self.name, self.version)
