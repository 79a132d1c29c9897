"""Real sweeps through a real workspace server.

The child script logs a known curve, ``Accuracy = quality(lr) * (1 - exp(-epoch))`` with a
short sleep per epoch, so which children a policy must stop is known in advance:
lr 0.1 -> 0.95, 0.05 -> 0.9, 0.01 -> 0.5, 0.001 -> 0.2 (any other lr is its own quality).
"""

import json
import math
import os
import time
import warnings

import pytest

from kyanite.core import Experiment, Run, ScriptRunConfig
from kyanite.core.compute import AmlCompute, ComputeTarget
from kyanite.exceptions import ActivityFailedException, UserErrorException
from kyanite.train.hyperdrive import (
    BanditPolicy, BayesianParameterSampling, GridParameterSampling, HyperDriveConfig, HyperDriveRun,
    MedianStoppingPolicy, PrimaryMetricGoal, RandomParameterSampling, TruncationSelectionPolicy, choice, uniform,
)

pytestmark = pytest.mark.timeout(120)

SCRIPT = '''
import argparse, math, os, sys, time
from kyanite.core import Run
p = argparse.ArgumentParser()
p.add_argument("--lr", type=float, required=True)
p.add_argument("--epochs", type=int, default=12)
p.add_argument("--sleep", type=float, default=0.15)
p.add_argument("--batch", type=int, default=32)
p.add_argument("--resume-from", default=None)
a = p.parse_args()
if a.lr < 0:
    sys.exit("lr must be positive, got %s" % a.lr)
run = Run.get_context()
quality = {0.1: 0.95, 0.05: 0.9, 0.01: 0.5, 0.001: 0.2}.get(a.lr, a.lr)
start = 1
if a.resume_from:
    with open(os.path.join(a.resume_from, "checkpoint.txt")) as f:
        start = int(f.read()) + 1
    run.log("resumed_at", start)
for epoch in range(start, a.epochs + 1):
    time.sleep(a.sleep)
    run.log("Accuracy", quality * (1 - math.exp(-epoch)))
    run.log("Loss", 1 - quality)
    with open("outputs/checkpoint.tmp", "w") as f:
        f.write(str(epoch))
    os.replace("outputs/checkpoint.tmp", "outputs/checkpoint.txt")  # a kill never leaves half a file
'''
QUALITY = {0.1: 0.95, 0.05: 0.9, 0.01: 0.5, 0.001: 0.2}


@pytest.fixture(scope="module")
def src_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("sweep-src")
    (d / "train.py").write_text(SCRIPT)
    return str(d)


@pytest.fixture(scope="module")
def target(ws):
    t = ComputeTarget.create(ws, "sweep-4", AmlCompute.provisioning_configuration(vm_size="cpu", max_nodes=4))
    t.wait_for_completion()
    return t


@pytest.fixture(scope="module")
def script(src_dir, target, current_env):
    def make(*arguments):
        return ScriptRunConfig(source_directory=src_dir, script="train.py", arguments=list(arguments),
                               compute_target=target, environment=current_env)
    return make


def grid(*lrs):
    return GridParameterSampling({"--lr": choice(*lrs)})


def by_lr(hd_run):
    return dict((json.loads(hp)["--lr"], rid) for rid, hp in hd_run.get_hyperparameters().items())


def _values(metrics, name):
    """A metric as a list (get_metrics gives a single value for a name logged once)."""
    v = metrics.get(name, [])
    return v if isinstance(v, list) else [v]


def wait_until(cond, timeout=30.0, every=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("condition not met within %.0f s" % timeout)


@pytest.fixture(scope="module")
def bandit_sweep(ws, script):
    """A finished grid sweep of the four qualities with a bandit policy (shared by tests)."""
    hd = HyperDriveConfig(run_config=script("--epochs", 12, "--sleep", 0.15),
                          hyperparameter_sampling=grid(0.1, 0.05, 0.01, 0.001),
                          policy=BanditPolicy(evaluation_interval=1, slack_factor=0.25, delay_evaluation=2),
                          primary_metric_name="Accuracy", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
                          max_concurrent_runs=4)
    hd_run = Experiment(ws, "sweeps").submit(hd)
    hd_run.wait_for_completion()
    return hd_run


def test_bandit_policy_stops_exactly_the_weak_children(bandit_sweep):
    hd_run = bandit_sweep
    assert isinstance(hd_run, HyperDriveRun) and hd_run.get_status() == "Completed"
    kids = dict((c.id, c) for c in hd_run.get_children())
    assert len(kids) == 4
    lr_of = dict((rid, lr) for lr, rid in by_lr(hd_run).items())
    for rid, child in kids.items():
        d = child.get_details()
        lr = lr_of[rid]
        acc = _values(child.get_metrics(), "Accuracy")
        if QUALITY[lr] >= 0.9:
            assert d["status"] == "Completed", d
            assert len(acc) == 12 and acc[-1] == pytest.approx(QUALITY[lr] * (1 - math.exp(-12)))
        else:
            assert d["status"] == "Canceled", (lr, d)
            assert "Canceled by BanditPolicy" in d["error"]["message"]
            assert d["properties"]["hyperdrive.termination"] == "BanditPolicy"
            assert len(acc) < 12
        assert d["runDefinition"]["arguments"][-2:] == ["--lr", repr(lr)]
        assert d["parentRunId"] == hd_run.id and rid.startswith(hd_run.id + "_")
    tags = hd_run.get_tags()
    assert tags["best_child_run_id"] == by_lr(hd_run)[0.1]
    assert "4 of 4 child runs" in tags["hyperdrive.progress"]


def test_results_api(bandit_sweep):
    hd_run = bandit_sweep
    best = hd_run.get_best_run_by_primary_metric()
    assert best.id == by_lr(hd_run)[0.1]
    assert best.get_details()["runDefinition"]["arguments"] == [
        "--epochs", "12", "--sleep", "0.15", "--lr", "0.1"]
    ordered = hd_run.get_children_sorted_by_primary_metric()
    assert [json.loads(c["hyperparameters"])["--lr"] for c in ordered] == [0.1, 0.05, 0.01, 0.001]
    assert set(ordered[0]) == {"run_id", "hyperparameters", "best_primary_metric", "status"}
    assert ordered[0]["best_primary_metric"] == pytest.approx(0.95 * (1 - math.exp(-12)))
    top = hd_run.get_children_sorted_by_primary_metric(top=2, reverse=True)
    assert [json.loads(c["hyperparameters"])["--lr"] for c in top] == [0.001, 0.01]
    assert hd_run.get_best_run_by_primary_metric(include_canceled=False).id == best.id
    metrics = hd_run.get_metrics()
    assert set(metrics) == set(by_lr(hd_run).values())
    assert len(metrics[best.id]["Accuracy"]) == 12
    # found again from the workspace as a HyperDriveRun
    again = Run.get(hd_run.experiment.workspace, hd_run.id)
    assert isinstance(again, HyperDriveRun)
    assert again.get_best_run_by_primary_metric().id == best.id
    assert json.loads(again.get_hyperparameters()[best.id]) == {"--lr": 0.1}


@pytest.mark.parametrize("policy, stopped", [
    (MedianStoppingPolicy(evaluation_interval=1, delay_evaluation=3), {0.01, 0.001}),
    (TruncationSelectionPolicy(truncation_percentage=25, evaluation_interval=1, delay_evaluation=2), {0.001}),
])
def test_median_and_truncation_policies(ws, script, policy, stopped):
    hd = HyperDriveConfig(run_config=script("--epochs", 12, "--sleep", 0.15),
                          hyperparameter_sampling=grid(0.1, 0.05, 0.01, 0.001), policy=policy,
                          primary_metric_name="Accuracy", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
                          max_concurrent_runs=4)
    hd_run = Experiment(ws, "sweeps").submit(hd)
    assert hd_run.wait_for_completion()["status"] == "Completed"
    name = type(policy).__name__
    for lr, rid in by_lr(hd_run).items():
        d = Run.get(ws, rid).get_details()
        if lr in stopped:
            assert d["status"] == "Canceled" and ("Canceled by " + name) in d["error"]["message"], (lr, d)
        else:
            assert d["status"] == "Completed", (lr, d)


def test_random_sampling_with_a_failing_child_and_the_capacity_cap(ws, script):
    ps = RandomParameterSampling({"--lr": choice(0.1, -1.0, 0.05, 0.01), "--batch": choice(16, 32)}, seed=11)
    hd = HyperDriveConfig(run_config=script("--epochs", 3, "--sleep", 0.05), hyperparameter_sampling=ps,
                          primary_metric_name="Accuracy", primary_metric_goal="maximize",
                          max_total_runs=8, max_concurrent_runs=10)
    with pytest.warns(UserWarning, match="max_concurrent_runs=10 is more than compute target 'sweep-4' runs "
                                         "at once \\(4\\)"):
        hd_run = Experiment(ws, "sweeps").submit(hd)
    assert hd_run.get_spec()["maxConcurrentRuns"] == 4
    details = hd_run.wait_for_completion()
    assert details["status"] == "Completed"
    kids = hd_run.get_children()
    params = [json.loads(p) for p in hd_run.get_hyperparameters().values()]
    assert len(kids) == 8 and len(set(json.dumps(p, sort_keys=True) for p in params)) == 8  # no repeats
    failed = [c for c in kids if c.get_status() == "Failed"]
    assert len(failed) == 2  # lr -1 with both batch sizes: the sweep went on and counted them
    assert all("lr must be positive" in c.get_details()["error"]["message"] for c in failed)
    assert "2 failed" in hd_run.get_tags()["hyperdrive.progress"]
    best = hd_run.get_best_run_by_primary_metric()
    assert json.loads(hd_run.get_hyperparameters()[best.id])["--lr"] == 0.1
    ordered = hd_run.get_children_sorted_by_primary_metric()
    assert [c["best_primary_metric"] is None for c in ordered] == [False] * 6 + [True] * 2
    assert len(hd_run.get_children_sorted_by_primary_metric(discard_no_metric=True)) == 6
    # the same seed samples the same children
    from kyanite.sweep import make_sampler
    spec = hd_run.get_spec()
    history = []
    for i in range(8):
        p = make_sampler(spec).sample(i, history)
        history.append({"params": p})
    assert [h["params"] for h in history] == [json.loads(hd_run.get_hyperparameters()["%s_%d" % (hd_run.id, i)])
                                              for i in range(8)]


def test_bayesian_sweep(ws, script):
    ps = BayesianParameterSampling({"--lr": uniform(0.2, 0.99)})
    hd = HyperDriveConfig(run_config=script("--epochs", 2, "--sleep", 0.02), hyperparameter_sampling=ps,
                          primary_metric_name="Accuracy", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
                          max_total_runs=6, max_concurrent_runs=2)
    hd_run = Experiment(ws, "sweeps").submit(hd)
    assert hd_run.wait_for_completion()["status"] == "Completed"
    lrs = [json.loads(p)["--lr"] for p in hd_run.get_hyperparameters().values()]
    assert len(lrs) == 6 and all(0.2 <= x <= 0.99 for x in lrs) and len(set(lrs)) == 6
    best = hd_run.get_best_run_by_primary_metric()
    assert json.loads(hd_run.get_hyperparameters()[best.id])["--lr"] == max(lrs)
    assert hd_run.get_properties()["sampling"] == "bayesian"


def test_bayesian_with_a_policy_is_refused_by_the_server_too(ws, script):
    with pytest.raises(UserErrorException, match="BayesianParameterSampling does not support early termination"):
        HyperDriveConfig(run_config=script(), hyperparameter_sampling=BayesianParameterSampling({"x": uniform(0, 1)}),
                         policy=BanditPolicy(slack_factor=0.1), primary_metric_name="Accuracy",
                         primary_metric_goal="maximize", max_total_runs=4)
    spec = {"sampling": BayesianParameterSampling({"x": uniform(0, 1)}).to_json(),
            "policy": BanditPolicy(slack_factor=0.1).to_json(), "primaryMetricName": "Accuracy",
            "primaryMetricGoal": "maximize", "maxTotalRuns": 4}
    with pytest.raises(UserErrorException, match="does not support early termination"):
        ws._client.post("/api/sweeps", {"experiment": "sweeps", "hyperdrive": spec,
                                        "definition": {"script": "train.py", "snapshotId": "x"}})


def test_unknown_metric_name_ends_the_sweep_with_a_clear_message(ws, script):
    hd = HyperDriveConfig(run_config=script("--epochs", 2, "--sleep", 0.02), hyperparameter_sampling=grid(0.1, 0.05, 0.01),
                          primary_metric_name="accuracy", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
                          max_concurrent_runs=2)
    hd_run = Experiment(ws, "sweeps").submit(hd)
    t0 = time.time()
    with pytest.raises(ActivityFailedException) as err:
        hd_run.wait_for_completion()
    assert time.time() - t0 < 30
    message = err.value.message
    assert "No child run logged the primary metric 'accuracy'" in message
    assert "'Accuracy'" in message and "case-sensitive" in message
    d = hd_run.get_details()
    assert d["status"] == "Failed" and d["error"]["code"] == "PrimaryMetricNotFound"
    assert hd_run.get_best_run_by_primary_metric() is None
    assert all(c.get_status() in ("Completed", "Canceled") for c in hd_run.get_children())


@pytest.mark.parametrize("how", ["sweep", "plain run cancel"])
def test_cancel_stops_the_children(ws, script, how):
    hd = HyperDriveConfig(run_config=script("--epochs", 100, "--sleep", 0.1),
                          hyperparameter_sampling=grid(0.1, 0.05, 0.01, 0.001),
                          primary_metric_name="Accuracy", primary_metric_goal="maximize", max_concurrent_runs=2)
    hd_run = Experiment(ws, "sweeps").submit(hd)
    wait_until(lambda: [c for c in hd_run.get_children() if c.get_metrics().get("Accuracy")])
    if how == "sweep":
        assert hd_run.cancel() is True
    else:
        Run.cancel(hd_run)  # the plain run API: the sweep ends at once, the controller stops its children
    details = hd_run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Canceled"
    wait_until(lambda: all(c.get_status() in ("Canceled", "Completed") for c in hd_run.get_children()))
    kids = hd_run.get_children()
    assert len(kids) == 2  # nothing new was started
    for c in kids:
        d = c.get_details()
        assert d["status"] == "Canceled" and "canceled" in d["error"]["message"], d
        assert len(_values(c.get_metrics(), "Accuracy")) < 100
    time.sleep(0.6)
    assert len(hd_run.get_children()) == 2


def test_max_duration_cancels_the_sweep(ws, script):
    hd = HyperDriveConfig(run_config=script("--epochs", 100, "--sleep", 0.1), hyperparameter_sampling=grid(0.1, 0.05),
                          primary_metric_name="Accuracy", primary_metric_goal="maximize", max_concurrent_runs=1,
                          max_duration_minutes=0.05)
    hd_run = Experiment(ws, "sweeps").submit(hd)
    details = hd_run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Canceled" and details["error"]["code"] == "SweepTimeout"
    assert "max_duration_minutes=0.05" in details["error"]["message"]
    kids = hd_run.get_children()
    assert len(kids) == 1  # the second child was never made
    wait_until(lambda: kids[0].get_status() == "Canceled")
    assert "max_duration_minutes" in kids[0].get_details()["error"]["message"]


def test_resume_child_runs_and_resume_from(ws, script, bandit_sweep):
    weak = Run.get(ws, by_lr(bandit_sweep)[0.01])
    stopped_at = int(open(_download(weak, "outputs/checkpoint.txt")).read())
    assert weak.get_status() == "Canceled"
    # resume_child_runs: the stopped child runs again with its values and --resume-from
    hd = HyperDriveConfig(run_config=script("--epochs", 12, "--sleep", 0.02), hyperparameter_sampling=grid(0.05),
                          primary_metric_name="Accuracy", primary_metric_goal="maximize", max_total_runs=2,
                          resume_child_runs=[weak])
    hd_run = Experiment(ws, "sweeps").submit(hd)
    assert hd_run.wait_for_completion()["status"] == "Completed"
    first = Run.get(ws, hd_run.id + "_0")
    d = first.get_details()
    assert d["properties"]["hyperdrive.resumed_from"] == weak.id
    args = d["runDefinition"]["arguments"]
    assert args[args.index("--lr") + 1] == "0.01"
    folder = args[args.index("--resume-from") + 1]
    assert os.path.isfile(os.path.join(folder, "checkpoint.txt"))
    m = first.get_metrics()
    assert m["resumed_at"] == stopped_at + 1 and len(_values(m, "Accuracy")) == 12 - stopped_at
    assert json.loads(hd_run.get_hyperparameters()[hd_run.id + "_1"]) == {"--lr": 0.05}

    # resume_from: the earlier sweep's children take part in the policy and in "best"
    hd = HyperDriveConfig(run_config=script("--epochs", 12, "--sleep", 0.1), hyperparameter_sampling=grid(0.01),
                          policy=BanditPolicy(slack_factor=0.25, delay_evaluation=2),
                          primary_metric_name="Accuracy", primary_metric_goal="maximize",
                          resume_from=[bandit_sweep])
    hd_run = Experiment(ws, "sweeps").submit(hd)
    hd_run.wait_for_completion()
    only = hd_run.get_children()[0].get_details()
    assert only["status"] == "Canceled" and "BanditPolicy" in only["error"]["message"]
    assert hd_run.get_best_run_by_primary_metric().id == by_lr(bandit_sweep)[0.1]
    assert hd_run.get_best_run_by_primary_metric(include_resume_from_runs=False).id == only["runId"]


def test_server_restart_mid_sweep_resumes_without_duplicates(ws, script):
    from kyanite.core._server import ensure_server, stop_server
    hd = HyperDriveConfig(run_config=script("--epochs", 8, "--sleep", 0.15),
                          hyperparameter_sampling=grid(0.1, 0.2, 0.3, 0.4, 0.5, 0.6),
                          primary_metric_name="Accuracy", primary_metric_goal="maximize", max_concurrent_runs=2)
    hd_run = Experiment(ws, "sweeps").submit(hd)
    wait_until(lambda: len(hd_run.get_children()) >= 3, timeout=60)
    layout = ws._layout
    assert stop_server(layout)
    time.sleep(1.5)  # children run on while the server is down
    ensure_server(layout, quiet=True)
    details = hd_run.wait_for_completion()
    assert details["status"] == "Completed"
    kids = hd_run.get_children()
    assert sorted(c.id for c in kids) == sorted("%s_%d" % (hd_run.id, i) for i in range(6))
    lrs = sorted(json.loads(p)["--lr"] for p in hd_run.get_hyperparameters().values())
    assert lrs == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    assert [(c.id, c.get_status(), len(c.get_metrics().get("Accuracy", []))) for c in kids] == [(c.id, "Completed", 8) for c in kids]


def _download(run, name):
    import tempfile
    path = os.path.join(tempfile.mkdtemp(), os.path.basename(name))
    run.download_file(name, path)
    return path


def test_warnings_do_not_fire_within_capacity(ws, script):
    hd = HyperDriveConfig(run_config=script("--epochs", 1, "--sleep", 0), hyperparameter_sampling=grid(0.1),
                          primary_metric_name="Accuracy", primary_metric_goal="maximize", max_concurrent_runs=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hd_run = Experiment(ws, "sweeps").submit(hd)
    hd_run.wait_for_completion()
    assert hd_run.get_spec()["maxConcurrentRuns"] == 4


def _cli(*argv):
    import argparse
    from kyanite.cli import sweep_cmds
    parser = argparse.ArgumentParser(prog="kyanite")
    sweep_cmds.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_cli_sweep_submit_show_best(ws, src_dir, target, tmp_path, capsys):
    folder = os.path.dirname(ws._layout.root)
    sweep_file = tmp_path / "sweep.yml"
    sweep_file.write_text("""
experiment: cli-sweeps
source_directory: %s
script: train.py
arguments: [--epochs, 3, --sleep, 0.02]
compute_target: %s
environment: {current_python: true}
sampling:
  type: grid
  parameters:
    --lr: choice(0.1, 0.01)
    --batch: [16, 32]
primary_metric: {name: Accuracy, goal: maximize}
max_concurrent_runs: 8
""" % (src_dir, target.name))
    assert _cli("sweep", "submit", str(sweep_file), "--path", folder, "--follow") == 0
    out, err = capsys.readouterr()
    sweep_id = out.splitlines()[0]
    assert sweep_id.startswith("HD_") and "max_concurrent_runs=8 is more than" in err
    assert "Status: Completed" in out and "Best child run" in out
    assert _cli("sweep", "show", sweep_id, "--path", folder) == 0
    out, _ = capsys.readouterr()
    assert "4 of 4, at most 4 at a time" in out and out.count("Completed") >= 4
    assert _cli("sweep", "best", sweep_id, "--path", folder) == 0
    out, err = capsys.readouterr()
    best_id = out.strip()
    assert json.loads(HyperDriveRun(Experiment(ws, "cli-sweeps"), sweep_id).get_hyperparameters()[best_id])["--lr"] == 0.1
    assert "--lr 0.1" in err
    assert _cli("sweep", "submit", "--example") == 0
    assert "loguniform(-6, -1)" in capsys.readouterr().out
    bad = tmp_path / "bad.yml"
    bad.write_text("script: train.py\nsampling: {type: grid, parameters: {--lr: 'uniform(0, 1)'}}\n"
                   "primary_metric: Accuracy\nsource_directory: %s\n" % src_dir)
    with pytest.raises(UserErrorException, match="choice.. expressions only"):
        _cli("sweep", "submit", str(bad), "--path", folder)
