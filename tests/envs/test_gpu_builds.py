"""Which requirements name a GPU build (kyanite.envs.compat.gpu_builds): the run host says
that such a build runs on the CPU when the run has no GPU."""

from pathlib import Path

from kyanite.envs.compat import gpu_builds
from kyanite.envs.spec import parse_conda_yaml

TUTORIAL_2020 = Path(__file__).resolve().parents[2] / "examples" / "keras2-era" / "conda_dependencies.yml"


def test_gpu_builds_as_written():
    assert gpu_builds(["tensorflow-gpu==2.0.0", "keras<=2.3.1", "jax[cuda12]", "torch==2.3.0+cu121", "numpy",
                       "cupy-cuda12x", "onnxruntime-gpu"]) == [
        "tensorflow-gpu==2.0.0", "jax[cuda12]", "torch==2.3.0+cu121", "cupy-cuda12x", "onnxruntime-gpu"]
    assert gpu_builds(["torch", "numpy"], ["--index-url https://download.pytorch.org/whl/cu121"]) == ["torch"]
    assert gpu_builds(["torch", "tensorflow", "jax"], ["--index-url https://download.pytorch.org/whl/cpu"]) == []


def test_the_2020_file_keeps_its_gpu_build():
    spec = parse_conda_yaml(TUTORIAL_2020.read_text())  # the 2020 tutorial's own file
    assert "tensorflow-gpu==2.0.0" in spec.pip  # built as written
    assert gpu_builds(spec.pip, spec.pip_options) == ["tensorflow-gpu==2.0.0"]
