"""The MLflow tracking API: the real ``mlflow`` client (PyPI, unmodified) against a real
workspace server; what it logs is read back through kyanite's SDK."""

import json
import os
import urllib.request

import pytest

mlflow = pytest.importorskip("mlflow")
from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import Metric, Param, RunTag  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402

from kyanite.core import Experiment, Run, ScriptRunConfig  # noqa: E402
from kyanite.server import run_tokens  # noqa: E402

#: no system/ metrics beside what MLflow logs, so the runs' metrics are MLflow's alone
SERVER_ENV = {"KYANITE_SYSTEM_METRICS_INTERVAL": "0"}


@pytest.fixture(autouse=True)
def tracking(ws, monkeypatch):
    for var in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    uri = ws.get_mlflow_tracking_uri()
    mlflow.set_tracking_uri(uri)
    yield uri
    while mlflow.active_run():
        mlflow.end_run()


def _raw(ws, method, path, body=None, token=None):
    req = urllib.request.Request(ws.server_url + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    if token != "":
        req.add_header("Authorization", "Bearer " + (token or ws._client.token))
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def test_the_tracking_uri_is_the_workspace_server(ws, tracking):
    assert tracking == ws.server_url + "/mlflow"
    assert os.environ["MLFLOW_TRACKING_TOKEN"] == ws._client.token


def test_experiments_create_get_by_name_and_search():
    c = MlflowClient()
    exp_id = c.create_experiment("ml-exp", tags={"team": "blue"})
    exp = c.get_experiment(exp_id)
    assert exp.name == "ml-exp" and exp.tags == {"team": "blue"} and exp.lifecycle_stage == "active"
    assert c.get_experiment_by_name("ml-exp").experiment_id == exp_id
    assert c.get_experiment_by_name("no-such-exp") is None
    with pytest.raises(MlflowException) as err:
        c.create_experiment("ml-exp")
    assert err.value.error_code == "RESOURCE_ALREADY_EXISTS"
    assert [e.name for e in c.search_experiments(filter_string="name = 'ml-exp'")] == ["ml-exp"]
    with pytest.raises(MlflowException) as err:
        c.create_experiment("has spaces/and slash")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE" and "experiment name" in err.value.message


def test_runs_params_metrics_tags_and_history(ws):
    mlflow.set_experiment("ml-runs")
    with mlflow.start_run(run_name="first") as run:
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"layers": 3, "opt": "adam"})
        for i in range(5):
            mlflow.log_metric("loss", 1.0 / (i + 1), step=10 * i)
        mlflow.log_metric("nan", float("nan"))
        mlflow.set_tag("team", "blue")
        mlflow.log_input(mlflow.data.from_numpy(__import__("numpy").zeros((3, 2)), name="zeros"), context="train")
        rid = run.info.run_id
    c = MlflowClient()
    r = c.get_run(rid)
    assert r.info.status == "FINISHED" and r.info.run_name == "first" and r.info.end_time
    assert r.data.params == {"lr": "0.01", "layers": "3", "opt": "adam"}
    assert r.data.metrics["loss"] == 0.2 and r.data.tags["team"] == "blue"
    assert [i.dataset.name for i in r.inputs.dataset_inputs] == ["zeros"]
    hist = c.get_metric_history(rid, "loss")
    assert [(m.step, m.value) for m in hist] == [(0, 1.0), (10, 0.5), (20, 1 / 3.0), (30, 0.25), (40, 0.2)]
    assert all(m.timestamp > 1.6e12 for m in hist)
    # the same run in kyanite: status, metrics, params as properties, tags
    kr = Run.get(ws, rid)
    assert kr.get_status() == "Completed"
    metrics = kr.get_metrics()
    assert metrics["loss"] == [1.0, 0.5, 1 / 3.0, 0.25, 0.2]
    assert kr.get_properties()["mlflow.param.lr"] == "0.01" and kr.get_tags()["team"] == "blue"
    # params are immutable, as in MLflow
    with pytest.raises(MlflowException) as err:
        c.log_param(rid, "lr", "0.5")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE" and "lr" in err.value.message
    c.log_param(rid, "lr", "0.01")  # the same value again is fine


def test_log_batch_update_delete_and_search_filters():
    c = MlflowClient()
    exp_id = c.create_experiment("ml-search")
    ids = []
    for i, (lr, acc) in enumerate([("0.1", 0.7), ("0.01", 0.9), ("0.001", 0.8)]):
        run = c.create_run(exp_id, run_name="r%d" % i, tags={"kind": "grid" if i else "manual"})
        c.log_batch(run.info.run_id, metrics=[Metric("acc", acc, 1000 + i, 0), Metric("acc", acc + 0.05, 2000, 1)],
                    params=[Param("lr", lr)], tags=[RunTag("idx", str(i))])
        c.set_terminated(run.info.run_id, "FINISHED" if i != 2 else "FAILED")
        ids.append(run.info.run_id)

    def names(flt, **kw):
        return [r.info.run_name for r in c.search_runs([exp_id], flt, **kw)]

    assert sorted(names("metrics.acc > 0.8")) == ["r1", "r2"]
    assert names("params.lr = '0.01'") == ["r1"]
    assert sorted(names("tags.kind = 'grid' and attributes.status = 'FINISHED'")) == ["r1"]
    assert sorted(names("params.lr IN ('0.1', '0.001')")) == ["r0", "r2"]
    assert names("attributes.run_name LIKE 'r%'", order_by=["metrics.acc DESC"]) == ["r1", "r2", "r0"]
    assert names("tags.idx != '1' and metrics.acc <= 0.76") == ["r0"]
    assert len(c.search_runs([exp_id], "", max_results=2)) == 2
    c.delete_run(ids[0])
    assert sorted(names("")) == ["r1", "r2"]
    assert c.get_run(ids[0]).info.lifecycle_stage == "deleted"
    c.restore_run(ids[0])
    assert sorted(names("")) == ["r0", "r1", "r2"]
    with pytest.raises(MlflowException) as err:
        c.search_runs([exp_id], "metrics.acc >")
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"


def test_artifacts_upload_list_download_are_run_files(ws, tmp_path):
    mlflow.set_experiment("ml-files")
    (tmp_path / "notes.txt").write_text("hello")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(tmp_path / "notes.txt"))
        mlflow.log_dict({"k": 1}, "cfg/conf.json")
        rid = run.info.run_id
    c = MlflowClient()
    assert [(f.path, f.is_dir) for f in c.list_artifacts(rid)] == [("cfg", True), ("notes.txt", False)]
    assert [f.path for f in c.list_artifacts(rid, "cfg")] == ["cfg/conf.json"]
    local = mlflow.artifacts.download_artifacts(run_id=rid, artifact_path="cfg/conf.json", dst_path=str(tmp_path / "d"))
    assert json.load(open(local)) == {"k": 1}
    assert sorted(Run.get(ws, rid).get_file_names()) == ["outputs/cfg/conf.json", "outputs/notes.txt"]


def test_sklearn_autolog_log_model_and_the_registry(ws):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    X, y = load_iris(return_X_y=True)
    mlflow.set_experiment("ml-sklearn")
    mlflow.sklearn.autolog()
    try:
        with mlflow.start_run() as run:
            LogisticRegression(max_iter=300).fit(X, y)
            rid = run.info.run_id
    finally:
        mlflow.sklearn.autolog(disable=True)
    c = MlflowClient()
    r = c.get_run(rid)
    assert r.data.params["max_iter"] == "300" and r.data.metrics["training_accuracy_score"] > 0.9
    kr = Run.get(ws, rid)
    assert "outputs/model/MLmodel" in kr.get_file_names()
    assert kr.get_metrics()["training_accuracy_score"] > 0.9
    # MLflow's registry calls map to kyanite's registry, and run.register_model takes the files
    mv = mlflow.register_model("runs:/%s/model" % rid, "ml-iris")
    assert (mv.name, mv.version, mv.run_id) == ("ml-iris", "1", rid)
    assert [(v.version, v.run_id) for v in c.search_model_versions("name='ml-iris'")] == [("1", rid)]
    from kyanite.core import Model
    assert Model(ws, "ml-iris").version == 1
    assert kr.register_model(model_name="ml-iris", model_path="outputs/model").version == 2
    assert sorted(v.version for v in c.search_model_versions("name='ml-iris'")) == ["1", "2"]
    loaded = mlflow.sklearn.load_model("models:/ml-iris/1")
    assert list(loaded.predict(X[:2])) == [0, 0]


def test_errors_have_mlflow_shape(ws):
    status, body = _raw(ws, "POST", "/mlflow/api/2.0/mlflow/workspaces", {"name": "x"})
    assert status == 501 and body["error_code"] == "NOT_IMPLEMENTED"
    assert "POST /api/2.0/mlflow/workspaces" in body["message"]
    status, body = _raw(ws, "GET", "/mlflow/api/2.0/mlflow/runs/get?run_id=nope")
    assert status == 404 and body["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    status, body = _raw(ws, "POST", "/mlflow/api/2.0/mlflow/runs/log-batch", {"run_id": 5})
    assert status == 400 and body["error_code"] == "INVALID_PARAMETER_VALUE"
    status, body = _raw(ws, "POST", "/mlflow/api/2.0/mlflow/runs/log-metric", "not an object")
    assert status == 400 and body["error_code"] == "INVALID_PARAMETER_VALUE"


def test_every_route_needs_the_token_and_a_run_token_writes_only_its_own_run(ws):
    status, body = _raw(ws, "GET", "/mlflow/api/2.0/mlflow/experiments/get?experiment_id=0", token="")
    assert status == 401 and body["error_code"] == "UNAUTHENTICATED"
    status, _ = _raw(ws, "POST", "/mlflow/api/2.0/mlflow/experiments/search", {}, token="wrong")
    assert status == 401
    status, _ = _raw(ws, "GET", "/mlflow/api/2.0/mlflow-artifacts/artifacts?path=runs/x", token="")
    assert status == 401
    exp = Experiment(ws, "ml-tokens")
    mine, other = exp.start_logging(), exp.start_logging()
    token = run_tokens.issue(ws._client.token, mine.id)
    point = {"key": "m", "value": 1.0, "timestamp": 1, "step": 0}
    status, _ = _raw(ws, "POST", "/mlflow/api/2.0/mlflow/runs/log-metric", dict(point, run_id=mine.id), token=token)
    assert status == 200
    status, body = _raw(ws, "POST", "/mlflow/api/2.0/mlflow/runs/log-metric", dict(point, run_id=other.id),
                        token=token)
    assert status == 403 and body["error_code"] == "PERMISSION_DENIED"
    mine.complete()
    other.complete()


def test_mlflow_end_run_does_not_end_a_kyanite_run(ws):
    kr = Experiment(ws, "ml-attach").start_logging()
    mlflow.set_experiment("ml-attach")
    with mlflow.start_run(run_id=kr.id):
        mlflow.log_metric("x", 1.0)
    assert kr.get_status() == "Running" and kr.get_metrics() == {"x": 1.0}
    kr.complete()


def test_a_script_using_only_mlflow_submitted_as_a_run(ws, make_script, current_env):
    src = make_script("""
        import mlflow
        with mlflow.start_run() as run:  # attaches to the kyanite run
            mlflow.set_tag("attached", run.info.run_id)
            mlflow.log_text("done", "result.txt")
            mlflow.log_param("lr", 0.1)
            for step in range(3):
                mlflow.log_metric("loss", 1.0 - step * 0.25, step=step)
        with mlflow.start_run(run_name="extra"):  # MLFLOW_RUN_ID was used up: a new run, under this one
            mlflow.log_metric("child_metric", 2.0)
        """)
    run = Experiment(ws, "ml-script").submit(ScriptRunConfig(source_directory=str(src), script="train.py",
                                                             environment=current_env))
    run.wait_for_completion(show_output=False, raise_on_error=False)
    assert run.get_status() == "Completed", run.get_details_with_logs()["logFiles"]
    assert run.get_metrics()["loss"] == [1.0, 0.75, 0.5]
    assert run.get_tags()["attached"] == run.id and run.get_properties()["mlflow.param.lr"] == "0.1"
    assert "outputs/result.txt" in run.get_file_names()
    # what the studio's run page reads
    summary = ws._client.get("/api/runs/%s/metrics/summary" % run.id)["metrics"]
    assert [(m["name"], m["count"]) for m in summary] == [("loss", 3)]
    assert [m.step for m in MlflowClient().get_metric_history(run.id, "loss")] == [0, 1, 2]
    (child,) = run.get_children()
    assert child.get_metrics() == {"child_metric": 2.0} and child.get_details()["displayName"] == "extra"


def test_mlflow_log_metric_with_no_set_up_logs_to_the_kyanite_run(ws, make_script, current_env):
    src = make_script("""
        import mlflow
        mlflow.log_metric("implicit", 3.0)
        mlflow.log_params({"a": 1})
        """)
    run = Experiment(ws, "ml-implicit").submit(ScriptRunConfig(source_directory=str(src), script="train.py",
                                                               environment=current_env))
    run.wait_for_completion(show_output=False, raise_on_error=False)
    assert run.get_status() == "Completed", run.get_details_with_logs()["logFiles"]
    assert run.get_metrics() == {"implicit": 3.0} and run.get_properties()["mlflow.param.a"] == "1"
    assert run.get_children() == []
