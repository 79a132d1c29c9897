#!/usr/bin/env python
"""MLflow's ``log_batch`` into kyanite's MLflow API against the same call into MLflow's own server.

    python bench/mlflow_log_batch.py [--points 100000] [--keep] [--check]

The same client code, the MLflow client from PyPI, logs N (``--points``, or ``-n``) points of one metric
(``MlflowClient().log_batch(run_id, metrics=[Metric(...)] * N)``; the client sends them 1,000
per request, as it always does) to one run:

- kyanite: a workspace server (temp folder, 127.0.0.1), tracking URI
  ``ws.get_mlflow_tracking_uri()``;
- baseline: ``mlflow server --backend-store-uri sqlite:///...`` (its own SQLite store, temp
  folder, 127.0.0.1), started by this script, in the same invocation.

Each figure is N / (``log_batch`` called -> returned); the call is synchronous, so every
point is stored when it returns. The points are then read back with
``get_metric_history`` on both and counted. Needs MLflow (``pip install -e '.[bench]'``).

Both figures include the MLflow client's own work, which no server can remove: for each
request of 1,000 metrics it builds protobuf, JSON, a dict and JSON again, and ``requests``
sends it. A third row times the same call against a server that stores nothing (a stdlib
HTTP server answering ``{}``; the floor), and the server-side figure is
N / (call time - floor) for each system.

Target: kyanite's server at least 10x MLflow's own (server-side figures). Exit status 0 when the benchmark ran
(``--check``: 1 when the target is missed).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402


def _log(uri, n, token=None):
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Metric
    if token:
        os.environ["MLFLOW_TRACKING_TOKEN"] = token
    else:
        os.environ.pop("MLFLOW_TRACKING_TOKEN", None)
    mlflow.set_tracking_uri(uri)
    c = MlflowClient(uri)
    exp = c.create_experiment("bench-%d" % int(time.time() * 1000))
    run = c.create_run(exp)
    now = int(time.time() * 1000)
    metrics = [Metric("m", float(i), now + i, i) for i in range(n)]
    t0 = time.perf_counter()
    c.log_batch(run.info.run_id, metrics=metrics)
    elapsed = time.perf_counter() - t0
    t1 = time.perf_counter()
    back = len(c.get_metric_history(run.info.run_id, "m"))
    read = time.perf_counter() - t1
    c.set_terminated(run.info.run_id)
    return elapsed, back, read


_NULL_SERVER = r"""
import http.server, socket, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def setup(self):
        http.server.BaseHTTPRequestHandler.setup(self)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no delayed-ACK waits
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"""


def _client_floor(n):
    """Seconds the same ``log_batch`` call takes against a server that stores nothing (a
    stdlib HTTP server in its own process reading each body and answering ``{}``): the
    MLflow client's own work (protobuf, JSON, ``requests``) plus the HTTP round trips, which
    no tracking server can remove."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric
    proc = subprocess.Popen([sys.executable, "-c", _NULL_SERVER], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        os.environ.pop("MLFLOW_TRACKING_TOKEN", None)
        c = MlflowClient("http://127.0.0.1:%d" % port)
        now = int(time.time() * 1000)
        metrics = [Metric("m", float(i), now + i, i) for i in range(n)]
        t0 = time.perf_counter()
        c.log_batch("0" * 32, metrics=metrics)
        return time.perf_counter() - t0
    finally:
        proc.kill()
        proc.wait()


def _mlflow_server(tmp):
    port = C.free_port()
    db = os.path.join(tmp, "mlflow.db")
    log = open(os.path.join(tmp, "mlflow-server.log"), "w")
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
           "--backend-store-uri", "sqlite:///" + db, "--default-artifact-root", os.path.join(tmp, "mlruns"),
           "--workers", "1"]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = "http://127.0.0.1:%d" % port
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/health", timeout=2).read()
            return proc, url
        except Exception:
            if proc.poll() is not None:
                raise RuntimeError("mlflow server exited; see %s" % log.name)
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("mlflow server did not start in 120 s; see %s" % log.name)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--points", "-n", dest="n", type=int, default=100000,
                   help="points of one metric logged in one log_batch call (default 100000)")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--check", action="store_true")
    args = p.parse_args(argv)
    if args.n < 1:
        p.error("--points must be at least 1, got %d" % args.n)
    try:
        import mlflow  # noqa: F401
    except ImportError:
        print("MLflow is not installed: pip install -e '.[bench]'")
        print("SUMMARY mlflow_log_batch: skipped (MLflow is not installed)")
        return 0
    rows = []
    with C.bench_workspace("bench-mlflow", keep=args.keep) as (ws, tmp):
        k_elapsed, k_back, k_read = _log(ws.get_mlflow_tracking_uri(), args.n, ws._client.token)
        mtmp = tempfile.mkdtemp(prefix="mlflow-bench-")
        proc = None
        try:
            proc, url = _mlflow_server(mtmp)
            m_elapsed, m_back, m_read = _log(url, args.n)
        finally:
            if proc is not None:
                os.killpg(proc.pid, 15)
                proc.wait(30)
            if not args.keep:
                shutil.rmtree(mtmp, ignore_errors=True)
    floor = _client_floor(args.n)
    k_rate, m_rate = args.n / k_elapsed, args.n / m_elapsed
    k_srv, m_srv = args.n / max(k_elapsed - floor, 1e-9), args.n / max(m_elapsed - floor, 1e-9)
    rows.append(["kyanite (MLflow API)", args.n, "%.2f" % k_elapsed, "%.0f" % k_rate, "%.0f" % k_srv, k_back,
                 "%.2f" % k_read])
    rows.append(["MLflow server (SQLite)", args.n, "%.2f" % m_elapsed, "%.0f" % m_rate, "%.0f" % m_srv, m_back,
                 "%.2f" % m_read])
    rows.append(["the client alone (floor)", args.n, "%.2f" % floor, "%.0f" % (args.n / floor), "", "", ""])
    print(C.table(["system", "N", "log_batch s", "pts/s", "server-side pts/s", "read back", "read-back s"], rows))
    ratio = k_srv / m_srv
    ok = ratio >= 10 and k_back == args.n
    print("SUMMARY mlflow_log_batch: server-side kyanite %.0f pts/s, MLflow's server %.0f pts/s: %.1fx "
          "(target >= 10x: %s); end to end, with the client's own %.2f s: %.0f against %.0f pts/s, %.1fx"
          % (k_srv, m_srv, ratio, "met" if ok else "MISSED", floor, k_rate, m_rate, k_rate / m_rate))
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
