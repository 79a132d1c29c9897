"""Conda packages installed from PyPI: the map from conda names to PyPI names.

kyanite builds environments with uv, not conda, so the conda packages of an Azure ML SDK
v1 environment file (``dependencies: [scikit-learn=0.24, pytorch, ...]``,
``CondaDependencies.create(conda_packages=[...])``, ``add_conda_package``) are installed
from PyPI instead.

Contract of :func:`to_pip`:

* the name goes through :data:`CONDA_TO_PYPI` (``pytorch`` -> ``torch``,
  ``py-xgboost`` -> ``xgboost``, ``opencv`` -> ``opencv-python-headless``...); a name
  the map does not list is assumed to have the same name on PyPI (most do), and the
  note says so;
* the version constraint is kept, in pip's syntax: conda's fuzzy ``=1.2`` becomes
  ``==1.2.*``, ``==1.2`` stays exact, ``>=``/``<``/``!=`` and comma ranges are kept,
  ``1.2*`` becomes ``==1.2.*``; a build string (``=1.2=py38_0``) is dropped and the
  version then read as exact, as conda does; a ``channel::`` prefix is dropped;
* a package with no PyPI form (CUDA, cuDNN, MKL, compilers, C libraries, R packages:
  :data:`NO_PYPI_FORM`) raises :class:`EnvSpecError` naming it, the reason and what to do;
  so does a constraint pip cannot express (conda's ``|``).

It returns ``(requirement, note)``: the pip requirement and the line the builder logs.
``python`` and ``pip`` are not conda packages in this sense: the parser handles them
(the Python version, and nothing, since uv installs) before calling this.
"""

from __future__ import annotations

import re

from packaging.requirements import InvalidRequirement, Requirement

from .errors import EnvSpecError

__all__ = ["CONDA_TO_PYPI", "NO_PYPI_FORM", "to_pip"]

#: conda name -> PyPI name, for the names that differ or that v1 files use most.
CONDA_TO_PYPI = {
    # names that differ
    "pytorch": "torch",
    "pytorch-cpu": "torch",
    "pytorch-gpu": "torch",
    "py-xgboost": "xgboost",
    "py-xgboost-cpu": "xgboost",
    "py-xgboost-gpu": "xgboost",
    "_py-xgboost-mutex": None,  # a conda variant selector: nothing to install
    "py-lightgbm": "lightgbm",
    "opencv": "opencv-python-headless",
    "py-opencv": "opencv-python-headless",
    "libopencv": "opencv-python-headless",
    "tensorflow-gpu": "tensorflow",
    "tensorflow-base": "tensorflow",
    "tensorflow-mkl": "tensorflow",
    "keras-gpu": "keras",
    "matplotlib-base": "matplotlib",
    "pillow-simd": "pillow",
    "pytables": "tables",
    "pyqt": "pyqt5",
    "msgpack-python": "msgpack",
    "pywavelets": "pywavelets",
    "pyyaml": "pyyaml",
    "ruamel_yaml": "ruamel.yaml",
    "python-graphviz": "graphviz",
    "pydot-ng": "pydot",
    "ipython_genutils": "ipython-genutils",
    "typing_extensions": "typing-extensions",
    "py-opencv-headless": "opencv-python-headless",
    "gensim": "gensim",
    # same name on PyPI, listed so the log says the name is known
    "scikit-learn": "scikit-learn",
    "scikit-image": "scikit-image",
    "numpy": "numpy",
    "pandas": "pandas",
    "scipy": "scipy",
    "matplotlib": "matplotlib",
    "seaborn": "seaborn",
    "pillow": "pillow",
    "tensorflow": "tensorflow",
    "keras": "keras",
    "torchvision": "torchvision",
    "torchaudio": "torchaudio",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "catboost": "catboost",
    "statsmodels": "statsmodels",
    "h5py": "h5py",
    "joblib": "joblib",
    "tqdm": "tqdm",
    "requests": "requests",
    "six": "six",
    "nltk": "nltk",
    "spacy": "spacy",
    "ipykernel": "ipykernel",
    "notebook": "notebook",
    "jupyter": "jupyter",
    "psutil": "psutil",
    "pyarrow": "pyarrow",
    "protobuf": "protobuf",
    "cython": "cython",
    "numba": "numba",
    "sympy": "sympy",
    "networkx": "networkx",
    "plotly": "plotly",
    "onnx": "onnx",
    "onnxruntime": "onnxruntime",
    "jax": "jax",
    "jaxlib": "jaxlib",
}

_CUDA = ("CUDA comes with the GPU wheels of torch/jax/tensorflow (and the nvidia-* packages "
         "they depend on); remove it")
_BLAS = "the BLAS/LAPACK libraries come inside the numpy/scipy/torch wheels; remove it"
_CLIB = ("a C library or system package, which wheels bring with them (install it with the "
         "operating system's package manager if something builds from source); remove it")
_TOOL = "a compiler or system tool, not a Python package: install it with the operating system; remove it"

#: conda packages with no PyPI form -> why, and what to do.
NO_PYPI_FORM = {
    **{n: _CUDA for n in ("cudatoolkit", "cudatoolkit-dev", "cuda-toolkit", "cuda", "cudnn",
                          "nccl", "cuda-nvcc", "cuda-runtime", "cuda-cudart", "cupti",
                          "magma-cuda", "tensorrt")},
    **{n: _BLAS for n in ("mkl", "mkl-include", "mkl-devel", "blas", "libblas", "libcblas",
                          "liblapack", "liblapacke", "openblas", "libopenblas", "nomkl")},
    **{n: _CLIB for n in ("libgcc", "libgcc-ng", "libstdcxx-ng", "libgfortran", "libgfortran-ng",
                          "libgomp", "_libgcc_mutex", "_openmp_mutex", "openssl",
                          "ca-certificates", "zlib", "libffi", "ncurses", "readline", "sqlite",
                          "tk", "xz", "bzip2", "libuuid", "ld_impl_linux-64", "libprotobuf",
                          "arrow-cpp", "libxgboost", "lz4-c", "hdf5", "libpng", "jpeg", "libjpeg-turbo",
                          "libtiff", "freetype", "libiconv", "icu", "libxml2", "boost",
                          "boost-cpp", "libboost", "ffmpeg", "libsndfile", "openmpi", "mpich")},
    **{n: _TOOL for n in ("gcc", "gxx", "gcc_linux-64", "gxx_linux-64", "gfortran",
                          "gfortran_linux-64", "compilers", "make", "git", "nodejs", "curl",
                          "wget", "graphviz", "conda", "conda-build", "mamba")},
}
_R_REASON = "an R package, which cannot be installed into a Python environment; remove it"

_SPEC_RE = re.compile(r"^(?:[^:\s]+::)?([A-Za-z0-9_][A-Za-z0-9_.-]*)\s*(.*)$")
_VERSION_RE = re.compile(r"^[0-9A-Za-z_.!+*-]+$")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


_MAP = {_norm(k): v for k, v in CONDA_TO_PYPI.items()}
_REFUSED = {_norm(k): v for k, v in NO_PYPI_FORM.items()}


def refusal(name: str) -> str | None:
    """Why conda package ``name`` has no PyPI form, or ``None`` when it has one."""
    n = _norm(name)
    if n in _REFUSED:
        return _REFUSED[n]
    if n.startswith("r-") or n == "r-base" or n == "r":
        return _R_REASON
    return None


def _fuzzy(version: str) -> str:
    """conda ``=V`` / bare ``V``: V, then any later component (``1.2`` -> ``==1.2.*``)."""
    version = version.rstrip("*").rstrip(".")
    return "==%s.*" % version


def _constraint(rest: str, entry: str, where: str) -> str:
    """The pip specifier for what follows the name in a conda match spec ('' for none)."""
    rest = rest.strip()
    if not rest:
        return ""
    if "|" in rest:
        raise EnvSpecError(
            f"{where}: conda package {entry!r}: alternatives ('|') have no pip form; "
            "pick one version range, e.g. 'name>=1.2,<2'")
    if rest.startswith("==") or rest[0] in "<>!~":  # pip-style already; a build string may follow
        spec = re.sub(r"\s*([,<>=!~])\s*", r"\1", rest).split()[0]
        if spec.startswith("==") and "=" in spec[2:]:  # ==1.2=py38_0: build dropped
            spec = spec[:2] + spec[2:].split("=")[0]
        return re.sub(r"(?<=[0-9])\*", ".*", spec)
    if rest.startswith("="):  # =1.2 (fuzzy) or =1.2=build (exact, build dropped)
        version, _, build = rest[1:].partition("=")
        version = version.strip()
        if not version:
            return ""
        return "==" + version.rstrip("*").rstrip(".") if build else _fuzzy(version)
    parts = rest.split()  # "name 1.2" / "name 1.2 build" (conda's space form)
    version = parts[0]
    if len(parts) > 1:
        return "==" + version.rstrip("*").rstrip(".")
    if version.endswith("*") or not re.search(r"[<>=!,]", version):
        return _fuzzy(version) if version.rstrip("*") else ""
    return version


def to_pip(entry: str, where: str = "conda dependencies") -> tuple[str | None, str]:
    """``(pip requirement, note)`` for the conda match spec ``entry`` (see the module
    docstring); the requirement is ``None`` for a conda-only helper that installs nothing.
    Raises :class:`EnvSpecError` (message starts with ``where``)."""
    text = entry.strip()
    m = _SPEC_RE.match(text)
    if not m:
        raise EnvSpecError(f"{where}: cannot parse conda package {entry!r}")
    name, rest = m.group(1), m.group(2)
    why = refusal(name)
    if why is not None:
        raise EnvSpecError(f"{where}: conda package {name!r} has no PyPI form: {why}.")
    n = _norm(name)
    known = n in _MAP
    pypi = _MAP.get(n, n)
    if pypi is None:
        return None, f"conda package {text!r} is a conda-only helper: nothing to install"
    req = pypi + _constraint(rest, text, where)
    try:
        Requirement(req)
    except InvalidRequirement:
        raise EnvSpecError(
            f"{where}: cannot turn conda package {entry!r} into a pip requirement (got {req!r}); "
            "write it in the 'pip:' section with pip's version syntax, e.g. name==1.2") from None
    how = "" if known else " (not in kyanite's conda map: assuming the same name on PyPI)"
    return req, f"conda package {text!r} installed from PyPI as {req!r}{how}"
