"""The metadata Store's contract, run against every database it supports.

SQLite (a file in a temporary folder) always; PostgreSQL as well when
``KYANITE_TEST_POSTGRES_URL`` names an empty database it may create tables in
(e.g. ``postgresql+psycopg://user:pw@127.0.0.1:5432/kyanite_test``). Every test
starts from freshly migrated, empty tables.
"""

import os
import threading
import time

import pytest

from kyanite.exceptions import ConflictException, NotFoundException, UserErrorException
from kyanite.runtime.run import RunStatus
from kyanite.store.database import Store

PG_URL = os.environ.get("KYANITE_TEST_POSTGRES_URL")
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.skipif(
        not PG_URL, reason="set KYANITE_TEST_POSTGRES_URL=postgresql+psycopg://... to run the store "
                           "conformance suite against PostgreSQL")),
]


def _head_revision():
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    import kyanite.store
    cfg = Config()
    cfg.set_main_option("script_location", os.path.join(os.path.dirname(kyanite.store.__file__), "migrations"))
    return ScriptDirectory.from_config(cfg).get_current_head()


def _drop_all(store):
    from sqlalchemy import text
    from kyanite.store import schema
    import kyanite.store.mlflow  # noqa: F401  (its tables join schema.metadata on import)
    with store.engine.begin() as conn:
        schema.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    if request.param == "sqlite":
        st = Store("sqlite:///" + str(tmp_path / "kyanite.db"))
        st.migrate()
        yield st
        st.dispose()
    else:
        st = Store(PG_URL)
        _drop_all(st)
        st.migrate()
        yield st
        _drop_all(st)
        st.dispose()


def test_migrate_twice_is_idempotent(store):
    from sqlalchemy import inspect, text
    store.create_run("exp", run_id="r1")
    store.migrate()
    store.migrate()
    tables = set(inspect(store.engine).get_table_names())
    assert {"experiments", "runs", "metrics", "computes", "environments", "alembic_version"} <= tables
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == _head_revision()
    assert store.run("r1").id == "r1"  # data survives a second migrate


def test_experiments_created_on_demand_and_listed(store):
    with pytest.raises(NotFoundException, match="No experiment named 'nope'"):
        store.experiment("nope")
    a = store.experiment("alpha", create=True)
    assert store.experiment("alpha", create=True)["id"] == a["id"]
    store.create_run("alpha")
    store.create_run("beta")
    listed = {e["name"]: e["runCount"] for e in store.list_experiments()}
    assert listed == {"alpha": 1, "beta": 1}
    with pytest.raises(UserErrorException, match="Invalid experiment name"):
        store.experiment("a/b", create=True)


def test_run_numbering_per_experiment_and_ids(store):
    r1 = store.create_run("exp1")
    r2 = store.create_run("exp1")
    other = store.create_run("exp2")
    assert (r1.number, r2.number, other.number) == (1, 2, 1)
    assert r1.id != r2.id and r1.id.startswith("exp1_")
    assert r1.status == RunStatus.NOT_STARTED and r1.experiment == "exp1"
    with pytest.raises(ConflictException, match="already exists"):
        store.create_run("exp1", run_id=r1.id)
    assert [r.id for r in store.list_runs(experiment="exp1")] == [r2.id, r1.id]


def test_concurrent_run_creation_numbers_are_unique(store):
    numbers, errors = [], []

    def make():
        try:
            for _ in range(10):
                numbers.append(store.create_run("busy").number)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
    threads = [threading.Thread(target=make) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(numbers) == list(range(1, 41))


def test_status_transitions_forward_only_and_terminal_is_final(store):
    rid = store.create_run("exp", status=RunStatus.QUEUED).id
    run, changed = store.set_status(rid, RunStatus.PREPARING)
    assert changed and run.status == RunStatus.PREPARING and run.heartbeat
    run, changed = store.set_status(rid, RunStatus.RUNNING)
    assert changed and run.start_time and run.end_time is None
    run, changed = store.set_status(rid, RunStatus.STARTING)  # backwards: ignored
    assert not changed and run.status == RunStatus.RUNNING
    run, changed = store.set_status(rid, RunStatus.QUEUED, expect=(RunStatus.RUNNING,))
    assert not changed and run.status == RunStatus.RUNNING
    run, changed = store.set_status(rid, RunStatus.COMPLETED, error=None)
    assert changed and run.status == RunStatus.COMPLETED and run.end_time
    for later in (RunStatus.FAILED, RunStatus.CANCELED, RunStatus.RUNNING, RunStatus.FINALIZING):
        run, changed = store.set_status(rid, later, error={"message": "late"})
        assert not changed and run.status == RunStatus.COMPLETED and run.error is None
    with pytest.raises(UserErrorException, match="Unknown run status 'Bogus'"):
        store.set_status(rid, "Bogus")
    with pytest.raises(NotFoundException):
        store.set_status("no-such-run", RunStatus.RUNNING)


def test_status_expect_and_cancel_requested(store):
    rid = store.create_run("exp", status=RunStatus.QUEUED).id
    _, changed = store.set_status(rid, RunStatus.CANCELED, expect=(RunStatus.NOT_STARTED,))
    assert not changed
    store.set_status(rid, RunStatus.RUNNING)
    store.request_cancel(rid)
    assert store.heartbeat(rid) is True
    run, changed = store.set_status(rid, RunStatus.CANCEL_REQUESTED)
    assert changed and run.cancel_requested
    _, changed = store.set_status(rid, RunStatus.FINALIZING)  # only a terminal state follows
    assert not changed
    run, changed = store.set_status(rid, RunStatus.CANCELED)
    assert changed and run.status == RunStatus.CANCELED


def test_failed_run_keeps_its_error(store):
    rid = store.create_run("exp", status=RunStatus.RUNNING).id
    store.set_status(rid, RunStatus.FAILED, error={"message": "boom", "code": "UserError"})
    assert store.run(rid).error == {"message": "boom", "code": "UserError"}


def test_unknown_create_status_refused(store):
    with pytest.raises(UserErrorException, match="Unknown run status"):
        store.create_run("exp", status="Sleeping")


def test_tags_mutable_properties_immutable(store):
    rid = store.create_run("exp", tags={"a": 1}, properties={"p": "x"}).id
    run = store.update_run(rid, tags={"a": "2", "b": "3"})
    assert run.tags == {"a": "2", "b": "3"}
    assert store.update_run(rid, remove_tags=["b"]).tags == {"a": "2"}
    assert store.update_run(rid, properties={"p": "x", "q": 5}).properties == {"p": "x", "q": "5"}
    with pytest.raises(ConflictException, match="immutable"):
        store.update_run(rid, properties={"p": "changed"})
    assert store.run(rid).properties == {"p": "x", "q": "5"}


def test_host_handle_is_merged(store):
    rid = store.create_run("exp").id
    store.update_run(rid, host={"pid": 1, "executor": "local"})
    store.update_run(rid, host={"hostname": "node"})
    assert store.run(rid).host == {"pid": 1, "executor": "local", "hostname": "node"}


def test_children_and_parents(store):
    parent = store.create_run("exp").id
    kid = store.create_run("exp", parent_id=parent).id
    grandkid = store.create_run("exp", parent_id=kid).id
    assert [r.id for r in store.children(parent)] == [kid]
    assert [r.id for r in store.children(parent, recursive=True)] == [kid, grandkid]
    assert [r.id for r in store.list_runs(experiment="exp")] == [parent]
    with pytest.raises(NotFoundException, match="Parent run"):
        store.create_run("exp", parent_id="missing")
    assert store.run_state(grandkid) == ("NotStarted", None, kid)
    store.set_status(parent, "Running")
    store.set_status(parent, "Completed")
    status, ended, up = store.run_state(parent)
    assert (status, up) == ("Completed", None) and abs(ended - time.time()) < 60
    with pytest.raises(NotFoundException, match="No run with id 'missing'"):
        store.run_state("missing")


def test_a_retried_metric_batch_is_stored_once(store):
    rid = store.create_run("exp").id
    other = store.create_run("exp").id
    batch = [{"name": "loss", "values": [3, 2], "ts": [1.0, 2.0]}]
    assert store.add_metrics(rid, batch, batch_id="spool@0") == 2
    assert store.add_metrics(rid, batch, batch_id="spool@0") == 0  # the reply was lost; a retry
    assert store.add_metrics(rid, batch, batch_id="spool@40") == 2
    assert store.add_metrics(other, batch, batch_id="spool@0") == 2  # ids are per run
    assert store.get_metrics(rid)[0]["values"] == [3.0, 2.0, 3.0, 2.0]


def test_metric_steps_continue_across_batches(store):
    rid = store.create_run("exp").id
    assert store.add_metrics(rid, [{"name": "loss", "values": [3, 2], "ts": [1.0, 2.0]}]) == 2
    store.add_metrics(rid, [{"name": "loss", "values": [1.5], "ts": [3.0]},
                            {"name": "row", "kind": "row", "values": [{"a": 1}], "ts": [3.0]}])
    store.add_metrics(rid, [{"name": "loss", "kind": "scalar", "values": [1.0, 0.5], "ts": [4.0, 5.0]}])
    got = {m["name"]: m for m in store.get_metrics(rid)}
    assert got["loss"]["steps"] == [0, 1, 2, 3, 4]
    assert got["loss"]["values"] == [3.0, 2.0, 1.5, 1.0, 0.5]
    assert got["loss"]["ts"] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert got["row"] == {"name": "row", "kind": "row", "steps": [0], "values": [{"a": 1}], "ts": [3.0]}
    assert [m["name"] for m in store.get_metrics(rid, "row")] == ["row"]


def test_bad_metric_batches_refused_whole(store):
    rid = store.create_run("exp").id
    with pytest.raises(UserErrorException, match="'acc'.*not a number or a string"):
        store.add_metrics(rid, [{"name": "ok", "values": [1], "ts": [1.0]},
                                {"name": "acc", "values": ["high", None], "ts": [1.0, 2.0]}])
    with pytest.raises(UserErrorException, match="'acc'.*not a number or a string"):
        store.add_metrics(rid, [{"name": "acc", "values": [[1]], "ts": [1.0]}])
    with pytest.raises(UserErrorException, match="too large"):
        store.add_metrics(rid, [{"name": "acc", "values": [10 ** 400], "ts": [1.0]}])
    with pytest.raises(UserErrorException, match="differ in length"):
        store.add_metrics(rid, [{"name": "x", "values": [1, 2], "ts": [1.0]}])
    with pytest.raises(UserErrorException, match="name"):
        store.add_metrics(rid, [{"values": [1], "ts": [1.0]}])
    with pytest.raises(NotFoundException):
        store.add_metrics("missing", [{"name": "x", "values": [1], "ts": [1.0]}])
    assert store.get_metrics(rid) == []  # nothing of a refused batch was stored


def test_scalar_points_keep_their_type(store):
    """A scalar point is a float, an int or a string (metrics.vtype, revision 0006): each
    comes back as stored; a series holding an int or a string says each point's type."""
    rid = store.create_run("exp").id
    store.add_metrics(rid, [{"name": "mixed", "values": [1, "NaN", 2.5, True], "ts": [1.0, 2.0, 3.0, 4.0]},
                            {"name": "floats", "values": [0.5, float("nan")], "ts": [1.0, 2.0]},
                            {"name": "big", "values": [2 ** 60], "ts": [1.0]}])
    store.add_metrics(rid, [{"name": "mixed", "values": [0.25, 7, "adam"], "ts": [5.0, 6.0, 7.0]}])
    got = {m["name"]: m for m in store.get_metrics(rid)}
    mixed = got["mixed"]
    assert mixed["values"] == [1, "NaN", 2.5, 1.0, 0.25, 7, "adam"]
    assert [type(v) for v in mixed["values"]] == [int, str, float, float, float, int, str]
    assert mixed["types"] == ["int", "str", "float", "float", "float", "int", "str"]
    assert mixed["steps"] == list(range(7))
    assert "types" not in got["floats"] and got["floats"]["values"][0] == 0.5
    assert got["floats"]["values"][1] != got["floats"]["values"][1]  # NaN
    assert got["big"]["values"] == [float(2 ** 60)] and "types" not in got["big"]  # beyond exact ints: a float
    summary = {m["name"]: m for m in store.metric_summaries([rid])[rid]}
    assert summary["mixed"]["last"] == "adam" and summary["mixed"]["text"] is True
    assert summary["floats"]["last"] is None and "text" not in summary["floats"]
    store.add_metrics(rid, [{"name": "mixed", "values": [3], "ts": [8.0]}])
    summary = {m["name"]: m for m in store.metric_summaries([rid])[rid]}
    assert summary["mixed"]["last"] == 3 and type(summary["mixed"]["last"]) is int and "text" not in summary["mixed"]
    # charts and sweeps read numbers only: a string point is no value there
    assert store.scalar_values([rid], "mixed") == {rid: [1.0, 2.5, 1.0, 0.25, 7.0, 3.0]}
    series = store.metric_series(rid, "mixed")
    assert series["values"] == [1.0, None, 2.5, 1.0, 0.25, 7.0, None, 3.0]


def test_environment_versions(store):
    d1 = {"conda": {"dependencies": ["python=3.11"]}, "userManaged": False}
    e1 = store.register_environment("env", d1)
    assert e1["version"] == 1 and e1["definition"] == d1
    assert store.register_environment("env", dict(reversed(list(d1.items()))))["version"] == 1
    e2 = store.register_environment("env", dict(d1, userManaged=True))
    assert e2["version"] == 2
    assert store.environment("env")["version"] == 2
    assert store.environment("env", 1)["definition"] == d1
    assert store.environment("env", "1")["version"] == 1
    with pytest.raises(NotFoundException, match="version 7"):
        store.environment("env", 7)
    with pytest.raises(NotFoundException, match="'other'"):
        store.environment("other")
    assert [(e["name"], e["version"]) for e in store.list_environments()] == [("env", 2)]


def test_computes(store):
    c = store.create_compute("cpu", "AmlCompute", {"max_nodes": 2})
    assert c["name"] == "cpu" and c["type"] == "AmlCompute" and c["config"] == {"max_nodes": 2}
    with pytest.raises(ConflictException, match="already exists"):
        store.create_compute("cpu", "AmlCompute", {})
    store.create_compute("another", "AmlCompute", {})
    assert [x["name"] for x in store.list_computes()] == ["another", "cpu"]
    store.delete_compute("cpu")
    with pytest.raises(NotFoundException, match="No compute target named 'cpu'"):
        store.compute("cpu")
    with pytest.raises(NotFoundException):
        store.delete_compute("cpu")
    with pytest.raises(UserErrorException):
        store.create_compute("", "AmlCompute", {})


def test_scheduler_queries(store):
    q1 = store.create_run("exp", status=RunStatus.QUEUED, target="cpu").id
    q2 = store.create_run("exp", status=RunStatus.QUEUED, target="cpu").id
    assert store.queued_runs() == [(q1, "cpu"), (q2, "cpu")]
    store.set_status(q1, RunStatus.PREPARING)
    assert store.count_active("cpu") == 0  # no host yet
    store.update_run(q1, host={"pid": 1})
    assert store.count_active("cpu") == 1
    assert store.stale_runs(0) == []
    import time
    assert store.stale_runs(time.time() + 1) == [q1]
    store.heartbeat(q1)
    store.set_status(q1, RunStatus.COMPLETED)
    assert store.count_active("cpu") == 0
    assert store.stale_runs(time.time() + 1) == []
    assert [r.id for r in store.list_runs(status=RunStatus.QUEUED)] == [q2]


def test_sweep_controller_queries(store):
    sweep = store.create_run("exp", run_type="hyperdrive", run_id="HD_1").id
    other = store.create_run("exp", run_type="hyperdrive", run_id="HD_2").id
    plain = store.create_run("exp", run_id="plain").id
    kids = [store.create_run("exp", status=RunStatus.QUEUED, run_id="HD_1_%d" % i, parent_id=sweep).id
            for i in range(4)]
    # open runs of a type, oldest first; CancelRequested is still open
    store.set_status(other, RunStatus.CANCEL_REQUESTED)
    assert store.open_run_ids("hyperdrive") == [sweep, other]
    assert store.open_run_ids("pipeline") == []
    assert store.orphan_run_ids("hyperdrive") == []  # no sweep has ended
    # a sweep that ended leaves its unfinished children, bar those already being stopped
    store.set_status(kids[0], RunStatus.COMPLETED)
    store.set_status(kids[1], RunStatus.RUNNING)
    store.set_status(kids[2], RunStatus.CANCEL_REQUESTED)
    store.set_status(sweep, RunStatus.CANCELED)
    store.create_run("exp", status=RunStatus.RUNNING, run_id="plain_child", parent_id=plain)
    store.set_status(plain, RunStatus.COMPLETED)
    assert store.open_run_ids("hyperdrive") == [other]
    assert store.orphan_run_ids("hyperdrive") == [kids[1], kids[3]]


def test_scalar_values_and_metric_names_of_many_runs(store):
    a, b, c = (store.create_run("exp").id for _ in range(3))
    store.add_metrics(a, [{"name": "acc", "values": [0.5, 0.7], "ts": [1.0, 2.0]},
                          {"name": "loss", "values": [1.0], "ts": [1.0]}])
    store.add_metrics(a, [{"name": "acc", "values": [0.6], "ts": [3.0]}])
    store.add_metrics(b, [{"name": "acc_table", "kind": "row", "values": [{"x": 1}], "ts": [1.0]}])
    assert store.scalar_values([a, b, c, "nope"], "acc") == {a: [0.5, 0.7, 0.6], b: [], c: [], "nope": []}
    assert store.scalar_values([b], "acc_table") == {b: []}  # rows have no number
    assert store.scalar_values([], "acc") == {}
    many = [store.create_run("exp").id for _ in range(3)]
    for i, rid in enumerate(many):
        store.add_metrics(rid, [{"name": "acc", "values": [i], "ts": [1.0]}])
    ids = [a] + many + ["run_%d" % i for i in range(600)]  # more than one query's worth
    got = store.scalar_values(ids, "acc")
    assert len(got) == len(ids) and [got[r] for r in many] == [[0.0], [1.0], [2.0]]
    assert store.metric_names([a, b, c]) == ["acc", "acc_table", "loss"]
    assert store.metric_names([c]) == [] and store.metric_names([]) == []


def test_runs_filter_and_run_params(store):
    """query_runs(filter=...) (kyanite.store.runs_filter) and run_params on every database:
    params from a run's arguments and MLflow params, tags, newest metric values, attributes,
    LIKE keeping case and ILIKE not."""
    from kyanite.server.mlflow_search import parse
    from kyanite.store.runs_filter import NUMERIC_ATTRIBUTES, TEXT_ATTRIBUTES

    def names(text):
        page = store.query_runs(filter=parse(text, loose=True, attributes=(NUMERIC_ATTRIBUTES, TEXT_ATTRIBUTES)),
                                sort="name", descending=False)
        return [r.display_name for r in page["runs"]]
    ids = {}
    for name, bs, team in [("a", 50, "Vision"), ("b", 32, "vision"), ("c", 50, "nlp")]:
        ids[name] = store.create_run("exp", display_name=name, tags={"team": team},
                                     definition={"arguments": ["--batch-size", str(bs), "--lr=0.01", "--amp"]}).id
    store.add_metrics(ids["a"], [{"name": "acc", "values": [0.99, 0.5], "ts": [1.0, 2.0]}])
    store.add_metrics(ids["b"], [{"name": "acc", "values": [0.5, 0.98], "ts": [1.0, 2.0]}])
    store.update_run(ids["c"], properties={"mlflow.param.opt": "adam"})
    assert names("params.batch_size = 50") == ["a", "c"]
    assert names("params.batch_size < 50 and params.lr = 0.01") == ["b"]
    assert names("metrics.acc > 0.9") == ["b"]
    assert names("tags.team LIKE 'vis%'") == ["b"] and names("tags.team ILIKE 'VIS%'") == ["a", "b"]
    assert names("params.opt = 'adam' and attributes.run_name != 'a'") == ["c"]
    assert store.run_params([ids["a"], ids["c"]]) == {
        ids["a"]: {"amp": "True", "batch_size": 50, "lr": 0.01},
        ids["c"]: {"amp": "True", "batch_size": 50, "lr": 0.01, "opt": "adam"}}


def test_run_description_round_trips(store):
    """A run's description (revision 0009): None until set, kept as given (long, multi-line,
    non-ASCII text), untouched by other updates, cleared by ""; listed runs carry it too."""
    run = store.create_run("described")
    assert run.description is None
    text = "Baseline with the new tokenizer.\nSecond line: é ✓ " + "x" * 9000
    assert store.update_run(run.id, description=text).description == text
    assert store.run(run.id).description == text
    assert store.update_run(run.id, tags={"a": "1"}, display_name="d").description == text
    assert [r.description for r in store.list_runs(experiment="described")] == [text]
    assert store.query_runs(experiment="described")["runs"][0].description == text
    assert store.update_run(run.id, description="").description is None
    assert store.run(run.id).description is None


def _summary_rows(store, table, rid, name):
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(table.select().where(table.c.run_id == rid, table.c.name == name)
                                               .order_by(table.c.blk))]


def _series_fixture(store):
    """A run whose 'loss' has 40,000 points stored in batches across block edges, each with its
    own time, a spike and a dip; returns ``(run id, values, times)``."""
    import random
    rid = store.create_run("chart").id
    rnd = random.Random(5)
    values = [rnd.random() for _ in range(40000)]
    values[12345], values[30001] = 9.0, -9.0
    times = [1.7e9 + i * 0.5 for i in range(len(values))]
    i = 0
    for size in [1, 63, 70, 513, 5000, 3, 20000, 14350]:
        store.add_metrics(rid, [{"name": "loss", "values": values[i:i + size], "ts": times[i:i + size]}])
        i += size
    assert i == len(values)
    return rid, values, times


def test_chart_buckets_narrower_than_a_block_come_from_fine_summaries(store):
    """A chart whose buckets hold fewer points than a METRIC_BLOCK (40,000 points in 1,000
    buckets) is answered from the fine block summaries kept at ingest (revision 0010), never
    from the points: each bucket's lowest and highest value at their own steps and times."""
    from kyanite.store import schema as s
    rid, values, times = _series_fixture(store)
    # what ingest kept is what a scan of the points builds, on both levels
    kept = [_summary_rows(store, t, rid, "loss") for t in (s.metric_blocks, s.metric_fine_blocks)]
    assert len(kept[1]) == 625 and sum(r[3] for r in kept[1]) == 40000
    store.rebuild_metric_blocks(rid, "loss")
    assert [_summary_rows(store, t, rid, "loss") for t in (s.metric_blocks, s.metric_fine_blocks)] == kept

    def no_scan(*a, **k):
        raise AssertionError("the series was read point by point")
    store._aggregate_blocks = store.rebuild_metric_blocks = store._stamps = no_scan
    out = store.metric_series(rid, "loss", max_points=2000)
    assert out["downsampled"] and out["count"] == 40000 and out["firstTs"] == times[0]
    assert 1200 <= len(out["steps"]) <= 2000 and out["steps"] == sorted(out["steps"])
    # every point drawn is a real point, with its own time
    assert all(values[st] == v and times[st] == t for st, v, t in zip(out["steps"], out["values"], out["ts"]))
    assert out["steps"][out["values"].index(9.0)] == 12345 and out["steps"][out["values"].index(-9.0)] == 30001
    # each bucket keeps its extremes: any stretch (widened by a bucket and a block) reaches them
    for lo in (0, 64 * 100 + 7, 20000, 39900):
        hi = lo + 40
        pts = [v for st, v in zip(out["steps"], out["values"]) if lo - 40 - 64 <= st < hi + 40 + 64]
        assert min(pts) <= min(values[lo:hi]) and max(pts) >= max(values[lo:hi])
    # a zoom too: its edges inside blocks come from the points (in pieces), the rest from summaries
    del store._aggregate_blocks, store._stamps
    zoom = store.metric_series(rid, "loss", max_points=500, min_step=10001, max_step=29999)
    assert zoom["downsampled"] and len(zoom["steps"]) <= 500 and 9.0 in zoom["values"]
    assert all(10001 <= st <= 29999 for st in zoom["steps"])
    assert all(values[st] == v and times[st] == t for st, v, t in zip(zoom["steps"], zoom["values"], zoom["ts"])
               if 157 * 64 <= st < 468 * 64)  # the whole fine blocks in the range
    # few enough points: the points themselves, exactly
    raw = store.metric_series(rid, "loss", max_points=2000, min_step=12300, max_step=12400)
    assert not raw["downsampled"] and raw["steps"] == list(range(12300, 12401))
    assert raw["values"] == values[12300:12401] and raw["ts"] == times[12300:12401]


def test_series_stored_before_fine_summaries_get_them_on_first_chart(store):
    """A series stored before revision 0010 (coarse summaries only) gets its fine ones built
    and stored by the first chart that needs them; the answer is the same as at ingest."""
    from kyanite.store import schema as s
    rid, values, times = _series_fixture(store)
    fresh = store.metric_series(rid, "loss", max_points=2000)
    kept = _summary_rows(store, s.metric_fine_blocks, rid, "loss")
    with store.engine.begin() as conn:
        conn.execute(s.metric_fine_blocks.delete())
    assert store.metric_series(rid, "loss", max_points=2000) == fresh
    assert _summary_rows(store, s.metric_fine_blocks, rid, "loss") == kept
    # and a series extended after the upgrade (its fine summaries partial) likewise
    with store.engine.begin() as conn:
        conn.execute(s.metric_fine_blocks.delete())
    store.add_metrics(rid, [{"name": "loss", "values": [50.0] * 100, "ts": [2e9] * 100}])
    grown = store.metric_series(rid, "loss", max_points=2000)
    assert grown["count"] == 40100 and max(grown["values"]) == 50.0 and grown["ts"][-1] == 2e9
    assert grown["steps"][grown["values"].index(9.0)] == 12345
