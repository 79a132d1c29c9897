"""JSON in and out of the server (kyanite.server.jsonio), over real HTTP: a body nested too
deep is a 400 (not a RecursionError 500), and every response is strict JSON: a non-finite
number logged anywhere comes back as "NaN", "Infinity" or "-Infinity", and the SDK turns
those back into floats."""

import http.client
import json
import math
import urllib.parse

import pytest

from kyanite.core import Experiment
from kyanite.server.jsonio import MAX_DEPTH


def _strict(text):
    def refuse(name):
        raise ValueError("bare %s in a JSON response" % name)
    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def call(ws):
    parts = urllib.parse.urlsplit(ws.server_url)

    def call(method, path, raw=None):
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            conn.request(method, path, body=raw, headers={"Authorization": "Bearer " + ws._client.token,
                                                          "Content-Type": "application/json"})
            resp = conn.getresponse()
            return resp.status, resp.read().decode("utf-8")
        finally:
            conn.close()
    return call


@pytest.fixture(scope="module")
def run(ws):
    r = Experiment(ws, "jsonio").start_logging()
    yield r
    r.complete()


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5000, 200000])
def test_deeply_nested_metrics_body_is_a_400(call, run, depth):
    body = '{"metrics": %s}' % ("[" * depth + "]" * depth)
    status, text = call("POST", "/api/runs/%s/metrics" % run.id, body.encode())
    assert status == 400, text
    assert "deep" in _strict(text)["detail"]


def test_metrics_body_at_the_depth_limit_is_accepted(call, run):
    row = 1
    for _ in range(MAX_DEPTH - 5):  # body, metrics list, series, values list, row: 5 levels
        row = [row]
    body = json.dumps({"metrics": [{"name": "deep", "kind": "row", "values": [{"x": row}], "ts": [1.0]}]})
    status, text = call("POST", "/api/runs/%s/metrics" % run.id, body.encode())
    assert status == 200, text


def test_deeply_nested_model_body_is_a_400(call, run):
    tags = "1"
    for _ in range(MAX_DEPTH + 5):
        tags = '{"a": %s}' % tags
    status, text = call("PATCH", "/api/runs/%s" % run.id, ('{"tags": %s}' % tags).encode())
    assert status == 400, text
    assert "deep" in _strict(text)["detail"]


def test_non_finite_metrics_are_strict_json_and_floats_in_the_sdk(call, run):
    nan, inf = float("nan"), float("inf")
    run.log("scalar", nan)
    run.log("scalar", inf)
    run.log("scalar", -inf)
    run.log("scalar", 0.5)
    run.log_list("list", [1.0, nan, -inf])
    run.log_row("row", a=nan, b=inf, c=1)
    run.log_table("table", {"x": [-inf, 2.0], "y": [nan, 3.0]})
    run.flush()

    status, text = call("GET", "/api/runs/%s/metrics" % run.id)
    assert status == 200, text
    wire = dict((m["name"], m["values"]) for m in _strict(text)["metrics"])
    assert wire["scalar"] == ["NaN", "Infinity", "-Infinity", 0.5]
    assert wire["list"] == [1.0, "NaN", "-Infinity"]
    assert wire["row"] == [{"a": "NaN", "b": "Infinity", "c": 1}]
    assert wire["table"] == [{"x": ["-Infinity", 2.0], "y": ["NaN", 3.0]}]

    got = run.get_metrics()
    s = got["scalar"]
    assert math.isnan(s[0]) and s[1] == inf and s[2] == -inf and s[3] == 0.5
    assert got["list"][0] == 1.0 and math.isnan(got["list"][1]) and got["list"][2] == -inf
    assert math.isnan(got["row"]["a"][0]) and got["row"]["b"] == [inf] and got["row"]["c"] == [1]
    assert got["table"]["x"] == [-inf, 2.0] and math.isnan(got["table"]["y"][0])

    for path in ("/api/runs/%s/metrics/summary" % run.id, "/api/runs/%s/metrics/scalar/series" % run.id,
                 "/api/runs?all=true&metrics=true", "/api/runs/%s" % run.id):
        status, text = call("GET", path)
        assert status == 200, (path, text)
        _strict(text)


def test_validation_error_echoing_a_non_finite_input_is_strict_json(call, run):
    status, text = call("POST", "/api/runs/%s/status" % run.id, b'{"status": NaN}')
    assert status == 422, text
    assert "status" in _strict(text)["detail"]
