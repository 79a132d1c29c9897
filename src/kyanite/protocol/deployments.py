"""Deployments: the typed record of what the deployment manager persists for an endpoint.

Standard library only, Python 3.6+.

Contract: a deployment's spec is ``{"inference": {...}, "config": {...}}``.
``Deployment.from_json(d)`` checks the types and refuses unknown keys (``RecordError``
naming the field, dotted: ``inference.entryScript``); ``to_json()`` gives back the keys
given, in their order.

- ``Inference`` (``inference``): ``entryScript`` / ``entry_script`` (str, required),
  ``snapshotId`` / ``snapshot_id`` (str, required), ``sourceDirectory`` /
  ``source_directory`` (str or null), ``environment`` (the environment's run definition),
  ``description`` (str or null) - what the SDK's ``InferenceConfig`` sends.
- ``DeploymentConfig`` (``config``): ``port`` (whole number), ``cpuCores`` / ``cpu_cores``
  and ``memoryGb`` / ``memory_gb`` (numbers), ``authEnabled`` / ``auth_enabled`` and
  ``tokenAuthEnabled`` / ``token_auth_enabled`` (bools), ``host`` (str), and what the
  manager adds: ``keyHashes`` / ``key_hashes`` (list of strings).
"""

from typing import Any

from kyanite.protocol.records import RecordError, WireRecord, flag, nested, number, obj, text, whole

__all__ = ["Deployment", "Inference", "DeploymentConfig"]


class Inference(WireRecord):
    """What a deployment serves: the entry script, its snapshot and environment."""

    WHAT = "Inference config"
    FIELDS = (
        ("entryScript", "entry_script", text),
        ("snapshotId", "snapshot_id", text),
        ("sourceDirectory", "source_directory", text),
        ("environment", "environment", obj),
        ("description", "description", text),
    )

    def _check(self) -> None:
        for key, attr in (("entryScript", "entry_script"), ("snapshotId", "snapshot_id")):
            if not getattr(self, attr):
                raise RecordError(key, "Inference config field %r is required." % key)


class DeploymentConfig(WireRecord):
    """How a deployment's scoring process runs."""

    WHAT = "Deployment config"
    FIELDS = (
        ("port", "port", whole),
        ("cpuCores", "cpu_cores", number),
        ("memoryGb", "memory_gb", number),
        ("authEnabled", "auth_enabled", flag),
        ("tokenAuthEnabled", "token_auth_enabled", flag),
        ("host", "host", text),
    )


class Deployment(WireRecord):
    """A deployment's persisted spec (see the module docstring)."""

    WHAT = "Deployment spec"
    FIELDS = (
        ("inference", "inference", nested(Inference)),
        ("config", "config", nested(DeploymentConfig)),
    )

    def _check(self) -> None:
        if self.inference is None:
            raise RecordError("inference", "Deployment spec field 'inference' is required.")

    def _empty(self, attr: str) -> Any:
        return DeploymentConfig() if attr == "config" else None
