"""SDK v1 module path ``azureml.train.hyperdrive.runconfig``."""

from kyanite.train.hyperdrive._config import HyperDriveConfig, HyperDriveRunConfig  # noqa: F401

__all__ = ["HyperDriveConfig", "HyperDriveRunConfig"]
