"""The SDK's Run (kyanite.core.run) builds on the in-script run (kyanite.runtime.run):
every run the SDK hands out is the SDK's class, a sweep's record comes back as a
HyperDriveRun, and the in-script run alone refuses what needs the SDK, clearly."""

import os
import subprocess
import sys

import pytest

import kyanite.core
from kyanite.core import Experiment, Model
from kyanite.core.run import Run
from kyanite.exceptions import RunEnvironmentException, UserErrorException
from kyanite.runtime import run as runtime


def _python(code):
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith("KYANITE_RUN"))
    return subprocess.run([sys.executable, "-c", code], env=env, check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True).stdout


def test_sdk_run_is_the_in_script_run_plus_the_sdk():
    assert kyanite.core.Run is Run
    assert issubclass(Run, runtime.Run) and Run is not runtime.Run
    from kyanite.train.hyperdrive import HyperDriveRun
    assert issubclass(HyperDriveRun, Run)


def test_sweep_record_comes_back_as_hyperdrive_run_without_importing_train():
    out = _python("import sys\n"
                  "from kyanite.core.run import Run\n"
                  "print('train before', 'kyanite.train' in sys.modules)\n"
                  "run = Run._from_details(object(), {'runId': 'HD_1', 'runType': 'hyperdrive'})\n"
                  "plain = Run._from_details(object(), {'runId': 'r1', 'runType': 'run'})\n"
                  "print(type(run).__name__, type(plain).__name__)\n")
    assert "train before False" in out
    assert "HyperDriveRun Run" in out


def test_in_script_context_run_is_the_sdk_run_where_the_sdk_is_loaded():
    out = _python("from kyanite.runtime.run import Run as InScript\n"
                  "import kyanite.core\n"
                  "run = InScript.get_context()\n"
                  "same = run is kyanite.core.Run.get_context()\n"
                  "print(type(run).__name__, isinstance(run, kyanite.core.Run), same)\n")
    assert "_OfflineRun True True" in out


def test_runs_handed_out_are_sdk_runs(ws):
    exp = Experiment(ws, "run-classes")
    run = exp.start_logging()
    child = run.child_run(name="child")
    assert type(child) is Run
    assert type(child.parent) is Run and child.parent.id == run.id
    assert [type(c) for c in run.get_children()] == [Run]
    assert isinstance(child.experiment, Experiment) and child.experiment.name == "run-classes"
    fetched = Run(exp, child.id)
    assert type(fetched) is Run and fetched.get_status() == "Running"
    again = Run.get(ws, run.id)
    assert type(again) is Run and again.experiment.name == "run-classes"
    run.upload_file("outputs/model.txt", __file__)
    model = again.register_model("run-classes-model", "outputs/model.txt")
    assert isinstance(model, Model) and model.run_id == run.id
    child.complete()
    run.complete()


def test_sdk_run_needs_an_experiment():
    with pytest.raises(UserErrorException, match="takes the run's Experiment"):
        Run(None, "some-run")


def test_in_script_run_alone_refuses_what_needs_the_sdk():
    with pytest.raises(RunEnvironmentException, match="needs the kyanite SDK"):
        runtime.Run(None, "some-run")
    bare = runtime.Run(None, "r1", _client=object(), _details={"runId": "r1"})
    with pytest.raises(RunEnvironmentException, match="needs the full kyanite package"):
        bare.experiment
