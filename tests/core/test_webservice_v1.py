"""SDK v1 service behaviours against a real workspace server and real scoring processes:
inference-schema decorated scoring scripts (keyword arguments converted to the declared
types, the Swagger document), ``LocalWebservice.update``/``reload``, ``Webservice.list``
filters, ``get_logs`` and ``Model.get_model_path`` inside a run."""

import json
import os
import textwrap
import urllib.request

import pytest

from kyanite.core import Environment, Experiment, Model, ScriptRunConfig
from kyanite.core.model import InferenceConfig
from kyanite.core.webservice import AciWebservice, LocalWebservice, Webservice
from kyanite.envs import find_pythons
from kyanite.exceptions import ModelNotFoundException, UserErrorException, WebserviceException
from kyanite_testing import remove_services

SCHEMA_SCORE = """
    import numpy as np
    from inference_schema.schema_decorators import input_schema, output_schema
    from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
    from inference_schema.parameter_types.standard_py_parameter_type import StandardPythonParameterType

    def init():
        print("schema script ready")

    @input_schema("data", NumpyParameterType(np.array([[0.5, 1.5]])))
    @input_schema("scale", StandardPythonParameterType(2.0), optional=True)
    @output_schema(StandardPythonParameterType({"type": "ndarray", "shape": [1, 2], "sum": 2.0}))
    def run(data, scale=1.0):
        return {"type": type(data).__name__, "shape": list(data.shape), "dtype": str(data.dtype),
                "sum": float(data.sum()) * scale}
"""

SCHEMA_ENV = """
    name: schema-env
    dependencies:
      - python=3.11
      - pip:
        - numpy==2.4.6
        - inference-schema==1.8
"""


@pytest.fixture(scope="module", autouse=True)
def _remove_services(ws):
    yield
    remove_services(ws)


def _get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, json.loads(r.read().decode("utf-8"))


# -- item: inference-schema ---------------------------------------------------------------

@pytest.mark.skipif(not any(i.version[:2] == (3, 11) for i in find_pythons()), reason="needs Python 3.11")
def test_inference_schema_run_gets_keyword_arguments_and_swagger(ws, tmp_path):
    src = tmp_path / "schema-src"
    src.mkdir()
    (src / "score.py").write_text(textwrap.dedent(SCHEMA_SCORE))
    (src / "env.yml").write_text(textwrap.dedent(SCHEMA_ENV))
    w = tmp_path / "w.txt"
    w.write_text("unused")
    model = Model.register(ws, str(w), "schema-m")
    env = Environment.from_conda_specification("schema-env", str(src / "env.yml"))
    svc = Model.deploy(ws, "schema-svc", [model],
                       InferenceConfig(entry_script="score.py", source_directory=str(src), environment=env),
                       AciWebservice.deploy_configuration(auth_enabled=True))
    svc.wait_for_deployment()
    # the JSON body's keys are run()'s keyword arguments, converted to the declared types
    assert svc.run({"data": [[1, 2], [3, 4]]}) == {"type": "ndarray", "shape": [2, 2], "dtype": "float64",
                                                   "sum": 10.0}
    assert svc.run({"data": [[1, 1]], "scale": 3})["sum"] == 6.0
    with pytest.raises(WebserviceException) as err:
        svc.run([[1, 2]])  # not a JSON object
    assert err.value.status_code == 400 and "send a JSON object whose keys are its parameters" in err.value.message
    with pytest.raises(WebserviceException) as err:
        svc.run({"rows": [[1, 2]]})
    assert err.value.status_code == 400 and "do not fit run(data, scale=1.0)" in err.value.message
    # the Swagger document, no key needed (v1), with inference-schema's schemas
    assert svc.swagger_uri.endswith("/swagger.json")
    status, doc = _get(svc.swagger_uri)
    assert status == 200 and doc["swagger"] == "2.0"
    assert doc["paths"]["/score"]["post"]["parameters"][0]["schema"] == {"$ref": "#/definitions/ServiceInput"}
    service_input = doc["definitions"]["ServiceInput"]
    assert service_input["type"] == "object" and set(service_input["properties"]) == {"data", "scale"}
    assert service_input["properties"]["data"]["type"] == "array"
    assert service_input["example"]["data"] == [[0.5, 1.5]]
    assert doc["definitions"]["ServiceOutput"]["type"] == "object"
    assert "run() is decorated with inference-schema" in svc.get_logs()


def test_undecorated_run_swagger_has_plain_object(ws, service):
    status, doc = _get(service.swagger_uri)
    assert status == 200 and doc["definitions"]["ServiceInput"] == {"type": "object"}


# -- item: update / reload / list / logs ------------------------------------------------------

SCORE = """
    import json
    from kyanite.core import Model

    def init():
        global path
        path = Model.get_model_path("{model}")
        print("{tag} init, model at", path)

    def run(raw):
        return ["{tag}", open(path).read(), json.loads(raw)]
"""


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    d = tmp_path_factory.mktemp("v1-src")
    (d / "score.py").write_text(textwrap.dedent(SCORE.format(model="v1-a", tag="score1")))
    (d / "score2.py").write_text(textwrap.dedent(SCORE.format(model="v1-a", tag="score2")))
    return d


@pytest.fixture(scope="module")
def models(ws, tmp_path_factory):
    d = tmp_path_factory.mktemp("v1-models")
    (d / "a.txt").write_text("model a")
    (d / "b.txt").write_text("model b")
    return Model.register(ws, str(d / "a.txt"), "v1-a"), Model.register(ws, str(d / "b.txt"), "v1-b")


@pytest.fixture(scope="module")
def service(ws, src, models, current_env):
    svc = Model.deploy(ws, "v1-local", [models[0]],
                       InferenceConfig(entry_script="score.py", source_directory=str(src), environment=current_env),
                       LocalWebservice.deploy_configuration(tags={"team": "a", "tier": "dev"}))
    svc.wait_for_deployment()
    return svc


def test_update_with_only_the_entry_script_and_reload(ws, src, service):
    assert service.run({"x": 1}) == ["score1", "model a", {"x": 1}]
    gen = service.generation
    # only the entry script changes: the environment the service runs in is kept
    service.update(inference_config=InferenceConfig(entry_script="score2.py", source_directory=str(src)),
                   wait=True)
    assert service.state == "Healthy" and service.generation == gen + 1
    assert service.run({"x": 2}) == ["score2", "model a", {"x": 2}]
    assert service._record["inference"]["entryScript"] == "score2.py"
    assert service._record["inference"]["environment"]["name"] == "current-python"
    # reload: the entry script's folder as it is now
    (src / "score2.py").write_text(textwrap.dedent(SCORE.format(model="v1-a", tag="edited")))
    service.reload(wait=True)
    assert service.generation == gen + 2 and service.run({"x": 3}) == ["edited", "model a", {"x": 3}]
    # update's v1 positional order: models, image_config, deployment_config, wait
    assert service.update(None, None, None, True) is service and service.state == "Healthy"


def test_get_logs_is_the_scoring_process_log(service):
    logs = service.get_logs()
    assert isinstance(logs, str)
    assert "init() finished" in logs and "init, model at" in logs
    assert service.get_logs(num_lines=1).count("\n") <= 1


def test_list_filters(ws, src, models, service, current_env):
    other = Model.deploy(ws, "v1-aci", [models[1], models[0]],
                         InferenceConfig(entry_script="score.py", source_directory=str(src), environment=current_env),
                         AciWebservice.deploy_configuration(tags={"team": "b"}))
    other.wait_for_deployment()
    names = lambda **kw: sorted(s.name for s in Webservice.list(ws, **kw) if s.name.startswith("v1-"))
    assert names() == ["v1-aci", "v1-local"]
    assert names(model_name="v1-b") == ["v1-aci"]
    assert names(model_name="v1-a") == ["v1-aci", "v1-local"]
    assert names(model_id=models[1].id) == ["v1-aci"]
    assert names(compute_type="Local") == ["v1-local"]
    assert names(tags=["team"]) == ["v1-aci", "v1-local"]
    assert names(tags=[["team", "b"]]) == ["v1-aci"]
    assert names(tags=["tier", ["team", "a"]]) == ["v1-local"]
    assert names(tags=[["team", "c"]]) == []
    assert isinstance(Webservice.list(ws, model_name="v1-b")[0], AciWebservice)
    with pytest.raises(UserErrorException, match=r"a key or a \[key, value\] pair"):
        Webservice.list(ws, tags=[["team", "a", "b"]])


# -- item: Model.list and get_model_path --------------------------------------------------------

def test_model_list_mixed_filters_and_latest(ws, tmp_path):
    f = tmp_path / "m.bin"
    f.write_bytes(b"m")
    Model.register(ws, str(f), "v1-list", tags={"stage": "prod", "team": "x"})
    Model.register(ws, str(f), "v1-list", tags={"stage": "dev"})
    Model.register(ws, str(f), "v1-list", tags={"stage": "prod"})
    ids = lambda **kw: [m.id for m in Model.list(ws, name="v1-list", **kw)]
    assert ids(tags=["stage"]) == ["v1-list:3", "v1-list:2", "v1-list:1"]
    assert ids(tags=[["stage", "prod"]]) == ["v1-list:3", "v1-list:1"]
    assert ids(tags=["team", ["stage", "prod"]]) == ["v1-list:1"]
    assert ids(tags=[["stage", "prod"]], latest=True) == ["v1-list:3"]
    assert ids(latest=True) == ["v1-list:3"]
    with pytest.raises(UserErrorException, match=r"a key or a \[key, value\] pair"):
        Model.list(ws, tags=[3])


def test_get_model_path_in_a_run_and_from_the_local_cache(ws, make_script, current_env, tmp_path, monkeypatch):
    d = tmp_path / "gmp"
    d.mkdir()
    (d / "w.txt").write_text("v1 weights")
    Model.register(ws, str(d / "w.txt"), "v1-gmp")
    (d / "w.txt").write_text("v2 weights")
    Model.register(ws, str(d / "w.txt"), "v1-gmp")
    script = make_script("""
        import os
        from kyanite.core import Model
        p = Model.get_model_path("v1-gmp")
        print("latest", os.path.relpath(p), open(p).read())
        p1 = Model.get_model_path("v1-gmp", version=1)
        print("first", os.path.relpath(p1), open(p1).read())
        assert Model.get_model_path("v1-gmp") == p  # the cached copy
        try:
            Model.get_model_path("v1-none")
        except Exception as exc:
            print("missing", type(exc).__name__)
    """)
    run = Experiment(ws, "v1-gmp").submit(ScriptRunConfig(source_directory=str(script), script="train.py",
                                                           environment=current_env))
    details = run.wait_for_completion(raise_on_error=False)
    log = "".join(run.get_details_with_logs()["logFiles"].values())
    assert details["status"] == "Completed", (log, details.get("error"))
    assert "latest %s v2 weights" % os.path.join("kyanite-models", "v1-gmp", "2", "w.txt") in log
    assert "first %s v1 weights" % os.path.join("kyanite-models", "v1-gmp", "1", "w.txt") in log
    assert "missing ModelNotFoundException" in log

    # outside a run and without a workspace: only the local cache (v1's azureml-models too)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelNotFoundException, match="was not found"):
        Model.get_model_path("v1-gmp")
    cached = tmp_path / "azureml-models" / "v1-gmp" / "1"
    cached.mkdir(parents=True)
    (cached / "w.txt").write_text("cached")
    assert Model.get_model_path("v1-gmp") == str(cached / "w.txt")
    assert Model.get_model_path("v1-gmp", _workspace=ws) == str(tmp_path / "kyanite-models" / "v1-gmp" / "2"
                                                                  / "w.txt")
    assert Model.get_model_path("v1-gmp") == str(tmp_path / "kyanite-models" / "v1-gmp" / "2" / "w.txt")
