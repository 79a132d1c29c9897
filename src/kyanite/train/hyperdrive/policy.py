"""SDK v1 module path ``azureml.train.hyperdrive.policy``."""

from kyanite.sweep.policy import (  # noqa: F401
    BanditPolicy, EarlyTerminationPolicy, MedianStoppingPolicy, NoTerminationPolicy, TruncationSelectionPolicy,
)

__all__ = ["EarlyTerminationPolicy", "BanditPolicy", "MedianStoppingPolicy",
           "TruncationSelectionPolicy", "NoTerminationPolicy"]
