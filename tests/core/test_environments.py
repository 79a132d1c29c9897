"""Environments: made from conda YAML or requirements.txt, registered with versions, built
with uv for real runs; resolved versions recorded on the run; a Python 3.6 run."""

import textwrap

import pytest

from kyanite.core import Environment, Experiment, ScriptRunConfig
from kyanite.envs import find_pythons
from kyanite.exceptions import NotFoundException

CONDA = textwrap.dedent("""
    name: six-env
    channels:
      - conda-forge
    dependencies:
      - python=3.11
      - pip
      - pip:
        - six==1.16.0
        - azureml-defaults
""")


def _have(major_minor):
    return any(i.version[:2] == major_minor for i in find_pythons())


def test_from_conda_specification(tmp_path):
    f = tmp_path / "conda_dependencies.yml"
    f.write_text(CONDA)
    env = Environment.from_conda_specification(name="six-env", file_path=str(f))
    cd = env.python.conda_dependencies
    assert cd.get_python_version() == "3.11"
    assert cd.pip_packages == ["six==1.16.0", "azureml-defaults"]
    spec = env._run_definition()["spec"]
    assert spec["python"] == "3.11" and spec["pip"] == ["six==1.16.0"]  # azureml-defaults: the runtime


def test_from_pip_requirements(tmp_path):
    f = tmp_path / "requirements.txt"
    f.write_text("# comment\nsix==1.16.0\n")
    env = Environment.from_pip_requirements("pip-env", str(f))
    assert env._run_definition()["spec"]["pip"] == ["six==1.16.0"]


def test_register_and_get_versions(ws, tmp_path):
    f = tmp_path / "conda_dependencies.yml"
    f.write_text(CONDA)
    env = Environment.from_conda_specification("reg-env", str(f))
    env.environment_variables = {"MODE": "a"}
    env.docker.base_image = "python:3.11"
    assert env.register(ws).version == "1"
    again = Environment.from_conda_specification("reg-env", str(f))
    again.environment_variables = {"MODE": "a"}
    again.docker.base_image = "python:3.11"
    assert again.register(ws).version == "1"  # same definition, same version
    again.python.conda_dependencies.add_pip_package("packaging==24.0")
    assert again.register(ws).version == "2"
    latest = Environment.get(ws, "reg-env")
    assert latest.version == "2" and "packaging==24.0" in latest.python.conda_dependencies.pip_packages
    first = Environment.get(ws, "reg-env", version=1)
    assert first.version == "1" and "packaging==24.0" not in first.python.conda_dependencies.pip_packages
    assert first.environment_variables == {"MODE": "a"} and first.docker.base_image == "python:3.11"
    assert "reg-env" in ws.environments
    with pytest.raises(NotFoundException, match="version 9"):
        Environment.get(ws, "reg-env", version=9)
    with pytest.raises(NotFoundException, match="no-such-env"):
        Environment.get(ws, "no-such-env")


@pytest.mark.skipif(not _have((3, 11)), reason="needs a Python 3.11 interpreter")
def test_built_environment_run_records_resolved_packages(ws, make_script, tmp_path):
    f = tmp_path / "conda_dependencies.yml"
    f.write_text(CONDA)
    env = Environment.from_conda_specification("six-env", str(f))
    env.docker.enabled = True
    src = make_script("""
        import sys, six
        from kyanite.core import Run
        Run.get_context().log("six_major", int(six.__version__.split(".")[0]))
        print("python", sys.version_info[:2], "six", six.__version__, "at", sys.prefix)
    """)
    run = Experiment(ws, "envs").submit(ScriptRunConfig(source_directory=str(src), script="train.py",
                                                        environment=env))
    details = run.wait_for_completion(raise_on_error=False)
    log = run.get_details_with_logs()["logFiles"]["user_logs/std_log.txt"]
    assert details["status"] == "Completed", log
    assert details["resolvedPackages"] == {"six": "1.16.0"}
    assert "python (3, 11) six 1.16.0" in log
    assert "runs without Docker" in log
    assert run.get_metrics() == {"six_major": 1.0}
    assert details["runDefinition"]["environment"]["name"] == "six-env"


@pytest.mark.skipif(not _have((3, 6)), reason="needs a Python 3.6 interpreter")
def test_python36_environment_runs_the_runtime(ws, make_script, tmp_path):
    """A seed-era environment: the stdlib runtime logs, tags and uploads from Python 3.6."""
    f = tmp_path / "conda.yml"
    f.write_text("name: py36\ndependencies:\n  - python=3.6\n")
    env = Environment.from_conda_specification("py36", str(f))
    src = make_script("""
        import os, sys
        from kyanite.core import Run
        run = Run.get_context()
        for i in range(10):
            run.log("acc", i / 10.0)
        run.log_row("rows", a=1)
        run.tag("python", "%d.%d" % sys.version_info[:2])
        run.upload_file("outputs/uploaded.txt", __file__)
        os.makedirs("outputs", exist_ok=True)
        open("outputs/written.txt", "w").write("ok")
        print("running on", sys.version.split()[0])
    """)
    run = Experiment(ws, "envs").submit(ScriptRunConfig(source_directory=str(src), script="train.py",
                                                        environment=env))
    details = run.wait_for_completion(raise_on_error=False)
    log = run.get_details_with_logs()["logFiles"]["user_logs/std_log.txt"]
    assert details["status"] == "Completed", log
    assert "running on 3.6." in log
    assert run.get_metrics() == {"acc": [i / 10.0 for i in range(10)], "rows": {"a": [1]}}
    assert run.get_tags() == {"python": "3.6"}
    assert {"outputs/uploaded.txt", "outputs/written.txt"} <= set(run.get_file_names())
