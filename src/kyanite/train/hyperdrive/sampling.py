"""SDK v1 module path ``azureml.train.hyperdrive.sampling``."""

from kyanite.sweep.sampling import (  # noqa: F401
    BayesianParameterSampling, GridParameterSampling, HyperParameterSampling, RandomParameterSampling,
)

__all__ = ["HyperParameterSampling", "RandomParameterSampling", "GridParameterSampling",
           "BayesianParameterSampling"]
