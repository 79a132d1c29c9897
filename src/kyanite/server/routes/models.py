"""The model registry: upload, register (from uploaded files or a run's files), read,
list, tag, delete, download.

Registering from the SDK is two calls: ``POST /models/uploads`` with a tar of the model's
file or folder (the tar's top entry is the registered name) returns an upload id, then
``POST /models`` with ``upload`` and ``asset`` and the metadata. ``run.register_model``
is one call: ``POST /models`` with ``run_id`` and ``path`` (a file or folder of the run).
"""

import json
import os
import tarfile
import tempfile
import time
from typing import Any, Optional

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import BaseModel

from kyanite.exceptions import NotFoundException, UserErrorException
from kyanite.protocol.identifiers import DESCRIPTION_MAX, check_identifier, check_mapping, check_text
from kyanite.server.routes import known
from kyanite.store.artifacts import check_key, run_key
from kyanite.server.params import Int64

router = APIRouter(tags=["models"])
STAGING_MAX_AGE = 24 * 3600


def k(request: Request) -> Any:
    return request.app.state.k


class ModelCreate(BaseModel):
    name: str
    upload: Optional[str] = None
    asset: Optional[str] = None
    run_id: Optional[str] = None
    path: Optional[str] = None
    tags: Optional[dict] = None
    properties: Optional[dict] = None
    description: Optional[str] = None
    model_framework: Optional[str] = None
    model_framework_version: Optional[str] = None
    datasets: Optional[list] = None


class ModelPatch(BaseModel):
    add_tags: Optional[dict] = None
    remove_tags: Optional[list] = None
    set_tags: Optional[dict] = None
    add_properties: Optional[dict] = None
    description: Optional[str] = None


def check_model_text(description: str | None, tags: dict[str, Any] | None, properties: dict[str, Any] | None) -> None:
    """The free text of a model or deployment (InvalidValue, 400, past its cap)."""
    check_text("description", description, DESCRIPTION_MAX)
    check_mapping("tags", tags)
    check_mapping("properties", properties)


def _filter_arg(text: str | None, what: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        raise UserErrorException("%s filter must be JSON (a list of keys and [key, value] pairs)." % what)


@router.post("/models/uploads", response_model=None)
async def upload_model_files(request: Request) -> Any:
    """Body: a tar (optionally gzip) of the model's file or folder. Returns ``{"upload"}``."""
    s = k(request)
    tmp = tempfile.TemporaryFile()
    try:
        async for chunk in request.stream():
            tmp.write(chunk)
        tmp.seek(0)
        return await run_in_threadpool(_stage_tar, s, tmp)
    finally:
        tmp.close()


def _stage_tar(s: Any, fileobj: Any) -> Any:
    files = s.model_files
    _clean_stale_staging(files)
    staging = files.new_staging()
    count = size = 0
    try:
        with tarfile.open(fileobj=fileobj, mode="r:*") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                name = member.name
                while name.startswith("./"):
                    name = name[2:]
                rel = check_key(name)
                f = tar.extractfile(member)
                size += s.artifacts.put(staging + "/" + rel, f)
                count += 1
    except tarfile.TarError as exc:
        files.remove(staging)
        raise UserErrorException("The model upload is not a tar archive: %s" % exc)
    except Exception:
        files.remove(staging)
        raise
    if not count:
        files.remove(staging)
        raise UserErrorException("The model upload holds no files.")
    return {"upload": staging.rsplit("/", 1)[1], "files": count, "size": size}


def _clean_stale_staging(files: Any) -> None:
    base = files._local("models/.staging")
    if not base or not os.path.isdir(base):
        return
    now = time.time()
    for entry in os.listdir(base):
        p = os.path.join(base, entry)
        try:
            if now - os.path.getmtime(p) > STAGING_MAX_AGE:
                files.remove("models/.staging/" + entry)
        except OSError:
            pass


@router.post("/models", response_model=None)
def register_model(body: ModelCreate, request: Request) -> Any:
    s = k(request)
    check_identifier("model name", body.name, exists=known(s.models.model))
    check_model_text(body.description, body.tags, body.properties)
    check_text("model_framework", body.model_framework)
    check_text("model_framework_version", body.model_framework_version)
    files = s.model_files
    run_id = experiment = None
    if body.run_id:
        if not body.path:
            raise UserErrorException("Registering from run %s needs the path of the model's file or folder "
                                     "among the run's files (e.g. 'outputs/model')." % body.run_id)
        run = s.store.run(body.run_id)
        run_id, experiment = run.id, run.experiment
        staging, asset = _stage_from_run(s, run_id, body.path)
    elif body.upload:
        if "/" in body.upload or body.upload.startswith("."):
            raise UserErrorException("Bad upload id %r." % body.upload)
        staging = "models/.staging/" + body.upload
        listed = s.artifacts.list(staging)
        if not listed:
            raise NotFoundException("Upload %r does not exist (or was used already)." % body.upload)
        asset = body.asset or listed[0]["path"].split("/")[0]
        check_key(asset)
        if "/" in asset:
            raise UserErrorException("asset must be one file or folder name, got %r." % asset)
    else:
        raise UserErrorException("Give either upload (files sent to /models/uploads) or run_id and path.")
    listed = s.artifacts.list(staging)
    mine = [f for f in listed if f["path"] == asset or f["path"].startswith(asset + "/")]
    if not mine:
        files.remove(staging)
        raise UserErrorException("The upload holds no file or folder named %r." % asset)
    is_folder = any(f["path"].startswith(asset + "/") for f in mine)

    def place(version: Any) -> None:
        files.move(staging, files.prefix(body.name, version))

    try:
        return s.models.register_model(
            body.name, place, asset=asset, is_folder=is_folder, size=sum(f["size"] for f in mine),
            file_count=len(mine), description=body.description, tags=body.tags, properties=body.properties,
            framework=body.model_framework, framework_version=body.model_framework_version, run_id=run_id,
            experiment_name=experiment, datasets=body.datasets)
    except Exception:
        files.remove(staging)
        raise


def _stage_from_run(s: Any, run_id: str, path: str) -> Any:
    rel = path.replace("\\", "/").strip("/")
    if rel.startswith("./"):
        rel = rel[2:]
    if not rel:
        raise UserErrorException("Give the path of the model's file or folder among run %s's files "
                                 "(e.g. 'outputs/model'), not the whole run." % run_id)
    check_key(rel)
    run_files = s.artifacts.list(run_key(run_id))
    chosen = [f for f in run_files if f["path"] == rel or f["path"].startswith(rel + "/")]
    if not chosen:
        names = [f["path"] for f in run_files]
        shown = ", ".join(names[:30]) + (" ... (%d in all)" % len(names) if len(names) > 30 else "")
        raise UserErrorException("Run %s has no file or folder %r, so no model was registered. Its files: %s"
                                 % (run_id, path, shown or "(none yet: outputs are uploaded when the script "
                                                             "ends; register after wait_for_completion())"))
    asset = rel.split("/")[-1]
    staging = s.model_files.new_staging()
    try:
        for f in chosen:
            sub = asset if f["path"] == rel else asset + "/" + f["path"][len(rel) + 1:]
            s.model_files.copy_in(staging, sub, s.artifacts.local_path(run_key(run_id, f["path"])))
    except Exception:
        s.model_files.remove(staging)
        raise
    return staging, asset


@router.get("/models", response_model=None)
def list_models(request: Request, name: Optional[str] = None, run_id: Optional[str] = None,
                framework: Optional[str] = None, latest: bool = False, tags: Optional[str] = None,
                properties: Optional[str] = None) -> Any:
    return {"models": k(request).models.list_models(
        name=name, run_id=run_id, framework=framework, latest=latest,
        tags=_filter_arg(tags, "tags"), properties=_filter_arg(properties, "properties"))}


@router.get("/models/{name}", response_model=None)
def get_model(name: str, request: Request, version: Optional[Int64] = None) -> Any:
    return k(request).models.model(name, version)


@router.get("/models/{name}/versions/{version}", response_model=None)
def get_model_version(name: str, version: Int64, request: Request) -> Any:
    return k(request).models.model(name, version)


@router.patch("/models/{name}/versions/{version}", response_model=None)
def patch_model(name: str, version: Int64, body: ModelPatch, request: Request) -> Any:
    check_model_text(body.description, body.add_tags, body.add_properties)
    check_mapping("set_tags", body.set_tags)
    return k(request).models.update_model(name, version, add_tags=body.add_tags, remove_tags=body.remove_tags,
                                          set_tags=body.set_tags, add_properties=body.add_properties,
                                          description=body.description)


@router.delete("/models/{name}/versions/{version}", response_model=None)
def delete_model(name: str, version: Int64, request: Request) -> Any:
    s = k(request)
    rec = s.models.delete_model(name, version)
    s.model_files.remove(s.model_files.prefix(name, version))
    return {"deleted": rec["id"]}


@router.get("/models/{name}/versions/{version}/files", response_model=None)
def list_model_files(name: str, version: Int64, request: Request) -> Any:
    s = k(request)
    s.models.model(name, version)
    return {"files": s.model_files.list(name, version)}


@router.get("/models/{name}/versions/{version}/files/{path:path}", response_model=None)
def get_model_file(name: str, version: Int64, path: str, request: Request) -> Any:
    s = k(request)
    s.models.model(name, version)
    try:
        local = s.model_files.local_path(name, version, path)
    except NotFoundException:
        raise NotFoundException("Model %s:%s has no file %r." % (name, version, path))
    return FileResponse(local, filename=os.path.basename(path))


@router.get("/runs/{run_id}/models", response_model=None)
def models_of_run(run_id: str, request: Request) -> Any:
    """Lineage: the models registered from this run."""
    s = k(request)
    s.store.run(run_id)
    return {"models": s.models.list_models(run_id=run_id)}
