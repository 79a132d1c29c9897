"""Compute target configurations: the one typed record of what a target's ``config`` holds.

Standard library only, Python 3.6+.

Contract:

- A target is stored as ``{"name", "type", "config"}``. ``ComputeConfig.from_json(d)`` takes
  the config object with the target's ``type`` in it (``dict(target["config"],
  type=target["type"])``), checks every field and returns the record. Anything wrong raises
  ``ComputeConfigError`` (a ``UserErrorException`` and a ``ValueError``): its message names
  the field, says what is wrong and what to give, and its ``field`` attribute names the
  field. A field given as ``null`` or left out takes its default; an unknown field is
  refused (a misspelt option must not be ignored).
- ``to_json()`` gives every field of the record's type, defaults filled in and ``type``
  included; ``ComputeConfig.from_json(c.to_json()) == c``.
- Types and their fields:

  - ``local``: the built-in target, this machine, one run per core. ``run_as`` (below)
    comes from the workspace setting ``run_as`` in ``.kyanite/workspace.json``.
  - ``AmlCompute``: a local cluster that runs at most ``max_nodes`` runs at once
    (1..``MAX_NODES``, default 1); ``min_nodes`` (0..``max_nodes``), ``vm_priority``
    (a string), ``idle_seconds_before_scaledown`` (seconds >= 0 or null) are kept for SDK
    v1 compatibility; ``vm_size`` (a string) names the slot's GPUs: an Azure GPU size
    (NC/ND/NV families, ``VM_SIZE_GPUS``, case and the ``Standard_`` prefix aside),
    ``gpu`` (one) or ``gpu:N``; any other size is CPU only. ``gpus_per_node`` (0..``MAX_GPUS``,
    or null: what ``vm_size`` says) is how many GPUs each slot holds; one that disagrees
    with ``vm_size`` is refused. ``run_as`` (a user name, or null: the workspace
    setting, else the server's own user) is the OS user its run hosts and scripts run as
    (see ``kyanite.compute.run_as``).
  - ``RayCompute``: a Ray cluster by its dashboard ``address`` (normalized by
    ``normalize_ray_address``; required), ``python`` and ``server_url`` (strings or null),
    ``max_concurrent_runs`` (1..``MAX_NODES`` or null: one per CPU of the cluster),
    ``autoscaling`` (bool), ``env_vars`` (names to strings, numbers or bools),
    ``headers`` (names to strings, or null), ``stop_grace_seconds`` and
    ``timeout_seconds`` (seconds or null), ``default_cpus_per_process`` (> 0, default 1)
    and ``local_head`` (the record of a Ray head this workspace started, or null).

  ``executor`` (which executor launches the runs) follows from the type: ``ray`` for
  ``RayCompute``, ``local`` otherwise; a stored ``executor`` that disagrees is refused.
"""

import math
import re
from typing import Any, Callable, Dict, Tuple

from kyanite.exceptions import UserErrorException

__all__ = ["ComputeConfig", "ComputeConfigError", "COMPUTE_TYPES", "MAX_GPUS", "MAX_NODES", "VM_SIZE_GPUS",
           "gpus_for_vm_size", "normalize_ray_address"]

#: The most runs one target may run at once (``max_nodes``, ``max_concurrent_runs``).
MAX_NODES = 1024

#: The most GPUs one slot may hold.
MAX_GPUS = 64

#: Azure GPU VM sizes (lower case, without ``standard_``) -> GPUs per node. NVIDIA sizes
#: with whole GPUs; fractional-GPU sizes (NVv4, the smaller NVads A10 v5) are not listed.
VM_SIZE_GPUS = {  # type: Dict[str, int]
    # NC (K80), NCv2 (P100), NCv3 (V100)
    "nc6": 1, "nc12": 2, "nc24": 4, "nc24r": 4,
    "nc6s_v2": 1, "nc12s_v2": 2, "nc24s_v2": 4, "nc24rs_v2": 4,
    "nc6s_v3": 1, "nc12s_v3": 2, "nc24s_v3": 4, "nc24rs_v3": 4,
    # NCasT4_v3 (T4), NC A100 v4, NCads H100 v5
    "nc4as_t4_v3": 1, "nc8as_t4_v3": 1, "nc16as_t4_v3": 1, "nc64as_t4_v3": 4,
    "nc24ads_a100_v4": 1, "nc48ads_a100_v4": 2, "nc96ads_a100_v4": 4,
    "nc40ads_h100_v5": 1, "nc80adis_h100_v5": 2,
    # ND (P40), NDv2 (V100), ND A100 v4, ND H100 v5, ND H200 v5
    "nd6s": 1, "nd12s": 2, "nd24s": 4, "nd24rs": 4,
    "nd40rs_v2": 8, "nd96asr_v4": 8, "nd96amsr_a100_v4": 8, "nd96isr_h100_v5": 8, "nd96isr_h200_v5": 8,
    # NV (M60), NVv3 (M60), NVadsA10 v5 (whole A10s)
    "nv6": 1, "nv12": 2, "nv24": 4,
    "nv12s_v3": 1, "nv24s_v3": 2, "nv48s_v3": 4,
    "nv36ads_a10_v5": 1, "nv72ads_a10_v5": 2,
}


class ComputeConfigError(UserErrorException, ValueError):
    """A compute target config field is wrong; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super(ComputeConfigError, self).__init__(message, field=field)


def normalize_ray_address(address: Any) -> str:
    """``HOST:PORT`` or ``http(s)://HOST:PORT`` -> the dashboard URL without a trailing slash;
    ``ComputeConfigError`` (field ``address``) for anything else."""
    if not isinstance(address, str) or not address.strip():
        raise ComputeConfigError("address", "A Ray dashboard address is needed, such as http://127.0.0.1:8265, "
                                            "got %r." % (address,))
    address = address.strip().rstrip("/")
    if address.startswith("ray://"):
        raise ComputeConfigError("address", "%r is a Ray Client address; give the dashboard address "
                                            "(http://HEAD:8265), which serves the Ray Jobs API." % address)
    if "://" not in address:
        address = "http://" + address
    if not address.startswith(("http://", "https://")):
        raise ComputeConfigError("address", "The Ray dashboard address must be http(s)://HOST:PORT, got %r." % address)
    return address


# -- field checks: each takes (type name, field, value) and returns the value to keep ----------

#: A field's check: ``(type name, field, value) -> the value to keep``.
_Check = Callable[[str, str, Any], Any]


def _bad(kind: str, field: str, what: str, value: Any) -> ComputeConfigError:
    return ComputeConfigError(field, "%s config field %r must be %s, got %r." % (kind, field, what, value))


def _int_in(low: int, high: int) -> _Check:
    def check(kind: str, field: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _bad(kind, field, "a whole number from %d to %d" % (low, high), value)
        return value
    return check


def _seconds(kind: str, field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise _bad(kind, field, "a number of seconds (0 or more)", value)
    return value


def _positive(kind: str, field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise _bad(kind, field, "a number above 0", value)
    return value


def _text(kind: str, field: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _bad(kind, field, "a string", value)
    return value


def _url(kind: str, field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise _bad(kind, field, "an http(s):// URL", value)
    return value.rstrip("/")


def _flag(kind: str, field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _bad(kind, field, "true or false", value)
    return value


def _mapping(value_types: Any, what: str) -> _Check:
    def check(kind: str, field: str, value: Any) -> Dict[str, Any]:
        if not isinstance(value, dict) or not all(
                isinstance(k, str) and k and isinstance(v, value_types) for k, v in value.items()):
            raise _bad(kind, field, what, value)
        return dict(value)
    return check


def _record(kind: str, field: str, value: Any) -> Dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(kind, field, "an object", value)
    return dict(value)


def _user_name(kind: str, field: str, value: Any) -> str:
    if not isinstance(value, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$", value):
        raise _bad(kind, field, "an OS user name such as 'kyanite-run'", value)
    return value


def _address(kind: str, field: str, value: Any) -> str:
    return normalize_ray_address(value)


def gpus_for_vm_size(vm_size: Any) -> int:
    """GPUs per node of ``vm_size``: ``VM_SIZE_GPUS`` for an Azure GPU size (case and a
    ``Standard_`` prefix aside), 1 for ``gpu``, N for ``gpu:N``, 0 for any other size.
    ComputeConfigError (field ``vm_size``) for ``gpu:`` with a bad count and for an
    NC/ND/NV name the table does not know."""
    name = (vm_size or "").strip().lower()
    if name.startswith("standard_"):
        name = name[len("standard_"):]
    if name == "gpu":
        return 1
    if name.startswith("gpu:"):
        count = name[4:]
        if not count.isdigit() or not 1 <= int(count) <= MAX_GPUS:
            raise ComputeConfigError("vm_size", "vm_size %r: give 'gpu:N' with N from 1 to %d GPUs per node."
                                                % (vm_size, MAX_GPUS))
        return int(count)
    if name in VM_SIZE_GPUS:
        return VM_SIZE_GPUS[name]
    if re.match(r"^n[cdv]\d", name):
        raise ComputeConfigError("vm_size", "vm_size %r looks like an Azure GPU size this table does not know "
                                            "(known: %s); give 'gpu:N' for N GPUs per node." % (
                                                vm_size, ", ".join("Standard_" + k.upper() for k in
                                                                   sorted(VM_SIZE_GPUS))))
    return 0


#: type -> (executor, {field: (check, default)}); a default of None means "not set".
_FIELDS = {  # type: Dict[str, Tuple[str, Dict[str, Tuple[_Check, Any]]]]
    "local": ("local", {"run_as": (_user_name, None)}),
    "AmlCompute": ("local", {
        "vm_size": (_text, ""),
        "vm_priority": (_text, "dedicated"),
        "min_nodes": (_int_in(0, MAX_NODES), 0),
        "max_nodes": (_int_in(1, MAX_NODES), 1),
        "gpus_per_node": (_int_in(0, MAX_GPUS), None),
        "idle_seconds_before_scaledown": (_seconds, None),
        "run_as": (_user_name, None),
    }),
    "RayCompute": ("ray", {
        "address": (_address, None),
        "python": (_text, None),
        "server_url": (_url, None),
        "max_concurrent_runs": (_int_in(1, MAX_NODES), None),
        "autoscaling": (_flag, False),
        "env_vars": (_mapping((str, int, float, bool), "an object of names to strings or numbers"), {}),
        "headers": (_mapping(str, "an object of header names to strings"), None),
        "stop_grace_seconds": (_seconds, None),
        "timeout_seconds": (_positive, None),
        "default_cpus_per_process": (_positive, 1),
        "local_head": (_record, None),
    }),
}
_REQUIRED = {"RayCompute": ("address",)}

#: The types a target may have (``local`` is the built-in one).
COMPUTE_TYPES = tuple(_FIELDS)


class ComputeConfig(object):
    """One compute target's validated config (see the module docstring). Fields are
    attributes: ``type``, ``executor`` and the fields of the type."""

    def __init__(self, type_: str, executor: str, fields: Dict[str, Any]) -> None:
        self.type = type_
        self.executor = executor
        self._fields = fields
        for k, v in fields.items():
            setattr(self, k, v)

    def __getattr__(self, name: str) -> Any:
        """The fields are set per type in ``__init__``; any other name is missing."""
        raise AttributeError("%s config has no field %r" % (self.__dict__.get("type"), name))

    @classmethod
    def from_json(cls, data: Any) -> "ComputeConfig":
        """The record of ``data`` (the config with ``type`` in it); ComputeConfigError naming
        the first wrong field."""
        if not isinstance(data, dict):
            raise ComputeConfigError("config", "A compute target config must be a JSON object, got %r." % (data,))
        kind = data.get("type")
        if kind not in _FIELDS:
            raise ComputeConfigError("type", "Unknown compute target type %r; known: %s." % (
                kind, ", ".join(t for t in COMPUTE_TYPES if t != "local")))
        executor, spec = _FIELDS[kind]
        unknown = sorted(set(data) - set(spec) - {"type", "executor"}, key=str)
        if unknown:
            raise ComputeConfigError(unknown[0], "Unknown %s config field %r; known fields: %s." % (
                kind, unknown[0], ", ".join(sorted(spec)) or "none"))
        if data.get("executor") not in (None, executor):
            raise ComputeConfigError("executor", "A %s target runs on the %r executor, not %r." % (
                kind, executor, data["executor"]))
        fields = {}  # type: Dict[str, Any]
        for name, (check, default) in sorted(spec.items()):
            value = data.get(name)
            if value is None:
                if name in _REQUIRED.get(kind, ()):
                    raise ComputeConfigError(name, "%s config field %r is required." % (kind, name))
                value = dict(default) if isinstance(default, dict) else default
            else:
                value = check(kind, name, value)
            fields[name] = value
        if kind == "AmlCompute" and fields["min_nodes"] > fields["max_nodes"]:
            raise ComputeConfigError("min_nodes", "AmlCompute config field 'min_nodes' (%d) must not exceed "
                                                  "max_nodes (%d)." % (fields["min_nodes"], fields["max_nodes"]))
        if kind == "AmlCompute":
            sized = gpus_for_vm_size(fields["vm_size"])
            if fields["gpus_per_node"] is None:
                fields["gpus_per_node"] = sized
            elif sized and fields["gpus_per_node"] != sized:
                raise ComputeConfigError("gpus_per_node", "AmlCompute config field 'gpus_per_node' (%d) disagrees "
                                                          "with vm_size %r (%d GPUs per node); give one of them."
                                         % (fields["gpus_per_node"], fields["vm_size"], sized))
        return cls(kind, executor, fields)

    def to_json(self) -> Dict[str, Any]:
        """Every field, defaults filled in, ``type`` and ``executor`` included."""
        out = {"type": self.type, "executor": self.executor}  # type: Dict[str, Any]
        for k, v in self._fields.items():
            out[k] = dict(v) if isinstance(v, dict) else v
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ComputeConfig) and self.to_json() == other.to_json()

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __repr__(self) -> str:
        shown = dict(self.to_json())
        if shown.get("headers"):
            shown["headers"] = dict((k, "***") for k in shown["headers"])  # may hold credentials
        return "ComputeConfig(%s)" % ", ".join("%s=%r" % kv for kv in sorted(shown.items()))
