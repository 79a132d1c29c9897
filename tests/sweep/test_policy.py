"""kyanite.sweep.policy: the policies' validation and ``evaluate``, the pure function that says
which running children to stop."""

import math

import pytest

from kyanite.exceptions import UserErrorException
from kyanite.sweep.policy import (
    BanditPolicy, MedianStoppingPolicy, NoTerminationPolicy, TruncationSelectionPolicy, check_policy, evaluate,
)


@pytest.mark.parametrize("make, message", [
    (lambda: BanditPolicy(), "exactly one of slack_factor"),
    (lambda: BanditPolicy(slack_factor=0.1, slack_amount=0.2), "exactly one of slack_factor"),
    (lambda: BanditPolicy(slack_factor=-1), "slack_factor"),
    (lambda: BanditPolicy(evaluation_interval=0, slack_factor=0.1), "evaluation_interval"),
    (lambda: TruncationSelectionPolicy(truncation_percentage=100), "1 to 99"),
    (lambda: MedianStoppingPolicy(delay_evaluation=-1), "delay_evaluation"),
])
def test_bad_policies_are_refused(make, message):
    with pytest.raises(UserErrorException, match=message):
        make()


def test_no_termination_serializes_to_none():
    assert check_policy(NoTerminationPolicy().to_json()) is None
    assert check_policy(None) is None
    assert evaluate(None, "maximize", {"a": [0.0]}, ["a"]) == {}
    with pytest.raises(UserErrorException, match="policy must be"):
        check_policy({"name": "Sometimes"})


def curve(q, n):
    return [q * (1 - math.exp(-e)) for e in range(1, n + 1)]


def test_bandit_slack_factor_and_amount():
    series = {"best": curve(0.95, 4), "near": curve(0.9, 4), "weak": curve(0.5, 4)}
    policy = BanditPolicy(evaluation_interval=1, slack_factor=0.2).to_json()
    assert set(evaluate(policy, "maximize", series, ["best", "near", "weak"])) == {"weak"}
    reason = evaluate(policy, "maximize", series, ["weak"], "Accuracy")["weak"]
    assert "BanditPolicy at interval 4" in reason and "Accuracy" in reason
    amount = BanditPolicy(slack_amount=0.03).to_json()
    assert set(evaluate(amount, "maximize", series, list(series))) == {"near", "weak"}
    # minimizing a loss: 1.0 is outside 0.2 * (1 + 0.5) = 0.3, 0.25 is inside
    losses = {"a": [0.5, 0.2], "b": [0.6, 0.25], "c": [2.0, 1.0]}
    assert set(evaluate(BanditPolicy(slack_factor=0.5).to_json(), "minimize", losses, list(losses))) == {"c"}


def test_bandit_respects_interval_and_delay():
    series = {"best": curve(0.95, 5), "weak": curve(0.1, 5)}
    delayed = BanditPolicy(evaluation_interval=2, slack_factor=0.1, delay_evaluation=6).to_json()
    assert evaluate(delayed, "maximize", series, ["weak"]) == {}
    series["weak"] = curve(0.1, 6)
    assert "interval 6" in evaluate(delayed, "maximize", series, ["weak"])["weak"]
    # the weak run is judged against what the others reached by the same interval only
    early = {"best": [0.0, 0.0, 0.9], "weak": [0.1, 0.1]}
    assert evaluate(BanditPolicy(slack_factor=0.1).to_json(), "maximize", early, ["weak"]) == {}


def test_median_stopping():
    series = {"a": curve(0.95, 3), "b": curve(0.9, 3), "c": curve(0.5, 3), "d": curve(0.2, 3)}
    policy = MedianStoppingPolicy(evaluation_interval=1, delay_evaluation=3).to_json()
    assert set(evaluate(policy, "maximize", series, list(series))) == {"c", "d"}
    assert evaluate(policy, "maximize", {"a": curve(0.1, 3)}, ["a"]) == {}  # nobody to compare with


def test_truncation_selection():
    series = {"a": curve(0.95, 3), "b": curve(0.9, 3), "c": curve(0.5, 3), "d": curve(0.2, 3)}
    assert set(evaluate(TruncationSelectionPolicy(25).to_json(), "maximize", series, list(series))) == {"d"}
    assert set(evaluate(TruncationSelectionPolicy(50).to_json(), "maximize", series, list(series))) == {"c", "d"}
    # too few runs to cut any: nobody is stopped
    assert evaluate(TruncationSelectionPolicy(25).to_json(), "maximize", {"a": [1], "d": [0]}, ["d"]) == {}
    # a run ahead of the others is ranked at the latest interval they all reached
    ahead = dict(series, d=curve(0.2, 6))
    assert "interval 3" in evaluate(TruncationSelectionPolicy(25).to_json(), "maximize", ahead, ["d"])["d"]
    # ties are spared
    tie = {"a": [1.0], "b": [1.0], "c": [1.0], "d": [1.0]}
    assert evaluate(TruncationSelectionPolicy(25).to_json(), "maximize", tie, list(tie)) == {}
