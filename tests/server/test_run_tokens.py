"""Run tokens: a run host and its script hold a token for their own run tree, never the
workspace token; it cannot delete, deploy or read keys, and it expires after its run ends."""

import time

import pytest

from kyanite.core import Experiment, ScriptRunConfig
from kyanite.exceptions import AuthenticationException, UserErrorException
from kyanite.runtime._http import Client
from kyanite.server import run_tokens

SERVER_ENV = {"KYANITE_RUN_TOKEN_GRACE": "2"}


def test_a_run_token_names_its_run_and_cannot_be_forged():
    token = run_tokens.issue("ws-secret", "exp.v2_17_abc")
    assert token.startswith("kyr1.exp.v2_17_abc.")
    assert run_tokens.run_of("ws-secret", token) == "exp.v2_17_abc"
    assert run_tokens.run_of("another-secret", token) is None  # a rotated workspace token revokes it
    forged = token.replace("exp.v2_17_abc", "exp.v2_18_abc")
    assert run_tokens.run_of("ws-secret", forged) is None
    assert run_tokens.run_of("ws-secret", token[:-1] + ("0" if token[-1] != "0" else "1")) is None
    assert run_tokens.run_of("ws-secret", "kyr1.") is None and run_tokens.run_of("ws-secret", "ws-secret") is None


def _client(ws, run_id):
    return Client(ws._client.base_url, run_tokens.issue(ws._client.token, run_id), retry_seconds=0)


def test_what_a_run_token_may_do(ws):
    exp = Experiment(ws, "tokens")
    parent = exp.start_logging()
    child = parent.child_run()
    stranger = exp.start_logging()
    c = _client(ws, child.id)
    assert c.get("/api/runs/%s" % stranger.id)["runId"] == stranger.id  # reads like the workspace token
    batch = {"metrics": [{"name": "m", "kind": "scalar", "values": [1.0], "ts": [0.0]}]}
    c.post("/api/runs/%s/metrics" % child.id, batch)
    c.post("/api/runs/%s/metrics" % parent.id, batch)  # run.parent.log(...) from a child
    grandchild = c.post("/api/runs", {"experiment": "tokens", "parent_id": child.id, "status": "Running"})
    c.post("/api/runs/%s/metrics" % grandchild["runId"], batch)
    with pytest.raises(UserErrorException, match="only the runs of its own run tree, not %s" % stranger.id):
        c.post("/api/runs/%s/metrics" % stranger.id, batch)
    with pytest.raises(UserErrorException, match="only the runs of its own run tree"):
        c.post("/api/runs/%s/cancel" % stranger.id, {})
    with pytest.raises(UserErrorException, match="add runs only to its own run tree, not under %s" % stranger.id):
        c.post("/api/runs", {"experiment": "tokens", "parent_id": stranger.id, "status": "Running"})
    assert ws._client.get("/api/runs/%s/children" % stranger.id)["runs"] == []
    for method, path, what in [("DELETE", "/api/models/any/versions/1", "delete anything"),
                               ("GET", "/api/deployments/any/keys", "read a deployment's keys"),
                               ("POST", "/api/deployments/any/keys/regen", "create or change deployments"),
                               ("POST", "/api/computes", "create compute targets"),
                               ("POST", "/api/datastores", "register datastores"),
                               ("POST", "/api/studio/embed", "make studio embed tickets")]:
        with pytest.raises(UserErrorException, match="a run's token may not %s; use the workspace token" % what):
            c.request(method, path, json_body={} if method == "POST" else None)
    assert ws._client.get("/api/runs/%s" % stranger.id)["status"] == "Running"  # nothing was done
    with pytest.raises(AuthenticationException, match="wrong run token"):
        Client(ws._client.base_url, c.token[:-2] + "00", retry_seconds=0).get("/api/runs")

    child.complete()
    c.get("/api/runs/%s" % child.id)  # within the grace after the run ended
    time.sleep(2.5)
    with pytest.raises(AuthenticationException, match="this run token expired: its run %s ended" % child.id):
        c.get("/api/runs/%s" % child.id)
    _client(ws, parent.id).get("/api/runs/%s" % parent.id)  # the parent still runs


SCRIPT = """
    import json, os, urllib.error, urllib.request
    from kyanite.core import Run
    run = Run.get_context()
    token = os.environ["KYANITE_TOKEN"]
    run.log("names_this_run", int(token.startswith("kyr1.%s." % run.id)))

    def status(method, path):
        req = urllib.request.Request(os.environ["KYANITE_SERVER_URL"] + path, method=method,
                                     headers={"Authorization": "Bearer " + token})
        try:
            return urllib.request.urlopen(req).status
        except urllib.error.HTTPError as exc:
            return exc.code
    run.log("delete_model", status("DELETE", "/api/models/keep/versions/1"))
    run.log("read_run", status("GET", "/api/runs/" + run.id))
    open("outputs/kept.txt", "w").write("ok")
"""


def test_submitted_runs_get_their_own_run_token(ws, make_script, current_env):
    src = make_script(SCRIPT)
    exp = Experiment(ws, "tokens-submitted")
    runs = []
    for _ in range(2):  # the second one is handed to the warm spare host
        run = exp.submit(ScriptRunConfig(source_directory=str(src), script="train.py", environment=current_env))
        assert run.wait_for_completion()["status"] == "Completed"
        runs.append(run)
    for run in runs:
        assert run.get_metrics() == {"names_this_run": 1, "delete_model": 403, "read_run": 200}
        assert "outputs/kept.txt" in run.get_file_names()
