"""What a run or scoring environment imports from kyanite works on every Python 3.6-3.13
here, against the real server (tests/runtime/test_runtime_pythons.py checks the offline
path; tests/serving the scoring server on 3.6).

For each interpreter under ``$(pyenv root)/versions/3.*``, with only the shim on its path:

- ``Run.get_context()`` inside a run speaks REST to the workspace server: scalars, lists,
  rows, tags, an uploaded file and an image arrive and read back through the SDK;
- the scoring shim imports (``kyanite.serving.server``, ``from kyanite.core.model import
  Model``) and ``Model.get_model_path`` finds a model in the deployment layout;
- none of the shim's modules uses what Python 3.6 lacks (``dataclasses``,
  ``from __future__ import annotations``); every one compiles on every interpreter.
"""

import ast
import glob
import os
import subprocess
import sys

import pytest

from kyanite.core import Experiment
from kyanite.runtime.host import RUNTIME_FILES, Host
from kyanite.serving.shim import SERVING_FILES, build_shim


def _pyenv_pythons():
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = sorted(glob.glob(os.path.join(root, "versions", "3.*", "bin", "python3")),
                   key=lambda p: tuple(int(x) for x in p.split(os.sep)[-3].split(".")))
    return found or [sys.executable]


PYTHONS = _pyenv_pythons()
IDS = [p.split(os.sep)[-3] if "versions" in p else "current" for p in PYTHONS]
SRC = os.path.dirname(os.path.dirname(os.path.abspath(__import__("kyanite").__file__)))


def _bare_env(**extra):
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def run_shim(tmp_path_factory):
    old = os.environ.get("KYANITE_CACHE_DIR")
    os.environ["KYANITE_CACHE_DIR"] = str(tmp_path_factory.mktemp("run-shim"))
    try:
        return Host("x", client=None).runtime_shim()
    finally:
        if old is None:
            os.environ.pop("KYANITE_CACHE_DIR", None)
        else:
            os.environ["KYANITE_CACHE_DIR"] = old


@pytest.fixture(scope="module")
def serving_shim(tmp_path_factory):
    return build_shim(str(tmp_path_factory.mktemp("serving-shim")))


def test_shim_modules_use_nothing_python36_lacks():
    files = [os.path.join(SRC, "kyanite", f) for f in RUNTIME_FILES + SERVING_FILES]
    for path in files:
        tree = ast.parse(open(path).read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module == "__future__" and any(a.name == "annotations" for a in node.names)), path
                assert node.module != "dataclasses", path
            if isinstance(node, ast.Import):
                assert "dataclasses" not in [a.name for a in node.names], path
            assert not isinstance(node, ast.NamedExpr), "%s:%d: walrus (3.8+)" % (path, node.lineno)


ONLINE = r"""
import os, sys
from kyanite.core import Run
run = Run.get_context()
assert type(run).__name__ == "Run", type(run)
for i in range(5):
    run.log("loss", 1.0 / (i + 1))
run.log("python_minor", sys.version_info[1])
run.log_list("accs", [0.5, 0.75])
run.log_row("table", epoch=1, acc=0.5)
run.tag("python", "%d.%d" % sys.version_info[:2])
open("note.txt", "w").write("from python %d.%d" % sys.version_info[:2])
run.upload_file("outputs/note.txt", "note.txt")
png = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5f0000000049454e44ae426082")
open("dot.png", "wb").write(png)
run.log_image("dot", path="dot.png")
run.flush()
print("ok", sys.version.split()[0])
"""


@pytest.mark.parametrize("python", PYTHONS, ids=IDS)
def test_run_context_speaks_rest_on_every_python(ws, run_shim, python, tmp_path):
    run = Experiment(ws, "every-python").start_logging()
    client = ws._client
    env = _bare_env(PYTHONPATH=run_shim, KYANITE_RUN_ID=run.id, KYANITE_SERVER_URL=client.base_url,
                    KYANITE_TOKEN=client.token or "", KYANITE_EXPERIMENT="every-python")
    proc = subprocess.run([python, "-s", "-c", ONLINE], env=env, cwd=str(tmp_path), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=120)
    assert proc.returncode == 0, proc.stdout
    minor = int(proc.stdout.split("ok ")[1].split(".")[1])
    run.complete()
    metrics = run.get_metrics()
    assert metrics["loss"] == [1.0, 0.5, 1.0 / 3, 0.25, 0.2]
    assert metrics["python_minor"] == float(minor)
    assert metrics["accs"] == [0.5, 0.75]
    assert metrics["table"] == {"epoch": [1], "acc": [0.5]}
    assert "dot" in metrics
    assert run.get_tags()["python"] == "3.%d" % minor
    assert "outputs/note.txt" in run.get_file_names()


SCORING = r"""
import os, sys
import kyanite.serving.server
from kyanite.core.model import Model
from kyanite.core import Model as Model2, Run
path = Model.get_model_path("keras-mlp-mnist")
assert path == Model2.get_model_path("keras-mlp-mnist", version=2), path
print("model at", os.path.relpath(path, os.environ["KYANITE_MODELS_ROOT"]))
print("third-party:", [m for m in ("requests", "yaml", "psutil", "fastapi", "pydantic", "numpy") if m in sys.modules])
"""


@pytest.mark.parametrize("python", PYTHONS, ids=IDS)
def test_scoring_shim_imports_on_every_python(serving_shim, python, tmp_path):
    root = tmp_path / "models"
    for version in (1, 2):
        (root / "keras-mlp-mnist" / str(version) / "model").mkdir(parents=True)
        (root / "keras-mlp-mnist" / str(version) / "model" / "model.json").write_text("{}")
    env = _bare_env(PYTHONPATH=serving_shim, KYANITE_MODELS_ROOT=str(root))
    proc = subprocess.run([python, "-s", "-c", SCORING], env=env, cwd=str(tmp_path), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=120)
    assert proc.returncode == 0, proc.stdout
    assert "model at keras-mlp-mnist/2/model" in proc.stdout
    assert "third-party: []" in proc.stdout
