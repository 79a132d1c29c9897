"""SDK v1 path of ComputeTargetException (``azureml.core.compute_target``)."""

from kyanite.core.compute import ComputeTarget
from kyanite.exceptions import ComputeTargetException

__all__ = ["ComputeTarget", "ComputeTargetException"]
