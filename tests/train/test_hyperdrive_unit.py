"""Parameter expressions, samplings, policies and config validation, without a server."""

import json
import math

import pytest

from kyanite.exceptions import UserErrorException
from kyanite.train.hyperdrive import (
    BanditPolicy, BayesianParameterSampling, GridParameterSampling, HyperDriveConfig, MedianStoppingPolicy,
    NoTerminationPolicy, PrimaryMetricGoal, RandomParameterSampling, TruncationSelectionPolicy, choice,
    lognormal, loguniform, normal, qlognormal, qloguniform, qnormal, quniform, randint, uniform,
)
from kyanite.train.hyperdrive._config import check_spec
from kyanite.train.hyperdrive._expressions import value_from_unit
from kyanite.train.hyperdrive._policy import evaluate
from kyanite.train.hyperdrive._run_args import child_arguments
from kyanite.train.hyperdrive._sampling import make_sampler


class FakeScript(object):
    def _definition(self, experiment):
        raise AssertionError("not submitted in unit tests")


def spec_of(sampling, total=10, goal="maximize", policy=None, seed=1):
    s = check_spec({"sampling": sampling.to_json(), "policy": policy.to_json() if policy else None,
                    "primaryMetricName": "acc", "primaryMetricGoal": goal, "maxTotalRuns": total})
    s["seed"] = seed
    return s


# -- expressions ------------------------------------------------------------------------------
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


def test_every_expression_samples_in_its_range():
    sampler = make_sampler(spec_of(RandomParameterSampling({
        "c": choice("a", "b"), "r": randint(4), "u": uniform(2, 3), "qu": quniform(0, 10, 2),
        "lu": loguniform(-2, 0), "n": normal(0, 1), "qn": qnormal(100, 10, 5), "ln": lognormal(0, 0.5),
        "qln": qlognormal(2, 0.3, 1)}, seed=3)))
    for i in range(200):
        p = sampler.sample(i, [])
        assert p["c"] in ("a", "b")
        assert p["r"] in range(4) and isinstance(p["r"], int)
        assert 2 <= p["u"] <= 3
        assert p["qu"] in (0, 2, 4, 6, 8, 10) and isinstance(p["qu"], int)
        assert math.exp(-2) <= p["lu"] <= 1
        assert p["qn"] % 5 == 0 and isinstance(p["qn"], int)
        assert p["ln"] > 0 and p["qln"] >= 0


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


# -- samplings ----------------------------------------------------------------------------------
def test_grid_enumerates_every_combination_in_order_then_stops():
    g = GridParameterSampling({"--a": choice(1, 2), "--b": choice("x", "y", "z")})
    assert g.grid_size == 6
    spec = spec_of(g, total=None)
    assert spec["maxTotalRuns"] == 6  # defaults to the grid size
    s = make_sampler(spec)
    got = [s.sample(i, []) for i in range(7)]
    assert got[:3] == [{"--a": 1, "--b": "x"}, {"--a": 1, "--b": "y"}, {"--a": 1, "--b": "z"}]
    assert got[6] is None and len(set(json.dumps(p) for p in got[:6])) == 6
    assert spec_of(g, total=50)["maxTotalRuns"] == 6


def test_grid_refuses_a_continuous_expression():
    with pytest.raises(UserErrorException, match="choice.. expressions only.*'--lr' is uniform"):
        GridParameterSampling({"--batch": choice(1, 2), "--lr": uniform(0, 1)})


def test_random_sampling_is_a_function_of_seed_and_index():
    ps = RandomParameterSampling({"--lr": loguniform(-6, -1), "--bs": choice(16, 32)}, seed=42)
    a, b = make_sampler(spec_of(ps)), make_sampler(spec_of(ps))
    assert [a.sample(i, []) for i in range(5)] == [b.sample(i, []) for i in range(5)]
    assert a.sample(0, []) != a.sample(1, [])
    other = make_sampler(spec_of(RandomParameterSampling(ps.parameter_space, seed=43)))
    assert other.sample(0, []) != a.sample(0, [])


def test_random_sampling_of_a_discrete_space_never_repeats_and_runs_out():
    s = make_sampler(spec_of(RandomParameterSampling({"a": choice(1, 2, 3), "b": randint(2)}, seed=1)))
    history = []
    for i in range(6):
        p = s.sample(i, history)
        assert p is not None
        history.append({"params": p})
    assert len(set(json.dumps(h["params"], sort_keys=True) for h in history)) == 6
    assert s.sample(6, history) is None


def test_sobol_rule_covers_the_unit_interval_evenly():
    pytest.importorskip("scipy")
    s = make_sampler(spec_of(RandomParameterSampling({"x": uniform(0, 1)}, properties={"rule": "sobol", "seed": 9})))
    xs = sorted(s.sample(i, [])["x"] for i in range(16))
    # a scrambled Sobol sequence puts one point in each sixteenth of [0, 1)
    assert [int(x * 16) for x in xs] == list(range(16))
    with pytest.raises(UserErrorException, match="rule"):
        RandomParameterSampling({"x": uniform(0, 1)}, rule="halton")


def test_bayesian_sampling_learns_from_history():
    ps = BayesianParameterSampling({"x": uniform(0, 1), "k": quniform(1, 5, 1), "c": choice("p", "q")})
    spec = spec_of(ps, total=40)
    s = make_sampler(spec)
    history = []
    for i in range(30):
        p = s.sample(i, history)
        assert 0 <= p["x"] <= 1 and p["k"] in (1, 2, 3, 4, 5) and p["c"] in ("p", "q")
        history.append({"params": p, "value": -abs(p["x"] - 0.8) - (0.5 if p["c"] == "q" else 0),
                        "status": "Completed"})
    late = [h["params"] for h in history[-10:]]
    assert sum(1 for p in late if abs(p["x"] - 0.8) < 0.2) >= 6
    assert sum(1 for p in late if p["c"] == "p") >= 7


def test_bayesian_sampling_refuses_other_expressions_and_policies():
    with pytest.raises(UserErrorException, match="choice, uniform and quniform only.*loguniform"):
        BayesianParameterSampling({"lr": loguniform(-6, -1)})
    ps = BayesianParameterSampling({"x": uniform(0, 1)})
    with pytest.raises(UserErrorException, match="BanditPolicy cannot be used"):
        HyperDriveConfig(run_config=FakeScript(), hyperparameter_sampling=ps, policy=BanditPolicy(slack_factor=0.1),
                         primary_metric_name="acc", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE, max_total_runs=4)
    HyperDriveConfig(run_config=FakeScript(), hyperparameter_sampling=ps, policy=NoTerminationPolicy(),
                     primary_metric_name="acc", primary_metric_goal="maximize", max_total_runs=4)


# -- config validation ---------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [
    (dict(max_total_runs=None), "max_total_runs is required"),
    (dict(max_total_runs=0), "max_total_runs must be a positive integer"),
    (dict(max_concurrent_runs=-1), "max_concurrent_runs"),
    (dict(primary_metric_name=""), "primary_metric_name"),
    (dict(primary_metric_goal="biggest"), "primary_metric_goal"),
    (dict(max_duration_minutes=0), "max_duration_minutes"),
    (dict(resume_from=["a", "b", "c", "d", "e", "f"]), "at most 5"),
    (dict(policy="bandit"), "policy must be"),
])
def test_bad_configs_are_refused(kwargs, message):
    args = dict(run_config=FakeScript(), hyperparameter_sampling=RandomParameterSampling({"x": uniform(0, 1)}),
                primary_metric_name="acc", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE, max_total_runs=4)
    args.update(kwargs)
    with pytest.raises(UserErrorException, match=message):
        HyperDriveConfig(**args)


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


def test_sampled_values_go_into_the_arguments():
    args = child_arguments(["--epochs", "3", "--lr", "0.001", "--seed=1"],
                           {"--lr": 0.25, "--seed": 7, "batch_size": 64, "--flag": True}, resume_from="/x/outputs")
    assert args == ["--epochs", "3", "--lr", "0.25", "--seed=7", "--batch_size", "64", "--flag", "True",
                    "--resume-from", "/x/outputs"]


# -- policies -------------------------------------------------------------------------------------
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


def test_the_v1_module_paths_import():
    from kyanite.train.hyperdrive.parameter_expressions import choice as c2, uniform as u2  # noqa: F401
    from kyanite.train.hyperdrive.policy import BanditPolicy as B2
    from kyanite.train.hyperdrive.run import HyperDriveRun, PrimaryMetricGoal as G2  # noqa: F401
    from kyanite.train.hyperdrive.runconfig import HyperDriveConfig as H2
    from kyanite.train.hyperdrive.sampling import RandomParameterSampling as R2
    assert (B2, G2, H2, R2, c2) == (BanditPolicy, PrimaryMetricGoal, HyperDriveConfig, RandomParameterSampling, choice)
    assert PrimaryMetricGoal.from_str("maximize") is PrimaryMetricGoal.MAXIMIZE
