"""A run's script starts from a clean environment (kyanite.runtime.environ): a server
started from a notebook kernel passes neither the kernel's MPLBACKEND (which breaks
``import matplotlib.pyplot`` outside the kernel) nor any other variable of its own to the
script; the run's variables and the environment's environment_variables do reach it."""

import json
import sys

from kyanite.core import Environment, Experiment, ScriptRunConfig
from kyanite.runtime.environ import host_environment, script_environment

SERVER_ENV = {"MPLBACKEND": "module://matplotlib_inline.backend_inline", "SOME_SECRET": "x",
              "UV_SOME_SETTING": "kept-for-the-host", "LC_TIME": "C"}

SCRIPT = """
import json, os, sys
print("ENV=" + json.dumps(dict(os.environ)))
import matplotlib
print("BACKEND=" + matplotlib.get_backend())
"""


def test_script_gets_an_allow_listed_environment(ws, tmp_path):
    env = Environment("clean-env")
    env.python.user_managed_dependencies = True
    env.python.interpreter_path = sys.executable
    env.environment_variables = {"MY_FLAG": "on", "DATA_DIR": "/data"}
    (tmp_path / "show_env.py").write_text(SCRIPT)
    run = Experiment(ws, "run-environment").submit(ScriptRunConfig(
        source_directory=str(tmp_path), script="show_env.py", environment=env))
    run.wait_for_completion(raise_on_error=True)
    log = run.get_details_with_logs()["logFiles"]
    text = "\n".join(log.values())
    seen = json.loads(next(line[4:] for line in text.splitlines() if line.startswith("ENV=")))
    assert "SOME_SECRET" not in seen and "UV_SOME_SETTING" not in seen
    assert seen["MPLBACKEND"] == "Agg"  # the run's default, not the notebook's backend
    assert "backend=agg" in text.lower()
    assert seen["MY_FLAG"] == "on" and seen["DATA_DIR"] == "/data"
    assert seen["KYANITE_RUN_ID"] == run.id and seen["KYANITE_SERVER_URL"]
    assert seen["LC_TIME"] == "C"
    import os
    assert seen["PATH"].split(os.pathsep)[0] == os.path.dirname(sys.executable)
    unexpected = [k for k in seen if k not in script_environment(dict((k, "") for k in seen)) and not k.startswith(
        ("KYANITE_", "MLFLOW_", "OMP_", "MKL_", "OPENBLAS_")) and k not in (
        "MY_FLAG", "DATA_DIR", "PYTHONPATH", "PYTHONUNBUFFERED", "AZUREML_RUN_ID", "MPLBACKEND",
        "KERAS_BACKEND", "LC_CTYPE", "PWD", "SHLVL", "_")]
    assert not unexpected, unexpected


def test_allow_lists():
    source = {"PATH": "/opt/x/bin:/usr/bin", "HOME": "/home/u", "MPLBACKEND": "inline", "SOME_SECRET": "x",
              "UV_CACHE_DIR": "/c", "KYANITE_CACHE_DIR": "/k", "PYTHONPATH": "/p", "HTTPS_PROXY": "http://p:3128",
              "TZ": "UTC", "CUDA_VISIBLE_DEVICES": "0", "TARGET_ONLY": "t"}
    host = host_environment(source)
    assert host == dict((k, source[k]) for k in ("PATH", "HOME", "UV_CACHE_DIR", "KYANITE_CACHE_DIR", "PYTHONPATH",
                                                  "HTTPS_PROXY", "TZ", "CUDA_VISIBLE_DEVICES"))
    script = script_environment(source, "/envs/e1/bin/python", keep=("TARGET_ONLY",))
    assert script["PATH"].startswith("/envs/e1/bin:") and "/opt/x/bin" not in script["PATH"]
    assert set(script) == {"PATH", "HOME", "KYANITE_CACHE_DIR", "HTTPS_PROXY", "TZ", "CUDA_VISIBLE_DEVICES",
                           "TARGET_ONLY"}
