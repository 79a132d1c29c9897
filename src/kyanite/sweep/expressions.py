"""Parameter expressions: the distributions a sweep samples hyperparameters from.

Each function returns the SDK v1 serialized form, a JSON-able list ``[kind, [args]]``
(``choice(1, 2)`` is ``["choice", [[1, 2]]]``), so a parameter space is plain data that
travels to the workspace server inside the sweep definition.

Meanings (as in SDK v1):

- ``choice(*options)``: one of the options (give them as arguments, a list or a range).
- ``randint(upper)``: an integer in ``[0, upper)``.
- ``uniform(lo, hi)``: uniform in ``[lo, hi]``; ``quniform(lo, hi, q)``: ``round(uniform(lo, hi) / q) * q``.
- ``loguniform(lo, hi)``: ``exp(uniform(lo, hi))``; the bounds are natural-log exponents, so
  ``loguniform(-6, -1)`` ranges over ``[e**-6, e**-1]`` = ``[0.0025, 0.37]``.
  ``qloguniform(lo, hi, q)``: ``round(exp(uniform(lo, hi)) / q) * q``.
- ``normal(mu, sigma)``, ``qnormal(mu, sigma, q)``, ``lognormal(mu, sigma)`` (``exp(normal)``),
  ``qlognormal(mu, sigma, q)``.

Quantized values whose ``q`` is an integer come out as ``int`` (so ``--batch-size 64``, not
``64.0``); ``randint`` gives ints; ``choice`` gives the option itself.

``value_from_unit(expr, u)`` maps a number ``u`` in ``[0, 1)`` to a value of the expression
(inverse CDF); random and Sobol sampling both go through it. ``check_expression(name, expr)``
validates a deserialized expression (from the SDK or an HTTP body) and returns it normalized,
or raises ``UserErrorException`` naming the hyperparameter and what is wrong.
"""

import math
import numbers
from statistics import NormalDist

from kyanite.exceptions import UserErrorException

__all__ = ["choice", "randint", "uniform", "quniform", "loguniform", "qloguniform",
           "normal", "qnormal", "lognormal", "qlognormal", "check_expression", "value_from_unit", "KINDS"]

#: kind -> number of numeric arguments
_ARITY = {"randint": 1, "uniform": 2, "quniform": 3, "loguniform": 2, "qloguniform": 3,
          "normal": 2, "qnormal": 3, "lognormal": 2, "qlognormal": 3}
KINDS = ("choice",) + tuple(_ARITY)
_STD_NORMAL = NormalDist()


def choice(*options):
    """One of ``options``: ``choice(16, 32, 64)``, ``choice([16, 32, 64])`` or ``choice(range(1, 5))``."""
    if len(options) == 1 and isinstance(options[0], (list, tuple, range)):
        options = options[0]
    values = list(options)
    if not values:
        raise UserErrorException("choice() needs at least one option.")
    for v in values:
        if v is not None and not isinstance(v, (str, bool, numbers.Real)):
            raise UserErrorException("choice() options must be numbers, strings or booleans; got %r (%s)."
                                     % (v, type(v).__name__))
    return ["choice", [[v.item() if hasattr(v, "item") else v for v in values]]]


def randint(upper):
    """An integer in ``[0, upper)``."""
    return _check(["randint", [upper]])


def uniform(min_value, max_value):
    """A float uniformly distributed between ``min_value`` and ``max_value``."""
    return _check(["uniform", [min_value, max_value]])


def quniform(min_value, max_value, q):
    """``round(uniform(min_value, max_value) / q) * q``."""
    return _check(["quniform", [min_value, max_value, q]])


def loguniform(min_value, max_value):
    """``exp(uniform(min_value, max_value))``: the bounds are natural-log exponents."""
    return _check(["loguniform", [min_value, max_value]])


def qloguniform(min_value, max_value, q):
    """``round(exp(uniform(min_value, max_value)) / q) * q``."""
    return _check(["qloguniform", [min_value, max_value, q]])


def normal(mu, sigma):
    """A normally distributed float with mean ``mu`` and standard deviation ``sigma``."""
    return _check(["normal", [mu, sigma]])


def qnormal(mu, sigma, q):
    """``round(normal(mu, sigma) / q) * q``."""
    return _check(["qnormal", [mu, sigma, q]])


def lognormal(mu, sigma):
    """``exp(normal(mu, sigma))``."""
    return _check(["lognormal", [mu, sigma]])


def qlognormal(mu, sigma, q):
    """``round(exp(normal(mu, sigma)) / q) * q``."""
    return _check(["qlognormal", [mu, sigma, q]])


def check_expression(name, expr):
    """Validate a (possibly deserialized) expression; returns it as ``[kind, args]``."""
    if not (isinstance(expr, (list, tuple)) and len(expr) == 2 and isinstance(expr[0], str)
            and isinstance(expr[1], (list, tuple))):
        raise UserErrorException(
            "Hyperparameter %r: %r is not a parameter expression. Use choice(...), uniform(...), "
            "loguniform(...) and the other functions of kyanite.train.hyperdrive." % (name, expr))
    kind = expr[0]
    if kind == "choice":
        if len(expr[1]) != 1 or not isinstance(expr[1][0], (list, tuple)):
            raise UserErrorException("Hyperparameter %r: a choice must hold one list of options." % name)
        return ["choice", [list(choice(*expr[1][0])[1][0])]]
    if kind not in _ARITY:
        raise UserErrorException("Hyperparameter %r: unknown expression %r; known: %s." % (
            name, kind, ", ".join(KINDS)))
    try:
        return _check([kind, list(expr[1])])
    except UserErrorException as exc:
        raise UserErrorException("Hyperparameter %r: %s" % (name, exc.message))


def _check(expr):
    kind, args = expr
    if len(args) != _ARITY[kind]:
        raise UserErrorException("%s() takes %d arguments, got %d." % (kind, _ARITY[kind], len(args)))
    for a in args:
        if isinstance(a, bool) or not isinstance(a, numbers.Real) or not math.isfinite(a):
            raise UserErrorException("%s() arguments must be finite numbers, got %r." % (kind, a))
    args = [a.item() if hasattr(a, "item") else a for a in args]
    if kind == "randint":
        if int(args[0]) != args[0] or args[0] < 1:
            raise UserErrorException("randint(upper) needs an integer upper >= 1, got %r." % args[0])
        args = [int(args[0])]
    elif kind in ("uniform", "quniform", "loguniform", "qloguniform"):
        if args[0] > args[1]:
            raise UserErrorException("%s(min_value, max_value): min_value %r is above max_value %r." % (
                kind, args[0], args[1]))
    else:
        if args[1] < 0:
            raise UserErrorException("%s(mu, sigma): sigma must be >= 0, got %r." % (kind, args[1]))
    if kind.startswith("q") and args[-1] <= 0:
        raise UserErrorException("%s(): q must be > 0, got %r." % (kind, args[-1]))
    return [kind, args]


def grid_options(name, expr):
    """The options of a choice, for grid sampling; anything else is refused."""
    if expr[0] != "choice":
        raise UserErrorException(
            "GridParameterSampling takes choice() expressions only; hyperparameter %r is %s(...). "
            "Use RandomParameterSampling or BayesianParameterSampling for continuous ranges, "
            "or list the values to try with choice()." % (name, expr[0]))
    return expr[1][0]


def is_discrete(expr):
    return expr[0] in ("choice", "randint")


def discrete_size(expr):
    return len(expr[1][0]) if expr[0] == "choice" else expr[1][0]


def quantize(x, q):
    v = round(x / q) * q
    if float(q).is_integer():
        return int(round(v))
    # keep the float tidy (0.30000000000000004 -> 0.3) at q's precision
    digits = max(0, -int(math.floor(math.log10(q)))) + 6
    return round(v, digits)


def value_from_unit(expr, u):
    """The value of ``expr`` at quantile ``u`` in ``[0, 1)``."""
    kind, args = expr
    u = min(max(float(u), 0.0), 1.0 - 1e-12)
    if kind == "choice":
        opts = args[0]
        return opts[min(int(u * len(opts)), len(opts) - 1)]
    if kind == "randint":
        return min(int(u * args[0]), args[0] - 1)
    if kind in ("uniform", "quniform"):
        x = args[0] + u * (args[1] - args[0])
        return quantize(x, args[2]) if kind == "quniform" else x
    if kind in ("loguniform", "qloguniform"):
        x = math.exp(args[0] + u * (args[1] - args[0]))
        return quantize(x, args[2]) if kind == "qloguniform" else x
    # normal family: the inverse normal CDF of u
    z = _STD_NORMAL.inv_cdf(min(max(u, 1e-12), 1.0 - 1e-12))
    x = args[0] + args[1] * z
    if kind in ("lognormal", "qlognormal"):
        x = math.exp(x)
    if kind in ("qnormal", "qlognormal"):
        return quantize(x, args[2])
    return x
