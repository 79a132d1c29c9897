"""kyanite.sweep.spec: the validated form of a whole sweep, as the server receives it."""

import pytest

from kyanite.exceptions import UserErrorException
from kyanite.sweep import (
    BanditPolicy, BayesianParameterSampling, PrimaryMetricGoal, RandomParameterSampling, check_spec, goal_of, uniform,
)


def body(**over):
    spec = {"sampling": RandomParameterSampling({"x": uniform(0, 1)}).to_json(), "policy": None,
            "primaryMetricName": "acc", "primaryMetricGoal": "MAXIMIZE", "maxTotalRuns": 4}
    spec.update(over)
    return spec


def test_a_spec_is_normalized_and_keeps_unknown_keys():
    out = check_spec(body(extra=1, resumeFrom=["HD_1"]))
    assert out["primaryMetricGoal"] == "maximize" and out["maxDurationMinutes"] == 10080
    assert out["resumeFrom"] == ["HD_1"] and out["resumeChildRuns"] == [] and out["extra"] == 1
    assert goal_of("minimize") is PrimaryMetricGoal.MINIMIZE


@pytest.mark.parametrize("over, message", [
    (dict(maxTotalRuns=None), "max_total_runs is required"),
    (dict(maxTotalRuns=0), "max_total_runs must be a positive integer"),
    (dict(maxConcurrentRuns=-1), "max_concurrent_runs"),
    (dict(primaryMetricName=""), "primary_metric_name"),
    (dict(primaryMetricGoal="biggest"), "primary_metric_goal"),
    (dict(maxDurationMinutes=0), "max_duration_minutes"),
    (dict(resumeFrom=["a", "b", "c", "d", "e", "f"]), "at most 5"),
    (dict(policy="bandit"), "policy must be"),
    (dict(sampling=BayesianParameterSampling({"x": uniform(0, 1)}).to_json(),
          policy=BanditPolicy(slack_factor=0.1).to_json()), "BanditPolicy cannot be used"),
])
def test_bad_specs_are_refused(over, message):
    with pytest.raises(UserErrorException, match=message):
        check_spec(body(**over))
    with pytest.raises(UserErrorException, match="must be a JSON object"):
        check_spec([])
