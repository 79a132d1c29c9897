"""Hyperparameter sweeps, the logic shared by the SDK and the workspace server.

- ``expressions``: the parameter expressions (``choice``, ``uniform``, ``loguniform``...),
  plain JSON-able data;
- ``sampling``: the samplings (random, grid, Bayesian) as serialized in a sweep;
- ``samplers``: ``make_sampler(spec)``, the objects whose ``sample(index, history)`` picks
  each child's hyperparameters (random, Sobol, grid, Bayesian with Optuna);
- ``policy``: the early termination policies and ``evaluate(...)``, which says which running
  children to stop;
- ``arguments``: ``child_arguments(...)``, the sampled values put into a child's arguments;
- ``spec``: ``check_spec(...)``, the validated form of a whole sweep, and ``PrimaryMetricGoal``.

The SDK v1 facade is ``kyanite.train.hyperdrive``; the server's sweep controller is
``kyanite.server.sweeps``. This package imports neither the SDK (``kyanite.core``,
``kyanite.train``) nor the in-script runtime; run states come from ``kyanite.protocol``.
"""

from kyanite.sweep.arguments import child_arguments
from kyanite.sweep.expressions import (
    KINDS, check_expression, choice, lognormal, loguniform, normal, qlognormal, qloguniform, qnormal, quniform,
    randint, uniform, value_from_unit,
)
from kyanite.sweep.policy import (
    BanditPolicy, EarlyTerminationPolicy, MedianStoppingPolicy, NoTerminationPolicy, TruncationSelectionPolicy,
    check_policy, evaluate,
)
from kyanite.sweep.samplers import make_sampler
from kyanite.sweep.sampling import (
    BayesianParameterSampling, GridParameterSampling, HyperParameterSampling, RandomParameterSampling,
    check_sampling, grid_size,
)
from kyanite.sweep.spec import PrimaryMetricGoal, check_spec, goal_of

__all__ = [
    "choice", "randint", "uniform", "quniform", "loguniform", "qloguniform", "normal", "qnormal",
    "lognormal", "qlognormal", "check_expression", "value_from_unit", "KINDS",
    "HyperParameterSampling", "RandomParameterSampling", "GridParameterSampling", "BayesianParameterSampling",
    "check_sampling", "grid_size", "make_sampler",
    "EarlyTerminationPolicy", "BanditPolicy", "MedianStoppingPolicy", "TruncationSelectionPolicy",
    "NoTerminationPolicy", "check_policy", "evaluate",
    "child_arguments",
    "PrimaryMetricGoal", "goal_of", "check_spec",
]
