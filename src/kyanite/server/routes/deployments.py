"""Deployments (web services): create, read, list, wait, update, delete, logs, keys, tokens.

The record's shape is :func:`kyanite.store.models.deployment_to_api`; the deployment
manager (:mod:`kyanite.server.deployments`) does the work and owns the state.
"""

import json
import secrets
import time
from typing import Any, Optional

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from kyanite.exceptions import ConflictException, UserErrorException
from kyanite.protocol.deployments import Deployment
from kyanite.protocol.identifiers import check_identifier, check_mapping
from kyanite.server.routes import known
from kyanite.server.routes.models import check_model_text
from kyanite.store.models import parse_model_id
from kyanite.server.params import Int64

def _recovered(request: Request) -> None:
    """Answer only from records the deployment manager has checked since this server
    started (see ``DeploymentManager.wait_recovered``)."""
    request.app.state.k.deployments.wait_recovered()


router = APIRouter(tags=["deployments"], dependencies=[Depends(_recovered)])
COMPUTE_TYPES = ("ACI", "Local")
CONFIG_KEYS = ("port", "cpuCores", "memoryGb", "authEnabled", "tokenAuthEnabled", "primaryKey", "secondaryKey")


def k(request: Request) -> Any:
    return request.app.state.k


class DeploymentCreate(BaseModel):
    name: str
    compute_type: str = "ACI"
    models: list = []
    inference: dict
    config: dict = {}
    tags: Optional[dict] = None
    properties: Optional[dict] = None
    description: Optional[str] = None
    overwrite: bool = False


class DeploymentPatch(BaseModel):
    models: Optional[list] = None
    inference: Optional[dict] = None
    config: Optional[dict] = None
    add_tags: Optional[dict] = None
    remove_tags: Optional[list] = None
    set_tags: Optional[dict] = None
    add_properties: Optional[dict] = None
    description: Optional[str] = None


class KeyRegen(BaseModel):
    key: str
    set_key: Optional[str] = None


def _models(s: Any, ids: Any) -> Any:
    out = []
    for mid in ids or []:
        name, version = parse_model_id(mid)
        s.models.model(name, version)  # 404 naming the versions that exist
        out.append((name, version))
    return out


def _check_config(config: Any) -> None:
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise UserErrorException("Unknown deployment configuration setting(s): %s." % ", ".join(unknown))


def _new_key() -> Any:
    return secrets.token_urlsafe(24)


@router.post("/deployments", response_model=None)
def create_deployment(body: DeploymentCreate, request: Request) -> Any:
    s = k(request)
    check_identifier("endpoint name", body.name, exists=known(s.models.deployment))
    check_model_text(body.description, body.tags, body.properties)
    if body.compute_type not in COMPUTE_TYPES:
        raise UserErrorException("compute_type must be one of %s." % ", ".join(COMPUTE_TYPES))
    config = dict(body.config)
    _check_config(config)
    primary, secondary = config.pop("primaryKey", None), config.pop("secondaryKey", None)
    keys = None
    if config.get("authEnabled"):
        keys = {"primary": primary or _new_key(), "secondary": secondary or _new_key()}
    models = _models(s, body.models)
    spec = Deployment.from_json({"inference": body.inference, "config": config})  # 400 naming a wrong field
    return s.deployments.create(body.name, body.compute_type, spec,
                                models, keys=keys, tags=body.tags, properties=body.properties,
                                description=body.description, overwrite=body.overwrite)


@router.get("/deployments", response_model=None)
def list_deployments(request: Request, compute_type: Optional[str] = None, model_name: Optional[str] = None,
                     model_id: Optional[str] = None, tags: Optional[str] = None, properties: Optional[str] = None) -> Any:
    try:
        tags_f = json.loads(tags) if tags else None
        props_f = json.loads(properties) if properties else None
    except ValueError:
        raise UserErrorException("tags/properties filters must be JSON.")
    return {"deployments": k(request).models.list_deployments(
        compute_type=compute_type, model_name=model_name, model_id=model_id, tags=tags_f, properties=props_f)}


@router.get("/deployments/{name}", response_model=None)
def get_deployment(name: str, request: Request) -> Any:
    return k(request).models.deployment(name)


@router.get("/deployments/{name}/wait", response_model=None)
async def wait_deployment(name: str, request: Request, state: Optional[str] = None, timeout: float = 10.0) -> Any:
    """Long-poll: the record as soon as its state differs from ``state``, or at ``timeout``."""
    s = k(request)
    deadline = time.monotonic() + min(max(timeout, 0.0), 60.0)
    while True:
        rec = await run_in_threadpool(s.models.deployment, name)
        left = deadline - time.monotonic()
        if state is None or rec["state"] != state or left <= 0:
            return rec
        await s.notifier.wait("deployment:" + name, min(left, 1.0))


@router.patch("/deployments/{name}", response_model=None)
def update_deployment(name: str, body: DeploymentPatch, request: Request) -> Any:
    s = k(request)
    check_model_text(body.description, body.add_tags, body.add_properties)
    check_mapping("set_tags", body.set_tags)
    row, cur_models = s.models.deployment_row(name)
    spec = Deployment.from_json(json.loads(row.spec))
    keys = json.loads(row.keys) if row.keys else {}
    redeploy, new_keys = False, None
    values: dict[str, Any] = {}
    if body.inference is not None:
        spec = spec.replace(inference=body.inference)  # 400 naming a wrong field
        redeploy = True
    if body.config:
        changes = dict(body.config)
        _check_config(changes)
        cfg = spec.config.to_json()
        primary, secondary = changes.pop("primaryKey", None), changes.pop("secondaryKey", None)
        for key, value in changes.items():
            if cfg.get(key) != value:
                cfg[key] = value
                redeploy = True
        spec = spec.replace(config=cfg)
        if spec.config.auth_enabled:
            new = {"primary": primary or keys.get("primary") or _new_key(),
                   "secondary": secondary or keys.get("secondary") or _new_key()}
            if new != keys:
                new_keys = new
        elif keys:
            new_keys = {}
    models = None
    if body.models is not None:
        models = _models(s, body.models)
        if sorted(set(models)) != sorted(cur_models):
            redeploy = True
    cur_tags = json.loads(row.tags or "{}")
    if body.set_tags is not None or body.add_tags or body.remove_tags:
        tags = dict(body.set_tags) if body.set_tags is not None else dict(cur_tags)
        tags.update(body.add_tags or {})
        for t in body.remove_tags or []:
            tags.pop(t, None)
        values["tags"] = tags
    if body.add_properties:
        props = json.loads(row.properties or "{}")
        for key, value in body.add_properties.items():
            if key in props and props[key] != str(value):
                raise ConflictException("Property %r of service %s is already %r; properties cannot be changed."
                                        % (key, name, props[key]))
            props[key] = str(value)
        values["properties"] = props
    if body.description is not None:
        values["description"] = body.description
    return s.deployments.update(name, spec=spec if (redeploy or body.config) else None,
                                models=models, keys=new_keys, redeploy=redeploy, **values)


@router.delete("/deployments/{name}", response_model=None)
def delete_deployment(name: str, request: Request) -> Any:
    k(request).deployments.delete(name)
    return {"deleted": name}


@router.get("/deployments/{name}/logs", response_model=None)
def deployment_logs(name: str, request: Request, num_lines: Int64 = 5000) -> Any:
    return PlainTextResponse(k(request).deployments.logs(name, num_lines))


@router.get("/deployments/{name}/logs/raw", response_model=None)
def deployment_log_bytes(name: str, request: Request, offset: Int64 = 0) -> Any:
    """Log bytes from ``offset``; X-Log-Size is the offset to ask from next, X-Log-Total
    the log's size."""
    s = k(request)
    s.models.deployment_row(name)
    data, start, total = s.deployments.log_bytes(name, max(0, offset))
    return Response(data, media_type="text/plain; charset=utf-8",
                    headers={"X-Log-Size": str(start + len(data)), "X-Log-Total": str(total)})


@router.get("/deployments/{name}/keys", response_model=None)
def deployment_keys(name: str, request: Request) -> Any:
    return k(request).deployments.keys(name)


@router.post("/deployments/{name}/keys/regen", response_model=None)
def regen_key(name: str, body: KeyRegen, request: Request) -> Any:
    s = k(request)
    s.deployments.regen_key(name, body.key, body.set_key)
    return s.deployments.keys(name)


@router.post("/deployments/{name}/token", response_model=None)
def deployment_token(name: str, request: Request) -> Any:
    return k(request).deployments.token(name)
