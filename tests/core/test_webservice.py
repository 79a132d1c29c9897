"""Deployments end to end: a real workspace server, real scoring processes, real HTTP.

The services use a numpy-only score.py in the current interpreter (``current_env``), so
they start in about a second."""

import contextlib
import http.client
import io
import json
import os
import socket
import textwrap
import time

import numpy as np
import psutil
import pytest

from kyanite.core import Environment, Model
from kyanite.core.model import InferenceConfig
from kyanite.core.webservice import AciWebservice, LocalWebservice, Webservice
from kyanite.exceptions import UserErrorException, WebserviceException
from kyanite_testing import remove_services

PY36 = "/root/.pyenv/versions/3.6.15/bin/python"

SCORE = """
    import json
    import os
    import numpy as np
    from kyanite.core import Model

    def init():
        global w
        path = Model.get_model_path("lin")
        w = np.load(path)
        print("loaded", path, "AZUREML_MODEL_DIR=" + os.environ["AZUREML_MODEL_DIR"])

    def run(raw_data):
        data = json.loads(raw_data)
        if "boom" in data:
            raise RuntimeError("boom requested")
        x = np.asarray(data["data"], dtype=float)
        if x.ndim != 2:
            raise ValueError("data must be a list of rows")
        return (x @ w).tolist()
"""


@pytest.fixture(scope="module", autouse=True)
def _remove_services(ws):
    """Delete this module's services at the end (they outlive a stopped server by design)."""
    yield
    remove_services(ws)


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    d = tmp_path_factory.mktemp("svc-src")
    (d / "score.py").write_text(textwrap.dedent(SCORE))
    return d


@pytest.fixture(scope="module")
def models(ws, tmp_path_factory):
    d = tmp_path_factory.mktemp("weights")
    np.save(str(d / "w.npy"), np.array([1.0, 2.0]))
    m1 = Model.register(ws, str(d / "w.npy"), "lin")
    np.save(str(d / "w.npy"), np.array([10.0, 20.0]))
    m2 = Model.register(ws, str(d / "w.npy"), "lin")
    return m1, m2


@pytest.fixture(scope="module")
def service(ws, src, models, current_env):
    inference = InferenceConfig(entry_script="score.py", source_directory=str(src), environment=current_env)
    config = AciWebservice.deploy_configuration(cpu_cores=1, memory_gb=1, auth_enabled=True,
                                                tags={"name": "lin"}, description="a linear model")
    svc = Model.deploy(ws, "lin-svc", [models[0]], inference, config)
    assert svc.state == "Transitioning"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        svc.wait_for_deployment(show_output=True)
    svc.shown = out.getvalue()
    return svc


def _post(uri, body, key=None):
    host, port = uri.split("//")[1].split("/")[0].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = "Bearer " + key
    conn.request("POST", "/score", body, headers)
    r = conn.getresponse()
    return r.status, r.read()


def test_deploy_and_score_with_keys(ws, service):
    assert service.state == "Healthy" and isinstance(service, AciWebservice)
    assert service.scoring_uri.startswith("http://127.0.0.1:") and service.scoring_uri.endswith("/score")
    assert service.tags == {"name": "lin"} and service.description == "a linear model"
    out = service.shown
    assert 'ACI service creation operation finished, operation "Succeeded"' in out
    assert "init() finished" in out  # the scoring process's log, streamed while waiting
    assert service.run(json.dumps({"data": [[1, 1], [2, 3]]})) == [3.0, 8.0]
    assert service.run({"data": [[0, 1]]}) == [2.0]

    key1, key2 = service.get_keys()
    body = json.dumps({"data": [[1, 0]]})
    assert _post(service.scoring_uri, body, key1) == (200, b"[1.0]")
    assert _post(service.scoring_uri, body, key2)[0] == 200
    assert _post(service.scoring_uri, body)[0] == 401
    assert _post(service.scoring_uri, body, "wrong-key")[0] == 401

    service.regen_key("Primary")
    new1, same2 = service.get_keys()
    assert new1 != key1 and same2 == key2
    assert _post(service.scoring_uri, body, key1)[0] == 401
    assert _post(service.scoring_uri, body, new1)[0] == 200
    assert _post(service.scoring_uri, body, key2)[0] == 200
    service.regen_key("Secondary", set_key="my-own-secondary-key")
    assert service.get_keys()[1] == "my-own-secondary-key"
    assert _post(service.scoring_uri, body, "my-own-secondary-key")[0] == 200
    with pytest.raises(WebserviceException, match="'Primary' or 'Secondary'"):
        service.regen_key("Tertiary")


def test_run_errors_answer_400_and_500_and_the_service_stays_up(service):
    with pytest.raises(WebserviceException) as err:
        service.run({"data": [1, 2]})
    assert err.value.status_code == 400 and "data must be a list of rows" in err.value.message
    with pytest.raises(WebserviceException) as err:
        service.run("this is not json")
    assert err.value.status_code == 400 and "JSONDecodeError" in err.value.message
    with pytest.raises(WebserviceException) as err:
        service.run({"boom": 1})
    assert err.value.status_code == 500 and "RuntimeError: boom requested" in err.value.message
    assert service.run({"data": [[1, 1]]}) == [3.0]
    logs = service.get_logs()
    assert "loaded " in logs and "RuntimeError: boom requested" in logs and "Traceback" in logs
    assert "AZUREML_MODEL_DIR=" in logs and os.path.join("models", "lin", "1") in logs
    assert len(service.get_logs(num_lines=3).splitlines()) == 3


def test_lookup_list_health_swagger(ws, service, models):
    again = Webservice(ws, "lin-svc")
    assert isinstance(again, AciWebservice) and again.scoring_uri == service.scoring_uri
    assert [m.id for m in again.models] == ["lin:1"]
    assert AciWebservice(ws, "lin-svc").name == "lin-svc"
    with pytest.raises(WebserviceException, match="is a ACI service, not a LocalWebservice"):
        LocalWebservice(ws, "lin-svc")
    with pytest.raises(WebserviceException, match="WebserviceNotFound"):
        Webservice(ws, "no-such-service")
    names = [s.name for s in Webservice.list(ws)]
    assert "lin-svc" in names
    assert [s.name for s in Webservice.list(ws, model_name="lin")] == ["lin-svc"]
    assert Webservice.list(ws, model_id="lin:2") == []
    assert [s.name for s in Webservice.list(ws, tags=[["name", "lin"]])] == ["lin-svc"]
    assert Webservice.list(ws, compute_type="Local", model_name="lin") == []
    base = service.scoring_uri[:-len("/score")]
    host, port = base.split("//")[1].split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=5)
    c.request("GET", "/")
    assert c.getresponse().read() == b"Healthy"
    c.request("GET", "/swagger.json")
    doc = json.loads(c.getresponse().read())
    assert doc["paths"]["/score"]["post"]["security"] == [{"Bearer": []}]
    assert service.swagger_uri == base + "/swagger.json"
    assert Model(ws, "lin", version=1).deployments == ["lin-svc"]


def test_deployed_model_cannot_be_deleted(ws, service, models):
    with pytest.raises(WebserviceException, match="used by deployment"):
        Model(ws, "lin", version=1).delete()
    assert Model(ws, "lin", version=1).version == 1


def test_update_to_a_second_model_version_and_tags(ws, service, models):
    uri = service.scoring_uri
    service.update(models=[models[1]], tags={"name": "lin", "v": "2"}, properties={"owner": "me"})
    assert service.state == "Transitioning"
    service.wait_for_deployment()
    assert service.state == "Healthy" and service.scoring_uri == uri
    assert service.run({"data": [[1, 1]]}) == [30.0]
    fresh = Webservice(ws, "lin-svc")
    assert fresh.tags == {"name": "lin", "v": "2"} and fresh.properties == {"owner": "me"}
    assert [m.id for m in fresh.models] == ["lin:2"]
    service.add_tags({"extra": "1"})  # no redeploy for tags
    assert service.state == "Healthy" and service.tags["extra"] == "1"
    Model(ws, "lin", version=1).delete()  # no longer deployed


def test_token_auth(ws, src, models, current_env):
    svc = Model.deploy(ws, "tok-svc", [models[1]],
                       InferenceConfig(entry_script="score.py", source_directory=str(src), environment=current_env),
                       AciWebservice.deploy_configuration(token_auth_enabled=True))
    svc.wait_for_deployment()
    token, refresh_after = svc.get_token()
    assert token.startswith("kt1.") and refresh_after.timestamp() > time.time()
    assert svc.run({"data": [[1, 0]]}) == [10.0]
    body = json.dumps({"data": [[1, 0]]})
    assert _post(svc.scoring_uri, body)[0] == 401
    assert _post(svc.scoring_uri, body, token)[0] == 200
    with pytest.raises(WebserviceException, match="no keys"):
        svc.get_keys()
    svc.delete()


def test_broken_init_fails_with_traceback_in_logs(ws, tmp_path, current_env):
    (tmp_path / "score.py").write_text(textwrap.dedent("""
        def init():
            print("loading the model...")
            raise FileNotFoundError("model.pkl is not where I thought")

        def run(raw):
            return raw
    """))
    svc = Model.deploy(ws, "broken-svc", [], InferenceConfig(entry_script="score.py", source_directory=str(tmp_path),
                                                              environment=current_env),
                       LocalWebservice.deploy_configuration())
    with pytest.raises(WebserviceException) as err:
        svc.wait_for_deployment()
    msg = err.value.message
    assert "current service state: Failed" in msg and "FileNotFoundError: model.pkl is not where I thought" in msg
    assert "Traceback" in msg
    assert svc.state == "Failed"
    logs = svc.get_logs()
    assert "loading the model..." in logs and "Traceback (most recent call last)" in logs
    assert Webservice(ws, "broken-svc").state == "Failed"
    # overwrite=True replaces it; a script without run() is refused with a clear reason
    (tmp_path / "score.py").write_text("def init():\n    pass\n")
    svc = Model.deploy(ws, "broken-svc", [], InferenceConfig(entry_script="score.py", source_directory=str(tmp_path),
                                                              environment=current_env),
                       LocalWebservice.deploy_configuration(), overwrite=True)
    with pytest.raises(WebserviceException, match=r"defines no run\(\) function"):
        svc.wait_for_deployment()
    with pytest.raises(WebserviceException, match="already exists"):
        Model.deploy(ws, "broken-svc", [], InferenceConfig(entry_script="score.py", source_directory=str(tmp_path),
                                                            environment=current_env))
    svc.delete()


def test_bad_requests_are_refused_before_deploying(ws, tmp_path, models, current_env):
    (tmp_path / "score.py").write_text("def init(): pass\ndef run(raw): return 1\n")
    inf = InferenceConfig(entry_script="score.py", source_directory=str(tmp_path), environment=current_env)
    with pytest.raises(UserErrorException, match="Entry script 'nope.py' not found"):
        InferenceConfig(entry_script="nope.py", source_directory=str(tmp_path))
    with pytest.raises(WebserviceException, match="no version 99"):
        Model.deploy(ws, "x-svc", ["lin:99"], inf)
    with pytest.raises(WebserviceException, match="Invalid service name"):
        Model.deploy(ws, "bad name!", [], inf)
    with pytest.raises(WebserviceException, match="port must be"):
        LocalWebservice.deploy_configuration(port=70000)
    with pytest.raises(WebserviceException, match="ssl_enabled"):
        AciWebservice.deploy_configuration(ssl_enabled=True)


def test_port_in_use_and_delete_frees_the_port(ws, tmp_path, current_env):
    (tmp_path / "score.py").write_text("def init(): pass\ndef run(raw): return {'echo': raw}\n")
    inf = InferenceConfig(entry_script="score.py", source_directory=str(tmp_path), environment=current_env)
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    busy = blocker.getsockname()[1]
    try:
        svc = Model.deploy(ws, "port-svc", [], inf, LocalWebservice.deploy_configuration(port=busy))
        with pytest.raises(WebserviceException, match="Port %d is in use" % busy):
            svc.wait_for_deployment()
    finally:
        blocker.close()
    svc = Model.deploy(ws, "port-svc", [], inf, LocalWebservice.deploy_configuration(port=busy), overwrite=True)
    svc.wait_for_deployment()
    assert svc.port == busy and svc.run('"hi"') == {"echo": '"hi"'}
    pid = svc._record["pid"]
    svc.delete()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", busy), timeout=5)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as any server does
    s.bind(("127.0.0.1", busy))  # free again for the next program
    s.listen(1)
    s.close()
    with pytest.raises(WebserviceException, match="WebserviceNotFound"):
        Webservice(ws, "port-svc")
    assert not os.path.exists(os.path.join(ws._layout.root, "deployments", "port-svc"))


@pytest.mark.skipif(not os.path.exists(PY36), reason="pyenv's Python 3.6 is not installed")
def test_scoring_in_a_python_36_environment(ws, tmp_path, models):
    """An old environment: the scoring server and Model.get_model_path run on Python 3.6."""
    (tmp_path / "score.py").write_text(textwrap.dedent("""
        import json, sys
        from kyanite.core.model import Model

        def init():
            global path
            path = Model.get_model_path("lin")

        def run(raw):
            return {"python": sys.version.split()[0], "path": path, "n": len(json.loads(raw))}
    """))
    env = Environment("py36")
    env.python.user_managed_dependencies = True
    env.python.interpreter_path = PY36
    svc = Model.deploy(ws, "py36-svc", [models[1]],
                       InferenceConfig(entry_script="score.py", source_directory=str(tmp_path), environment=env),
                       LocalWebservice.deploy_configuration())
    svc.wait_for_deployment()
    out = svc.run([1, 2, 3])
    assert out["python"].startswith("3.6.") and out["n"] == 3
    assert out["path"].endswith(os.path.join("lin", "2", "w.npy"))
    svc.delete()


def test_two_models_and_reload(ws, tmp_path, models, current_env):
    """With several models AZUREML_MODEL_DIR is the root holding <name>/<version>/; reload()
    picks up an edited entry script."""
    np.save(str(tmp_path / "other.npy"), np.array([5.0]))
    other = Model.register(ws, str(tmp_path / "other.npy"), "other")
    src = tmp_path / "src"
    src.mkdir()
    (src / "score.py").write_text(textwrap.dedent("""
        import os
        from kyanite.core import Model

        def init():
            global paths
            paths = [Model.get_model_path("lin"), Model.get_model_path("other", version=1),
                     os.environ["AZUREML_MODEL_DIR"]]

        def run(raw):
            return {"version": 1, "paths": paths}
    """))
    svc = Model.deploy(ws, "two-svc", [models[1], other],
                       InferenceConfig(entry_script="score.py", source_directory=str(src), environment=current_env),
                       LocalWebservice.deploy_configuration())
    svc.wait_for_deployment()
    out = svc.run("{}")
    root = out["paths"][2]
    assert out["paths"][:2] == [os.path.join(root, "lin", "2", "w.npy"), os.path.join(root, "other", "1", "other.npy")]
    assert sorted(m.id for m in svc.models) == ["lin:2", "other:1"]
    (src / "score.py").write_text((src / "score.py").read_text().replace('"version": 1', '"version": 2'))
    svc.reload(wait=True)
    assert svc.state == "Healthy" and svc.run("{}")["version"] == 2 and svc.generation == 2
    svc.delete()
