"""Hyperparameter sweeps (HyperDrive runs): submit, summary, cancel.

``POST /api/sweeps`` validates the sweep, caps ``max_concurrent_runs`` to what the compute
target runs at once (with a warning in the reply), creates the sweep's run and wakes the
sweep controller, which creates the children (``kyanite.server.sweeps``).
"""

import json
import random
import time
import uuid
from typing import Any, Optional

from fastapi import APIRouter, Request
from pydantic import BaseModel

from kyanite.exceptions import NotFoundException, UserErrorException
from kyanite.protocol.states import TERMINAL_STATES, RunStatus
from kyanite.protocol.runs import RunDefinition
from kyanite.protocol.sweeps import SweepSpec
from kyanite.server import sweeps as ctl
from kyanite.server.wire import run_details
from kyanite.sweep import check_spec, make_sampler
from kyanite.server.routes.runs import check_run_fields

router = APIRouter(tags=["sweeps"])


def k(request: Request) -> Any:
    return request.app.state.k


class SweepCreate(BaseModel):
    experiment: str
    definition: dict
    hyperdrive: dict
    run_id: Optional[str] = None
    display_name: Optional[str] = None
    tags: Optional[dict] = None


@router.post("/sweeps", response_model=None)
def create_sweep(body: SweepCreate, request: Request) -> Any:
    """Start a sweep: ``{"experiment", "definition": <child run definition>, "hyperdrive": <spec>}``.
    Returns ``{"run": <the sweep's run>, "warnings": [...]}``."""
    s = k(request)
    check_run_fields(s.store, body.experiment, body.run_id, body.display_name, body.tags, None)
    definition = RunDefinition.from_json(body.definition)  # 400 naming the field
    spec = check_spec(body.hyperdrive)
    if not definition.script or not definition.snapshot_id:
        raise UserErrorException("A sweep's definition must be a submitted run's definition (script, snapshotId).")
    target_name = definition.target or "local"
    definition = definition.replace(target=target_name)
    capacity, _target = ctl.capacity_of(s.scheduler, target_name)  # 404 for an unknown target
    warnings = []
    requested = spec["maxConcurrentRuns"]
    if requested is None:
        effective = min(spec["maxTotalRuns"], capacity)
    elif requested > capacity:
        effective = capacity
        warnings.append("max_concurrent_runs=%d is more than compute target %r runs at once (%d); the sweep "
                        "runs at most %d child runs at a time." % (requested, target_name, capacity, capacity))
    else:
        effective = requested
    spec["maxConcurrentRuns"] = effective
    spec["requestedMaxConcurrentRuns"] = requested
    for prev in spec["resumeFrom"]:
        run = s.store.run(prev)
        if run.run_type != ctl.RUN_TYPE:
            raise UserErrorException("resume_from takes earlier sweeps (HyperDrive runs); %s is a %r run."
                                     % (prev, run.run_type))
    resumed = []
    for rid in spec["resumeChildRuns"]:
        run = s.store.run(rid)
        hp = ctl.child_hyperparameters(run)
        if not run.parent_id or hp is None:
            raise UserErrorException("resume_child_runs takes child runs of earlier sweeps; %s has no sampled "
                                     "hyperparameters." % rid)
        if run.status not in TERMINAL_STATES:
            raise UserErrorException("resume_child_runs: run %s is still %s; resume it once it has ended "
                                     "(its outputs are kept then)." % (rid, run.status))
        resumed.append({"runId": rid, "hyperparameters": hp, "resumeFrom": ctl.outputs_folder(s.artifacts, rid)})
    if len(resumed) > spec["maxTotalRuns"]:
        raise UserErrorException("resume_child_runs has %d runs, more than max_total_runs=%d." % (
            len(resumed), spec["maxTotalRuns"]))
    spec["resumeChildren"] = resumed
    spec["seed"] = random.SystemRandom().randrange(2 ** 31)
    spec["createdAt"] = time.time()
    if spec["sampling"]["name"] != "grid":
        make_sampler(spec)  # e.g. Sobol without scipy: refused now, not in the controller
    run_id = body.run_id or "HD_%s" % uuid.uuid4()
    properties = {"primary_metric_config": json.dumps({"name": spec["primaryMetricName"],
                                                       "goal": spec["primaryMetricGoal"]}),
                  "sampling": spec["sampling"]["name"],
        "policy": (spec["policy"] or {}).get("name", "Default")}
    if warnings:
        properties["warnings"] = " ".join(warnings)
    run = s.store.create_run(body.experiment, status=RunStatus.RUNNING, run_id=run_id, target=target_name,
                             definition=RunDefinition(hyperdrive=SweepSpec.from_json(spec),
                                                      child_definition=definition),
                             display_name=body.display_name, run_type=ctl.RUN_TYPE, tags=body.tags,
                             properties=properties)
    controller = getattr(s, "sweeps", None)
    if controller is not None:
        controller.wake()
    return {"run": run_details(run), "warnings": warnings}


@router.get("/sweeps/{run_id}", response_model=None)
def get_sweep(run_id: str, request: Request, include_resumed: bool = False) -> Any:
    """The sweep, its spec and its children with their hyperparameters and best primary metric."""
    s = k(request)
    run = _sweep(s, run_id)
    out = ctl.summarize(s.store, run)
    if include_resumed:
        out["resumed"] = []
        for prev in out["spec"].get("resumeFrom") or []:
            try:
                out["resumed"].extend(ctl.summarize(s.store, s.store.run(prev))["children"])
            except NotFoundException:
                continue
    return out


@router.post("/sweeps/{run_id}/cancel", response_model=None)
def cancel_sweep(run_id: str, request: Request) -> Any:
    """Cancel the sweep: no more children are made, the running ones are canceled, and the
    sweep ends Canceled once they have stopped."""
    s = k(request)
    run = _sweep(s, run_id)
    if run.status not in TERMINAL_STATES:
        s.store.request_cancel(run_id)
        run, _ = s.store.set_status(run_id, RunStatus.CANCEL_REQUESTED)
        s.notifier.changed(run_id)
        controller = getattr(s, "sweeps", None)
        if controller is not None:
            controller.wake()
    return run_details(run)


def _sweep(s: Any, run_id: str) -> Any:
    run = s.store.run(run_id)
    if run.run_type != ctl.RUN_TYPE:
        raise UserErrorException("Run %s is not a sweep (HyperDrive run); it is a %r run." % (run_id, run.run_type))
    return run
