"""SDK v1 module path ``azureml.train.hyperdrive.sampling``."""

from kyanite.train.hyperdrive._sampling import (  # noqa: F401
    BayesianParameterSampling, GridParameterSampling, HyperParameterSampling, RandomParameterSampling,
)
from kyanite.train.hyperdrive._sampling import __all__  # noqa: F401
