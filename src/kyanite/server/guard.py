"""The request guard: an ASGI middleware every HTTP request passes before any route reads
its body.

1. **Authentication from the headers.** A request under ``/api`` or ``/mlflow`` (the MLflow
   tracking API, whose refusals come in MLflow's error shape) (except ``PUBLIC_PATHS``:
   health, the OpenAPI document and its browser) is authenticated by ``authenticate(request)``
   (``kyanite.server.app.authenticate``: workspace token, run tokens, the studio's cookie or
   embed ticket) before a byte of its body is received; a refused one is answered at once
   (401/403) and its body is never read, so an unauthenticated upload costs the server
   nothing. An accepted request is marked (``scope[AUTHENTICATED]``) so the routes'
   ``require_token`` dependency does not check again. The studio's own pages (outside
   ``/api``) do their own checks.
2. **Body caps per route** (``limit_for``): a ``Content-Length`` over the cap is answered
   413 before the body is read; a body sent without one (chunked) is counted while the route
   reads it and answered 413 as soon as it passes the cap. A malformed or negative
   ``Content-Length`` is answered 400. Caps: file uploads ``KYANITE_UPLOAD_MAX_MB`` (default
   20480), snapshots ``KYANITE_SNAPSHOT_MAX_MB`` (default 300, with room for the tar's
   headers), metrics batches, log appends and dataset registrations 64 MB, the studio
   sign-in form 64 KB, every other body (JSON documents) 4 MB.

Replies are ``{"detail": "<one line>"}``, like every other error of the API. The connection
stays open: the server (uvicorn) discards the rest of a body once the reply is sent,
without keeping it, so the client reads the reply instead of a reset connection.
"""

import json
import re
from collections.abc import Mapping
from typing import Any

from fastapi import HTTPException
from fastapi.concurrency import run_in_threadpool
from starlette.requests import Request

from kyanite import settings

MB = 1 << 20
JSON_MAX = 4 * MB
BATCH_MAX = 64 * MB
PUBLIC_PATHS = frozenset(["/api/health", "/api/openapi.json", "/api/docs", "/api/docs/oauth2-redirect"])
AUTHENTICATED = "kyanite.authenticated"


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a body passes its cap while a route reads it (an
    HTTPException, so FastAPI's body parsing passes it on and it is answered 413)."""

    def __init__(self, detail: Any) -> None:
        HTTPException.__init__(self, 413, detail)


def _caps() -> Any:
    """``[(method, path pattern, cap in bytes, what it caps)]``, first match wins."""
    upload = int(max(settings.get("KYANITE_UPLOAD_MAX_MB"), 0.0) * MB)
    snap_mb = max(settings.get("KYANITE_SNAPSHOT_MAX_MB"), 0.0)
    snapshot = int(snap_mb * MB * 1.1) + MB  # the tar.gz of at most that many bytes of files
    upload_what = "file uploads (KYANITE_UPLOAD_MAX_MB on the server)"
    return [(method, re.compile(pattern), cap, what) for method, pattern, cap, what in [
        ("PUT", r"/api/runs/[^/]+/artifacts/.+", upload, upload_what),
        ("PUT", r"/api/datastores/[^/]+/files/.+", upload, upload_what),
        ("PUT", r"/api/data/blobs/[^/]+", upload, upload_what),
        ("PUT", r"/mlflow/api/2\.0/mlflow-artifacts/artifacts/.+", upload, upload_what),
        ("POST", r"/api/models/uploads", upload, upload_what),
        ("PUT", r"/api/snapshots/[^/]+", snapshot,
         "source snapshots (KYANITE_SNAPSHOT_MAX_MB=%g on the server)" % snap_mb),
        ("POST", r"/api/runs/[^/]+/metrics", BATCH_MAX, "a metrics batch"),
        ("POST", r"/api/runs/[^/]+/logs", BATCH_MAX, "one log append"),
        ("POST", r"/api/datasets", BATCH_MAX, "a dataset registration"),
        ("POST", r"/signin", 64 << 10, "the sign-in form"),
    ]]


def _size(n: int) -> Any:
    return "%d KB" % (n >> 10) if n < MB else "%g MB" % round(n / float(MB), 1)


class RequestGuard(object):
    """The middleware (``app.add_middleware(RequestGuard, authenticate=...)``).
    ``authenticate(request)`` is a plain function that returns when the request may go on
    and raises HTTPException otherwise; it runs in the thread pool (it may read the store)."""

    def __init__(self, app: Any, authenticate: Any) -> None:
        self.app = app
        self.authenticate = authenticate
        self.caps = _caps()

    def limit_for(self, method: str, path: str) -> Any:
        """``(cap in bytes, what it caps)`` for a request."""
        for verb, pattern, cap, what in self.caps:
            if verb == method and pattern.fullmatch(path):
                return cap, what
        return JSON_MAX, "a request body (JSON documents)"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, method = scope["path"], scope["method"]
        mlflow = path == "/mlflow" or path.startswith("/mlflow/")  # the MLflow API (its own error shape)
        if (mlflow or path == "/api" or path.startswith("/api/")) and path not in PUBLIC_PATHS:
            try:
                await run_in_threadpool(self.authenticate, Request(scope))  # no receive: the body stays unread
            except HTTPException as exc:
                return await _reply(send, exc.status_code, exc.detail, exc.headers, mlflow)
            scope[AUTHENTICATED] = True
        cap, what = self.limit_for(method, path)
        length = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                text = value.decode("latin-1").strip()
                if not text.isdigit() or (length is not None and int(text) != length):
                    return await _reply(send, 400, "Content-Length must be one whole number of bytes, got %r."
                                        % value.decode("latin-1")[:40], mlflow=mlflow)
                length = int(text)
        too_large = "The request body is over the %s cap for %s; send less." % (_size(cap), what)
        if length is not None and length > cap:
            return await _reply(send, 413, too_large, mlflow=mlflow)
        received = [0]
        started = [False]

        async def counted_receive() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                received[0] += len(message.get("body", b""))
                if received[0] > cap:
                    raise BodyTooLarge(too_large)
            return message

        async def tracked_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                started[0] = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge as exc:  # a route that let it through: answer here when still possible
            if started[0]:
                raise
            await _reply(send, 413, exc.detail, mlflow=mlflow)


async def _reply(send: Any, status: int, detail: Any, headers: Mapping[str, str] | None = None, mlflow: bool = False) -> None:
    if mlflow:  # what the MLflow client reads
        code = {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 413: "INVALID_PARAMETER_VALUE"}.get(
            status, "INVALID_PARAMETER_VALUE")
        body = json.dumps({"error_code": code, "message": detail}).encode("utf-8")
    else:
        body = json.dumps({"detail": detail}).encode("utf-8")
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode("ascii"))]
    for name, value in (headers or {}).items():
        raw.append((name.lower().encode("latin-1"), value.encode("latin-1")))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
