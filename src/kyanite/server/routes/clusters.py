"""What a compute target's cluster holds: ``GET /api/computes/{name}/cluster``.

Answers nodes, CPUs, GPUs, memory and what is free, as the target's executor sees it
(``executor.cluster_status(config)``; the Ray executor asks the Ray cluster). Targets
whose executor runs on this machine answer with this machine.
"""

import os
from typing import Any

import psutil
from fastapi import APIRouter, Request

router = APIRouter(tags=["resources"])


@router.get("/computes/{name}/cluster", response_model=None)
def cluster(name: str, request: Request) -> Any:
    s = request.app.state.k
    target = s.scheduler.target(name)
    executor = s.scheduler.executor_for(target)  # 409 for a broken stored config
    cfg = s.scheduler.config_for(target).to_json()
    describe = getattr(executor, "cluster_status", None)
    if describe is not None:
        info = describe(cfg)
    else:
        cpus = os.cpu_count() or 1
        mem = psutil.virtual_memory()
        info = {"reachable": True, "nodeCount": 1, "cpus": cpus, "gpus": 0,
                "freeCpus": round(cpus * (1 - psutil.cpu_percent(interval=None) / 100.0), 2), "freeGpus": 0,
                "memoryGb": round(mem.total / 2 ** 30, 2), "freeMemoryGb": round(mem.available / 2 ** 30, 2),
                "customResources": {}, "freeCustomResources": {}, "nodes": []}
    return {"name": target["name"], "type": target["type"], "cluster": info}
