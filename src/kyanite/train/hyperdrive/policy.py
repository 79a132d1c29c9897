"""SDK v1 module path ``azureml.train.hyperdrive.policy``."""

from kyanite.train.hyperdrive._policy import (  # noqa: F401
    BanditPolicy, EarlyTerminationPolicy, MedianStoppingPolicy, NoTerminationPolicy, TruncationSelectionPolicy,
)
from kyanite.train.hyperdrive._policy import __all__  # noqa: F401
