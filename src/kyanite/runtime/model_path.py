"""``Model.get_model_path(name)`` where models are used: in a deployment's scoring script
and in run environments. Standard library only and Python 3.6 compatible, because it is
placed into every run and scoring environment (there ``from kyanite.core import Model``
gives the :class:`Model` below; with the full package it is :mod:`kyanite.core.model`,
whose ``get_model_path`` calls :func:`get_model_path` here, so both behave the same).

Where models are placed (the SDK v1 layout):

- ``KYANITE_MODELS_ROOT``: the folder holding ``<name>/<version>/<file or folder>`` for
  every model of the deployment;
- ``KYANITE_MODEL_DIR`` and ``AZUREML_MODEL_DIR`` (the same value): with one model, that
  model's ``<root>/<name>/<version>`` folder, so ``os.path.join(os.getenv('AZUREML_MODEL_DIR'),
  'model.pkl')`` works as in v1 scoring scripts; with several models, the root.

``get_model_path(name, version=None)`` looks, in order:

1. in a deployment: in ``KYANITE_MODELS_ROOT``, then ``KYANITE_MODEL_DIR``/
   ``AZUREML_MODEL_DIR`` (either layout);
2. inside a run (``Run.get_context()`` is a real run: ``KYANITE_RUN_ID`` and
   ``KYANITE_SERVER_URL`` are set), as SDK v1 did with the run's workspace: the server says
   which version (``None``: the latest registered) and the model is downloaded, once, into
   the local cache ``./kyanite-models/<name>/<version>/`` (a version's files never change,
   so a cached version is used as it is); a model the workspace does not have raises
   ModelNotFoundException;
3. otherwise the local download cache of the current folder: ``./kyanite-models`` (where
   ``Model.get_model_path(name, _workspace=ws)``, step 2 and ``model.download`` put models)
   and ``./azureml-models`` (v1's cache folder, ``<name>/<version>/``);
4. finally a file or folder called ``name`` in the current folder.

``version=None`` means the highest version found. When a version folder holds exactly one
file or folder (the registered one) its path is returned, else the version folder.
"""

import os
import shutil
from urllib.parse import quote

from kyanite import settings
from kyanite.exceptions import ModelNotFoundException, NotFoundException

__all__ = ["Model", "get_model_path", "MODEL_DIR_VARS", "MODELS_ROOT_VAR", "CACHE_DIRS"]

MODELS_ROOT_VAR = "KYANITE_MODELS_ROOT"
MODEL_DIR_VARS = ("KYANITE_MODEL_DIR", "AZUREML_MODEL_DIR")
CACHE_DIRS = ("kyanite-models", "azureml-models")


def _versions(folder):
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return sorted(int(n) for n in names if n.isdigit() and os.path.isdir(os.path.join(folder, n)))


def _strip(version_dir):
    """The registered file or folder inside a version folder (v1: the single entry)."""
    entries = [e for e in os.listdir(version_dir) if not e.startswith(".")]
    if len(entries) == 1:
        return os.path.join(version_dir, entries[0])
    return version_dir


def _in_root(root, name, version):
    """``root/<name>/<version>``: the path, or None when absent."""
    folder = os.path.join(root, name)
    versions = _versions(folder)
    if not versions:
        return None
    if version is None:
        return _strip(os.path.join(folder, str(versions[-1])))
    if int(version) in versions:
        return _strip(os.path.join(folder, str(int(version))))
    return None


def _model_dir(var):
    """KYANITE_MODEL_DIR through the settings table; AZUREML_MODEL_DIR as it is."""
    return settings.get(var) if var in settings.SETTINGS else os.environ.get(var)


def _deployment_roots():
    roots = []
    root = settings.get(MODELS_ROOT_VAR)
    if root:
        roots.append(root)
    for var in MODEL_DIR_VARS:
        d = _model_dir(var)
        if d and d not in roots:
            roots.append(d)
    return roots


def _searched():
    return _deployment_roots() + [os.path.abspath(d) for d in CACHE_DIRS]


def _run_client():
    """A client to the workspace server inside a run, else None."""
    if not (settings.get("KYANITE_RUN_ID") and settings.get("KYANITE_SERVER_URL")):
        return None
    from kyanite.runtime._http import Client
    return Client(settings.get("KYANITE_SERVER_URL"), settings.get("KYANITE_TOKEN"), retry_seconds=60.0)


def _from_workspace(client, model_name, version):
    """Download ``model_name`` (``version`` or the latest) from the run's workspace into
    ``./kyanite-models/<name>/<version>`` unless there already; its path."""
    try:
        rec = client.get("/api/models/%s" % quote(model_name, safe=""), params={"version": version})
    except NotFoundException as exc:
        raise ModelNotFoundException("Model %r%s is not registered in the run's workspace: %s" % (
            model_name, "" if version is None else " version %d" % version, exc))
    dest = os.path.abspath(os.path.join(CACHE_DIRS[0], rec["name"], str(rec["version"])))
    if os.path.isdir(dest) and os.listdir(dest):
        return _strip(dest)
    base = "/api/models/%s/versions/%d" % (quote(rec["name"], safe=""), rec["version"])
    tmp = "%s.tmp-%d" % (dest, os.getpid())
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for f in client.get(base + "/files")["files"]:
            local = os.path.join(tmp, *f["path"].split("/"))
            if not os.path.isdir(os.path.dirname(local)):
                os.makedirs(os.path.dirname(local))
            client.download(base + "/files/" + quote(f["path"]), local)
        if os.path.isdir(dest):
            shutil.rmtree(dest, ignore_errors=True)
        os.rename(tmp, dest)
    except OSError:
        if not (os.path.isdir(dest) and os.listdir(dest)):  # not put there by another process meanwhile
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _strip(dest)


def get_model_path(model_name, version=None):
    """The local path of a deployed (or downloaded) model; see the module docstring."""
    if not model_name:
        raise ModelNotFoundException("get_model_path needs a model name.")
    if version is not None:
        try:
            version = int(version)
        except (TypeError, ValueError):
            raise ModelNotFoundException("Model version %r is not a number." % (version,))
    for root in _deployment_roots():
        found = _in_root(root, model_name, version)
        if found:
            return found
    for var in MODEL_DIR_VARS:  # one model: the variable names <root>/<name>/<version> itself
        d = _model_dir(var)
        if d and os.path.isdir(d):
            d = os.path.normpath(d)
            parent, ver = os.path.split(d)
            if ver.isdigit() and os.path.basename(parent) == model_name and (version is None or int(ver) == version):
                return _strip(d)
    client = _run_client()
    if client is not None:
        return _from_workspace(client, model_name, version)
    for root in _searched()[len(_deployment_roots()):]:
        found = _in_root(root, model_name, version)
        if found:
            return found
    if version is None and os.path.exists(model_name):
        return os.path.abspath(model_name)
    where = ", ".join(_searched())
    raise ModelNotFoundException(
        "Model %r%s was not found. Looked in %s and for %r in the current folder. In a deployment, "
        "list the model in Model.deploy(models=[...]); elsewhere download it first with "
        "Model.get_model_path(name, _workspace=ws) or model.download()." % (
            model_name, "" if version is None else " version %d" % version, where, model_name))


class Model(object):
    """The model record and ``Model.get_model_path`` inside run and scoring environments
    (the full :class:`kyanite.core.model.Model` is used where kyanite is installed)."""

    def __init__(self, record, _client=None):
        self._client = _client
        self._record = dict(record)
        self.name = record.get("name")
        self.version = record.get("version")
        self.id = record.get("id")
        self.tags = dict(record.get("tags") or {})
        self.properties = dict(record.get("properties") or {})
        self.description = record.get("description")
        self.run_id = record.get("runId")
        self.experiment_name = record.get("experimentName")
        self.model_framework = record.get("modelFramework")
        self.model_framework_version = record.get("modelFrameworkVersion")
        self.url = record.get("url")
        self.created_time = record.get("createdTime")

    @staticmethod
    def get_model_path(model_name, version=None, _workspace=None):
        if _workspace is not None:
            raise ModelNotFoundException(
                "Model.get_model_path(_workspace=...) needs the full kyanite package; inside a run or "
                "deployment, the models of the deployment are found without a workspace.")
        return get_model_path(model_name, version)

    def serialize(self):
        return dict(self._record)

    def __repr__(self):
        return "Model(workspace=<run workspace>, name=%s, id=%s, version=%s, tags=%s, properties=%s)" % (
            self.name, self.id, self.version, self.tags, self.properties)
