"""Hyperparameter sweeps with the shape of ``azureml.train.hyperdrive`` (SDK v1).

```python
from kyanite.train.hyperdrive import (RandomParameterSampling, BanditPolicy, HyperDriveConfig,
                                      PrimaryMetricGoal, choice, loguniform)
ps = RandomParameterSampling({'--batch-size': choice(25, 50, 100),
                              '--learning-rate': loguniform(-6, -1)})
hd = HyperDriveConfig(run_config=src, hyperparameter_sampling=ps,
                      policy=BanditPolicy(evaluation_interval=2, slack_factor=0.1),
                      primary_metric_name='Accuracy', primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
                      max_total_runs=20, max_concurrent_runs=4)
hd_run = Experiment(ws, 'keras-mnist').submit(hd)
hd_run.wait_for_completion(show_output=True)
best = hd_run.get_best_run_by_primary_metric()
```

The sweep runs in the workspace server (``kyanite.server.sweeps``): each child is an
ordinary run on the compute target with the sampled values in its arguments. This package
is the SDK v1 facade: the expressions, samplings and policies live in ``kyanite.sweep``.
"""

from kyanite.sweep.expressions import (
    choice, lognormal, loguniform, normal, qlognormal, qloguniform, qnormal, quniform, randint, uniform,
)
from kyanite.sweep.policy import (
    BanditPolicy, EarlyTerminationPolicy, MedianStoppingPolicy, NoTerminationPolicy, TruncationSelectionPolicy,
)
from kyanite.sweep.sampling import (
    BayesianParameterSampling, GridParameterSampling, HyperParameterSampling, RandomParameterSampling,
)
from kyanite.sweep.spec import PrimaryMetricGoal
from kyanite.train.hyperdrive._config import HyperDriveConfig, HyperDriveRunConfig
from kyanite.train.hyperdrive._run import HyperDriveRun

__all__ = [
    "HyperDriveConfig", "HyperDriveRunConfig", "HyperDriveRun", "PrimaryMetricGoal",
    "HyperParameterSampling", "RandomParameterSampling", "GridParameterSampling", "BayesianParameterSampling",
    "EarlyTerminationPolicy", "BanditPolicy", "MedianStoppingPolicy", "TruncationSelectionPolicy",
    "NoTerminationPolicy",
    "choice", "randint", "uniform", "quniform", "loguniform", "qloguniform", "normal", "qnormal",
    "lognormal", "qlognormal",
]
