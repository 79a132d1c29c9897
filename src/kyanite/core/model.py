"""Model and InferenceConfig (SDK v1 ``azureml.core.model``).

- ``Model.register(ws, model_path, model_name, ...)``: a file or a folder becomes the next
  version of ``model_name`` (versions count from 1 per name).
- ``run.register_model(model_name, model_path='outputs/model')``: the same from a run's
  files; the model keeps ``run_id`` and ``Model.list(ws, run_id=run.id)`` (or
  ``GET /api/runs/<id>/models``) lists the models a run made.
- ``Model(ws, name)`` (latest version), ``Model(ws, name, version=2)``,
  ``Model(ws, id='name:2')``; ``Model.list(ws, name, tags, properties, run_id, latest)``:
  ``tags``/``properties`` a list of keys (present) and ``[key, value]`` pairs (equal), all
  of which must hold; ``latest=True`` keeps the newest matching version of each name.
- ``model.download(target_dir, exist_ok)``, ``add_tags``, ``remove_tags``,
  ``add_properties`` (a property keeps its first value), ``update(tags, description)``,
  ``delete()`` (refused while a deployment uses the model).
- ``Model.get_model_path(name, version=None)``: where a model's files are: inside
  ``score.py`` the deployed copy; inside a run, downloaded from the run's workspace into
  ``./kyanite-models/<name>/<version>``; elsewhere the local cache (``./kyanite-models``,
  v1's ``./azureml-models``). See :mod:`kyanite.runtime.model_path`, which this calls, for
  the search order; with ``_workspace=ws`` the model is downloaded into ``./kyanite-models``
  first.
- ``Model.deploy(ws, name, models, inference_config, deployment_config)`` returns the
  service (see :mod:`kyanite.core.webservice`).

Errors are the v1 ones: a model that is not registered raises ModelNotFoundException,
which is also a WebserviceException (what v1 raised there); other refusals raise
WebserviceException subclasses that are also UserErrorException.
"""

import json
import os
import shutil
import tarfile
import tempfile

from kyanite.core._time import parse_time
from kyanite.core.webservice._errors import WsConflict, WsUserError, ws_errors
from kyanite.exceptions import ModelNotFoundException, WebserviceException
from kyanite.runtime import model_path as _model_path

__all__ = ["Model", "InferenceConfig", "ModelNotFound"]


class ModelNotFound(ModelNotFoundException, WebserviceException):
    """No registered model matches (a ModelNotFoundException and a WebserviceException)."""


def _filter(value):
    """SDK v1 tag/property filters: a list of keys and ``[key, value]`` pairs (a dict works too)."""
    if value is None:
        return None
    if isinstance(value, dict):
        value = [[k, v] for k, v in value.items()]
    elif isinstance(value, str):
        value = [value]
    out = []
    for v in value:
        if isinstance(v, (list, tuple)) and len(v) == 2:
            out.append([str(v[0]), str(v[1])])
        elif isinstance(v, str):
            out.append(v)
        else:
            raise WsUserError("A tags/properties filter item is a key or a [key, value] pair, got %r." % (v,))
    return json.dumps(out)


class Model(object):
    """A registered model: ``Model(workspace, name=None, id=None, tags=None, properties=None,
    version=None, run_id=None, model_framework=None)`` fetches the matching model (the
    latest version unless ``version`` or ``id`` says which)."""

    # frameworks named as in SDK v1 (Model.Framework.*)
    class Framework(object):
        CUSTOM = "Custom"
        SCIKITLEARN = "ScikitLearn"
        TENSORFLOW = "TensorFlow"
        ONNX = "Onnx"
        PYTORCH = "PyTorch"
        KERAS = "Keras"

    def __init__(self, workspace, name=None, id=None, tags=None, properties=None, version=None, run_id=None,
                 model_framework=None, expand=True, **kwargs):
        self.workspace = workspace
        if id is not None:
            name, _, ver = str(id).rpartition(":")
            if not name:
                raise WsUserError("Model id %r is not of the form 'name:version'." % (id,))
            version = ver
        with ws_errors(not_found=ModelNotFound):
            if name is not None and not (tags or properties or run_id or model_framework):
                rec = workspace._client.get("/api/models/%s" % name,
                                            params={"version": None if version is None else int(version)})
            else:
                found = Model._query(workspace, name, tags, properties, run_id, model_framework, latest=False)
                if version is not None:
                    found = [r for r in found if r["version"] == int(version)]
                if not found:
                    raise ModelNotFound("ModelNotFound: no model matches name=%r, tags=%r, properties=%r, "
                                        "run_id=%r, version=%r." % (name, tags, properties, run_id, version))
                rec = max(found, key=lambda r: (r["createdTime"], r["version"]))
        self._set(rec)

    # -- construction --------------------------------------------------------------
    @classmethod
    def _from_record(cls, workspace, rec):
        m = cls.__new__(cls)
        m.workspace = workspace
        m._set(rec)
        return m

    def _set(self, rec):
        self._record = rec
        self.name = rec["name"]
        self.id = rec["id"]
        self.version = rec["version"]
        self.tags = dict(rec.get("tags") or {})
        self.properties = dict(rec.get("properties") or {})
        self.description = rec.get("description")
        self.created_time = parse_time(rec.get("createdTime"))
        self.updated_time = parse_time(rec.get("updatedTime"))
        self.run_id = rec.get("runId")
        self.experiment_name = rec.get("experimentName")
        self.model_framework = rec.get("modelFramework")
        self.model_framework_version = rec.get("modelFrameworkVersion")
        self.datasets = {}
        for scenario, ds in rec.get("datasets") or []:
            self.datasets.setdefault(scenario, []).append(ds)
        self.url = rec.get("url")
        self.asset = rec.get("asset")
        self.is_folder = rec.get("isFolder")
        self.size = rec.get("size")
        self.deployments = list(rec.get("deployments") or [])
        self.sample_input_dataset = self.sample_output_dataset = self.resource_configuration = None
        self.created_by = {}
        return self

    @property
    def _client(self):
        return self.workspace._client

    def _path(self):
        return "/api/models/%s/versions/%d" % (self.name, self.version)

    @property
    def run(self):
        """The run this model was registered from, or None."""
        if not self.run_id:
            return None
        from kyanite.core.run import Run
        return Run.get(self.workspace, self.run_id)

    # -- registry --------------------------------------------------------------------
    @staticmethod
    def register(workspace, model_path, model_name, tags=None, properties=None, description=None,
                 datasets=None, model_framework=None, model_framework_version=None, child_paths=None,
                 sample_input_dataset=None, sample_output_dataset=None, resource_configuration=None):
        """Register a local file or folder as the next version of ``model_name``."""
        path = os.path.abspath(os.path.expanduser(str(model_path)))
        if not os.path.exists(path):
            raise WsUserError("Model path %r does not exist: give a file or a folder." % model_path)
        asset = os.path.basename(path.rstrip(os.sep))
        print("Registering model %s" % model_name)
        with tempfile.TemporaryFile() as tmp:
            count = _tar(tmp, path, asset, child_paths)
            if not count:
                raise WsUserError("Model path %r holds no files." % model_path)
            tmp.seek(0)
            with ws_errors():
                up = workspace._client.request("POST", "/api/models/uploads", data=tmp)
        body = {"name": model_name, "upload": up["upload"], "asset": asset, "tags": _strs(tags),
                "properties": _strs(properties), "description": description, "model_framework": model_framework,
                "model_framework_version": model_framework_version, "datasets": _datasets(datasets)}
        with ws_errors():
            rec = workspace._client.post("/api/models", body)
        return Model._from_record(workspace, rec)

    @staticmethod
    def _query(workspace, name=None, tags=None, properties=None, run_id=None, model_framework=None, latest=False):
        return workspace._client.get("/api/models", params={
            "name": name, "tags": _filter(tags), "properties": _filter(properties), "run_id": run_id,
            "framework": model_framework, "latest": "true" if latest else None})["models"]

    @staticmethod
    def list(workspace, name=None, tags=None, properties=None, run_id=None, latest=False, dataset_id=None,
             expand=True, page_count=255, model_framework=None):
        """Registered models, newest version first within a name. ``tags``/``properties``:
        a list of keys (present) and ``[key, value]`` pairs (equal)."""
        with ws_errors():
            recs = Model._query(workspace, name, tags, properties, run_id, model_framework, latest)
        return [Model._from_record(workspace, r) for r in recs]

    def _patch(self, **body):
        with ws_errors(not_found=ModelNotFound):
            self._set(self._client.patch(self._path(), body))
        return self

    def add_tags(self, tags):
        """Add or change tags."""
        self._patch(add_tags=_strs(tags))

    def remove_tags(self, tags):
        """Remove tags by key."""
        self._patch(remove_tags=[tags] if isinstance(tags, str) else list(tags))

    def add_properties(self, properties):
        """Add properties; a property keeps its first value (a change is refused)."""
        self._patch(add_properties=_strs(properties))

    def update(self, tags=None, description=None, sample_input_dataset=None, sample_output_dataset=None,
               resource_configuration=None):
        """Replace the tags and/or the description."""
        body = {}
        if tags is not None:
            body["set_tags"] = _strs(tags)
        if description is not None:
            body["description"] = description
        if body:
            self._patch(**body)

    def update_tags_properties(self, add_tags=None, remove_tags=None, add_properties=None):
        self._patch(add_tags=_strs(add_tags) if add_tags else None,
                    remove_tags=list(remove_tags) if remove_tags else None,
                    add_properties=_strs(add_properties) if add_properties else None)

    def delete(self):
        """Delete this version; refused while a deployment uses it."""
        with ws_errors(not_found=ModelNotFound):
            self._client.delete(self._path())

    def download(self, target_dir=".", exist_ok=False, exists_ok=None):
        """Download the model's file or folder into ``target_dir``; returns its path."""
        if exists_ok is not None:
            exist_ok = exists_ok
        target_dir = os.path.abspath(target_dir)
        dest = os.path.join(target_dir, self.asset)
        if os.path.exists(dest) and not exist_ok:
            raise WsConflict("%s already exists; pass exist_ok=True to overwrite it." % dest)
        with ws_errors(not_found=ModelNotFound):
            files = self._client.get(self._path() + "/files")["files"]
            if os.path.isdir(dest) and self.is_folder:
                shutil.rmtree(dest)
            for f in files:
                local = os.path.join(target_dir, *f["path"].split("/"))
                if not os.path.isdir(os.path.dirname(local)):
                    os.makedirs(os.path.dirname(local))
                self._client.download(self._path() + "/files/" + f["path"], local)
        return dest

    def get_sas_urls(self):
        """File name -> URL (on the workspace server; send the workspace token)."""
        files = self._client.get(self._path() + "/files")["files"]
        return dict((f["path"], self._client.base_url + self._path() + "/files/" + f["path"]) for f in files)

    @staticmethod
    def get_model_path(model_name, version=None, _workspace=None):
        """The local path of a model: inside a deployment, where its files were placed;
        with ``_workspace``, after downloading it into ``./kyanite-models/<name>/<version>``."""
        if _workspace is None:
            return _model_path.get_model_path(model_name, version)
        model = Model(_workspace, model_name, version=version)
        cache = os.path.abspath(os.path.join(_model_path.CACHE_DIRS[0], model.name, str(model.version)))
        ready = os.path.join(cache, model.asset)
        if not os.path.exists(ready):
            model.download(cache, exist_ok=True)
        return ready

    @staticmethod
    def deploy(workspace, name, models, inference_config=None, deployment_config=None, deployment_target=None,
               overwrite=False, show_output=False):
        """Deploy ``models`` as the web service ``name``; returns the service
        (Transitioning: call ``service.wait_for_deployment()``)."""
        from kyanite.core.webservice.webservice import Webservice
        return Webservice._deploy(workspace, name, models, inference_config, deployment_config,
                                  overwrite=overwrite, show_output=show_output)

    @staticmethod
    def package(*args, **kwargs):
        raise WsUserError("Model.package (Docker images) is not part of kyanite: deploy with Model.deploy, which "
                          "runs the service in a uv environment.")

    # -- serialisation -------------------------------------------------------------------
    def serialize(self):
        return {"name": self.name, "id": self.id, "version": self.version, "tags": self.tags,
                "properties": self.properties, "description": self.description,
                "createdTime": self._record.get("createdTime"), "runId": self.run_id,
                "experimentName": self.experiment_name, "modelFramework": self.model_framework,
                "modelFrameworkVersion": self.model_framework_version, "url": self.url,
                "datasets": self._record.get("datasets") or [], "deployments": self.deployments}

    @staticmethod
    def deserialize(workspace, model_payload):
        return Model(workspace, id=model_payload["id"])

    def __repr__(self):
        return "Model(workspace=%r, name=%s, id=%s, version=%s, tags=%s, properties=%s)" % (
            self.workspace, self.name, self.id, self.version, self.tags, self.properties)

    def __eq__(self, other):
        return isinstance(other, Model) and other.id == self.id

    def __hash__(self):
        return hash(self.id)


def _strs(d):
    return None if d is None else dict((str(k), str(v)) for k, v in d.items())


def _datasets(datasets):
    out = []
    for item in datasets or []:
        scenario, ds = item if isinstance(item, (list, tuple)) else ("training", item)
        ident = getattr(ds, "name", None) or getattr(ds, "id", None) or str(ds)
        version = getattr(ds, "version", None)
        out.append([str(scenario), "%s:%s" % (ident, version) if version else str(ident)])
    return out


def _tar(fileobj, path, asset, child_paths=None):
    """Write ``path`` (file or folder) into a tar whose top entry is ``asset``."""
    count = 0
    with tarfile.open(fileobj=fileobj, mode="w") as tar:
        if os.path.isfile(path):
            tar.add(path, arcname=asset)
            return 1
        wanted = None
        if child_paths:
            wanted = set(os.path.normpath(p) for p in child_paths)
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for fn in sorted(files):
                full = os.path.join(root, fn)
                rel = os.path.relpath(full, path)
                if wanted is not None and rel not in wanted:
                    continue
                if not os.path.isfile(full):
                    continue
                tar.add(full, arcname=asset + "/" + rel.replace(os.sep, "/"))
                count += 1
    return count


class InferenceConfig(object):
    """How to run a model as a service: ``entry_script`` (with ``init()`` and
    ``run(raw_data)``), the ``source_directory`` it lives in (its whole content is shipped,
    ``.amlignore`` honoured), and the ``environment`` (an Environment, or a ``conda_file``)."""

    def __init__(self, entry_script=None, runtime=None, conda_file=None, extra_docker_file_steps=None,
                 source_directory=None, enable_gpu=None, description=None, base_image=None,
                 base_image_registry=None, cuda_version=None, environment=None):
        self.entry_script = entry_script
        self.runtime = runtime
        self.conda_file = conda_file
        self.source_directory = source_directory
        self.description = description
        self.enable_gpu = enable_gpu
        self.base_image = base_image
        self.environment = environment
        if environment is None and conda_file:
            from kyanite.core.environment import Environment
            path = conda_file if source_directory is None or os.path.isabs(conda_file) else \
                os.path.join(source_directory, conda_file)
            self.environment = Environment.from_conda_specification("inference-env", path)
        self.validate_configuration()

    def validate_configuration(self):
        if not self.entry_script:
            raise WsUserError("InferenceConfig needs entry_script='score.py' (a script with init() and "
                              "run(raw_data)).")
        if self.source_directory is not None and not os.path.isdir(self.source_directory):
            raise WsUserError("source_directory %r does not exist." % self.source_directory)
        script = self._script_path()
        if not os.path.isfile(script):
            raise WsUserError("Entry script %r not found%s." % (
                self.entry_script, "" if self.source_directory is None else " in %s" % self.source_directory))

    def _script_path(self):
        if self.source_directory is None:
            return os.path.abspath(self.entry_script)
        return os.path.join(os.path.abspath(self.source_directory), self.entry_script)

    def _environment(self):
        if self.environment is not None:
            return self.environment
        from kyanite.core.environment import Environment
        return Environment("kyanite-default-inference")

    def _definition(self, workspace):
        """Upload the source snapshot; the ``inference`` part of a deployment request."""
        from kyanite.core._snapshot import upload_snapshot
        self.validate_configuration()
        if self.source_directory is not None:
            src = os.path.abspath(self.source_directory)
            entry = self.entry_script.replace(os.sep, "/")
            snapshot = upload_snapshot(workspace._client, src)
        else:
            tmp = tempfile.mkdtemp(prefix="kyanite-entry-")
            try:
                entry = os.path.basename(self.entry_script)
                shutil.copyfile(self._script_path(), os.path.join(tmp, entry))
                snapshot = upload_snapshot(workspace._client, tmp)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            src = None
        env = self._environment()
        return {"entryScript": entry, "snapshotId": snapshot, "sourceDirectory": src,
                "environment": env._run_definition(), "description": self.description}

    def __repr__(self):
        return "InferenceConfig(entry_script=%r, source_directory=%r, environment=%r)" % (
            self.entry_script, self.source_directory, getattr(self.environment, "name", None))
