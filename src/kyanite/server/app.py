"""The workspace server's FastAPI application.

``create_app(layout)`` wires the store, artifact store, notifier, executors and scheduler
for one workspace folder. Every ``/api`` route except ``/api/health`` requires
``Authorization: Bearer <workspace token>``; the OpenAPI document is at ``/api/openapi.json``.
"""

import logging
import os
import secrets
import sys

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from kyanite.compute.local import LocalExecutor
from kyanite.exceptions import (
    AuthenticationException, ConflictException, NotFoundException, UserErrorException,
)
from kyanite.server.notifier import Notifier
from kyanite.server.scheduler import Scheduler
from kyanite.store.artifacts import LocalArtifactStore
from kyanite.store.database import Store


class ServerState(object):
    """Everything a request handler needs, on ``app.state.k``."""

    def __init__(self, layout, server_url, database_url=None):
        self.layout = layout
        self.settings = layout.settings()
        self.token = layout.token()
        self.store = Store(database_url or layout.database_url())
        self.store.migrate()
        self.artifacts = LocalArtifactStore(layout.artifacts_dir)
        self.notifier = Notifier()
        self.server_url = server_url
        host_env = dict(os.environ, KYANITE_SERVER_URL=server_url, KYANITE_TOKEN=self.token,
                        PYTHONUNBUFFERED="1")
        self.scheduler = Scheduler(self.store, {"local": LocalExecutor(layout.hosts_dir)}, host_env,
                                   self.notifier)


def require_token(request: Request):
    header = request.headers.get("authorization", "")
    token = header[7:] if header.lower().startswith("bearer ") else ""
    if not token or not secrets.compare_digest(token, request.app.state.k.token):
        raise HTTPException(401, "missing or wrong workspace token")


def create_app(layout, server_url, database_url=None, start_scheduler=True):
    from kyanite.server.routes import files, resources, runs

    state = ServerState(layout, server_url, database_url)
    app = FastAPI(title="kyanite workspace server", openapi_url="/api/openapi.json",
                  docs_url="/api/docs", redoc_url=None)
    app.state.k = state

    @app.get("/api/health")
    def health():
        return {"status": "ok", "workspace": state.settings["name"]}

    for module in (runs, files, resources):
        app.include_router(module.router, prefix="/api", dependencies=[Depends(require_token)])

    errors = {NotFoundException: 404, ConflictException: 409, AuthenticationException: 401,
              UserErrorException: 400}
    for exc_type, code in errors.items():
        app.add_exception_handler(exc_type, _handler(code))

    if start_scheduler:
        @app.on_event("startup")
        def _start():
            state.scheduler.start()
            state.scheduler.wake()

        @app.on_event("shutdown")
        def _stop():
            state.scheduler.stop()
    return app


def _handler(code):
    async def handle(request, exc):
        return JSONResponse({"detail": exc.message}, status_code=code)
    return handle


def configure_logging():
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
