"""EnvBuilder with real uv and real virtual environments (no mocks).

Every test uses its own cache dir; uv's download cache stays the user default
so reruns are fast.  Needs PyPI (or a warm uv cache) for six.
"""

import base64
import hashlib
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
from pathlib import Path

import pytest

from kyanite.envs import (
    MARKER_NAME,
    EnvBuildError,
    EnvBuilder,
    EnvSpec,
    EnvSpecError,
    find_pythons,
    parse_conda_yaml,
)


def _have(major_minor):
    return any(i.version[:2] == major_minor for i in find_pythons())


needs_311 = pytest.mark.skipif(not _have((3, 11)), reason="needs a Python 3.11 interpreter")
needs_36 = pytest.mark.skipif(not _have((3, 6)), reason="needs a Python 3.6 interpreter")

SIX_311 = EnvSpec(python="3.11", pip=["six==1.16.0"])


class Log(list):
    def __call__(self, line):
        self.append(line)

    def text(self):
        return "\n".join(self)


@pytest.fixture(scope="module")
def six_env(tmp_path_factory):
    cache = tmp_path_factory.mktemp("kyanite-cache")
    log = Log()
    built = EnvBuilder(cache).ensure(SIX_311, log=log)
    return cache, built, log


@needs_311
def test_build_small_env(six_env):
    cache, built, log = six_env
    assert built.cached is False
    assert built.resolved == {"six": "1.16.0"}
    assert built.python_version.startswith("3.11.")
    assert built.path == cache / "envs" / SIX_311.hash()
    assert built.python == str(built.path / "bin" / "python")
    assert (built.path / MARKER_NAME).is_file()
    marker = json.loads((built.path / MARKER_NAME).read_text())
    assert marker["resolved"] == {"six": "1.16.0"} and marker["build_seconds"] > 0
    text = log.text()
    assert "python=3.11 requested: using Python 3.11." in text
    assert "uv pip install:" in text and "six==1.16.0" in text  # uv output streamed
    assert f"environment {SIX_311.hash()[:12]} built in " in text
    out = subprocess.run([built.python, "-c", "import six, sys; print(six.__version__, sys.prefix)"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["1.16.0", str(built.path)]


@needs_311
def test_bytecode_compiled_at_build_time(six_env):
    _, built, _ = six_env
    pycs = list(built.path.glob("lib/python3.11/site-packages/__pycache__/six.cpython-311*.pyc"))
    assert pycs, "six was not byte-compiled during the build"


@needs_311
def test_second_ensure_is_cached_and_fast(six_env):
    cache, built, _ = six_env
    builder = EnvBuilder(cache)  # fresh instance: nothing held in memory
    log = Log()
    t0 = time.perf_counter()
    again = builder.ensure(SIX_311, log=log)
    elapsed = time.perf_counter() - t0
    assert again.cached is True
    assert again.python == built.python and again.resolved == built.resolved
    assert log == [f"[env {SIX_311.hash()[:12]}] reused cached environment {SIX_311.hash()[:12]}"]
    assert elapsed < 0.05, f"cached ensure took {elapsed * 1000:.1f} ms"


_WORKER = textwrap.dedent("""
    import json, os, sys, time
    from kyanite.envs import EnvBuilder, EnvSpec
    cache, go = sys.argv[1], sys.argv[2]
    while not os.path.exists(go):
        time.sleep(0.002)
    lines = []
    env = EnvBuilder(cache).ensure(EnvSpec(python="3.11", pip=["six==1.16.0"]), log=lines.append)
    print(json.dumps({"cached": env.cached, "python": env.python, "log": lines}))
""")


@needs_311
def test_two_processes_build_once(tmp_path):
    go = tmp_path / "go"
    cache = tmp_path / "cache"
    procs = [
        subprocess.Popen([sys.executable, "-c", _WORKER, str(cache), str(go)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    time.sleep(1.0)  # let both interpreters start and import kyanite
    go.touch()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    assert sorted(r["cached"] for r in results) == [False, True]
    assert results[0]["python"] == results[1]["python"]
    builder_log = next(r["log"] for r in results if not r["cached"])
    waiter_log = next(r["log"] for r in results if r["cached"])
    assert sum("built in" in line for line in builder_log) == 1
    assert not any("uv " in line for line in waiter_log)
    assert any("waiting" in line for line in waiter_log), waiter_log
    assert waiter_log[-1].endswith("reused cached environment " + SIX_311.hash()[:12])


@needs_311
def test_threads_build_once(tmp_path):
    builder = EnvBuilder(tmp_path)
    results, errors = [], []

    def work():
        try:
            results.append(builder.ensure(SIX_311, log=None))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(r.cached for r in results) == [False, True, True]


@needs_311
@pytest.mark.parametrize("req, needle", [
    ("nonexistent-package-xyz==1.0", "nonexistent-package-xyz"),
    ("numpy==99.0", "numpy==99.0"),
])
def test_unresolvable_spec_fails_cleanly(tmp_path, req, needle):
    spec = EnvSpec(python="3.11", pip=[req])
    builder = EnvBuilder(tmp_path)
    log = Log()
    with pytest.raises(EnvBuildError) as ei:
        builder.ensure(spec, log=log)
    err = ei.value
    assert "uv pip install failed" in str(err)
    assert needle in str(err) and needle in err.output
    assert "unsatisfiable" in str(err)
    assert str(err).rstrip().endswith(err.output.rstrip().splitlines()[-1])
    assert not builder.env_dir(spec).exists(), "partial environment left behind"
    assert any(needle in line for line in log)  # the error was streamed too


@needs_311
def test_partial_leftover_is_rebuilt(tmp_path):
    builder = EnvBuilder(tmp_path)
    leftover = builder.env_dir(SIX_311)
    (leftover / "bin").mkdir(parents=True)
    (leftover / "junk").write_text("half-finished")
    log = Log()
    built = builder.ensure(SIX_311, log=log)
    assert built.cached is False and built.resolved == {"six": "1.16.0"}
    assert not (leftover / "junk").exists()
    assert any("removing incomplete environment" in line for line in log)


def test_python_not_installed_is_spec_error(tmp_path):
    builder = EnvBuilder(tmp_path)
    spec = EnvSpec(python="3.99", pip=["six"])
    with pytest.raises(EnvSpecError, match="python=3.99 requested"):
        builder.ensure(spec, log=None)
    assert not builder.env_dir(spec).exists()


@needs_36
def test_python36_env_builds_and_runs(tmp_path):
    spec = parse_conda_yaml(
        "name: legacy\ndependencies:\n  - python=3.6.2\n  - pip:\n    - six\n    - azureml-defaults\n"
    )
    log = Log()
    built = EnvBuilder(tmp_path).ensure(spec, log=log)
    assert built.python_version.startswith("3.6.")
    assert "six" in built.resolved
    text = log.text()
    assert "python=3.6.2 requested: using Python 3.6." in text and "(newest installed 3.6)" in text
    assert "provided by kyanite, not installed: azureml-defaults" in text
    out = subprocess.run([built.python, "-c", "import sys, six; print(sys.version_info[:2], six.PY3)"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == "(3, 6) True"
    assert list(built.path.glob("lib/python3.6/site-packages/__pycache__/six.cpython-36.pyc"))


def _make_wheel(dest: Path, name: str, version: str) -> Path:
    """A minimal pure-Python wheel, so --find-links/--no-index can be tested offline."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": f"VERSION = {version!r}\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = "\n".join(record) + "\n"
    wheel = dest / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return wheel


def test_pip_options_passed_to_uv(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _make_wheel(wheels, "kyanite_localpkg", "0.3.1")
    spec = EnvSpec(pip=["kyanite_localpkg==0.3.1"],
                   pip_options=["--no-index", f"--find-links {wheels}"])
    built = EnvBuilder(tmp_path / "cache").ensure(spec, log=None)
    assert built.resolved == {"kyanite-localpkg": "0.3.1"}
    out = subprocess.run([built.python, "-c", "import kyanite_localpkg as m; print(m.VERSION)"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == "0.3.1"


def test_empty_pip_builds_bare_venv(tmp_path):
    built = EnvBuilder(tmp_path).ensure(EnvSpec(), log=None)
    assert built.resolved == {}
    assert built.python_version == "%d.%d.%d" % sys.version_info[:3]
    assert os.path.exists(built.python)


def test_user_managed_builds_nothing(tmp_path):
    log = Log()
    env = EnvBuilder(tmp_path).ensure(EnvSpec(user_managed=True, pip=["six"]), log=log)
    assert env.python == sys.executable and env.path is None and env.cached is True
    assert env.python_version == "%d.%d.%d" % sys.version_info[:3]
    assert env.resolved.get("pyyaml")  # kyanite's own dependency, via uv pip freeze
    assert not (tmp_path / "envs").exists() or not any((tmp_path / "envs").iterdir())
    assert any("not installed" in line for line in log)
    with pytest.raises(EnvSpecError, match="does not exist"):
        EnvBuilder(tmp_path).ensure(EnvSpec(user_managed=True, interpreter="/nope/python"), log=None)


@pytest.mark.skipif(not _have((3, 9)) or sys.version_info[:2] <= (3, 9),
                    reason="needs Python 3.9 beside a newer default")
def test_conda_packages_built_from_pypi_on_the_python_old_pins_need(tmp_path):
    """A v1-era conda file: conda packages (no pip section), channels, Python not pinned, an
    old numpy pin with wheels up to Python 3.9 only: built from PyPI on the newest Python
    that has them, every step in the log."""
    spec = parse_conda_yaml("channels:\n  - conda-forge\ndependencies:\n  - python\n"
                            "  - six=1.16\n  - numpy==1.19.5\n  - _py-xgboost-mutex\n", source="old.yml")
    log = Log()
    built = EnvBuilder(tmp_path / "cache").ensure(spec, log=log)
    text = log.text()
    assert built.resolved == {"numpy": "1.19.5", "six": "1.16.0"}
    assert built.python_version.startswith("3.9.")
    assert "conda package 'six=1.16' installed from PyPI as 'six==1.16.*'" in text
    assert "conda package '_py-xgboost-mutex' is a conda-only helper: nothing to install" in text
    assert "channels ignored (conda-forge)" in text
    assert "python not pinned: six==1.16.*, numpy==1.19.5 cannot" not in text  # only the pins that matter
    assert "python not pinned: numpy==1.19.5 cannot be installed on Python %d.%d" % sys.version_info[:2] in text
    out = subprocess.run([built.python, "-c", "import numpy, six; print(numpy.__version__, six.__version__)"],
                         capture_output=True, text=True, check=True).stdout
    assert out.split() == ["1.19.5", "1.16.0"]


def test_old_pins_no_installed_python_fits_refused_before_building(tmp_path):
    spec = EnvSpec(pip=["scikit-learn==0.22.1", "numpy==2.2.0"])  # no Python has both
    with pytest.raises(EnvSpecError, match="scikit-learn==0.22.1 needs Python 3.5 to 3.8"):
        EnvBuilder(tmp_path / "cache").ensure(spec, log=None)
    assert not list((tmp_path / "cache").glob("envs/*/bin"))
