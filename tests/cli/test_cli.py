"""The `kyanite` command, run as a real console script against a real workspace server.

One workspace per module, created with `kyanite init`; the commands run as subprocesses
in its folder (or a subfolder, to exercise the search of parents). The server is stopped
at the end whatever happens.
"""

import json
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kyanite_testing import stop_workspace

_SCRIPT = Path(sys.executable).with_name("kyanite")
KYANITE = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "kyanite.cli.main"]
RUN_ID = re.compile(r"^\S+_\d+_[0-9a-f]{8}$")


def kyanite(*args, cwd, timeout=60, cmd=None):
    proc = subprocess.run((cmd or KYANITE) + [str(a) for a in args], cwd=str(cwd), capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def ok(proc, code=0):
    assert proc.returncode == code, "exit %s\nstdout:\n%s\nstderr:\n%s" % (
        proc.returncode, proc.stdout, proc.stderr)
    return proc


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A project folder with a workspace made by `kyanite init` and two scripts."""
    path = tmp_path_factory.mktemp("cli-project")
    (path / "train.py").write_text(textwrap.dedent("""
        import os, sys
        from kyanite.core import Run
        run = Run.get_context()
        print("hello from train", sys.argv[1:], flush=True)
        for i in range(3):
            run.log("Accuracy", 0.5 + i / 10)
        run.log("Loss", 0.25)
        os.makedirs("outputs", exist_ok=True)
        with open("outputs/model.txt", "w") as f:
            f.write("weights")
    """))
    (path / "sleepy.py").write_text("import time\nprint('sleeping', flush=True)\ntime.sleep(120)\n")
    (path / "broken.py").write_text("print('about to fail', flush=True)\nraise SystemExit('bad input')\n")
    (path / "sub" / "deeper").mkdir(parents=True)
    try:
        out = ok(kyanite("init", "--name", "cli-test", cwd=path))
        assert "Created workspace 'cli-test'" in out.stdout
        yield path
    finally:
        stop_workspace(path)


def _details(project, run_id):
    return json.loads(ok(kyanite("run", "show", run_id, "--json", cwd=project)).stdout)


def test_init_prints_where_and_how(project):
    out = ok(kyanite("init", cwd=project)).stdout  # again: opens the existing one
    assert "existing workspace 'cli-test'" in out
    info = json.loads((project / ".kyanite" / "server.json").read_text())
    assert info["url"] in out
    assert "Workspace.from_config()" in out
    assert str(project / ".kyanite" / "token") in out


def test_server_status_running(project):
    out = ok(kyanite("server", "status", cwd=project / "sub" / "deeper")).stdout  # found from a subfolder
    info = json.loads((project / ".kyanite" / "server.json").read_text())
    assert re.search(r"Server:\s+running, pid %d" % info["pid"], out), out
    assert info["url"] in out
    assert str(project) in out
    assert re.search(r"Runs:\s+0 active, 0 queued", out), out


def test_submit_follow_list_show_logs_download(project, tmp_path):
    proc = ok(kyanite("run", "submit", "train.py", "--epochs", "2", "--current-python",
                      "--experiment", "cli-exp", "--follow", cwd=project))
    run_id = proc.stdout.splitlines()[0]
    assert RUN_ID.match(run_id), proc.stdout
    assert "hello from train ['--epochs', '2']" in proc.stdout, proc.stdout + proc.stderr
    assert "Completed" in proc.stderr, proc.stdout + proc.stderr

    out = ok(kyanite("run", "list", cwd=project)).stdout
    header, *rows = out.splitlines()
    assert header.split() == ["RUN", "ID", "EXPERIMENT", "STATUS", "TARGET", "STARTED", "DURATION"]
    row = [r for r in rows if r.startswith(run_id)]
    assert len(row) == 1, out
    row = row[0]
    assert row.split()[1:4] == ["cli-exp", "Completed", "local"], out
    assert header.index("STATUS") == row.index("Completed"), out  # aligned

    out = ok(kyanite("run", "show", run_id, cwd=project)).stdout
    assert re.search(r"Status:\s+Completed", out), out
    assert re.search(r"Arguments:\s+--epochs 2", out), out
    assert re.search(r"Accuracy\s+0\.7\s+3", out), out
    assert re.search(r"Loss\s+0\.25\s+1", out), out
    assert "outputs/model.txt" in out, out

    out = ok(kyanite("run", "logs", run_id, cwd=project / "sub")).stdout
    assert "hello from train" in out, out

    dest = tmp_path / "dl"
    out = ok(kyanite("run", "download", run_id, "--prefix", "outputs/", "--output", dest, cwd=project)).stdout
    assert "[1/1] outputs/model.txt" in out, out
    assert (dest / "outputs" / "model.txt").read_text() == "weights"
    assert not (dest / "user_logs").exists()


def test_run_list_limit_and_unknown_experiment(project):
    out = ok(kyanite("run", "list", "--limit", "1", cwd=project)).stdout
    assert len(out.splitlines()) == 2
    proc = ok(kyanite("run", "list", "--experiment", "nobody-here", cwd=project), 2)
    assert proc.stderr.startswith("error: ") and "nobody-here" in proc.stderr


def test_failed_run_follow_exits_1(project):
    proc = ok(kyanite("run", "submit", "broken.py", "--current-python", "--follow", cwd=project), 1)
    assert "about to fail" in proc.stdout, proc.stdout + proc.stderr
    assert "Failed" in proc.stderr and "bad input" in proc.stderr, proc.stdout + proc.stderr
    run_id = proc.stdout.splitlines()[0]
    assert ok(kyanite("run", "logs", run_id, "--follow", cwd=project), 1).stdout.count("about to fail") == 1


def test_cancel_sleeping_run(project):
    run_id = ok(kyanite("run", "submit", "sleepy.py", "--current-python", cwd=project)).stdout.strip()
    deadline = time.time() + 30
    while _details(project, run_id)["status"] != "Running":
        assert time.time() < deadline, "the run never started"
        time.sleep(0.2)
    status = ok(kyanite("server", "status", cwd=project)).stdout
    assert re.search(r"Runs:\s+1 active", status), status
    out = ok(kyanite("run", "cancel", run_id, cwd=project)).stdout
    assert "Canceled" in out, out
    assert _details(project, run_id)["status"] == "Canceled"
    assert "sleeping" in ok(kyanite("run", "logs", run_id, cwd=project)).stdout


@pytest.mark.parametrize("command", [["show"], ["logs"], ["logs", "--follow"], ["cancel"], ["download"]])
def test_unknown_run_id_is_a_clear_error(project, command):
    proc = ok(kyanite("run", command[0], "no_such_run_123", *command[1:], cwd=project), 2)
    assert proc.stderr.strip() == "error: No run with id 'no_such_run_123' in this workspace."
    assert proc.stdout == ""


def test_submit_missing_script_is_a_clear_error(project):
    proc = ok(kyanite("run", "submit", "nope.py", "--current-python", cwd=project), 2)
    assert proc.stderr.startswith("error: Script 'nope.py' not found")


def test_no_workspace(tmp_path):
    for args in (["run", "list"], ["server", "status"], ["server", "stop"], ["run", "show", "x"]):
        proc = ok(kyanite(*args, cwd=tmp_path), 2)
        assert proc.stderr.startswith("error: No kyanite workspace found")
        assert "kyanite init" in proc.stderr
    proc = ok(kyanite("server", "status", "--path", tmp_path / "elsewhere", cwd=tmp_path), 2)
    assert "kyanite init" in proc.stderr


def test_python_dash_m_works(tmp_path):
    proc = ok(kyanite("--version", cwd=tmp_path, cmd=[sys.executable, "-m", "kyanite.cli.main"]))
    assert proc.stdout.startswith("kyanite ")
    proc = ok(kyanite("run", "list", cwd=tmp_path, cmd=[sys.executable, "-m", "kyanite.cli"]), 2)
    assert "kyanite init" in proc.stderr


def test_remote_config_status_and_runs(project, tmp_path):
    """A folder whose config.json names a server URL and token: a remote workspace."""
    info = json.loads((project / ".kyanite" / "server.json").read_text())
    token = (project / ".kyanite" / "token").read_text().strip()
    (tmp_path / "config.json").write_text(json.dumps(
        {"workspace_name": "cli-test", "server_url": info["url"], "token": token}))
    out = ok(kyanite("server", "status", cwd=tmp_path)).stdout
    assert "remote" in out and info["url"] in out and re.search(r"Server:\s+running", out), out
    assert "cli-exp" in ok(kyanite("run", "list", cwd=tmp_path)).stdout
    proc = ok(kyanite("server", "stop", cwd=tmp_path), 2)
    assert "remote server" in proc.stderr


def test_server_stop_start_port_and_status(project):
    """Last: stops the module's server, starts it on a chosen port, stops it again."""
    out = ok(kyanite("server", "stop", cwd=project)).stdout
    assert "Stopped the workspace server" in out
    proc = ok(kyanite("server", "status", cwd=project), 3)
    assert re.search(r"Server:\s+stopped", proc.stdout), proc.stdout
    assert "not running" in ok(kyanite("server", "stop", cwd=project)).stdout

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = ok(kyanite("server", "start", "--host", "127.0.0.1", "--port", port, cwd=project))
    assert "warning" not in out.stderr
    assert "http://127.0.0.1:%d" % port in out.stdout
    settings = json.loads((project / ".kyanite" / "workspace.json").read_text())
    assert (settings["host"], settings["port"]) == ("127.0.0.1", port)
    status = ok(kyanite("server", "status", cwd=project)).stdout
    assert "http://127.0.0.1:%d" % port in status
    assert "already runs" in ok(kyanite("server", "start", cwd=project)).stdout
    assert ok(kyanite("server", "start", "--port", port + 1, cwd=project), 2).stderr.startswith("error: ")
    ok(kyanite("server", "stop", cwd=project))
    ok(kyanite("server", "status", cwd=project), 3)


def test_server_foreground_until_interrupted(project):
    """After the module's server is stopped: `server start --foreground` serves until SIGINT."""
    ok(kyanite("server", "status", cwd=project), 3)
    proc = subprocess.Popen(KYANITE + ["server", "start", "--foreground"], cwd=str(project),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("Serving the workspace"), line + proc.stderr.read()
        assert re.search(r"Server:\s+running, pid %d" % proc.pid,
                         ok(kyanite("server", "status", cwd=project)).stdout)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "stopped" in out
        assert not (project / ".kyanite" / "server.json").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
