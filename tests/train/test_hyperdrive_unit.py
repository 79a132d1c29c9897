"""The SDK v1 facade ``kyanite.train.hyperdrive``: its names and module paths, and the
validation ``HyperDriveConfig`` does before anything is submitted. The sweep logic itself
is tested in tests/sweep."""

import pytest

from kyanite.exceptions import UserErrorException
from kyanite.train.hyperdrive import (
    BanditPolicy, BayesianParameterSampling, HyperDriveConfig, NoTerminationPolicy, PrimaryMetricGoal,
    RandomParameterSampling, choice, uniform,
)


class FakeScript(object):
    def _definition(self, experiment):
        raise AssertionError("not submitted in unit tests")


def test_bayesian_sampling_refuses_policies():
    ps = BayesianParameterSampling({"x": uniform(0, 1)})
    with pytest.raises(UserErrorException, match="BanditPolicy cannot be used"):
        HyperDriveConfig(run_config=FakeScript(), hyperparameter_sampling=ps, policy=BanditPolicy(slack_factor=0.1),
                         primary_metric_name="acc", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE, max_total_runs=4)
    HyperDriveConfig(run_config=FakeScript(), hyperparameter_sampling=ps, policy=NoTerminationPolicy(),
                     primary_metric_name="acc", primary_metric_goal="maximize", max_total_runs=4)


@pytest.mark.parametrize("kwargs, message", [
    (dict(max_total_runs=None), "max_total_runs is required"),
    (dict(max_total_runs=0), "max_total_runs must be a positive integer"),
    (dict(max_concurrent_runs=-1), "max_concurrent_runs"),
    (dict(primary_metric_name=""), "primary_metric_name"),
    (dict(primary_metric_goal="biggest"), "primary_metric_goal"),
    (dict(max_duration_minutes=0), "max_duration_minutes"),
    (dict(resume_from=["a", "b", "c", "d", "e", "f"]), "at most 5"),
    (dict(policy="bandit"), "policy must be"),
    (dict(hyperparameter_sampling={"x": uniform(0, 1)}), "hyperparameter_sampling must be"),
])
def test_bad_configs_are_refused(kwargs, message):
    args = dict(run_config=FakeScript(), hyperparameter_sampling=RandomParameterSampling({"x": uniform(0, 1)}),
                primary_metric_name="acc", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE, max_total_runs=4)
    args.update(kwargs)
    with pytest.raises(UserErrorException, match=message):
        HyperDriveConfig(**args)


def test_the_v1_module_paths_import():
    from kyanite.train.hyperdrive.parameter_expressions import choice as c2, uniform as u2  # noqa: F401
    from kyanite.train.hyperdrive.policy import BanditPolicy as B2
    from kyanite.train.hyperdrive.run import HyperDriveRun, PrimaryMetricGoal as G2  # noqa: F401
    from kyanite.train.hyperdrive.runconfig import HyperDriveConfig as H2
    from kyanite.train.hyperdrive.sampling import RandomParameterSampling as R2
    assert (B2, G2, H2, R2, c2) == (BanditPolicy, PrimaryMetricGoal, HyperDriveConfig, RandomParameterSampling, choice)
    assert PrimaryMetricGoal.from_str("maximize") is PrimaryMetricGoal.MAXIMIZE


def test_the_facade_names_are_the_sweep_packages_own():
    import kyanite.sweep
    import kyanite.train.hyperdrive as hd
    from kyanite.train.hyperdrive import parameter_expressions, policy, sampling
    for module in (hd, parameter_expressions, policy, sampling):
        for name in module.__all__:
            if hasattr(kyanite.sweep, name):
                assert getattr(module, name) is getattr(kyanite.sweep, name), (module.__name__, name)
    assert "check_spec" not in hd.__all__ and "evaluate" not in policy.__all__  # the v1 names only
