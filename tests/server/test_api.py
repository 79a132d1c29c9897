"""The workspace server's REST API, spoken to over real HTTP (no SDK in between)."""

import http.client
import json
import os
import re
import stat
import urllib.parse

import pytest

from kyanite.server.layout import WorkspaceLayout
from kyanite_testing import Api


@pytest.fixture(scope="module")
def api(ws):
    return Api(ws)


@pytest.fixture(scope="module")
def run_id(api):
    status, run = api.call("POST", "/api/runs", {"experiment": "api-tests", "status": "Running"})
    assert status == 200, run
    return run["runId"]


def _routes(api):
    status, doc = api.call("GET", "/api/openapi.json")
    assert status == 200
    for path, ops in doc["paths"].items():
        for method in ops:
            yield method.upper(), path


def test_token_file_is_private(ws):
    mode = stat.S_IMODE(os.stat(WorkspaceLayout.for_path(ws.path).token_path).st_mode)
    assert mode == 0o600


def test_health_needs_no_token(api):
    status, body = api.call("GET", "/api/health", token=None)
    assert status == 200 and body["status"] == "ok" and body["workspace"] == "test-ws"


def test_openapi_document_served(api):
    status, doc = api.call("GET", "/api/openapi.json", token=None)
    assert status == 200 and doc["openapi"].startswith("3.")
    paths = doc["paths"]
    for p in ("/api/runs", "/api/runs/{run_id}", "/api/runs/{run_id}/metrics", "/api/runs/{run_id}/logs",
              "/api/runs/{run_id}/artifacts/{path}", "/api/computes", "/api/environments"):
        assert p in paths
    status, page = api.call("GET", "/api/docs", token=None)
    assert status == 200


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_every_api_route_needs_the_token(api, run_id, token):
    checked = 0
    for method, path in _routes(api):
        if path == "/api/health":
            continue
        concrete = (path.replace("{run_id}", run_id).replace("{path}", "outputs/x.txt")
                    .replace("{sha}", "0" * 64).replace("{name}", "local"))
        concrete = re.sub(r"\{[^}]*\}", "x", concrete)  # parameters of routes added later
        url = concrete + ("?name=user_logs/std_log.txt&offset=0" if concrete.endswith("/logs") else "")
        status, body = api.call(method, url, body={} if method in ("POST", "PATCH") else None, token=token)
        assert status == 401, (method, path, status, body)
        assert "token" in body["detail"]
        checked += 1
    assert checked >= 20


def test_workspace_route_checks_the_token(api):
    status, body = api.call("GET", "/api/workspace")
    assert status == 200 and body["name"] == "test-ws"
    assert "token" not in json.dumps(body).lower()


def test_unknown_run_is_404(api):
    for method, path in [("GET", "/api/runs/nope"), ("GET", "/api/runs/nope/metrics"),
                         ("GET", "/api/runs/nope/artifacts"), ("POST", "/api/runs/nope/cancel"),
                         ("GET", "/api/runs/nope/artifacts/outputs/a.txt"),
                         ("GET", "/api/runs/nope/logs?name=user_logs/std_log.txt")]:
        status, body = api.call(method, path)
        assert status == 404, (method, path, status, body)
        assert "nope" in body["detail"]
    status, body = api.call("POST", "/api/runs/nope/status", {"status": "Completed"})
    assert status == 404


@pytest.mark.parametrize("method,path,body,code,words", [
    ("POST", "/api/runs", {}, 422, "experiment"),
    ("POST", "/api/runs", {"experiment": 5, "tags": "notadict"}, 422, "tags"),
    ("POST", "/api/runs", {"experiment": "x", "status": "Sleeping"}, 400, "Unknown run status"),
    ("POST", "/api/experiments", {}, 400, "experiment name"),
    ("POST", "/api/experiments", {"name": "a/b"}, 400, "experiment name"),
    ("POST", "/api/computes", {"type": "AmlCompute"}, 422, "name"),
    ("POST", "/api/computes", {"name": "local"}, 409, "built-in"),
    ("POST", "/api/environments", {"definition": {}}, 400, "environment name"),
    ("GET", "/api/environments/none-such", None, 404, "none-such"),
    ("GET", "/api/computes/none-such", None, 404, "none-such"),
    ("GET", "/api/snapshots/not-a-sha/exists", None, 400, "sha256"),
])
def test_bad_requests_get_a_clear_detail(api, method, path, body, code, words):
    status, reply = api.call(method, path, body)
    assert status == code, reply
    assert isinstance(reply["detail"], str), reply
    assert words in reply["detail"], reply


def test_bad_json_body_is_4xx(api, run_id):
    status, reply = api.call("POST", "/api/runs", raw=b"{not json", headers={"Content-Type": "application/json"})
    assert status == 422 and isinstance(reply["detail"], str) and "JSON" in reply["detail"]
    status, reply = api.call("POST", "/api/runs/%s/metrics" % run_id, raw=b"[1, 2")
    assert status == 400 and "JSON" in reply["detail"]


def test_bad_metrics_refused_and_nothing_stored(api, run_id):
    status, reply = api.call("POST", "/api/runs/%s/metrics" % run_id, {"metrics": [
        {"name": "good", "values": [1.0], "ts": [1.0]},
        {"name": "acc", "values": [None], "ts": [1.0]}]})
    assert status == 400 and "'acc'" in reply["detail"] and "not a number or a string" in reply["detail"]
    status, reply = api.call("POST", "/api/runs/%s/metrics" % run_id, {"metrics": [{"values": [1]}]})
    assert status == 400 and "name" in reply["detail"]
    status, reply = api.call("GET", "/api/runs/%s/metrics" % run_id)
    assert status == 200 and reply["metrics"] == []


def test_bad_status_change(api, run_id):
    status, reply = api.call("POST", "/api/runs/%s/status" % run_id, {"status": "Sleeping"})
    assert status == 400 and "Sleeping" in reply["detail"]


@pytest.mark.parametrize("name", ["../../token", "outputs/../../../token", "..", "/etc/passwd",
                                  "%2e%2e/%2e%2e/token", "outputs/%2e%2e/%2e%2e/%2e%2e/token"])
def test_dotdot_names_refused(api, run_id, name):
    for method, path in [("PUT", "/api/runs/%s/artifacts/%s" % (run_id, name)),
                         ("GET", "/api/runs/%s/artifacts/%s" % (run_id, name))]:
        status, reply = api.call(method, path, raw=b"x" if method == "PUT" else None)
        assert status in (400, 404), (method, name, status, reply)
        assert "secret" not in json.dumps(reply) if isinstance(reply, dict) else True
        if status == 400:
            assert "not allowed" in reply["detail"]
    q = urllib.parse.urlencode({"name": urllib.parse.unquote(name), "offset": 0})
    status, reply = api.call("GET", "/api/runs/%s/logs?%s" % (run_id, q))
    assert status == 400 and "not allowed" in reply["detail"]
    status, reply = api.call("POST", "/api/runs/%s/logs?%s" % (run_id, q), raw=b"x")
    assert status == 400 and "not allowed" in reply["detail"]


def test_token_not_reachable_through_files(api, ws, run_id):
    token = WorkspaceLayout.for_path(ws.path).token()
    for path in ["/api/runs/%s/artifacts/..%%2F..%%2F..%%2Ftoken" % run_id,
                 "/api/runs/%s/artifacts/../../../token" % run_id,
                 "/api/snapshots/..%2F..%2Ftoken"]:
        status, reply = api.call("GET", path)
        assert status >= 400
        assert token not in (reply if isinstance(reply, (bytes, str)) else json.dumps(reply))


def test_unknown_compute_target_on_submit(api):
    status, reply = api.call("POST", "/api/runs", {"experiment": "api-tests", "target": "gpu-cluster",
                                                   "definition": {"script": "train.py"}})
    assert status == 404 and "gpu-cluster" in reply["detail"]
    status, runs = api.call("GET", "/api/experiments/api-tests/runs")
    assert all(r["target"] != "gpu-cluster" for r in runs["runs"])


def test_log_append_offsets_over_http(api, run_id):
    base = "/api/runs/%s/logs?name=user_logs/std_log.txt" % run_id
    assert api.call("POST", base + "&offset=0", raw=b"hello ")[1] == {"size": 6}
    assert api.call("POST", base + "&offset=0", raw=b"hello ")[1] == {"size": 6}  # retry
    assert api.call("POST", base + "&offset=6", raw=b"world\n")[1] == {"size": 12}
    status, reply = api.call("POST", base + "&offset=40", raw=b"gap")
    assert status == 409 and "offset 40" in reply["detail"]
    conn = http.client.HTTPConnection(api.host, api.port, timeout=10)
    conn.request("GET", base + "&offset=6", headers={"Authorization": "Bearer " + api.token})
    resp = conn.getresponse()
    assert resp.read() == b"world\n" and resp.getheader("X-Log-Size") == "12"
    assert resp.getheader("X-Run-Status") == "Running"
    conn.close()


def test_log_files_listed_in_run_details(api, run_id):
    api.call("PUT", "/api/runs/%s/artifacts/logs/extra.log" % run_id, raw=b"x")
    api.call("POST", "/api/runs/%s/logs?name=user_logs/std_log.txt&offset=0" % run_id, raw=b"hello ")
    status, run = api.call("GET", "/api/runs/%s" % run_id)
    assert status == 200
    files = run["logFiles"]
    assert set(files) == {"user_logs/std_log.txt", "logs/extra.log"}
    assert files["logs/extra.log"] == "%s/api/runs/%s/artifacts/logs/extra.log" % (api.url, run_id)


def test_run_description_patch_then_get(api):
    status, run = api.call("POST", "/api/runs", {"experiment": "api-tests", "status": "Running"})
    assert status == 200 and run["description"] is None
    path = "/api/runs/" + run["runId"]
    status, patched = api.call("PATCH", path, {"description": "Tried a larger batch.\nSee notes."})
    assert status == 200 and patched["description"] == "Tried a larger batch.\nSee notes."
    status, got = api.call("GET", path)
    assert status == 200 and got["description"] == "Tried a larger batch.\nSee notes."
    status, reply = api.call("PATCH", path, {"description": "d" * 10001})
    assert status == 400 and "description: 10001 characters, more than the 10000 allowed" in reply["detail"]
    status, reply = api.call("PATCH", path, {"description": ["not", "text"]})
    assert 400 <= status < 500, reply
    status, got = api.call("GET", path)
    assert got["description"] == "Tried a larger batch.\nSee notes."
    status, cleared = api.call("PATCH", path, {"description": ""})
    assert status == 200 and cleared["description"] is None
