"""Compute targets and environments.

``POST /api/computes`` validates the config with ``kyanite.protocol.compute.ComputeConfig``
(400 naming the field; nothing stored) and stores its normalized form. A GPU target on the
local executor (``gpus_per_node`` > 0) is refused (400, field ``vm_size``) when this
machine has fewer GPUs than its slots hold together, with the count found. Listing and
getting a target never fail on a broken stored record: that entry answers
``provisioningState: "Failed"`` and ``error: {code, message}``. A target's ``status`` has
``capacity``, ``running``, ``queued``, ``free`` and, for local targets, ``gpusPerSlot``
and ``gpus``: ``[{"id", "name", "memoryMiB", "run"}]``, the GPUs its active runs hold (``run``:
the run id).
"""

from typing import Any, Optional

from fastapi import APIRouter, Request
from pydantic import BaseModel

from kyanite.exceptions import ConflictException
from kyanite.protocol.identifiers import check_identifier
from kyanite.server.routes import known
from kyanite.protocol.compute import COMPUTE_TYPES, ComputeConfig, ComputeConfigError
from kyanite.protocol.states import RunStatus
from kyanite.protocol.states import ACTIVE_STATES
from kyanite.server.params import Int64

router = APIRouter(tags=["resources"])


def k(request: Request) -> Any:
    return request.app.state.k


class ComputeCreate(BaseModel):
    name: str
    type: str = "AmlCompute"
    config: dict = {}


def _with_status(s: Any, target: Any) -> Any:
    active = s.store.count_active(target["name"])
    queued = len([1 for _, t in s.store.queued_runs() if t == target["name"]])
    try:
        capacity = s.scheduler.capacity(target)
    except Exception as exc:  # a broken record is listed with what is wrong, never a 500
        reason = getattr(exc, "message", None) or "%s: %s" % (type(exc).__name__, exc)
        return dict(target, provisioningState="Failed", error={"code": "ComputeTargetBroken", "message": reason},
                    status={"capacity": 0, "running": active, "queued": queued, "free": 0})
    status = {"capacity": capacity, "running": active, "queued": queued, "free": max(0, capacity - active)}
    config = target.get("config") or {}
    if target["type"] != "RayCompute":
        per_slot = config.get("gpus_per_node") or 0
        status["gpusPerSlot"] = per_slot
        status["gpus"] = []
        if per_slot:
            mine = set(r.id for r in s.store.list_runs(target=target["name"], status=list(ACTIVE_STATES),
                                                          top_level=False))
            facts = dict((g["id"], g) for g in s.scheduler.gpu_facts())
            status["gpus"] = [{"id": g, "name": facts.get(g, {}).get("name"),
                               "memoryMiB": facts.get(g, {}).get("memoryMiB"), "run": rid}
                              for g, rid in sorted(s.scheduler.held_gpus().items()) if rid in mine]
    return dict(target, provisioningState="Succeeded", status=status)


@router.get("/computes", response_model=None)
def list_computes(request: Request) -> Any:
    s = k(request)
    return {"computes": [_with_status(s, t) for t in [s.scheduler.target("local")] + s.store.list_computes()]}


@router.post("/computes", response_model=None)
def create_compute(body: ComputeCreate, request: Request) -> Any:
    s = k(request)
    check_identifier("compute target name", body.name)
    if body.name == "local":
        raise ConflictException("'local' is the built-in compute target; choose another name.")
    cfg = ComputeConfig.from_json(dict(body.config, type=body.type))
    if cfg.type == "local":
        raise ComputeConfigError("type", "'local' is the built-in target's type; create one of type %s."
                                 % " or ".join(t for t in COMPUTE_TYPES if t != "local"))
    if getattr(cfg, "run_as", None):
        from kyanite.compute import run_as
        run_as.lookup(cfg.run_as)  # 400 naming run_as when there is no such user
    need = (getattr(cfg, "gpus_per_node", 0) or 0) * (getattr(cfg, "max_nodes", 1) or 1)
    if cfg.executor == "local" and need:
        found = s.scheduler.machine_gpus()
        if len(found) < need:
            raise ComputeConfigError("vm_size", "%s target %r asks for %d GPU(s) (%d per slot x max_nodes=%d), but "
                                                "this machine has %d (%s); ask for fewer nodes or a smaller size, "
                                                "or set KYANITE_GPUS for the server." % (
                                                    cfg.type, body.name, need, cfg.gpus_per_node, cfg.max_nodes,
                                                    len(found), ", ".join(found) or "none found"))
    stored = dict((key, v) for key, v in cfg.to_json().items() if key != "type")
    return _with_status(s, s.store.create_compute(body.name, cfg.type, stored))


@router.get("/computes/{name}", response_model=None)
def get_compute(name: str, request: Request) -> Any:
    s = k(request)
    return _with_status(s, s.scheduler.target(name))


@router.delete("/computes/{name}", response_model=None)
def delete_compute(name: str, request: Request) -> Any:
    s = k(request)
    busy = s.store.list_runs(target=name, status=list(ACTIVE_STATES) + [RunStatus.QUEUED], top_level=False)
    if busy:
        raise ConflictException("Compute target %r has %d queued or running runs; cancel them first."
                                % (name, len(busy)))
    s.store.delete_compute(name)
    return {"deleted": name}


@router.post("/environments", response_model=None)
def register_environment(body: dict, request: Request) -> Any:
    s = k(request)
    name = check_identifier("environment name", body.get("name"), exists=known(s.store.environment))
    return s.store.register_environment(name, body.get("definition") or {})


@router.get("/environments", response_model=None)
def list_environments(request: Request) -> Any:
    return {"environments": k(request).store.list_environments()}


@router.get("/environments/{name}", response_model=None)
def get_environment(name: str, request: Request, version: Optional[Int64] = None) -> Any:
    return k(request).store.environment(name, version)
