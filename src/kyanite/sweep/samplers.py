"""Samplers: the objects that draw the hyperparameters of each child run of a sweep.

``make_sampler(spec)`` builds the sampler of a validated sweep spec
(``kyanite.sweep.spec.check_spec``, plus the ``seed`` the server adds). Every sampler has one
method, ``sample(index, history)``, whose contract is:

- ``index``: the number of the child (0, 1, 2...) among those the sampling makes;
- ``history``: what the sweep knows so far, one dict per earlier child (and per child of
  the ``resume_from`` sweeps): ``params`` (``{name: value}``), ``value`` (its best primary
  metric, or None) and ``status`` (a ``RunStatus``, or None);
- returns a ``{name: value}`` dict in parameter-space order, or None when the space is
  exhausted (a grid, or a fully discrete random space, has been used up).

Random, Sobol and grid samplers are pure functions of ``(seed, index)`` (random ones only
skip combinations already in ``history``), so a controller that restarts picks up where it
was; the Bayesian sampler is rebuilt from ``history`` on every call.
"""

import itertools
import math
import random
import warnings

from kyanite.exceptions import UserErrorException
from kyanite.protocol.states import RunStatus
from kyanite.sweep.expressions import discrete_size, is_discrete, quantize, value_from_unit
from kyanite.sweep.sampling import BAYESIAN, GRID, grid_size

__all__ = ["make_sampler", "GridSampler", "RandomSampler", "SobolSampler", "BayesianSampler"]


def make_sampler(spec):
    """The sampler of a validated sweep spec (``kyanite.sweep.spec.check_spec`` plus ``seed``);
    raises ``UserErrorException`` when the sampling cannot run here (Sobol without scipy)."""
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
    """Child ``index`` gets combination ``index`` of the choice options (the first parameter
    varies slowest); None past the grid size. ``history`` is not used."""

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
