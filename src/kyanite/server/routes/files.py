"""Run files (artifacts), driver logs (append with offsets) and source snapshots.

A snapshot's files are readable one by one (what the studio's run page browses):
``GET /snapshots/{sha}/files`` lists ``{"files": [{"path", "size"}]}`` and
``GET /snapshots/{sha}/files/{path}`` gives one file (``max_bytes``: its first bytes
only; header X-File-Size: its whole size), both read only. Paths are checked with
``check_key`` (no ``..``, absolute or empty names: 400).
"""

import collections
import mimetypes
import os
import re
import tarfile
import tempfile
import threading
import urllib.parse
from typing import Any, Optional
from collections.abc import Iterator

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, StreamingResponse

from kyanite.exceptions import NotFoundException, UserErrorException
from kyanite.store.artifacts import check_key, run_key
from kyanite.server.params import Int64

router = APIRouter(tags=["files"])
_SHA = re.compile(r"^[0-9a-f]{64}$")


def k(request: Request) -> Any:
    return request.app.state.k


async def _spool_body(request: Request) -> Any:
    """Stream the request body into a temporary file (uploads may be large)."""
    tmp = tempfile.TemporaryFile()
    async for chunk in request.stream():
        tmp.write(chunk)
    tmp.seek(0)
    return tmp


@router.post("/runs/{run_id}/logs", response_model=None)
async def append_log(run_id: str, name: str, offset: Int64, request: Request) -> Any:
    s = k(request)
    key = run_key(run_id, name)
    if offset < 0:
        raise UserErrorException("offset must be 0 or more, got %d." % offset)
    data = await request.body()
    await run_in_threadpool(s.store.run, run_id)  # 404 for unknown runs
    size = await run_in_threadpool(s.artifacts.append, key, offset, data)
    s.notifier.changed(run_id)
    return {"size": size}


@router.get("/runs/{run_id}/logs", response_model=None)
def read_log(run_id: str, name: str, request: Request, offset: Int64 = 0, max_bytes: Optional[Int64] = None) -> Any:
    """Log bytes from ``offset``; headers X-Log-Size (total) and X-Run-Status."""
    s = k(request)
    run = s.store.run(run_id)
    data, size = s.artifacts.read(run_key(run_id, name), max(0, offset), max_bytes)
    return Response(data, media_type="text/plain; charset=utf-8",
                    headers={"X-Log-Size": str(offset + len(data) if data else max(size, offset)),
                             "X-Run-Status": run.status})


@router.get("/runs/{run_id}/artifacts", response_model=None)
def list_artifacts(run_id: str, request: Request, prefix: Optional[str] = None) -> Any:
    s = k(request)
    s.store.run(run_id)
    files = s.artifacts.list(run_key(run_id))
    if prefix:
        files = [f for f in files if f["path"].startswith(prefix)]
    return {"files": files}


@router.put("/runs/{run_id}/artifacts/{path:path}", response_model=None)
async def put_artifact(run_id: str, path: str, request: Request) -> Any:
    s = k(request)
    key = run_key(run_id, path)
    await run_in_threadpool(s.store.run, run_id)
    tmp = await _spool_body(request)
    try:
        size = await run_in_threadpool(s.artifacts.put, key, tmp)
    finally:
        tmp.close()
    return {"path": path, "size": size}


@router.get("/runs/{run_id}/artifacts/{path:path}", response_model=None)
def get_artifact(run_id: str, path: str, request: Request) -> Any:
    s = k(request)
    s.store.run(run_id)
    try:
        local = s.artifacts.local_path(run_key(run_id, path))
    except NotFoundException:
        raise NotFoundException("Run %s has no file %r." % (run_id, path))
    return _send_open_file(local, os.path.basename(path))


def _send_open_file(local: Any, filename: str, chunk: Any = 1 << 20) -> Any:
    """The file as it is now: opened once, its length from that open file. A file the run
    host replaces meanwhile (``./logs`` are re-uploaded while a run runs; every upload is
    an atomic rename) cannot make the body disagree with the Content-Length."""
    try:
        f = open(local, "rb")
    except FileNotFoundError:
        raise NotFoundException("The file %r is gone." % filename)
    size = os.fstat(f.fileno()).st_size

    def body() -> Iterator[Any]:
        with f:
            while True:
                data = f.read(chunk)
                if not data:
                    return
                yield data
    quoted = urllib.parse.quote(filename)
    disposition = ("attachment; filename*=utf-8''%s" % quoted if quoted != filename
                   else 'attachment; filename="%s"' % filename)
    return StreamingResponse(body(), media_type=mimetypes.guess_type(filename)[0] or "application/octet-stream",
                             headers={"Content-Length": str(size), "Content-Disposition": disposition})


def _snapshot_key(sha: str) -> Any:
    if not _SHA.match(sha):
        raise UserErrorException("Snapshot id must be a sha256 hex digest, got %r." % sha)
    return "snapshots/%s.tar.gz" % sha


@router.get("/snapshots/{sha}/exists", response_model=None)
def snapshot_exists(sha: str, request: Request) -> Any:
    return {"exists": k(request).artifacts.size(_snapshot_key(sha)) >= 0}


@router.put("/snapshots/{sha}", response_model=None)
async def put_snapshot(sha: str, request: Request) -> Any:
    """Store a source snapshot under its id. Snapshots are immutable: the id must be the
    one its files hash to (``kyanite.core._snapshot.snapshot_id``), and a snapshot already
    stored is kept as it is, so no upload can change the code another run executes."""
    from kyanite.core._snapshot import snapshot_id
    s = k(request)
    key = _snapshot_key(sha)
    tmp = await _spool_body(request)
    try:
        existing = await run_in_threadpool(s.artifacts.size, key)
        if existing >= 0:
            return {"id": sha, "size": existing}
        got = await run_in_threadpool(snapshot_id, tmp)
        if got != sha:
            raise UserErrorException("The uploaded snapshot's files hash to %s, not %s: upload the snapshot that "
                                     "make_snapshot() made for that id." % (got, sha))
        tmp.seek(0)
        size = await run_in_threadpool(s.artifacts.put, key, tmp)
    finally:
        tmp.close()
    return {"id": sha, "size": size}


@router.get("/snapshots/{sha}", response_model=None)
def get_snapshot(sha: str, request: Request) -> Any:
    return FileResponse(k(request).artifacts.local_path(_snapshot_key(sha)))


_LISTINGS: "collections.OrderedDict[str, Any]" = collections.OrderedDict()  # sha -> [{"path", "size"}]; snapshots never change
_LISTINGS_LOCK = threading.Lock()


def _snapshot_tar(request: Request, sha: str) -> Any:
    try:
        local = k(request).artifacts.local_path(_snapshot_key(sha))
    except NotFoundException:
        raise NotFoundException("No snapshot %s in this workspace." % sha)
    try:
        return tarfile.open(local, mode="r:gz")
    except (tarfile.TarError, OSError) as exc:
        raise UserErrorException("Snapshot %s is not a readable .tar.gz: %s" % (sha, exc))


@router.get("/snapshots/{sha}/files", response_model=None)
def snapshot_files(sha: str, request: Request) -> Any:
    """The files of a source snapshot: ``{"files": [{"path", "size"}]}`` sorted by path."""
    with _LISTINGS_LOCK:
        if sha in _LISTINGS:
            _LISTINGS.move_to_end(sha)
            return {"files": _LISTINGS[sha]}
    with _snapshot_tar(request, sha) as tar:
        files = sorted(({"path": i.name, "size": i.size} for i in tar if i.isfile()), key=lambda f: f["path"])
    with _LISTINGS_LOCK:
        _LISTINGS[sha] = files
        while len(_LISTINGS) > 64:
            _LISTINGS.popitem(last=False)
    return {"files": files}


@router.get("/snapshots/{sha}/files/{path:path}", response_model=None)
def snapshot_file(sha: str, path: str, request: Request, max_bytes: Optional[Int64] = None) -> Any:
    """One file of a snapshot (its first ``max_bytes`` bytes when given), as a download."""
    check_key(path)
    if max_bytes is not None and max_bytes < 0:
        raise UserErrorException("max_bytes must be 0 or more, got %d." % max_bytes)
    with _snapshot_tar(request, sha) as tar:
        for info in tar:
            if info.name == path and info.isfile():
                f = tar.extractfile(info)
                data = f.read(-1 if max_bytes is None else max_bytes)
                break
        else:
            raise NotFoundException("Snapshot %s has no file %r." % (sha, path))
    filename = os.path.basename(path)
    quoted = urllib.parse.quote(filename)
    disposition = ("attachment; filename*=utf-8''%s" % quoted if quoted != filename
                   else 'attachment; filename="%s"' % filename)
    return Response(data, media_type=mimetypes.guess_type(filename)[0] or "application/octet-stream",
                    headers={"X-File-Size": str(info.size), "Content-Disposition": disposition})
