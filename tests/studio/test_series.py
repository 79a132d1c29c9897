"""Downsampled metric series and paged run queries for the studio's charts and tables."""

import math
import random
import time

import pytest

from kyanite.core import Experiment
from kyanite.exceptions import UserErrorException
from kyanite.store.database import Store


@pytest.fixture(scope="module")
def million(tmp_path_factory):
    """A store with one run whose metric 'loss' has 1,000,000 points, a spike and a dip."""
    store = Store("sqlite:///%s" % (tmp_path_factory.mktemp("series") / "k.db"))
    store.migrate()
    run = store.create_run("big", status="Running").id
    rnd = random.Random(7)
    values = [math.sin(i / 20000.0) + rnd.random() * 0.01 for i in range(1000000)]
    values[123457], values[876543] = 50.0, -50.0
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO metrics (run_id, name, step, kind, value, payload, ts) VALUES (?, ?, ?, 'scalar', ?, NULL, 0)",
            [(run, "loss", i, v) for i, v in enumerate(values)])
    yield store, run, values
    store.dispose()


def test_a_million_points_come_back_downsampled_with_their_extremes(million):
    store, run, values = million
    t = time.perf_counter()
    out = store.metric_series(run, "loss", max_points=2000)
    cold = time.perf_counter() - t
    assert out["downsampled"] and out["count"] == 1000000
    assert 1000 <= len(out["steps"]) <= 2000 and len(out["values"]) == len(out["steps"])
    assert out["steps"] == sorted(out["steps"])
    assert max(out["values"]) == 50.0 and min(out["values"]) == -50.0
    # the spike is drawn where it happened (to within one summary block)
    assert abs(out["steps"][out["values"].index(50.0)] - 123457) <= 512
    # every bucket keeps its own extremes: around any stretch (widened by one bucket and one
    # summary block, as buckets and blocks need not align with it) the points drawn reach
    # its exact lowest and highest value
    width = 1000000 / 1000.0
    for b in (0, 10, 500, 999):
        lo, hi = int(b * width), int((b + 1) * width)
        pts = [v for st, v in zip(out["steps"], out["values"]) if lo - width - 512 <= st < hi + width + 512]
        assert min(pts) <= min(values[lo:hi]) + 1e-12 and max(pts) >= max(values[lo:hi]) - 1e-12
    t = time.perf_counter()
    again = store.metric_series(run, "loss", max_points=2000)
    warm = time.perf_counter() - t
    assert again["values"] == out["values"]
    assert warm < max(0.25, cold)  # answered from the in-memory summary


def test_zoom_gives_finer_points_and_raw_points_when_few(million):
    store, run, values = million
    out = store.metric_series(run, "loss", max_points=2000, min_step=120000, max_step=130000)
    assert out["downsampled"] and 50.0 in out["values"]
    assert all(120000 <= st <= 130000 for st in out["steps"])
    assert abs(out["steps"][out["values"].index(50.0)] - 123457) <= 10
    raw = store.metric_series(run, "loss", max_points=2000, min_step=123450, max_step=123460)
    assert not raw["downsampled"] and raw["steps"] == list(range(123450, 123461))
    assert raw["values"] == values[123450:123461]


def test_a_growing_series_is_extended_not_rescanned(million):
    store, run, values = million
    store.metric_series(run, "loss", max_points=2000)
    store.add_metrics(run, [{"name": "loss", "values": [99.0] * 10, "ts": [0.0] * 10}])
    out = store.metric_series(run, "loss", max_points=2000)
    assert out["count"] == 1000010 and out["maxStep"] == 1000009 and max(out["values"]) == 99.0
    store.add_metrics(run, [{"name": "loss", "values": [-99.0], "ts": [0.0]}])
    assert min(store.metric_series(run, "loss", max_points=500)["values"]) == -99.0


def test_metric_summaries_need_no_scan(million):
    store, run, _ = million
    t = time.perf_counter()
    summ = store.metric_summaries([run])[run]
    assert time.perf_counter() - t < 0.1
    loss = [m for m in summ if m["name"] == "loss"][0]
    assert loss["kind"] == "scalar" and loss["count"] >= 1000000 and loss["last"] is not None


def test_series_and_run_pages_over_http(ws):
    exp = Experiment(ws, "series-http")
    runs = []
    for i in range(5):
        r = exp.start_logging(display_name="r%d" % i)
        runs.append(r)
    r = runs[0]
    n = 30000
    vals = [float(i % 100) for i in range(n)]
    vals[777] = 1e6
    vals[20000] = float("inf")  # non-finite values come back as null
    ws._client.post("/api/runs/%s/metrics" % r.id, {"metrics": [
        {"name": "train/loss", "kind": "scalar", "values": vals, "ts": [0.0] * n}]})
    r.log("acc", 0.5)
    for x in runs:
        x.complete()
    out = ws._client.get("/api/runs/%s/metrics/train%%2Floss/series" % r.id, params={"max_points": 1000})
    assert out["downsampled"] and len(out["steps"]) <= 1000 and out["count"] == n
    assert max(v for v in out["values"] if v is not None) == 1e6
    out = ws._client.get("/api/runs/%s/metrics/train/loss/series" % r.id, params={"max_points": 1000})
    assert out["count"] == n
    summ = ws._client.get("/api/runs/%s/metrics/summary" % r.id)["metrics"]
    assert {m["name"] for m in summ} == {"acc", "train/loss"}
    page = ws._client.get("/api/runs", params={"experiment": "series-http", "total": "true", "limit": 2,
                                               "offset": 2, "sort": "name", "order": "asc", "metrics": "true"})
    assert page["total"] == 5 and [x["displayName"] for x in page["runs"]] == ["r2", "r3"]
    found = ws._client.get("/api/runs", params={"experiment": "series-http", "q": "R4", "total": "true"})
    assert found["total"] == 1 and found["runs"][0]["displayName"] == "r4"
    page = ws._client.get("/api/runs", params={"experiment": "series-http", "metrics": "true", "sort": "number",
                                               "order": "asc", "limit": 1})
    assert page["metrics"][r.id][0]["name"] == "acc"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_studio_queries_on_each_backend(backend, tmp_path):
    """The same answers from SQLite and PostgreSQL (when KYANITE_TEST_POSTGRES_URL is set)."""
    import os
    if backend == "sqlite":
        url = "sqlite:///%s" % (tmp_path / "k.db")
    else:
        url = os.environ.get("KYANITE_TEST_POSTGRES_URL")
        if not url:
            pytest.skip("KYANITE_TEST_POSTGRES_URL is not set")
    store = Store(url)
    if backend == "postgresql":  # a clean schema for this test
        with store.engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    store.migrate()
    try:
        exp = "q-%s" % backend
        runs = [store.create_run(exp, status="Running", display_name="n%d" % i,
                                 definition={"script": "t.py", "inputDatasets": {
                                     "data": {"name": "ds-%d" % (i % 2), "version": 1, "mode": "mount"}}}).id
                for i in range(6)]
        for st, rid in zip(["Completed", "Failed", "Completed"], runs[:3]):
            store.set_status(rid, st)
        vals = [float(i % 97) for i in range(20000)]
        vals[4321] = -1000.0
        store.add_metrics(runs[0], [{"name": "loss", "values": vals, "ts": [0.0] * len(vals)},
                                    {"name": "acc", "values": [0.5, 0.75], "ts": [0.0, 1.0]},
                                    {"name": "tbl", "kind": "table", "values": [{"a": [1]}], "ts": [0.0]}])
        out = store.metric_series(runs[0], "loss", max_points=500)
        assert out["downsampled"] and len(out["steps"]) <= 500 and min(out["values"]) == -1000.0
        zoom = store.metric_series(runs[0], "loss", max_points=500, min_step=4000, max_step=9000)
        assert min(zoom["values"]) == -1000.0 and all(4000 <= st <= 9000 for st in zoom["steps"])
        coarse = store.metric_series(runs[0], "loss", max_points=20)  # from the stored blocks
        assert coarse["steps"][coarse["values"].index(-1000.0)] == 4321
        kept = _blocks(store, runs[0], "loss")
        store.rebuild_metric_blocks(runs[0], "loss")
        assert kept == _blocks(store, runs[0], "loss") and len(kept) == 40
        summ = {m["name"]: m for m in store.metric_summaries([runs[0]])[runs[0]]}
        assert summ["acc"]["last"] == 0.75 and summ["loss"]["count"] == 20000 and summ["tbl"]["kind"] == "table"
        page = store.query_runs(exp, sort="name", descending=False, limit=4)
        assert page["total"] == 6 and [r.name for r in page["runs"]] == ["n0", "n1", "n2", "n3"]
        assert store.query_runs(exp, status=["Completed", "Failed"])["total"] == 3
        assert store.query_runs(exp, search="N5")["total"] == 1
        assert store.query_runs(exp, sort="duration", limit=1)["total"] == 6
        # sorted by the newest value of a scalar metric; runs without it last either way
        store.add_metrics(runs[1], [{"name": "acc", "values": [0.2, 0.9], "ts": [0.0, 1.0]}])
        store.add_metrics(runs[2], [{"name": "acc", "values": [0.95, 0.1], "ts": [0.0, 1.0]}])
        store.add_metrics(runs[3], [{"name": "acc", "kind": "table", "values": [{"a": [1]}], "ts": [0.0]}])
        ids = lambda page: [r.id for r in page["runs"]]  # noqa: E731
        assert ids(store.query_runs(exp, sort="metric:acc", limit=3)) == [runs[1], runs[0], runs[2]]
        assert ids(store.query_runs(exp, sort="metric:acc", descending=False)) == [
            runs[2], runs[0], runs[1], runs[3], runs[4], runs[5]]
        assert ids(store.query_runs(exp, sort="metric:acc", offset=3))[0] == runs[5]
        for bad in ("metric:", "speed"):
            with pytest.raises(UserErrorException, match="metric:<name>"):
                store.query_runs(exp, sort=bad)
        used = store.runs_using_dataset("ds-1")
        assert sorted(r.id for r, _ in used) == sorted(runs[1::2])
        assert used[0][1] == [{"input": "data", "version": 1, "mode": "mount"}]
    finally:
        store.dispose()


def _blocks(store, run, name):
    from kyanite.store import schema as s
    b = s.metric_blocks.c
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            s.metric_blocks.select().where(b.run_id == run, b.name == name).order_by(b.blk))]


def test_block_summaries_kept_at_ingest_answer_without_a_scan(tmp_path):
    store = Store("sqlite:///%s" % (tmp_path / "k.db"))
    store.migrate()
    try:
        run = store.create_run("blocks", status="Running").id
        rnd = random.Random(3)
        values = [rnd.random() for _ in range(60000)]
        values[1234], values[40001], values[777] = 7.0, -7.0, float("nan")
        values[50000] = float("inf")
        i = 0
        for size in [1, 700, 513, 5000, 3, 20000, 33783]:  # batches across block edges
            store.add_metrics(run, [{"name": "loss", "values": values[i:i + size], "ts": [0.0] * size},
                                    {"name": "row", "kind": "row", "values": [{"a": 1}], "ts": [0.0]}])
            i += size
        assert i == len(values)
        kept = _blocks(store, run, "loss")
        assert sum(r[3] for r in kept) == len(values)
        store.rebuild_metric_blocks(run, "loss")
        assert _blocks(store, run, "loss") == kept  # the same as built from the points

        def no_scan(*a, **k):
            raise AssertionError("the series was read point by point")
        store._aggregate_blocks = store.rebuild_metric_blocks = no_scan
        out = store.metric_series(run, "loss", max_points=100)
        assert out["downsampled"] and out["count"] == len(values) and len(out["steps"]) <= 100
        finite = [v for v in out["values"] if v is not None]
        assert max(finite) == 7.0 and min(finite) == -7.0
        assert out["steps"][out["values"].index(7.0)] == 1234 and out["steps"][out["values"].index(-7.0)] == 40001
        assert None in out["values"]  # inf, drawn as a gap
    finally:
        store.dispose()
