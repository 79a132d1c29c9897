"""Where ``run.log`` sends metric points. Standard library only, Python 3.6+.

A sink receives points without blocking the caller:

- ``SpoolSink`` (inside a run started by the run host): each point is one line appended
  to a spool file with a single ``os.write``, so it costs a few microseconds and survives
  a crash or kill of the script; the run host tails the file and ships batches.
- ``HttpSink`` (interactive runs from ``Experiment.start_logging``): points queue in
  memory and a daemon thread posts them in batches; ``flush()`` and interpreter exit
  send what is left.
- ``PrintSink`` (offline, no run): prints what would have been logged.

Spool line format (UTF-8, tab separated, one point per line):
``s <run_id> <name> <value> <unix time>`` for a float or int (``repr``: an int has
only digits and a sign), and ``j <json object>`` for everything else (strings, rows,
tables, images, names with tabs).
"""

import atexit
import binascii
import json
import os
import threading
import time

SCALAR = "scalar"


def encode_record(run_id, name, kind, value, ts):
    return ("j\t" + json.dumps({"r": run_id, "n": name, "k": kind, "v": value, "t": ts},
                                separators=(",", ":")) + "\n").encode("utf-8")


def parse_lines(lines):
    """Parse spool lines into ``{run_id: {(name, kind): [[value, ts], ...]}}`` (order kept)."""
    out = {}
    for line in lines:
        if not line:
            continue
        try:
            if line[0] == "s":
                _, run_id, name, value, ts = line.split("\t")
                value = int(value) if value.lstrip("-").isdigit() else float(value)
                ts, kind = float(ts), SCALAR
            else:
                rec = json.loads(line[2:])
                run_id, name, kind, value, ts = rec["r"], rec["n"], rec["k"], rec["v"], rec["t"]
        except (ValueError, KeyError):
            continue  # a torn line from a killed writer: skip it, keep the rest
        out.setdefault(run_id, {}).setdefault((name, kind), []).append([value, ts])
    return out


def to_payload(series, batch=None):
    """``{(name, kind): [[v, ts]...]}`` -> the body of ``POST /api/runs/{id}/metrics``.
    ``batch`` names the batch so a retried post is stored once."""
    body = {"metrics": [{"name": name, "kind": kind,
                         "values": [p[0] for p in pts], "ts": [p[1] for p in pts]}
                        for (name, kind), pts in series.items()]}
    if batch is not None:
        body["batch"] = batch
    return body


class SpoolSink(object):
    def __init__(self, path):
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def scalar(self, run_id, name, value):
        if "\t" in name or "\n" in name or isinstance(value, str):
            os.write(self._fd, encode_record(run_id, name, SCALAR, value, time.time()))
        else:
            os.write(self._fd, ("s\t%s\t%s\t%r\t%.6f\n" % (run_id, name, value, time.time())).encode("utf-8"))

    def record(self, run_id, name, kind, value):
        os.write(self._fd, encode_record(run_id, name, kind, value, time.time()))

    def flush(self):
        pass


class HttpSink(object):
    """Batches points in memory; a daemon thread posts them every ``interval`` seconds."""

    def __init__(self, client, interval=0.25, max_batch=20000):
        self._client = client
        self._interval = interval
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._pending = {}
        self._count = 0
        self._wake = threading.Event()
        self._send_lock = threading.Lock()
        self._unsent = []
        self._seq = 0
        self._sink_id = "h%d-%s" % (os.getpid(), binascii.hexlify(os.urandom(6)).decode("ascii"))
        self._thread = threading.Thread(target=self._loop, name="kyanite-metrics", daemon=True)
        self._thread.start()
        atexit.register(self.flush)

    def scalar(self, run_id, name, value):
        self._add(run_id, name, SCALAR, value)

    def record(self, run_id, name, kind, value):
        self._add(run_id, name, kind, value)

    def _add(self, run_id, name, kind, value):
        with self._lock:
            self._pending.setdefault(run_id, {}).setdefault((name, kind), []).append([value, time.time()])
            self._count += 1
            if self._count >= self._max_batch:
                self._wake.set()

    def _loop(self):
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            try:
                self.flush()
            except Exception as exc:  # keep the points, retry on the next tick
                import sys
                sys.stderr.write("kyanite: metrics not sent yet (%s); will retry\n" % exc)

    def flush(self):
        """Send what is queued. A batch that fails is kept as it is (same id) and sent
        again first, so the server stores it once whatever happened to the reply."""
        with self._send_lock:
            with self._lock:
                pending, self._pending, self._count = self._pending, {}, 0
            for run_id, series in pending.items():
                self._seq += 1
                self._unsent.append((run_id, to_payload(series, "%s-%d" % (self._sink_id, self._seq))))
            while self._unsent:
                run_id, body = self._unsent[0]
                self._client.post("/api/runs/%s/metrics" % run_id, body)
                self._unsent.pop(0)


class PrintSink(object):
    def scalar(self, run_id, name, value):
        print("Attempted to log scalar metric %s:\n%r" % (name, value))

    def record(self, run_id, name, kind, value):
        print("Attempted to log %s metric %s:\n%s" % (kind, name, json.dumps(value)))

    def flush(self):
        pass
