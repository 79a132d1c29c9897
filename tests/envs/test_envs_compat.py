"""kyanite.envs.compat: the constraints old TensorFlow/Keras specs get, the combinations
refused before anything is installed, and the KERAS_BACKEND default (no uv calls here)."""

import pytest

from kyanite.envs import EnvBuilder, EnvSpec, EnvSpecError, Interpreter, parse_conda_yaml
from kyanite.envs import compat

ERA = ["tensorflow-gpu==2.0.0", "keras<=2.3.1", "matplotlib"]

# what a host with pyenv's usual set would report (newest first, as find_pythons does)
INSTALLED = [Interpreter("/py/%s/bin/python3" % v, tuple(int(p) for p in v.split(".")))
             for v in ("3.13.0", "3.12.1", "3.11.7", "3.10.13", "3.9.18", "3.8.18", "3.7.16", "3.6.15")]

TUTORIAL_2020 = """\
channels:
- conda-forge
dependencies:
- python=3.6.2
- pip:
  - azureml-defaults
  - tensorflow-gpu==2.0.0
  - keras<=2.3.1
  - matplotlib
"""

TUTORIAL_LATER = """\
channels:
- conda-forge
dependencies:
- python=3.6.2
- pip=21.3.1
- pip:
  - azureml-defaults
  - tensorflow-gpu==2.0.0
  - keras<=2.3.1
  - h5py<=2.10.0
  - matplotlib
"""


def names(reqs):
    return [c for c, _ in compat.constraints(reqs)]


def test_tutorial_file_parses_as_written():
    spec = parse_conda_yaml(TUTORIAL_2020, source="conda_dependencies.yml")
    assert spec.python == "3.6.2"
    assert spec.pip == ERA
    assert spec.dropped == ["azureml-defaults"]  # the kyanite runtime: nothing installed for it
    later = parse_conda_yaml(TUTORIAL_LATER, source="conda_dependencies.yml")
    assert later.pip == ["tensorflow-gpu==2.0.0", "keras<=2.3.1", "h5py<=2.10.0", "matplotlib"]
    assert later.python == "3.6.2" and later.dropped == ["azureml-defaults"]


def test_era_spec_gets_the_pins_later_tensorflow_adopted():
    assert names(ERA) == ["h5py<3", "numpy<1.20", "protobuf<4"]
    reasons = dict(compat.constraints(ERA))
    assert "'str' object has no attribute 'decode'" in reasons["h5py<3"]
    assert "Descriptors cannot be created directly" in reasons["protobuf<4"]
    # a package the user pins is left to them
    assert names(["tensorflow-gpu==2.0.0", "keras<=2.3.1", "h5py<=2.10.0"]) == ["numpy<1.20", "protobuf<4"]
    assert names(["tensorflow==2.2.*"]) == ["h5py<3", "numpy<1.20", "protobuf<4"]
    assert names(["tensorflow==2.6.0"]) == ["protobuf<4"]
    assert names(["keras<=2.3.1"]) == ["h5py<3"]  # no TensorFlow listed: nothing else to pin


def test_multi_backend_keras_keeps_an_open_tensorflow_at_2_2():
    got = compat.constraints(["tensorflow", "keras<=2.3.1"])
    assert [c for c, _ in got][0] == "tensorflow<2.3"
    assert "TensorFlow 2.2 at the newest" in got[0][1]


@pytest.mark.parametrize("reqs", [
    [], ["six==1.16.0"], ["tensorflow"], ["tensorflow>=2.0"], ["tensorflow==2.15.1", "keras"],
    ["keras==3.15.1", "jax==0.10.2", "jaxlib==0.10.2"], ["keras>=2.4"], ["tf-keras==2.15.0"],
    ["git+https://example.invalid/x.git"], ["keras @ https://example.invalid/keras.whl"],
])
def test_modern_specs_are_left_alone(reqs):
    assert compat.constraints(reqs) == []
    compat.check(reqs, (3, 11, 7), INSTALLED)


def test_modern_hashes_unchanged_and_era_hash_includes_constraints():
    modern = EnvSpec(python="3.11", pip=["six==1.16.0"])
    assert "constraints" not in modern.build_key()
    era = EnvSpec(python="3.6.2", pip=list(ERA))
    assert era.build_key()["constraints"] == ["h5py<3", "numpy<1.20", "protobuf<4"]
    assert EnvSpec(user_managed=True, pip=list(ERA)).constraints() == []


@pytest.mark.parametrize("python", [(3, 6, 15), (3, 7, 16)])
def test_era_spec_accepted_on_36_and_37(python):
    compat.check(ERA, python, INSTALLED)


@pytest.mark.parametrize("python", [(3, 8, 18), (3, 9, 18), (3, 11, 7), (3, 13, 0)])
def test_era_spec_refused_on_newer_python(python):
    with pytest.raises(EnvSpecError) as e:
        compat.check(ERA, python, INSTALLED, source="environment 'keras-env'")
    msg = str(e.value)
    assert msg.startswith("environment 'keras-env': tensorflow-gpu==2.0.0 (TensorFlow 2.0) with keras<=2.3.1 "
                          "needs Python 3.5 to 3.7, but this environment uses Python %d.%d.%d." % python)
    assert "Nothing was installed." in msg
    assert "Fix: ask for python=3.7 or python=3.6 in the conda file's dependencies " \
           "(installed here: 3.7.16, 3.6.15)." in msg


def test_multi_backend_keras_on_311_names_keras_3():
    with pytest.raises(EnvSpecError) as e:
        compat.check(["tensorflow", "keras<=2.3.1"], (3, 11, 7), INSTALLED)
    msg = str(e.value)
    assert "needs Python 3.5 to 3.8, but this environment uses Python 3.11.7." in msg
    assert "Keras 3" in msg and "silently run another Keras" in msg
    assert "python=3.8 or python=3.7" in msg
    with pytest.raises(EnvSpecError, match=r"keras<=2.3.1 \(multi-backend Keras, which runs on TensorFlow 2.2 "
                                           r"at the newest\) needs Python 3.5 to 3.8"):
        compat.check(["keras<=2.3.1"], (3, 9, 18), INSTALLED)
    compat.check(["tensorflow", "keras<=2.3.1"], (3, 8, 18), INSTALLED)  # TF 2.2 exists there


def test_keras_23_with_newer_tensorflow_pin_is_refused_anywhere():
    with pytest.raises(EnvSpecError, match="runs on TensorFlow 2.2 at the newest, but tensorflow==2.4.0 asks"):
        compat.check(["tensorflow==2.4.0", "keras<=2.3.1"], (3, 7, 16), INSTALLED)


def test_tensorflow_pin_without_wheels_for_this_python():
    with pytest.raises(EnvSpecError, match=r"tensorflow==2.15.\* \(TensorFlow 2.15\) needs Python 3.9 to 3.11, "
                                           r"but this environment uses Python 3.12.1"):
        compat.check(["tensorflow==2.15.*"], (3, 12, 1), INSTALLED)
    compat.check(["tensorflow==2.15.*"], (3, 11, 7), INSTALLED)


def test_no_suitable_interpreter_installed_says_so():
    only_new = [i for i in INSTALLED if i.version >= (3, 10)]
    with pytest.raises(EnvSpecError, match=r"none of them is installed here: install one, e.g. `pyenv install 3.7`"):
        compat.check(ERA, (3, 11, 7), only_new)


def test_builder_refuses_before_installing(tmp_path, monkeypatch):
    """python=3.11 with the era pins: the build stops with the reason, no venv is made."""
    import kyanite.envs.builder as builder_mod

    def no_uv(*a, **k):
        raise AssertionError("uv must not run for a refused spec")
    monkeypatch.setattr(builder_mod.EnvBuilder, "_run", no_uv)
    monkeypatch.setattr(builder_mod, "resolve_python",
                        lambda req: Interpreter("/py/3.11.7/bin/python3", (3, 11, 7), "python=3.11 requested"))
    monkeypatch.setattr(builder_mod, "find_pythons", lambda: INSTALLED)
    spec = parse_conda_yaml(TUTORIAL_2020.replace("3.6.2", "3.11"), source="conda_dependencies.yml")
    spec.name = "keras-env"
    lines = []
    b = EnvBuilder(tmp_path)
    with pytest.raises(EnvSpecError, match=r"^tensorflow-gpu==2.0.0 \(TensorFlow 2.0\) with keras<=2.3.1 needs"):
        b.ensure(spec, log=lines.append)
    assert not b.env_dir(spec).exists()
    assert not any("building environment" in line for line in lines)


def test_keras_backend_default():
    assert compat.keras_backend({"keras": "2.3.1", "tensorflow-gpu": "2.0.0"}) == "tensorflow"
    assert compat.keras_backend({"keras": "3.15.1"}) == "jax"
    assert compat.keras_backend({}) == "jax" and compat.keras_backend(None) == "jax"
    env = {"KERAS_BACKEND": "jax"}  # inherited from the server's shell
    compat.set_keras_backend(env, {"keras": "2.3.1"})
    assert env["KERAS_BACKEND"] == "tensorflow"
    env = {"KERAS_BACKEND": "jax"}  # the Environment's own variable wins
    compat.set_keras_backend(env, {"keras": "2.3.1"}, {"KERAS_BACKEND": "jax"})
    assert env["KERAS_BACKEND"] == "jax"
    env = {}
    compat.set_keras_backend(env, {"keras": "3.15.1"})
    assert env == {"KERAS_BACKEND": "jax"}
    env = {"KERAS_BACKEND": "torch"}
    compat.set_keras_backend(env, {"keras": "3.15.1"})
    assert env == {"KERAS_BACKEND": "torch"}
