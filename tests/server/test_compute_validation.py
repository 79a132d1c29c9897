"""Compute target configs over real HTTP: a bad config is refused with a 400 naming the
field and nothing is stored; a broken record already in the database (an older
workspace) fails only its own target's runs, and the target list still answers."""

import json
import sqlite3
import time
import urllib.error
import urllib.request

import pytest

from kyanite.core import Experiment, ScriptRunConfig
from kyanite.core.compute import ComputeTarget
from kyanite.server.layout import WorkspaceLayout


def call(ws, method, path, body=None):
    """(status, decoded JSON) of one request to the workspace server."""
    req = urllib.request.Request(ws.server_url + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": "Bearer " + WorkspaceLayout.for_path(ws.path).token(),
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read().decode())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read().decode() or "null")


@pytest.mark.parametrize("bad", ["abc", -5, 0, 10 ** 9, [4]])
def test_bad_max_nodes_is_refused_and_nothing_stored(ws, bad):
    status, reply = call(ws, "POST", "/api/computes", {"name": "bad", "type": "AmlCompute",
                                                       "config": {"max_nodes": bad}})
    assert status == 400, reply
    assert "'max_nodes'" in reply["detail"] and "1 to 1024" in reply["detail"], reply
    assert call(ws, "GET", "/api/computes/bad")[0] == 404
    status, listed = call(ws, "GET", "/api/computes")
    assert status == 200 and "bad" not in [c["name"] for c in listed["computes"]]


@pytest.mark.parametrize("body,field", [
    ({"name": "bad", "type": "AmlCompute", "config": {"max_nodes": 2, "maxnodes": 3}}, "'maxnodes'"),
    ({"name": "bad", "type": "Kubernetes", "config": {}}, "Kubernetes"),
    ({"name": "bad", "type": "local", "config": {}}, "built-in"),
    ({"name": "bad", "type": "RayCompute", "config": {"address": "h:8265", "max_concurrent_runs": "all"}},
     "'max_concurrent_runs'"),
])
def test_other_bad_configs_are_refused(ws, body, field):
    status, reply = call(ws, "POST", "/api/computes", body)
    assert status == 400 and field in reply["detail"], reply
    assert call(ws, "GET", "/api/computes/bad")[0] == 404


def test_a_good_config_is_stored_normalized(ws):
    status, reply = call(ws, "POST", "/api/computes", {"name": "good", "type": "AmlCompute",
                                                       "config": {"max_nodes": 2}})
    assert status == 200 and reply["provisioningState"] == "Succeeded", reply
    assert reply["config"]["max_nodes"] == 2 and reply["config"]["executor"] == "local"
    assert reply["status"]["capacity"] == 2
    assert call(ws, "DELETE", "/api/computes/good")[0] == 200


def test_a_broken_stored_target_fails_only_its_own_runs(ws, make_script, current_env, wait_until):
    # an older workspace may hold a record no longer accepted: put one in behind the server's back
    layout = WorkspaceLayout.for_path(ws.path)
    db = sqlite3.connect(layout.database_url()[len("sqlite:///"):])
    with db:
        db.execute("INSERT INTO computes (name, type, config, created) VALUES (?, ?, ?, ?)",
                   ("old-bad", "AmlCompute", json.dumps({"max_nodes": "abc", "executor": "local"}), time.time()))
    db.close()

    src = make_script("print('hello from the run')\n")
    exp = Experiment(ws, "broken-target")

    def submit(target):
        return exp.submit(ScriptRunConfig(source_directory=str(src), script="train.py", compute_target=target,
                                          environment=current_env))
    doomed = [submit("old-bad"), submit("old-bad")]  # queued first, ahead of the good one
    good = submit("local")
    wait_until(lambda: good.get_status() == "Completed", 60, what="the run on 'local' to complete")
    for run in doomed:
        wait_until(lambda: run.get_status() == "Failed", 30, what="the run on the broken target to fail")
        error = run.get_details()["error"]
        assert error["code"] == "ComputeTargetBroken" and "'old-bad'" in error["message"]
        assert "'max_nodes'" in error["message"] and "abc" in error["message"], error

    status, listed = call(ws, "GET", "/api/computes")
    assert status == 200, listed
    entry = [c for c in listed["computes"] if c["name"] == "old-bad"][0]
    assert entry["provisioningState"] == "Failed" and entry["error"]["code"] == "ComputeTargetBroken"
    assert "'max_nodes'" in entry["error"]["message"]
    assert [c["provisioningState"] for c in listed["computes"] if c["name"] == "local"] == ["Succeeded"]
    target = ComputeTarget(workspace=ws, name="old-bad")
    assert target.provisioning_state == "Failed" and "max_nodes" in target.provisioning_errors[0]["message"]
    status, reply = call(ws, "GET", "/api/computes/old-bad/cluster")
    assert status == 409 and "'max_nodes'" in reply["detail"] and "Delete the target" in reply["detail"]

    with open(layout.log_path) as f:  # the reason is logged once, not once per run or per pass
        assert f.read().count("compute target 'old-bad' cannot run anything") == 1
    target.delete()  # a broken record can still be deleted
    assert "old-bad" not in [c["name"] for c in call(ws, "GET", "/api/computes")[1]["computes"]]
