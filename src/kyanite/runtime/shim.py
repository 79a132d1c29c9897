"""The folder of kyanite sources put first on a script's (or scoring process's) PYTHONPATH.

A run environment holds the user's packages, not kyanite; the run host and the deployment
manager give it the stdlib-only part of kyanite instead: ``RUNTIME_FILES`` copied from the
installed package, plus small generated modules (``GENERATED``) so that the SDK v1 import
paths a training or scoring script uses work there: ``from kyanite.core import Run``,
``from kyanite.core.run import Run``, ``from kyanite.core.model import Model``.

Contract: ``build(cache, kind, extra_files)`` returns ``<cache>/<kind>/<stamp>/``, a folder
holding ``kyanite/...``; the stamp is a digest of every file's name and content, so a
changed kyanite makes a new folder and an unchanged one is reused. Safe against concurrent
builders (each builds in its own temporary folder and renames it into place).
"""

import hashlib
import os
import shutil

__all__ = ["RUNTIME_FILES", "GENERATED", "build"]

_SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Modules copied into run environments. The whole of ``kyanite.protocol`` travels with them.
RUNTIME_FILES = ("__init__.py", "exceptions.py", "runtime/__init__.py", "runtime/_http.py",
                 "runtime/_sinks.py", "runtime/run.py", "runtime/model_path.py", "runtime/environ.py",
                 "keras.py", "settings.py") + tuple(
    "protocol/" + f for f in sorted(os.listdir(os.path.join(_SRC, "protocol"))) if f.endswith(".py"))

#: Modules written (not copied) into the folder: the SDK v1 paths, served by the runtime.
GENERATED = {
    "core/__init__.py": ('"""kyanite inside a run environment: the stdlib-only runtime."""\n'
                         "from kyanite import __version__ as VERSION\n"
                         "from kyanite.runtime.model_path import Model\n"
                         "from kyanite.runtime.run import Run, RunStatus\n\n"
                         "__all__ = [\"Run\", \"RunStatus\", \"Model\", \"VERSION\"]\n"),
    "core/run.py": ('"""kyanite inside a run environment: ``from kyanite.core.run import Run``."""\n'
                    "from kyanite.runtime.run import Run, RunStatus\n\n__all__ = [\"Run\", \"RunStatus\"]\n"),
    "core/model.py": ('"""kyanite inside a run environment: Model.get_model_path."""\n'
                      "from kyanite.runtime.model_path import Model\n\n__all__ = [\"Model\"]\n"),
}


def build(cache, kind="runtime", extra_files=()):
    """Return the shim folder for the installed kyanite sources, building it when absent."""
    files = tuple(RUNTIME_FILES) + tuple(extra_files)
    digest = hashlib.sha256()
    for f in files:
        with open(os.path.join(_SRC, f), "rb") as fh:
            digest.update(f.encode("utf-8") + b"\0" + fh.read() + b"\0")
    for f in sorted(GENERATED):
        digest.update(f.encode("utf-8") + b"\0" + GENERATED[f].encode("utf-8") + b"\0")
    root = os.path.join(cache, kind, digest.hexdigest()[:16])
    if os.path.isdir(root):
        return root
    tmp = "%s.tmp-%d" % (root, os.getpid())
    shutil.rmtree(tmp, ignore_errors=True)
    for f in files:
        dst = os.path.join(tmp, "kyanite", f)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(os.path.join(_SRC, f), dst)
    for f, text in GENERATED.items():
        dst = os.path.join(tmp, "kyanite", f)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, "w") as fh:
            fh.write(text)
    try:
        os.rename(tmp, root)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # built by another process meanwhile
    return root
