"""The HTTP API's run shape: the SDK v1 ``get_details()`` object built from a ``RunRecord``.

Contract: ``run_details(record)`` is the one place the API's run object is built, byte for
byte the shape the SDK, the CLI and the studio read: ``runId``, ``number``, ``experiment``,
``parentRunId``, ``displayName`` (the run id when none was set), ``description`` (None
when none was set), ``runType``, ``status``,
``target``, ``createdUtc``, ``startTimeUtc``, ``endTimeUtc`` and ``lastHeartbeatUtc``
(ISO 8601 UTC, milliseconds, ``Z``), ``durationSeconds`` (to now while running),
``cancelRequested``, ``tags``, ``properties``, ``runDefinition`` (the definition as
submitted), ``inputDatasets``, ``error``, ``resolvedPackages`` and ``host``.
``runs_details(records)`` maps it over a list.
"""

import time
from typing import Any

__all__ = ["run_details", "runs_details", "iso"]


def iso(t: Any) -> Any:
    """A unix time as ISO 8601 UTC with milliseconds (``2024-01-02T03:04:05.678Z``); None for None."""
    if t is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)


def run_details(run: Any) -> Any:
    """The v1 ``get_details()`` object of the ``RunRecord`` ``run``."""
    definition = run.definition.to_json()
    return {
        "runId": run.id,
        "number": run.number,
        "experiment": run.experiment,
        "parentRunId": run.parent_id,
        "displayName": run.display_name or run.id,
        "description": run.description,
        "runType": run.run_type,
        "status": run.status,
        "target": run.target,
        "createdUtc": iso(run.created),
        "startTimeUtc": iso(run.start_time),
        "endTimeUtc": iso(run.end_time),
        "durationSeconds": (run.end_time or time.time()) - run.start_time if run.start_time else None,
        "lastHeartbeatUtc": iso(run.heartbeat),
        "cancelRequested": bool(run.cancel_requested),
        "tags": dict(run.tags),
        "properties": dict(run.properties),
        "runDefinition": definition,
        "inputDatasets": definition.get(run.definition.key("input_datasets")) or {},
        "error": run.error,
        "resolvedPackages": run.resolved_packages,
        "host": run.host,
    }


def runs_details(runs: Any) -> Any:
    """``run_details`` of each of ``runs``."""
    return [run_details(r) for r in runs]
