"""The GPUs of this machine, and how many an Azure size names.

Standard library only (``pynvml``, from ``nvidia-ml-py``, is used when importable).

Contract:

- ``discover()`` -> the machine's GPUs, a list of facts ``{"id", "index", "name",
  "memoryMiB", "uuid"}`` in index order: ``id`` is what goes into
  ``CUDA_VISIBLE_DEVICES`` (the index as a string, or a ``GPU-``/``MIG-`` UUID),
  ``index`` an int (or None), the others None where unknown. Where they come from:

  1. ``KYANITE_GPUS`` (:mod:`kyanite.settings`) when set: a comma-separated list of device
     ids (``0,1``), taken as the machine's GPUs without asking the driver (tests use it
     to simulate GPUs on a CPU machine; an operator uses it to give kyanite only some of
     the GPUs); ``none``: no GPUs.
  2. NVML (``pynvml``), when importable and a driver answers;
  3. ``nvidia-smi --query-gpu=...`` when it is on PATH;
  4. otherwise no GPUs.

  Never raises: a driver that fails means no GPUs.
- ``driver_version()`` -> the NVIDIA driver's version string, or None (no driver, or
  ``KYANITE_GPUS`` set); ``probe()`` -> ``(discover(), driver_version())`` in one look.
- ``parse_nvidia_smi(text)`` -> ``(facts, driver version)`` of the CSV that
  ``nvidia-smi --query-gpu=index,name,memory.total,uuid,driver_version
  --format=csv,noheader,nounits`` prints.
- ``gpus_for_vm_size(vm_size)`` and ``VM_SIZE_GPUS``: GPUs per node of an Azure size
  (from :mod:`kyanite.protocol.compute`, which validates target configs with them).
- ``visible(facts, cuda_visible_devices)``: the facts of the devices a process with that
  ``CUDA_VISIBLE_DEVICES`` sees (all of them when it is None).
"""

import shutil
import subprocess
from typing import Any

from kyanite import settings
from kyanite.protocol.compute import VM_SIZE_GPUS, gpus_for_vm_size

__all__ = ["ENV", "VM_SIZE_GPUS", "discover", "driver_version", "gpus_for_vm_size", "parse_nvidia_smi", "probe",
           "visible"]

#: The variable that overrides discovery.
ENV = "KYANITE_GPUS"

_QUERY = "index,name,memory.total,uuid,driver_version"


def _fact(id_: Any, index: int | None = None, name: str | None = None, memory: Any = None, uuid: Any = None) -> dict[str, Any]:
    return {"id": id_, "index": index, "name": name, "memoryMiB": memory, "uuid": uuid}


def _override(raw: Any) -> list[Any]:
    facts = []
    for item in (x.strip() for x in raw.split(",")):
        if not item:
            continue
        facts.append(_fact(item, int(item) if item.isdigit() else None,
                           uuid=item if not item.isdigit() else None))
    return facts


def parse_nvidia_smi(text: str) -> tuple[list[Any], Any | str | None]:
    """``(facts, driver)`` of nvidia-smi's CSV (see the module docstring); lines that do
    not parse are skipped."""
    facts, driver = [], None
    for line in (text or "").splitlines():
        cells = [c.strip() for c in line.split(",")]
        if len(cells) < 5 or not cells[0].isdigit():
            continue
        memory = cells[2].split()[0] if cells[2] else ""
        facts.append(_fact(cells[0], int(cells[0]), cells[1] or None,
                           int(float(memory)) if memory.replace(".", "", 1).isdigit() else None, cells[3] or None))
        driver = driver or cells[4] or None
    return facts, driver


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _nvml() -> tuple[list[Any], Any] | None:
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:
        return None
    try:
        facts = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            facts.append(_fact(str(i), i, _text(pynvml.nvmlDeviceGetName(h)),
                               int(pynvml.nvmlDeviceGetMemoryInfo(h).total // 1048576),
                               _text(pynvml.nvmlDeviceGetUUID(h))))
        return facts, _text(pynvml.nvmlSystemGetDriverVersion())
    except Exception:
        return None
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


def _smi() -> Any:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "--query-gpu=" + _QUERY, "--format=csv,noheader,nounits"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return parse_nvidia_smi(out.stdout.decode("utf-8", "replace"))


def probe() -> tuple[list[Any] | Any, None] | Any:
    """``(GPU facts, driver version)`` in one look at the driver."""
    raw = settings.get(ENV)
    if raw is not None:
        return ([] if raw.strip().lower() == "none" else _override(raw)), None
    return _nvml() or _smi() or ([], None)


def discover() -> Any:
    """The machine's GPUs (see the module docstring)."""
    return probe()[0]


def driver_version() -> Any:
    """The NVIDIA driver version, or None."""
    return probe()[1]


def visible(facts: Any, cuda_visible_devices: Any) -> list[Any]:
    """The facts of the devices a process sees under ``cuda_visible_devices`` (a string or
    None), in its order; an id the machine does not have ends the list, as in CUDA."""
    if cuda_visible_devices is None:
        return list(facts)
    out = []
    for item in (x.strip() for x in cuda_visible_devices.split(",")):
        match = next((f for f in facts if item and (f["id"] == item or (f["uuid"] and f["uuid"].startswith(item)))),
                     None)
        if match is None:
            break
        out.append(match)
    return out
