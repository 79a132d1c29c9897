"""The README's main job, examples/keras-mnist/walkthrough.py, end to end in a reduced form:
1 epoch on 5,000 training images, a sweep of 2 children of 1 epoch, the model deployed
and scored (30 images through the SDK and over raw HTTP with a key, then the whole
10,000-image test set in batches). Run as a user runs it, a subprocess, in a fresh
workspace folder; the service is deleted and the server stopped afterwards."""

import os
import re
import subprocess
import sys

import psutil
import pytest

from kyanite_testing import REPO, stop_workspace
from kyanite.envs import find_pythons

WALKTHROUGH = REPO / "examples" / "keras-mnist" / "walkthrough.py"

pytestmark = [
    pytest.mark.timeout(420),
    pytest.mark.skipif(not any(i.version[:2] == (3, 11) for i in find_pythons()),
                       reason="the example's environment needs a Python 3.11 interpreter"),
]


@pytest.fixture
def workspace_dir(tmp_path):
    path = tmp_path / "ws"
    yield path
    # the walkthrough leaves its service answering and its server running, as for a user
    try:
        from kyanite.core import Workspace
        from kyanite.core.webservice import Webservice
        if (path / ".kyanite").is_dir():
            ws = Workspace.create(name="keras-mnist-demo", path=str(path), exist_ok=True, show_output=False)
            for svc in Webservice.list(ws):
                svc.delete()
    finally:
        stop_workspace(path)
        base = str(path / ".kyanite" / "deployments")
        for p in psutil.process_iter(["cmdline"]):
            if any(base in a for a in (p.info.get("cmdline") or [])):
                p.kill()


def test_the_walkthrough_trains_sweeps_registers_deploys_and_scores(workspace_dir, mnist_dir):
    env = dict(os.environ, KYANITE_MNIST_DIR=str(mnist_dir), PYTHONUNBUFFERED="1")
    proc = subprocess.run(
        [sys.executable, str(WALKTHROUGH), "--workspace", str(workspace_dir), "--epochs", "1",
         "--train-limit", "5000", "--sweep-children", "2", "--sweep-epochs", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, timeout=400)
    out = proc.stdout
    print(out)
    assert proc.returncode == 0, out[-6000:]

    # every step ran, in order, and showed its progress
    steps = [int(n) for n in re.findall(r"^\[\d+:\d\d\] == (\d+)\. ", out, re.M)]
    assert steps == list(range(1, 11)), steps
    assert re.search(r"registered dataset mnist-dataset version \d+", out)
    assert "Streaming user_logs/std_log.txt" in out and "Status: Completed" in out
    assert re.search(r"dataset mnist \(mnist-dataset:\d+\): 4 files, 11\.1 MB", out), "no data progress"
    assert "train (5000, 784), test (10000, 784)" in out

    # the training run: its accuracy stated, its files, the model downloaded
    main = re.search(r"Test accuracy of the tutorial's settings after 1 epoch: ([0-9.]+)%", out)
    assert main, out[-4000:]
    main_acc = float(main.group(1))
    assert main_acc > 85.0, main_acc  # 1 epoch on 5,000 images gives about 90%
    # kyanite.keras.RunCallback logged each epoch's metrics, val_* under the tutorial's names
    for name in ("Accuracy", "Loss", "accuracy", "loss", "Final test accuracy"):
        assert re.search(r"^    %s +0\.\d+$" % name, out, re.M), (name, out[-4000:])
    assert "outputs/model/model.keras" in out
    downloaded = list((workspace_dir / "downloads").glob("*/model.keras"))
    assert len(downloaded) == 1 and downloaded[0].stat().st_size > 100000

    # the sweep: 2 children, a best one, and the registered model with the reason
    children = re.findall(r"^\[[\d:]+\] (HD_\S+_\d+) (Completed|Canceled|Failed)", out, re.M)
    assert len(children) == 2 and all(status == "Completed" for _, status in children), children
    assert re.search(r"best child HD_\S+: test accuracy [0-9.]+%", out)
    assert re.search(r"registered model keras-mnist version 1 from run \S+: the (main run|sweep's best child)", out)

    # deployed with keys: the SDK and raw HTTP agree, no key is refused
    assert "service keras-mnist-svc is Healthy" in out
    right = re.search(r"(\d+) of 30 right through service\.run\(\)", out)
    assert right and int(right.group(1)) >= 20, out[-3000:]
    assert "with the primary key: HTTP 200, the same 30 answers: True" in out
    assert "without a key: HTTP 401" in out

    # the whole test set through the endpoint matches the registered model's own test figure
    endpoint = re.search(r"test-set accuracy through keras-mnist-svc: ([0-9.]+)% \((\d+) of 10000", out)
    assert endpoint, out[-3000:]
    summary = re.search(r"^Summary: main run ([0-9.]+)%.*sweep best ([0-9.]+)%.*endpoint ([0-9.]+)% on 10000 images; "
                        r"registered keras-mnist:1 from the (main run|sweep's best child)", out, re.M)
    assert summary, out[-3000:]
    registered_acc = max(float(summary.group(1)), float(summary.group(2)))
    assert abs(float(endpoint.group(1)) - registered_acc) < 0.05, (endpoint.group(0), summary.group(0))

    # where to look next
    assert "kyanite run list --path" in out and "Studio" in out
