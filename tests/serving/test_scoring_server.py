"""The scoring server process on its own (no workspace server): started the way the
deployment manager starts it, in this interpreter and in Python 3.6, spoken to over HTTP."""

import http.client
import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from kyanite.serving.server import key_hash, make_token
from kyanite.serving.shim import build_shim

PY36 = "/root/.pyenv/versions/3.6.15/bin/python"


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Scorer(object):
    def __init__(self, tmp, script, python=sys.executable, keys=None, token=False, port=None, models=None):
        self.dir = tmp
        src = tmp / "src"
        src.mkdir(parents=True, exist_ok=True)
        (src / "score.py").write_text(textwrap.dedent(script))
        self.port = port or _free_port()
        self.cfg_path = str(tmp / "config.json")
        self.state_path = str(tmp / "state.json")
        self.cfg = {"name": "svc", "generation": 1, "host": "127.0.0.1", "port": self.port,
                    "entryScript": str(src / "score.py"), "sourceDir": str(src), "stateFile": self.state_path,
                    "keyHashes": [key_hash(k) for k in keys] if keys else None, "tokenAuth": token,
                    "secret": "s3cret"}
        with open(self.cfg_path, "w") as f:
            json.dump(self.cfg, f)
        env = dict(os.environ, PYTHONPATH=build_shim(str(tmp / "cache")), PYTHONUNBUFFERED="1")
        if models:
            env.update(models)
        self.log = open(str(tmp / "score.log"), "wb")
        self.proc = subprocess.Popen([python, "-m", "kyanite.serving.server", "--config", self.cfg_path],
                                     cwd=str(src), env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def state(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with open(self.state_path) as f:
                    st = json.load(f)
                if st["state"] != "Initializing":
                    return st
            except (OSError, ValueError):
                pass
            if self.proc.poll() is not None:
                time.sleep(0.1)
            time.sleep(0.02)
        raise AssertionError("no final state; log:\n" + self.logtext())

    def logtext(self):
        self.log.flush()
        return open(str(self.dir / "score.log")).read()

    def request(self, method, path, body=None, headers=None, conn=None):
        c = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return r.status, data, dict(r.getheaders())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.log.close()


@pytest.fixture
def scorers():
    made = []
    yield lambda *a, **kw: made.append(Scorer(*a, **kw)) or made[-1]
    for s in made:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()


SCRIPT = """
    import json
    from kyanite.core.model import Model
    from kyanite.core import Model as Model2

    def init():
        global calls, where
        calls = 0
        try:
            where = Model.get_model_path("m")
        except Exception as exc:
            where = "none: %s" % type(exc).__name__
        print("init done", where)

    def run(raw):
        global calls
        calls += 1
        data = json.loads(raw)
        if data.get("fail"):
            raise RuntimeError("asked to fail")
        if "x" not in data:
            raise ValueError("the body needs 'x'")
        return {"y": [2 * v for v in data["x"]], "calls": calls, "where": where}
"""


def _exercise(sc):
    st = sc.state()
    assert st["state"] == "Healthy", sc.logtext()
    conn = http.client.HTTPConnection("127.0.0.1", sc.port, timeout=10)
    code, body, _ = sc.request("POST", "/score", '{"x": [1, 2]}', conn=conn)
    assert code == 200 and json.loads(body)["y"] == [2, 4]
    code, body, _ = sc.request("POST", "/score", '{"nope": 1}', conn=conn)  # same kept-alive connection
    assert code == 400 and "the body needs 'x'" in json.loads(body)["error"]
    code, body, _ = sc.request("POST", "/score", "{bad json", conn=conn)
    assert code == 400 and "JSONDecodeError" in json.loads(body)["error"]
    code, body, _ = sc.request("POST", "/score", '{"fail": true}', conn=conn)
    assert code == 500 and json.loads(body)["error"] == "RuntimeError: asked to fail"
    code, body, _ = sc.request("POST", "/score", '{"x": [5]}', conn=conn)  # still up
    assert code == 200 and json.loads(body)["calls"] == 5
    code, body, _ = sc.request("GET", "/")
    assert (code, body) == (200, b"Healthy")
    code, body, _ = sc.request("GET", "/health")
    assert json.loads(body)["requests"] == 5 and json.loads(body)["errors"] == 3
    code, body, _ = sc.request("GET", "/swagger.json")
    assert code == 200 and "/score" in json.loads(body)["paths"]
    assert sc.request("GET", "/score")[0] == 405
    assert sc.request("GET", "/nothing")[0] == 404
    assert "Traceback" in sc.logtext() and "RuntimeError: asked to fail" in sc.logtext()
    # a chunked body
    c = http.client.HTTPConnection("127.0.0.1", sc.port, timeout=10)
    c.request("POST", "/score", body=iter([b'{"x": ', b"[3]}"]), encode_chunked=True,
              headers={"Transfer-Encoding": "chunked"})
    r = c.getresponse()
    assert r.status == 200 and json.loads(r.read())["y"] == [6]


def test_serves_init_run_errors_and_health(tmp_path, scorers):
    _exercise(scorers(tmp_path, SCRIPT))


@pytest.mark.skipif(not os.path.exists(PY36), reason="pyenv's Python 3.6 is not installed")
def test_runs_under_python_36(tmp_path, scorers):
    root = tmp_path / "models" / "m" / "3"
    root.mkdir(parents=True)
    (root / "m.bin").write_text("w")
    sc = scorers(tmp_path, SCRIPT, python=PY36, models={
        "KYANITE_MODELS_ROOT": str(tmp_path / "models"), "AZUREML_MODEL_DIR": str(root)})
    _exercise(sc)
    assert sc.state()["python"].startswith("3.6")
    code, body, _ = sc.request("POST", "/score", '{"x": []}')
    assert json.loads(body)["where"] == str(root / "m.bin")


def test_keys_tokens_and_reload(tmp_path, scorers):
    sc = scorers(tmp_path, SCRIPT, keys=["k1", "k2"], token=True)
    assert sc.state()["state"] == "Healthy"
    body = '{"x": [1]}'
    assert sc.request("POST", "/score", body)[0] == 401
    code, _, headers = sc.request("POST", "/score", body, {"Authorization": "Bearer wrong"})
    assert code == 401 and headers.get("WWW-Authenticate") == "Bearer"
    assert sc.request("POST", "/score", body, {"Authorization": "Bearer k1"})[0] == 200
    assert sc.request("POST", "/score", body, {"Authorization": "bearer k2"})[0] == 200
    good = make_token("s3cret", "svc", time.time() + 60)
    assert sc.request("POST", "/score", body, {"Authorization": "Bearer " + good})[0] == 200
    expired = make_token("s3cret", "svc", time.time() - 1)
    assert sc.request("POST", "/score", body, {"Authorization": "Bearer " + expired})[0] == 401
    forged = make_token("other", "svc", time.time() + 60)
    assert sc.request("POST", "/score", body, {"Authorization": "Bearer " + forged})[0] == 401
    assert sc.request("GET", "/")[0] == 200  # health needs no key
    # rotate: new keys in the config, then the admin reload
    sc.cfg["keyHashes"] = [key_hash("k3"), key_hash("k2")]
    with open(sc.cfg_path, "w") as f:
        json.dump(sc.cfg, f)
    assert sc.request("POST", "/-/reload", "", {"X-Kyanite-Admin": "wrong"})[0] == 401
    assert sc.request("POST", "/-/reload", "", {"X-Kyanite-Admin": "s3cret"})[0] == 200
    assert sc.request("POST", "/score", body, {"Authorization": "Bearer k1"})[0] == 401
    assert sc.request("POST", "/score", body, {"Authorization": "Bearer k3"})[0] == 200


def test_init_failure_and_missing_functions(tmp_path, scorers):
    bad = scorers(tmp_path / "a", """
        def init():
            raise ZeroDivisionError("no model today")
        def run(raw):
            return 1
    """)
    st = bad.state()
    assert st["state"] == "Failed" and "init()" in st["error"]["message"]
    assert "ZeroDivisionError: no model today" in st["error"]["traceback"]
    assert bad.proc.wait(10) == 3
    assert "Traceback" in bad.logtext()
    norun = scorers(tmp_path / "b", """
        def init():
            pass
    """)
    st = norun.state()
    assert st["state"] == "Failed" and "defines no run() function" in st["error"]["message"]


def test_port_in_use_and_config_removal(tmp_path, scorers):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    try:
        sc = scorers(tmp_path / "a", SCRIPT, port=blocker.getsockname()[1])
        st = sc.state()
        assert st["state"] == "Failed" and st["error"]["code"] == "PortInUse"
        assert sc.proc.wait(10) == 4
    finally:
        blocker.close()
    ok = scorers(tmp_path / "b", SCRIPT)
    assert ok.state()["state"] == "Healthy"
    os.unlink(ok.cfg_path)  # the deployment was deleted: the process leaves by itself
    assert ok.proc.wait(10) == 5


# -- request framing and size: raw sockets, as a hostile client sends them ------------------

def _raw(port, data, timeout=5.0):
    """Send ``data`` and read until the server closes; ``(status, whole answer)``. A server
    that waits for more body instead of answering makes this raise socket.timeout."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    finally:
        s.close()
    return int(out.split(b" ", 2)[1]), out


def _head(extra, key="k1"):
    lines = ["POST /score HTTP/1.1", "Host: x"] + (["Authorization: Bearer " + key] if key else []) + extra
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def test_malformed_lengths_and_chunk_sizes_answer_400(tmp_path, scorers):
    sc = scorers(tmp_path, SCRIPT, keys=["k1", "k2"])
    assert sc.state()["state"] == "Healthy"
    for cl in ("-1", "+5", "1x", " -0x10"):
        code, out = _raw(sc.port, _head(["Content-Length: " + cl]) + b'{"x": [1]}')
        assert code == 400 and b"Content-Length" in out, (cl, out)
    code, out = _raw(sc.port, _head(["Content-Length: 10", "Content-Length: 11"]) + b'{"x": [1]}')
    assert code == 400
    for size in (b"-5", b"0x10", b"+5", b"zz", b"1" * 40):
        code, out = _raw(sc.port, _head(["Transfer-Encoding: chunked"]) + size + b"\r\n" + b"a" * 64)
        assert code == 400 and b"chunk" in out, (size, out)
    code, out = _raw(sc.port, _head(["Transfer-Encoding: gzip, chunked"]) + b"5\r\nhello\r\n0\r\n\r\n")
    assert code == 400 and b"Transfer-Encoding" in out
    # a chunk-size line that never ends is cut off, not buffered
    code, out = _raw(sc.port, _head(["Transfer-Encoding: chunked"]) + b"1" * 100000)
    assert code == 400
    # well-formed requests still score, on a kept-alive connection
    conn = http.client.HTTPConnection("127.0.0.1", sc.port, timeout=10)
    for _ in range(2):
        assert sc.request("POST", "/score", '{"x": [1]}', {"Authorization": "Bearer k2"}, conn=conn)[0] == 200
    assert sc.request("GET", "/health")[0] == 200


def test_oversized_bodies_answer_413_while_streaming(tmp_path, scorers):
    sc = scorers(tmp_path, SCRIPT, keys=["k1", "k2"], models={"KYANITE_SCORING_MAX_BODY_MB": "1"})
    assert sc.state()["state"] == "Healthy"
    code, _ = _raw(sc.port, _head(["Content-Length: %d" % (2 << 20)]))  # refused from the header
    assert code == 413
    # chunks of 256 KiB: refused once the announced sizes pass 1 MiB, before that chunk is sent
    s = socket.create_connection(("127.0.0.1", sc.port), timeout=5)
    s.sendall(_head(["Transfer-Encoding: chunked"]))
    for _ in range(4):
        s.sendall(b"40000\r\n" + b" " * 0x40000 + b"\r\n")
    s.sendall(b"40000\r\n")
    out = s.recv(65536)
    s.close()
    assert out.startswith(b"HTTP/1.1 413"), out
    code, _ = _raw(sc.port, _head(["Transfer-Encoding: chunked"]) + b"7fffffffffffffff\r\n")
    assert code == 413
    # under the cap, chunked still works
    body = b'{"x": [' + b" " * 500000 + b'1]}'
    code, out = _raw(sc.port, _head(["Transfer-Encoding: chunked", "Connection: close"])
                     + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
    assert code == 200 and b'"y": [2]' in out


def test_unauthorized_big_body_is_refused_before_it_is_read(tmp_path, scorers):
    sc = scorers(tmp_path, SCRIPT, keys=["k1", "k2"])
    assert sc.state()["state"] == "Healthy"
    proc = psutil.Process(sc.proc.pid)
    rss0 = proc.memory_info().rss
    size = 90 << 20  # under the 100 MB cap: the old server read it all, then said 401
    for key in (None, "wrong"):
        s = socket.create_connection(("127.0.0.1", sc.port), timeout=5)
        s.sendall(_head(["Content-Length: %d" % size, "Content-Type: application/json"], key=key)
                  + b"[" * (256 << 10))
        out = s.recv(65536)  # answered while the client is still sending
        assert out.startswith(b"HTTP/1.1 401") and b"Connection: close" in out, out
        sent, block = 256 << 10, b"[" * (1 << 20)
        with pytest.raises(OSError):  # the server closed: the rest cannot be sent
            while sent < size:
                s.sendall(block)
                sent += len(block)
        s.close()
        assert sent < size // 2
    # 'Expect: 100-continue' without the key: 401 in place of '100 Continue'
    code, out = _raw(sc.port, _head(["Content-Length: %d" % size, "Expect: 100-continue"], key=None))
    assert code == 401 and b"100 Continue" not in out
    assert proc.memory_info().rss - rss0 < (8 << 20)
    assert sc.request("POST", "/score", '{"x": [1]}', {"Authorization": "Bearer k1"})[0] == 200
    assert sc.request("POST", "/-/reload", "x" * 1000, {"X-Kyanite-Admin": "nope"})[0] == 401
