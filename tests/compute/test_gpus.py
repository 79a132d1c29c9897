"""GPU discovery (kyanite.compute.gpus): the KYANITE_GPUS override, nvidia-smi's output,
which devices a CUDA_VISIBLE_DEVICES shows, and the GPUs an Azure size names."""

import pytest

from kyanite.compute import gpus
from kyanite.protocol.compute import ComputeConfig, ComputeConfigError

SMI = """0, NVIDIA H200, 143771, GPU-1b2c3d4e-0000-1111-2222-333344445555, 550.54.15
1, NVIDIA H200, 143771, GPU-9f8e7d6c-0000-1111-2222-333344445555, 550.54.15
No devices were found
"""


def test_override_is_the_machine(monkeypatch):
    monkeypatch.setenv("KYANITE_GPUS", "0,1")
    assert [(g["id"], g["index"]) for g in gpus.discover()] == [("0", 0), ("1", 1)]
    assert gpus.driver_version() is None
    monkeypatch.setenv("KYANITE_GPUS", "none")
    assert gpus.discover() == []
    monkeypatch.setenv("KYANITE_GPUS", "GPU-abc, 3")
    assert [(g["id"], g["uuid"]) for g in gpus.discover()] == [("GPU-abc", "GPU-abc"), ("3", None)]


def test_no_driver_means_no_gpus(monkeypatch):
    monkeypatch.delenv("KYANITE_GPUS", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(gpus, "_nvml", lambda: None)
    assert gpus.probe() == ([], None)


def test_parse_nvidia_smi():
    facts, driver = gpus.parse_nvidia_smi(SMI)
    assert driver == "550.54.15"
    assert facts == [
        {"id": "0", "index": 0, "name": "NVIDIA H200", "memoryMiB": 143771,
         "uuid": "GPU-1b2c3d4e-0000-1111-2222-333344445555"},
        {"id": "1", "index": 1, "name": "NVIDIA H200", "memoryMiB": 143771,
         "uuid": "GPU-9f8e7d6c-0000-1111-2222-333344445555"}]
    assert gpus.parse_nvidia_smi("") == ([], None)


def test_visible_follows_cuda_visible_devices():
    facts, _ = gpus.parse_nvidia_smi(SMI)
    assert [g["id"] for g in gpus.visible(facts, None)] == ["0", "1"]
    assert gpus.visible(facts, "") == []
    assert [g["id"] for g in gpus.visible(facts, "1")] == ["1"]
    assert [g["id"] for g in gpus.visible(facts, "GPU-9f8e")] == ["1"]
    assert [g["id"] for g in gpus.visible(facts, "0,7,1")] == ["0"]  # CUDA stops at an unknown id


@pytest.mark.parametrize("size, count", [
    ("STANDARD_NC6", 1), ("Standard_NC12", 2), ("standard_nc24s_v3", 4), ("Standard_ND40rs_v2", 8),
    ("Standard_NV12s_v3", 1), ("Standard_NC4as_T4_v3", 1), ("Standard_ND96isr_H100_v5", 8),
    ("gpu", 1), ("gpu:2", 2), ("GPU:8", 8), ("STANDARD_D2_V2", 0), ("cpu", 0), ("", 0)])
def test_azure_size_table(size, count):
    assert gpus.gpus_for_vm_size(size) == count
    c = ComputeConfig.from_json({"type": "AmlCompute", "vm_size": size})
    assert c.gpus_per_node == count and ComputeConfig.from_json(c.to_json()) == c


@pytest.mark.parametrize("config, field, words", [
    ({"vm_size": "gpu:0"}, "vm_size", "gpu:N"),
    ({"vm_size": "gpu:x"}, "vm_size", "gpu:N"),
    ({"vm_size": "Standard_NC7"}, "vm_size", "does not know"),
    ({"vm_size": "Standard_NC12", "gpus_per_node": 1}, "gpus_per_node", "disagrees"),
    ({"gpus_per_node": -1}, "gpus_per_node", "whole number"),
])
def test_bad_gpu_config_names_the_field(config, field, words):
    with pytest.raises(ComputeConfigError, match=words) as info:
        ComputeConfig.from_json(dict(config, type="AmlCompute"))
    assert info.value.field == field


def test_gpus_per_node_without_a_size():
    assert ComputeConfig.from_json({"type": "AmlCompute", "gpus_per_node": 2}).gpus_per_node == 2
