"""Samplings: the serialized description of how a sweep picks each child's hyperparameters.

``RandomParameterSampling``, ``GridParameterSampling`` and ``BayesianParameterSampling``
hold a parameter space (``{name: expression}``, see ``kyanite.sweep.expressions``) and
properties; they validate both when built.

Serialization contract: ``sampling.to_json()`` is
``{"name": "random" | "grid" | "bayesian", "parameterSpace": {name: [kind, args]},
"properties": {...}}`` (random: optional ``seed`` (int) and ``rule`` (``"random"`` or
``"sobol"``)). ``check_sampling(obj)`` validates such a dict, wherever it came from (the SDK,
or an HTTP body), and returns it normalized, or raises ``UserErrorException`` with a
sentence that says what is wrong. The objects that draw values from a sampling are in
``kyanite.sweep.samplers``.
"""

from kyanite.exceptions import UserErrorException
from kyanite.sweep.expressions import check_expression, grid_options

__all__ = ["HyperParameterSampling", "RandomParameterSampling", "GridParameterSampling",
           "BayesianParameterSampling", "check_sampling", "grid_size"]

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
