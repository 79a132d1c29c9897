"""A short real Keras 3 (JAX backend) training on a slice of MNIST, as a tracked run in an
environment built from a conda YAML."""

import os
import textwrap

import pytest

from kyanite.core import Environment, Experiment, ScriptRunConfig
from kyanite.envs import find_pythons
from kyanite_testing import KERAS_CONDA


TRAIN = textwrap.dedent("""
    import argparse, gzip, os
    import numpy as np
    import keras
    from kyanite.core import Run

    p = argparse.ArgumentParser()
    p.add_argument("--data-folder", required=True)
    p.add_argument("--n-train", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--learning-rate", type=float, default=0.001)
    args = p.parse_args()

    def images(name, n):
        with gzip.open(os.path.join(args.data_folder, name)) as f:
            data = np.frombuffer(f.read(), np.uint8, offset=16)
        return data.reshape(-1, 784)[:n].astype("float32") / 255.0

    def labels(name, n):
        with gzip.open(os.path.join(args.data_folder, name)) as f:
            return np.frombuffer(f.read(), np.uint8, offset=8)[:n].astype("int32")

    x_train, y_train = images("train-images-idx3-ubyte.gz", args.n_train), labels("train-labels-idx1-ubyte.gz", args.n_train)
    x_test, y_test = images("t10k-images-idx3-ubyte.gz", 1000), labels("t10k-labels-idx1-ubyte.gz", 1000)
    run = Run.get_context()
    print("backend", keras.backend.backend(), "train", x_train.shape, "test", x_test.shape)

    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(300, activation="relu"),
                              keras.layers.Dense(100, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    class LogToRun(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            run.log("Loss", float(logs["loss"]))

    model.fit(x_train, y_train, epochs=1, batch_size=args.batch_size, verbose=2, callbacks=[LogToRun()])
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    run.log("Accuracy", float(acc))
    os.makedirs("outputs", exist_ok=True)
    model.save("outputs/model.keras")
    print("test accuracy", acc)
""")


@pytest.mark.skipif(not any(i.version[:2] == (3, 11) for i in find_pythons()),
                    reason="needs a Python 3.11 interpreter")
def test_keras_mnist_run(ws, tmp_path, mnist_dir):
    src = tmp_path / "keras-mnist"
    src.mkdir()
    (src / "train.py").write_text(TRAIN)
    (tmp_path / "conda_dependencies.yml").write_text(KERAS_CONDA)
    env = Environment.from_conda_specification("keras-env", str(tmp_path / "conda_dependencies.yml"))
    run = Experiment(ws, "keras-mnist").submit(ScriptRunConfig(
        source_directory=str(src), script="train.py",
        arguments=["--data-folder", str(mnist_dir), "--batch-size", 50, "--learning-rate", 0.001],
        environment=env))
    details = run.wait_for_completion(raise_on_error=False)
    log = run.get_details_with_logs()["logFiles"]["user_logs/std_log.txt"]
    assert details["status"] == "Completed", log[-3000:]
    assert "backend jax train (2000, 784)" in log
    metrics = run.get_metrics()
    assert metrics["Accuracy"] > 0.5, metrics
    assert isinstance(metrics["Loss"], float)
    resolved = details["resolvedPackages"]
    assert (resolved["keras"], resolved["jax"], resolved["jaxlib"]) == ("3.15.1", "0.10.2", "0.10.2")

    # the snapshot is the source folder only: the data travels as an argument
    from kyanite.core._snapshot import list_files
    assert list_files(str(src)) == ["train.py"]
    snapshot = os.path.join(os.environ["KYANITE_CACHE_DIR"], "snapshots", details["runDefinition"]["snapshotId"])
    if os.path.isdir(snapshot):
        assert os.listdir(snapshot) == ["train.py"]

    out = run.download_file("outputs/model.keras", str(tmp_path / "model.keras"))
    assert os.path.getsize(out) > 10000
    try:
        import keras
    except ImportError:
        return
    model = keras.saving.load_model(out)
    assert model.output_shape == (None, 10)
