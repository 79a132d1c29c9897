"""Shared fixtures: a real workspace server per test module, the MNIST files, helpers.

Every server binds 127.0.0.1 in a temporary folder and is stopped (with the run hosts it
started) when its module ends. Environments are cached in ``KYANITE_CACHE_DIR`` (default
``~/.cache/kyanite-test``) so repeated runs reuse them.
"""

import os
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from kyanite_testing import REPO, stop_workspace, wait_until  # noqa: F401  (shared with test modules)

os.environ.setdefault("KYANITE_CACHE_DIR", str(Path.home() / ".cache" / "kyanite-test"))
os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")
# Every process this test session starts (servers, run hosts, scoring servers) inherits
# this mark, so the session can end them all at exit, and only them.
SESSION_MARK = "%d-%d" % (os.getpid(), int(psutil.Process().create_time()))
os.environ["KYANITE_TEST_SESSION"] = SESSION_MARK


@pytest.fixture(scope="session", autouse=True)
def _end_leftover_processes():
    """At the end of the session, kill any process still carrying this session's mark."""
    yield
    me = os.getpid()
    for p in psutil.process_iter():
        try:
            if p.pid != me and p.environ().get("KYANITE_TEST_SESSION") == SESSION_MARK:
                p.kill()
        except (psutil.Error, OSError):
            pass


def find_mnist():
    for cand in (os.environ.get("KYANITE_MNIST_DIR"), REPO.parent / "shared" / "data" / "mnist",
                 REPO / "shared" / "data" / "mnist"):
        if cand and (Path(cand) / "train-images-idx3-ubyte.gz").is_file():
            return Path(cand)
    pytest.fail("The MNIST files are missing: set KYANITE_MNIST_DIR to the folder with the four IDX .gz files.")


@pytest.fixture(scope="session")
def mnist_dir():
    return find_mnist()


@pytest.fixture(scope="module")
def ws(request, tmp_path_factory):
    """A local workspace with its server running, shared by the tests of one module.

    A module may set ``SERVER_ENV = {"NAME": "value"}``: environment variables its server
    (and the run hosts that server starts) are started with."""
    from kyanite.core import Workspace
    path = tmp_path_factory.mktemp("ws")
    extra = dict(getattr(request.module, "SERVER_ENV", None) or {})
    saved = dict((k, os.environ.get(k)) for k in extra)
    os.environ.update(extra)
    try:
        workspace = Workspace.create(name="test-ws", path=str(path), show_output=False)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    yield workspace
    stop_workspace(path)


@pytest.fixture
def make_script(tmp_path):
    """Write a script into a fresh source folder; returns the folder."""
    def make(body, name="train.py", **files):
        src = tmp_path / "src"
        src.mkdir(exist_ok=True)
        (src / name).write_text(textwrap.dedent(body))
        for fname, text in files.items():
            (src / fname).write_text(textwrap.dedent(text))
        return src
    return make


@pytest.fixture(scope="session")
def current_env():
    """The user-managed environment: this interpreter, nothing to build."""
    from kyanite.core import Environment
    env = Environment("current-python")
    env.python.user_managed_dependencies = True
    env.python.interpreter_path = sys.executable
    return env


@pytest.fixture(name="wait_until")
def wait_until_fixture():
    """``wait_until(predicate, timeout, interval, what)``: poll with a deadline."""
    return wait_until


@pytest.fixture(scope="module")
def monkeypatch_module():
    """``monkeypatch`` for a module-scoped fixture: undone when the module ends."""
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()
