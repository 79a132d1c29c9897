"""SDK v1 module path ``azureml.train.hyperdrive.parameter_expressions``."""

from kyanite.train.hyperdrive._expressions import (  # noqa: F401
    choice, lognormal, loguniform, normal, qlognormal, qloguniform, qnormal, quniform, randint, uniform,
)
from kyanite.train.hyperdrive._expressions import __all__  # noqa: F401
