"""Bad input gets a clear error, and nothing logged or written before a failure is lost."""

import socket
import time

import pytest

from kyanite.core import Environment, Experiment, ScriptRunConfig, Workspace
from kyanite.exceptions import (
    ActivityFailedException, AuthenticationException, NotFoundException, ServerNotRunningException,
    UserErrorException,
)
from kyanite.server.layout import WorkspaceLayout


def _runs(ws, name):
    try:
        return list(Experiment(ws, name).get_runs())
    except NotFoundException:
        return []


def test_missing_source_directory(ws, tmp_path, current_env):
    cfg = ScriptRunConfig(source_directory=str(tmp_path / "nowhere"), script="train.py", environment=current_env)
    with pytest.raises(UserErrorException, match="source_directory .*nowhere.* does not exist"):
        Experiment(ws, "bad-input").submit(cfg)
    assert _runs(ws, "bad-input") == []


def test_missing_script(ws, make_script, current_env):
    src = make_script("print('hi')\n")
    cfg = ScriptRunConfig(source_directory=str(src), script="trian.py", environment=current_env)
    with pytest.raises(UserErrorException, match="Script 'trian.py' not found"):
        Experiment(ws, "bad-input").submit(cfg)
    with pytest.raises(UserErrorException, match="needs script="):
        Experiment(ws, "bad-input").submit(ScriptRunConfig(source_directory=str(src), environment=current_env))
    assert _runs(ws, "bad-input") == []


def test_unknown_compute_target(ws, make_script, current_env):
    src = make_script("print('hi')\n")
    cfg = ScriptRunConfig(source_directory=str(src), script="train.py", compute_target="gpu-cluster",
                          environment=current_env)
    with pytest.raises(UserErrorException, match="Compute target 'gpu-cluster' does not exist.*ComputeTarget.create"):
        Experiment(ws, "bad-input").submit(cfg)
    assert _runs(ws, "bad-input") == []


def test_bad_argument_type(ws, make_script, current_env):
    src = make_script("print('hi')\n")
    cfg = ScriptRunConfig(source_directory=str(src), script="train.py", arguments=["--opt", {"a": 1}],
                          environment=current_env)
    with pytest.raises(UserErrorException, match="Argument .* of type dict"):
        Experiment(ws, "bad-input").submit(cfg)


def test_bad_conda_yaml_names_the_line(tmp_path):
    f = tmp_path / "conda.yml"
    f.write_text("name: env\ndependencies:\n  - python=3.11\n  - pip:\n    - six\n   - bad: [\n")
    with pytest.raises(UserErrorException, match=r"conda\.yml.*line \d+") as info:
        Environment.from_conda_specification("env", str(f))
    assert "invalid YAML" in info.value.message
    with pytest.raises(UserErrorException, match="does not exist"):
        Environment.from_conda_specification("env", str(tmp_path / "none.yml"))


def test_conda_only_package_refused_by_name(tmp_path):
    f = tmp_path / "conda.yml"
    f.write_text("name: env\ndependencies:\n  - python=3.11\n  - cudatoolkit=11.2\n  - pip:\n    - six\n")
    with pytest.raises(UserErrorException, match="cudatoolkit") as info:
        Environment.from_conda_specification("env", str(f))
    assert "has no PyPI form" in info.value.message and "remove it" in info.value.message
    env = Environment("added")
    env.python.conda_dependencies.add_conda_package("mkl")
    with pytest.raises(UserErrorException, match="mkl"):
        env._run_definition()


def test_unresolvable_pip_spec_fails_in_preparing(ws, make_script, tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("six==99.0.0\n")
    env = Environment.from_pip_requirements("unresolvable", str(req))
    src = make_script("open('ran', 'w').write('yes')\n")
    run = Experiment(ws, "env-fail").submit(ScriptRunConfig(source_directory=str(src), script="train.py",
                                                            environment=env))
    seen = set()
    while True:
        st = run.get_status()
        seen.add(st)
        if st in ("Completed", "Failed", "Canceled"):
            break
        time.sleep(0.05)
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed"
    assert "Running" not in seen and "Starting" not in seen  # it never got past Preparing
    err = details["error"]
    assert err["code"] == "EnvironmentBuildFailed"
    assert "six==99.0.0" in err["message"] and "unresolvable" in err["message"]
    assert "no version of six==99.0.0" in err["message"]  # uv's own words
    log = run.get_details_with_logs()["logFiles"]["user_logs/std_log.txt"]
    assert "no version of six==99.0.0" in log
    assert "Traceback" not in log and "Traceback" not in err["message"]
    with pytest.raises(ActivityFailedException, match="could not be built"):
        run.wait_for_completion()


CRASH_SCRIPT = """
    import os
    from kyanite.core import Run
    run = Run.get_context()
    for i in range(50):
        run.log("loss", i)
    run.log_row("rows", epoch=1)
    os.makedirs("outputs", exist_ok=True)
    open("outputs/partial.txt", "w").write("half done")
    print("about to fail")
    raise ValueError("learning rate must be positive, got -1")
"""


def test_script_that_raises(ws, make_script, current_env):
    src = make_script(CRASH_SCRIPT)
    run = Experiment(ws, "crash").submit(ScriptRunConfig(source_directory=str(src), script="train.py",
                                                         environment=current_env))
    with pytest.raises(ActivityFailedException, match="learning rate must be positive") as info:
        run.wait_for_completion()
    details = run.get_details()
    assert details["status"] == "Failed"
    err = details["error"]
    assert "ValueError: learning rate must be positive, got -1" in err["message"]
    assert err["exitCode"] == 1 and "about to fail" in "\n".join(err["logTail"])
    assert info.value.run_id == run.id
    metrics = run.get_metrics()
    assert metrics["loss"] == [float(i) for i in range(50)] and metrics["rows"] == {"epoch": [1]}
    assert "outputs/partial.txt" in run.get_file_names()
    log = run.get_details_with_logs()["logFiles"]["user_logs/std_log.txt"]
    assert "Traceback (most recent call last)" in log and "about to fail" in log


KILL_SCRIPT = """
    import os, sys
    from kyanite.core import Run
    run = Run.get_context()
    n = int(sys.argv[1])
    for i in range(n):
        run.log("step", i)
    print("logged", n, flush=True)
    os.kill(os.getpid(), 9)
"""


def test_script_killed_by_sigkill_keeps_every_point(ws, make_script, current_env):
    src = make_script(KILL_SCRIPT)
    n = 5000
    run = Experiment(ws, "killed").submit(ScriptRunConfig(source_directory=str(src), script="train.py",
                                                          arguments=[n], environment=current_env))
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed"
    assert "killed by signal 9" in details["error"]["message"]
    assert details["error"]["exitCode"] == -9
    assert run.get_metrics()["step"] == [float(i) for i in range(n)]
    assert "logged %d" % n in run.get_details_with_logs()["logFiles"]["user_logs/std_log.txt"]


def test_non_numeric_metric_in_script(ws, make_script, current_env):
    src = make_script("""
        from kyanite.core import Run
        run = Run.get_context()
        run.log("ok", 1)
        run.log("accuracy", None)  # text is a value; None is not
    """)
    run = Experiment(ws, "crash").submit(ScriptRunConfig(source_directory=str(src), script="train.py",
                                                         environment=current_env))
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed"
    assert "UserErrorException: Metric 'accuracy': value None is neither a number nor text" in details["error"]["message"]
    assert run.get_metrics() == {"ok": 1.0}


def _closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_server_not_running():
    url = "http://127.0.0.1:%d" % _closed_port()
    t0 = time.time()
    with pytest.raises(ServerNotRunningException) as info:
        Workspace.connect(url, "token", retry_seconds=0.5)
    assert time.time() - t0 < 10
    msg = info.value.message
    assert url in msg and "kyanite server start" in msg


def test_wrong_token(ws):
    with pytest.raises(AuthenticationException, match="401") as info:
        Workspace.connect(ws.server_url, "not-the-token")
    assert ".kyanite/token" in info.value.message
    good = Workspace.connect(ws.server_url, WorkspaceLayout.for_path(ws.path).token())
    assert good.name == "test-ws"


def test_not_a_workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserErrorException, match="No workspace config.json found"):
        Workspace.from_config()
    with pytest.raises(UserErrorException, match="No kyanite workspace at"):
        Workspace(path=str(tmp_path))
