"""Runs: create, read, list, update, status, cancel, heartbeat, wait, metrics."""

import asyncio
import json
import math
import re
import time
from typing import Any, List, Optional
from collections.abc import Iterator

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from kyanite.exceptions import NotFoundException, UserErrorException
from kyanite.protocol.states import TERMINAL_STATES, RunStatus
from kyanite.protocol.runfiles import DRIVER_LOG
from kyanite.protocol.runs import RunDefinition
from kyanite.server import jsonio, run_tokens
from kyanite.server.wire import run_details, runs_details
from kyanite.server.jsonio import StrictJSONResponse
from kyanite.protocol.identifiers import DESCRIPTION_MAX, check_identifier, check_mapping, check_text
from kyanite.server.routes import known
from kyanite.store.artifacts import run_key
from kyanite.server.params import Int64
from kyanite.server.mlflow_search import SearchError, parse as parse_filter
from kyanite.store.runs_filter import NUMERIC_ATTRIBUTES, TEXT_ATTRIBUTES

router = APIRouter(tags=["runs"])


def k(request: Request) -> Any:
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
    host: Optional[dict] = None  # merged into the executor's handle (the run host adds the script's pid)
    display_name: Optional[str] = None  # renames the run (SDK v1 ``run.display_name = ...``)
    description: Optional[str] = None  # at most DESCRIPTION_MAX characters; "" clears it


class StatusChange(BaseModel):
    status: str
    error: Optional[dict] = None


@router.post("/experiments", response_model=None)
def create_experiment(body: dict, request: Request) -> Any:
    s = k(request)
    name = check_identifier("experiment name", body.get("name"), exists=known(s.store.experiment))
    return s.store.experiment(name, create=True)


@router.get("/experiments", response_model=None)
def list_experiments(request: Request) -> Any:
    return {"experiments": k(request).store.list_experiments()}


@router.get("/experiments/{name}", response_model=None)
def get_experiment(name: str, request: Request) -> Any:
    return k(request).store.experiment(name)


@router.get("/experiments/{name}/runs", response_model=None)
def experiment_runs(name: str, request: Request, status: Optional[str] = None,
                    limit: Optional[Int64] = None, offset: Int64 = 0) -> Any:
    return {"runs": runs_details(k(request).store.list_runs(experiment=name, status=status, limit=limit,
                                                            offset=offset))}


@router.get("/runs", response_model=None)
def list_runs(request: Request, status: Optional[List[str]] = Query(None), target: Optional[str] = None,
              limit: Optional[Int64] = 100, offset: Int64 = 0, experiment: Optional[str] = None,
              parent: Optional[str] = None, include_children: bool = Query(False, alias="all"), q: Optional[str] = None,
              sort: Optional[str] = None, order: str = "desc", total: bool = False, metrics: bool = False,
              dataset: Optional[str] = None, filter: Optional[str] = None, params: bool = False) -> Any:
    """Runs, newest first. ``status`` may repeat. With any of ``experiment``, ``parent``
    (its children), ``all`` (child runs too), ``q`` (id or name contains), ``sort`` (created,
    number, name, status, target, start, end, duration, or ``metric:<name>``: the newest value
    of a scalar metric, runs without it last), ``order`` (asc|desc), ``total``
    (adds ``total``: how many match) or ``metrics`` (adds ``metrics``: ``{run id: [{name,
    kind, count, last}]}``): one page (``limit`` at most 500) from indexed queries.
    ``dataset``: the runs that took that registered dataset as an input (newest ``limit``).
    ``filter``: the runs filter (``kyanite.store.runs_filter``), e.g. ``metrics.acc > 0.9 and
    params.batch_size = 50 and tags.team = "vision"``; a malformed one is a 400 naming the
    character where it goes wrong. ``params`` adds ``params``: ``{run id: {key: value}}``."""
    s = k(request)
    if dataset:
        return {"runs": [dict(run_details(r), datasetInputs=used)
                         for r, used in s.store.runs_using_dataset(dataset, limit=min(max(1, limit or 100), 500))]}
    wanted = (status[0] if len(status) == 1 else status) if status else None
    try:
        clauses = parse_filter(filter, loose=True, attributes=(NUMERIC_ATTRIBUTES, TEXT_ATTRIBUTES))
    except SearchError as e:
        raise UserErrorException(str(e))
    if not (experiment or parent or include_children or q or sort or total or metrics or clauses or params):
        return {"runs": runs_details(s.store.list_runs(status=wanted, target=target, limit=limit, offset=offset))}
    page = s.store.query_runs(experiment=experiment, parent_id=parent, status=wanted, target=target,
                              search=q, sort=sort or "created", descending=order != "asc",
                              limit=limit or 100, offset=offset, top_level=not include_children,
                              filter=clauses)
    if params:
        page["params"] = s.store.run_params([r.id for r in page["runs"]])
    if metrics:
        page["metrics"] = s.store.metric_summaries([r.id for r in page["runs"]])
    page["runs"] = runs_details(page["runs"])
    return StrictJSONResponse(page)  # plain JSON types already: skip the generic encoder


@router.post("/runs", response_model=None)
def create_run(body: RunCreate, request: Request) -> Any:
    """Create a run. A run with a ``definition.script`` is a submitted run: it goes to the
    queue of its target. Otherwise it is an interactive run with the given status. The
    definition is checked by ``RunDefinition.from_json`` (400 naming the field)."""
    s = k(request)
    check_run_fields(s.store, body.experiment, body.run_id, body.display_name, body.tags, body.properties)
    check_text("run_type", body.run_type, 64)
    check_text("target", body.target)
    run_tokens.check_parent(request, s.store, body.parent_id)
    definition = None if body.definition is None else RunDefinition.from_json(body.definition)
    submitted = definition is not None and definition.submitted
    if submitted:
        try:
            s.scheduler.target(body.target)
        except NotFoundException:
            raise NotFoundException(
                "Compute target %r does not exist in this workspace; create it with ComputeTarget.create(ws, "
                "%r, AmlCompute.provisioning_configuration(max_nodes=N)) or submit to 'local'."
                % (body.target, body.target))
    status = RunStatus.QUEUED if submitted else (body.status or RunStatus.NOT_STARTED)
    run = s.store.create_run(body.experiment, status=status, run_id=body.run_id, parent_id=body.parent_id,
                             target=body.target or ("local" if submitted else None),
                             definition=definition, display_name=body.display_name,
                             run_type=body.run_type, tags=body.tags, properties=body.properties)
    if submitted:
        s.scheduler.wake()
    return run_details(run)


def check_run_fields(store: Any, experiment: Any, run_id: str | None, display_name: str | None, tags: dict[str, Any] | None, properties: dict[str, Any] | None) -> None:
    """The fields of a new run (or sweep): InvalidValue (400) naming the one that breaks
    the rules of ``kyanite.protocol.identifiers``."""
    check_identifier("experiment name", experiment, exists=known(store.experiment))
    if run_id is not None:
        check_identifier("run_id", run_id)
    check_text("display_name", display_name)
    check_mapping("tags", tags)
    check_mapping("properties", properties)


@router.get("/runs/{run_id}", response_model=None)
def get_run(run_id: str, request: Request) -> Any:
    """The run's details, with ``logFiles``: ``{name: download URL}`` for the driver log
    and the files of ``./logs``."""
    s = k(request)
    run = run_details(s.store.run(run_id))
    names = [f["path"] for f in s.artifacts.list(run_key(run_id))
             if f["path"].startswith(("user_logs/", "logs/"))]
    run["logFiles"] = dict((n, "%s/api/runs/%s/artifacts/%s" % (s.server_url, run_id, n)) for n in names)
    return run


@router.get("/runs/{run_id}/params", response_model=None)
def run_params(run_id: str, request: Request) -> Any:
    """``{"params": {key: value}}``: the run's parameters - the options of its arguments
    (``--batch-size 50`` gives ``batch_size: 50``, numbers typed) and its MLflow params."""
    s = k(request)
    s.store.run(run_id)
    return {"params": s.store.run_params([run_id])[run_id]}


@router.patch("/runs/{run_id}", response_model=None)
def patch_run(run_id: str, body: RunPatch, request: Request) -> Any:
    check_mapping("tags", body.tags)
    check_mapping("properties", body.properties)
    check_text("display_name", body.display_name)
    check_text("description", body.description, DESCRIPTION_MAX)
    run = k(request).store.update_run(run_id, tags=body.tags, remove_tags=body.remove_tags,
                                      properties=body.properties, resolved_packages=body.resolved_packages,
                                      definition_updates=body.definition, host=body.host,
                                      display_name=body.display_name, description=body.description)
    k(request).notifier.changed(run_id)
    return run_details(run)


@router.get("/runs/{run_id}/children", response_model=None)
def children(run_id: str, request: Request, recursive: bool = False) -> Any:
    return {"runs": runs_details(k(request).store.children(run_id, recursive))}


@router.post("/runs/{run_id}/status", response_model=None)
def set_status(run_id: str, body: StatusChange, request: Request) -> Any:
    s = k(request)
    run, changed = s.store.set_status(run_id, body.status, error=body.error)
    if changed:
        s.notifier.changed(run_id)
        if body.status in TERMINAL_STATES:
            s.scheduler.wake()
    return run_details(run)


@router.post("/runs/{run_id}/cancel", response_model=None)
def cancel(run_id: str, request: Request) -> Any:
    return run_details(k(request).scheduler.cancel(run_id))


@router.post("/runs/{run_id}/heartbeat", response_model=None)
def heartbeat(run_id: str, request: Request) -> Any:
    return {"cancel_requested": k(request).store.heartbeat(run_id)}


@router.post("/runs/{run_id}/host/start", response_model=None)
def host_start(run_id: str, body: dict, request: Request) -> Any:
    """Called by the run host when it starts: records where it runs, returns the run."""
    s = k(request)
    run = s.store.run(run_id)
    if body.get("host"):
        run = s.store.update_run(run_id, host=body["host"])  # merged with the executor's handle
    s.store.heartbeat(run_id)
    return run_details(run)


@router.get("/runs/{run_id}/wait", response_model=None)
async def wait(run_id: str, request: Request, status: Optional[str] = None,
               log_offset: Optional[Int64] = None, timeout: float = 10.0) -> Any:
    """Long-poll: returns the run as soon as its status differs from ``status``, its
    driver log grew past ``log_offset``, or ``timeout`` seconds passed."""
    s = k(request)
    deadline = time.monotonic() + min(max(timeout, 0.0), 60.0)
    while True:
        fut = s.notifier.subscribe(run_id)  # before reading, so no change slips between
        try:
            run = await run_in_threadpool(s.store.run, run_id)
            if status is None or run.status != status or s.notifier.closing:
                return run_details(run)
            if log_offset is not None and s.artifacts.size(run_key(run_id, DRIVER_LOG)) > log_offset:
                return run_details(run)
            left = deadline - time.monotonic()
            if left <= 0:
                return run_details(run)
            try:
                await asyncio.wait_for(fut, min(left, 5.0))
            except asyncio.TimeoutError:
                pass
        finally:
            s.notifier.unsubscribe(run_id, fut)


@router.post("/runs/{run_id}/metrics", response_model=None)
async def post_metrics(run_id: str, request: Request) -> Any:
    """Append metric points: ``{"metrics": [{"name", "kind", "values", "ts"}], "batch": id}``.
    A ``batch`` id already stored for the run is acknowledged without storing it again."""
    s = k(request)
    body = jsonio.parse(await request.body(), "The metrics body")
    try:
        series = body["metrics"]
    except (KeyError, TypeError):
        raise UserErrorException('Metrics body must be JSON {"metrics": [{"name","kind","values","ts"}]}.')
    n = await run_in_threadpool(s.store.add_metrics, run_id, series, body.get("batch"))
    s.notifier.changed(run_id)
    return {"stored": n}


@router.get("/runs/{run_id}/metrics", response_model=None)
def get_metrics(run_id: str, request: Request, name: Optional[str] = None) -> Any:
    """Every point of the run's metrics (or of ``name``): ``{"metrics": [{"name", "kind",
    "steps", "values", "ts"}]}`` in the wire form ``metrics_wire`` states."""
    return Response(metrics_wire(k(request).store.get_metrics(run_id, name)), media_type="application/json")


def metrics_wire(series: Any) -> Any:
    """The JSON text of ``{"metrics": series}`` (``Store.get_metrics``' list).

    A non-finite float travels as the string "NaN", "Infinity" or "-Infinity" (strict
    JSON has none), so a reader tells it from logged text this way:

    - a scalar series without ``"types"`` holds floats only: each string in it is a
      non-finite float;
    - a scalar series with ``"types"`` (``"float"``, ``"int"`` or ``"str"`` per point, sent
      when it holds an int or a string) says which strings are text: those typed "str";
    - a row or table series with a non-finite float gets ``"nonFinite"``: the path of each
      (the point's index, then the keys and list indices down to it); any other string in
      it is text as logged.

    The SDK decodes it in ``kyanite.runtime.run._shape_metric``."""
    doc = {"metrics": series}
    try:  # no non-finite float (the common case): encoded once, nothing walked
        return json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError:
        pass
    for m in series:
        if m["kind"] not in ("scalar", "image"):
            paths: list[Any] = []
            for i, v in enumerate(m["values"]):
                _non_finite_paths(v, [i], paths)
            if paths:
                m["nonFinite"] = paths
    return jsonio.dumps(doc)


def _non_finite_paths(value: Any, path: list[Any], out: list[Any]) -> None:
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            out.append(path)
    elif isinstance(value, dict):
        for key, v in value.items():
            _non_finite_paths(v, path + [key], out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _non_finite_paths(v, path + [i], out)


@router.get("/runs/{run_id}/metrics/summary", response_model=None)
def metric_summary(run_id: str, request: Request) -> Any:
    """Every metric of the run: ``[{name, kind, count, last, lastStep}]`` (index seeks only)."""
    s = k(request)
    s.store.run(run_id)
    return {"metrics": s.store.metric_summaries([run_id])[run_id]}


@router.get("/runs/{run_id}/metrics/{name:path}/series", response_model=None)
def metric_series(run_id: str, name: str, request: Request, max_points: Int64 = 2000,
                  min_step: Optional[Int64] = None, max_step: Optional[Int64] = None) -> Any:
    """A scalar metric for a chart: at most ``max_points`` (10,000 at most) points between
    ``min_step`` and ``max_step``; a longer range comes back as each bucket's lowest and
    highest value (``downsampled: true``), so no extreme is lost. ``ts``: each point's unix
    time; ``firstTs``: the time of the series' first point (for a relative-time axis)."""
    return StrictJSONResponse(k(request).store.metric_series(run_id, name, max_points=max_points, min_step=min_step,
                                                       max_step=max_step))


@router.get("/runs/{run_id}/metrics/{name:path}/csv", response_model=None)
def metric_csv(run_id: str, name: str, request: Request) -> Any:
    """Every point of a scalar metric as CSV, streamed: a ``step,value,timestamp`` header,
    then one line per point (``timestamp``: unix seconds; non-finite values as NaN,
    Infinity, -Infinity). 404 for an unknown run or metric, 400 for a non-scalar metric."""
    points = k(request).store.metric_points(run_id, name)  # checks before the first byte

    def cell(v: Any) -> Any:
        if isinstance(v, float):
            return repr(v) if math.isfinite(v) else "NaN" if v != v else "Infinity" if v > 0 else "-Infinity"
        text = str(v)
        return '"%s"' % text.replace('"', '""') if any(c in text for c in ',"\r\n') else text

    def body() -> Iterator[Any]:
        yield b"step,value,timestamp\r\n"
        lines = []
        for step, value, ts in points:
            lines.append("%d,%s,%s\r\n" % (step, cell(value), "" if ts is None else repr(ts)))
            if len(lines) >= 5000:
                yield "".join(lines).encode("utf-8")
                lines = []
        if lines:
            yield "".join(lines).encode("utf-8")
    filename = re.sub(r"[^\w.-]+", "_", "%s_%s" % (run_id, name)).strip("_") + ".csv"
    return StreamingResponse(body(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="%s"' % filename})
