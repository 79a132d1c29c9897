"""Sweeps: the typed record of a sweep's spec (the ``hyperdrive`` part of its definition).

Standard library only, Python 3.6+.

Contract: ``SweepSpec.from_json(d)`` checks the types of the spec's fields and refuses keys
it does not know (``RecordError`` naming the field); ``to_json()`` gives back the keys given,
in their order. What the values mean (a sampling's parameter space, a policy's settings, the
limits' ranges) is checked by ``kyanite.sweep.check_spec``, which the SDK and the server run.

Wire keys and attributes: ``sampling`` (object), ``policy`` (object or null),
``primaryMetricName`` / ``primary_metric_name``, ``primaryMetricGoal`` /
``primary_metric_goal`` ("maximize" or "minimize"), ``maxTotalRuns`` / ``max_total_runs``,
``maxConcurrentRuns`` / ``max_concurrent_runs`` (whole numbers), ``maxDurationMinutes`` /
``max_duration_minutes`` (number), ``resumeFrom`` / ``resume_from`` and ``resumeChildRuns`` /
``resume_child_runs`` (lists of run ids), ``debugFlag`` / ``debug_flag`` (any value, kept for
SDK v1), and what the server adds when it starts the sweep: ``requestedMaxConcurrentRuns`` /
``requested_max_concurrent_runs``, ``resumeChildren`` / ``resume_children`` (list of objects),
``seed`` (whole number) and ``createdAt`` / ``created_at`` (unix time).
"""

from typing import Any, Dict, List

from kyanite.protocol.records import Fields, RecordError, WireRecord, number, obj, string_list, text, whole

__all__ = ["SweepSpec"]


def _goal(what: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or value.lower() not in ("maximize", "minimize"):
        raise RecordError(key, "%s field %r must be 'maximize' or 'minimize', got %r." % (what, key, value))
    return value


def _objects(what: str, key: str, value: Any) -> List[Dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise RecordError(key, "%s field %r must be a list of JSON objects, got %r." % (what, key, value))
    return value


def _any(what: str, key: str, value: Any) -> Any:
    return value


class SweepSpec(WireRecord):
    """A sweep's spec (see the module docstring)."""

    WHAT = "Sweep spec"
    FIELDS = (
        ("sampling", "sampling", obj),
        ("policy", "policy", obj),
        ("primaryMetricName", "primary_metric_name", text),
        ("primaryMetricGoal", "primary_metric_goal", _goal),
        ("maxTotalRuns", "max_total_runs", whole),
        ("maxConcurrentRuns", "max_concurrent_runs", whole),
        ("maxDurationMinutes", "max_duration_minutes", number),
        ("resumeFrom", "resume_from", string_list),
        ("resumeChildRuns", "resume_child_runs", string_list),
        ("debugFlag", "debug_flag", _any),
        ("requestedMaxConcurrentRuns", "requested_max_concurrent_runs", whole),
        ("resumeChildren", "resume_children", _objects),
        ("seed", "seed", whole),
        ("createdAt", "created_at", number),
    )

    def _empty(self, attr: str) -> Any:
        if attr in ("resume_from", "resume_child_runs", "resume_children"):
            return []
        return None

    @property
    def goal(self) -> str:
        """The goal in lower case ("maximize" by default)."""
        return (self.primary_metric_goal or "maximize").lower()
