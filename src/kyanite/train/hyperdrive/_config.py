"""HyperDriveConfig: what a sweep runs, how it samples, when it stops.

``Experiment(ws, name).submit(HyperDriveConfig(...))`` validates the configuration here
(a bad one fails before anything is uploaded), snapshots the script's folder once, and
posts the sweep to the workspace server, whose sweep controller creates the child runs.

The serialized form (``spec``) is stored in the parent run's definition under
``"hyperdrive"``; ``check_spec`` validates it on both sides:

``{"sampling": {...}, "policy": {...} | None, "primaryMetricName": str,
"primaryMetricGoal": "maximize" | "minimize", "maxTotalRuns": int | None,
"maxConcurrentRuns": int | None, "maxDurationMinutes": number, "resumeFrom": [run ids],
"resumeChildRuns": [run ids]}``
"""

import enum
import math
import numbers
import warnings

from kyanite.exceptions import UserErrorException
from kyanite.train.hyperdrive._policy import EarlyTerminationPolicy, check_policy
from kyanite.train.hyperdrive._sampling import (
    BAYESIAN, GRID, HyperParameterSampling, check_sampling, grid_size,
)

__all__ = ["PrimaryMetricGoal", "HyperDriveConfig", "HyperDriveRunConfig"]

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


def _run_ids(name, items, limit=None):
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
    """Validate and normalize a serialized sweep; raises UserErrorException."""
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
    resumed = _run_ids("resume_child_runs", spec.get("resumeChildRuns"))
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
        "resumeFrom": _run_ids("resume_from", spec.get("resumeFrom"), MAX_RESUME_FROM),
        "resumeChildRuns": resumed,
    })
    return out


class HyperDriveConfig(object):
    """A hyperparameter sweep of ``run_config`` (a ScriptRunConfig).

    Each child run is the script with the sampled values put into its arguments
    (``--name value``: a value already in the arguments is replaced, others are appended;
    a name without a leading ``-`` becomes ``--name``). ``max_total_runs`` children are
    tried (fewer when a grid or a discrete space runs out), at most ``max_concurrent_runs``
    at once (default: as many as the compute target runs at once; more is capped to that,
    with a warning). After ``max_duration_minutes`` the sweep is canceled.
    ``resume_from``: up to 5 earlier sweeps whose results warm-start the Bayesian sampler and
    take part in policy comparisons. ``resume_child_runs``: child runs to run again with
    their hyperparameters and ``--resume-from <folder of their outputs>``.
    """

    def __init__(self, hyperparameter_sampling, primary_metric_name, primary_metric_goal, max_total_runs=None,
                 max_concurrent_runs=None, max_duration_minutes=DEFAULT_DURATION_MINUTES, policy=None,
                 estimator=None, run_config=None, resume_from=None, resume_child_runs=None, pipeline=None,
                 debug_flag=None, custom_run_id=None):
        if not isinstance(hyperparameter_sampling, HyperParameterSampling):
            raise UserErrorException("hyperparameter_sampling must be a RandomParameterSampling, "
                                     "GridParameterSampling or BayesianParameterSampling, got %s."
                                     % type(hyperparameter_sampling).__name__)
        if policy is not None and not isinstance(policy, EarlyTerminationPolicy):
            raise UserErrorException("policy must be a BanditPolicy, MedianStoppingPolicy, "
                                     "TruncationSelectionPolicy or NoTerminationPolicy, got %s."
                                     % type(policy).__name__)
        if pipeline is not None:
            raise UserErrorException("Sweeping a pipeline is not supported; give run_config=ScriptRunConfig(...).")
        if estimator is not None and run_config is not None:
            raise UserErrorException("Give either run_config or estimator, not both.")
        self._run_config = run_config if run_config is not None else estimator
        if self._run_config is None or not hasattr(self._run_config, "_definition"):
            raise UserErrorException("HyperDriveConfig needs run_config=ScriptRunConfig(...): the script each "
                                     "child run executes.")
        self._sampling = hyperparameter_sampling
        self._policy = policy
        self._custom_run_id = custom_run_id
        self._spec = check_spec({
            "sampling": hyperparameter_sampling.to_json(),
            "policy": policy.to_json() if policy is not None else None,
            "primaryMetricName": primary_metric_name,
            "primaryMetricGoal": goal_of(primary_metric_goal).value,
            "maxTotalRuns": max_total_runs, "maxConcurrentRuns": max_concurrent_runs,
            "maxDurationMinutes": max_duration_minutes,
            "resumeFrom": _run_ids("resume_from", resume_from, MAX_RESUME_FROM),
            "resumeChildRuns": _run_ids("resume_child_runs", resume_child_runs),
        })
        if debug_flag:
            self._spec["debugFlag"] = debug_flag

    # -- the v1 attributes ------------------------------------------------------------
    @property
    def run_config(self):
        return self._run_config

    estimator = run_config

    @property
    def source_directory(self):
        return getattr(self._run_config, "source_directory", None)

    @property
    def hyperparameter_sampling(self):
        return self._sampling

    @property
    def policy(self):
        return self._policy

    @property
    def primary_metric_name(self):
        return self._spec["primaryMetricName"]

    @property
    def primary_metric_goal(self):
        return goal_of(self._spec["primaryMetricGoal"])

    @property
    def max_total_runs(self):
        return self._spec["maxTotalRuns"]

    @property
    def max_concurrent_runs(self):
        return self._spec["maxConcurrentRuns"]

    @property
    def max_duration_minutes(self):
        return self._spec["maxDurationMinutes"]

    def to_json(self):
        return dict(self._spec)

    # -- submission --------------------------------------------------------------------
    def _submit(self, experiment, tags=None, **kwargs):
        from kyanite.train.hyperdrive._run import HyperDriveRun
        client = experiment.workspace._client
        definition = self._run_config._definition(experiment)
        reply = client.post("/api/sweeps", {
            "experiment": experiment.name, "definition": definition, "hyperdrive": self._spec,
            "tags": tags or {}, "run_id": self._custom_run_id})
        for message in reply.get("warnings") or []:
            warnings.warn(message, UserWarning, stacklevel=3)
        return HyperDriveRun._from_details(client, reply["run"], experiment)

    def __repr__(self):
        return "HyperDriveConfig(%s, %s %s, max_total_runs=%s, max_concurrent_runs=%s, policy=%r)" % (
            type(self._sampling).__name__, self._spec["primaryMetricGoal"], self._spec["primaryMetricName"],
            self._spec["maxTotalRuns"], self._spec["maxConcurrentRuns"], self._policy)


class HyperDriveRunConfig(HyperDriveConfig):
    """The older SDK v1 name: ``HyperDriveRunConfig(estimator, hyperparameter_sampling, ...)``."""

    def __init__(self, estimator, hyperparameter_sampling, primary_metric_name, primary_metric_goal,
                 max_total_runs, max_concurrent_runs=None, max_duration_minutes=DEFAULT_DURATION_MINUTES,
                 policy=None):
        super(HyperDriveRunConfig, self).__init__(
            hyperparameter_sampling, primary_metric_name, primary_metric_goal, max_total_runs,
            max_concurrent_runs, max_duration_minutes, policy, estimator=estimator)
