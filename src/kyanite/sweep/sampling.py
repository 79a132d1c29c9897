"""Samplings: how a sweep picks the hyperparameters of each child run.

SDK side: ``RandomParameterSampling``, ``GridParameterSampling`` and
``BayesianParameterSampling`` hold a parameter space (``{name: expression}``) and are
serialized into the sweep definition.

Server side: ``make_sampler(spec)`` builds the object the sweep controller asks for the
hyperparameters of child number ``index``: ``sampler.sample(index, history)`` returns a
``{name: value}`` dict, or None when the space is exhausted. ``history`` is what the sweep
knows so far (one dict per earlier child, plus the children of ``resume_from`` sweeps:
``params``, ``value`` (best primary metric or None), ``status``). Random and grid
samplings are pure functions of ``(seed, index)``, so a controller that restarts picks up
where it was; the Bayesian sampling is rebuilt from ``history`` on every call.
"""

import itertools
import math
import random
import warnings

from kyanite.exceptions import UserErrorException
from kyanite.protocol.states import RunStatus
from kyanite.train.hyperdrive._expressions import (
    check_expression, discrete_size, grid_options, is_discrete, quantize, value_from_unit,
)

__all__ = ["HyperParameterSampling", "RandomParameterSampling", "GridParameterSampling",
           "BayesianParameterSampling"]

RANDOM, GRID, BAYESIAN = "random", "grid", "bayesian"
BAYESIAN_KINDS = ("choice", "uniform", "quniform")


class HyperParameterSampling(object):
    """Base class of the samplings: a parameter space and the sampling's properties."""

    _name = None
    _supported = None

    def __init__(self, parameter_space, properties=None):
        self._parameter_space = check_space(parameter_space, self._name)
        self._properties = dict(properties or {})

    @property
    def parameter_space(self):
        return dict(self._parameter_space)

    @property
    def properties(self):
        return dict(self._properties)

    def to_json(self):
        return {"name": self._name, "parameterSpace": self._parameter_space, "properties": self._properties}

    def __repr__(self):
        return "%s(%r)" % (type(self).__name__, self._parameter_space)


class RandomParameterSampling(HyperParameterSampling):
    """Random sampling over any expressions.

    ``properties`` (or the keyword arguments) may hold ``seed`` (an int: the same seed gives
    the same children) and ``rule``: ``"random"`` (default) or ``"sobol"`` (a scrambled Sobol
    sequence, which covers the space more evenly; needs scipy). When every expression is
    discrete (choice, randint) no combination is tried twice, and the sweep ends early once
    all have been tried.
    """

    _name = RANDOM

    def __init__(self, parameter_space, properties=None, seed=None, rule=None):
        properties = dict(properties or {})
        if seed is not None:
            properties["seed"] = seed
        if rule is not None:
            properties["rule"] = rule
        super(RandomParameterSampling, self).__init__(parameter_space, properties)
        check_random_properties(self._properties)


class GridParameterSampling(HyperParameterSampling):
    """Every combination of the ``choice`` options, in order (the first parameter varies
    slowest). ``max_total_runs`` defaults to the grid size."""

    _name = GRID

    def __init__(self, parameter_space, properties=None):
        super(GridParameterSampling, self).__init__(parameter_space, properties)
        for name, expr in self._parameter_space.items():
            grid_options(name, expr)

    @property
    def grid_size(self):
        return grid_size(self._parameter_space)


class BayesianParameterSampling(HyperParameterSampling):
    """Bayesian optimization (a tree-structured Parzen estimator) over ``choice``,
    ``uniform`` and ``quniform`` expressions. Each new child is chosen from the results of
    the finished ones (and of ``resume_from`` sweeps); early termination policies are not
    allowed with it. It learns best with ``max_total_runs`` of at least 20 per
    hyperparameter and a small ``max_concurrent_runs``."""

    _name = BAYESIAN

    def __init__(self, parameter_space, properties=None):
        super(BayesianParameterSampling, self).__init__(parameter_space, properties)
        check_bayesian_space(self._parameter_space)


# -- validation shared by the SDK and the server -------------------------------------------
def check_space(space, sampling_name=None):
    if not isinstance(space, dict) or not space:
        raise UserErrorException("A parameter space must be a non-empty dict {name: expression}, e.g. "
                                 "{'--learning-rate': loguniform(-6, -1)}.")
    out = {}
    for name, expr in space.items():
        if not isinstance(name, str) or not name.strip() or any(c.isspace() for c in name):
            raise UserErrorException("Hyperparameter name %r must be a non-empty string without spaces "
                                     "(e.g. '--learning-rate')." % (name,))
        out[name] = check_expression(name, expr)
    return out


def check_random_properties(props):
    seed = props.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise UserErrorException("RandomParameterSampling seed must be an int, got %r." % (seed,))
    rule = props.get("rule", "random")
    if str(rule).lower() not in ("random", "sobol"):
        raise UserErrorException("RandomParameterSampling rule must be 'random' or 'sobol', got %r." % (rule,))


def check_bayesian_space(space):
    for name, expr in space.items():
        if expr[0] not in BAYESIAN_KINDS:
            raise UserErrorException(
                "BayesianParameterSampling supports choice, uniform and quniform only; hyperparameter %r "
                "is %s(...)." % (name, expr[0]))
        if expr[0] == "choice":
            for v in expr[1][0]:
                if isinstance(v, (list, dict)):
                    raise UserErrorException("BayesianParameterSampling: the options of %r must be numbers "
                                             "or strings." % name)


def grid_size(space):
    n = 1
    for expr in space.values():
        n *= len(expr[1][0])
    return n


def check_sampling(sampling):
    """Validate a serialized sampling (``{"name", "parameterSpace", "properties"}``)."""
    if not isinstance(sampling, dict) or sampling.get("name") not in (RANDOM, GRID, BAYESIAN):
        raise UserErrorException("hyperparameter_sampling must be a RandomParameterSampling, "
                                 "GridParameterSampling or BayesianParameterSampling.")
    space = check_space(sampling.get("parameterSpace"))
    props = dict(sampling.get("properties") or {})
    if sampling["name"] == GRID:
        for name, expr in space.items():
            grid_options(name, expr)
    elif sampling["name"] == BAYESIAN:
        check_bayesian_space(space)
    else:
        check_random_properties(props)
    return {"name": sampling["name"], "parameterSpace": space, "properties": props}


# -- server side -------------------------------------------------------------------------------
def make_sampler(spec):
    """The sampler of a validated sweep spec (see ``_config.check_spec``)."""
    sampling = spec["sampling"]
    space = sampling["parameterSpace"]
    seed = sampling["properties"].get("seed")
    if seed is None:
        seed = spec["seed"]
    if sampling["name"] == GRID:
        return GridSampler(space)
    if sampling["name"] == BAYESIAN:
        return BayesianSampler(space, seed, spec["primaryMetricGoal"], spec["maxTotalRuns"])
    if str(sampling["properties"].get("rule", "random")).lower() == "sobol":
        return SobolSampler(space, seed)
    return RandomSampler(space, seed)


def _key(params):
    return tuple(sorted((k, repr(v)) for k, v in params.items()))


class GridSampler(object):
    def __init__(self, space):
        self.space = space
        self.names = list(space)
        self.options = [space[n][1][0] for n in self.names]
        self.size = grid_size(space)

    def sample(self, index, history):
        if index >= self.size:
            return None
        out, rest = {}, index
        for name, opts in reversed(list(zip(self.names, self.options))):
            rest, i = divmod(rest, len(opts))
            out[name] = opts[i]
        return dict((n, out[n]) for n in self.names)

    def all(self):
        return [dict(zip(self.names, combo)) for combo in itertools.product(*self.options)]


class RandomSampler(object):
    """Child ``index`` gets values from a generator seeded with ``(seed, index)``. A fully
    discrete space is sampled without repeats (exhausted when every combination was tried)."""

    attempts = 200

    def __init__(self, space, seed):
        self.space = space
        self.seed = seed
        self.discrete = all(is_discrete(e) for e in space.values())
        self.size = None
        if self.discrete:
            self.size = 1
            for e in space.values():
                self.size *= discrete_size(e)

    def units(self, index, attempt):
        rng = random.Random("%s:%d:%d" % (self.seed, index, attempt))
        return [rng.random() for _ in self.space]

    def sample(self, index, history):
        seen = set(_key(h["params"]) for h in history if h.get("params")) if self.discrete else ()
        if self.discrete and len(seen) >= self.size:
            return None
        for attempt in range(self.attempts):
            params = dict((name, value_from_unit(expr, u)) for (name, expr), u in
                          zip(self.space.items(), self.units(index, attempt)))
            if not self.discrete or _key(params) not in seen:
                return params
        if self.discrete:  # a small space nearly used up: take the first combination not tried
            for combo in itertools.product(*[_discrete_values(e) for e in self.space.values()]):
                params = dict(zip(self.space, combo))
                if _key(params) not in seen:
                    return params
            return None
        return params


class SobolSampler(RandomSampler):
    """Point ``index`` of a scrambled Sobol sequence (seeded), mapped through each
    expression's inverse CDF."""

    def __init__(self, space, seed):
        super(SobolSampler, self).__init__(space, seed)
        try:
            from scipy.stats import qmc  # noqa: F401
        except ImportError:
            raise UserErrorException("RandomParameterSampling rule='sobol' needs scipy on the workspace "
                                     "server (pip install scipy); or use rule='random'.")

    def units(self, index, attempt):
        from scipy.stats import qmc
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "balance properties" note for non powers of two
            engine = qmc.Sobol(d=len(self.space), scramble=True, seed=int(self.seed) % (2 ** 32))
            skip = index + attempt * 65536
            if skip:
                engine.fast_forward(skip)
            return list(engine.random(1)[0])


def _discrete_values(expr):
    return expr[1][0] if expr[0] == "choice" else list(range(expr[1][0]))


class BayesianSampler(object):
    """A tree-structured Parzen estimator (Optuna's TPESampler), rebuilt from the sweep's
    history at every call: finished children with the primary metric are completed trials
    (their best value), outstanding ones are running trials (the sampler avoids proposing
    the same point twice while they run)."""

    def __init__(self, space, seed, goal, max_total_runs):
        self.space = space
        self.seed = int(seed)
        self.goal = goal
        self.n_startup = max(2, min(10, int(math.ceil(max_total_runs / 4.0))))

    def _distributions(self):
        from optuna.distributions import CategoricalDistribution, FloatDistribution
        out = {}
        for name, (kind, args) in self.space.items():
            if kind == "choice":
                out[name] = CategoricalDistribution(list(args[0]))
            else:
                out[name] = FloatDistribution(float(args[0]), float(args[1]))
        return out

    def _internal(self, name, value):
        kind, args = self.space[name]
        if kind == "choice":
            return value if value in args[0] else _Missing
        try:
            return min(max(float(value), float(args[0])), float(args[1]))
        except (TypeError, ValueError):
            return _Missing

    def sample(self, index, history):
        import optuna
        from optuna.trial import TrialState, create_trial
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        dists = self._distributions()
        study = optuna.create_study(
            direction="maximize" if self.goal == "maximize" else "minimize",
            sampler=optuna.samplers.TPESampler(seed=(self.seed * 1000003 + index) % (2 ** 32),
                                               n_startup_trials=self.n_startup, constant_liar=True))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for h in history:
                params = h.get("params") or {}
                internal = dict((n, self._internal(n, params.get(n, _Missing))) for n in dists)
                if any(v is _Missing for v in internal.values()):
                    continue  # from a resumed sweep over another space
                if h.get("value") is not None and h.get("status") in (RunStatus.COMPLETED, None):
                    state, value = TrialState.COMPLETE, float(h["value"])
                elif h.get("status") not in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED):
                    state, value = TrialState.RUNNING, None
                else:
                    continue
                if value is not None and not math.isfinite(value):
                    continue
                study.add_trial(create_trial(params=internal, distributions=dists, value=value, state=state))
            trial = study.ask(dists)
        out = {}
        for name, (kind, args) in self.space.items():
            v = trial.params[name]
            out[name] = quantize(v, args[2]) if kind == "quniform" else v
        return out


class _MissingType(object):
    def __repr__(self):
        return "<missing>"


_Missing = _MissingType()
