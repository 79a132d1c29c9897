"""kyanite.sweep.expressions: the serialized form, the ranges and the refusals."""

import math

import pytest

from kyanite.exceptions import UserErrorException
from kyanite.sweep.expressions import (
    check_expression, choice, loguniform, normal, qloguniform, qnormal, quniform, randint, uniform, value_from_unit,
)


def test_expressions_have_the_v1_serialized_form():
    assert choice(1, 2, 3) == ["choice", [[1, 2, 3]]]
    assert choice([1, 2]) == choice(1, 2) == ["choice", [[1, 2]]]
    assert choice(range(3)) == ["choice", [[0, 1, 2]]]
    assert randint(5) == ["randint", [5]]
    assert uniform(0.5, 1.5) == ["uniform", [0.5, 1.5]]
    assert loguniform(-6, -1) == ["loguniform", [-6, -1]]
    assert qnormal(10, 2, 1) == ["qnormal", [10, 2, 1]]


def test_loguniform_bounds_are_natural_log_exponents():
    expr = loguniform(-6, -1)
    assert value_from_unit(expr, 0.0) == pytest.approx(math.exp(-6))
    assert value_from_unit(expr, 0.999999999) == pytest.approx(math.exp(-1))
    assert value_from_unit(qloguniform(0, math.log(100), 5), 0.999999999) == 100


@pytest.mark.parametrize("bad, message", [
    (lambda: uniform(2, 1), "min_value 2 is above"),
    (lambda: randint(0), "randint"),
    (lambda: quniform(0, 1, 0), "q must be > 0"),
    (lambda: normal(0, -1), "sigma"),
    (lambda: uniform("a", 1), "finite numbers"),
    (lambda: choice(), "at least one"),
    (lambda: choice([1], [2]), "must be numbers"),
])
def test_bad_expressions_are_refused(bad, message):
    with pytest.raises(UserErrorException, match=message):
        bad()


def test_a_deserialized_expression_is_checked_with_its_name():
    assert check_expression("--lr", ("uniform", (0, 1))) == ["uniform", [0, 1]]
    with pytest.raises(UserErrorException, match="'--lr': unknown expression 'gauss'"):
        check_expression("--lr", ["gauss", [0, 1]])
    with pytest.raises(UserErrorException, match="'--lr': 3 is not a parameter expression"):
        check_expression("--lr", 3)
