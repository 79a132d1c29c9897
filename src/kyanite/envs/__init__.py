"""kyanite.envs: Python environments for runs, built with uv and cached by spec hash.

Typical use::

    from kyanite.envs import EnvBuilder, parse_conda_yaml

    spec = parse_conda_yaml(open("conda.yml").read(), source="conda.yml")
    env = EnvBuilder("~/.kyanite/cache").ensure(spec, log=print)
    subprocess.run([env.python, "train.py"])

Modules: :mod:`.spec` (EnvSpec and parsers), :mod:`.pythons` (interpreter
discovery), :mod:`.builder` (EnvBuilder), :mod:`.compat` (old TensorFlow/Keras
environments: added constraints, refused combinations, KERAS_BACKEND),
:mod:`.errors`.
"""

from .builder import MARKER_NAME, BuiltEnv, EnvBuilder, uv_bin
from .errors import EnvBuildError, EnvSpecError
from .pythons import Interpreter, find_pythons, parse_python_request, python_version, resolve_python
from .spec import (
    BUILD_FORMAT,
    RUNTIME_PACKAGES,
    EnvSpec,
    parse_conda_yaml,
    parse_pip_requirements,
)

__all__ = [
    "BUILD_FORMAT",
    "MARKER_NAME",
    "RUNTIME_PACKAGES",
    "BuiltEnv",
    "EnvBuildError",
    "EnvBuilder",
    "EnvSpec",
    "EnvSpecError",
    "Interpreter",
    "find_pythons",
    "parse_conda_yaml",
    "parse_pip_requirements",
    "parse_python_request",
    "python_version",
    "resolve_python",
    "uv_bin",
]
