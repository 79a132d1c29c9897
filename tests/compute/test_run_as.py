"""``run_as``: a local run's host and script run as a separate unprivileged OS user, so the
script cannot read the workspace folder (the token), yet logs metrics and completes over
HTTP with its run token."""

import glob
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from kyanite.core import Experiment, ScriptRunConfig, Workspace
from kyanite.core.compute import AmlCompute, ComputeTarget
from kyanite.exceptions import ComputeTargetException
from kyanite.server.layout import WorkspaceLayout
from kyanite_testing import REPO, stop_workspace

USER = "kyanite-test-run"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="run_as needs the server to run as root "
                                                          "(it starts run hosts as another user)")

SCRIPT = """
import os, sys
from kyanite.core import Run
run = Run.get_context()
print("uid", os.getuid())
try:
    open(sys.argv[1]).read()
    print("token: READ")
except PermissionError as exc:
    print("token: PermissionError", exc)
run.log("uid", os.getuid())
"""


def _as_user(uid, cmd):
    """The exit code of ``cmd`` run as ``uid`` (126 when it cannot be executed at all)."""
    try:
        return subprocess.run(cmd, user=uid, group=pwd.getpwuid(uid).pw_gid, extra_groups=[], cwd="/",
                              env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True).returncode
    except PermissionError:
        return 126


def _public_python(uid, folder):
    """A Python the run user can execute with kyanite importable: this one, else a venv of the
    system Python of the same version that adds this venv's packages; None when neither."""
    if _as_user(uid, [sys.executable, "-c", "import kyanite.runtime.host"]) == 0:
        return sys.executable
    system = shutil.which("python%d.%d" % sys.version_info[:2], path="/usr/bin:/usr/local/bin:/bin")
    if not system:
        return None
    venv = os.path.join(folder, "venv")
    subprocess.run([system, "-m", "venv", "--without-pip", venv], check=True)
    site = glob.glob(os.path.join(venv, "lib", "python*", "site-packages"))[0]
    ours = [p for p in sys.path if p.endswith("site-packages") and os.path.isdir(p)]
    with open(os.path.join(site, "kyanite-test.pth"), "w") as f:
        f.write("import site; %s\n" % "; ".join("site.addsitedir(%r)" % p for p in ours))
        f.write(str(REPO / "src") + "\n")
    py = os.path.join(venv, "bin", "python")
    return py if _as_user(uid, [py, "-c", "import kyanite.runtime.host"]) == 0 else None


@pytest.fixture(scope="module")
def setup():
    try:
        entry = pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", USER], check=True)
        entry = pwd.getpwnam(USER)
    folder = tempfile.mkdtemp(prefix="kyanite-run-as-")
    os.chmod(folder, 0o755)  # the workspace's parent is open; only .kyanite (0700) guards it
    py = _public_python(entry.pw_uid, folder)
    if py is None:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip("no Python that user %r can run with kyanite importable (this one lives under a "
                    "folder closed to it, and no system Python %d.%d)" % ((USER,) + sys.version_info[:2]))
    path = os.path.join(folder, "ws")
    layout = WorkspaceLayout.for_path(path)
    layout.create("run-as-ws")
    layout.write_settings(dict(layout.settings(), run_as=USER))  # the built-in local target's user
    server = subprocess.Popen([py, "-m", "kyanite.server", "--workspace-dir", layout.root],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    deadline = time.time() + 60
    while not (layout.server_info() or {}).get("pid") == server.pid and time.time() < deadline:
        time.sleep(0.1)
    ws = Workspace.from_config(path=path)
    yield ws, entry, py, layout
    stop_workspace(path)
    server.wait(20)
    shutil.rmtree(folder, ignore_errors=True)


def _env(py):
    from kyanite.core import Environment
    env = Environment("public-python")
    env.python.user_managed_dependencies = True
    env.python.interpreter_path = py
    return env


def test_a_run_as_another_user_cannot_read_the_token_but_completes(setup, tmp_path):
    ws, entry, py, layout = setup
    assert os.stat(layout.root).st_mode & 0o777 == 0o700
    target = ComputeTarget.create(ws, "unprivileged", AmlCompute.provisioning_configuration(max_nodes=1,
                                                                                           run_as=USER))
    assert target.run_as == USER
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text(SCRIPT)
    run = Experiment(ws, "run-as").submit(ScriptRunConfig(
        source_directory=str(src), script="train.py", arguments=[layout.token_path],
        compute_target=target, environment=_env(py)))
    run.wait_for_completion(raise_on_error=False)
    details = run.get_details()
    assert details["status"] == "Completed", (details.get("error"), _driver_log(run, tmp_path))
    assert run.get_metrics()["uid"] == entry.pw_uid
    text = _driver_log(run, tmp_path)
    assert "uid %d" % entry.pw_uid in text
    assert "token: PermissionError" in text and "token: READ" not in text


def _driver_log(run, tmp_path):
    from kyanite.protocol.runfiles import DRIVER_LOG
    out = tmp_path / "log.txt"
    run.download_file(DRIVER_LOG, str(out))
    return out.read_text()


def test_a_missing_run_user_is_refused_at_target_creation(setup):
    ws = setup[0]
    with pytest.raises(ComputeTargetException, match="No OS user 'kyanite-no-such-user'.*useradd"):
        ComputeTarget.create(ws, "nobody-here", AmlCompute.provisioning_configuration(
            max_nodes=1, run_as="kyanite-no-such-user"))


def test_the_workspace_setting_runs_the_local_target_as_that_user(setup, tmp_path):
    ws, entry, py, layout = setup
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text(SCRIPT)
    run = Experiment(ws, "run-as-local").submit(ScriptRunConfig(
        source_directory=str(src), script="train.py", arguments=[layout.token_path], environment=_env(py)))
    run.wait_for_completion(raise_on_error=False)
    assert run.get_details()["status"] == "Completed", run.get_details().get("error")
    assert run.get_metrics()["uid"] == entry.pw_uid
    assert "token: PermissionError" in _driver_log(run, tmp_path)
