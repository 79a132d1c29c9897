"""Curated environments: get by exact or v1 name, listed with the workspace's, unknown
names answered with the list, reserved for registering, and a real run on AzureML-Minimal."""

import pytest

from kyanite.core import Environment, Experiment, ScriptRunConfig
from kyanite.envs.curated import CURATED
from kyanite.exceptions import NotFoundException, UserErrorException

NAMES = [c.name for c in CURATED]


def test_list_includes_curated_and_registered(ws):
    Environment("my-env").register(ws)
    envs = Environment.list(ws)
    assert set(NAMES) <= set(envs) and "my-env" in envs
    assert {"AzureML-Minimal", "AzureML-sklearn-1.5-py311-cpu", "AzureML-Keras-3-jax-py311-cpu",
            "AzureML-PyTorch-2.13-py311-cpu"} == set(NAMES)


def test_get_exact_names():
    minimal = Environment.get(None, "AzureML-Minimal")  # curated: no server needed
    assert minimal.name == "AzureML-Minimal" and minimal.version == "1"
    spec = minimal._run_definition()["spec"]
    assert spec["pip"] == [] and spec["python"] is None
    sk = Environment.get(None, "azureml-sklearn-1.5-py311-cpu")
    assert sk._run_definition()["spec"]["pip"] == ["scikit-learn==1.5.*", "pandas", "numpy"]
    torch = Environment.get(None, "AzureML-PyTorch-2.13-py311-cpu")
    assert "torch==2.13.0" in torch._run_definition()["spec"]["pip"]


@pytest.mark.parametrize("v1_name,curated", [
    ("AzureML-sklearn-0.24-ubuntu18.04-py37-cpu", "AzureML-sklearn-1.5-py311-cpu"),
    ("AzureML-Scikit-learn-0.20.3", "AzureML-sklearn-1.5-py311-cpu"),
    ("AzureML-TensorFlow-2.3-GPU", "AzureML-Keras-3-jax-py311-cpu"),
    ("AzureML-tensorflow-2.4-ubuntu18.04-py37-cuda11-gpu", "AzureML-Keras-3-jax-py311-cpu"),
    ("AzureML-PyTorch-1.6-CPU", "AzureML-PyTorch-2.13-py311-cpu"),
    ("AzureML-pytorch-1.10-ubuntu18.04-py38-cuda11-gpu", "AzureML-PyTorch-2.13-py311-cpu"),
])
def test_v1_names_map_to_the_nearest(v1_name, curated):
    assert Environment.get(None, v1_name).name == curated


def test_unknown_curated_name_lists_the_ones_that_exist(ws):
    with pytest.raises(NotFoundException) as info:
        Environment.get(ws, "AzureML-AutoML")
    msg = info.value.message
    assert "'AzureML-AutoML' does not exist" in msg
    assert all(n in msg for n in NAMES)
    with pytest.raises(NotFoundException, match="no-such-env"):  # other names: the workspace's
        Environment.get(ws, "no-such-env")


def test_curated_names_cannot_be_registered(ws):
    with pytest.raises(UserErrorException, match="reserved for the curated environments"):
        Environment("AzureML-Minimal").register(ws)


def test_run_on_minimal(ws, make_script):
    env = Environment.get(ws, "AzureML-Minimal")
    src = make_script("""
        from kyanite.core import Run
        Run.get_context().log("answer", 42)
    """)
    run = Experiment(ws, "curated").submit(ScriptRunConfig(source_directory=str(src), script="train.py",
                                                           environment=env))
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Completed", run.get_details_with_logs()["logFiles"]
    assert run.get_metrics() == {"answer": 42.0}
    assert details["runDefinition"]["environment"]["name"] == "AzureML-Minimal"
