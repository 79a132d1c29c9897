"""Executors start run hosts on compute and stop them.

Contract for every executor:
- ``launch(run, env)`` starts ``python -m kyanite.runtime.host --run-id <id>`` somewhere
  with the environment variables ``env`` (server URL and token among them) and returns a
  JSON-able handle; it must return quickly (no waiting for the run).
- ``cancel(handle)`` asks the host to stop (the host ends the script's process tree and
  reports Canceled); ``kill(handle)`` ends it by force.
- ``alive(handle)`` is True, False, or None when the executor cannot tell (then the
  server relies on heartbeats alone).
- ``capacity(config)`` is how many runs of a target may execute at once.
``config`` is always a target's validated config: ``ComputeConfig.to_json()`` of
:mod:`kyanite.protocol.compute` (``type`` and ``executor`` included, defaults filled in).
The server's scheduler is the only caller; it owns the run's state transitions.
"""

import abc
from typing import Any
from kyanite.protocol.runs import RunRecord


class Executor(abc.ABC):
    @abc.abstractmethod
    def launch(self, run: RunRecord, env: dict[str, str]) -> dict[str, Any]:
        """Start the run host; return a handle (dict)."""

    @abc.abstractmethod
    def cancel(self, handle: dict[str, Any]) -> None:
        """Ask the host to stop."""

    @abc.abstractmethod
    def kill(self, handle: dict[str, Any]) -> None:
        """Stop the host and everything it started, now."""

    @abc.abstractmethod
    def alive(self, handle: dict[str, Any]) -> bool | None:
        """True / False / None (unknown)."""

    def capacity(self, config: dict[str, Any]) -> int:
        return max(1, int(config.get("max_nodes") or 1))
