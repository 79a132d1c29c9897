"""kyanite's shared contract: the states and typed records that the SDK, the server, the
scheduler, the executors and the run host exchange.

Standard library only and Python 3.6+ compatible, so the run host and the in-script runtime
ship this package with them (``kyanite.runtime.host.RUNTIME_FILES``).
"""

from kyanite.protocol.compute import (
    COMPUTE_TYPES, MAX_NODES, ComputeConfig, ComputeConfigError, normalize_ray_address,
)
from kyanite.protocol.identifiers import InvalidValue, check_identifier, check_mapping, check_text
from kyanite.protocol.states import (
    ACTIVE_STATES, ALL_STATES, TERMINAL_STATES, RunStatus, can_move, check_status,
)

__all__ = ["RunStatus", "TERMINAL_STATES", "ACTIVE_STATES", "ALL_STATES", "can_move", "check_status",
           "ComputeConfig", "ComputeConfigError", "COMPUTE_TYPES", "MAX_NODES", "normalize_ray_address"]
__all__ += ["InvalidValue", "check_identifier", "check_text", "check_mapping"]
from kyanite.protocol.records import RecordError
from kyanite.protocol.runs import RunDefinition, RunRecord
from kyanite.protocol.sweeps import SweepSpec
from kyanite.protocol.deployments import Deployment, DeploymentConfig, Inference

__all__ += ["RecordError", "RunDefinition", "RunRecord", "SweepSpec", "Deployment", "DeploymentConfig", "Inference"]
