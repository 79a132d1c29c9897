"""System metrics of a run (``kyanite.runtime.system_metrics``): the sampler on a real child
process tree, through psutil and through /proc, and a real run recording ``system/`` metrics.

``run.get_metrics()`` leaves ``system/`` metrics out, as SDK v1 (whose ``get_metrics`` holds
only what the script logged) would, so a notebook's loop over the metrics is unchanged;
``get_metrics(include_system=True)`` or ``get_metrics(name="system/...")`` returns them. The
studio shows them on the run page's System tab, apart from the Metrics tab.
"""

import os
import subprocess
import sys
import time

import pytest

from kyanite.core import Experiment, ScriptRunConfig
from kyanite.runtime import system_metrics
from kyanite.runtime.system_metrics import SystemSampler, visible_gpus

SERVER_ENV = {"KYANITE_SYSTEM_METRICS_INTERVAL": "0.3"}

BURN = """
import sys, time
t = time.time() + float(sys.argv[1])
x = bytearray(64 << 20)  # 64 MiB resident
for i in range(0, len(x), 4096):
    x[i] = 1
while time.time() < t:
    pass
"""

# a parent that sleeps, its child that burns: the tree is what counts
PARENT = """
import subprocess, sys
subprocess.call([sys.executable, "-c", sys.argv[1], sys.argv[2]])
"""


def _backends():
    out = ["proc"] if os.path.exists("/proc/self/stat") else []
    try:
        import psutil  # noqa: F401
        out.append("psutil")
    except ImportError:
        pass
    return out


def _tree_cpu(pid):
    """CPU seconds of the tree under ``pid``, read independently of the sampler (psutil)."""
    import psutil
    total = 0.0
    p = psutil.Process(pid)
    for q in [p] + p.children(recursive=True):
        t = q.cpu_times()
        total += t.user + t.system
    return total


@pytest.mark.parametrize("backend", _backends())
def test_sampler_sees_a_busy_child_of_the_script(backend):
    pytest.importorskip("psutil")  # the independent reading the figure is checked against
    proc = subprocess.Popen([sys.executable, "-c", PARENT, BURN, "4"])
    try:
        got = []
        s = SystemSampler([proc.pid], lambda n, v: got.append((n, v)), interval=0.5, backend=backend)
        time.sleep(0.5)  # the child has started and allocated
        c0, t0 = _tree_cpu(proc.pid), time.time()
        s.sample()
        time.sleep(1.5)
        one = s.sample()
        c1, t1 = _tree_cpu(proc.pid), time.time()
        busy = 100.0 * (c1 - c0) / (t1 - t0)  # what the busy loop got (less than a core on a loaded machine)
        assert busy > 5
        assert abs(one["system/cpu_percent"] - busy) < 10 + 0.2 * busy, (one, busy)
        if busy > 60:
            assert one["system/cpu_percent"] > 50, one  # one busy core; the sleeping parent adds nothing
        assert one["system/cpu_percent"] < 100 * (os.cpu_count() or 1) + 10
        assert one["system/memory_mb"] > 64, one  # the child's 64 MiB, and both interpreters
        s.start()
        time.sleep(1.3)
        s.stop()
        names = set(n for n, _ in got)
        assert {"system/cpu_percent", "system/memory_mb"} <= names
        assert s.samples >= 2
    finally:
        proc.kill()
        proc.wait()


def test_sampler_of_an_idle_tree_and_of_a_gone_process():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        s = SystemSampler([proc.pid], lambda n, v: None, backend=_backends()[-1])
        assert "system/cpu_percent" not in s.sample()  # the first sample is the baseline
        time.sleep(0.5)
        assert s.sample()["system/cpu_percent"] < 20
    finally:
        proc.kill()
        proc.wait()
    assert "system/memory_mb" not in s.sample()  # nothing left to measure


def test_visible_gpus_follow_cuda_visible_devices():
    assert visible_gpus(None, 3) == [0, 1, 2]
    assert visible_gpus("2,0", 3) == [2, 0]
    assert visible_gpus("", 3) == []
    assert visible_gpus("-1", 3) == []
    assert visible_gpus("1,7,0", 3) == [1]  # CUDA stops at the first invalid entry
    assert visible_gpus("GPU-abc", 2) == ["GPU-abc"]


def test_interval_zero_turns_it_off(tmp_path):
    assert system_metrics.start_for_run("r", str(tmp_path / "spool"), [os.getpid()], {}, None, interval=0) is None


def test_a_run_records_system_metrics(ws, make_script, current_env):
    src = make_script(BURN)
    run = Experiment(ws, "system-metrics").submit(ScriptRunConfig(
        source_directory=str(src), script="train.py", arguments=["2.5"], environment=current_env))
    assert run.wait_for_completion(raise_on_error=True)["status"] == "Completed"
    assert not [k for k in run.get_metrics() if k.startswith("system/")]
    assert list(run.get_metrics(name="system/cpu_percent")) == ["system/cpu_percent"]
    m = run.get_metrics(include_system=True)
    cpu = m["system/cpu_percent"]
    mem = m["system/memory_mb"]
    cpu, mem = cpu if isinstance(cpu, list) else [cpu], mem if isinstance(mem, list) else [mem]
    assert len(cpu) >= 3, cpu
    assert max(cpu) > 50 or os.getloadavg()[0] > (os.cpu_count() or 1), cpu  # a busy loop: about one core
    assert max(cpu) > 5, cpu
    assert max(mem) > 64, mem


def test_gpu_metrics_are_named_as_the_script_numbers_its_gpus(monkeypatch):
    """NVML stands in here (no GPU on the test machine): the run's devices, in the order of
    its CUDA_VISIBLE_DEVICES, become gpu0, gpu1, ... with their utilisation and memory."""
    import types
    nv = types.ModuleType("pynvml")
    util = {0: 10, 1: 20, 2: 30}
    nv.nvmlInit = lambda: None
    nv.nvmlShutdown = lambda: None
    nv.nvmlDeviceGetCount = lambda: 3
    nv.nvmlDeviceGetHandleByIndex = lambda i: i
    nv.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=util[h], memory=0)
    nv.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(used=(h + 1) * 1048576 * 100, total=0, free=0)
    monkeypatch.setitem(sys.modules, "pynvml", nv)
    gpus = system_metrics.open_gpus("2,0")
    s = SystemSampler([], lambda n, v: None, gpus=gpus)
    assert s.sample() == {"system/gpu0/utilization": 30.0, "system/gpu0/memory_mb": 300.0,
                          "system/gpu1/utilization": 10.0, "system/gpu1/memory_mb": 100.0}
    assert system_metrics.open_gpus("") is None  # no device visible to the run
    nv.nvmlInit = lambda: (_ for _ in ()).throw(RuntimeError("no driver"))
    assert system_metrics.open_gpus(None) is None
