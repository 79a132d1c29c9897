"""Secrets on disk: the workspace's state is its owner's alone (0700 folders, 0600 files),
and a deployment's endpoint keys are readable only through the keys routes: records,
listings, logs, the scoring process's config, command line and environment hold none
(the process checks keys against hashes)."""

import http.client
import json
import os
import stat
import textwrap

import psutil
import pytest

from kyanite.core import Experiment, Model, ScriptRunConfig, Workspace
from kyanite.core._server import stop_server
from kyanite.core.model import InferenceConfig
from kyanite.core.webservice import AciWebservice, Webservice
from kyanite.serving.server import key_hash

SCORE = """
    import json

    def init():
        pass

    def run(raw):
        return {"n": len(json.loads(raw)["data"])}
"""


@pytest.fixture(scope="module", autouse=True)
def remove_services(ws):
    yield
    for svc in Webservice.list(Workspace(path=ws.path)):
        try:
            svc.delete()
        except Exception:
            pass


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def _post(uri, key):
    host, port = uri.split("//")[1].split("/")[0].split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=10)
    c.request("POST", "/score", json.dumps({"data": [1, 2]}), {"Authorization": "Bearer " + key})
    r = c.getresponse()
    r.read()
    return r.status


@pytest.fixture(scope="module")
def service(ws, tmp_path_factory, current_env):
    src = tmp_path_factory.mktemp("secret-src")
    (src / "score.py").write_text(textwrap.dedent(SCORE))
    svc = Model.deploy(ws, "secret-svc", [], InferenceConfig(entry_script="score.py", source_directory=str(src),
                                                              environment=current_env),
                       AciWebservice.deploy_configuration(auth_enabled=True))
    svc.wait_for_deployment()
    return svc


def test_workspace_files_are_owner_only_after_a_run_and_a_deployment(ws, service, make_script, current_env):
    src = make_script("print('hello')\n")
    run = Experiment(ws, "modes").submit(ScriptRunConfig(source_directory=str(src), script="train.py",
                                                         environment=current_env))
    assert run.wait_for_completion()["status"] == "Completed"
    root = ws._layout.root
    assert _mode(root) == 0o700
    for d in ("artifacts", "hosts", "deployments"):
        assert _mode(os.path.join(root, d)) == 0o700, d
    for f in ("token", "kyanite.db", "kyanite.db-wal", "kyanite.db-shm", "server.json", "server.log",
              "workspace.json", "config.json"):
        assert _mode(os.path.join(root, f)) == 0o600, f
    assert _mode(os.path.join(root, "deployments", "secret-svc", "score.log")) == 0o600
    world = [os.path.join(d, n) for d, dirs, files in os.walk(root) for n in dirs + files
             if not os.path.islink(os.path.join(d, n)) and _mode(os.path.join(d, n)) & 0o007]
    # anything under a 0700 folder is out of others' reach anyway; the folder itself is the gate
    assert _mode(root) & 0o077 == 0, world


def test_keys_only_through_the_keys_route(ws, service):
    key1, key2 = service.get_keys()
    client = ws._client
    record = json.dumps(client.get("/api/deployments/secret-svc"))
    listing = json.dumps(client.get("/api/deployments"))
    for text in (record, listing):
        assert key1 not in text and key2 not in text
    # the scoring process: config, files, command line and environment hold hashes only
    ddir = os.path.join(ws._layout.root, "deployments", "secret-svc")
    files = [os.path.join(d, n) for d, _, names in os.walk(ddir) for n in names
             if os.sep + "src" + os.sep not in d + os.sep]
    for path in files:
        with open(path, "rb") as f:
            data = f.read()
        assert key1.encode() not in data and key2.encode() not in data, path
    gen = service._record["generation"]
    with open(os.path.join(ddir, "gen-%d" % gen, "config.json")) as f:
        cfg = json.load(f)
    assert "keys" not in cfg and cfg["keyHashes"] == [key_hash(key1), key_hash(key2)]
    proc = psutil.Process(service._record["pid"])
    spawn = " ".join(proc.cmdline()) + json.dumps(proc.environ())
    assert key1 not in spawn and key2 not in spawn
    assert key1 not in service.get_logs() and key1 not in open(ws._layout.log_path).read()
    # the keys still work; a regenerated one replaces the old one at once
    assert _post(service.scoring_uri, key1) == 200 and _post(service.scoring_uri, key2) == 200
    assert _post(service.scoring_uri, key_hash(key1)) == 401  # a hash is not a key
    service.regen_key("Primary")
    new1, same2 = service.get_keys()
    assert new1 != key1 and same2 == key2
    assert _post(service.scoring_uri, key1) == 401 and _post(service.scoring_uri, new1) == 200
    with open(os.path.join(ddir, "gen-%d" % gen, "config.json")) as f:
        text = f.read()
    assert new1 not in text and key_hash(new1) in text


def test_an_existing_workspace_is_fixed_at_server_start(ws, service, wait_until):
    root = ws._layout.root
    key1, key2 = service.get_keys()
    stop_server(ws._layout)
    os.chmod(root, 0o755)
    for d in ("artifacts", "hosts", "deployments"):
        os.chmod(os.path.join(root, d), 0o755)
    for f in ("token", "kyanite.db", "server.log", "workspace.json"):
        os.chmod(os.path.join(root, f), 0o644)
    # a scoring process started by an older server, its config holding the keys in plaintext
    pid = service._record["pid"]
    cfg_path = os.path.join(root, "deployments", "secret-svc", "gen-%d" % service._record["generation"],
                            "config.json")
    with open(cfg_path) as f:
        cfg = json.load(f)
    cfg["keys"] = [key1, key2]
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    ws2 = Workspace(path=ws.path)  # starts the server again
    svc = Webservice(ws2, "secret-svc")
    svc.wait_for_deployment()
    assert _mode(root) == 0o700
    for d in ("artifacts", "hosts", "deployments"):
        assert _mode(os.path.join(root, d)) == 0o700, d
    for f in ("token", "kyanite.db", "kyanite.db-wal", "server.log", "workspace.json", "server.json"):
        assert _mode(os.path.join(root, f)) == 0o600, f
    assert svc._record["pid"] != pid  # started again, so the plaintext keys leave its config
    with open(cfg_path) as f:
        text = f.read()
    assert key1 not in text and key2 not in text
    assert _post(svc.scoring_uri, key1) == 200
