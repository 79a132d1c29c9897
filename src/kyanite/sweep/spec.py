"""The sweep spec: the serialized form of a whole sweep, and the primary metric goal.

The SDK builds the spec (``HyperDriveConfig``) and the workspace server stores it in the
sweep run's definition under ``"hyperdrive"``; ``check_spec`` validates it on both sides:

``{"sampling": {...}, "policy": {...} | None, "primaryMetricName": str,
"primaryMetricGoal": "maximize" | "minimize", "maxTotalRuns": int | None,
"maxConcurrentRuns": int | None, "maxDurationMinutes": number, "resumeFrom": [run ids],
"resumeChildRuns": [run ids]}``
"""

import enum
import math
import numbers

from kyanite.exceptions import UserErrorException
from kyanite.sweep.policy import check_policy
from kyanite.sweep.sampling import BAYESIAN, GRID, check_sampling, grid_size

__all__ = ["PrimaryMetricGoal", "goal_of", "check_spec", "run_ids", "MAX_RESUME_FROM",
           "DEFAULT_DURATION_MINUTES"]

MAX_RESUME_FROM = 5
DEFAULT_DURATION_MINUTES = 10080


class PrimaryMetricGoal(enum.Enum):
    """Whether the primary metric is to be maximized or minimized."""
    MAXIMIZE = "MAXIMIZE"
    MINIMIZE = "MINIMIZE"

    @staticmethod
    def from_str(goal):
        return goal_of(goal)


def goal_of(goal):
    """The ``PrimaryMetricGoal`` of ``goal`` (the enum, or ``"maximize"``/``"minimize"`` in any
    case); raises ``UserErrorException`` for anything else."""
    if isinstance(goal, PrimaryMetricGoal):
        goal = goal.value
    if isinstance(goal, str) and goal.lower() in ("maximize", "minimize"):
        return PrimaryMetricGoal.MAXIMIZE if goal.lower() == "maximize" else PrimaryMetricGoal.MINIMIZE
    raise UserErrorException("primary_metric_goal must be PrimaryMetricGoal.MAXIMIZE or "
                             "PrimaryMetricGoal.MINIMIZE, got %r." % (goal,))


def _positive_int(name, value, allow_none=True):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise UserErrorException("%s must be a positive integer, got %r." % (name, value))
    return int(value)


def run_ids(name, items, limit=None):
    """The run ids of ``items`` (ids, or objects with an ``id``), at most ``limit`` of them;
    ``name`` is the argument named in the error."""
    out = []
    for item in items or []:
        rid = item if isinstance(item, str) else getattr(item, "id", None)
        if not isinstance(rid, str) or not rid:
            raise UserErrorException("%s takes runs (or run ids), got %r." % (name, item))
        out.append(rid)
    if limit is not None and len(out) > limit:
        raise UserErrorException("%s takes at most %d sweeps, got %d." % (name, limit, len(out)))
    return out


def check_spec(spec):
    """Validate and normalize a serialized sweep; raises UserErrorException.

    Returns a copy of ``spec`` with every field above normalized: the goal lower-case,
    ``maxTotalRuns`` defaulted (grid sampling: the grid size plus the re-runs) and capped,
    a None policy for NoTerminationPolicy. Keys it does not know are kept as they are."""
    if not isinstance(spec, dict):
        raise UserErrorException("The sweep definition must be a JSON object.")
    sampling = check_sampling(spec.get("sampling"))
    policy = check_policy(spec.get("policy"))
    if sampling["name"] == BAYESIAN and policy is not None:
        raise UserErrorException(
            "BayesianParameterSampling does not support early termination: %s cannot be used with it. "
            "Leave policy=None (or NoTerminationPolicy()), or use RandomParameterSampling."
            % (policy["name"] + "Policy"))
    metric = spec.get("primaryMetricName")
    if not isinstance(metric, str) or not metric.strip():
        raise UserErrorException("primary_metric_name must be the name the script logs with run.log(), "
                                 "e.g. 'Accuracy'; got %r." % (metric,))
    goal = goal_of(spec.get("primaryMetricGoal")).value.lower()
    total = _positive_int("max_total_runs", spec.get("maxTotalRuns"))
    resumed = run_ids("resume_child_runs", spec.get("resumeChildRuns"))
    if sampling["name"] == GRID:  # re-runs of resume_child_runs come on top of the grid
        size = grid_size(sampling["parameterSpace"]) + len(resumed)
        total = size if total is None else min(total, size)
    elif total is None:
        raise UserErrorException("max_total_runs is required (the number of child runs to try); only "
                                 "GridParameterSampling defaults it, to the grid size.")
    concurrent = _positive_int("max_concurrent_runs", spec.get("maxConcurrentRuns"))
    duration = spec.get("maxDurationMinutes", DEFAULT_DURATION_MINUTES)
    if duration is None:
        duration = DEFAULT_DURATION_MINUTES
    if isinstance(duration, bool) or not isinstance(duration, numbers.Real) or not math.isfinite(duration) \
            or duration <= 0:
        raise UserErrorException("max_duration_minutes must be a number > 0, got %r." % (duration,))
    out = dict(spec)
    out.update({
        "sampling": sampling, "policy": policy, "primaryMetricName": metric, "primaryMetricGoal": goal,
        "maxTotalRuns": total, "maxConcurrentRuns": concurrent, "maxDurationMinutes": duration,
        "resumeFrom": run_ids("resume_from", spec.get("resumeFrom"), MAX_RESUME_FROM),
        "resumeChildRuns": resumed,
    })
    return out
