"""The SDK v1 surface that notebooks written for ``azureml`` touch beyond the main
walkthrough: ``VERSION``, the workspace's Azure-shaped properties and details, the
workspace's name -> object dicts, run filters, Docker settings, the v1 module paths
(authentication, image, estimators, telemetry, resource configuration) and the Run
helpers. Real server, real runs."""

import json
import os
import re
import sys

import pytest

import kyanite
from kyanite.core import Experiment, Run, Workspace


# -- 1. VERSION ------------------------------------------------------------------------------
def test_version_is_the_package_version():
    from importlib.metadata import version
    from kyanite.core import VERSION
    assert VERSION == kyanite.__version__ == version("kyanite")
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "pyproject.toml")) as f:
        pinned = re.search(r'^version = "([^"]+)"', f.read(), re.M).group(1)
    assert kyanite._VERSION == pinned  # the fallback kept in step with the distribution
    print("SDK version: " + VERSION)  # what every v1 sample does


# -- 3. workspace properties, details, get / write_config / from_config ------------------------
def test_workspace_properties_are_strings(ws):
    line = ("Workspace name: " + ws.name + "\nAzure region: " + ws.location + "\nSubscription id: "
            + ws.subscription_id + "\nResource group: " + ws.resource_group)  # the v1 samples' print
    assert "Subscription id: local" in line and "Azure region: local" in line
    assert ws.resource_group == os.path.basename(ws.path)
    # the v1 samples' one-liner
    print(ws.name, ws.resource_group, ws.location, ws.subscription_id, sep="\n")


def test_get_details_has_the_v1_shape(ws):
    d = ws.get_details()
    for key in ("id", "name", "location", "friendlyName", "resourceGroup", "creationTime", "containerRegistry",
                "keyVault", "applicationInsights", "storageAccount", "workspaceid", "sku", "description",
                "tags", "discoveryUrl"):
        assert key in d, key
    assert d["name"] == d["friendlyName"] == ws.name
    assert d["resourceGroup"] == ws.resource_group and d["location"] == "local" and d["sku"] == "Basic"
    assert d["discoveryUrl"] == ws.server_url
    assert re.match(r"\d{4}-\d\d-\d\dT", d["creationTime"])
    assert d["workspaceid"] == ws.get_details()["workspaceid"]  # stable
    assert d["id"].endswith("/workspaces/" + ws.name)
    json.dumps(d)


def test_get_write_config_from_config_round_trip(ws, tmp_path, monkeypatch):
    again = Workspace.get(ws.name, subscription_id=ws.subscription_id, resource_group=ws.resource_group,
                          path=ws.path)
    assert again == ws
    monkeypatch.chdir(os.path.dirname(ws.path))  # the parent: the resource group names the folder
    assert Workspace.get(ws.name, subscription_id="local", resource_group=ws.resource_group) == ws
    with pytest.raises(Exception, match="not 'other'"):
        Workspace.get("other", resource_group=ws.resource_group)

    ws.write_config(path=str(tmp_path / "cfg"))
    written = json.loads((tmp_path / "cfg" / "config.json").read_text())
    assert written["workspace_name"] == ws.name and written["resource_group"] == ws.resource_group
    assert Workspace.from_config(path=str(tmp_path / "cfg")) == ws
    ws.write_config(path=str(tmp_path / "cfg2"), file_name="ws.json")
    assert Workspace.from_config(path=str(tmp_path / "cfg2" / "ws.json")) == ws
    assert Workspace.from_config(path=str(tmp_path / "cfg2"), _file_name="ws.json") == ws
    monkeypatch.chdir(tmp_path / "cfg")
    assert Workspace.from_config() == ws


# -- 8. the workspace's name -> object dicts ---------------------------------------------------
def test_workspace_dicts(ws, tmp_path):
    from kyanite.core import Dataset, Environment, Model
    from kyanite.core.compute import AmlCompute, ComputeTarget
    from kyanite.core.webservice import Webservice
    (tmp_path / "w.bin").write_bytes(b"1")
    Model.register(ws, str(tmp_path / "w.bin"), "dict-model")
    newest = Model.register(ws, str(tmp_path / "w.bin"), "dict-model")
    Experiment(ws, "dict-exp")
    Environment("dict-env").register(ws)
    ComputeTarget.create(ws, "dict-cluster", AmlCompute.provisioning_configuration(max_nodes=1))
    (tmp_path / "d.csv").write_text("a\n1\n")
    ds = Dataset.File.from_files(path=str(tmp_path / "d.csv")).register(ws, "dict-data")

    models = ws.models
    assert isinstance(models["dict-model"], Model) and models["dict-model"].version == newest.version == 2
    assert "dict-exp" in ws.experiments and isinstance(ws.experiments["dict-exp"], Experiment)
    assert isinstance(ws.environments["dict-env"], Environment)
    assert ws.datasets["dict-data"].id == ds.id
    assert "dict-cluster" in ws.compute_targets
    assert "workspaceblobstore" in ws.datastores
    assert ws.webservices == dict((s.name, s) for s in Webservice.list(ws))


# -- 12. get_runs filters ------------------------------------------------------------------------
def test_get_runs_filters_as_v1(ws):
    exp = Experiment(ws, "filters")
    a = exp.start_logging()
    a.tag("stage", "train")
    a.add_properties({"owner": "ana"})
    a.complete()
    b = exp.start_logging()
    b.tag("stage", "test")
    b.tag("mine")
    child = b.child_run()
    child.tag("stage", "train")
    child.complete()
    b.complete()

    def ids(**kw):
        return [r.id for r in exp.get_runs(**kw)]

    assert ids() == [b.id, a.id]  # newest first, top-level only
    assert ids(tags="stage") == [b.id, a.id]  # a key as a str: the runs with that tag
    assert ids(tags="mine") == [b.id]
    assert ids(tags={"stage": "train"}) == [a.id]
    assert ids(tags={"stage": "train"}, include_children=True) == [child.id, a.id]
    assert ids(properties="owner") == [a.id]
    assert ids(properties={"owner": "ana"}) == [a.id]
    assert ids(properties={"owner": "bob"}) == []
    assert ids(type="interactive") == [b.id, a.id] and ids(type="hyperdrive") == []
    assert [r.id for r in Run.list(exp, tags="stage", status="Completed", include_children=True)] == \
        [child.id, b.id, a.id]
    with pytest.raises(Exception, match="tags filters runs by"):
        ids(tags=3)


# -- 13. Docker settings: accepted, kept, not applied ----------------------------------------------
def _user_managed(name):
    from kyanite.core import Environment
    env = Environment(name)
    env.python.user_managed_dependencies = True
    env.python.interpreter_path = sys.executable
    return env


def test_docker_settings_round_trip(ws):
    from kyanite.core import Environment
    from kyanite.core.environment import ContainerRegistry
    env = _user_managed("docker-env")
    d = env.docker
    assert (d.enabled, d.base_image, d.shared_volumes, d.arguments, d.gpu_support) == (False, None, True, [], False)
    d.enabled = True
    d.base_image = "myregistry.azurecr.io/train:1"
    d.base_image_registry.address = "myregistry.azurecr.io"
    d.base_image_registry.username = "me"
    d.base_image_registry.password = "secret"
    d.base_dockerfile = "FROM python:3.11\n"
    d.shared_volumes = False
    d.shm_size = "2g"
    d.arguments = ["--ipc=host"]
    d.gpu_support = True
    env.register(ws)
    got = Environment.get(ws, "docker-env").docker
    assert (got.enabled, got.base_image, got.base_dockerfile, got.shared_volumes, got.shm_size, got.arguments,
            got.gpu_support) == (True, "myregistry.azurecr.io/train:1", "FROM python:3.11\n", False, "2g",
                                 ["--ipc=host"], True)
    assert isinstance(got.base_image_registry, ContainerRegistry)
    assert (got.base_image_registry.address, got.base_image_registry.username) == ("myregistry.azurecr.io", "me")
    assert got.base_image_registry.password is None  # never stored
    assert "secret" not in json.dumps(ws._client.get("/api/environments/docker-env"))


def test_docker_settings_are_logged_as_not_applied(ws, make_script):
    from kyanite.core import ScriptRunConfig
    from kyanite.core.runconfig import DockerConfiguration
    env = _user_managed("docker-run-env")
    env.docker.shm_size = "8g"
    src = make_script("from kyanite.core import Run\nRun.get_context().log('ok', 1)\n")
    run = Experiment(ws, "docker").submit(ScriptRunConfig(
        source_directory=str(src), script="train.py", environment=env,
        docker_runtime_config=DockerConfiguration(use_docker=True)))
    details = run.wait_for_completion(raise_on_error=True)
    log = run.get_details_with_logs()["logFiles"]["user_logs/std_log.txt"]
    assert "Docker settings do not apply (environment.docker.shmSize, docker_runtime_config.useDocker)" in log
    assert details["runDefinition"]["dockerConfiguration"]["useDocker"] is True
    assert run.get_metrics() == {"ok": 1.0}


# -- 5. the v1 module paths samples import ----------------------------------------------------------
def test_authentication_classes_are_accepted_no_ops(ws):
    from kyanite.core.authentication import (
        AzureCliAuthentication, InteractiveLoginAuthentication, MsiAuthentication, ServicePrincipalAuthentication,
    )
    auths = [InteractiveLoginAuthentication(force=True, tenant_id="t"),
             ServicePrincipalAuthentication(tenant_id="t", service_principal_id="id",
                                            service_principal_password="pw"),
             MsiAuthentication(), AzureCliAuthentication()]
    for auth in auths:
        assert auth.get_authentication_header() == {}
        assert Workspace.from_config(path=ws._layout.config_path, auth=auth) == ws
        assert Workspace.get(ws.name, auth=auth, path=ws.path) == ws
    assert "pw" not in repr(vars(auths[1]))


def test_images_are_refused_pointing_at_model_deploy():
    from kyanite.core.image import ContainerImage, Image
    from kyanite.exceptions import UserErrorException
    with pytest.raises(UserErrorException, match=r"builds no container images.*Model\.deploy"):
        ContainerImage.image_configuration(execution_script="score.py", runtime="python")
    with pytest.raises(UserErrorException, match=r"Model\.deploy"):
        Image.create(None, "img", [], None)
    with pytest.raises(UserErrorException, match=r"Model\.deploy"):
        Image(None, name="img")


def test_telemetry_and_resource_configuration(ws, tmp_path):
    from kyanite.core import Model
    from kyanite.core.resource_configuration import ResourceConfiguration
    from kyanite.telemetry import set_diagnostics_collection
    assert set_diagnostics_collection(send_diagnostics=False) is None
    rc = ResourceConfiguration(cpu=1, memory_in_gb=0.5)
    assert rc.serialize() == {"cpu": 1, "memoryInGB": 0.5, "gpu": None}
    (tmp_path / "m.pkl").write_bytes(b"m")
    model = Model.register(ws, str(tmp_path / "m.pkl"), "rc-model", resource_configuration=rc)
    assert model.version == 1


def test_estimator_runs_the_script_with_its_params(ws, make_script):
    from kyanite.train.estimator import Estimator
    src = make_script("""
        import argparse
        from kyanite.core import Run
        p = argparse.ArgumentParser()
        p.add_argument('--a', type=float)
        p.add_argument('--name')
        p.add_argument('--flag', action='store_true')
        args = p.parse_args()
        run = Run.get_context()
        run.log('a', args.a)
        run.log('flag', args.flag)
        print('name', args.name)
    """)
    est = Estimator(source_directory=str(src), entry_script="train.py", compute_target="local",
                    script_params={"--a": 1.5, "--name": "x", "--flag": ""}, user_managed=True,
                    environment_variables={"MODE": "est"}, use_gpu=False)
    run = Experiment(ws, "estimator").submit(est)
    details = run.wait_for_completion(raise_on_error=True)
    assert run.get_metrics() == {"a": 1.5, "flag": 1.0}
    assert details["runDefinition"]["arguments"] == ["--a", "1.5", "--name", "x", "--flag"]
    assert details["runDefinition"]["environment"]["environmentVariables"] == {"MODE": "est"}


def test_framework_estimators_add_the_framework_package(tmp_path):
    from kyanite.core.runconfig import MpiConfiguration
    from kyanite.exceptions import UserErrorException
    from kyanite.train.dnn import Chainer, PyTorch, TensorFlow
    (tmp_path / "t.py").write_text("")
    for cls, pkg in ((TensorFlow, "tensorflow==2.1.*"), (PyTorch, "torch==2.1.*"), (Chainer, "chainer==2.1.*")):
        est = cls(str(tmp_path), entry_script="t.py", script_params={"--lr": 0.1}, framework_version="2.1",
                  pip_packages=["six"], conda_packages=["numpy"], use_gpu=True)
        assert est.arguments == ["--lr", 0.1]
        pip = [d for d in est.conda_dependencies._conda["dependencies"] if isinstance(d, dict)][0]["pip"]
        assert pip[:2] == [pkg, "six"]
        assert est.environment.docker.gpu_support is True
    est = PyTorch(str(tmp_path), entry_script="t.py", node_count=2, distributed_training=MpiConfiguration())
    assert est.distributed_job_config.node_count == 2
    with pytest.raises(UserErrorException, match="entry_script"):
        TensorFlow(str(tmp_path))
    with pytest.raises(UserErrorException, match="script_params must be a dict"):
        TensorFlow(str(tmp_path), entry_script="t.py", script_params=["--a", 1])


# -- 11. Run helpers ----------------------------------------------------------------------------------
def test_create_children(ws):
    parent = Experiment(ws, "children").start_logging()
    kids = parent.create_children(count=3)
    assert len(kids) == 3 and all(isinstance(k, Run) for k in kids)
    for i, kid in enumerate(kids):
        kid.log("i", i)
        kid.complete()
    tagged = parent.create_children(tag_key="fold", tag_values=["a", "b"])
    assert [k.get_tags() for k in tagged] == [{"fold": "a"}, {"fold": "b"}]
    assert sorted(k.id for k in parent.get_children()) == sorted(k.id for k in kids + tagged)
    assert kids[2].get_metrics() == {"i": 2.0}
    from kyanite.exceptions import UserErrorException
    with pytest.raises(UserErrorException, match="count"):
        parent.create_children(count=0)
    with pytest.raises(UserErrorException, match="one value per child"):
        parent.create_children(count=3, tag_key="k", tag_values=["x"])
    parent.complete()


@pytest.fixture(scope="module")
def submitted(ws, tmp_path_factory):
    from kyanite.core import Environment, ScriptRunConfig
    src = tmp_path_factory.mktemp("snap")
    (src / "train.py").write_text("import os\nos.makedirs('logs', exist_ok=True)\n"
                                  "open('logs/extra.log', 'w').write('extra line')\nprint('hello log')\n")
    (src / "util").mkdir()
    (src / "util" / "helper.py").write_text("X = 1\n")
    env = Environment("snap-env")
    env.python.user_managed_dependencies = True
    env.python.interpreter_path = sys.executable
    env.environment_variables = {"K": "v"}
    env.docker.shm_size = "1g"
    run = Experiment(ws, "snapshots").submit(ScriptRunConfig(source_directory=str(src), script="train.py",
                                                             environment=env))
    run.wait_for_completion(raise_on_error=True)
    return run


def test_restore_snapshot(submitted, tmp_path):
    import zipfile
    path = submitted.restore_snapshot(path=str(tmp_path))
    assert path.endswith(".zip") and os.path.dirname(path) == str(tmp_path)
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ["train.py", "util/helper.py"]
        assert z.read("util/helper.py") == b"X = 1\n"
    named = submitted.restore_snapshot(path=str(tmp_path / "out" / "code.zip"))
    assert named == str(tmp_path / "out" / "code.zip") and zipfile.is_zipfile(named)


def test_get_environment(ws, submitted, tmp_path):
    env = submitted.get_environment()
    assert env.name == "snap-env" and env.python.user_managed_dependencies
    assert env.environment_variables == {"K": "v"} and env.docker.shm_size == "1g"
    from kyanite.core import Environment, ScriptRunConfig
    reg = Environment("snap-registered")
    reg.python.user_managed_dependencies = True
    reg.python.interpreter_path = sys.executable
    reg.register(ws)
    (tmp_path / "t.py").write_text("pass\n")
    run = Experiment(ws, "snapshots").submit(ScriptRunConfig(source_directory=str(tmp_path), script="t.py",
                                                             environment=Environment.get(ws, "snap-registered")))
    run.wait_for_completion(raise_on_error=True)
    got = run.get_environment()
    assert (got.name, got.version) == ("snap-registered", "1")


def test_get_all_logs(submitted, tmp_path):
    paths = submitted.get_all_logs(destination=str(tmp_path))
    rel = sorted(os.path.relpath(p, str(tmp_path)).replace(os.sep, "/") for p in paths)
    assert "user_logs/std_log.txt" in rel and "logs/extra.log" in rel
    with open(os.path.join(str(tmp_path), "user_logs", "std_log.txt")) as f:
        assert "hello log" in f.read()
    with open(os.path.join(str(tmp_path), "logs", "extra.log")) as f:
        assert f.read() == "extra line"


def test_display_name_is_settable(ws):
    run = Experiment(ws, "names").start_logging()
    assert run.display_name == run.id
    run.display_name = "my first run"
    assert run.display_name == "my first run"
    assert Run.get(ws, run.id).display_name == "my first run"
    assert Run.get(ws, run.id).get_details()["displayName"] == "my first run"
    from kyanite.exceptions import UserErrorException
    with pytest.raises(UserErrorException, match="display_name"):
        run.display_name = ""
    with pytest.raises(UserErrorException, match="display_name"):
        run.display_name = "x" * 100000
    run.complete()


def test_description_is_settable(ws):
    run = Experiment(ws, "names").start_logging()
    assert run.description is None and run.get_details()["description"] is None
    run.description = "lr sweep baseline"
    assert run.description == "lr sweep baseline"
    assert Run.get(ws, run.id).description == "lr sweep baseline"
    assert Run.get(ws, run.id).get_details()["description"] == "lr sweep baseline"
    from kyanite.exceptions import UserErrorException
    with pytest.raises(UserErrorException, match="description"):
        run.description = "x" * 10001
    with pytest.raises(UserErrorException, match="description"):
        run.description = 5
    assert Run.get(ws, run.id).description == "lr sweep baseline"
    run.description = None
    assert run.description is None and Run.get(ws, run.id).description is None
    run.complete()
