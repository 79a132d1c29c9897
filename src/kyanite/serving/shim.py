"""The folder put first on a scoring process's PYTHONPATH: the stdlib-only runtime of run
environments (``kyanite.runtime.host.RUNTIME_FILES``) plus the scoring server, with
``kyanite.core`` and ``kyanite.core.model`` giving ``Model`` (``Model.get_model_path``),
so ``from kyanite.core import Model`` and ``from kyanite.core.model import Model`` both work
in ``score.py`` whatever the environment holds.

Built once per version of those files under ``<cache>/serving-runtime/<stamp>/``.
"""

import os
import shutil

SERVING_FILES = ("serving/__init__.py", "serving/server.py")
SHIM_MODEL = ('"""kyanite inside a scoring environment: Model.get_model_path."""\n'
              "from kyanite.runtime.model_path import Model\n\n__all__ = [\"Model\"]\n")


def build_shim(cache):
    """Return the shim folder for the installed kyanite sources, building it when absent."""
    import kyanite
    from kyanite.runtime.host import _SHIM_CORE, RUNTIME_FILES
    src = os.path.dirname(os.path.abspath(kyanite.__file__))
    files = tuple(RUNTIME_FILES) + SERVING_FILES
    stamp = "%d-%d" % (max(int(os.path.getmtime(os.path.join(src, f))) for f in files), len(files))
    root = os.path.join(cache, "serving-runtime", stamp)
    if os.path.isdir(root):
        return root
    tmp = "%s.tmp-%d" % (root, os.getpid())
    shutil.rmtree(tmp, ignore_errors=True)
    for f in files:
        dst = os.path.join(tmp, "kyanite", f)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(os.path.join(src, f), dst)
    os.makedirs(os.path.join(tmp, "kyanite", "core"), exist_ok=True)
    with open(os.path.join(tmp, "kyanite", "core", "__init__.py"), "w") as f:
        f.write(_SHIM_CORE)
    with open(os.path.join(tmp, "kyanite", "core", "model.py"), "w") as f:
        f.write(SHIM_MODEL)
    try:
        os.rename(tmp, root)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # built by another thread or process meanwhile
    return root
