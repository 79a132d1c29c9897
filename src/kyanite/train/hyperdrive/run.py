"""SDK v1 module path ``azureml.train.hyperdrive.run``."""

from kyanite.sweep.spec import PrimaryMetricGoal  # noqa: F401
from kyanite.train.hyperdrive._run import HyperDriveRun  # noqa: F401

__all__ = ["HyperDriveRun", "PrimaryMetricGoal"]
