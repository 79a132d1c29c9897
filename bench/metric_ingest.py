#!/usr/bin/env python
"""Metric ingest: ``run.log`` in a tight loop inside a kyanite run, against MLflow into SQLite.

    python bench/metric_ingest.py [-n 200000] [--mlflow-n 2000] [--mlflow-batch-n 50000]
                                  [--skip-mlflow] [--keep]

kyanite: a script submitted through kyanite (user-managed environment, this interpreter)
calls ``run.log('m', float(i))`` N times and times the loop itself (µs per call). The
benchmark measures, from the ``submit`` call, until the run is Completed and
``run.get_metrics()['m']`` holds all N points, and times that read-back on its own.

- "stored pts/s": N / (the script's first ``run.log`` -> every point stored). The run
  host ships all points before it reports Finalizing, so "stored" is the moment the
  Finalizing state is seen (an upper bound).
- "end-to-end pts/s": N / (``submit`` called -> ``get_metrics()`` returned all N),
  run start-up and read-back included.

Baselines, in this process, measured in the same invocation (MLflow must be importable;
``pip install -e '.[bench]'`` installs it, else these rows are skipped):

- MLflow ``mlflow.log_metric`` one call at a time into a SQLite tracking URI in a temp
  folder (``--mlflow-n`` points, default 2,000; its rate is extrapolated);
- MLflow ``MlflowClient.log_batch`` with batches of 1,000 ``Metric`` objects into SQLite
  (``--mlflow-batch-n`` points, default 50,000).
Both are synchronous, so what they log is stored when the call returns.

Targets: >= 100,000 points/s stored and readable, and < 10 µs per ``run.log`` call.
Exit status 0 when the benchmark ran (``--check`` exits 1 when a target is missed).
"""

import argparse
import logging
import os
import re
import shutil
import sys
import tempfile
import textwrap
import time
import warnings

import _common as C

TARGET_RATE = 100000.0
TARGET_US = 10.0

SCRIPT = textwrap.dedent('''\
    import sys, time
    from kyanite.core import Run
    run = Run.get_context()
    n = int(sys.argv[1])
    run.log("warmup", 0.0)
    t_start = time.time()
    t0 = time.perf_counter()
    for i in range(n):
        run.log('m', float(i))
    t1 = time.perf_counter()
    print("bench-ingest %d %.6f %.9f" % (n, t_start, t1 - t0))
''')


def bench_kyanite(n, keep):
    from kyanite.core import Experiment, ScriptRunConfig
    with C.bench_workspace("bench-ingest", keep=keep) as (ws, tmp):
        src = C.write_source(os.path.join(tmp, "src"), log_loop=SCRIPT)
        env = C.current_python_env()
        exp = Experiment(ws, "metric-ingest")
        # a first small run warms the server, the runtime shim and the bytecode caches
        exp.submit(ScriptRunConfig(source_directory=src, script="log_loop.py", arguments=[10],
                                   environment=env)).wait_for_completion()

        t_submit = time.time()
        run = exp.submit(ScriptRunConfig(source_directory=src, script="log_loop.py", arguments=[n],
                                         environment=env))
        watcher = C.StatusWatcher(ws._client, run.id)
        details = run.wait_for_completion(raise_on_error=False)
        t_completed = time.time()
        if details["status"] != "Completed":
            raise SystemExit("bench: the ingest run ended %s: %s\n%s" % (
                details["status"], details.get("error"), C.driver_log(run)))
        t_read0 = time.time()
        metrics = run.get_metrics()
        t_read1 = time.time()
        got = len(metrics.get("m") or [])
        seen = watcher.join(15)
        log = C.driver_log(run)
        m = re.search(r"bench-ingest (\d+) (\S+) (\S+)", log)
        if not m:
            raise SystemExit("bench: the script's timing line is missing from the driver log:\n" + log)
        loop_start, loop_s = float(m.group(2)), float(m.group(3))
        stored_at = seen.get("Finalizing") or seen.get("Completed") or t_completed
        if got != n:
            raise SystemExit("bench: get_metrics() returned %d points of 'm', expected %d" % (got, n))
        return {
            "name": "kyanite run.log (spool -> host -> server)", "n": n,
            "us_call": loop_s / n * 1e6,
            "stored_rate": n / (stored_at - loop_start),
            "e2e_rate": n / (t_read1 - t_submit),
            "read_s": t_read1 - t_read0,
            "detail": "loop %.3f s; loop start -> stored %.3f s; submit -> Completed %.3f s; "
                      "submit -> readable %.3f s" % (loop_s, stored_at - loop_start,
                                                     t_completed - t_submit, t_read1 - t_submit),
        }


def bench_mlflow(n_single, n_batch):
    try:
        import mlflow
        from mlflow.entities import Metric
        from mlflow.tracking import MlflowClient
    except ImportError:
        print("MLflow is not installed: its baseline rows are skipped. Install it with\n"
              "    pip install -e '.[bench]'      (or: pip install mlflow)\n")
        return []
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    tmp = tempfile.mkdtemp(prefix="kyanite-bench-mlflow-")
    rows = []
    try:
        uri = "sqlite:///%s" % os.path.join(tmp, "mlflow.db")
        mlflow.set_tracking_uri(uri)
        client = MlflowClient(uri)
        exp_id = client.create_experiment("bench", artifact_location="file://" + os.path.join(tmp, "artifacts"))

        with mlflow.start_run(experiment_id=exp_id) as active:
            run_id = active.info.run_id
            mlflow.log_metric("warmup", 0.0)
            t0 = time.perf_counter()
            for i in range(n_single):
                mlflow.log_metric("m", float(i), step=i)
            dt = time.perf_counter() - t0
        r0 = time.perf_counter()
        hist = client.get_metric_history(run_id, "m")
        rt = time.perf_counter() - r0
        assert len(hist) == n_single, len(hist)
        rows.append({"name": "MLflow %s log_metric, 1 call per point" % mlflow.__version__, "n": n_single,
                     "us_call": dt / n_single * 1e6, "stored_rate": n_single / dt,
                     "e2e_rate": n_single / (dt + rt), "read_s": rt,
                     "detail": "loop %.3f s (synchronous: stored on return)" % dt})

        run = client.create_run(exp_id)
        run_id = run.info.run_id
        ts = int(time.time() * 1000)
        t0 = time.perf_counter()
        for b in range(0, n_batch, 1000):
            client.log_batch(run_id, metrics=[Metric("m", float(i), ts, i)
                                              for i in range(b, min(b + 1000, n_batch))])
        dt = time.perf_counter() - t0
        client.set_terminated(run_id)
        r0 = time.perf_counter()
        hist = client.get_metric_history(run_id, "m")
        rt = time.perf_counter() - r0
        assert len(hist) == n_batch, len(hist)
        rows.append({"name": "MLflow %s log_batch, 1000 Metric per call" % mlflow.__version__, "n": n_batch,
                     "us_call": dt / n_batch * 1e6, "stored_rate": n_batch / dt,
                     "e2e_rate": n_batch / (dt + rt), "read_s": rt, "per_point": True,
                     "detail": "loop %.3f s (synchronous: stored on return)" % dt})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-n", type=int, default=200000, help="points logged by the kyanite run (default 200,000)")
    p.add_argument("--mlflow-n", type=int, default=2000, help="points for MLflow log_metric (default 2,000)")
    p.add_argument("--mlflow-batch-n", type=int, default=50000,
                   help="points for MLflow log_batch (default 50,000)")
    p.add_argument("--skip-mlflow", action="store_true")
    C.add_standard_args(p, "a target")
    args = p.parse_args(argv)
    notes = C.start_notes(args)

    t_all = time.perf_counter()
    rows = [bench_kyanite(args.n, args.keep)]
    if not args.skip_mlflow:
        rows += bench_mlflow(args.mlflow_n, args.mlflow_batch_n)

    print()
    print("Metric ingest: points from a loop, stored and readable back (same machine, same invocation)")
    for n in notes:
        print(n)
    print()
    out = []
    for r in rows:
        per = "%.2f%s" % (r["us_call"], " /pt" if r.get("per_point") else "")
        out.append([r["name"], "{:,}".format(r["n"]), per, "{:,.0f}".format(r["stored_rate"]),
                    "{:,.0f}".format(r["e2e_rate"]), "%.3f" % r["read_s"],
                    "{:,.0f}".format(r["n"] / r["read_s"]) if r["read_s"] > 0 else "n/a"])
    print(C.table(["system", "N", "µs/call", "stored pts/s", "end-to-end pts/s", "read-back s",
                   "read pts/s"], out))
    for r in rows:
        print("  %s: %s" % (r["name"], r["detail"]))
    k = rows[0]
    rate_ok, us_ok = k["stored_rate"] >= TARGET_RATE, k["us_call"] < TARGET_US
    print()
    base = ""
    if len(rows) > 1:
        base = "; stored rate vs MLflow " + ", ".join("%s %.0fx" % (r["name"].split(",")[0].split()[-1],
                                                                     k["stored_rate"] / r["stored_rate"])
                                                       for r in rows[1:])
    print("SUMMARY metric_ingest: kyanite %s points stored at %s pts/s (target >= %s: %s), "
          "end-to-end %s pts/s, run.log %.2f µs/call (target < %.0f: %s), read-back %.2f s%s [%.0f s]" % (
              "{:,}".format(k["n"]), "{:,.0f}".format(k["stored_rate"]), "{:,.0f}".format(TARGET_RATE),
              "met" if rate_ok else "MISSED", "{:,.0f}".format(k["e2e_rate"]), k["us_call"], TARGET_US,
              "met" if us_ok else "MISSED", k["read_s"], base, time.perf_counter() - t_all))
    return 0 if (not args.check or (rate_ok and us_ok)) else 1


if __name__ == "__main__":
    sys.exit(main())
