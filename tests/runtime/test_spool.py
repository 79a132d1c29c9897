"""The metric spool: line format round trip, torn lines, and the run host's shipper."""

import json
import os

from kyanite.runtime import _sinks
from kyanite.runtime.host import LogShipper, MetricShipper


def _read_lines(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8").split("\n")


def test_round_trip(tmp_path):
    path = str(tmp_path / "spool")
    sink = _sinks.SpoolSink(path)
    sink.scalar("r1", "loss", 0.1)
    sink.scalar("r1", "loss", 1e-300)
    sink.scalar("r1", "loss", float("inf"))
    sink.scalar("r2", "acc", 3.0)
    sink.scalar("r1", "tab\tname", 2.0)  # a name the plain line cannot hold
    sink.scalar("r1", "unicode é", 4.0)
    sink.record("r1", "rows", "row", {"epoch": 1, "acc": 0.5})
    sink.record("r1", "img", "image", "images/a.png")
    parsed = _sinks.parse_lines(_read_lines(path))
    r1 = parsed["r1"]
    assert [p[0] for p in r1[("loss", "scalar")]] == [0.1, 1e-300, float("inf")]
    assert [p[0] for p in r1[("tab\tname", "scalar")]] == [2.0]
    assert [p[0] for p in r1[("unicode é", "scalar")]] == [4.0]
    assert r1[("rows", "row")][0][0] == {"epoch": 1, "acc": 0.5}
    assert r1[("img", "image")][0][0] == "images/a.png"
    assert [p[0] for p in parsed["r2"][("acc", "scalar")]] == [3.0]
    assert all(isinstance(p[1], float) and p[1] > 1e9 for pts in r1.values() for p in pts)
    payload = _sinks.to_payload(r1)
    assert {"name": "loss", "kind": "scalar", "values": [0.1, 1e-300, float("inf")],
            "ts": [p[1] for p in r1[("loss", "scalar")]]} in payload["metrics"]
    json.dumps(payload)


def test_torn_and_garbage_lines_are_skipped():
    lines = ["s\tr\tloss\t1.0\t100.0", "s\tr\tloss\t2.", "s\tr\tloss\t3.0\t102.0", "j\t{\"r\":\"r\",\"n\"",
             "", "garbage", "s\tr\tloss\tnot-a-number\t1.0", "j\t{\"r\":\"r\",\"n\":\"x\",\"k\":\"row\",\"v\":{},\"t\":1}"]
    parsed = _sinks.parse_lines(lines)
    assert parsed["r"][("loss", "scalar")] == [[1.0, 100.0], [3.0, 102.0]]
    assert parsed["r"][("x", "row")] == [[{}, 1]]


class FakeClient(object):
    """Records what the shippers post (the shippers' own logic is what is tested here)."""

    def __init__(self):
        self.posts = []

    def post(self, path, json_body=None, **kw):
        self.posts.append((path, json_body, kw))
        return {}


def test_metric_shipper_waits_for_whole_lines(tmp_path):
    path = str(tmp_path / "spool")
    client = FakeClient()
    shipper = MetricShipper(client, path, interval=3600)
    with open(path, "ab") as f:
        f.write(b"s\tr\tloss\t1.0\t100.0\ns\tr\tlo")
    shipper.flush()
    assert client.posts[0][1]["metrics"] == [{"name": "loss", "kind": "scalar", "values": [1.0], "ts": [100.0]}]
    with open(path, "ab") as f:
        f.write(b"ss\t2.0\t101.0\n")
    shipper.close()
    assert client.posts[1][1]["metrics"] == [{"name": "loss", "kind": "scalar", "values": [2.0], "ts": [101.0]}]
    assert len(client.posts) == 2


def test_log_shipper_keeps_offsets_and_whole_lines():
    client = FakeClient()
    log = LogShipper(client, "r", interval=3600)
    log.write(b"Traceback:\nValueError")
    log.write(b": bad value\n")
    log.write("caf\u00e9\n")
    log.close()
    assert log.tail == ["Traceback:", "ValueError: bad value", "caf\u00e9"]
    sent = b"".join(kw["data"] for _, _, kw in client.posts)
    assert sent == "Traceback:\nValueError: bad value\ncaf\u00e9\n".encode("utf-8")
    assert [kw["params"]["offset"] for _, _, kw in client.posts] == [0]


def test_spool_survives_a_killed_writer(tmp_path):
    """Points written before the writer died are readable: each is one os.write."""
    import subprocess
    import sys
    path = str(tmp_path / "spool")
    code = ("import os, sys\nsys.path.insert(0, %r)\nfrom kyanite.runtime._sinks import SpoolSink\n"
            "s = SpoolSink(%r)\nfor i in range(1000):\n    s.scalar('r', 'x', i)\nos.kill(os.getpid(), 9)\n"
            % (os.path.dirname(os.path.dirname(os.path.dirname(_sinks.__file__))), path))
    subprocess.run([sys.executable, "-c", code])
    parsed = _sinks.parse_lines(_read_lines(path))
    assert [p[0] for p in parsed["r"][("x", "scalar")]] == [float(i) for i in range(1000)]
