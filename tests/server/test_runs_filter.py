"""The runs filter: its grammar (MLflow's, kyanite.server.mlflow_search in the loose dialect),
its SQL on SQLite (kyanite.store.runs_filter through Store.query_runs) and the route's 400s."""

import json
import urllib.error
import urllib.parse
import urllib.request

import pytest

from kyanite.server.layout import WorkspaceLayout
from kyanite.server.mlflow_search import SearchError, parse
from kyanite.store.database import Store
from kyanite.store.runs_filter import NUMERIC_ATTRIBUTES, TEXT_ATTRIBUTES

ATTRS = (NUMERIC_ATTRIBUTES, TEXT_ATTRIBUTES)


def clauses(text):
    return parse(text, loose=True, attributes=ATTRS)


def test_grammar_clauses_and_errors_name_the_position():
    assert clauses('metrics.Accuracy > 0.97 and params.batch_size = 50 and tags.team = "vision" '
                   "and attributes.status != 'Failed' and params.opt LIKE 'ad%'") == [
        ("metrics", "Accuracy", ">", 0.97), ("params", "batch_size", "=", 50.0), ("tags", "team", "=", "vision"),
        ("attributes", "status", "!=", "Failed"), ("params", "opt", "LIKE", "ad%")]
    cases = {
        "metrics.acc > 0.9 or params.x = 1": "character 19",
        "metrics.acc >": "character 14",
        "metrics.acc ~ 1": "character 13",
        "metrics.acc > 'high'": "character 15",
        "nope.x = 1": "character 1",
        "attributes.colour = 'red'": "character 1",
        "metrics.acc > 1 and": "character 17",
    }
    for text, where in cases.items():
        with pytest.raises(SearchError) as e:
            clauses(text)
        assert where in str(e.value), (text, str(e.value))
        assert "\n" not in str(e.value)


@pytest.fixture
def store(tmp_path):
    st = Store("sqlite:///" + str(tmp_path / "k.db"))
    st.migrate()
    yield st
    st.dispose()


def _runs(store):
    made = {}
    for name, bs, acc, team, status in [("a", 50, 0.98, "vision", "Completed"), ("b", 50, 0.95, "vision", "Failed"),
                                        ("c", 32, 0.99, "nlp", "Completed"), ("d", 64, None, "Vision", "Completed")]:
        run = store.create_run("exp", status="Running", display_name=name, tags={"team": team},
                               definition={"script": "train.py", "arguments": ["--batch-size", str(bs), "--opt=adam"]})
        store.set_status(run.id, status)
        if acc is not None:
            store.add_metrics(run.id, [{"name": "Accuracy", "kind": "scalar", "values": [0.5, acc], "ts": [1.0, 2.0]}])
        made[name] = run.id
    return made


def names(store, text):
    page = store.query_runs(filter=clauses(text), sort="name", descending=False, limit=100)
    assert page["total"] == len(page["runs"])
    return [r.display_name for r in page["runs"]]


def test_filter_runs_on_sqlite(store):
    ids = _runs(store)
    assert names(store, 'metrics.Accuracy > 0.97 and params.batch_size = 50 and tags.team = "vision"') == ["a"]
    assert names(store, "metrics.Accuracy >= 0.95") == ["a", "b", "c"]  # the newest value, not the first
    assert names(store, "metrics.Accuracy < 0.6") == []
    assert names(store, "params.batch_size > 40") == ["a", "b", "d"]
    assert names(store, "params.batch_size != 50") == ["c", "d"]
    assert names(store, "params.batch_size = '50'") == ["a", "b"]
    assert names(store, "params.opt = 'adam' and attributes.status = 'Completed'") == ["a", "c", "d"]
    assert names(store, "tags.team LIKE 'vis%'") == ["a", "b"]  # LIKE keeps case
    assert names(store, "tags.team ILIKE 'vis%'") == ["a", "b", "d"]
    assert names(store, "attributes.run_name IN ('a', 'c')") == ["a", "c"]
    assert names(store, "params.missing IS NULL and attributes.status != 'Failed'") == ["a", "c", "d"]
    assert names(store, "attributes.run_id = '%s'" % ids["b"]) == ["b"]
    assert names(store, "attributes.experiment = 'exp' and attributes.created > 0") == ["a", "b", "c", "d"]
    # values are bound parameters: quotes in them are data
    assert names(store, "tags.team = \"x' OR 1=1 --\"") == []
    assert store.run_params([ids["a"]])[ids["a"]] == {"batch_size": 50, "opt": "adam"}


def test_tags_and_mlflow_params_are_kept_in_step(store):
    ids = _runs(store)
    store.update_run(ids["a"], tags={"team": "nlp"})
    store.update_run(ids["b"], properties={"mlflow.param.lr": "0.01", "mlflow.param.batch_size": "51"})
    assert names(store, "tags.team = 'nlp'") == ["a", "c"]
    assert names(store, "params.lr = 0.01 and params.batch_size = 51") == ["b"]  # MLflow params win
    store.update_run(ids["a"], remove_tags=["team"])
    assert names(store, "tags.team IS NULL") == ["a"]


def test_route_filters_and_refuses_bad_filters_with_400(ws):
    token = WorkspaceLayout.for_path(ws.path).token()

    def get(path):
        req = urllib.request.Request(ws.server_url + path, headers={"Authorization": "Bearer " + token})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    body = {"experiment": "filt", "status": "Running", "display_name": "r1", "tags": {"team": "vision"}}
    req = urllib.request.Request(ws.server_url + "/api/runs", data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        rid = json.loads(resp.read())["runId"]
    code, page = get("/api/runs?params=true&filter=" + urllib.parse.quote('tags.team = "vision"'))
    assert code == 200 and [r["runId"] for r in page["runs"]] == [rid] and page["params"] == {rid: {}}
    code, page = get("/api/runs?filter=" + urllib.parse.quote('tags.team = "nlp"'))
    assert code == 200 and page["runs"] == [] and page["total"] == 0
    code, err = get("/api/runs?filter=" + urllib.parse.quote("metrics.acc > 0.9 or tags.x = 'y'"))
    assert code == 400 and "character 19" in json.dumps(err), err
    code, got = get("/api/runs/%s/params" % rid)
    assert code == 200 and got == {"params": {}}


def test_runs_made_before_run_fields_get_their_params_and_tags(tmp_path):
    """Migration 0008 fills run_fields for existing runs from their arguments, MLflow params
    and tags."""
    import os
    from alembic import command
    from alembic.config import Config
    import kyanite.store
    from kyanite.store import schema as s
    st = Store("sqlite:///" + str(tmp_path / "old.db"))
    cfg = Config()
    cfg.set_main_option("script_location", os.path.join(os.path.dirname(kyanite.store.__file__), "migrations"))
    with st.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0007")
        exp = conn.execute(s.experiments.insert().values(name="old", created=1.0)).inserted_primary_key[0]
        conn.execute(s.runs.insert().values(
            id="old_1", number=1, experiment_id=exp, run_type="run", status="Completed", created=1.0,
            cancel_requested=False, definition=json.dumps({"script": "t.py", "arguments": ["--batch-size", "50"]}),
            tags=json.dumps({"team": "vision"}), properties=json.dumps({"mlflow.param.opt": "adam"})))
    st.migrate()
    assert st.run_params(["old_1"]) == {"old_1": {"batch_size": 50, "opt": "adam"}}
    assert names(st, "params.batch_size = 50 and tags.team = 'vision'") == [None]
    st.dispose()
