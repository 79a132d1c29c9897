"""Runs: create, read, list, update, status, cancel, heartbeat, wait, metrics."""

import json
import time
from typing import Optional

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from kyanite.exceptions import UserErrorException
from kyanite.runtime.run import TERMINAL_STATES, RunStatus, DRIVER_LOG

router = APIRouter(tags=["runs"])


def k(request):
    return request.app.state.k


class RunCreate(BaseModel):
    experiment: str
    run_id: Optional[str] = None
    parent_id: Optional[str] = None
    display_name: Optional[str] = None
    run_type: str = "run"
    status: Optional[str] = None
    target: Optional[str] = None
    definition: Optional[dict] = None
    tags: Optional[dict] = None
    properties: Optional[dict] = None


class RunPatch(BaseModel):
    tags: Optional[dict] = None
    remove_tags: Optional[list] = None
    properties: Optional[dict] = None
    resolved_packages: Optional[dict] = None
    definition: Optional[dict] = None


class StatusChange(BaseModel):
    status: str
    error: Optional[dict] = None


@router.post("/experiments")
def create_experiment(body: dict, request: Request):
    return k(request).store.experiment(body.get("name"), create=True)


@router.get("/experiments")
def list_experiments(request: Request):
    return {"experiments": k(request).store.list_experiments()}


@router.get("/experiments/{name}")
def get_experiment(name: str, request: Request):
    return k(request).store.experiment(name)


@router.get("/experiments/{name}/runs")
def experiment_runs(name: str, request: Request, status: Optional[str] = None,
                    limit: Optional[int] = None, offset: int = 0):
    return {"runs": k(request).store.list_runs(experiment=name, status=status, limit=limit, offset=offset)}


@router.get("/runs")
def list_runs(request: Request, status: Optional[str] = None, target: Optional[str] = None,
              limit: Optional[int] = 100, offset: int = 0):
    return {"runs": k(request).store.list_runs(status=status, target=target, limit=limit, offset=offset)}


@router.post("/runs")
def create_run(body: RunCreate, request: Request):
    """Create a run. A run with a ``definition.script`` is a submitted run: it goes to the
    queue of its target. Otherwise it is an interactive run with the given status."""
    s = k(request)
    submitted = bool(body.definition and body.definition.get("script"))
    if submitted:
        s.scheduler.target(body.target)  # 404 for an unknown compute target
    status = RunStatus.QUEUED if submitted else (body.status or RunStatus.NOT_STARTED)
    run = s.store.create_run(body.experiment, status=status, run_id=body.run_id, parent_id=body.parent_id,
                             target=body.target or ("local" if submitted else None),
                             definition=body.definition, display_name=body.display_name,
                             run_type=body.run_type, tags=body.tags, properties=body.properties)
    if submitted:
        s.scheduler.wake()
    return run


@router.get("/runs/{run_id}")
def get_run(run_id: str, request: Request):
    return k(request).store.run(run_id)


@router.patch("/runs/{run_id}")
def patch_run(run_id: str, body: RunPatch, request: Request):
    run = k(request).store.update_run(run_id, tags=body.tags, remove_tags=body.remove_tags,
                                      properties=body.properties, resolved_packages=body.resolved_packages,
                                      definition_updates=body.definition)
    k(request).notifier.changed(run_id)
    return run


@router.get("/runs/{run_id}/children")
def children(run_id: str, request: Request, recursive: bool = False):
    return {"runs": k(request).store.children(run_id, recursive)}


@router.post("/runs/{run_id}/status")
def set_status(run_id: str, body: StatusChange, request: Request):
    s = k(request)
    run, changed = s.store.set_status(run_id, body.status, error=body.error)
    if changed:
        s.notifier.changed(run_id)
        if body.status in TERMINAL_STATES:
            s.scheduler.wake()
    return run


@router.post("/runs/{run_id}/cancel")
def cancel(run_id: str, request: Request):
    return k(request).scheduler.cancel(run_id)


@router.post("/runs/{run_id}/heartbeat")
def heartbeat(run_id: str, request: Request):
    return {"cancel_requested": k(request).store.heartbeat(run_id)}


@router.post("/runs/{run_id}/host/start")
def host_start(run_id: str, body: dict, request: Request):
    """Called by the run host when it starts: records where it runs, returns the run."""
    s = k(request)
    run = s.store.run(run_id)
    if body.get("host"):
        merged = dict(run["host"] or {}, **body["host"])
        run = s.store.update_run(run_id, host=merged)
    s.store.heartbeat(run_id)
    return run


@router.get("/runs/{run_id}/wait")
async def wait(run_id: str, request: Request, status: Optional[str] = None,
               log_offset: Optional[int] = None, timeout: float = 10.0):
    """Long-poll: returns the run as soon as its status differs from ``status``, its
    driver log grew past ``log_offset``, or ``timeout`` seconds passed."""
    s = k(request)
    deadline = time.monotonic() + min(max(timeout, 0.0), 60.0)
    while True:
        run = await run_in_threadpool(s.store.run, run_id)
        if status is None or run["status"] != status:
            return run
        if log_offset is not None and s.artifacts.size("runs/%s/%s" % (run_id, DRIVER_LOG)) > log_offset:
            return run
        left = deadline - time.monotonic()
        if left <= 0:
            return run
        await s.notifier.wait(run_id, min(left, 2.0))


@router.post("/runs/{run_id}/metrics")
async def post_metrics(run_id: str, request: Request):
    """Append metric points: ``{"metrics": [{"name", "kind", "values", "ts"}]}``."""
    s = k(request)
    try:
        body = json.loads(await request.body())
        series = body["metrics"]
    except (ValueError, KeyError, TypeError):
        raise UserErrorException('Metrics body must be JSON {"metrics": [{"name","kind","values","ts"}]}.')
    n = await run_in_threadpool(s.store.add_metrics, run_id, series)
    s.notifier.changed(run_id)
    return {"stored": n}


@router.get("/runs/{run_id}/metrics")
def get_metrics(run_id: str, request: Request, name: Optional[str] = None):
    return {"metrics": k(request).store.get_metrics(run_id, name)}


