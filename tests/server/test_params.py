"""Integer path and query parameters are bounded to the store's 64-bit range
(kyanite.server.params.Int64): a larger one is a 422 naming the parameter, not an
overflow 500 from the database driver."""

import http.client
import json
import urllib.parse

import pytest

HUGE = "99999999999999999999"


@pytest.fixture(scope="module")
def get(ws):
    parts = urllib.parse.urlsplit(ws.server_url)

    def get(path):
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            conn.request("GET", path, headers={"Authorization": "Bearer " + ws._client.token})
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read().decode("utf-8"))
        finally:
            conn.close()
    return get


@pytest.mark.parametrize("path, param", [
    ("/api/models/m/versions/" + HUGE, "version"),
    ("/api/models/m/versions/-" + HUGE + "/files", "version"),
    ("/api/models/m?version=" + HUGE, "version"),
    ("/api/environments/e?version=" + HUGE, "version"),
    ("/api/runs?limit=" + HUGE, "limit"),
    ("/api/experiments/x/runs?offset=" + HUGE, "offset"),
])
def test_out_of_range_integer_is_a_422(get, path, param):
    status, body = get(path)
    assert status == 422, body
    assert param in body["detail"], body
    assert "9223372036854775807" in body["detail"] or "-9223372036854775808" in body["detail"], body


def test_in_range_version_is_still_a_404(get):
    status, body = get("/api/models/m/versions/9223372036854775807")
    assert status == 404, body
