"""The workspace server's FastAPI application.

``create_app(layout)`` wires the store, artifact store, notifier, executors and scheduler
for one workspace folder. Every ``/api`` route except ``/api/health`` requires
``Authorization: Bearer <workspace token>``; the OpenAPI document (``/api/openapi.json``,
browsable at ``/api/docs``) describes the API, holds no workspace data, and is public.
``kyanite.server.guard`` checks the token from the headers before any body is read and caps
each route's body size (413). Errors reply ``{"detail": "<one readable line>"}``.
"""

import logging
import os
import secrets
import sys
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError

from kyanite.compute import Executors
from kyanite.compute.local import LocalExecutor
from kyanite.exceptions import (
    AuthenticationException,
    ConflictException,
    NotFoundException,
    UserErrorException,
)
from kyanite.protocol.identifiers import InvalidValue
from kyanite.runtime.environ import host_environment
from kyanite.server import guard, jsonio, run_tokens
from kyanite.server.deployments import DeploymentManager, attach as attach_deployments
from kyanite.server.notifier import Notifier
from kyanite.server.routes import (
    clusters,
    data,
    deployments,
    files,
    models,
    resources,
    mlflow,
    runs,
    sweeps,
)
from kyanite.server.scheduler import Scheduler
from kyanite.server.sweeps import SweepController
from kyanite.store.artifacts import LocalArtifactStore
from kyanite.store.database import Store
from kyanite.studio import mount as mount_studio


class ServerState(object):
    """Everything a request handler needs, on ``app.state.k``."""

    sweeps: SweepController  # set by create_app
    deployments: DeploymentManager  # set by kyanite.server.deployments.attach

    def __init__(self, layout: Any, server_url: str, database_url: str | None = None) -> None:
        self.layout = layout
        layout.secure()  # owner-only files, also for a workspace made before
        self.settings = layout.settings()
        self.token = layout.token()
        self.store = Store(database_url or layout.database_url())
        self.store.migrate()
        self.artifacts = LocalArtifactStore(layout.artifacts_dir)
        self.notifier = Notifier()
        self.server_url = server_url
        # a run host gets an allow-list of the server's variables (kyanite.runtime.environ)
        host_env = dict(host_environment(os.environ), KYANITE_SERVER_URL=server_url, KYANITE_TOKEN=self.token,
                        PYTHONUNBUFFERED="1")
        executors = Executors({"local": LocalExecutor(layout.hosts_dir, run_as_for=self._run_as)},
                              factories={"ray": self._ray_executor})
        self.scheduler = Scheduler(self.store, executors, host_env, self.notifier)

    def _run_as(self, run: Any) -> Any:
        """The OS user a local run's host runs as: its target's ``run_as``, else the
        workspace setting ``run_as`` (read at server start), else None (the server's user)."""
        return self.scheduler.config_for(self.scheduler.target(run.target)).run_as \
            or self.settings.get("run_as")

    def _ray_executor(self) -> Any:
        """Built when a Ray target is first used (imports Ray's job client only then)."""
        from kyanite.compute.ray import RayExecutor, StoreReporter
        return RayExecutor(self.layout.hosts_dir, self.scheduler.target,
                           StoreReporter(self.store, self.notifier, self.scheduler.wake))


def require_token(request: Request) -> None:
    """The routes' auth dependency: a request the RequestGuard (``kyanite.server.guard``)
    authenticated from its headers goes on; any other is checked now (``authenticate``)."""
    if not request.scope.get(guard.AUTHENTICATED):
        authenticate(request)


def authenticate(request: Request) -> None:
    """Returns when the request's headers authenticate it, else raises HTTPException
    (401/403): the workspace token, a run token (``kyanite.server.run_tokens``; sets
    ``request.state.run_token_run``), or the studio's cookie or embed ticket. Reads no body."""
    header = request.headers.get("authorization", "")
    token = header[7:] if header.lower().startswith("bearer ") else ""
    if token and secrets.compare_digest(token, request.app.state.k.token):
        return
    if token.startswith(run_tokens.PREFIX):  # a run host or its script: see kyanite.server.run_tokens
        run_id = run_tokens.run_of(request.app.state.k.token, token)
        refused = (401, "wrong run token") if run_id is None else run_tokens.check(
            request.app.state.k.store, run_id, request.method, request.url.path)
        if refused is None:
            request.state.run_token_run = run_id  # routes that read a body check it too
            return
        raise HTTPException(*refused)
    # Studio pages: the session cookie (CSRF-guarded) or a notebook embed ticket; see kyanite.studio.auth.
    from kyanite.studio.auth import authorize_api
    if not token and authorize_api(request, request.app.state.k.token, request.app.state.k.store):
        return
    raise HTTPException(401, "missing or wrong workspace token")


def create_app(layout: Any, server_url: str, database_url: str | None = None, start_scheduler: bool = True) -> Any:
    state = ServerState(layout, server_url, database_url)
    state.sweeps = SweepController(state.store, state.scheduler, state.notifier, state.artifacts)
    attach_deployments(state, layout)
    app = FastAPI(title="kyanite workspace server", openapi_url="/api/openapi.json",
                  docs_url="/api/docs", redoc_url=None, default_response_class=jsonio.StrictJSONResponse)
    app.state.k = state
    app.add_middleware(guard.RequestGuard, authenticate=authenticate)  # auth and body caps, before any body

    @app.get("/api/health", response_model=None)
    def health() -> Any:
        return {"status": "ok", "workspace": state.settings["name"]}

    @app.get("/api/workspace", dependencies=[Depends(require_token)], response_model=None)
    def workspace() -> Any:
        """The workspace's name and server URL; the SDK's first call, so a wrong token
        is reported when a workspace is opened."""
        return {"name": state.settings["name"], "serverUrl": state.server_url}

    for module in (runs, files, resources, sweeps, data, models, deployments, clusters):
        app.include_router(module.router, prefix="/api",
                           dependencies=[Depends(require_token), Depends(jsonio.check_body)])
    app.include_router(mlflow.router, dependencies=[Depends(require_token)])  # /mlflow: the MLflow tracking API
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(InvalidValue, _invalid_value_handler)
    app.add_exception_handler(Exception, _unexpected_handler)

    errors = {NotFoundException: 404, ConflictException: 409, AuthenticationException: 401,
              UserErrorException: 400}
    for exc_type, code in errors.items():
        app.add_exception_handler(exc_type, _handler(code))

    mount_studio(app, require_token, background=start_scheduler)  # the web pages at "/"

    if start_scheduler:
        @app.on_event("startup")
        def _start() -> None:
            state.scheduler.start()
            state.scheduler.wake()
            state.sweeps.start()
            state.deployments.start()

        @app.on_event("shutdown")
        def _stop() -> None:
            state.scheduler.stop()
            state.sweeps.stop()
            state.deployments.stop()
    return app


async def _invalid_value_handler(request: Request, exc: Any) -> Any:
    """400 naming the field and the rule (``kyanite.protocol.identifiers``)."""
    return jsonio.StrictJSONResponse({"detail": str(exc), "field": exc.field}, status_code=400)


def _handler(code: Any) -> Any:
    async def handle(request: Request, exc: Any) -> Any:
        return jsonio.StrictJSONResponse({"detail": exc.message}, status_code=code)
    return handle


async def _validation_handler(request: Request, exc: Any) -> Any:
    """422 with a one-line ``detail`` (clients show it as the error message); the
    structured list stays under ``errors``."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "body"
        if err.get("type") == "json_invalid":
            parts.append("the body is not valid JSON (%s)" % (err.get("ctx") or {}).get("error", "parse error"))
        else:
            parts.append("%s: %s" % (loc, err.get("msg", "invalid")))
    return jsonio.StrictJSONResponse({"detail": "Invalid request: " + "; ".join(parts),
                         "errors": jsonable_encoder(exc.errors())}, status_code=422)


async def _unexpected_handler(request: Request, exc: Exception) -> Any:
    """Last resort, for a bug: every known cause of a bad request has its own 4xx. Logs the
    traceback and answers a one-line 500."""
    logging.getLogger("kyanite.server").error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return jsonio.StrictJSONResponse({"detail": "Internal server error (%s); the server log has the details."
                                                % type(exc).__name__}, status_code=500)


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
