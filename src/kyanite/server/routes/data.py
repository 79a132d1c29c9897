"""Datastores, uploaded dataset blobs and datasets.

Datastores: ``GET/POST /datastores``, ``GET/DELETE /datastores/{name}``, listing
``GET /datastores/{name}/files?pattern=folder/**``, upload ``PUT`` and download ``GET``
(Range requests resume) of ``/datastores/{name}/files/{path}``. S3 datastores are read
and written by this server with the credentials it keeps: replies show them masked, run
hosts fetch datastore files through these routes and never see them.

Blobs: local files of a registered dataset are uploaded once per content:
``POST /data/blobs/missing`` (which checksums are absent), ``PUT/GET /data/blobs/{sha256}``.

Datasets: ``POST /datasets`` (register with a name, or save without one for a run),
``GET /datasets`` (latest version of each name), ``GET /datasets/{name}?version=``,
``GET /datasets/{name}/versions``, ``GET /datasets/by-id/{id}``.
"""

import hashlib
import json
import re
import tempfile
import threading
from typing import Any, Optional
from collections.abc import Iterator

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel

from kyanite.data._common import DataError
from kyanite.data.backends import DEFAULT_DATASTORE, S3Backend, backend_for, check_path, scrub
from kyanite.exceptions import NotFoundException, UserErrorException
from kyanite.protocol.identifiers import DESCRIPTION_MAX, check_identifier, check_mapping, check_text
from kyanite.server.routes import known
from kyanite.store.datasets import DataRepository

router = APIRouter(tags=["data"])
_SHA = re.compile(r"^[0-9a-f]{64}$")
_backends: dict[Any, Any] = {}
_backends_lock = threading.Lock()


def k(request: Request) -> Any:
    return request.app.state.k


def repo(request: Request) -> Any:
    return DataRepository(k(request).store)


def backend(request: Request, name: str) -> Any:
    """The backend of datastore ``name`` (kept while its configuration is unchanged)."""
    s = k(request)
    rec, config, secret = repo(request).datastore_config(name)
    key = (id(s), name, json.dumps([config, secret], sort_keys=True))
    with _backends_lock:
        b = _backends.get(key)
        if b is None:
            b = _backends[key] = backend_for(dict(rec, config=config), secret, s.artifacts)
    return b


# -- datastores ----------------------------------------------------------------------
class DatastoreCreate(BaseModel):
    name: str
    type: str = "S3"
    bucket: str
    endpoint_url: Optional[str] = None
    region: Optional[str] = None
    prefix: Optional[str] = None
    access_key_id: Optional[str] = None
    secret_access_key: Optional[str] = None
    overwrite: bool = False
    create_if_not_exists: bool = False


@router.get("/datastores", response_model=None)
def list_datastores(request: Request) -> Any:
    return {"datastores": repo(request).list_datastores()}


@router.post("/datastores", response_model=None)
def register_datastore(body: DatastoreCreate, request: Request) -> Any:
    check_identifier("datastore name", body.name)
    if body.type.upper() != "S3":
        raise UserErrorException("Datastore type %r is not supported; use 'S3' (any S3-compatible "
                                 "storage) or the built-in %r." % (body.type, DEFAULT_DATASTORE))
    if not body.bucket or "/" in body.bucket:
        raise UserErrorException("bucket_name must be a bucket name without '/', got %r." % body.bucket)
    config = {"bucket": body.bucket, "endpoint_url": body.endpoint_url, "region": body.region,
              "prefix": (body.prefix or "").strip("/") or None}
    given = {"access_key_id": body.access_key_id, "secret_access_key": body.secret_access_key}
    secret = given if any(given.values()) else None
    r = repo(request)
    try:
        r.datastore(body.name)
        if not body.overwrite:
            raise UserErrorException("Datastore %r already exists; pass overwrite=True to replace it." % body.name)
    except NotFoundException:
        pass
    S3Backend(body.name, config, secret).check(create=body.create_if_not_exists)
    return r.create_datastore(body.name, "S3", config, secret, overwrite=body.overwrite)


@router.get("/datastores/{name}", response_model=None)
def get_datastore(name: str, request: Request) -> Any:
    return repo(request).datastore(name)


@router.delete("/datastores/{name}", response_model=None)
def delete_datastore(name: str, request: Request) -> Any:
    repo(request).delete_datastore(name)
    return {"deleted": name}


@router.get("/datastores/{name}/files", response_model=None)
def list_files(name: str, request: Request, pattern: str = "**") -> Any:
    root, files = backend(request, name).list(pattern)
    return {"datastore": name, "root": root, "files": files}


@router.put("/datastores/{name}/files/{path:path}", response_model=None)
async def upload_file(name: str, path: str, request: Request, overwrite: bool = False) -> Any:
    b = await run_in_threadpool(backend, request, name)
    path = check_path(path)
    if not path:
        raise UserErrorException("Give the file's path inside the datastore.")
    if not overwrite and await run_in_threadpool(b.exists, path):
        async for _ in request.stream():
            pass
        return {"path": path, "size": None, "skipped": True}
    tmp = tempfile.TemporaryFile()
    try:
        async for chunk in request.stream():
            tmp.write(chunk)
        tmp.seek(0)
        size = await run_in_threadpool(b.put, path, tmp)
    finally:
        tmp.close()
    return {"path": path, "size": size, "skipped": False}


@router.get("/datastores/{name}/files/{path:path}", response_model=None)
def download_file(name: str, path: str, request: Request) -> Any:
    b = backend(request, name)
    path = check_path(path)
    local = b.local_file(path)
    if local is not None:
        return FileResponse(local, filename=path.rpartition("/")[2])
    f, info = b.open(path)
    return _ranged_stream(request, f, info, b)


def _ranged_stream(request: Request, f: Any, info: dict[str, Any], b: Any) -> Any:
    size, etag = info.get("size"), info.get("etag")
    start, status = 0, 200
    rng = request.headers.get("range") or ""
    if_range = request.headers.get("if-range")
    m = re.match(r"^bytes=(\d+)-$", rng.strip())
    if m and size is not None and (not if_range or if_range == etag):
        start = int(m.group(1))
        if start >= size:
            f.close()
            raise UserErrorException("Range start %d is past the end of the file (%d bytes)." % (start, size))
        status = 206
    headers = {"Accept-Ranges": "bytes"}
    if etag:
        headers["ETag"] = etag
    if size is not None:
        headers["Content-Length"] = str(size - start)
        if status == 206:
            headers["Content-Range"] = "bytes %d-%d/%d" % (start, size - 1, size)

    def body() -> Iterator[Any]:
        try:
            if start:
                f.seek(start)
            while True:
                try:
                    chunk = f.read(1 << 20)
                except Exception as exc:  # a broken read from the store: end the reply short
                    raise DataError(scrub(str(exc), getattr(b, "_secret", None)))
                if not chunk:
                    break
                yield chunk
        finally:
            f.close()

    return StreamingResponse(body(), status_code=status, headers=headers, media_type="application/octet-stream")


# -- blobs ------------------------------------------------------------------------------
def _blob_key(sha: str) -> Any:
    if not _SHA.match(sha or ""):
        raise UserErrorException("A blob is named by its sha256 hex digest, got %r." % sha)
    return "datasets/blobs/%s/%s" % (sha[:2], sha)


@router.post("/data/blobs/missing", response_model=None)
def missing_blobs(body: dict, request: Request) -> Any:
    arts = k(request).artifacts
    return {"missing": [sha for sha in body.get("sha256") or [] if arts.size(_blob_key(sha)) < 0]}


@router.put("/data/blobs/{sha}", response_model=None)
async def put_blob(sha: str, request: Request) -> Any:
    key = _blob_key(sha)
    arts = k(request).artifacts
    h = hashlib.sha256()
    tmp = tempfile.TemporaryFile()
    try:
        async for chunk in request.stream():
            h.update(chunk)
            tmp.write(chunk)
        if h.hexdigest() != sha:
            raise UserErrorException("The uploaded bytes have sha256 %s, not %s." % (h.hexdigest(), sha))
        tmp.seek(0)
        size = await run_in_threadpool(arts.put, key, tmp)
    finally:
        tmp.close()
    return {"sha256": sha, "size": size}


@router.get("/data/blobs/{sha}", response_model=None)
def get_blob(sha: str, request: Request) -> Any:
    try:
        return FileResponse(k(request).artifacts.local_path(_blob_key(sha)))
    except NotFoundException:
        raise NotFoundException("No uploaded dataset file with sha256 %s." % sha)


# -- datasets ---------------------------------------------------------------------------
class DatasetCreate(BaseModel):
    name: Optional[str] = None
    kind: str = "file"
    definition: dict = {}
    files: list
    description: Optional[str] = None
    tags: Optional[dict] = None
    create_new_version: bool = False


def _check_files(request: Request, files: Any) -> None:
    arts = k(request).artifacts
    stores = set()
    for f in files:
        if not isinstance(f, dict) or not isinstance(f.get("path"), str) or not isinstance(f.get("source"), dict):
            raise UserErrorException("Each file of a dataset is {\"path\", \"size\", \"source\", ...}.")
        check_path(f["path"])
        t = f["source"].get("type")
        if t == "blob":
            if not f.get("sha256") or arts.size(_blob_key(f["sha256"])) < 0:
                raise UserErrorException("File %r: its content (sha256 %s) was not uploaded." % (
                    f["path"], f.get("sha256")))
        elif t == "datastore":
            stores.add(f["source"].get("datastore"))
        elif t == "http":
            if not str(f["source"].get("url", "")).lower().startswith(("http://", "https://")):
                raise UserErrorException("File %r: not an http(s) URL." % f["path"])
        else:
            raise UserErrorException("File %r: source type %r cannot be registered (local files are "
                                     "uploaded as blobs first)." % (f["path"], t))
    r = repo(request)
    for name in stores:
        r.datastore(name)


@router.post("/datasets", response_model=None)
def save_dataset(body: DatasetCreate, request: Request) -> Any:
    if body.name is not None:
        check_identifier("dataset name", body.name, exists=known(lambda n: repo(request).dataset(n, with_files=False)))
    check_text("description", body.description, DESCRIPTION_MAX)
    check_mapping("tags", body.tags)
    _check_files(request, body.files)
    return repo(request).save_dataset(body.name, body.kind, body.definition, body.files,
                                      description=body.description, tags=body.tags,
                                      create_new_version=body.create_new_version)


@router.get("/datasets", response_model=None)
def list_datasets(request: Request) -> Any:
    return {"datasets": repo(request).list_datasets()}


@router.get("/datasets/by-id/{dataset_id}", response_model=None)
def get_dataset_by_id(dataset_id: str, request: Request, files: bool = True) -> Any:
    return repo(request).dataset_by_id(dataset_id, with_files=files)


@router.get("/datasets/{name}", response_model=None)
def get_dataset(name: str, request: Request, version: Optional[str] = None, files: bool = True) -> Any:
    return repo(request).dataset(name, version, with_files=files)


@router.get("/datasets/{name}/versions", response_model=None)
def dataset_versions(name: str, request: Request) -> Any:
    versions = repo(request).versions(name)
    if not versions:
        raise NotFoundException("No dataset named %r is registered in this workspace." % name)
    return {"name": name, "versions": versions}
