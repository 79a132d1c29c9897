"""GPU targets on a machine with (simulated) GPUs: each slot holds its own GPUs, a run sees
only them in CUDA_VISIBLE_DEVICES, runs never share one, a CPU target's runs see none,
and a target asking for more GPUs than the machine has is refused."""

import time

import pytest

from kyanite.core import Experiment, ScriptRunConfig
from kyanite.core.compute import AmlCompute, ComputeTarget
from kyanite.core.compute_target import ComputeTargetException

SERVER_ENV = {"KYANITE_GPUS": "0,1"}  # the server (and its run hosts) see two GPUs

SCRIPT = """
    import os, sys, time
    gate, name = sys.argv[1], sys.argv[2]
    with open(os.path.join(os.path.dirname(gate), name + ".cvd"), "w") as f:
        f.write(repr(os.environ.get("CUDA_VISIBLE_DEVICES")))
    while not os.path.exists(gate):
        time.sleep(0.05)
"""


def _submit(ws, src, gate, target, env, name):
    return Experiment(ws, "gpus").submit(ScriptRunConfig(
        source_directory=str(src), script="train.py", arguments=[str(gate), name], compute_target=target,
        environment=env))


def test_each_run_holds_its_own_gpu_and_a_third_waits(ws, make_script, current_env, tmp_path, wait_until):
    target = ComputeTarget.create(ws, "gpu-2", AmlCompute.provisioning_configuration(vm_size="gpu", max_nodes=2))
    assert target.gpus_per_node == 1
    other = ComputeTarget.create(ws, "gpu-1", AmlCompute.provisioning_configuration(vm_size="STANDARD_NC6"))
    assert other.gpus_per_node == 1
    src, gate = make_script(SCRIPT), tmp_path / "gate"
    a, b = _submit(ws, src, gate, target, current_env, "a"), _submit(ws, src, gate, target, current_env, "b")
    wait_until(lambda: (tmp_path / "a.cvd").exists() and (tmp_path / "b.cvd").exists(), 60,
               what="both runs to start")
    seen = sorted(eval((tmp_path / n).read_text()) for n in ("a.cvd", "b.cvd"))
    assert seen == ["0", "1"]  # exactly one GPU each, never the same
    # a third run of the target and a run of another GPU target (a free slot, no free GPU) wait Queued
    c = _submit(ws, src, gate, target, current_env, "c")
    d = _submit(ws, src, gate, other, current_env, "d")
    end = time.time() + 1.5
    while time.time() < end:
        assert (c.get_status(), d.get_status()) == ("Queued", "Queued")
        time.sleep(0.1)
    details = {r.id: r.get_details()["host"] for r in (a, b)}
    assert sorted(h["gpus"][0] for h in details.values()) == ["0", "1"]
    for h in details.values():  # the facts the run host recorded: the GPU it held
        assert [g["id"] for g in h["gpuDevices"]] == h["gpus"]
    st = target.get_status()
    assert st.gpus_per_slot == 1
    assert sorted((g["id"], g["run"]) for g in st.gpus) == sorted((h["gpus"][0], rid) for rid, h in details.items())
    listed = ws.compute_targets["gpu-2"].get_status()
    assert len(listed.gpus) == 2
    gate.write_text("go")
    for run in (a, b, c, d):
        assert run.wait_for_completion()["status"] == "Completed"
    for n in ("c", "d"):
        assert eval((tmp_path / (n + ".cvd")).read_text()) in ("0", "1")


def test_cpu_target_runs_see_no_gpu(ws, make_script, current_env, tmp_path):
    target = ComputeTarget.create(ws, "cpu-only", AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2"))
    assert target.gpus_per_node == 0
    src, gate = make_script(SCRIPT), tmp_path / "gate"
    gate.write_text("go")
    run = _submit(ws, src, gate, target, current_env, "cpu")
    assert run.wait_for_completion()["status"] == "Completed"
    assert eval((tmp_path / "cpu.cvd").read_text()) == ""
    assert not run.get_details()["host"].get("gpuDevices")


def test_gpu_target_beyond_the_machine_is_refused(ws):
    with pytest.raises(ComputeTargetException, match=r"asks for 4 GPU\(s\).*this machine has 2 \(0, 1\)"):
        ComputeTarget.create(ws, "too-big", AmlCompute.provisioning_configuration(vm_size="Standard_NC12",
                                                                                  max_nodes=2))
    assert "too-big" not in ws.compute_targets
    with pytest.raises(ComputeTargetException, match="gpu:N"):
        AmlCompute.provisioning_configuration(vm_size="gpu:lots")
