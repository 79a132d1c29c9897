"""The MLflow tracking API: the MLflow client (from PyPI, unmodified) logs into kyanite.

Tracking URI ``<server>/mlflow`` (``Workspace.get_mlflow_tracking_uri()``); the client calls
``/mlflow/api/2.0/mlflow/...`` for tracking and the model registry and
``/mlflow/api/2.0/mlflow-artifacts/artifacts/...`` for files, with ``Authorization: Bearer
$MLFLOW_TRACKING_TOKEN`` (the workspace token, or a run token: it may write only to its own
run tree, like on ``/api``). The request guard authenticates every ``/mlflow`` request.

Mapping (``kyanite.store.mlflow``): experiment = kyanite experiment (id as text; "0" is
``Default``), run = kyanite run (same id; runs made here have ``run_type`` "mlflow"), params =
properties under ``mlflow.param.``, tags = tags, metrics = metric points (stored through the
same batch path as ``run.log``, MLflow's step kept beside them). Artifacts: a run's artifact
root is ``mlflow-artifacts:/runs/<run id>/outputs``, i.e. its ``outputs/`` files; a logged
model's files are ``outputs/<model name>`` of its run, so ``run.register_model`` can register
them, and the client's registry calls (``registered-models``, ``model-versions``) map to
kyanite's model registry (a version's ``source`` is a logged model, ``runs:/`` or
``mlflow-artifacts:/`` URI of run files).

Status: MLflow status updates apply to runs made through MLflow; a kyanite run (submitted,
or started with ``start_logging``) keeps the status its host or SDK gives it, so
``mlflow.end_run()`` inside a submitted run does not end it.

Errors have MLflow's shape ``{"error_code": "...", "message": "..."}`` (400
INVALID_PARAMETER_VALUE, 404 RESOURCE_DOES_NOT_EXIST, 409 RESOURCE_ALREADY_EXISTS, 403
PERMISSION_DENIED); an endpoint kyanite does not implement answers 501 NOT_IMPLEMENTED
naming it.
"""

import json
import math
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse

from kyanite.exceptions import ConflictException, NotFoundException, UserErrorException
from kyanite.protocol.identifiers import InvalidValue, check_identifier, is_identifier
from kyanite.protocol.states import TERMINAL_STATES, RunStatus
from kyanite.server import jsonio, run_tokens
from kyanite.server.mlflow_search import SearchError, matches, parse, sort_runs
from kyanite.store.artifacts import check_key, run_key
from kyanite.store.mlflow import DELETED_TAG, PARAM_PREFIX, MlflowStore

PREFIX = "/mlflow"
API = PREFIX + "/api/2.0/mlflow"
ARTIFACTS = PREFIX + "/api/2.0/mlflow-artifacts/artifacts"
RUN_TYPE = "mlflow"

router = APIRouter(tags=["mlflow"], include_in_schema=False)

TO_MLFLOW = {RunStatus.NOT_STARTED: "SCHEDULED", RunStatus.QUEUED: "SCHEDULED", RunStatus.PREPARING: "SCHEDULED",
             RunStatus.STARTING: "SCHEDULED", RunStatus.RUNNING: "RUNNING", RunStatus.FINALIZING: "RUNNING",
             RunStatus.CANCEL_REQUESTED: "RUNNING", RunStatus.COMPLETED: "FINISHED", RunStatus.FAILED: "FAILED",
             RunStatus.CANCELED: "KILLED"}
FROM_MLFLOW = {"RUNNING": RunStatus.RUNNING, "SCHEDULED": RunStatus.QUEUED, "FINISHED": RunStatus.COMPLETED,
               "FAILED": RunStatus.FAILED, "KILLED": RunStatus.CANCELED}
MODEL_STATUS = {"LOGGED_MODEL_PENDING": "PENDING", "LOGGED_MODEL_READY": "READY",
                "LOGGED_MODEL_UPLOAD_FAILED": "FAILED"}


class MlflowError(Exception):
    def __init__(self, code: Any, status: Any, message: str) -> None:
        Exception.__init__(self, message)
        self.code, self.status, self.message = code, status, message


def error(code: Any, status: Any, message: str) -> Any:
    return JSONResponse({"error_code": code, "message": message}, status_code=status)


def bad(message: str) -> Any:
    return MlflowError("INVALID_PARAMETER_VALUE", 400, message)


def mlflow_route(fn: Callable[[Request], Awaitable[Any]]) -> Callable[[Request], Awaitable[Any]]:
    """Answer the errors of ``fn`` in MLflow's shape."""
    async def wrapper(request: Request) -> Any:
        try:
            out = await fn(request)
        except MlflowError as e:
            return error(e.code, e.status, e.message)
        except (SearchError, InvalidValue) as e:
            return error("INVALID_PARAMETER_VALUE", 400, str(e))
        except NotFoundException as e:
            return error("RESOURCE_DOES_NOT_EXIST", 404, e.message)
        except ConflictException as e:
            return error("INVALID_PARAMETER_VALUE", 400, e.message)
        except UserErrorException as e:
            return error("INVALID_PARAMETER_VALUE", 400, e.message)
        return out if isinstance(out, Response) else JSONResponse(jsonio.to_wire(out))
    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def _k(request: Request) -> Any:
    return request.app.state.k


def _ml(request: Request) -> Any:
    s = _k(request)
    ml = getattr(s, "mlflow", None)
    if ml is None:
        ml = s.mlflow = MlflowStore(s.store)
    return ml


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = jsonio.parse(raw, "The request body")
    except UserErrorException as e:
        raise bad(e.message)
    if not isinstance(body, dict):
        raise bad("The request body must be a JSON object.")
    return body


def _need(body: Any, field: Any, kind: type = str) -> Any:
    v = body.get(field)
    if v is None or v == "":
        raise bad("Missing value for required parameter '%s'." % field)
    if kind is str and not isinstance(v, str):
        raise bad("Parameter '%s' must be a string, got %r." % (field, v))
    return v


def _check_write(request: Request, run_id: str) -> None:
    """A run token writes only to its own run tree (``kyanite.server.run_tokens``)."""
    token_run = getattr(request.state, "run_token_run", None)
    if token_run and not run_tokens.within(_k(request).store, token_run, run_id):
        raise MlflowError("PERMISSION_DENIED", 403, "a run's token may change only the runs of its own run "
                                                     "tree, not %s" % run_id)


def _ms(t: Any) -> Any:
    return None if t is None else int(round(t * 1000))


def _kv(d: Any) -> Any:
    return [{"key": k, "value": v} for k, v in sorted(d.items())]


def _pairs(items: Any, what: str) -> Any:
    out = {}
    for item in items or []:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str) or not item["key"]:
            raise bad("Each of %s must be {\"key\": ..., \"value\": ...}, got %r." % (what, item))
        out[item["key"]] = "" if item.get("value") is None else str(item["value"])
    return out


def _float(v: Any, key: str) -> Any:
    if isinstance(v, bool) or v is None:
        raise bad("Metric %r: value %r is not a number." % (key, v))
    try:
        return float(v)  # "NaN", "Infinity" as the protobuf JSON writes them
    except (TypeError, ValueError):
        raise bad("Metric %r: value %r is not a number." % (key, v))


def _int(v: Any, what: str, default: Any = None) -> Any:
    if v is None or v == "":
        return default
    try:
        return int(v)
    except (TypeError, ValueError):
        raise bad("%s must be an integer, got %r." % (what, v))


async def _params(request: Request) -> Any:
    """The parameters of a route that takes both: the JSON body of a POST, else the query."""
    return await _body(request) if request.method == "POST" else dict(request.query_params)


def _page(params: Any, items: list[Any], default_limit: int,
          most: int | None = None) -> tuple[list[Any], dict[str, Any]]:
    """The page of ``items`` that ``page_token`` (an offset, default 0) and ``max_results``
    (``default_limit`` when absent; with ``most``, kept within 1..``most``) ask for, and the
    reply fields that go with it: ``{"next_page_token": ...}`` when more follow, else ``{}``."""
    offset = _int(params.get("page_token"), "page_token", 0)
    limit = _int(params.get("max_results"), "max_results", default_limit)
    if most is not None:
        limit = max(1, min(limit, most))
    more = {"next_page_token": str(offset + limit)} if offset + limit < len(items) else {}
    return items[offset:offset + limit], more


def _conditions(text: str) -> list[str]:
    """The conditions of a search filter joined by ``AND`` (an empty filter has none)."""
    return [c for c in re.split(r"\s+AND\s+", text, flags=re.I) if c.strip()]


def _value(body: Any) -> str:
    """A tag's or param's ``value`` as text (absent: "")."""
    return "" if body.get("value") is None else str(body["value"])


# -- experiments ---------------------------------------------------------------------------------
def _experiment_json(e: Any) -> Any:
    return {"experiment_id": str(e["id"]), "name": e["name"],
            "artifact_location": "mlflow-artifacts:/experiments/%d" % e["id"],
            "lifecycle_stage": e["lifecycle_stage"], "creation_time": _ms(e["created"]),
            "last_update_time": _ms(e["created"]), "tags": _kv(e["tags"])}


def _experiment_name(name: str) -> Any:
    if not is_identifier(name):
        raise bad("Invalid experiment name %r: kyanite experiment names are 1-255 characters from letters, "
                  "digits, '_', '-' and '.', not starting with '.'." % (name,))
    return name


@router.post(API + "/experiments/create", response_model=None)
@mlflow_route
async def create_experiment(request: Request) -> Any:
    body = await _body(request)
    name = _experiment_name(_need(body, "name"))
    ml = _ml(request)
    try:
        ml.experiment_by_name(name)
        raise MlflowError("RESOURCE_ALREADY_EXISTS", 400, "Experiment '%s' already exists." % name)
    except NotFoundException:
        pass
    exp = await run_in_threadpool(ml.experiment_by_name, name, True)
    tags = _pairs(body.get("tags"), "tags")
    if tags:
        ml.update_experiment(exp["id"], tags=tags)
    return {"experiment_id": str(exp["id"])}


@router.get(API + "/experiments/get", response_model=None)
@mlflow_route
async def get_experiment(request: Request) -> Any:
    exp = _ml(request).experiment_by_id(_need(dict(request.query_params), "experiment_id"))
    return {"experiment": _experiment_json(exp)}


@router.get(API + "/experiments/get-by-name", response_model=None)
@mlflow_route
async def get_experiment_by_name(request: Request) -> Any:
    name = _need(dict(request.query_params), "experiment_name")
    try:
        exp = _ml(request).experiment_by_name(name, create=name == "Default")
    except NotFoundException:
        raise MlflowError("RESOURCE_DOES_NOT_EXIST", 404, "Could not find experiment with name '%s'" % name)
    return {"experiment": _experiment_json(exp)}


@router.post(API + "/experiments/search", response_model=None)
@router.get(API + "/experiments/search", response_model=None)
@mlflow_route
async def search_experiments(request: Request) -> Any:
    body = await _params(request)
    view = str(body.get("view_type") or "ACTIVE_ONLY")
    exps = _ml(request).experiments()
    exps = [e for e in exps if view == "ALL" or (e["lifecycle_stage"] == "deleted") == (view == "DELETED_ONLY")]
    text = body.get("filter") or ""
    if text:
        m = re.match(r"\s*(?:attribute\.|attributes\.)?name\s+(=|!=|LIKE|ILIKE)\s+'([^']*)'\s*\Z", text, re.I)
        if not m:
            raise bad("Experiment filter %r is not supported; use name = '...' or name LIKE '...'." % text)
        op, value = m.group(1).upper(), m.group(2)
        exps = [e for e in exps if matches([("attributes", "run_name", op, value)],
                                           {"attributes": {"run_name": e["name"]}})]
    page, more = _page(body, exps, 1000)
    return {"experiments": [_experiment_json(e) for e in page], **more}


@router.post(API + "/experiments/update", response_model=None)
@mlflow_route
async def update_experiment(request: Request) -> Any:
    body = await _body(request)
    name = body.get("new_name")
    _ml(request).update_experiment(_need(body, "experiment_id"), name=_experiment_name(name) if name else None)
    return {}


@router.post(API + "/experiments/set-experiment-tag", response_model=None)
@mlflow_route
async def set_experiment_tag(request: Request) -> Any:
    body = await _body(request)
    _ml(request).update_experiment(_need(body, "experiment_id"), tags={_need(body, "key"): str(body.get("value", ""))})
    return {}


@router.post(API + "/experiments/delete-experiment-tag", response_model=None)
@mlflow_route
async def delete_experiment_tag(request: Request) -> Any:
    body = await _body(request)
    _ml(request).update_experiment(_need(body, "experiment_id"), remove_tags=[_need(body, "key")])
    return {}


@router.post(API + "/experiments/delete", response_model=None)
@router.post(API + "/experiments/restore", response_model=None)
@mlflow_route
async def delete_experiment(request: Request) -> Any:
    body = await _body(request)
    stage = "deleted" if request.url.path.endswith("/delete") else "active"
    _ml(request).update_experiment(_need(body, "experiment_id"), lifecycle_stage=stage)
    return {}


# -- runs --------------------------------------------------------------------------------------------
def _fields(ml: Any, run: Any, with_metrics: bool = True) -> Any:
    tags = dict(run.tags)
    tags.pop(DELETED_TAG, None)
    tags.pop("mlflow.inputs", None)
    tags.setdefault("mlflow.runName", run.display_name or run.id)
    if run.parent_id:
        tags.setdefault("mlflow.parentRunId", run.parent_id)
    metrics = ml.latest_metrics(run.id) if with_metrics else []
    attrs = {"run_id": run.id, "run_name": run.display_name or run.id, "status": TO_MLFLOW.get(run.status, "RUNNING"),
             "user_id": tags.get("mlflow.user", ""), "start_time": _ms(run.start_time or run.created),
             "end_time": _ms(run.end_time), "experiment_id": str(run.experiment_id),
             "artifact_uri": "mlflow-artifacts:/runs/%s/outputs" % run.id,
             "lifecycle_stage": "deleted" if run.deleted else "active"}
    return {"attributes": attrs, "tags": tags, "params": run.params, "metrics_list": metrics,
            "metrics": dict((k, v) for k, v, _, _ in metrics)}


def _run_json(ml: Any, run: Any, fields: Any = None) -> Any:
    f = fields or _fields(ml, run)
    a = f["attributes"]
    info = {"run_id": a["run_id"], "run_uuid": a["run_id"], "run_name": a["run_name"],
            "experiment_id": a["experiment_id"], "user_id": a["user_id"], "status": a["status"],
            "start_time": a["start_time"], "artifact_uri": a["artifact_uri"], "lifecycle_stage": a["lifecycle_stage"]}
    if a["end_time"] is not None:
        info["end_time"] = a["end_time"]
    inputs = json.loads(run.tags.get("mlflow.inputs") or "[]")
    models = [{"model_id": m["model_id"], "step": 0} for m in ml.logged_models([run.experiment_id])
              if m["run_id"] == run.id]
    return {"info": info,
            "data": {"metrics": [{"key": k, "value": v, "timestamp": t, "step": st}
                                 for k, v, t, st in f["metrics_list"]],
                     "params": _kv(f["params"]), "tags": _kv(f["tags"])},
            "inputs": {"dataset_inputs": inputs, "model_inputs": []},
            "outputs": {"model_outputs": models}}


def _run(ml: Any, run_id: str) -> Any:
    try:
        return ml.run(run_id)
    except NotFoundException:
        raise MlflowError("RESOURCE_DOES_NOT_EXIST", 404, "Run with id=%s not found" % run_id)


def _live_run(request: Request, run_id: str) -> Any:
    """The run ``run_id`` for a write: it exists, is not deleted, and the caller may write to it."""
    run = _run(_ml(request), run_id)
    if run.deleted:
        raise bad("The run %s must be in the 'active' state. Current state is deleted." % run_id)
    _check_write(request, run_id)
    return run


@router.post(API + "/runs/create", response_model=None)
@mlflow_route
async def create_run(request: Request) -> Any:
    body = await _body(request)
    s, ml = _k(request), _ml(request)
    exp = ml.experiment_by_id(body.get("experiment_id") or "0")
    tags = _pairs(body.get("tags"), "tags")
    name = body.get("run_name") or tags.get("mlflow.runName")
    # a new MLflow run made with a run token (a script's own MLflow run) goes under that run
    parent = tags.get("mlflow.parentRunId") or getattr(request.state, "run_token_run", None)
    if parent:
        tags.setdefault("mlflow.parentRunId", parent)
        _run(ml, parent)
        run_tokens.check_parent(request, s.store, parent)
    if body.get("user_id"):
        tags.setdefault("mlflow.user", str(body["user_id"]))
    run_id = uuid.uuid4().hex
    await run_in_threadpool(s.store.create_run, exp["name"], status=RunStatus.RUNNING, run_id=run_id,
                            parent_id=parent, display_name=name, run_type=RUN_TYPE, tags=tags)
    run = ml.run(run_id)
    return {"run": _run_json(ml, run)}


@router.get(API + "/runs/get", response_model=None)
@mlflow_route
async def get_run(request: Request) -> Any:
    q = dict(request.query_params)
    ml = _ml(request)
    run_id = q.get("run_id") or q.get("run_uuid")
    if not run_id:
        raise bad("Missing value for required parameter 'run_id'.")
    run = _run(ml, run_id)
    return {"run": await run_in_threadpool(_run_json, ml, run)}


@router.post(API + "/runs/update", response_model=None)
@mlflow_route
async def update_run(request: Request) -> Any:
    body = await _body(request)
    s, ml = _k(request), _ml(request)
    run_id = body.get("run_id") or body.get("run_uuid") or _need(body, "run_id")
    run = _live_run(request, run_id)
    if body.get("run_name"):
        ml.set_display_name(run_id, str(body["run_name"]))
    status = body.get("status")
    if status:
        if status not in FROM_MLFLOW:
            raise bad("Unknown run status %r; use one of %s." % (status, ", ".join(sorted(FROM_MLFLOW))))
        if run.run_type == RUN_TYPE:  # kyanite's own runs keep the status their host gives them
            _, changed = s.store.set_status(run_id, FROM_MLFLOW[status])
            if changed:
                if FROM_MLFLOW[status] in TERMINAL_STATES and body.get("end_time"):
                    ml.set_end_time(run_id, int(body["end_time"]) / 1000.0)
                s.notifier.changed(run_id)
    run = ml.run(run_id)
    return {"run_info": _run_json(ml, run)["info"]}


@router.post(API + "/runs/delete", response_model=None)
@router.post(API + "/runs/restore", response_model=None)
@mlflow_route
async def delete_run(request: Request) -> Any:
    body = await _body(request)
    run_id = _need(body, "run_id")
    _run(_ml(request), run_id)
    _check_write(request, run_id)
    if request.url.path.endswith("/delete"):
        _k(request).store.update_run(run_id, tags={DELETED_TAG: "deleted"})
    else:
        _k(request).store.update_run(run_id, remove_tags=[DELETED_TAG])
    return {}


@router.post(API + "/runs/set-tag", response_model=None)
@mlflow_route
async def set_tag(request: Request) -> Any:
    body = await _body(request)
    run_id = body.get("run_id") or _need(body, "run_uuid")
    _live_run(request, run_id)
    _set_tags(request, run_id, {_need(body, "key"): _value(body)})
    return {}


def _set_tags(request: Request, run_id: str, tags: dict[str, Any]) -> None:
    if not tags:
        return
    if "mlflow.runName" in tags:
        _ml(request).set_display_name(run_id, tags["mlflow.runName"])
    _k(request).store.update_run(run_id, tags=tags)
    _k(request).notifier.changed(run_id)


@router.post(API + "/runs/delete-tag", response_model=None)
@mlflow_route
async def delete_tag(request: Request) -> Any:
    body = await _body(request)
    run_id = _need(body, "run_id")
    run = _live_run(request, run_id)
    key = _need(body, "key")
    if key not in run.tags:
        raise MlflowError("RESOURCE_DOES_NOT_EXIST", 404, "No tag with name: %s in run with id %s" % (key, run_id))
    _k(request).store.update_run(run_id, remove_tags=[key])
    return {}


def _log_params(request: Request, run: Any, params: dict[str, Any]) -> None:
    if not params:
        return
    for key, value in params.items():
        old = run.params.get(key)
        if old is not None and old != value:
            raise bad("Changing param values is not allowed. Param with key='%s' was already logged with "
                      "value='%s' for run ID='%s'. Attempted logging new value '%s'." % (key, old, run.id, value))
    _k(request).store.update_run(run.id, properties=dict((PARAM_PREFIX + k, v) for k, v in params.items()))
    _k(request).notifier.changed(run.id)


@router.post(API + "/runs/log-parameter", response_model=None)
@mlflow_route
async def log_param(request: Request) -> Any:
    body = await _body(request)
    run_id = body.get("run_id") or _need(body, "run_uuid")
    run = _live_run(request, run_id)
    _log_params(request, run, {_need(body, "key"): _value(body)})
    return {}


def _metric_points(items: Any) -> Any:
    now = int(time.time() * 1000)
    out = []
    for m in items:
        if not isinstance(m, dict) or not isinstance(m.get("key"), str) or not m["key"]:
            raise bad("Each metric must be {\"key\", \"value\", \"timestamp\", \"step\"}, got %r." % (m,))
        out.append((m["key"], _float(m.get("value"), m["key"]), _int(m.get("timestamp"), "timestamp", now),
                    _int(m.get("step"), "step", 0)))
    return out


async def _store_metrics(request: Request, run_id: str, points: Any, items: Any) -> None:
    """Store ``points`` (parsed from the request's metric ``items``); points sent with a
    ``model_id`` (MLflow links a run's points to a logged model by sending them again) are
    stored once."""
    if points:
        once = any(isinstance(m, dict) and m.get("model_id") for m in items)
        await run_in_threadpool(_ml(request).log_metrics, run_id, points, once)
        _k(request).notifier.changed(run_id)


@router.post(API + "/runs/log-metric", response_model=None)
@mlflow_route
async def log_metric(request: Request) -> Any:
    body = await _body(request)
    run_id = body.get("run_id") or _need(body, "run_uuid")
    _live_run(request, run_id)
    _need(body, "key")
    await _store_metrics(request, run_id, _metric_points([body]), [body])
    return {}


@router.post(API + "/runs/log-batch", response_model=None)
@mlflow_route
async def log_batch(request: Request) -> Any:
    body = await _body(request)
    run_id = _need(body, "run_id")
    run = _live_run(request, run_id)
    for field in ("metrics", "params", "tags"):
        if not isinstance(body.get(field) or [], list):
            raise bad("'%s' must be a list." % field)
    points = _metric_points(body.get("metrics") or [])
    _log_params(request, run, _pairs(body.get("params"), "params"))
    _set_tags(request, run_id, _pairs(body.get("tags"), "tags"))
    await _store_metrics(request, run_id, points, body["metrics"] if points else [])
    return {}


@router.post(API + "/runs/log-inputs", response_model=None)
@mlflow_route
async def log_inputs(request: Request) -> Any:
    body = await _body(request)
    run_id = _need(body, "run_id")
    run = _live_run(request, run_id)
    have = json.loads(run.tags.get("mlflow.inputs") or "[]")
    for item in body.get("datasets") or []:
        ds = (item or {}).get("dataset") or {}
        entry: dict[str, Any] = {"tags": [{"key": t.get("key"), "value": t.get("value")} for t in (item.get("tags") or [])],
                 "dataset": dict((k, str(ds.get(k, ""))[:500]) for k in ("name", "digest", "source_type", "source"))}
        entry["dataset"]["schema"] = ""
        entry["dataset"]["profile"] = ""
        if entry not in have:
            have.append(entry)
    text = json.dumps(have)
    while len(text) > 5000 and have:  # a tag value's cap: keep the newest
        have.pop(0)
        text = json.dumps(have)
    _k(request).store.update_run(run_id, tags={"mlflow.inputs": text})
    return {}


@router.post(API + "/runs/outputs", response_model=None)
@mlflow_route
async def log_outputs(request: Request) -> Any:
    body = await _body(request)
    _live_run(request, _need(body, "run_id"))
    return {}  # a logged model already names its run


@router.post(API + "/runs/log-model", response_model=None)
@mlflow_route
async def log_model_history(request: Request) -> Any:
    body = await _body(request)
    run_id = _need(body, "run_id")
    _live_run(request, run_id)
    return {}


@router.post(API + "/runs/search", response_model=None)
@mlflow_route
async def search_runs(request: Request) -> Any:
    body = await _body(request)
    ml = _ml(request)
    ids = body.get("experiment_ids") or []
    if not isinstance(ids, list) or not ids:
        raise bad("runs/search needs experiment_ids (a non-empty list).")
    exp_ids = [ml.experiment_by_id(x)["id"] for x in ids]
    clauses = parse(body.get("filter") or "")
    view = str(body.get("run_view_type") or "ACTIVE_ONLY")
    order_by = body.get("order_by") or []

    def work() -> Any:
        out = []
        for run in ml.runs(exp_ids):
            if view != "ALL" and run.deleted != (view == "DELETED_ONLY"):
                continue
            f = _fields(ml, run)
            if matches(clauses, f):
                out.append((run, f))
        return sort_runs(out, order_by, lambda rf: rf[1])

    page, more = _page(body, await run_in_threadpool(work), 1000, most=50000)
    return {"runs": [_run_json(ml, run, f) for run, f in page], **more}


@router.get(API + "/metrics/get-history", response_model=None)
@mlflow_route
async def metric_history(request: Request) -> Any:
    q = dict(request.query_params)
    run_id = q.get("run_id") or q.get("run_uuid") or _need(q, "run_id")
    key = _need(q, "metric_key")
    ml = _ml(request)
    _run(ml, run_id)
    points = await run_in_threadpool(ml.metric_history, run_id, key)
    offset = _int(q.get("page_token"), "page_token", 0)
    limit = _int(q.get("max_results"), "max_results", None)
    page = points[offset:offset + limit] if limit else points[offset:]
    out: dict[str, Any] = {"metrics": [{"key": key, "value": v, "timestamp": t, "step": st} for v, t, st in page]}
    if limit and offset + limit < len(points):
        out["next_page_token"] = str(offset + limit)
    return Response(jsonio.dumps(out), media_type="application/json")


# -- logged models (MLflow 3) ------------------------------------------------------------------
def _model_json(m: Any) -> Any:
    info = {"model_id": m["model_id"], "experiment_id": str(m["experiment_id"]), "name": m["name"],
            "creation_timestamp_ms": _ms(m["created"]), "last_updated_timestamp_ms": _ms(m["updated"]),
            "artifact_uri": "mlflow-artifacts:/runs/%s/%s" % (m["run_id"], m["path"]),
            "status": "LOGGED_MODEL_" + {"PENDING": "PENDING", "READY": "READY"}.get(m["status"], "UPLOAD_FAILED"),
            "tags": _kv(m["tags"])}
    if m["run_id"]:
        info["source_run_id"] = m["run_id"]
    if m["model_type"]:
        info["model_type"] = m["model_type"]
    return {"info": info, "data": {"params": _kv(m["params"]), "metrics": []}}


@router.post(API + "/logged-models", response_model=None)
@mlflow_route
async def create_logged_model(request: Request) -> Any:
    body = await _body(request)
    ml = _ml(request)
    run_id = body.get("source_run_id")
    if not run_id:
        raise bad("kyanite keeps a logged model's files among its run's outputs: log the model inside a run "
                  "(mlflow.start_run(), or a submitted kyanite run).")
    run = _live_run(request, run_id)
    exp = ml.experiment_by_id(body.get("experiment_id") or run.experiment_id)
    name = str(body.get("name") or "model")
    base = "outputs/" + re.sub(r"[^A-Za-z0-9_.-]", "_", name).lstrip(".") or "model"
    taken = set(m["path"] for m in ml.logged_models([exp["id"]]) if m["run_id"] == run_id)
    path, i = base, 1
    while path in taken:
        i += 1
        path = "%s_%d" % (base, i)
    m = ml.create_logged_model(run_id, exp["id"], name, path, model_type=body.get("model_type"),
                               tags=_pairs(body.get("tags"), "tags"), params=_pairs(body.get("params"), "params"))
    return {"model": _model_json(m)}


def _model_id(request: Request) -> Any:
    m: Any = re.match(r".*/logged-models/([^/]+)", request.url.path)
    return m.group(1)


@router.get(API + "/logged-models/{model_id}", response_model=None)
@mlflow_route
async def get_logged_model(request: Request) -> Any:
    return {"model": _model_json(_ml(request).logged_model(_model_id(request)))}


async def _logged_model_write(request: Request) -> Any:
    """``(body, store, logged model)`` of a request that changes the logged model its path
    names, once the caller is known to be allowed to write to that model's run."""
    body = await _body(request)
    ml = _ml(request)
    m = ml.logged_model(_model_id(request))
    _check_write(request, m["run_id"])
    return body, ml, m


@router.patch(API + "/logged-models/{model_id}", response_model=None)
@mlflow_route
async def finalize_logged_model(request: Request) -> Any:
    body, ml, m = await _logged_model_write(request)
    status = MODEL_STATUS.get(str(body.get("status")), "READY")
    return {"model": _model_json(ml.update_logged_model(m["model_id"], status=status))}


@router.patch(API + "/logged-models/{model_id}/tags", response_model=None)
@mlflow_route
async def set_logged_model_tags(request: Request) -> Any:
    body, ml, m = await _logged_model_write(request)
    ml.update_logged_model(m["model_id"], tags=_pairs(body.get("tags"), "tags"))
    return {}


@router.post(API + "/logged-models/{model_id}/params", response_model=None)
@mlflow_route
async def log_logged_model_params(request: Request) -> Any:
    body, ml, m = await _logged_model_write(request)
    ml.update_logged_model(m["model_id"], params=_pairs(body.get("params"), "params"))
    return {}


@router.post(API + "/logged-models/search", response_model=None)
@mlflow_route
async def search_logged_models(request: Request) -> Any:
    body = await _body(request)
    ml = _ml(request)
    exp_ids = [ml.experiment_by_id(x)["id"] for x in (body.get("experiment_ids") or [])]
    models = ml.logged_models(exp_ids)
    text = body.get("filter") or ""
    for cond in _conditions(text):
        m = re.match(r"\s*(?:attributes?\.)?(name|source_run_id|model_id|status)\s*=\s*'([^']*)'\s*\Z", cond)
        if not m:
            raise bad("Logged model filter %r is not supported; use name|source_run_id|model_id = '...'." % cond)
        key = {"source_run_id": "run_id"}.get(m.group(1), m.group(1))
        models = [x for x in models if str(_model_json(x)["info"]["status"] if key == "status" else x[key])
                  == m.group(2)]
    page, more = _page(body, models, 100)
    return {"models": [_model_json(x) for x in page], **more}


# -- model registry ---------------------------------------------------------------------------------
def _version_json(request: Request, m: Any) -> Any:
    out = {"name": m["name"], "version": str(m["version"]), "current_stage": "None",
           "creation_timestamp": _iso_ms(m["createdTime"]), "last_updated_timestamp": _iso_ms(m["updatedTime"]),
           "description": m.get("description") or "", "user_id": "",
           "source": "models:/%s/%d" % (m["name"], m["version"]), "status": "READY",
           "tags": _kv(m.get("tags") or {})}
    if m.get("runId"):
        out["run_id"] = m["runId"]
        out["source"] = "mlflow-artifacts:/runs/%s/%s" % (m["runId"], (m.get("properties") or {}).get(
            "mlflow.source", "outputs/" + m["asset"]))
    if (m.get("properties") or {}).get("mlflow.model_id"):
        out["model_id"] = m["properties"]["mlflow.model_id"]
    return out


def _iso_ms(text: str) -> Any:
    if not text:
        return None
    t = time.mktime(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    return int(t * 1000 + int(text[20:23] or 0))


def _registered_json(request: Request, name: str, versions: Any) -> Any:
    latest = versions[0] if versions else None
    out = {"name": name, "tags": [], "description": "", "aliases": []}
    if latest:
        out["creation_timestamp"] = _iso_ms(versions[-1]["createdTime"])
        out["last_updated_timestamp"] = _iso_ms(latest["updatedTime"])
        out["latest_versions"] = [_version_json(request, latest)]
    return out


def _versions(request: Request, name: str | None = None, run_id: str | None = None) -> Any:
    return _k(request).models.list_models(name=name, run_id=run_id)


@router.post(API + "/registered-models/create", response_model=None)
@mlflow_route
async def create_registered_model(request: Request) -> Any:
    body = await _body(request)
    name = check_identifier("model name", _need(body, "name"))
    if _versions(request, name):
        raise MlflowError("RESOURCE_ALREADY_EXISTS", 400, "Registered Model (name=%s) already exists." % name)
    now = int(time.time() * 1000)
    return {"registered_model": {"name": name, "creation_timestamp": now, "last_updated_timestamp": now,
                                 "tags": [], "description": body.get("description") or ""}}


@router.get(API + "/registered-models/get", response_model=None)
@mlflow_route
async def get_registered_model(request: Request) -> Any:
    name = _need(dict(request.query_params), "name")
    versions = _versions(request, name)
    if not versions:
        raise MlflowError("RESOURCE_DOES_NOT_EXIST", 404, "Registered Model with name=%s not found" % name)
    return {"registered_model": _registered_json(request, name, versions)}


@router.post(API + "/registered-models/get-latest-versions", response_model=None)
@router.get(API + "/registered-models/get-latest-versions", response_model=None)
@mlflow_route
async def latest_versions(request: Request) -> Any:
    body = await _params(request)
    versions = _versions(request, _need(body, "name"))
    return {"model_versions": [_version_json(request, versions[0])] if versions else []}


@router.get(API + "/registered-models/search", response_model=None)
@router.post(API + "/registered-models/search", response_model=None)
@mlflow_route
async def search_registered_models(request: Request) -> Any:
    body = await _params(request)
    models = _versions(request)
    names = []
    for m in models:
        if m["name"] not in names:
            names.append(m["name"])
    text = body.get("filter") or ""
    if text:
        m = re.match(r"\s*name\s+(=|LIKE|ILIKE)\s+'([^']*)'\s*\Z", text, re.I)
        if not m:
            raise bad("Registered model filter %r is not supported; use name = '...' or name LIKE '...'." % text)
        names = [n for n in names if matches([("tags", "n", m.group(1).upper(), m.group(2))], {"tags": {"n": n}})]
    return {"registered_models": [_registered_json(request, n, [m for m in models if m["name"] == n])
                                  for n in names]}


def _source_files(request: Request, body: Any) -> Any:
    """``(run id, path among the run's files, logged model id or None)`` of a version's source."""
    ml = _ml(request)
    source = str(body.get("source") or "")
    model_id = body.get("model_id")
    m: Any = re.match(r"models:/(m-[0-9a-f]+)/?\Z", source)
    if model_id or m:
        lm = ml.logged_model(model_id or m.group(1))
        return lm["run_id"], lm["path"], lm["model_id"]
    m = re.match(r"runs:/([^/]+)/(.+)\Z", source)
    if m:
        return m.group(1), "outputs/" + m.group(2).strip("/"), None
    m = re.match(r"mlflow-artifacts:(?://[^/]*)?/runs/([^/]+)/(.+)\Z", source)
    if m:
        return m.group(1), m.group(2).strip("/"), None
    raise bad("Model version source %r is not a kyanite run's files: use a logged model (models:/m-...), "
              "runs:/<run id>/<path> or mlflow-artifacts:/runs/<run id>/<path>." % source)


@router.post(API + "/model-versions/create", response_model=None)
@mlflow_route
async def create_model_version(request: Request) -> Any:
    from kyanite.server.routes.models import ModelCreate, register_model
    body = await _body(request)
    name = check_identifier("model name", _need(body, "name"))
    run_id, path, model_id = _source_files(request, body)
    props = {"mlflow.source": path}
    if model_id:
        props["mlflow.model_id"] = model_id
    tags = _pairs(body.get("tags"), "tags")
    create = ModelCreate(name=name, run_id=run_id, path=path, tags=tags, properties=props,
                         description=body.get("description"))
    model = await run_in_threadpool(register_model, create, request)
    return {"model_version": _version_json(request, model)}


@router.get(API + "/model-versions/get", response_model=None)
@mlflow_route
async def get_model_version(request: Request) -> Any:
    q = dict(request.query_params)
    name, version = _need(q, "name"), _int(_need(q, "version"), "version")
    return {"model_version": _version_json(request, _k(request).models.model(name, version))}


@router.get(API + "/model-versions/search", response_model=None)
@router.post(API + "/model-versions/search", response_model=None)
@mlflow_route
async def search_model_versions(request: Request) -> Any:
    body = await _params(request)
    versions = _versions(request)
    text = body.get("filter") or ""
    for cond in _conditions(text):
        m = re.match(r"\s*(name|run_id|version|source_path)\s*(=|!=|LIKE|ILIKE|IN)\s*(.+?)\s*\Z", cond, re.I)
        if not m:
            raise bad("Model version filter %r is not supported; use name, run_id or version with =, LIKE or IN." % cond)
        key, op, raw = m.group(1).lower(), m.group(2).upper(), m.group(3)
        values = re.findall(r"'([^']*)'|\"([^\"]*)\"|(\d+)", raw)
        values = [a or b or c for a, b, c in values]
        if not values:
            raise bad("Model version filter %r: quote the value ('...')." % cond)
        field = {"name": "name", "run_id": "runId", "version": "version", "source_path": "asset"}[key]
        clause = (("tags", "f", op, values if op == "IN" else values[0]),)
        versions = [v for v in versions if matches(clause, {"tags": {"f": str(v.get(field) or "")}})]
    page, more = _page(body, versions, 10000)
    return {"model_versions": [_version_json(request, v) for v in page], **more}


@router.get(API + "/model-versions/get-download-uri", response_model=None)
@mlflow_route
async def model_version_download_uri(request: Request) -> Any:
    q = dict(request.query_params)
    m = _k(request).models.model(_need(q, "name"), _int(_need(q, "version"), "version"))
    return {"artifact_uri": "mlflow-artifacts:/models/%s/%d/%s" % (m["name"], m["version"], m["asset"])}


# -- artifacts: mlflow-artifacts:/runs/<run id>/<path> is the run's file <path> ----------------------
def _artifact_key(path: str, write: bool = False) -> Any:
    """``(run id, key)`` of an artifact path ``runs/<run id>/<file>``; ``(None, key)`` for a
    registered model's files ``models/<name>/<version>/<file>`` (read only)."""
    path = path.strip("/")
    parts = path.split("/")
    if not write and len(parts) >= 3 and parts[0] == "models" and parts[2].isdigit():
        return None, check_key(path)
    if len(parts) < 2 or parts[0] != "runs":
        raise bad("Artifact path %r is outside kyanite's runs: paths are runs/<run id>/<file>%s."
                  % (path, "" if write else " or models/<name>/<version>/<file>"))
    return parts[1], run_key(parts[1], "/".join(parts[2:]) or None)


@router.put(ARTIFACTS + "/{path:path}", response_model=None)
@mlflow_route
async def upload_artifact(request: Request) -> Any:
    path = request.url.path[len(ARTIFACTS):]
    run_id, key = _artifact_key(path, write=True)
    if key == run_key(run_id):
        raise bad("Give a file path under runs/%s/." % run_id)
    _run(_ml(request), run_id)
    _check_write(request, run_id)
    from kyanite.server.routes.files import _spool_body
    tmp = await _spool_body(request)
    try:
        await run_in_threadpool(_k(request).artifacts.put, key, tmp)
    finally:
        tmp.close()
    return {}


@router.get(ARTIFACTS + "/{path:path}", response_model=None)
@mlflow_route
async def download_artifact(request: Request) -> Any:
    run_id, key = _artifact_key(request.url.path[len(ARTIFACTS):])
    if run_id:
        _run(_ml(request), run_id)
    try:
        local = _k(request).artifacts.local_path(key)
    except NotFoundException:
        raise MlflowError("RESOURCE_DOES_NOT_EXIST", 404, "No artifact %s." % key[len("runs/"):])
    return FileResponse(local, media_type="application/octet-stream")


@router.get(ARTIFACTS, response_model=None)
@mlflow_route
async def list_artifacts(request: Request) -> Any:
    path = (request.query_params.get("path") or "").strip("/")
    if not path:
        return {"files": []}
    run_id, key = _artifact_key(path)
    if run_id:
        _run(_ml(request), run_id)
    entries: dict[str, Any] = {}
    for f in _k(request).artifacts.list(key):
        head, sep, _ = f["path"].partition("/")
        if sep:
            entries.setdefault(head, {"path": head, "is_dir": True})
        else:
            entries[head] = {"path": head, "is_dir": False, "file_size": f["size"]}
    return {"files": [entries[n] for n in sorted(entries)]}


@router.get(PREFIX + "/api/3.0/mlflow/server-info", response_model=None)
@mlflow_route
async def server_info(request: Request) -> Any:
    return {"store_type": "kyanite", "multipart_uploads_enabled": False, "multipart_downloads_enabled": False}


@router.api_route(PREFIX + "/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], response_model=None)
@mlflow_route
async def not_implemented(request: Request) -> None:
    path = request.url.path[len(PREFIX):]
    raise MlflowError("NOT_IMPLEMENTED", 501, "kyanite does not implement the MLflow endpoint %s %s."
                      % (request.method, path))
