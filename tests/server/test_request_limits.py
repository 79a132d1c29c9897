"""Request bodies: the token is checked from the headers before any body is read, and each
route caps its body (413 naming the cap, before reading when Content-Length says so, while
streaming otherwise). Spoken over raw sockets to a real server; its memory is watched with
psutil."""

import http.client
import json
import socket
import threading
import time
import urllib.parse

import psutil
import pytest

from kyanite.core import Experiment
from kyanite.runtime._http import Client
from kyanite.server import run_tokens
from kyanite.server.layout import WorkspaceLayout
from kyanite_testing import Api

SERVER_ENV = {"KYANITE_UPLOAD_MAX_MB": "1", "KYANITE_SNAPSHOT_MAX_MB": "1"}
MB = 1 << 20


def address(ws):
    u = urllib.parse.urlsplit(ws.server_url)
    return u.hostname, u.port


def server(ws):
    return psutil.Process(WorkspaceLayout.for_path(ws.path).server_info()["pid"])


class Peak(object):
    """The server's peak RSS growth (bytes) while the block runs."""

    def __init__(self, proc):
        self.proc, self.growth, self._stop = proc, 0, threading.Event()

    def __enter__(self):
        self.base = self.proc.memory_info().rss
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.wait(0.02):
            self.growth = max(self.growth, self.proc.memory_info().rss - self.base)

    def __exit__(self, *exc):
        time.sleep(0.3)
        self._stop.set()
        self._thread.join()


def raw_request(ws, method, path, headers, body_bytes=0, chunk=MB, token=None):
    """Send the request line and headers, then ``body_bytes`` bytes of ``x`` (ignoring a
    connection the server closes); returns ``(status, decoded reply)``."""
    sock = socket.create_connection(address(ws), timeout=60)
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: %s:%d" % address(ws)]
    if token:
        lines.append("Authorization: Bearer " + token)
    lines += ["%s: %s" % kv for kv in headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def send_body():
        sent, block = 0, b"x" * chunk
        try:
            while sent < body_bytes:
                sock.sendall(block[:min(chunk, body_bytes - sent)])
                sent += chunk
        except OSError:
            pass
    sender = threading.Thread(target=send_body, daemon=True)
    if body_bytes:
        sender.start()
    resp = http.client.HTTPResponse(sock)
    resp.begin()
    data = resp.read()
    if body_bytes:
        sender.join(timeout=60)
    sock.close()
    try:
        return resp.status, json.loads(data.decode())
    except ValueError:
        return resp.status, data  # the HTTP layer itself answers some malformed requests


def call(ws, method, path, raw=None, body=None, headers=None, encode_chunked=False, token="ws"):
    """``(status, decoded reply)`` (kyanite_testing.Api); ``token`` "ws": the workspace's, falsy: none."""
    return Api(ws, timeout=60).call(method, path, body, token="default" if token == "ws" else (token or None),
                                    raw=raw, headers=headers, encode_chunked=encode_chunked)


def test_a_big_post_without_token_is_refused_before_its_body(ws):
    proc = server(ws)
    with Peak(proc) as peak:
        status, reply = raw_request(ws, "POST", "/api/runs", {"Content-Length": str(200 * MB),
                                                              "Content-Type": "application/json"}, 200 * MB)
    assert status == 401 and reply["detail"] == "missing or wrong workspace token"
    assert peak.growth < 8 * MB, "the server grew by %.1f MB" % (peak.growth / MB)
    with Peak(proc) as peak:  # a chunked body too
        status, reply = raw_request(ws, "PUT", "/api/runs/r/artifacts/outputs/x.bin",
                                    {"Transfer-Encoding": "chunked"}, 0, token="wrong")
    assert status == 401


def test_public_routes_and_the_studio_sign_in_need_no_token(ws):
    for path in ("/api/health", "/api/openapi.json", "/api/docs", "/signin"):
        status, _ = http_get(ws, path)
        assert status == 200, path
    status, _ = http_get(ws, "/api/workspace")
    assert status == 401
    status, _ = http_get(ws, "/api/no-such-route")
    assert status == 401  # nothing under /api is described to a caller without a token


def http_get(ws, path):
    conn = http.client.HTTPConnection(*address(ws), timeout=30)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_a_run_token_is_checked_before_the_body_too(ws):
    run = Experiment(ws, "limits").start_logging()
    other = Experiment(ws, "limits").start_logging()
    token = run_tokens.issue(ws._client.token, run.id)
    status, reply = raw_request(ws, "PUT", "/api/runs/%s/artifacts/outputs/x.bin" % other.id,
                                {"Content-Length": str(100 * MB)}, 0, token=token)
    assert status == 403 and "own run tree" in reply["detail"]
    c = Client(ws._client.base_url, token, retry_seconds=0)
    c.post("/api/runs/%s/metrics" % run.id, {"metrics": [{"name": "m", "kind": "scalar", "values": [1.0],
                                                           "ts": [0.0]}]})
    assert c.get("/api/runs/%s/metrics" % run.id)["metrics"][0]["values"] == [1.0]


def test_a_content_length_over_the_cap_is_answered_before_the_body(ws):
    proc = server(ws)
    run = Experiment(ws, "limits").start_logging()
    cases = [("POST", "/api/runs", 200 * MB, "4 MB cap for a request body (JSON documents)"),
             ("POST", "/api/runs/%s/metrics" % run.id, 65 * MB, "64 MB cap for a metrics batch"),
             ("PUT", "/api/runs/%s/artifacts/outputs/x.bin" % run.id, 2 * MB, "1 MB cap for file uploads"),
             ("PUT", "/api/snapshots/%s" % ("0" * 64), 3 * MB, "cap for source snapshots (KYANITE_SNAPSHOT_MAX_MB=1"),
             ("POST", "/signin", 1 * MB, "64 KB cap for the sign-in form")]
    for method, path, size, words in cases:
        with Peak(proc) as peak:
            status, reply = raw_request(ws, method, path, {"Content-Length": str(size)}, 0,
                                        token=ws._client.token)
        assert status == 413 and words in reply["detail"], (path, status, reply)
        assert peak.growth < 8 * MB
    assert run.get_file_names() == []


def test_a_streamed_body_over_the_cap_is_cut_off(ws):
    proc = server(ws)
    run = Experiment(ws, "limits").start_logging()
    with Peak(proc) as peak:
        status, reply = call(ws, "PUT", "/api/runs/%s/artifacts/outputs/big.bin" % run.id,
                             raw=iter([b"x" * (256 << 10)] * 40), encode_chunked=True)  # 10 MB, cap 1 MB
    assert status == 413 and "1 MB cap for file uploads" in reply["detail"], reply
    assert peak.growth < 8 * MB
    assert run.get_file_names() == []
    status, reply = call(ws, "POST", "/api/runs", raw=iter([b'{"experiment": "limits", "display_name": "'] +
                                                           [b"n" * MB] * 5 + [b'"}']), encode_chunked=True,
                         headers={"Content-Type": "application/json"})
    assert status == 413 and "4 MB cap" in reply["detail"], reply
    status, reply = call(ws, "PUT", "/api/runs/%s/artifacts/outputs/ok.bin" % run.id,
                         raw=iter([b"y" * (256 << 10)] * 2), encode_chunked=True)  # under the cap: stored
    assert status == 200 and reply["size"] == 512 << 10
    assert run.get_file_names() == ["outputs/ok.bin"]


@pytest.mark.parametrize("value", ["-1", "abc", "1.5", "1, 2"])
def test_a_malformed_content_length_is_400(ws, value):
    status, _ = raw_request(ws, "POST", "/api/runs", {"Content-Length": value}, 0, token=ws._client.token)
    assert status == 400


def test_a_huge_run_name_is_not_stored(ws):
    head = b'{"experiment": "limits", "display_name": "'
    status, reply = call(ws, "POST", "/api/runs", raw=iter([head] + [b"n" * (4 * MB)] * 50 + [b'"}']),
                         headers={"Content-Type": "application/json", "Content-Length": str(len(head) + 200 * MB + 2)})
    assert status == 413 and "4 MB cap" in reply["detail"]
    status, reply = call(ws, "POST", "/api/runs", body={"experiment": "limits", "display_name": "n" * MB})
    assert status == 400 and "display_name: 1048576 characters, more than the 255 allowed" in reply["detail"]
    t0 = time.time()
    status, runs = call(ws, "GET", "/api/runs?all=true&limit=500")
    assert status == 200 and time.time() - t0 < 2
    assert all(len(r.get("displayName") or "") <= 255 for r in runs["runs"])
