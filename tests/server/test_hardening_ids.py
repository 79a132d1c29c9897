"""Identifiers and artifact keys: a run token cannot leave its run tree through a run id of
``.``, ``..``-style keys are refused, every name the API stores follows one rule
(kyanite.protocol.identifiers), and free text has a length cap. Over real HTTP."""

import re
import urllib.parse

import pytest

from kyanite.core import Experiment
from kyanite.exceptions import ConflictException, UserErrorException
from kyanite.protocol.identifiers import InvalidValue, check_identifier, check_mapping, check_text
from kyanite.runtime._http import Client
from kyanite.server import run_tokens
from kyanite.server.layout import WorkspaceLayout
from kyanite.store.database import Store
from kyanite_testing import Api

RULE = "letters, digits, '_', '-' and '.', not starting with '.'"


def call(ws, method, path, body=None, raw=None, token=None):
    """``(status, decoded reply)`` (kyanite_testing.Api); ``token`` defaults to the workspace's."""
    return Api(ws).call(method, path, body, token=token or "default", raw=raw)


@pytest.fixture(scope="module")
def victim(ws):
    run = Experiment(ws, "ids").start_logging()
    run.upload_file("outputs/model.txt", __file__)
    return run


def victim_intact(ws, victim):
    status, data = call(ws, "GET", "/api/runs/%s/artifacts/outputs/model.txt" % victim.id)
    assert status == 200 and data == open(__file__, "rb").read()


def test_identifier_rule():
    for good in ("exp.v2_17_abc", "HD_0b9e-1_3", "keras-mnist", "a", "x" * 255, "1.0"):
        assert check_identifier("run_id", good) == good
    for bad in (".", "..", ".hidden", "", "a/b", "a b", "a\\b", "a\x00b", "x" * 256, "é", None, 5):
        with pytest.raises(InvalidValue, match="Invalid run_id ") as err:
            check_identifier("run_id", bad)
        assert RULE in str(err.value) and err.value.field == "run_id"
    assert check_identifier("model name", "old name", exists=lambda n: True) == "old name"  # made before the rule
    for bad in (".", "..", "a/b", "x" * 256):
        with pytest.raises(InvalidValue):
            check_identifier("model name", bad, exists=lambda n: True)
    assert check_text("display_name", "x" * 255) and check_mapping("tags", {"k": "v" * 5000})
    with pytest.raises(InvalidValue, match="display_name: 256 characters, more than the 255 allowed"):
        check_text("display_name", "x" * 256)
    with pytest.raises(InvalidValue, match="the value of 'k' has 5001 characters"):
        check_mapping("tags", {"k": "v" * 5001})


def test_a_dot_child_run_cannot_write_into_another_run(ws, victim):
    parent = Experiment(ws, "ids").start_logging()
    c = Client(ws._client.base_url, run_tokens.issue(ws._client.token, parent.id), retry_seconds=0)
    for run_id in (".", "..", ".x"):
        with pytest.raises(UserErrorException, match=re.escape("Invalid run_id %r: use 1-255 characters" % run_id)):
            c.post("/api/runs", {"experiment": "ids", "parent_id": parent.id, "run_id": run_id, "status": "Running"})
    status, reply = call(ws, "PUT", "/api/runs/%%2E/artifacts/%s/outputs/model.txt" % victim.id, raw=b"evil",
                         token=c.token)
    assert status in (400, 403, 404), reply
    victim_intact(ws, victim)


def test_a_dot_run_already_stored_cannot_reach_another_run(ws, victim):
    """Even a run ``.`` stored before the rule existed (or by a bug) cannot write through."""
    store = Store(WorkspaceLayout.for_path(ws.path).database_url())
    try:
        store.create_run("ids", run_id=".", status="Running")
    except ConflictException:  # made by the test above on a server without the rule
        pass
    for method in ("PUT", "GET"):
        status, reply = call(ws, method, "/api/runs/%%2E/artifacts/%s/outputs/model.txt" % victim.id,
                             raw=b"evil" if method == "PUT" else None)
        assert status == 400 and "not allowed" in reply["detail"], (method, status, reply)
    q = urllib.parse.urlencode({"name": "%s/outputs/model.txt" % victim.id, "offset": 0})
    status, reply = call(ws, "POST", "/api/runs/%%2E/logs?%s" % q, raw=b"evil")
    assert status == 400 and "not allowed" in reply["detail"]
    status, reply = call(ws, "GET", "/api/runs/%2E/artifacts")
    assert status == 400 and "not allowed" in reply["detail"]
    victim_intact(ws, victim)


@pytest.mark.parametrize("name", ["outputs/./model.txt", "./outputs/model.txt", "outputs//model.txt",
                                  "outputs%5C..%5C..%5Cx", "outputs/", "outputs/%00x"])
def test_dot_and_empty_segments_refused(ws, victim, name):
    status, reply = call(ws, "PUT", "/api/runs/%s/artifacts/%s" % (victim.id, name), raw=b"evil")
    assert status == 400 and "not allowed" in reply["detail"], (name, status, reply)
    q = urllib.parse.urlencode({"name": urllib.parse.unquote(name), "offset": 0})
    status, reply = call(ws, "POST", "/api/runs/%s/logs?%s" % (victim.id, q), raw=b"evil")
    assert status == 400 and "not allowed" in reply["detail"], (name, status, reply)
    victim_intact(ws, victim)


def test_sdk_normalises_dots_and_backslashes(ws, victim, tmp_path):
    run = Experiment(ws, "ids").start_logging()
    run.upload_file("./outputs\\sub//a.txt", __file__)
    assert run.get_file_names() == ["outputs/sub/a.txt"]
    run.download_file("./outputs/sub/a.txt", str(tmp_path / "a.txt"))
    assert (tmp_path / "a.txt").read_bytes() == open(__file__, "rb").read()


@pytest.mark.parametrize("path,body,field", [
    ("/api/experiments", {"name": ".."}, "experiment name"),
    ("/api/runs", {"experiment": "a b"}, "experiment name"),
    ("/api/runs", {"experiment": "ids", "run_id": "x" * 256}, "run_id"),
    ("/api/runs", {"experiment": "ids", "run_id": "a/b"}, "run_id"),
    ("/api/sweeps", {"experiment": "ids", "run_id": ".", "definition": {}, "hyperdrive": {}}, "run_id"),
    ("/api/environments", {"name": ".", "definition": {}}, "environment name"),
    ("/api/computes", {"name": "../x", "type": "AmlCompute"}, "compute target name"),
    ("/api/models", {"name": "..", "upload": "u"}, "model name"),
    ("/api/datasets", {"name": ".hidden", "files": []}, "dataset name"),
    ("/api/datastores", {"name": "..", "bucket": "b"}, "datastore name"),
    ("/api/deployments", {"name": ".", "inference": {}}, "endpoint name"),
])
def test_bad_identifiers_refused(ws, path, body, field):
    status, reply = call(ws, "POST", path, body)
    assert status == 400, reply
    assert reply["detail"].startswith("Invalid %s " % field) and RULE in reply["detail"], reply
    assert reply["field"] == field


@pytest.mark.parametrize("body,words", [
    ({"experiment": "ids", "display_name": "n" * 256}, "display_name: 256 characters, more than the 255"),
    ({"experiment": "ids", "display_name": "n" * (1 << 20)}, "display_name: 1048576 characters"),
    ({"experiment": "ids", "tags": {"k": "v" * 5001}}, "tags: the value of 'k' has 5001 characters"),
    ({"experiment": "ids", "tags": {"k" * 256: "v"}}, "tags: the key"),
    ({"experiment": "ids", "properties": dict(("p%d" % i, i) for i in range(1001))}, "1001 entries"),
])
def test_long_text_refused(ws, body, words):
    status, reply = call(ws, "POST", "/api/runs", body)
    assert status == 400 and words in reply["detail"], reply
    status, runs = call(ws, "GET", "/api/runs?limit=500")
    assert all(len(r.get("displayName") or "") <= 255 for r in runs["runs"])


def test_long_text_refused_on_change(ws, victim):
    status, reply = call(ws, "PATCH", "/api/runs/%s" % victim.id, {"tags": {"k": "v" * 5001}})
    assert status == 400 and "tags" in reply["detail"], reply
    status, reply = call(ws, "PATCH", "/api/models/m/versions/1", {"description": "d" * 10001})
    assert status == 400 and "description: 10001 characters" in reply["detail"], reply


def test_names_stored_before_the_rule_still_work(ws):
    store = Store(WorkspaceLayout.for_path(ws.path).database_url())
    store.experiment("old name", create=True)
    status, run = call(ws, "POST", "/api/runs", {"experiment": "old name", "status": "Running"})
    assert status == 200 and run["experiment"] == "old name"
    status, reply = call(ws, "POST", "/api/runs", {"experiment": "new name", "status": "Running"})
    assert status == 400 and "experiment name" in reply["detail"]


def test_legitimate_names_accepted(ws):
    status, run = call(ws, "POST", "/api/runs", {"experiment": "exp.v2-1_x", "run_id": "exp.v2_17_abc",
                                                 "display_name": "fold 1 (of 5) é", "status": "Running"})
    assert status == 200 and run["runId"] == "exp.v2_17_abc"
    status, env = call(ws, "POST", "/api/environments", {"name": "AzureML-Minimal.v2", "definition": {}})
    assert status == 200, env
