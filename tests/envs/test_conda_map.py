"""Conda packages installed from PyPI: names mapped, version constraints kept, what has no
PyPI form refused by name with the reason; the default Python for old pins."""

import pytest

from kyanite.core import Environment
from kyanite.core.conda_dependencies import CondaDependencies
from kyanite.envs import EnvSpecError, Interpreter, parse_conda_yaml
from kyanite.envs.compat import check, default_python
from kyanite.envs.conda_map import to_pip
from kyanite.exceptions import UserErrorException


@pytest.mark.parametrize("entry,expected", [
    ("scikit-learn", "scikit-learn"),
    ("pytorch", "torch"),
    ("pytorch=1.8", "torch==1.8.*"),
    ("py-xgboost==1.3.3", "xgboost==1.3.3"),
    ("opencv", "opencv-python-headless"),
    ("conda-forge::lightgbm>=3.1", "lightgbm>=3.1"),
    ("numpy>=1.16,<1.20", "numpy>=1.16,<1.20"),
    ("pandas=1.1.5=py38_0", "pandas==1.1.5"),     # build string dropped, version exact
    ("scipy 1.5.2 py38_0", "scipy==1.5.2"),        # conda's space form
    ("six 1.16.*", "six==1.16.*"),
    ("pillow=8*", "pillow==8.*"),
    ("matplotlib-base=3.3", "matplotlib==3.3.*"),
    ("tensorflow-gpu=2.2", "tensorflow==2.2.*"),
    ("some-package=0.1", "some-package==0.1.*"),  # not in the map: same name on PyPI
])
def test_mapping_keeps_constraint(entry, expected):
    req, note = to_pip(entry)
    assert req == expected
    assert repr(expected) in note and entry.strip() in note


def test_unknown_name_is_said_in_the_note():
    assert "not in kyanite's conda map" in to_pip("some-package")[1]
    assert "not in" not in to_pip("pytorch")[1]


@pytest.mark.parametrize("entry,reason", [
    ("cudatoolkit=11.2", "CUDA comes with the GPU wheels of torch/jax/tensorflow"),
    ("cudnn", "CUDA comes with"),
    ("nccl", "CUDA comes with"),
    ("mkl", "BLAS/LAPACK"),
    ("libgcc-ng", "C library"),
    ("gxx_linux-64", "compiler"),
    ("r-base", "R package"),
])
def test_no_pypi_form_refused_with_reason(entry, reason):
    with pytest.raises(EnvSpecError) as ei:
        to_pip(entry, "env.yml")
    name = entry.split("=")[0]
    msg = str(ei.value)
    assert msg.startswith("env.yml: conda package %r has no PyPI form: " % name), msg
    assert reason in msg and msg.endswith("remove it.")


def test_alternatives_refused():
    with pytest.raises(EnvSpecError, match=r"alternatives \('\|'\) have no pip form"):
        to_pip("numpy 1.19|1.20")


def test_conda_yaml_maps_packages_notes_them_and_ignores_channels():
    spec = parse_conda_yaml("channels:\n  - conda-forge\ndependencies:\n  - python=3.8\n"
                            "  - pip\n  - pytorch=1.8\n  - scikit-learn\n  - pip:\n    - six\n",
                            source="env.yml")
    assert spec.python == "3.8"
    assert spec.pip == ["torch==1.8.*", "scikit-learn", "six"]
    assert "env.yml: conda package 'pytorch=1.8' installed from PyPI as 'torch==1.8.*'" in spec.warnings
    assert any("channels ignored (conda-forge)" in w for w in spec.warnings)


def test_conda_dependencies_api_maps_and_refuses():
    cd = CondaDependencies.create(conda_packages=["scikit-learn=1.5", "py-xgboost"],
                                  pip_packages=["six"])
    assert cd._to_spec().pip == ["scikit-learn==1.5.*", "xgboost", "six"]
    env = Environment("added")
    env.python.conda_dependencies.add_conda_package("numpy>=1.20")
    assert env._run_definition()["spec"]["pip"] == ["numpy>=1.20"]
    env.python.conda_dependencies.add_conda_package("cudatoolkit")
    with pytest.raises(UserErrorException, match="'cudatoolkit' has no PyPI form: CUDA comes"):
        env._run_definition()


def test_conda_dependencies_default_python_is_not_pinned():
    for cd in (CondaDependencies(), CondaDependencies.create(pip_packages=["six"])):
        assert cd.get_python_version() is None
        assert cd._to_spec().python is None
    assert CondaDependencies.create(python_version="3.8").get_python_version() == "3.8"


# ---------------------------------------------------------------- the default Python

def _installed(*versions):
    return [Interpreter("/py/%d.%d.%d/bin/python3" % v, v) for v in versions]


INSTALLED = _installed((3, 13, 0), (3, 11, 7), (3, 9, 18), (3, 8, 18), (3, 7, 16), (3, 6, 15))
DEFAULT = INSTALLED[1]


def test_default_python_kept_when_pins_fit():
    assert default_python(["scikit-learn", "six==1.16.0"], DEFAULT, INSTALLED) is DEFAULT
    assert default_python(["numpy>=1.24"], DEFAULT, INSTALLED) is DEFAULT


@pytest.mark.parametrize("reqs,version", [
    (["scikit-learn==0.22.1"], (3, 8, 18)),
    (["scikit-learn==0.22.1", "pandas==1.0.5"], (3, 8, 18)),
    (["pandas==1.2.5"], (3, 9, 18)),
    (["numpy<1.20"], (3, 9, 18)),
    (["tensorflow==2.0.0", "keras<=2.3.1"], (3, 7, 16)),  # the Keras-2 era, same mechanism
])
def test_default_python_for_old_pins(reqs, version):
    got = default_python(reqs, DEFAULT, INSTALLED)
    assert got.version == version
    assert got.note.startswith("python not pinned: %s cannot be installed on Python 3.11.7" % ", ".join(reqs))
    assert "using Python %d.%d.%d" % version in got.note


def test_default_python_none_installed_says_what_to_install():
    with pytest.raises(EnvSpecError, match=r"scikit-learn==0.22.1 needs Python 3.5 to 3.8.*pyenv install 3.8"):
        default_python(["scikit-learn==0.22.1"], DEFAULT, _installed((3, 11, 7), (3, 12, 1)))


def test_pinned_python_with_old_pin_refused_before_install():
    with pytest.raises(EnvSpecError) as ei:
        check(["scikit-learn==0.22.1"], (3, 11, 7), INSTALLED, source="env.yml")
    msg = str(ei.value)
    assert msg.startswith("env.yml: scikit-learn==0.22.1 needs Python 3.5 to 3.8, but this "
                          "environment uses Python 3.11.7")
    assert "python=3.8" in msg and "Nothing was installed" in msg
    check(["scikit-learn==0.22.1"], (3, 8, 18), INSTALLED)  # fits: no error
    check(["scikit-learn>=0.22"], (3, 11, 7), INSTALLED)    # admits new releases: left to uv
