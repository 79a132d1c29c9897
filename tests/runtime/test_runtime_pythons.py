"""The in-script runtime is standard library only and works on every Python from 3.6 on.

Each interpreter under ``$(pyenv root)/versions/3.*`` imports the runtime from a copy laid
out exactly as the run host's shim (``Host.runtime_shim``), with nothing else on its path.
"""

import glob
import os
import subprocess
import sys

import pytest

from kyanite.runtime.host import RUNTIME_FILES, Host
from kyanite.runtime.shim import GENERATED


def _pyenv_root():
    try:
        return subprocess.check_output(["pyenv", "root"], universal_newlines=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")


def _pythons():
    found = sorted(glob.glob(os.path.join(_pyenv_root(), "versions", "3.*", "bin", "python3")))
    return found or [sys.executable]


PYTHONS = _pythons()


@pytest.fixture(scope="module")
def shim(tmp_path_factory, monkeypatch_module):
    cache = tmp_path_factory.mktemp("shim-cache")
    monkeypatch_module.setenv("KYANITE_CACHE_DIR", str(cache))
    host = Host("run-x", client=None)
    root = host.runtime_shim()
    assert root.startswith(str(cache))
    assert host.runtime_shim() == root  # made once
    return root


def test_oldest_python_is_among_them():
    versions = [p.split(os.sep)[-3] for p in PYTHONS]
    if not any(v.startswith("3.6.") for v in versions):
        pytest.skip("no Python 3.6 under $(pyenv root)/versions: the oldest supported runtime is not "
                    "checked here (checked: %s)" % ", ".join(versions))


def test_shim_layout(shim):
    files = sorted(os.path.relpath(os.path.join(d, f), shim)
                   for d, _, fs in os.walk(shim) for f in fs if not f.endswith(".pyc"))
    assert files == sorted([os.path.join("kyanite", f) for f in RUNTIME_FILES] +
                           [os.path.join("kyanite", *f.split("/")) for f in GENERATED])


CHECK = r"""
import compileall, sys
ok = compileall.compile_dir(sys.argv[1], quiet=1, force=True, legacy=False)
assert ok, "compile failed"
from kyanite.core import Run, RunStatus, VERSION
from kyanite.core.run import Run as V1PathRun
from kyanite.core.model import Model
assert V1PathRun is Run and VERSION
from kyanite.exceptions import UserErrorException
import kyanite.runtime._http, kyanite.runtime._sinks
run = Run.get_context()
print("offline", type(run).__name__, run.get_status())
run.log("accuracy", 0.5)
run.log_list("losses", [1, 2])
try:
    run.log("accuracy", None)
except UserErrorException as e:
    print("refused:", e.message.split(".")[0])
print("third-party:", [m for m in ("requests", "yaml", "psutil", "fastapi", "pydantic") if m in sys.modules])
"""


@pytest.mark.parametrize("python", PYTHONS, ids=[p.split(os.sep)[-3] for p in PYTHONS])
def test_runtime_imports_and_logs_offline(shim, python, tmp_path):
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": shim, "PYTHONNOUSERSITE": "1",
           "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([python, "-s", "-c", CHECK, os.path.join(shim, "kyanite")],
                          env=env, cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=120)
    out = proc.stdout
    assert proc.returncode == 0, out
    assert "offline _OfflineRun Running" in out
    assert "Attempted to log scalar metric accuracy:\n0.5" in out
    assert "Attempted to log scalar metric losses:\n2\n" in out  # ints stay ints
    assert "refused: Metric 'accuracy': value None is neither a number nor text" in out
    assert "third-party: []" in out
