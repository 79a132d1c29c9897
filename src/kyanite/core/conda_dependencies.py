"""CondaDependencies: the conda environment file of an Environment, as in the SDK v1.

kyanite builds environments with uv: the ``pip:`` section is installed as written, and the
conda packages (``conda_packages=[...]``, ``add_conda_package``) are installed from PyPI
through the map of :mod:`kyanite.envs.conda_map` (``pytorch`` -> ``torch``, ``=1.2`` ->
``==1.2.*``; each mapping is logged when the environment is built); those with no PyPI
form (``cudatoolkit``, ``mkl``...) are refused with the reason. Channels are ignored.

The default Python: ``CondaDependencies()`` and ``create()`` without ``python_version``
write a bare ``python`` (not pinned). Such an environment is built with the Python that
runs kyanite, unless its pins have no wheels for it -- ``scikit-learn==0.22.1`` has them
for Python 3.5 to 3.8 -- and then with the newest installed Python they have, which the
build log names (see :func:`kyanite.envs.compat.default_python`).
``get_python_version()`` answers ``None`` until ``set_python_version`` pins one.
"""

import yaml

from kyanite.exceptions import UserErrorException

__all__ = ["CondaDependencies"]


def _checked(fn, *args, **kwargs):
    """Call a :mod:`kyanite.envs` parser; its EnvSpecError becomes a UserErrorException with
    the same message (file, line, what to change)."""
    from kyanite.envs import EnvSpecError
    try:
        return fn(*args, **kwargs)
    except EnvSpecError as exc:
        raise UserErrorException(str(exc)) from None


class CondaDependencies(object):
    def __init__(self, conda_dependencies_file_path=None, _underlying_structure=None):
        if conda_dependencies_file_path is not None:
            with open(conda_dependencies_file_path) as f:
                text = f.read()
            from kyanite.envs import parse_conda_yaml
            _checked(parse_conda_yaml, text, source=conda_dependencies_file_path)  # clear errors now
            _underlying_structure = yaml.safe_load(text)
        self._conda = _underlying_structure or {"name": "project_environment",
                                                "dependencies": ["python", {"pip": []}]}
        self._conda.setdefault("dependencies", [])

    @staticmethod
    def create(pip_indexurl=None, pip_packages=None, conda_packages=None, python_version=None, pin_sdk_version=True):
        deps = ["python=%s" % python_version if python_version else "python"] + list(conda_packages or [])
        pip = list(pip_packages or [])
        if pip_indexurl:
            pip.insert(0, "--index-url %s" % pip_indexurl)
        deps.append({"pip": pip})
        return CondaDependencies(_underlying_structure={"name": "project_environment", "dependencies": deps})

    def _pip_list(self):
        for d in self._conda["dependencies"]:
            if isinstance(d, dict) and "pip" in d:
                if d["pip"] is None:
                    d["pip"] = []
                return d["pip"]
        d = {"pip": []}
        self._conda["dependencies"].append(d)
        return d["pip"]

    def add_pip_package(self, pip_package):
        pip = self._pip_list()
        if pip_package not in pip:
            pip.append(pip_package)

    def remove_pip_package(self, pip_package):
        pip = self._pip_list()
        pip[:] = [p for p in pip if p != pip_package and p.split("=")[0].split("<")[0].split(">")[0] != pip_package]

    def add_conda_package(self, conda_package):
        deps = self._conda["dependencies"]
        if conda_package not in deps:
            deps.insert(len([d for d in deps if isinstance(d, str)]), conda_package)

    def add_channel(self, channel):
        self._conda.setdefault("channels", [])
        if channel not in self._conda["channels"]:
            self._conda["channels"].append(channel)

    def add_tensorflow_conda_package(self, core_type="cpu", version=None):
        """As in v1 this asks for TensorFlow; kyanite installs it from PyPI with pip."""
        self.add_pip_package("tensorflow" + ("==%s" % version if version else ""))

    def add_tensorflow_pip_package(self, core_type="cpu", version=None):
        self.add_tensorflow_conda_package(core_type, version)

    def set_python_version(self, version):
        deps = self._conda["dependencies"]
        deps[:] = [d for d in deps if not (isinstance(d, str) and d.split("=")[0].strip() == "python")]
        deps.insert(0, "python=%s" % version)

    def get_python_version(self):
        for d in self._conda["dependencies"]:
            if isinstance(d, str) and d.split("=")[0].strip() == "python" and "=" in d:
                return d.split("=", 1)[1].lstrip("=")
        return None

    @property
    def pip_packages(self):
        return [p for p in self._pip_list() if not p.startswith("-")]

    @property
    def conda_packages(self):
        return [d for d in self._conda["dependencies"] if isinstance(d, str)
                and d.split("=")[0].strip() not in ("python", "pip")]

    def serialize_to_string(self):
        return yaml.safe_dump(self._conda, sort_keys=False, default_flow_style=False)

    def save_to_file(self, base_directory, conda_file_path=None):
        import os
        path = os.path.join(base_directory, conda_file_path or "conda_dependencies.yml")
        with open(path, "w") as f:
            f.write(self.serialize_to_string())
        return path

    save = save_to_file

    def _to_spec(self, source="conda dependencies"):
        from kyanite.envs import parse_conda_yaml
        return _checked(parse_conda_yaml, self.serialize_to_string(), source=source)
