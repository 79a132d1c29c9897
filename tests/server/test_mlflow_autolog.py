"""MLflow autologging inside kyanite runs: a script that calls only ``mlflow.keras.autolog()``
trains Keras 3 on JAX (a slice of the real MNIST files) as a kyanite run, in an environment
built with uv (the Keras test pins plus ``mlflow-skinny``; pandas because MLflow's dataset and
signature code imports it). What autolog logged is read back through kyanite's SDK: the
per-epoch metrics, the fit's params (run properties ``mlflow.param.*``), the model's files
among the run's outputs, and ``run.register_model`` over them. The same for
``mlflow.pytorch.autolog()`` with Lightning on torch 2.13.0 (CPU), when a ``PIP_FIND_LINKS``
folder holds its wheel (as the curated PyTorch environment installs it).

The environment is cached in the node cache of tests/conftest.py (``KYANITE_CACHE_DIR``),
so it is built once."""

import shutil

import pytest

from kyanite.core import Environment, Experiment, Model, ScriptRunConfig
from kyanite.envs import find_pythons
from kyanite_testing import KERAS_CONDA, REPO

#: KERAS_CONDA plus the MLflow client: mlflow-skinny (the tracking client and the flavors,
#: without the server's dependencies) and pandas, which mlflow.keras imports.
MLFLOW_KERAS_CONDA = KERAS_CONDA + """    - mlflow-skinny==3.17.2
    - pandas==3.1.1
"""

TRAIN = """
import sys
import keras
import mlflow
from utils import load_mnist

x, y = load_mnist(sys.argv[1], "train")
x, y = x[:1000], y[:1000].astype("int32")
mlflow.keras.autolog()
model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(32, activation="relu"),
                          keras.layers.Dense(10, activation="softmax")])
model.compile(optimizer=keras.optimizers.Adam(0.002), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
model.fit(x, y, epochs=2, batch_size=100, verbose=2)
"""


def test_points_sent_again_with_a_model_id_are_stored_once(ws):
    """MLflow's log_model logs a run's points again with the logged model's id (to link
    them): the run's series keep one point each, and the latest value stays the last step's."""
    mlflow = pytest.importorskip("mlflow")
    from mlflow.entities import Metric
    c = mlflow.MlflowClient(ws.get_mlflow_tracking_uri())
    run = Experiment(ws, "ml-once").start_logging()
    c.log_batch(run.id, metrics=[Metric("loss", 0.9, 1000, 0), Metric("loss", 0.5, 2000, 1)])
    c.log_batch(run.id, metrics=[Metric("loss", 0.9, 1000, 0, model_id="m-1"),
                                 Metric("loss", 0.4, 3000, 2, model_id="m-1")])
    assert run.get_metrics() == {"loss": [0.9, 0.5, 0.4]}
    c.log_batch(run.id, metrics=[Metric("loss", 0.4, 3000, 2)])  # without a model id: MLflow keeps both
    assert run.get_metrics() == {"loss": [0.9, 0.5, 0.4, 0.4]}
    assert [(m.step, m.value) for m in c.get_metric_history(run.id, "loss")][:3] == [(0, 0.9), (1, 0.5), (2, 0.4)]
    run.complete()


@pytest.mark.skipif(not any(i.version[:2] == (3, 11) for i in find_pythons()),
                    reason="needs a Python 3.11 interpreter")
def test_keras_autolog_in_a_run(ws, tmp_path, mnist_dir):
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text(TRAIN)
    shutil.copy(str(REPO / "examples" / "keras-mnist" / "utils.py"), str(src / "utils.py"))
    (tmp_path / "conda_dependencies.yml").write_text(MLFLOW_KERAS_CONDA)
    env = Environment.from_conda_specification("keras-mlflow", str(tmp_path / "conda_dependencies.yml"))
    run = Experiment(ws, "keras-autolog").submit(ScriptRunConfig(
        source_directory=str(src), script="train.py", arguments=[str(mnist_dir)], environment=env))
    details = run.wait_for_completion(raise_on_error=False)
    log = run.get_details_with_logs()["logFiles"]["user_logs/std_log.txt"]
    assert details["status"] == "Completed", log[-3000:]
    assert details["resolvedPackages"]["mlflow-skinny"] == "3.17.2"

    metrics = run.get_metrics()  # one point per epoch, as autolog logged them
    assert sorted(k for k in metrics if not k.startswith("system/")) == ["accuracy", "loss"], metrics
    assert len(metrics["loss"]) == 2 and len(metrics["accuracy"]) == 2, metrics
    assert metrics["loss"][1] < metrics["loss"][0] and 0.3 < metrics["accuracy"][1] <= 1.0, metrics
    props = run.get_properties()  # model.fit's arguments and the optimizer's settings
    assert props["mlflow.param.epochs"] == "2" and props["mlflow.param.batch_size"] == "100", props
    assert props["mlflow.param.optimizer_name"] == "adam", props
    assert float(props["mlflow.param.optimizer_learning_rate"]) == pytest.approx(0.002)
    assert run.get_tags()["mlflow.autologging"] == "keras"

    files = run.get_file_names()
    assert {"outputs/model/MLmodel", "outputs/model/data/model.keras",
            "outputs/model/requirements.txt"} <= set(files), files
    model = run.register_model(model_name="keras-autolog", model_path="outputs/model")
    assert (model.name, model.version) == ("keras-autolog", 1)
    assert Model(ws, "keras-autolog").version == 1
    got = model.download(target_dir=str(tmp_path / "dl"))
    assert "keras_version: 3.15.1" in open(got + "/MLmodel").read()


TRAIN_TORCH = """
import sys
import lightning as L
import mlflow
import torch
from torch.utils.data import DataLoader, TensorDataset
from utils import load_mnist


class Net(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(784, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))

    def training_step(self, batch, i):
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self.net(x), y)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), 0.002)


x, y = load_mnist(sys.argv[1], "train")
data = TensorDataset(torch.from_numpy(x[:1000]), torch.from_numpy(y[:1000].astype("int64")))
mlflow.pytorch.autolog()
L.Trainer(max_epochs=2, enable_progress_bar=False, enable_checkpointing=False, logger=False).fit(
    Net(), DataLoader(data, batch_size=100))
"""


def _torch_wheel_dirs():
    """The ``PIP_FIND_LINKS`` folders holding a torch 2.13.0 wheel (the CPU build), as
    the curated PyTorch environment uses them."""
    import glob
    import os
    return [d for d in os.environ.get("PIP_FIND_LINKS", "").split() if glob.glob(os.path.join(d, "torch-2.13.0*.whl"))]


@pytest.mark.skipif(not any(i.version[:2] == (3, 11) for i in find_pythons()),
                    reason="needs a Python 3.11 interpreter")
@pytest.mark.skipif(not _torch_wheel_dirs(), reason="no torch 2.13.0 wheel in a PIP_FIND_LINKS folder")
def test_pytorch_autolog_in_a_run(ws, tmp_path, mnist_dir):
    """mlflow.pytorch.autolog() patches Lightning's Trainer.fit: per-epoch metrics, the
    optimizer's params and the model's files land in the kyanite run."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text(TRAIN_TORCH)
    shutil.copy(str(REPO / "examples" / "keras-mnist" / "utils.py"), str(src / "utils.py"))
    pip = ["--find-links %s" % d for d in _torch_wheel_dirs()] + [
        "torch==2.13.0", "lightning==2.6.6", "mlflow-skinny==3.17.2", "pandas==3.1.1"]
    (tmp_path / "conda_dependencies.yml").write_text(
        "name: torch-mlflow\ndependencies:\n  - python=3.11\n  - pip:\n" + "".join("    - %s\n" % p for p in pip))
    env = Environment.from_conda_specification("torch-mlflow", str(tmp_path / "conda_dependencies.yml"))
    run = Experiment(ws, "torch-autolog").submit(ScriptRunConfig(
        source_directory=str(src), script="train.py", arguments=[str(mnist_dir)], environment=env))
    details = run.wait_for_completion(raise_on_error=False)
    log = run.get_details_with_logs()["logFiles"]["user_logs/std_log.txt"]
    assert details["status"] == "Completed", log[-3000:]

    metrics = run.get_metrics()
    assert len(metrics["train_loss"]) == 2 and metrics["train_loss"][1] < metrics["train_loss"][0], metrics
    props = run.get_properties()
    assert props["mlflow.param.epochs"] == "2" and props["mlflow.param.optimizer_name"] == "Adam", props
    assert float(props["mlflow.param.lr"]) == pytest.approx(0.002)
    assert run.get_tags()["mlflow.autologging"] == "pytorch"
    assert {"outputs/model/MLmodel", "outputs/model/data/model.pth"} <= set(run.get_file_names())
    model = run.register_model(model_name="torch-autolog", model_path="outputs/model")
    assert (model.name, model.version) == ("torch-autolog", 1)
