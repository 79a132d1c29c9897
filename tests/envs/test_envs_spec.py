"""EnvSpec, conda YAML and requirements.txt parsing, spec hashing."""

import json
import subprocess
import sys

import pytest

from kyanite.envs import (
    BUILD_FORMAT,
    EnvSpec,
    EnvSpecError,
    parse_conda_yaml,
    parse_pip_requirements,
)

AZURE_STYLE = """\
name: project_environment
channels:
  - conda-forge
  - defaults
dependencies:
  - python=3.6.2
  - pip=21.3.1
  - pip:
    - azureml-defaults
    - azureml-core==1.38.0
    - kyanite>=0.1
    - --find-links /opt/wheels
    - --extra-index-url https://example.invalid/simple
    - six==1.16.0
    - requests>=2.0,<3 ; python_version >= "3.6"
"""


def test_conda_yaml_azure_style():
    spec = parse_conda_yaml(AZURE_STYLE, source="conda.yml")
    assert spec.python == "3.6.2"
    assert spec.name == "project_environment"
    assert spec.pip == ["six==1.16.0", 'requests>=2.0,<3 ; python_version >= "3.6"']
    assert spec.pip_options == [
        "--find-links /opt/wheels",
        "--extra-index-url https://example.invalid/simple",
    ]
    assert spec.dropped == ["azureml-defaults", "azureml-core==1.38.0", "kyanite>=0.1"]
    assert spec.user_managed is False


@pytest.mark.parametrize(
    "entry, expected",
    [
        ("python=3.6.2", "3.6.2"),
        ("python==3.8", "3.8"),
        ("python=3.6", "3.6"),
        ("python=3.6.*", "3.6"),
        ("python=3.6.2=h1234_0", "3.6.2"),
        ("python>=3.8", ">=3.8"),
        ("python >=3.8,<3.11", ">=3.8,<3.11"),
        ("conda-forge::python=3.9", "3.9"),
        ("python", None),
    ],
)
def test_conda_python_forms(entry, expected):
    spec = parse_conda_yaml(f"dependencies:\n  - {entry}\n  - pip\n")
    assert spec.python == expected
    assert spec.pip == []


def test_conda_packages_installed_from_pypi_and_refusals_all_named():
    text = "dependencies:\n  - python=3.8\n  - numpy\n  - tensorflow=2.0\n  - pip:\n    - six\n"
    spec = parse_conda_yaml(text, source="env.yml")
    assert spec.pip == ["numpy", "tensorflow==2.0.*", "six"]  # conda ones first, as in conda
    text = "dependencies:\n  - numpy\n  - cudatoolkit=11.2\n  - mkl\n  - pip:\n    - six\n"
    with pytest.raises(EnvSpecError) as ei:
        parse_conda_yaml(text, source="env.yml")
    msg = str(ei.value)
    assert msg.startswith("env.yml")
    assert "'cudatoolkit' has no PyPI form" in msg and "'mkl' has no PyPI form" in msg


def test_conda_runtime_packages_outside_pip_dropped():
    spec = parse_conda_yaml("dependencies:\n  - azureml-defaults\n  - pip:\n    - six\n")
    assert spec.dropped == ["azureml-defaults"] and spec.pip == ["six"]


def test_bad_yaml_reports_line_and_column():
    text = "name: x\ndependencies:\n  - python=3.8\n  - pip: [six\n"
    with pytest.raises(EnvSpecError) as ei:
        parse_conda_yaml(text, source="broken.yml")
    msg = str(ei.value)
    assert msg.startswith("broken.yml: invalid YAML at line ")
    assert "column" in msg


@pytest.mark.parametrize(
    "text, needle",
    [
        ("- python=3.8\n", "expected a conda environment mapping"),
        ("", "empty document"),
        ("dependencies: python=3.8\n", "'dependencies' must be a list"),
        ("dependencies:\n  - 3.8\n", "unsupported entry 3.8"),
        ("dependencies:\n  - conda: [numpy]\n", "only mapping allowed"),
        ("dependencies:\n  - pip: six\n", "'pip' section must be a list"),
        ("dependencies:\n  - pip:\n    - 1.5\n", "must be a string"),
        ("dependencies:\n  - python=three\n", "cannot understand the Python version"),
        ("dependencies:\n  - python=3.8\n  - python=3.9\n", "more than once"),
        ("dependencies:\n  - pip:\n    - --use-feature fast\n", "unsupported pip option"),
        ("dependencies:\n  - pip:\n    - -r other.txt\n", "not supported"),
        ("dependencies:\n  - pip:\n    - -e ./pkg\n", "editable"),
        ("dependencies:\n  - pip:\n    - --find-links\n", "exactly one value"),
        ("channels: conda-forge\n", "'channels' must be a list"),
    ],
)
def test_bad_conda_specs(text, needle):
    with pytest.raises(EnvSpecError) as ei:
        parse_conda_yaml(text, source="c.yml")
    assert str(ei.value).startswith("c.yml")
    assert needle in str(ei.value)


def test_unknown_top_level_key_is_a_warning():
    spec = parse_conda_yaml("name: x\nvariables: {A: 1}\ndependencies: [python=3.8]\n")
    assert spec.python == "3.8"
    assert any("variables" in w for w in spec.warnings)


REQS = """\
# a comment
six==1.16.0   # inline comment

--index-url https://pypi.org/simple
-f /opt/wheels
--find-links=/srv/wheels
--no-index
numpy>=1.20,\\
<2 ; python_version < "3.13"
azureml-defaults
Azureml_Core~=1.0
"""


def test_requirements_parsing():
    spec = parse_pip_requirements(REQS, source="requirements.txt")
    assert spec.python is None
    assert spec.pip == ["six==1.16.0", 'numpy>=1.20, <2 ; python_version < "3.13"']
    assert spec.pip_options == [
        "--index-url https://pypi.org/simple",
        "-f /opt/wheels",
        "--find-links=/srv/wheels",
        "--no-index",
    ]
    assert spec.dropped == ["azureml-defaults", "Azureml_Core~=1.0"]


@pytest.mark.parametrize(
    "line, needle",
    [
        ("-r base.txt", "line 2"),
        ("--requirement base.txt", "list those requirements here directly"),
        ("-c constraints.txt", "not supported"),
        ("six==1.16.0 --hash=sha256:abc", "per-requirement options"),
        ("--prefer-binary", "unsupported pip option"),
    ],
)
def test_requirements_refusals(line, needle):
    with pytest.raises(EnvSpecError) as ei:
        parse_pip_requirements(f"six\n{line}\n", source="req.txt")
    assert str(ei.value).startswith("req.txt: line 2")
    assert needle in str(ei.value)


def test_to_dict_from_dict_roundtrip():
    spec = parse_conda_yaml(AZURE_STYLE)
    d = spec.to_dict()
    json.dumps(d)
    again = EnvSpec.from_dict(d)
    assert again == spec and again.hash() == spec.hash()
    with pytest.raises(EnvSpecError, match="unknown environment spec field"):
        EnvSpec.from_dict({"python": "3.8", "conda": ["numpy"]})
    with pytest.raises(EnvSpecError):
        EnvSpec(python="latest")
    with pytest.raises(EnvSpecError):
        EnvSpec(pip="six")


def test_hash_stable_across_processes_and_insensitive_to_noise():
    spec = EnvSpec(python="3.11", pip=["six==1.16.0", "requests"], pip_options=["--pre"])
    code = (
        "from kyanite.envs import EnvSpec;"
        "print(EnvSpec(python='3.11', pip=['six==1.16.0', 'requests'], pip_options=['--pre']).hash())"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == spec.hash()
    assert len(spec.hash()) == 64
    assert spec.build_key()["format"] == BUILD_FORMAT
    # order of requirements, name, dropped, warnings do not change what is built
    same = EnvSpec(python="3.11", pip=["requests", "six==1.16.0"], pip_options=["--pre"],
                   name="other", dropped=["azureml-defaults"], warnings=["w"])
    assert same.hash() == spec.hash()


def test_hash_sensitive_to_build_inputs():
    base = EnvSpec(python="3.11", pip=["six==1.16.0"])
    variants = [
        EnvSpec(python="3.12", pip=["six==1.16.0"]),
        EnvSpec(python=None, pip=["six==1.16.0"]),
        EnvSpec(python="3.11", pip=["six==1.17.0"]),
        EnvSpec(python="3.11", pip=["six==1.16.0", "idna"]),
        EnvSpec(python="3.11", pip=["six==1.16.0"], pip_options=["--find-links /w"]),
        EnvSpec(user_managed=True),
        EnvSpec(user_managed=True, interpreter="/usr/bin/python3"),
    ]
    hashes = {v.hash() for v in variants} | {base.hash()}
    assert len(hashes) == len(variants) + 1
    # user_managed ignores pip: nothing is installed
    assert EnvSpec(user_managed=True, pip=["six"]).hash() == EnvSpec(user_managed=True).hash()
