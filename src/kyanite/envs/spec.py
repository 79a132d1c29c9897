"""Environment specifications and the parsers that produce them.

An :class:`EnvSpec` says which Python to use and which pip requirements to
install into a fresh virtual environment (or, when ``user_managed``, which
existing interpreter to use as-is).  It is what :class:`kyanite.envs.EnvBuilder`
consumes, and :meth:`EnvSpec.hash` is the identity of the built environment.

Sources understood:

* :func:`parse_conda_yaml` -- a conda environment file as used with the
  Azure ML SDK v1 (``CondaDependencies`` / ``Environment.from_conda_specification``).
  kyanite builds environments with uv, not conda: ``python`` sets the Python,
  ``pip`` is ignored (uv installs), the ``pip:`` section is installed as written,
  and every other conda package is installed from PyPI through the map of
  :mod:`kyanite.envs.conda_map` (``pytorch=1.8`` -> ``torch==1.8.*``, noted in
  ``warnings`` so the build log shows each mapping); packages with no PyPI form
  (``cudatoolkit``, ``mkl``...) are refused with the reason.  Channels are
  ignored, with a note.
* :func:`parse_pip_requirements` -- a ``requirements.txt``.

Requirements are kept exactly as written; uv receives them verbatim.  Old
TensorFlow/Keras requirements (2019-2021 era) additionally get the uv constraints
of :mod:`kyanite.envs.compat` (``h5py<3``...), which are part of the hash.  The
packages that make up the Azure ML runtime (``azureml-defaults``,
``azureml-core``, ``azureml-sdk``) and ``kyanite`` itself are provided by
kyanite, so they are removed from ``pip`` and listed in ``dropped``.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import sys
from dataclasses import dataclass, field, fields
from typing import Any, Iterable

import yaml

from .conda_map import to_pip as conda_to_pip
from .errors import EnvSpecError
from .pythons import parse_python_request

__all__ = [
    "BUILD_FORMAT",
    "RUNTIME_PACKAGES",
    "EnvSpec",
    "parse_conda_yaml",
    "parse_pip_requirements",
]

#: Bumped whenever the on-disk layout or build recipe changes; part of every hash.
BUILD_FORMAT = "kyanite-env/1"

#: Normalised names of packages that the kyanite runtime provides.
RUNTIME_PACKAGES = frozenset({"azureml-defaults", "azureml-core", "azureml-sdk", "kyanite"})

# pip options allowed in a pip section / requirements file: name -> takes a value.
_OPTIONS_WITH_VALUE = {
    "-i": "--index-url",
    "--index-url": "--index-url",
    "--extra-index-url": "--extra-index-url",
    "-f": "--find-links",
    "--find-links": "--find-links",
    "--trusted-host": "--trusted-host",
    "--no-binary": "--no-binary",
    "--only-binary": "--only-binary",
}
_FLAG_OPTIONS = {"--no-index", "--pre"}
_INCLUDE_OPTIONS = {"-r", "--requirement", "-c", "--constraint"}
_SUPPORTED_TEXT = (
    "--index-url/-i URL, --extra-index-url URL, --find-links/-f DIR_OR_URL, --no-index, "
    "--pre, --trusted-host HOST, --no-binary X, --only-binary X"
)

_NAME_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_CONDA_SPEC_RE = re.compile(r"^(?:[^:\s]+::)?([A-Za-z0-9_][A-Za-z0-9_.-]*)\s*(.*)$")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(req: str) -> str | None:
    m = _NAME_RE.match(req)
    return _normalise(m.group(1)) if m else None


def _check_option(line: str, where: str) -> str:
    """Validate one pip option line; returns it stripped.  Raises EnvSpecError."""
    line = line.strip()
    try:
        tokens = shlex.split(line)
    except ValueError as e:
        raise EnvSpecError(f"{where}: cannot parse pip option {line!r}: {e}") from None
    if not tokens:
        raise EnvSpecError(f"{where}: empty pip option")
    opt, eq, value = tokens[0].partition("=")
    rest = tokens[1:]
    if opt in ("-f", "-i") and not eq and len(opt) == 2 and len(tokens[0]) > 2:
        opt, value, eq = tokens[0][:2], tokens[0][2:], "="  # "-f/opt/wheels"
    if opt in _INCLUDE_OPTIONS:
        raise EnvSpecError(
            f"{where}: {line!r}: including other requirement/constraint files is not "
            "supported; list those requirements here directly."
        )
    if opt in ("-e", "--editable"):
        raise EnvSpecError(
            f"{where}: {line!r}: editable installs are not supported in environment "
            "specifications; install a built wheel with --find-links instead."
        )
    if opt in _FLAG_OPTIONS:
        if eq or rest:
            raise EnvSpecError(f"{where}: pip option {opt} takes no value (got {line!r})")
        return line
    if opt in _OPTIONS_WITH_VALUE:
        n_values = (1 if eq else 0) + len(rest)
        if n_values != 1 or (eq and not value):
            raise EnvSpecError(f"{where}: pip option {opt} needs exactly one value (got {line!r})")
        return line
    raise EnvSpecError(
        f"{where}: unsupported pip option {line!r}. Supported options: {_SUPPORTED_TEXT}."
    )


def _split_pip_items(items: Iterable[tuple[str, str]]):
    """Classify ``(text, where)`` pairs into (requirements, options, dropped)."""
    reqs: list[str] = []
    opts: list[str] = []
    dropped: list[str] = []
    for text, where in items:
        text = text.strip()
        if not text:
            continue
        if text.startswith("-"):
            opts.append(_check_option(text, where))
            continue
        if re.search(r"\s--?[A-Za-z]", text) and not re.search(r"[;@]", text):
            raise EnvSpecError(
                f"{where}: per-requirement options are not supported in {text!r}; "
                "keep only the requirement itself."
            )
        if _requirement_name(text) in RUNTIME_PACKAGES:
            dropped.append(text)
        else:
            reqs.append(text)
    return reqs, opts, dropped


@dataclass
class EnvSpec:
    """What to build.  Treat instances as immutable values.

    Attributes:
        python: requested Python version as written (``"3.6.2"``, ``"3.11"``,
            ``"3"``, ``">=3.8,<3.11"``); ``None`` (not pinned) means the
            interpreter that runs kyanite, or, when the pins have no wheels for it
            (``scikit-learn==0.22.1``), the newest installed Python they have
            (:func:`kyanite.envs.compat.default_python`).  Resolved by
            :func:`kyanite.envs.resolve_python`.
        pip: requirement strings, verbatim (order kept; irrelevant to the hash).
        pip_options: pip option lines such as ``--find-links /opt/wheels`` or
            ``--extra-index-url URL``, verbatim, passed to uv in order.
        user_managed: use an existing interpreter as-is; nothing is built and
            ``pip`` is not installed.
        interpreter: the interpreter for ``user_managed`` (``None`` =
            ``sys.executable``); ignored otherwise.
        name: informational (conda ``name:``); not part of the hash.
        dropped: runtime packages removed from ``pip`` because kyanite provides
            them; informational, not part of the hash.
        warnings: things that were accepted but ignored; informational.
    """

    python: str | None = None
    pip: list[str] = field(default_factory=list)
    pip_options: list[str] = field(default_factory=list)
    user_managed: bool = False
    interpreter: str | None = None
    name: str | None = None
    dropped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.python is not None:
            self.python = str(self.python).strip()
            parse_python_request(self.python)  # raises EnvSpecError
        for attr in ("pip", "pip_options", "dropped", "warnings"):
            value = getattr(self, attr)
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise EnvSpecError(f"EnvSpec.{attr} must be a list of strings, got {value!r}")
            setattr(self, attr, list(value))
        self.pip_options = [_check_option(o, "EnvSpec.pip_options") for o in self.pip_options]
        self.user_managed = bool(self.user_managed)

    # ------------------------------------------------------------------ (de)serialisation

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict of every field (round-trips via :meth:`from_dict`)."""
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), list) else v)
                for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "EnvSpec":
        """Inverse of :meth:`to_dict`; missing keys take defaults, unknown keys are refused."""
        if not isinstance(d, dict):
            raise EnvSpecError(f"environment spec must be a mapping, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise EnvSpecError(
                f"unknown environment spec field(s): {', '.join(unknown)}; "
                f"known fields: {', '.join(sorted(known))}"
            )
        return cls(**d)

    # ------------------------------------------------------------------ identity

    def build_key(self) -> dict[str, Any]:
        """The canonical description hashed by :meth:`hash`.

        Only what changes the built result is included.  ``python=None`` is
        keyed by the running interpreter's version, since that is what gets
        built; ``user_managed`` specs are keyed by the interpreter path.
        """
        if self.user_managed:
            return {
                "format": BUILD_FORMAT,
                "user_managed": True,
                "interpreter": self.interpreter or sys.executable,
            }
        key = {
            "format": BUILD_FORMAT,
            "python": self.python,
            "default_python": None if self.python else "%d.%d.%d" % sys.version_info[:3],
            "pip": sorted(self.pip),
            "pip_options": list(self.pip_options),
        }
        added = self.constraints()
        if added:  # only old TensorFlow/Keras specs get them; other hashes stay as they were
            key["constraints"] = [c for c, _ in added]
        return key

    def constraints(self) -> list[tuple[str, str]]:
        """uv constraints the builder adds for old TensorFlow/Keras requirements, with the
        reason for each (see :mod:`kyanite.envs.compat`); empty for most specs."""
        if self.user_managed:
            return []
        from .compat import constraints
        return constraints(self.pip)

    def hash(self) -> str:
        """Hex sha256 of the canonical JSON of :meth:`build_key`; stable across processes."""
        blob = json.dumps(self.build_key(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------- conda YAML


def _yaml_error(source: str, err: yaml.YAMLError) -> EnvSpecError:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(err, "problem", None) or str(err)
    return EnvSpecError(f"{source}: invalid YAML{where}: {problem}")


def _conda_python_version(rest: str, entry: str, source: str) -> str | None:
    """Turn what follows ``python`` in a conda match spec into a version request."""
    rest = rest.strip()
    if not rest:
        return None
    if rest.startswith("=="):
        version = rest[2:].strip()
    elif rest.startswith("="):
        version = rest[1:].split("=")[0].strip()  # python=3.6.2=h12345_0 -> 3.6.2
    elif rest[0] in "<>!":
        version = rest.replace(" ", "")
    else:
        version = rest.split()[0]  # "python 3.8 build" -> 3.8
    version = re.sub(r"\.\*$", "", version).rstrip("*").rstrip(".")
    try:
        parse_python_request(version)
    except EnvSpecError:
        raise EnvSpecError(
            f"{source}: cannot understand the Python version in {entry!r}; "
            "write it as python=3.X or python=3.X.Y"
        ) from None
    return version


def parse_conda_yaml(text: str, source: str = "conda YAML") -> EnvSpec:
    """Parse a conda environment file into an :class:`EnvSpec`.

    Accepted: ``name`` (kept as ``spec.name``), ``channels`` (ignored, noted),
    ``dependencies``: ``python``/``python=X.Y[.Z]``/``python==X.Y``/
    ``python>=X.Y``, ``pip``/``pip=V`` (ignored), other conda packages (mapped
    to PyPI requirements placed before the ``pip:`` ones, each mapping noted in
    ``warnings``; see :mod:`kyanite.envs.conda_map`), and ``{pip: [...]}`` whose
    entries are requirements or pip option lines (``--find-links DIR``...).
    Runtime packages (see :data:`RUNTIME_PACKAGES`) go to ``spec.dropped``.

    Raises :class:`EnvSpecError` (message starts with ``source``) for YAML
    syntax errors (with line/column), a document that is not a mapping,
    ``dependencies`` that is not a list, unsupported entries, and conda
    packages with no PyPI form (all of them, one per line).
    """
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise _yaml_error(source, e) from None
    if not isinstance(doc, dict):
        got = "an empty document" if doc is None else f"a {type(doc).__name__}"
        raise EnvSpecError(
            f"{source}: expected a conda environment mapping with a 'dependencies' list, got {got}"
        )

    warnings: list[str] = []
    known = {"name", "channels", "dependencies", "prefix"}
    for key in doc:
        if key not in known:
            warnings.append(f"{source}: ignored unsupported top-level key {key!r}")
    name = doc.get("name")
    channels = doc.get("channels")
    if channels is not None and not isinstance(channels, list):
        raise EnvSpecError(f"{source}: 'channels' must be a list, got {type(channels).__name__}")

    deps = doc.get("dependencies")
    if deps is None:
        deps = []
    if not isinstance(deps, list):
        raise EnvSpecError(
            f"{source}: 'dependencies' must be a list (each entry on a '- ' line), "
            f"got {type(deps).__name__}"
        )

    python: str | None = None
    seen_python = False
    pip_items: list[tuple[str, str]] = []
    conda_reqs: list[tuple[str, str]] = []
    conda_refused: list[str] = []
    conda_dropped: list[str] = []
    for idx, entry in enumerate(deps, start=1):
        where = f"{source}: dependencies entry {idx}"
        if isinstance(entry, str):
            m = _CONDA_SPEC_RE.match(entry.strip())
            if not m:
                raise EnvSpecError(f"{where}: cannot parse conda package {entry!r}")
            pkg, rest = m.group(1).lower(), m.group(2)
            if pkg == "python":
                if seen_python:
                    raise EnvSpecError(f"{where}: python is listed more than once")
                seen_python = True
                # a bare "python" leaves None: the interpreter running kyanite
                python = _conda_python_version(rest, entry, source)
            elif pkg == "pip":
                continue  # pip itself: uv installs instead
            elif _normalise(pkg) in RUNTIME_PACKAGES:
                conda_dropped.append(entry.strip())
            else:
                try:
                    req, note = conda_to_pip(entry, where)
                except EnvSpecError as e:
                    conda_refused.append(str(e))
                    continue
                if req is not None:
                    conda_reqs.append((req, where))
                warnings.append(f"{source}: {note}")
        elif isinstance(entry, dict) and list(entry) == ["pip"]:
            items = entry["pip"] or []
            if not isinstance(items, list):
                raise EnvSpecError(f"{where}: the 'pip' section must be a list of requirements")
            for j, item in enumerate(items, start=1):
                if not isinstance(item, str):
                    raise EnvSpecError(
                        f"{where}: pip item {j} must be a string requirement, got {item!r} "
                        "(quote versions, e.g. \"six==1.16.0\")"
                    )
                pip_items.append((item, f"{where}, pip item {j}"))
        elif isinstance(entry, dict):
            raise EnvSpecError(
                f"{where}: unsupported entry {entry!r}; the only mapping allowed in "
                "dependencies is a 'pip:' list"
            )
        else:
            raise EnvSpecError(
                f"{where}: unsupported entry {entry!r} ({type(entry).__name__}); expected a "
                "package name such as 'python=3.8' or a 'pip:' list"
            )

    if conda_refused:
        raise EnvSpecError("\n".join(conda_refused) if len(conda_refused) > 1 else conda_refused[0])
    if channels:
        warnings.append(f"{source}: channels ignored ({', '.join(map(str, channels))}): "
                        "kyanite installs every package from PyPI with uv")

    reqs, opts, dropped = _split_pip_items(conda_reqs + pip_items)
    return EnvSpec(
        python=python,
        pip=reqs,
        pip_options=opts,
        name=name if isinstance(name, str) else None,
        dropped=conda_dropped + dropped,
        warnings=warnings,
    )


# ---------------------------------------------------------------------- requirements.txt


def parse_pip_requirements(text: str, source: str = "requirements.txt") -> EnvSpec:
    """Parse a pip requirements file into an :class:`EnvSpec` (``python=None``).

    Handles comments (``#`` at line start or after whitespace), blank lines,
    ``\\`` line continuations and option lines (see ``pip_options``).
    ``-r``/``-c`` includes and ``-e`` are refused with an :class:`EnvSpecError`
    naming the line.
    """
    items: list[tuple[str, str]] = []
    pending = ""
    start = 0
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = lineno
        line = raw.rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        if line:
            items.append((line, f"{source}: line {start}"))
    if pending.strip():
        items.append((re.sub(r"(^|\s)#.*$", "", pending).strip(), f"{source}: line {start}"))
    reqs, opts, dropped = _split_pip_items(items)
    return EnvSpec(pip=reqs, pip_options=opts, dropped=dropped)
