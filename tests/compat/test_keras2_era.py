"""The 2020-era Keras tutorial, unchanged but for the import prefix (issue 9).

examples/keras2-era holds the tutorial's files: ``conda_dependencies.yml`` exactly as
published (python=3.6.2, azureml-defaults, tensorflow-gpu==2.0.0, keras<=2.3.1,
matplotlib), ``keras_mnist.py`` (Keras 2.3: ``keras.models.Sequential``,
``RMSprop(lr=...)``, a ``Callback`` calling ``run.log``, ``to_json`` + ``save_weights``)
and the era's ``score.py`` (``model_from_json``, ``Model.get_model_path``).

Here: the environment is built (or found cached) from that file on pyenv's Python 3.6, the
script trains one epoch on the real MNIST files as a run on the local target, its metrics
and model files are checked, the model is registered and deployed with the same
environment, and the service answers with predictions. Then the specs that cannot work
fail in Preparing, before anything is installed, saying why.

A cold build downloads about 1.4 GB into uv's cache (once per machine); warm, the module
takes well under two minutes.
"""

import gzip
import json
import os
import struct
import time
from pathlib import Path

import numpy as np
import pytest

from kyanite.core import Environment, Experiment, Model, ScriptRunConfig
from kyanite.core.model import InferenceConfig
from kyanite.core.webservice import LocalWebservice
from kyanite.envs import MARKER_NAME, EnvBuilder, find_pythons, resolve_python

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "keras2-era"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

pytestmark = pytest.mark.skipif(not any(i.version[:2] == (3, 6) for i in find_pythons()),
                                reason="needs a Python 3.6 interpreter (pyenv install 3.6.15)")


def _cache_dir():
    return os.environ["KYANITE_CACHE_DIR"]  # tests/conftest.py sets it; the run hosts use it too


def _load_test(folder, n):
    with gzip.open(os.path.join(str(folder), "t10k-images-idx3-ubyte.gz")) as f:
        _, _, rows, cols = struct.unpack(">IIII", f.read(16))
        x = np.frombuffer(f.read(n * rows * cols), np.uint8).reshape(n, rows * cols) / 255.0
    with gzip.open(os.path.join(str(folder), "t10k-labels-idx1-ubyte.gz")) as f:
        f.read(8)
        y = np.frombuffer(f.read(n), np.uint8)
    return x, y


@pytest.fixture(scope="module")
def era_env():
    return Environment.from_conda_specification(name="keras-env",
                                                file_path=str(EXAMPLE / "conda_dependencies.yml"))


def test_conda_file_is_the_tutorials():
    assert (EXAMPLE / "conda_dependencies.yml").read_text() == (
        "channels:\n- conda-forge\ndependencies:\n- python=3.6.2\n- pip:\n  - azureml-defaults\n"
        "  - tensorflow-gpu==2.0.0\n  - keras<=2.3.1\n  - matplotlib\n")


def test_era_environment_builds_and_is_cached(era_env):
    spec = era_env._spec()
    assert spec.python == "3.6.2" and spec.dropped == ["azureml-defaults"]
    assert spec.pip == ["tensorflow-gpu==2.0.0", "keras<=2.3.1", "matplotlib"]
    note = resolve_python("3.6.2").note
    assert note.startswith("python=3.6.2 requested: using Python 3.6.") and note.endswith("(newest installed 3.6)")

    builder = EnvBuilder(_cache_dir())  # the cache the run hosts below use
    lines = []
    t0 = time.perf_counter()
    built = builder.ensure(spec, log=lines.append)
    first = time.perf_counter() - t0
    text = "\n".join(lines)
    if not built.cached:  # a cold build: the Preparing lines, in order, before uv runs
        assert note in text
        order = [text.index(s) for s in (
            note, "added constraint h5py<3:", "added constraint numpy<1.20:", "added constraint protobuf<4:",
            "provided by kyanite, not installed: azureml-defaults", "building environment", "uv venv:")]
        assert order == sorted(order), text
    else:
        assert "reused cached environment" in text
    marker = json.loads((built.path / MARKER_NAME).read_text())
    assert marker["python_version"].startswith("3.6.")
    assert "/3.6." in marker["base_interpreter"]
    assert marker["constraints"] == ["h5py<3", "numpy<1.20", "protobuf<4"]
    resolved = built.resolved
    assert resolved["tensorflow-gpu"] == "2.0.0" and resolved["keras"] == "2.3.1"
    assert resolved["h5py"] == "2.10.0"  # h5py 3 cannot load what Keras 2.3 saves
    assert int(resolved["protobuf"].split(".")[0]) == 3 and resolved["numpy"].startswith("1.19.")
    assert not any(name.startswith("azureml") for name in resolved)

    t0 = time.perf_counter()
    again = builder.ensure(spec, log=None)
    warm = time.perf_counter() - t0
    assert again.cached and again.path == built.path and warm < 1.0
    print("era env: %s (first ensure here %.1fs; original build %.1fs; warm ensure %.1f ms)"
          % (built.path.name[:12], first, built.build_seconds, warm * 1000))


@pytest.fixture(scope="module")
def era_run(ws, era_env, mnist_dir):
    src = ScriptRunConfig(source_directory=str(EXAMPLE), script="keras_mnist.py",
                          arguments=["--data-folder", str(mnist_dir), "--batch-size", 50,
                                     "--learning-rate", 0.001, "--epochs", 1],
                          environment=era_env)
    t0 = time.time()
    run = Experiment(ws, "keras2-era").submit(src)
    details = run.wait_for_completion(raise_on_error=False)
    print("era run finished in %.1fs" % (time.time() - t0))
    return run, details


def test_era_script_runs_logs_metrics_and_keeps_the_model(era_run, tmp_path):
    run, details = era_run
    log = run.get_details_with_logs()["logFiles"]["user_logs/std_log.txt"]
    assert details["status"] == "Completed", log
    assert "Keras version: 2.3.1" in log and "Tensorflow version: 2.0.0" in log
    assert "Using TensorFlow backend." in log
    assert "Epoch 1/1" in log and "val_accuracy" in log
    assert details["resolvedPackages"]["keras"] == "2.3.1"

    metrics = run.get_metrics()
    assert set(metrics) >= {"Loss", "Accuracy", "Final test loss", "Final test accuracy", "Accuracy vs Loss"}
    assert isinstance(metrics["Accuracy"], float) and metrics["Accuracy"] > 0.9  # one epoch: one point
    assert 0 < metrics["Loss"] < 0.5
    assert metrics["Final test accuracy"] == pytest.approx(metrics["Accuracy"], abs=1e-6)

    names = run.get_file_names()
    assert {"outputs/model/model.json", "outputs/model/model.h5"} <= set(names), names
    run.download_file("outputs/model/model.json", str(tmp_path / "model.json"))
    run.download_file("outputs/model/model.h5", str(tmp_path / "model.h5"))
    arch = json.loads((tmp_path / "model.json").read_text())
    assert arch["class_name"] == "Sequential" and arch["keras_version"] == "2.3.1"
    assert [layer["config"]["units"] for layer in arch["config"]["layers"]] == [300, 100, 10]
    assert (tmp_path / "model.h5").read_bytes()[:8] == HDF5_SIGNATURE


def test_registered_model_deploys_with_the_same_environment(ws, era_run, era_env, mnist_dir):
    run, details = era_run
    assert details["status"] == "Completed"
    model = run.register_model(model_name="keras-mlp-mnist", model_path="outputs/model")
    inference = InferenceConfig(entry_script="score.py", source_directory=str(EXAMPLE), environment=era_env)
    t0 = time.time()
    service = Model.deploy(ws, "keras-mlp-mnist-svc", [model], inference,
                           LocalWebservice.deploy_configuration())
    try:
        service.wait_for_deployment()
        print("era service healthy in %.1fs" % (time.time() - t0))
        assert service.state == "Healthy", service.get_logs()
        x, y = _load_test(mnist_dir, 200)
        predicted = service.run(input_data=json.dumps({"data": x.tolist()}))
        assert len(predicted) == 200 and all(isinstance(p, int) for p in predicted)
        accuracy = float(np.mean(np.array(predicted) == y))
        assert accuracy > 0.9, accuracy
        assert "Python 3.6." in service.get_logs()
    finally:
        service.delete()


# -- specs that cannot work: Failed in Preparing, the reason in the log, nothing installed ---------

def _submit_trivial(ws, env, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text("open('ran', 'w').write('yes')\n")
    run = Experiment(ws, "keras2-era-refused").submit(ScriptRunConfig(
        source_directory=str(src), script="train.py", environment=env))
    details = run.wait_for_completion(raise_on_error=False)
    log = run.get_details_with_logs()["logFiles"]["user_logs/std_log.txt"]
    return run, details, log


def test_era_file_on_python_311_says_why_before_installing(ws, tmp_path):
    f = tmp_path / "conda_dependencies.yml"
    f.write_text((EXAMPLE / "conda_dependencies.yml").read_text().replace("python=3.6.2", "python=3.11"))
    env = Environment.from_conda_specification("keras-env-311", str(f))
    run, details, log = _submit_trivial(ws, env, tmp_path)
    assert details["status"] == "Failed", log
    err = details["error"]
    assert err["code"] == "EnvironmentBuildFailed"
    for text in (err["message"], log):
        assert "tensorflow-gpu==2.0.0 (TensorFlow 2.0) with keras<=2.3.1 needs Python 3.5 to 3.7, " \
               "but this environment uses Python 3.11." in text
        assert "Nothing was installed." in text and "python=3.7 or python=3.6" in text
    assert "uv pip install" not in log and "building environment" not in log
    assert not EnvBuilder(_cache_dir()).env_dir(env._spec()).exists()
    assert "Traceback" not in log


def test_multi_backend_keras_beside_open_tensorflow_on_311_is_refused(ws, tmp_path):
    f = tmp_path / "conda_dependencies.yml"
    f.write_text("dependencies:\n- python=3.11\n- pip:\n  - tensorflow\n  - keras<=2.3.1\n")
    env = Environment.from_conda_specification("keras-23-311", str(f))
    run, details, log = _submit_trivial(ws, env, tmp_path)
    assert details["status"] == "Failed" and details["error"]["code"] == "EnvironmentBuildFailed"
    assert "keras<=2.3.1 needs Python 3.5 to 3.8" in log and "Keras 3" in log
    assert "uv pip install" not in log


def test_python_no_interpreter_provides_lists_the_installed_ones(ws, tmp_path):
    f = tmp_path / "conda_dependencies.yml"
    f.write_text((EXAMPLE / "conda_dependencies.yml").read_text().replace("python=3.6.2", "python=3.5.2"))
    env = Environment.from_conda_specification("keras-env-35", str(f))
    run, details, log = _submit_trivial(ws, env, tmp_path)
    assert details["status"] == "Failed" and details["error"]["code"] == "EnvironmentBuildFailed"
    assert "python=3.5.2 requested, but no installed CPython interpreter matches." in log
    assert "Installed interpreters:" in log
    for i in find_pythons():
        assert i.version_str in log
    assert "uv pip install" not in log
