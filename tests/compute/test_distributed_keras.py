"""A real 2-process data-parallel Keras 3 training (JAX backend, CPU) on a slice of MNIST.

The run has ``PyTorchConfiguration(node_count=1, process_count_per_node=2)``: the run host
starts two processes with RANK/WORLD_SIZE and the ``JAX_*`` variables (see
:mod:`kyanite.runtime.distributed`). The script joins them into one JAX program with
``jax.distributed.initialize`` (CPU collectives over gloo) and trains under
``keras.distribution.DataParallel``: each rank reads only its own half of a 6,000-image
training slice, the model's weights are replicated over both processes' devices, and the
gradients of every step are all-reduced across the ranks. So both ranks end with the same
weights (checked by their SHA-256, logged by each rank) and the model converges.

It runs on the local target: for one node, a Ray target starts the same process group
inside its run host, so it would add only a cluster start here.
"""

import textwrap

import pytest

from kyanite.core import Environment, Experiment, ScriptRunConfig
from kyanite.core.runconfig import PyTorchConfiguration
from kyanite.envs import find_pythons
from kyanite_testing import KERAS_CONDA

pytestmark = [
    pytest.mark.skipif(not any(i.version[:2] == (3, 11) for i in find_pythons()),
                       reason="needs a Python 3.11 interpreter"),
    pytest.mark.timeout(900),  # the first build of the environment; ~30 s once it is cached
]


TRAIN = textwrap.dedent("""
    import argparse, gzip, hashlib, os
    import numpy as np

    import jax
    # one JAX program over the run's processes: CPU collectives over gloo, the coordinator
    # address, process count and id from the variables the run host sets for each rank
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=os.environ["JAX_COORDINATOR_ADDRESS"],
                               num_processes=int(os.environ["JAX_NUM_PROCESSES"]),
                               process_id=int(os.environ["JAX_PROCESS_ID"]))
    import keras
    from kyanite.core import Run

    p = argparse.ArgumentParser()
    p.add_argument("--data-folder", required=True)
    p.add_argument("--n-train", type=int, default=6000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=50)  # per rank
    args = p.parse_args()

    rank, world = jax.process_index(), jax.process_count()
    assert (rank, world) == (int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]))

    def images(name, n):
        with gzip.open(os.path.join(args.data_folder, name)) as f:
            data = np.frombuffer(f.read(), np.uint8, offset=16)
        return data.reshape(-1, 784)[:n].astype("float32") / 255.0

    def labels(name, n):
        with gzip.open(os.path.join(args.data_folder, name)) as f:
            return np.frombuffer(f.read(), np.uint8, offset=8)[:n].astype("int32")

    # this rank's shard of the training slice: every world-th image from its rank on
    x_train = images("train-images-idx3-ubyte.gz", args.n_train)[rank::world]
    y_train = labels("train-labels-idx1-ubyte.gz", args.n_train)[rank::world]
    x_test, y_test = images("t10k-images-idx3-ubyte.gz", 10000), labels("t10k-labels-idx1-ubyte.gz", 10000)
    run = Run.get_context()
    print("rank", rank, "of", world, "devices", jax.devices(), "shard", x_train.shape, flush=True)

    # weights replicated on every process's device, each batch split over them; the data
    # is already sharded per rank, so no automatic sharding of the input
    keras.distribution.set_distribution(keras.distribution.DataParallel(
        devices=keras.distribution.list_devices(), auto_shard_dataset=False))
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(300, activation="relu"),
                              keras.layers.Dense(100, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.001), loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    class LogToRun(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if rank == 0:
                run.log("Loss", float(logs["loss"]))

    model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, shuffle=False, verbose=2,
              callbacks=[LogToRun()])

    # every rank checks its own copy of the weights on the whole 10k test set, in numpy
    weights = [np.asarray(w) for w in model.get_weights()]
    digest = hashlib.sha256(b"".join(w.tobytes() for w in weights)).hexdigest()
    h = x_test
    for i in range(0, len(weights), 2):
        h = h @ weights[i] + weights[i + 1]
        if i + 2 < len(weights):
            h = np.maximum(h, 0)
    acc = float((h.argmax(axis=1) == y_test).mean())
    print("rank %d weights sha256 %s test accuracy %.4f" % (rank, digest, acc), flush=True)
    run.log("weights_rank%d" % rank, int(digest[:12], 16))  # 48 bits: exact as a float
    run.log("accuracy_rank%d" % rank, acc)
    run.log("train_images_rank%d" % rank, len(x_train))
    if rank == 0:
        run.log("Accuracy", acc)
    jax.distributed.shutdown()
""")


def test_two_process_data_parallel_keras(ws, tmp_path, mnist_dir):
    src = tmp_path / "keras-dp"
    src.mkdir()
    (src / "train.py").write_text(TRAIN)
    (tmp_path / "conda_dependencies.yml").write_text(KERAS_CONDA)
    env = Environment.from_conda_specification("keras-env", str(tmp_path / "conda_dependencies.yml"))
    run = Experiment(ws, "keras-dp").submit(ScriptRunConfig(
        source_directory=str(src), script="train.py",
        arguments=["--data-folder", str(mnist_dir), "--n-train", 6000, "--epochs", 2],
        environment=env, distributed_job_config=PyTorchConfiguration(node_count=1, process_count_per_node=2)))
    details = run.wait_for_completion(raise_on_error=False)
    logs = [run._read_log(f"user_logs/std_log_process_{r}.txt", 0)[0].decode() for r in (0, 1)]
    assert details["status"] == "Completed", (details.get("error"), logs[0][-3000:], logs[1][-3000:])

    # both ranks ran, each on its half of the slice, in one 2-process JAX program
    for r, text in enumerate(logs):
        assert f"rank {r} of 2 devices" in text and "shard (3000, 784)" in text, text[-3000:]
        assert "weights sha256" in text, text[-3000:]
    m = run.get_metrics()
    assert (m["train_images_rank0"], m["train_images_rank1"]) == (3000, 3000)
    # the same weights on both ranks, and a model that learned
    assert m["weights_rank0"] == m["weights_rank1"], m
    sha = [next(t for t in text.splitlines() if "weights sha256" in t).split()[4] for text in logs]
    assert sha[0] == sha[1]
    assert m["accuracy_rank0"] == m["accuracy_rank1"] == m["Accuracy"]
    assert m["Accuracy"] > 0.85, m
    losses = m["Loss"]
    assert isinstance(losses, list) and len(losses) == 2 and losses[1] < losses[0], m
    rd = details["runDefinition"]
    assert rd["framework"] == "PyTorch" and rd["nodeCount"] == 1
