#!/usr/bin/env python
"""The runs filter and the compare view over a large history, timed at the workspace server.

    python bench/runs_filter.py [--runs 10000] [--compare-runs 10] [--metrics 5]
                                [--points 100000] [--repeat 20] [--keep] [--check]

A fresh workspace (server on 127.0.0.1) is filled directly in its database: ``--runs``
top-level runs with parameters (their arguments ``--batch-size N --lr X --opt NAME``, kept as
``run_fields`` rows as ``Store.create_run`` keeps them), a ``team`` tag and two metrics of 20
points each. Each figure is the time from sending a request to its last byte over a
keep-alive connection (the median of ``--repeat``): the server's time plus a loopback trip.

Runs filter: the studio's runs page of the experiment (``GET /api/runs?experiment=...&total=true&
metrics=true&params=true&limit=50&filter=...``) and the same over every experiment's top-level runs,
with a metric, a param, a tag, a status and a LIKE filter, and all of them combined.
Baseline, measured in the same run: the same page unfiltered, newest first.

Compare view: ``--compare-runs`` more runs with ``--metrics`` metrics of ``--points`` points
each (stored through ``Store.add_metrics``); the compare page's requests: the runs with their
params and metric summaries (one list request with ``attributes.run_id IN (...)``), and each
chart's series (``/series?max_points=2000``, one per run and metric). Baseline: one raw
series (all points).

Target: under 100 ms per request. ``--check`` exits 1 when a figure misses it.
"""

import argparse
import json
import math
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import bench_workspace, median, table  # noqa: E402
from studio import Timer  # noqa: E402

TARGET_MS = 100.0


def fill(store, experiment, n_runs):
    """Insert the runs, their params/tags rows and metrics in bulk (the server is stopped)."""
    from kyanite.store import schema as s
    from kyanite.store.runs_filter import field_rows, params_of
    from kyanite.protocol.runs import RunDefinition
    exp_id = store.experiment(experiment, create=True)["id"]
    rnd = random.Random(7)
    now = time.time() - 86400
    states = ["Completed"] * 7 + ["Failed", "Canceled", "Running"]
    runs, metrics, fields = [], [], []
    for i in range(n_runs):
        created = now + i * 5.0
        st = rnd.choice(states)
        start = created + rnd.random() * 3
        rid = "%s_%05d" % (experiment, i)
        args = ["--batch-size", str(rnd.choice([16, 32, 50, 64, 128])), "--lr", "%.5f" % (rnd.random() / 100),
                "--opt", rnd.choice(["adam", "sgd", "adamw", "rmsprop"])]
        definition = {"script": "train.py", "arguments": args}
        tags = {"team": rnd.choice(["vision", "nlp", "speech", "ranking"])}
        runs.append({"id": rid, "number": i + 1, "experiment_id": exp_id, "parent_id": None,
                     "display_name": "trial-%05d" % i, "run_type": "run", "status": st, "target": "local",
                     "created": created, "start_time": start, "end_time": None if st == "Running" else start + 60,
                     "heartbeat": None, "cancel_requested": False, "definition": json.dumps(definition),
                     "tags": json.dumps(tags), "properties": "{}", "error": None, "resolved_packages": None,
                     "host": None})
        fields.extend(field_rows(rid, tags, params_of(RunDefinition.from_json(definition), {})))
        for name in ("loss", "Accuracy"):
            for step in range(20):
                metrics.append((rid, name, step, rnd.random() if name == "loss" else 0.8 + 0.2 * rnd.random()))
    with store.engine.begin() as conn:
        conn.execute(s.runs.insert(), runs)
        conn.execute(s.run_fields.insert(), fields)
        conn.exec_driver_sql("INSERT INTO metrics (run_id, name, step, kind, value, payload, ts) "
                             "VALUES (?, ?, ?, 'scalar', ?, NULL, 0)", metrics)


def fill_compare(store, experiment, n_runs, n_metrics, n_points):
    """``n_runs`` runs with ``n_metrics`` series of ``n_points`` each, through the ingest path."""
    rnd = random.Random(11)
    ids = []
    for i in range(n_runs):
        run = store.create_run(experiment, status="Running", display_name="compare-%d" % i,
                               definition={"script": "train.py", "arguments": ["--lr", str(0.001 * (i + 1))]})
        for m in range(n_metrics):
            for b in range(0, n_points, 100000):
                vals = [math.exp(-j / (n_points / 5.0)) * (1 + 0.1 * i) + 0.05 * rnd.random()
                        for j in range(b, min(b + 100000, n_points))]
                store.add_metrics(run.id, [{"name": "m%d" % m, "kind": "scalar", "values": vals,
                                            "ts": [0.0] * len(vals)}])
        store.set_status(run.id, "Completed")
        ids.append(run.id)
    return ids


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=10000)
    p.add_argument("--compare-runs", type=int, default=10)
    p.add_argument("--metrics", type=int, default=5)
    p.add_argument("--points", type=int, default=100000)
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--keep", action="store_true", help="keep the workspace folder")
    p.add_argument("--check", action="store_true", help="exit 1 when a figure misses the target")
    a = p.parse_args(argv)

    from kyanite.core._server import ensure_server, stop_server
    from kyanite.store.database import Store

    with bench_workspace("bench-runs-filter", keep=a.keep) as (ws, tmp):
        layout = ws._layout
        stop_server(layout)
        store = Store(layout.database_url())
        t = time.perf_counter()
        fill(store, "bench-filter", a.runs)
        ids = fill_compare(store, "bench-compare", a.compare_runs, a.metrics, a.points)
        store.dispose()
        fill_s = time.perf_counter() - t
        base = ensure_server(layout, quiet=True)
        api = Timer(base, {"Authorization": "Bearer " + layout.token()})
        print("filled %d runs with params, tags and metrics, and %d runs x %d metrics x %s points in %.1f s; "
              "server %s" % (a.runs, a.compare_runs, a.metrics, format(a.points, ","), fill_s, base))

        rows = []

        def row(what, seconds, body, note=""):
            ms = seconds * 1000
            rows.append([what, "%.1f" % ms, "%d" % (len(body) // 1024), note])
            return ms

        page = {"experiment": "bench-filter", "total": "true", "metrics": "true", "params": "true", "limit": 50}
        dt, body = api.median("/api/runs", page, a.repeat)
        d = json.loads(body)
        row("baseline: runs page unfiltered, newest first", dt, body,
            "%d of %s" % (len(d["runs"]), format(d["total"], ",")))
        filtered = []
        for what, f in [("filter: every experiment, metrics.Accuracy > 0.97", "metrics.Accuracy > 0.97"),("filter: metrics.Accuracy > 0.97", "metrics.Accuracy > 0.97"),
                        ("filter: params.batch_size = 50", "params.batch_size = 50"),
                        ("filter: tags.team = 'vision'", 'tags.team = "vision"'),
                        ("filter: attributes.status = 'Failed'", 'attributes.status = "Failed"'),
                        ("filter: params.opt LIKE 'adam%'", "params.opt LIKE 'adam%'"),
                        ("filter: all of the above but status", 'metrics.Accuracy > 0.97 and params.batch_size = 50 '
                                                                'and tags.team = "vision" and params.opt LIKE \'adam%\'')]:
            q = dict(page, filter=f)
            if what.startswith("filter: every experiment"):
                del q["experiment"]
            dt, body = api.median("/api/runs", q, a.repeat)
            d = json.loads(body)
            filtered.append(row(what, dt, body, "%d of %s" % (len(d["runs"]), format(d["total"], ","))))

        compare = []
        sel = "attributes.run_id IN (%s)" % ", ".join("'%s'" % i for i in ids)
        dt, body = api.median("/api/runs", {"all": "true", "metrics": "true", "params": "true", "limit": 500,
                                            "filter": sel}, a.repeat)
        compare.append(row("compare: the runs, params and summaries", dt, body,
                           "%d runs" % len(json.loads(body)["runs"])))
        times = []
        for rid in ids:
            for m in range(a.metrics):
                dt, body = api.median("/api/runs/%s/metrics/m%d/series" % (rid, m), {"max_points": 2000},
                                      max(3, a.repeat // 4))
                times.append(dt)
        compare.append(row("compare: a chart series, median of %d" % len(times), median(times), body,
                           "%d points" % len(json.loads(body)["steps"])))
        compare.append(row("compare: a chart series, slowest", max(times), body, ""))
        dt, body = api.get("/api/runs/%s/metrics" % ids[0], {"name": "m0"})
        row("baseline: one raw series (all points)", dt, body, "%s points" % format(a.points, ","))

        print()
        print(table(["request", "ms", "KiB", "note"], rows, ["<", ">", ">", "<"]))
        worst = max(filtered + compare)
        print("\ntarget: < %.0f ms per request; slowest %.1f ms" % (TARGET_MS, worst))
        print("SUMMARY runs_filter: filtered runs page %.1f-%.1f ms (unfiltered %s ms) over %s runs; compare series "
              "%.1f ms median, %.1f ms slowest (raw series %s ms); target < %.0f ms" % (
                  min(filtered), max(filtered), rows[0][1], format(a.runs, ","), compare[1], compare[2],
                  rows[-1][1], TARGET_MS))
        if a.check and worst >= TARGET_MS:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
