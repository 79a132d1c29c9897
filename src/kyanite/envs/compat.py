"""Old TensorFlow / Keras environments (2019-2021): what they need, and what cannot work.

Environment files of the Azure ML SDK v1 era ask for things like::

    - python=3.6.2
    - pip:
      - tensorflow-gpu==2.0.0
      - keras<=2.3.1

Installed today, exactly as written, such a file gets the *newest* versions of every
package that was left unpinned, and some of those broke the old releases later. The
fixes below are the pins that later TensorFlow releases adopted themselves, applied to
the releases that lacked them (all measured with uv on Python 3.6-3.9):

========================  ==================  ============================================
old release asked for     breaks with         what happens
========================  ==================  ============================================
Keras <= 2.3, TF < 2.4    h5py >= 3           ``save_weights`` works but ``load_weights`` /
                                              ``load_model`` fail (``'str' object has no
                                              attribute 'decode'``); TF 2.4 pinned h5py 2.10
TF < 2.4                  numpy >= 1.20       symbolic-tensor errors (RNNs); TF 2.4 pinned
                                              numpy 1.19
TF < 2.9 (Python >= 3.7)  protobuf >= 4       ``import tensorflow`` fails: "Descriptors
                                              cannot be created directly"; TF 2.9 pinned
                                              protobuf < 3.20
Keras <= 2.3 with TF      TF >= 2.3           Keras 2.3 needs ``ops._TensorLike``, gone in
left open                                     TF 2.3; TF >= 2.5 also installs its own
                                              ``keras`` package (keras-nightly, later
                                              Keras 3) over Keras 2.3's files
========================  ==================  ============================================

:func:`constraints` turns these into uv constraints (``h5py<3``, ``numpy<1.20``,
``protobuf<4``, ``tensorflow<2.3``), each with the reason the builder logs. A constraint
only narrows what uv may pick and installs nothing; a package the user lists themselves
(``h5py<=2.10.0``, say) is never constrained by these rules. They depend on the
requirements only, so they are part of the environment's hash.

:func:`check` refuses, before anything is installed, the combinations no installable
set of packages satisfies for the Python the environment would use -- TensorFlow 2.0 has
wheels for Python 3.5-3.7 only, and multi-backend Keras (<= 2.3) runs on TensorFlow 2.2 at
the newest (Python <= 3.8): on Python 3.9+ uv would install keras 2.3.1 beside a
TensorFlow that brings its own Keras, which fails at import or silently becomes Keras 3.

The same refusal covers the other packages whose old releases v1 files pin
(:data:`WHEEL_PYTHONS`: numpy, scikit-learn, pandas, scipy): ``scikit-learn==0.22.1`` has
wheels for Python 3.5-3.8 only, and on 3.11 uv would try, and fail, to compile it.

:func:`default_python` is the other side of the same table: an environment that pins no
Python (``CondaDependencies()``, a conda file with a bare ``python`` or none) gets the
interpreter running kyanite when :func:`check` accepts its requirements there, else the
newest installed Python it accepts, and a note saying so for the build log.

:func:`keras_backend` picks the ``KERAS_BACKEND`` default for a built environment:
``jax`` for Keras 3, ``tensorflow`` for Keras 2 (which refuses ``jax``: "Unable to import
backend : jax"); :func:`set_keras_backend` applies it to a process environment.
"""

from __future__ import annotations

import functools
import re
from typing import Iterable

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from .errors import EnvSpecError

__all__ = ["TF_PACKAGES", "TF_PYTHONS", "WHEEL_PYTHONS", "check", "constraints", "default_python",
           "keras_backend", "set_keras_backend"]

#: The pip names of TensorFlow (same releases, same wheels' Python tags).
TF_PACKAGES = ("tensorflow", "tensorflow-gpu", "tensorflow-cpu")

#: TensorFlow (major, minor) -> (oldest, newest) Python 3 minor it has Linux wheels for.
TF_PYTHONS = {
    (1, 13): (5, 7), (1, 14): (5, 7), (1, 15): (5, 7),
    (2, 0): (5, 7), (2, 1): (5, 7), (2, 2): (5, 8), (2, 3): (5, 8), (2, 4): (6, 8),
    (2, 5): (6, 9), (2, 6): (6, 9), (2, 7): (7, 9), (2, 8): (7, 10), (2, 9): (7, 10),
    (2, 10): (7, 10), (2, 11): (7, 10), (2, 12): (8, 11), (2, 13): (8, 11),
    (2, 14): (9, 11), (2, 15): (9, 11), (2, 16): (9, 12), (2, 17): (9, 12),
    (2, 18): (9, 12), (2, 19): (9, 12), (2, 20): (9, 13),
}
_TF_LAST_KNOWN = max(TF_PYTHONS)

#: Other packages whose old releases are pinned in old environment files: release
#: (major, minor) -> (oldest, newest) Python 3 minor with a Linux x86_64 CPython wheel for
#: some patch release (read from PyPI's file lists). A pin admitting only releases listed
#: here needs one of those Pythons; one admitting a later release is left to uv.
WHEEL_PYTHONS = {
    "tensorflow": TF_PYTHONS, "tensorflow-gpu": TF_PYTHONS, "tensorflow-cpu": TF_PYTHONS,
    "numpy": {
        (1, 11): (4, 6), (1, 12): (4, 6), (1, 13): (4, 6), (1, 14): (4, 7), (1, 15): (4, 7),
        (1, 16): (5, 7), (1, 17): (5, 8), (1, 18): (5, 8), (1, 19): (6, 9), (1, 20): (7, 9),
        (1, 21): (7, 10), (1, 22): (8, 10), (1, 23): (8, 11), (1, 24): (8, 11), (1, 25): (9, 11),
        (1, 26): (9, 12), (2, 0): (9, 12), (2, 1): (10, 13), (2, 2): (10, 13), (2, 3): (11, 14),
    },
    "scikit-learn": {
        (0, 19): (4, 7), (0, 20): (4, 7), (0, 21): (5, 7), (0, 22): (5, 8), (0, 23): (6, 8),
        (0, 24): (6, 9), (1, 0): (7, 10), (1, 1): (8, 11), (1, 2): (8, 11), (1, 3): (8, 12),
        (1, 4): (9, 12), (1, 5): (9, 13), (1, 6): (9, 13), (1, 7): (10, 14),
    },
    "pandas": {
        (0, 22): (5, 6), (0, 23): (5, 7), (0, 24): (5, 7), (0, 25): (5, 8), (1, 0): (6, 8),
        (1, 1): (6, 9), (1, 2): (7, 9), (1, 3): (7, 10), (1, 4): (8, 10), (1, 5): (8, 11),
        (2, 0): (8, 11), (2, 1): (9, 12), (2, 2): (9, 13), (2, 3): (9, 14),
    },
    "scipy": {
        (1, 1): (4, 7), (1, 2): (4, 7), (1, 3): (5, 8), (1, 4): (5, 8), (1, 5): (6, 9),
        (1, 6): (7, 9), (1, 7): (7, 10), (1, 8): (8, 10), (1, 9): (8, 11), (1, 10): (8, 11),
        (1, 11): (9, 12), (1, 12): (9, 12), (1, 13): (9, 12), (1, 14): (10, 13), (1, 15): (10, 13),
    },
}

#: The newest TensorFlow multi-backend Keras runs on: Keras 2.3 -> TF 2.2, older -> TF 1.15.
_KERAS23_TF_MAX = (2, 2)
_KERAS22_TF_MAX = (1, 15)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _parse(reqs: Iterable[str]) -> dict[str, list[SpecifierSet]]:
    """name -> specifier sets, for the requirements packaging understands (URLs etc. skipped)."""
    out: dict[str, list[SpecifierSet]] = {}
    for text in reqs:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        out.setdefault(_norm(req.name), []).append(req.specifier)
    return out


def _admits(specs: list[SpecifierSet], version: str) -> bool:
    v = Version(version)
    return all(s.contains(v, prereleases=True) for s in specs)


def _admits_minor(specs: list[SpecifierSet], minor: tuple[int, int]) -> bool:
    """Whether any release ``X.Y.0``-``X.Y.9`` of ``minor`` satisfies every specifier."""
    return any(_admits(specs, "%d.%d.%d" % (minor + (p,))) for p in range(10))


def _keras_tf_max(specs: list[SpecifierSet]) -> tuple[int, int] | None:
    """For a keras requirement admitting only multi-backend Keras (< 2.4): the newest
    TensorFlow it runs on; ``None`` when it admits Keras 2.4 or later (or nothing at all)."""
    newer = ["2.4.0", "2.4.3"] + ["2.%d.0" % m for m in range(5, 40)] + \
        ["%d.%d.0" % (major, m) for major in (3, 4, 5) for m in range(0, 40)] + ["99.0"]
    if any(_admits(specs, v) for v in newer):
        return None
    if _admits_minor(specs, (2, 3)):
        return _KERAS23_TF_MAX
    if any(_admits_minor(specs, (2, m)) for m in range(0, 3)) or _admits_minor(specs, (1, 2)):
        return _KERAS22_TF_MAX
    return None  # e.g. keras<1: let uv say what it thinks


def _listed(parsed: dict[str, list[SpecifierSet]], name: str) -> bool:
    return _norm(name) in parsed


def _tf_requirements(parsed):
    return [(name, parsed[name]) for name in TF_PACKAGES if name in parsed]


def _tf_only_below(specs: list[SpecifierSet], minor: tuple[int, int]) -> bool:
    """The requirement admits some TensorFlow, all of them older than ``minor``."""
    known = [m for m in TF_PYTHONS if _admits_minor(specs, m)]
    later = any(m >= minor for m in known) or _tf_beyond_table(specs)
    return bool(known) and not later


def _tf_beyond_table(specs: list[SpecifierSet]) -> bool:
    """The requirement admits a TensorFlow newer than :data:`TF_PYTHONS` knows."""
    later = ["2.%d.0" % m for m in range(_TF_LAST_KNOWN[1] + 1, 60)] + ["3.0.0", "99.0"]
    return any(_admits(specs, v) for v in later)


def constraints(requirements: Iterable[str]) -> list[tuple[str, str]]:
    """The uv constraints an old TensorFlow/Keras environment needs: ``[(constraint, reason)]``.

    Empty for every environment that asks for no TensorFlow/Keras older than the
    releases that pinned these packages themselves.
    """
    return list(_constraints(tuple(requirements)))


@functools.lru_cache(maxsize=256)
def _constraints(requirements: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    parsed = _parse(requirements)
    tfs = _tf_requirements(parsed)
    keras_max = _keras_tf_max(parsed["keras"]) if "keras" in parsed else None
    out: list[tuple[str, str]] = []
    if keras_max is not None:
        for name, specs in tfs:
            if any(_admits_minor(specs, m) for m in TF_PYTHONS if m > keras_max):
                bound = "%d.%d" % (keras_max[0], keras_max[1] + 1)
                out.append((
                    "%s<%s" % (name, bound),
                    "multi-backend Keras (keras<2.4, as asked) runs on TensorFlow %d.%d at the newest "
                    "(later releases removed what it uses, and TensorFlow 2.5+ installs its own keras "
                    "package over it)" % keras_max))
    old_tf_h5 = keras_max is not None or any(_tf_only_below(s, (2, 4)) for _, s in tfs)
    old_tf_np = (keras_max is not None and bool(tfs)) or any(_tf_only_below(s, (2, 4)) for _, s in tfs)
    old_tf_pb = (keras_max is not None and bool(tfs)) or any(_tf_only_below(s, (2, 9)) for _, s in tfs)
    if old_tf_h5 and not _listed(parsed, "h5py"):
        out.append(("h5py<3", "Keras 2.3 and TensorFlow < 2.4 cannot load .h5 files with h5py 3 "
                    "(load_weights fails: 'str' object has no attribute 'decode'); TensorFlow 2.4 "
                    "pinned h5py 2.10"))
    if old_tf_np and not _listed(parsed, "numpy"):
        out.append(("numpy<1.20", "TensorFlow < 2.4 was built for numpy < 1.20 (later numpy breaks "
                    "some of its ops); TensorFlow 2.4 pinned numpy 1.19"))
    if old_tf_pb and not _listed(parsed, "protobuf"):
        out.append(("protobuf<4", "TensorFlow < 2.9 does not import with protobuf 4 or later "
                    "(\"Descriptors cannot be created directly\"); TensorFlow 2.9 pinned protobuf < 3.20"))
    return tuple(out)


def _py_range(minors: Iterable[tuple[int, int]]) -> set[int]:
    out: set[int] = set()
    for m in minors:
        lo, hi = TF_PYTHONS[m]
        out.update(range(lo, hi + 1))
    return out


def _fmt_minor(m: tuple[int, int]) -> str:
    return "%d.%d" % m


def _fmt_pythons(minors: set[int]) -> str:
    s = sorted(minors)
    if not s:
        return "none"
    if s == list(range(s[0], s[-1] + 1)) and len(s) > 1:
        return "3.%d to 3.%d" % (s[0], s[-1])
    return ", ".join("3.%d" % m for m in s)


def check(requirements: Iterable[str], python: tuple[int, ...], installed=None,
          source: str | None = None) -> None:
    """Raise :class:`EnvSpecError` when the TensorFlow/Keras requirements cannot be met on
    Python ``python`` (``(major, minor, ...)``), naming the problem and the fix.

    ``installed``: the :class:`~kyanite.envs.Interpreter` list of this host, to name the
    interpreters that would work. ``source``: a prefix for the message (``"conda.yml"``).
    """
    prefix = "%s: " % source if source else ""
    reqs = list(requirements)
    _check_tf(reqs, python, installed, prefix)
    _check_wheels(reqs, python, installed, prefix)


def _check_wheels(reqs, python, installed, prefix):
    """The :data:`WHEEL_PYTHONS` part of :func:`check`."""
    parsed = _parse(reqs)
    minor = tuple(python[:2])
    for name, table in WHEEL_PYTHONS.items():
        if name not in parsed or name in TF_PACKAGES:  # TensorFlow: :func:`_check_tf`
            continue
        specs = parsed[name]
        if _beyond_table(specs, max(table)):
            continue  # a release newer than the table could fit: let uv pick
        releases = [m for m in table if _admits_minor(specs, m)]
        if not releases:
            continue  # no release we know of matches: uv's resolver explains that better
        pythons = set()
        for m in releases:
            pythons.update(range(table[m][0], table[m][1] + 1))
        if minor[0] == 3 and minor[1] in pythons:
            continue
        text = next((r for r in reqs if name in _parse([r])), name)
        _refuse(prefix, text, pythons, "Python %s" % ".".join(str(p) for p in python[:3]),
                " %s has Linux wheels for those Pythons only, and old releases do not build "
                "from source on newer ones." % name, installed)


def _beyond_table(specs: list[SpecifierSet], last: tuple[int, int]) -> bool:
    """The requirement admits a release newer than ``last`` (the table's newest)."""
    later = ["%d.%d.0" % (last[0], m) for m in range(last[1] + 1, last[1] + 40)] + \
        ["%d.0.0" % major for major in range(last[0] + 1, last[0] + 5)] + ["99.0"]
    return any(_admits(specs, v) for v in later)


def _check_tf(reqs, python, installed, prefix):
    """The TensorFlow/Keras part of :func:`check`."""
    parsed = _parse(reqs)
    tfs = _tf_requirements(parsed)
    keras_max = _keras_tf_max(parsed["keras"]) if "keras" in parsed else None
    if not tfs and keras_max is None:
        return
    minor = tuple(python[:2])
    here = "Python %s" % ".".join(str(p) for p in python[:3])
    keras_text = next((r for r in reqs if _parse([r]).get("keras")), "keras")

    # the TensorFlow releases each requirement admits, within what Keras can run on
    candidates = set(TF_PYTHONS)
    open_ended = keras_max is None  # a TF newer than the table could exist for it
    named = []
    for name, specs in tfs:
        text = next(r for r in reqs if name in _parse([r]))
        named.append(text)
        if not _tf_beyond_table(specs):
            open_ended = False
        candidates &= {m for m in TF_PYTHONS if _admits_minor(specs, m)}
    if keras_max is not None:
        candidates = {m for m in candidates if m <= keras_max}
    if open_ended:
        return
    if not candidates:
        if keras_max is not None and named:
            raise EnvSpecError(
                "%s%s is multi-backend Keras, which runs on TensorFlow %s at the newest, but %s "
                "asks for a later TensorFlow. Nothing was installed. Either pin TensorFlow %s or "
                "older (e.g. tensorflow==2.0.0 with python=3.6 or 3.7), or drop the keras pin and "
                "use tf.keras." % (prefix, keras_text, _fmt_minor(keras_max), " and ".join(named),
                                   _fmt_minor(keras_max)))
        return  # no TF release we know of matches: uv's resolver explains that better
    pythons = _py_range(candidates)
    if minor[0] == 3 and minor[1] in pythons:
        return

    lo, hi = min(candidates), max(candidates)
    tf_span = "TensorFlow %s" % _fmt_minor(lo) if lo == hi else \
        "TensorFlow %s to %s" % (_fmt_minor(lo), _fmt_minor(hi))
    if named:
        what = "%s (%s)" % (" and ".join(named), tf_span)
        if keras_max is not None:
            what += " with %s" % keras_text
    else:
        what = ("%s (multi-backend Keras, which runs on TensorFlow %s at the newest)"
                % (keras_text, _fmt_minor(keras_max)))
    why = ""
    tf_for_here = not tfs or any(
        _tf_beyond_table(specs) or any(_admits_minor(specs, m) and TF_PYTHONS[m][0] <= minor[1] <= TF_PYTHONS[m][1]
                                       for m in TF_PYTHONS) for _, specs in tfs)
    if keras_max is not None and minor >= (3, 9) and tf_for_here:
        why = (" There, %s would be installed beside a TensorFlow that brings its own keras "
               "package (keras-nightly, Keras 2.6+ or Keras 3) into the same folder: the script "
               "would fail at import or silently run another Keras." % keras_text)
    _refuse(prefix, what, pythons, here, why, installed)


def _refuse(prefix, what, pythons, here, why, installed):
    """Raise the EnvSpecError naming what needs which Pythons and the installed ones that fit."""
    good = [i for i in (installed or []) if i.version[0] == 3 and i.version[1] in pythons]
    if good:
        newest_by_minor = {}
        for i in good:  # newest first
            newest_by_minor.setdefault(i.version[:2], i)
        have = "installed here: %s" % ", ".join(i.version_str for i in newest_by_minor.values())
        suggest = " or ".join("python=%d.%d" % v for v in list(newest_by_minor)[:2])
    else:
        have = "none of them is installed here: install one, e.g. `pyenv install 3.%d`" % max(pythons)
        suggest = "python=3.%d" % max(pythons)
    raise EnvSpecError(
        "%s%s needs Python %s, but this environment uses %s.%s Nothing was installed. "
        "Fix: ask for %s in the conda file's dependencies (%s)." % (
            prefix, what, _fmt_pythons(pythons), here, why, suggest, have))


def default_python(requirements: Iterable[str], default, installed):
    """The interpreter for an environment whose Python is not pinned (conda ``python`` with
    no version, no ``python`` at all, ``CondaDependencies()``): ``default`` (the interpreter
    running kyanite) when :func:`check` accepts the requirements on it, else the newest of
    ``installed`` it accepts, with a ``note`` saying why. Raises :func:`check`'s
    :class:`EnvSpecError` for ``default`` when no installed Python fits."""
    from .pythons import Interpreter
    reqs = list(requirements)
    try:
        check(reqs, default.version, installed)
        return default
    except EnvSpecError as first:
        for interp in installed:  # newest first
            try:
                check(reqs, interp.version, installed)
            except EnvSpecError:
                continue
            pinned = [r for r in reqs if set(_parse([r])) & (set(WHEEL_PYTHONS) | {"keras"})]
            note = ("python not pinned: %s cannot be installed on Python %s, kyanite's default; "
                    "using Python %s at %s, the newest installed Python that has them "
                    "(pin python=X.Y in the conda dependencies to choose)" % (
                        ", ".join(pinned) or "these requirements", default.version_str,
                        interp.version_str, interp.path))
            return Interpreter(interp.path, interp.version, note)
        raise first


def keras_backend(resolved: dict[str, str] | None) -> str:
    """``KERAS_BACKEND`` default for an environment with these installed packages:
    ``tensorflow`` when its Keras is 2.x or older (Keras 2 refuses ``jax``), else ``jax``."""
    version = (resolved or {}).get("keras") or (resolved or {}).get("Keras")
    try:
        if version and Version(version).major < 3:
            return "tensorflow"
    except InvalidVersion:
        pass
    return "jax"


def set_keras_backend(env: dict[str, str], resolved: dict[str, str] | None,
                      user_vars: dict[str, str] | None = None) -> None:
    """Set ``KERAS_BACKEND`` in ``env`` (a script's or scoring process's environment) for an
    environment with these installed packages, unless ``user_vars`` (the Environment's own
    variables) set it. A ``jax`` inherited from the server's environment is replaced for
    Keras 2, which cannot use it; any other inherited value is kept."""
    if "KERAS_BACKEND" in (user_vars or {}):
        return
    backend = keras_backend(resolved)
    if backend == "tensorflow" and env.get("KERAS_BACKEND") == "jax":
        env["KERAS_BACKEND"] = backend
    else:
        env.setdefault("KERAS_BACKEND", backend)


#: Package names that are GPU builds by name (the CPU build has another name).
_GPU_NAMES = re.compile(r"^(.*-gpu|cupy-cuda.*|nvidia-.*-cu\d+|jax-cuda\d+-(plugin|pjrt))$")


def gpu_builds(pip: Iterable[str], pip_options: Iterable[str] = ()) -> list[str]:
    """The requirements of ``pip`` that name a GPU build, as written: a ``*-gpu`` package
    (``tensorflow-gpu==2.0.0``), a CUDA extra (``jax[cuda12]``), a ``+cuXXX`` local
    version (``torch==2.3.0+cu121``), ``cupy-cuda12x``/``nvidia-*-cu12``, or ``torch``/
    ``torchvision``/``torchaudio`` installed from a CUDA index (``--index-url
    https://download.pytorch.org/whl/cu121`` in ``pip_options``). They build as written
    on any machine; without a GPU they run on the CPU (the run host says so)."""
    cuda_index = any(re.search(r"/whl/cu\d+", o) for o in pip_options)
    out = []
    for text in pip:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        name = _norm(req.name)
        if (_GPU_NAMES.match(name) or any(e.lower().startswith("cuda") for e in req.extras)
                or "+cu" in str(req.specifier) or (cuda_index and name in ("torch", "torchvision", "torchaudio"))):
            out.append(text)
    return out
