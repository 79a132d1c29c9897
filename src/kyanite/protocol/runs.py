"""Runs: the run definition and the record the store holds for a run.

Standard library only, Python 3.6+ (the run host parses its run's definition with it).

Contract:

- ``RunDefinition`` is what a submitted run runs (the SDK's ``ScriptRunConfig`` builds it,
  ``POST /api/runs`` and ``POST /api/sweeps`` take it, the run host executes it). Wire keys
  (camelCase) and attributes:

  ``script`` (str; a run with one is a submitted run), ``arguments`` (list of strings or
  numbers), ``sourceDirectory`` / ``source_directory``, ``snapshotId`` / ``snapshot_id``,
  ``target``, ``environment`` (the environment's run definition, an object),
  ``maxRunDurationSeconds`` / ``max_run_duration_seconds`` (number), ``framework``,
  ``communicator`` (str), ``nodeCount`` / ``node_count`` (whole number), ``distributed``
  and ``resources`` (objects), ``cpuCount`` / ``cpu_count`` (number), ``slots`` (whole
  number), ``inputDatasets`` / ``input_datasets`` (input name -> dataset reference object),
  ``hyperparameters`` (object: a sweep child's sampled values), ``dockerConfiguration`` /
  ``docker_configuration`` (object: SDK v1's DockerConfiguration, recorded, not applied),
  ``hyperdrive`` (a sweep's ``SweepSpec``), ``childDefinition`` / ``child_definition`` (a sweep's child
  ``RunDefinition``).

  ``RunDefinition.from_json(d)`` checks types and refuses unknown keys (``RecordError``
  naming the field, dotted for nested ones); ``to_json()`` gives back the keys given, in
  their order (the wire format of today). Fields not given read as None, except
  ``arguments`` (``[]``) and ``input_datasets`` (``{}``). An empty definition (an
  interactive run) is falsy.
- ``RunRecord`` is one run as the store holds it (``Store.run`` and friends return them):
  ``id``, ``number``, ``experiment``, ``parent_id``, ``display_name`` (None when not set),
  ``run_type``, ``status``, ``target``, ``created``, ``start_time``, ``end_time``,
  ``heartbeat`` (unix times as floats, or None), ``cancel_requested`` (bool), ``tags`` and
  ``properties`` (str -> str), ``definition`` (a ``RunDefinition``, empty for interactive
  runs), ``error`` (object or None), ``resolved_packages`` and ``host`` (objects or None),
  ``description`` (free text, None when not set).
  ``to_json``/``from_json`` use the camelCase names of the attributes (``parentId``...);
  the v1 ``get_details()`` shape the HTTP API answers is built by the server
  (``kyanite.server.wire``), not here.
"""

from typing import Any, Dict, List, Optional

from kyanite.protocol.records import (
    RecordError, WireRecord, nested, number, obj, objects_of, text, value_list, whole,
)
from kyanite.protocol.sweeps import SweepSpec

__all__ = ["RunDefinition", "RunRecord"]


class RunDefinition(WireRecord):
    """A run's definition (see the module docstring)."""

    WHAT = "Run definition"
    FIELDS = (
        ("script", "script", text),
        ("arguments", "arguments", value_list),
        ("sourceDirectory", "source_directory", text),
        ("snapshotId", "snapshot_id", text),
        ("target", "target", text),
        ("environment", "environment", obj),
        ("maxRunDurationSeconds", "max_run_duration_seconds", number),
        ("framework", "framework", text),
        ("communicator", "communicator", text),
        ("nodeCount", "node_count", whole),
        ("distributed", "distributed", obj),
        ("resources", "resources", obj),
        ("cpuCount", "cpu_count", number),
        ("slots", "slots", whole),
        ("inputDatasets", "input_datasets", objects_of("an object of input names to dataset references")),
        ("hyperparameters", "hyperparameters", obj),
        ("dockerConfiguration", "docker_configuration", obj),
        ("hyperdrive", "hyperdrive", nested(SweepSpec)),
        # childDefinition: set below (it refers to this class)
    )

    def _empty(self, attr: str) -> Any:
        if attr == "arguments":
            return []
        if attr == "input_datasets":
            return {}
        return None

    @property
    def submitted(self) -> bool:
        """Whether this is a submitted run's definition (it names a script)."""
        return bool(self.script)


RunDefinition.FIELDS += (("childDefinition", "child_definition", nested(RunDefinition)),)  # type: ignore[assignment]


def _float(v: Any) -> Optional[float]:
    return None if v is None else float(v)


class RunRecord(object):
    """One run as the store holds it (see the module docstring)."""

    #: (attribute, JSON key)
    _KEYS = (("id", "id"), ("number", "number"), ("experiment", "experiment"), ("parent_id", "parentId"),
             ("display_name", "displayName"), ("run_type", "runType"), ("status", "status"),
             ("target", "target"), ("created", "created"), ("start_time", "startTime"),
             ("end_time", "endTime"), ("heartbeat", "heartbeat"), ("cancel_requested", "cancelRequested"),
             ("tags", "tags"), ("properties", "properties"), ("definition", "definition"),
             ("error", "error"), ("resolved_packages", "resolvedPackages"), ("host", "host"),
             ("description", "description"))

    def __init__(self, id: str, experiment: str, number: Optional[int] = None, parent_id: Optional[str] = None,
                 display_name: Optional[str] = None, run_type: str = "run", status: str = "NotStarted",
                 target: Optional[str] = None, created: Optional[float] = None,
                 start_time: Optional[float] = None, end_time: Optional[float] = None,
                 heartbeat: Optional[float] = None, cancel_requested: bool = False,
                 tags: Optional[Dict[str, str]] = None, properties: Optional[Dict[str, str]] = None,
                 definition: "Optional[Any]" = None, error: Optional[Dict[str, Any]] = None,
                 resolved_packages: Optional[Any] = None, host: Optional[Dict[str, Any]] = None,
                 description: Optional[str] = None) -> None:
        self.id = id
        self.number = number
        self.experiment = experiment
        self.parent_id = parent_id
        self.display_name = display_name
        self.run_type = run_type
        self.status = status
        self.target = target
        self.created = _float(created)
        self.start_time = _float(start_time)
        self.end_time = _float(end_time)
        self.heartbeat = _float(heartbeat)
        self.cancel_requested = bool(cancel_requested)
        self.tags = dict(tags or {})
        self.properties = dict(properties or {})
        if definition is None:
            definition = RunDefinition()
        elif isinstance(definition, dict):
            definition = RunDefinition.from_json(definition)
        self.definition = definition  # type: RunDefinition
        self.error = error
        self.resolved_packages = resolved_packages
        self.host = host
        self.description = description

    @property
    def name(self) -> str:
        """The display name, else the run id."""
        return self.display_name or self.id

    def to_json(self) -> Dict[str, Any]:
        out = {}  # type: Dict[str, Any]
        for attr, key in self._KEYS:
            v = getattr(self, attr)
            out[key] = v.to_json() if attr == "definition" else (dict(v) if isinstance(v, dict) else v)
        return out

    @classmethod
    def from_json(cls, data: Any) -> "RunRecord":
        """The record of ``to_json()``'s object; ``RecordError`` naming a wrong field."""
        if not isinstance(data, dict):
            raise RecordError("", "A run record must be a JSON object, got %r." % (data,))
        keys = dict((key, attr) for attr, key in cls._KEYS)
        unknown = [k for k in data if k not in keys]
        if unknown:
            raise RecordError(unknown[0], "Unknown run record field %r." % unknown[0])
        for key in ("id", "experiment"):
            if not isinstance(data.get(key), str):
                raise RecordError(key, "Run record field %r must be a string, got %r." % (key, data.get(key)))
        for key in ("created", "startTime", "endTime", "heartbeat"):
            if data.get(key) is not None:
                number("Run record", key, data[key])
        for key in ("tags", "properties"):
            if data.get(key) is not None:
                obj("Run record", key, data[key])
        if data.get("description") is not None:
            text("Run record", "description", data["description"])
        values = dict((keys[k], v) for k, v in data.items())
        try:
            return cls(**values)
        except RecordError as e:
            raise RecordError("definition" + ("." + e.field if e.field else ""), e.message)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunRecord) and self.to_json() == other.to_json()

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __repr__(self) -> str:
        return "RunRecord(id=%r, experiment=%r, status=%r, run_type=%r)" % (
            self.id, self.experiment, self.status, self.run_type)
