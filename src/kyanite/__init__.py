"""kyanite: a self-hosted machine-learning workspace with the Azure ML SDK v1 shape.

Import the SDK from ``kyanite.core``. This top-level module stays empty of imports so
that the run host and in-script runtime start fast: ``kyanite.__version__`` (also
``kyanite.core.VERSION``, as ``azureml.core.VERSION``) is the installed distribution's
version, read from its metadata on first use, else ``_VERSION``.
"""

import sys

#: The version when the distribution's metadata cannot be read (a run environment, where
#: the sources are copied, not installed). Kept equal to pyproject.toml's version.
_VERSION = "0.1.0"


def _version():
    """The installed kyanite distribution's version, else ``_VERSION``."""
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # Python < 3.8
        return _VERSION
    try:
        return version("kyanite")
    except PackageNotFoundError:
        return _VERSION


if sys.version_info < (3, 7):  # no module __getattr__ (PEP 562) before 3.7
    __version__ = _VERSION


def __getattr__(name):
    """``__version__``, computed once on first use (importlib.metadata costs ~30 ms)."""
    if name == "__version__":
        globals()["__version__"] = value = _version()
        return value
    raise AttributeError("module 'kyanite' has no attribute %r" % (name,))
