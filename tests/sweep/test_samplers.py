"""kyanite.sweep.sampling and kyanite.sweep.samplers: what each sampling draws, given its
serialized form and the sweep's history."""

import json
import math

import pytest

from kyanite.exceptions import UserErrorException
from kyanite.sweep import (
    BayesianParameterSampling, GridParameterSampling, RandomParameterSampling, check_sampling, check_spec, choice,
    lognormal, loguniform, make_sampler, normal, qlognormal, qnormal, quniform, randint, uniform,
)


def spec_of(sampling, total=10, goal="maximize", policy=None, seed=1):
    s = check_spec({"sampling": sampling.to_json(), "policy": policy.to_json() if policy else None,
                    "primaryMetricName": "acc", "primaryMetricGoal": goal, "maxTotalRuns": total})
    s["seed"] = seed
    return s


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


def test_the_serialized_sampling_round_trips_through_check_sampling():
    ps = RandomParameterSampling({"--lr": loguniform(-6, -1)}, seed=4, rule="sobol")
    assert ps.to_json() == {"name": "random", "parameterSpace": {"--lr": ["loguniform", [-6, -1]]},
                            "properties": {"seed": 4, "rule": "sobol"}}
    assert check_sampling(json.loads(json.dumps(ps.to_json()))) == ps.to_json()
    with pytest.raises(UserErrorException, match="must be a RandomParameterSampling"):
        check_sampling({"name": "halton", "parameterSpace": {"x": uniform(0, 1)}})
    with pytest.raises(UserErrorException, match="without spaces"):
        check_sampling({"name": "random", "parameterSpace": {"learning rate": uniform(0, 1)}})


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


def test_bayesian_sampling_refuses_other_expressions():
    with pytest.raises(UserErrorException, match="choice, uniform and quniform only.*loguniform"):
        BayesianParameterSampling({"lr": loguniform(-6, -1)})
