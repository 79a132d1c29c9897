"""HyperDriveConfig: what a sweep runs, how it samples, when it stops.

``Experiment(ws, name).submit(HyperDriveConfig(...))`` validates the configuration here
(a bad one fails before anything is uploaded), snapshots the script's folder once, and
posts the sweep to the workspace server, whose sweep controller creates the child runs.

The serialized form (the spec, ``kyanite.sweep.spec``) is stored in the parent run's
definition under ``"hyperdrive"``; ``check_spec`` validates it on both sides.
"""

import warnings

from kyanite.exceptions import UserErrorException
from kyanite.sweep.policy import EarlyTerminationPolicy
from kyanite.sweep.sampling import HyperParameterSampling
from kyanite.sweep.spec import (  # noqa: F401  (check_spec, goal_of: the spec's one home)
    DEFAULT_DURATION_MINUTES, MAX_RESUME_FROM, PrimaryMetricGoal, check_spec, goal_of, run_ids as _run_ids,
)

__all__ = ["PrimaryMetricGoal", "HyperDriveConfig", "HyperDriveRunConfig"]


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
