"""The folder put first on a scoring process's PYTHONPATH: the stdlib-only runtime of run
environments (``kyanite.runtime.shim``) plus the scoring server; ``kyanite.core`` and
``kyanite.core.model`` give ``Model`` (``Model.get_model_path``), so ``from kyanite.core
import Model`` and ``from kyanite.core.model import Model`` both work in ``score.py``
whatever the environment holds.

Built once per version of those files under ``<cache>/serving-runtime/<stamp>/``.
"""

from kyanite.runtime import shim

SERVING_FILES = ("serving/__init__.py", "serving/server.py")


def build_shim(cache):
    """Return the shim folder for the installed kyanite sources, building it when absent."""
    return shim.build(cache, kind="serving-runtime", extra_files=SERVING_FILES)
