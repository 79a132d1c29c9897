"""`kyanite dataset|model|endpoint`, run as the real console script against a real server.

One workspace for the module, made with `kyanite init`; the endpoint is deployed through
the SDK (a user-managed environment: this interpreter, nothing built) and then driven
from the CLI. The service is deleted and the server stopped at the end whatever happens.
"""

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kyanite_testing import stop_workspace

_SCRIPT = Path(sys.executable).with_name("kyanite")
KYANITE = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "kyanite.cli.main"]

SCORE = """
    import json
    from kyanite.core import Model

    def init():
        global factor
        with open(Model.get_model_path("cli-model")) as f:
            factor = float(f.read())
        print("cli score init done, factor", factor, flush=True)

    def run(raw_data):
        data = json.loads(raw_data)
        return [x * factor for x in data["data"]]
"""


def kyanite(*args, cwd, timeout=60):
    proc = subprocess.run(KYANITE + [str(a) for a in args], cwd=str(cwd), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def ok(proc, code=0):
    assert proc.returncode == code, "exit %s\nstdout:\n%s\nstderr:\n%s" % (
        proc.returncode, proc.stdout, proc.stderr)
    return proc


def fails(proc, *needles):
    ok(proc, 2)
    assert proc.stderr.startswith("error: "), proc.stderr
    for n in needles:
        assert n in proc.stderr, proc.stderr
    return proc


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli-dm-project")
    data = path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.csv").write_text("x,y\n1,2\n")
    (data / "sub" / "b.txt").write_text("hello dataset\n")
    (path / "model.txt").write_text("3\n")
    try:
        ok(kyanite("init", "--name", "cli-dm-test", cwd=path))
        yield path
    finally:
        stop_workspace(path)


@pytest.fixture(scope="module")
def ws(project):
    from kyanite.core import Workspace
    return Workspace.from_config(path=str(project / ".kyanite" / "config.json"))


# -- datasets ------------------------------------------------------------------------------
def test_dataset_register_list_show_download(project, tmp_path):
    out = ok(kyanite("dataset", "register", "cli-data", "data", "--description", "two small files",
                     "--tag", "kind=test", cwd=project)).stdout
    assert re.search(r"Registered dataset 'cli-data' version 1: 2 file\(s\)", out), out

    out = ok(kyanite("dataset", "list", cwd=project)).stdout
    header, *rows = out.splitlines()
    assert header.split()[:5] == ["NAME", "VERSION", "KIND", "FILES", "SIZE"], out
    row = [r for r in rows if r.startswith("cli-data ")]
    assert len(row) == 1 and row[0].split()[1:4] == ["1", "file", "2"], out
    assert header.index("VERSION") == row[0].index("1"), out  # aligned
    listed = json.loads(ok(kyanite("dataset", "list", "--json", cwd=project)).stdout)
    assert [d["name"] for d in listed] == ["cli-data"]

    out = ok(kyanite("dataset", "show", "cli-data", cwd=project)).stdout
    assert re.search(r"Version:\s+1", out) and re.search(r"Description:\s+two small files", out), out
    assert re.search(r"Tags:\s+kind=test", out), out
    assert "/a.csv" in out and "/sub/b.txt" in out, out
    shown = json.loads(ok(kyanite("dataset", "show", "cli-data", "--json", cwd=project)).stdout)
    assert sorted(f["path"] for f in shown["files"]) == ["a.csv", "sub/b.txt"]

    dest = tmp_path / "dl"
    out = ok(kyanite("dataset", "download", "cli-data", "--output", dest, cwd=project)).stdout
    assert sorted(out.split()) == ["a.csv", os.path.join("sub", "b.txt")], out
    assert (dest / "a.csv").read_text() == "x,y\n1,2\n"
    assert (dest / "sub" / "b.txt").read_text() == "hello dataset\n"
    fails(kyanite("dataset", "download", "cli-data", "--output", dest, cwd=project), "exist in")
    ok(kyanite("dataset", "download", "cli-data", "--output", dest, "--overwrite", cwd=project))

    # a changed folder registers as version 2; version 1 stays reachable
    (project / "data" / "c.txt").write_text("third\n")
    out = ok(kyanite("dataset", "register", "cli-data", "data", cwd=project)).stdout
    assert "version 2: 3 file(s)" in out, out
    out = ok(kyanite("dataset", "show", "cli-data", "--version", "1", cwd=project)).stdout
    assert re.search(r"Version:\s+1", out) and re.search(r"Versions:\s+1, 2", out) and "c.txt" not in out, out


def test_dataset_errors(project):
    fails(kyanite("dataset", "show", "no-such-data", cwd=project), "no-such-data")
    fails(kyanite("dataset", "download", "no-such-data", cwd=project), "no-such-data")
    fails(kyanite("dataset", "register", "bad", "does-not-exist", cwd=project), "does-not-exist")
    fails(kyanite("dataset", "register", "bad", "data", "--tag", "novalue", cwd=project), "KEY=VALUE")


# -- models --------------------------------------------------------------------------------
def test_model_register_list_show_download(project, tmp_path):
    out = ok(kyanite("model", "register", "cli-model", "model.txt", "--tag", "framework=none",
                     "--description", "a factor", cwd=project)).stdout
    assert "Registered model 'cli-model' version 1 (id cli-model:1)" in out, out

    out = ok(kyanite("model", "list", cwd=project)).stdout
    header, *rows = out.splitlines()
    assert header.split()[:4] == ["NAME", "VERSION", "ASSET", "SIZE"], out
    row = [r for r in rows if r.startswith("cli-model ")]
    assert len(row) == 1 and row[0].split()[1:3] == ["1", "model.txt"], out
    listed = json.loads(ok(kyanite("model", "list", "--name", "cli-model", "--json", cwd=project)).stdout)
    assert [(m["name"], m["version"]) for m in listed] == [("cli-model", 1)]

    out = ok(kyanite("model", "show", "cli-model", cwd=project)).stdout
    assert re.search(r"Id:\s+cli-model:1", out) and re.search(r"Tags:\s+framework=none", out), out
    assert re.search(r"Description:\s+a factor", out), out
    assert json.loads(ok(kyanite("model", "show", "cli-model:1", "--json", cwd=project)).stdout)["version"] == 1

    out = ok(kyanite("model", "download", "cli-model", "--output", tmp_path, cwd=project)).stdout
    assert out.strip() == str(tmp_path / "model.txt")
    assert (tmp_path / "model.txt").read_text() == "3\n"
    fails(kyanite("model", "download", "cli-model", "--output", tmp_path, cwd=project), "already exists")
    ok(kyanite("model", "download", "cli-model", "--output", tmp_path, "--overwrite", cwd=project))


def test_model_errors(project):
    fails(kyanite("model", "show", "no-such-model", cwd=project), "no-such-model")
    fails(kyanite("model", "show", "cli-model", "--version", "99", cwd=project))
    fails(kyanite("model", "download", "no-such-model", cwd=project), "no-such-model")
    fails(kyanite("model", "register", "m", "missing-file.pkl", cwd=project), "does not exist")


# -- endpoints -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def service(project, ws):
    from kyanite.core import Environment, Model
    from kyanite.core.model import InferenceConfig
    from kyanite.core.webservice import LocalWebservice, Webservice

    src = project / "svc"
    src.mkdir()
    (src / "score.py").write_text(textwrap.dedent(SCORE))
    env = Environment("current-python")
    env.python.user_managed_dependencies = True
    env.python.interpreter_path = sys.executable
    models = Model.list(ws, name="cli-model")
    model = models[0] if models else Model.register(ws, str(project / "model.txt"), "cli-model")
    inference = InferenceConfig(entry_script="score.py", source_directory=str(src), environment=env)
    config = LocalWebservice.deploy_configuration(auth_enabled=True)
    try:
        svc = Model.deploy(ws, "cli-svc", [model], inference, config)
        svc.wait_for_deployment(timeout_sec=60)
        assert svc.state == "Healthy", svc.get_logs()
        yield svc
    finally:
        for s in Webservice.list(ws):
            try:
                s.delete()
            except Exception:
                pass


def test_endpoint_list_show_keys_invoke_logs_delete(project, service, tmp_path):
    out = ok(kyanite("endpoint", "list", cwd=project)).stdout
    header, *rows = out.splitlines()
    assert header.split()[:3] == ["NAME", "TYPE", "STATE"], out
    row = [r for r in rows if r.startswith("cli-svc ")]
    assert len(row) == 1 and "Healthy" in row[0] and service.scoring_uri in row[0], out
    assert header.index("STATE") == row[0].index("Healthy"), out
    assert [s["name"] for s in json.loads(ok(kyanite("endpoint", "list", "--json", cwd=project)).stdout)] \
        == ["cli-svc"]

    out = ok(kyanite("endpoint", "show", "cli-svc", cwd=project)).stdout
    assert re.search(r"State:\s+Healthy", out) and re.search(r"Auth:\s+key", out), out
    assert re.search(r"Scoring URI:\s+%s" % re.escape(service.scoring_uri), out), out
    assert re.search(r"Models:\s+cli-model:\d+", out), out
    assert json.loads(ok(kyanite("endpoint", "show", "cli-svc", "--json", cwd=project)).stdout)["state"] \
        == "Healthy"

    out = ok(kyanite("endpoint", "keys", "cli-svc", cwd=project)).stdout
    key1, key2 = service.get_keys()
    assert re.search(r"Primary:\s+%s" % re.escape(key1), out), out
    assert re.search(r"Secondary:\s+%s" % re.escape(key2), out), out

    out = ok(kyanite("endpoint", "invoke", "cli-svc", "--data", '{"data": [1, 2]}', cwd=project)).stdout
    assert json.loads(out) == [3.0, 6.0]
    body = tmp_path / "body.json"
    body.write_text(json.dumps({"data": [10]}))
    out = ok(kyanite("endpoint", "invoke", "cli-svc", "--file", body, cwd=project)).stdout
    assert json.loads(out) == [30.0]
    fails(kyanite("endpoint", "invoke", "cli-svc", "--data", "not json", cwd=project),
          "cli-svc answered 400", "JSONDecodeError")

    out = ok(kyanite("endpoint", "logs", "cli-svc", cwd=project)).stdout
    assert "cli score init done, factor 3.0" in out, out

    out = ok(kyanite("endpoint", "delete", "cli-svc", cwd=project)).stdout
    assert "Deleted service cli-svc" in out
    out = ok(kyanite("endpoint", "list", cwd=project)).stdout
    assert "cli-svc" not in out and "No services deployed" in out, out


def test_endpoint_errors(project):
    for cmd in (["show"], ["logs"], ["keys"], ["delete"], ["invoke", "--data", "{}"]):
        fails(kyanite("endpoint", cmd[0], "no-such-svc", *cmd[1:], cwd=project), "no-such-svc")
    proc = kyanite("endpoint", "invoke", "x", cwd=project)
    assert proc.returncode == 2 and "--data" in proc.stderr, proc.stderr  # usage error
