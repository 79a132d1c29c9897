"""SDK v1 module path ``azureml.train.hyperdrive.parameter_expressions``."""

from kyanite.sweep.expressions import (  # noqa: F401
    choice, lognormal, loguniform, normal, qlognormal, qloguniform, qnormal, quniform, randint, uniform,
)

__all__ = ["choice", "randint", "uniform", "quniform", "loguniform", "qloguniform",
           "normal", "qnormal", "lognormal", "qlognormal"]
