#!/usr/bin/env python
"""Device check (a machine with an NVIDIA GPU; never in CI): the Keras MNIST MLP on JAX
with CUDA, trained inside a kyanite run on a GPU target, against the same run on a CPU
target, in one invocation.

    python bench/gpu_check.py [--python PY] [--epochs 3] [--data-folder DIR] [--timeout 420]

What it needs on the machine: a driver (``nvidia-smi``), and a Python (``--python``,
default this one) that imports ``keras`` (3) and ``jax`` with its CUDA plugin
(``pip install "jax[cuda12]" keras``): the runs use it as a user-managed environment, so
nothing is downloaded. MNIST is read from ``--data-folder`` (or ``KYANITE_MNIST_DIR``,
``../shared/data/mnist``, ``shared/data/mnist``); without the files, random data of
MNIST's shape is used (epoch time is what is measured).

It creates a throw-away workspace, a GPU target (``vm_size='gpu'``, one slot) and a CPU
target, runs the 784-300-100-10 MLP (batch 50, RMSprop 0.001) for ``--epochs`` on each,
and prints per target: the run's ``CUDA_VISIBLE_DEVICES``, JAX's devices, the GPUs on the
run's record (``host.gpuDevices``, ``host.gpuDriver``), whether ``system/gpu*`` metrics
arrived, and the epoch times (the first epoch includes compilation; the median of the
others is compared). Exit 0 when the GPU run used a GPU and both completed; 2 when a
prerequisite is missing (said why); 1 otherwise.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "src"))

TRAIN = """
import os, sys, time
import numpy as np
import jax, keras
from kyanite.core import Run

run = Run.get_context()
epochs, folder = int(sys.argv[1]), sys.argv[2]
if folder:
    from utils import load_mnist
    x, y = load_mnist(folder, "train")
else:
    rng = np.random.default_rng(0)
    x, y = rng.random((60000, 784), dtype=np.float32), rng.integers(0, 10, 60000)
devices = [str(d) for d in jax.devices()]
print("CUDA_VISIBLE_DEVICES=%r, JAX devices: %s" % (os.environ.get("CUDA_VISIBLE_DEVICES"), devices), flush=True)
run.log("jax_platform", jax.devices()[0].platform)
run.log("cuda_visible_devices", os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>"))
model = keras.Sequential([keras.Input(shape=(784,)), keras.layers.Dense(300, activation="relu"),
                          keras.layers.Dense(100, activation="relu"), keras.layers.Dense(10, activation="softmax")])
model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=0.001), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])


class Timer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.time()

    def on_epoch_end(self, epoch, logs=None):
        run.log("epoch_seconds", time.time() - self.t0)
        run.log("accuracy", float(logs["accuracy"]))


model.fit(x, y, batch_size=50, epochs=epochs, verbose=2, callbacks=[Timer()])
"""


def find_mnist(given):
    for cand in (given, os.environ.get("KYANITE_MNIST_DIR"), os.path.join(os.path.dirname(REPO), "shared", "data",
                                                                          "mnist"),
                 os.path.join(REPO, "shared", "data", "mnist")):
        if cand and os.path.exists(os.path.join(cand, "train-images-idx3-ubyte.gz")):
            return cand
    return ""


def prerequisites(python):
    try:
        smi = subprocess.run(["nvidia-smi", "-L"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        return "no NVIDIA driver here (nvidia-smi: %s)" % exc
    if smi.returncode != 0:
        return "nvidia-smi failed: %s" % smi.stdout.decode(errors="replace").strip()
    probe = subprocess.run([python, "-c", "import keras, jax; print(jax.devices('gpu'))"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    if probe.returncode != 0:
        return ("%s cannot run Keras on JAX with CUDA (pip install 'jax[cuda12]' keras): %s"
                % (python, probe.stdout.decode(errors="replace").strip().splitlines()[-1:]))
    print("prerequisites: %s; %s" % (smi.stdout.decode().strip().replace("\n", "; "), probe.stdout.decode().strip()))
    return None


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--data-folder", default=None)
    p.add_argument("--timeout", type=float, default=420.0, help="seconds for both runs together")
    args = p.parse_args()
    missing = prerequisites(args.python)
    if missing:
        print("gpu_check: cannot run: %s" % missing)
        return 2
    from kyanite.core import Environment, Experiment, ScriptRunConfig, Workspace
    from kyanite.core.compute import AmlCompute, ComputeTarget
    from kyanite.compute import gpus
    facts, driver = gpus.probe()
    print("kyanite.compute.gpus: %d GPU(s), driver %s: %s" % (len(facts), driver, [g["name"] for g in facts]))
    data = find_mnist(args.data_folder)
    print("data: %s" % (data or "random, MNIST-shaped (no MNIST files found)"))
    root = tempfile.mkdtemp(prefix="kyanite-gpu-check-")
    src = os.path.join(root, "src")
    os.makedirs(src)
    with open(os.path.join(src, "train.py"), "w") as f:
        f.write(textwrap.dedent(TRAIN))
    with open(os.path.join(REPO, "examples", "keras-mnist", "utils.py")) as f, \
            open(os.path.join(src, "utils.py"), "w") as out:
        out.write(f.read())
    ws = Workspace.create(name="gpu-check", path=os.path.join(root, "ws"), show_output=False)
    rc = 1
    try:
        gpu = ComputeTarget.create(ws, "gpu-1", AmlCompute.provisioning_configuration(vm_size="gpu", max_nodes=1))
        cpu = ComputeTarget.create(ws, "cpu-1", AmlCompute.provisioning_configuration(vm_size="cpu", max_nodes=1))
        env = Environment("device-python")
        env.python.user_managed_dependencies = True
        env.python.interpreter_path = args.python
        env.environment_variables = {"KERAS_BACKEND": "jax"}
        exp = Experiment(ws, "gpu-check")
        deadline = time.time() + args.timeout
        results = {}
        for target in (gpu, cpu):  # one after the other: the CPU run must not slow the GPU one
            run = exp.submit(ScriptRunConfig(source_directory=src, script="train.py",
                                             arguments=[str(args.epochs), data], compute_target=target,
                                             environment=env))
            while run.get_status() not in ("Completed", "Failed", "Canceled") and time.time() < deadline:
                time.sleep(1)
            status = run.get_status()
            details = run.get_details()
            metrics = run.get_metrics()
            host = details.get("host") or {}
            epochs = metrics.get("epoch_seconds") or []
            epochs = epochs if isinstance(epochs, list) else [epochs]
            steady = statistics.median(epochs[1:]) if len(epochs) > 1 else (epochs[0] if epochs else None)
            results[target.name] = (status, steady, metrics.get("jax_platform"))
            print("\n== %s (%s): %s" % (target.name, run.id, status))
            print("  CUDA_VISIBLE_DEVICES: %r; JAX platform: %s" % (metrics.get("cuda_visible_devices"),
                                                                    metrics.get("jax_platform")))
            print("  run record GPUs: %s; driver %s; held: %s" % (
                [(g.get("id"), g.get("name"), g.get("memoryMiB")) for g in host.get("gpuDevices") or []],
                host.get("gpuDriver"), host.get("gpus")))
            print("  system GPU metrics: %s" % sorted(k for k in metrics if k.startswith("system/gpu"))[:6])
            print("  epoch seconds: %s (steady %s)" % (["%.2f" % e for e in epochs],
                                                      "%.2f" % steady if steady is not None else "-"))
            if status != "Completed":
                print("  log tail:\n    " + "\n    ".join((details.get("error") or {}).get("logTail") or []))
        g, c = results.get("gpu-1"), results.get("cpu-1")
        if g and c and g[1] and c[1]:
            print("\nepoch time, GPU %.2fs vs CPU %.2fs: %.1fx" % (g[1], c[1], c[1] / g[1]))
        ok = bool(g and c and g[0] == c[0] == "Completed" and g[2] == "gpu" and c[2] == "cpu")
        print("gpu_check: %s" % ("OK" if ok else "FAILED (the GPU run must run on 'gpu', the CPU run on 'cpu')"))
        rc = 0 if ok else 1
    finally:
        from kyanite.core._server import stop_server
        from kyanite.server.layout import WorkspaceLayout
        stop_server(WorkspaceLayout.for_path(os.path.join(root, "ws")))
    return rc


if __name__ == "__main__":
    sys.exit(main())
