"""The typed run records: real definitions as the SDK builds them round-trip exactly, and
wrong ones are refused naming the field."""

import json

import pytest

from kyanite.core import Dataset, Experiment, ScriptRunConfig
from kyanite.core.runconfig import PyTorchConfiguration
from kyanite.protocol import Deployment, RecordError, RunDefinition, RunRecord, SweepSpec
from kyanite.train.hyperdrive import (
    BanditPolicy, HyperDriveConfig, PrimaryMetricGoal, RandomParameterSampling, choice, uniform,
)


@pytest.fixture
def source(tmp_path):
    (tmp_path / "train.py").write_text("print('hi')\n")
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text("a")
    return tmp_path


def sdk_definition(ws, source):
    cfg = ScriptRunConfig(source_directory=str(source), script="train.py",
                          arguments=["--lr", 0.1, "--data", Dataset.File.from_files(path=str(source / "data"))
                                     .as_named_input("train").as_mount()],
                          distributed_job_config=PyTorchConfiguration(node_count=1, process_count_per_node=2))
    return cfg, cfg._definition(Experiment(ws, "protocol"))


def test_sdk_script_run_definition_round_trips(ws, source):
    _, d = sdk_definition(ws, source)
    assert d["inputDatasets"] and d["distributed"] and d["snapshotId"]
    rd = RunDefinition.from_json(json.loads(json.dumps(d)))
    assert json.dumps(rd.to_json()) == json.dumps(d)  # same keys, same order
    assert rd.script == "train.py" and rd.snapshot_id == d["snapshotId"] and rd.submitted
    assert list(rd.input_datasets) == ["train"] and rd.arguments == d["arguments"]


def test_sdk_sweep_definition_round_trips(ws, source):
    cfg, child = sdk_definition(ws, source)
    hd = HyperDriveConfig(run_config=cfg, hyperparameter_sampling=RandomParameterSampling(
        {"--lr": uniform(0.01, 0.1), "--batch": choice(16, 32)}), policy=BanditPolicy(slack_factor=0.1),
        primary_metric_name="acc", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE, max_total_runs=4)
    spec = json.loads(json.dumps(hd.to_json()))
    assert SweepSpec.from_json(spec).to_json() == spec
    assert SweepSpec.from_json(spec).goal == "maximize" and SweepSpec.from_json(spec).max_total_runs == 4
    stored = {"hyperdrive": dict(spec, seed=7, createdAt=1.5, resumeChildren=[]), "childDefinition": child}
    rd = RunDefinition.from_json(json.loads(json.dumps(stored)))
    assert json.dumps(rd.to_json()) == json.dumps(stored)
    assert rd.child_definition.script == "train.py" and rd.hyperdrive.seed == 7 and not rd.submitted


def test_sdk_sweep_submission_is_validated_by_the_server(ws, source):
    _, child = sdk_definition(ws, source)
    with pytest.raises(Exception) as err:
        ws._client.post("/api/sweeps", {"experiment": "protocol", "hyperdrive": {"sampling": {}},
                                        "definition": dict(child, arguments="--lr 1")})
    assert "arguments" in str(err.value)


@pytest.mark.parametrize("data, field, words", [
    ({"script": 3}, "script", "must be a string"),
    ({"script": "t.py", "arguments": "--lr 1"}, "arguments", "list of strings or numbers"),
    ({"script": "t.py", "arguments": [True]}, "arguments", "list of strings or numbers"),
    ({"script": "t.py", "nodeCount": 1.5}, "nodeCount", "whole number"),
    ({"script": "t.py", "scirpt": "x"}, "scirpt", "Unknown run definition field"),
    ({"script": "t.py", "inputDatasets": {"train": "ds"}}, "inputDatasets", "dataset references"),
    ({"childDefinition": {"script": "t.py", "arguments": {}}}, "childDefinition.arguments", "list"),
    ({"hyperdrive": {"primaryMetricGoal": "up"}}, "hyperdrive.primaryMetricGoal", "maximize"),
    ({"hyperdrive": {"maxTotalRuns": "4"}}, "hyperdrive.maxTotalRuns", "whole number"),
    ("script.py", "", "must be a JSON object"),
])
def test_wrong_definitions_name_the_field(data, field, words):
    with pytest.raises(RecordError) as err:
        RunDefinition.from_json(data)
    assert err.value.field == field and words in err.value.message, err.value.message
    assert isinstance(err.value, ValueError)


def test_empty_definition_and_defaults():
    rd = RunDefinition.from_json({})
    assert not rd and rd.to_json() == {} and rd.arguments == [] and rd.input_datasets == {}
    assert rd.script is None and rd.child_definition is None
    nulls = {"script": "t.py", "maxRunDurationSeconds": None, "framework": None}
    assert RunDefinition.from_json(nulls).to_json() == nulls  # nulls kept: the wire stays as sent
    assert RunDefinition(script="t.py").replace(arguments=["1"]).to_json() == {"script": "t.py", "arguments": ["1"]}


def test_run_record_round_trips():
    rec = RunRecord(id="r1", experiment="e", number=2, status="Queued", created=10, tags={"a": "b"},
                    definition={"script": "t.py", "arguments": ["--x", "1"]}, host={"pid": 4},
                    description="first try")
    assert rec.definition.script == "t.py" and rec.created == 10.0 and rec.name == "r1"
    again = RunRecord.from_json(json.loads(json.dumps(rec.to_json())))
    assert again == rec and again.definition.arguments == ["--x", "1"] and again.description == "first try"
    assert RunRecord(id="r2", experiment="e").description is None
    with pytest.raises(RecordError) as err:
        RunRecord.from_json(dict(rec.to_json(), description=3))
    assert err.value.field == "description"
    with pytest.raises(RecordError) as err:
        RunRecord.from_json(dict(rec.to_json(), definition={"nodeCount": "2"}))
    assert err.value.field == "definition.nodeCount"
    with pytest.raises(RecordError) as err:
        RunRecord.from_json(dict(rec.to_json(), runId="r1"))
    assert err.value.field == "runId"


def test_deployment_spec():
    spec = {"inference": {"entryScript": "score.py", "snapshotId": "ab", "sourceDirectory": None,
                          "environment": {"name": "env"}, "description": None},
            "config": {"port": 8890, "cpuCores": 0.5, "authEnabled": True}}
    dep = Deployment.from_json(spec)
    assert dep.to_json() == spec and dep.inference.entry_script == "score.py" and dep.config.port == 8890
    assert Deployment.from_json({"inference": spec["inference"]}).config.port is None
    for bad, field in (({"config": {}}, "inference"), (dict(spec, config={"port": "80"}), "config.port"),
                       ({"inference": {"snapshotId": "ab"}}, "inference.entryScript")):
        with pytest.raises(RecordError) as err:
            Deployment.from_json(bad)
        assert err.value.field == field
