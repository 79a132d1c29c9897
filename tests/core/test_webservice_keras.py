"""A real Keras model (JAX backend) trained on an MNIST slice as a run, registered from
the run, deployed in its own uv environment, and scored over HTTP with real test images."""

import gzip
import http.client
import json
import os
import statistics
import struct
import textwrap
import time

import numpy as np
import pytest

from kyanite.core import Environment, Experiment, Model, ScriptRunConfig
from kyanite.core.model import InferenceConfig
from kyanite.core.webservice import AciWebservice
from kyanite_testing import remove_services

CONDA = """
channels:
- conda-forge
dependencies:
- python=3.11
- pip:
  - azureml-defaults
  - keras==3.15.1
  - jax==0.10.2
  - jaxlib==0.10.2
"""

MNIST = """
import gzip, os, struct
import numpy as np

def load(folder, kind, n):
    with gzip.open(os.path.join(folder, "%s-images-idx3-ubyte.gz" % kind)) as f:
        _, count, rows, cols = struct.unpack(">IIII", f.read(16))
        x = np.frombuffer(f.read(n * rows * cols), np.uint8).reshape(n, rows * cols).astype("float32") / 255
    with gzip.open(os.path.join(folder, "%s-labels-idx1-ubyte.gz" % kind)) as f:
        f.read(8)
        y = np.frombuffer(f.read(n), np.uint8)
    return x, y
"""

TRAIN = """
import argparse, os
import keras
from kyanite.core import Run
from mnist import load

p = argparse.ArgumentParser()
p.add_argument("--data-folder")
args = p.parse_args()
x, y = load(args.data_folder, "train", 4000)
model = keras.Sequential([keras.Input(shape=(784,)), keras.layers.Dense(128, activation="relu"),
                          keras.layers.Dense(10, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
hist = model.fit(x, y, epochs=4, batch_size=64, verbose=2)
Run.get_context().log("Accuracy", float(hist.history["accuracy"][-1]))
os.makedirs("outputs/model", exist_ok=True)
model.save("outputs/model/model.keras")
"""

SCORE = """
import json, os
import numpy as np
import keras
from kyanite.core.model import Model

def init():
    global model
    path = os.path.join(Model.get_model_path("keras-mnist"), "model.keras")
    model = keras.models.load_model(path)
    for n in (1, 30):  # compile the shapes the clients send
        model(np.zeros((n, 784), "float32"))

def run(raw_data):
    x = np.asarray(json.loads(raw_data)["data"], dtype="float32").reshape(-1, 784)
    return np.asarray(model(x)).argmax(axis=1).tolist()
"""


@pytest.fixture(scope="module", autouse=True)
def _remove_services(ws):
    yield
    remove_services(ws)


def _load_test(folder, n):
    with gzip.open(os.path.join(str(folder), "t10k-images-idx3-ubyte.gz")) as f:
        _, _, rows, cols = struct.unpack(">IIII", f.read(16))
        x = np.frombuffer(f.read(n * rows * cols), np.uint8).reshape(n, rows * cols) / 255.0
    with gzip.open(os.path.join(str(folder), "t10k-labels-idx1-ubyte.gz")) as f:
        f.read(8)
        y = np.frombuffer(f.read(n), np.uint8)
    return x, y


def test_keras_mnist_trained_registered_deployed_and_scored(ws, tmp_path, mnist_dir):
    src = tmp_path / "train"
    src.mkdir()
    (src / "train.py").write_text(textwrap.dedent(TRAIN))
    (src / "mnist.py").write_text(textwrap.dedent(MNIST))
    (src / "conda_dependencies.yml").write_text(textwrap.dedent(CONDA))
    (src / "score.py").write_text(textwrap.dedent(SCORE))
    env = Environment.from_conda_specification("keras-env", str(src / "conda_dependencies.yml"))

    run = Experiment(ws, "keras-mnist").submit(ScriptRunConfig(
        source_directory=str(src), script="train.py", arguments=["--data-folder", str(mnist_dir)],
        environment=env))
    run.wait_for_completion(raise_on_error=True)
    model = run.register_model(model_name="keras-mnist", model_path="outputs/model",
                               tags={"framework": "keras"}, model_framework=Model.Framework.KERAS,
                               model_framework_version="3.15.1")
    assert model.run_id == run.id and model.version == 1

    service = Model.deploy(ws, "keras-mnist-svc", [model],
                           InferenceConfig(entry_script="score.py", source_directory=str(src), environment=env),
                           AciWebservice.deploy_configuration(cpu_cores=1, memory_gb=1, auth_enabled=True,
                                                              tags={"name": "mnist"},
                                                              description="Keras MLP on MNIST"))
    t0 = time.time()
    service.wait_for_deployment()
    print("deployed (Healthy) in %.1fs" % (time.time() - t0))

    x, y = _load_test(mnist_dir, 300)
    predicted = []
    for i in range(0, 300, 30):
        predicted += service.run(input_data=json.dumps({"data": x[i:i + 30].tolist()}))
    accuracy = float(np.mean(np.array(predicted) == y))
    assert accuracy > 0.85, accuracy

    key1, key2 = service.get_keys()
    host, port = service.scoring_uri.split("//")[1].split("/")[0].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    headers = {"Content-Type": "application/json", "Authorization": "Bearer " + key2}
    bodies = [json.dumps({"data": x[i:i + 1].tolist()}) for i in range(50)]
    latencies, answers = [], []
    for _ in range(4):
        for b in bodies:
            t = time.perf_counter()
            conn.request("POST", "/score", b, headers)
            r = conn.getresponse()
            answers.append(json.loads(r.read())[0])
            latencies.append(time.perf_counter() - t)
    assert answers[:50] == predicted[:50]
    p50 = statistics.median(latencies) * 1000
    print("single-image HTTP scoring: p50 %.2f ms over %d requests" % (p50, len(latencies)))
    assert p50 < 100
    conn.request("POST", "/score", bodies[0], {"Content-Type": "application/json"})
    r = conn.getresponse()
    r.read()
    assert r.status == 401
