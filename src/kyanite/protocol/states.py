"""Run states and the one rule for moving between them.

Standard library only, Python 3.6+: the run host and the in-script runtime ship this module.

Contract:

- ``RunStatus`` names the SDK v1 run states; ``TERMINAL_STATES`` never change again,
  ``ACTIVE_STATES`` hold a compute slot.
- ``can_move(current, new)`` is the single place that says whether a run may go from
  ``current`` to ``new``: never out of a terminal state, never backwards along
  NotStarted → Queued → Preparing → Starting → Running → Finalizing, and out of
  CancelRequested only into a terminal state. The store applies it atomically.
- ``check_status(status)`` raises ``UserErrorException`` for a name that is not a state.
"""

from typing import Optional

from kyanite.exceptions import UserErrorException

__all__ = ["RunStatus", "TERMINAL_STATES", "ACTIVE_STATES", "ALL_STATES", "can_move", "check_status"]


class RunStatus(object):
    """The SDK v1 run states, in their usual order."""
    NOT_STARTED = "NotStarted"
    QUEUED = "Queued"
    PREPARING = "Preparing"
    STARTING = "Starting"
    RUNNING = "Running"
    FINALIZING = "Finalizing"
    CANCEL_REQUESTED = "CancelRequested"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELED = "Canceled"


TERMINAL_STATES = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED)
ACTIVE_STATES = (RunStatus.PREPARING, RunStatus.STARTING, RunStatus.RUNNING,
                 RunStatus.FINALIZING, RunStatus.CANCEL_REQUESTED)
_ORDER = {st: i for i, st in enumerate((
    RunStatus.NOT_STARTED, RunStatus.QUEUED, RunStatus.PREPARING, RunStatus.STARTING,
    RunStatus.RUNNING, RunStatus.FINALIZING))}
ALL_STATES = tuple(_ORDER) + (RunStatus.CANCEL_REQUESTED,) + TERMINAL_STATES


def can_move(current: Optional[str], new: str) -> bool:
    """Whether a run in state ``current`` may move to state ``new`` (see the module docstring)."""
    if current in TERMINAL_STATES:
        return False
    if current == RunStatus.CANCEL_REQUESTED:
        return new in TERMINAL_STATES
    if new in _ORDER and current in _ORDER:
        return _ORDER[new] >= _ORDER[current]
    return True


def check_status(status: str) -> None:
    """Raise ``UserErrorException`` unless ``status`` is one of ``ALL_STATES``."""
    if status not in ALL_STATES:
        raise UserErrorException("Unknown run status %r. Known: %s." % (status, ", ".join(ALL_STATES)))
