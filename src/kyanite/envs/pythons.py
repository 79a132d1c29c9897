"""Discovery of installed CPython interpreters and resolution of version requests.

Where interpreters are looked for, in this order (the order breaks ties
between equal versions, so real pyenv/system binaries win over the venv that
runs kyanite):

1. ``$PYENV_ROOT/versions/*/bin/python3`` (``~/.pyenv`` when ``PYENV_ROOT`` is
   unset) -- the real binaries, never pyenv's shims;
2. ``/usr/local/bin/python3*`` and ``/usr/bin/python3*``;
3. ``python3`` / ``python3.X`` in the other ``$PATH`` directories, skipping
   pyenv shim directories (a shim re-dispatches on ``.python-version`` files
   and confuses uv);
4. ``sys.executable`` (the interpreter running kyanite).

Entries are de-duplicated by their resolved real path.  A version comes from
the pyenv folder name when it reads ``X.Y.Z``; otherwise the interpreter is run
once with ``-c`` and the answer is cached for the life of the process.
Only CPython 3 interpreters are reported.

Version requests (as written in ``python=...`` of a conda file) are one or
more comma-separated clauses, each ``[op]X[.Y[.Z]][.*]`` with ``op`` one of
``== = >= <= > < !=`` (none means ``==``).  Comparisons look at as many
release components as the clause gives, so ``3.6`` matches every 3.6.x and
``<=3.9`` admits 3.9.18.  A bare ``X.Y.Z`` that is not installed falls back
to the newest installed ``X.Y.x`` (with a note saying so).
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from .errors import EnvSpecError

__all__ = [
    "Interpreter",
    "find_pythons",
    "resolve_python",
    "python_version",
    "parse_python_request",
]

Version = tuple[int, int, int]

_CLAUSE_RE = re.compile(r"^(==|>=|<=|!=|>|<|=)?\s*(\d+(?:\.\d+){0,2})(\.\*)?$")
_X_Y_Z_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_PATH_NAME_RE = re.compile(r"^python3(\.\d+)?$")

_PROBE = (
    "import sys, platform; sys.stdout.write('%s %d.%d.%d' % "
    "((platform.python_implementation(),) + tuple(sys.version_info[:3])))"
)

_probe_lock = threading.Lock()
_probe_cache: dict[str, Version | None] = {}


@dataclass(frozen=True)
class Interpreter:
    """An installed CPython interpreter.

    Attributes:
        path: absolute path to the executable, as discovered (not resolved
            through symlinks, so pyenv paths stay readable).
        version: ``(major, minor, micro)``.
        note: a human-readable line explaining a resolution (set by
            :func:`resolve_python`, empty otherwise).
    """

    path: str
    version: Version
    note: str = ""

    @property
    def version_str(self) -> str:
        return "%d.%d.%d" % self.version


# --------------------------------------------------------------------------- requests


def parse_python_request(text: str) -> list[tuple[str, tuple[int, ...]]]:
    """Parse a version request into ``[(op, components), ...]``.

    ``"3.6.2"`` -> ``[("==", (3, 6, 2))]``; ``">=3.8,<3.11"`` ->
    ``[(">=", (3, 8)), ("<", (3, 11))]``.  Raises :class:`EnvSpecError` for
    anything else.
    """
    if not isinstance(text, str) or not text.strip():
        raise EnvSpecError(f"invalid Python version request {text!r}: expected e.g. 3.11 or 3.6.2")
    clauses = []
    for raw in text.split(","):
        m = _CLAUSE_RE.match(raw.strip())
        if not m:
            raise EnvSpecError(
                f"invalid Python version request {text!r}: expected X, X.Y or X.Y.Z, "
                "optionally with a comparison such as >=3.8"
            )
        op = m.group(1) or "=="
        if op == "=":
            op = "=="
        clauses.append((op, tuple(int(p) for p in m.group(2).split("."))))
    return clauses


def _matches(version: Version, clauses) -> bool:
    for op, want in clauses:
        have = version[: len(want)]
        ok = {
            "==": have == want,
            "!=": have != want,
            ">=": have >= want,
            "<=": have <= want,
            ">": have > want,
            "<": have < want,
        }[op]
        if not ok:
            return False
    return True


# --------------------------------------------------------------------------- discovery


def _pyenv_root() -> Path:
    root = os.environ.get("PYENV_ROOT")
    return Path(root).expanduser() if root else Path.home() / ".pyenv"


def _is_shim_dir(d: str, pyenv_root: Path) -> bool:
    p = Path(d)
    if p.name == "shims" and ("pyenv" in d or p.parent == pyenv_root):
        return True
    try:
        return p.resolve() == (pyenv_root / "shims").resolve()
    except OSError:
        return False


def python_version(path: str) -> Version | None:
    """Run ``path -c ...`` once (cached per process) and return its version.

    Returns ``None`` when the program cannot be run or is not CPython.
    """
    key = os.path.realpath(path)
    with _probe_lock:
        if key in _probe_cache:
            return _probe_cache[key]
    result: Version | None = None
    try:
        out = subprocess.run(
            [path, "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=15,
            env={k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "PYTHONPATH")},
        )
        impl, _, ver = out.stdout.strip().partition(" ")
        m = _X_Y_Z_RE.match(ver)
        if out.returncode == 0 and impl == "CPython" and m:
            result = tuple(int(g) for g in m.groups())  # type: ignore[assignment]
    except (OSError, subprocess.SubprocessError):
        result = None
    with _probe_lock:
        _probe_cache[key] = result
    return result


def _candidates() -> list[tuple[str, Version | None]]:
    """(path, version-if-known-cheaply) in discovery order, not de-duplicated."""
    out: list[tuple[str, Version | None]] = []
    root = _pyenv_root()
    for d in sorted(glob.glob(str(root / "versions" / "*"))):
        exe = os.path.join(d, "bin", "python3")
        m = _X_Y_Z_RE.match(os.path.basename(d))
        out.append((exe, tuple(int(g) for g in m.groups()) if m else None))  # type: ignore[misc]
    for d in ("/usr/local/bin", "/usr/bin"):
        for exe in sorted(glob.glob(os.path.join(d, "python3*"))):
            if _PATH_NAME_RE.match(os.path.basename(exe)):
                out.append((exe, None))
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if not d or _is_shim_dir(d, root):
            continue
        for exe in sorted(glob.glob(os.path.join(glob.escape(d), "python3*"))):
            if _PATH_NAME_RE.match(os.path.basename(exe)):
                out.append((exe, None))
    out.append((sys.executable, tuple(sys.version_info[:3])))  # type: ignore[arg-type]
    return out


def find_pythons() -> list[Interpreter]:
    """All installed CPython 3 interpreters, newest version first.

    Equal versions keep discovery order (see module docstring).  Directory
    scans are repeated on every call (cheap); version probes are cached.
    """
    seen: set[str] = set()
    found: list[Interpreter] = []
    for path, version in _candidates():
        if not path or not os.path.isfile(path) or not os.access(path, os.X_OK):
            continue
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        if version is None:
            version = python_version(path)
        if version is None or version[0] < 3:
            continue
        found.append(Interpreter(path=os.path.abspath(path), version=version))
    return sorted(found, key=lambda i: i.version, reverse=True)


# --------------------------------------------------------------------------- resolution


def _describe_installed(found: list[Interpreter]) -> str:
    if not found:
        return "  (none found)"
    return "\n".join(f"  {i.version_str}  {i.path}" for i in found)


def resolve_python(requested: str | None) -> Interpreter:
    """Pick the interpreter for a version request.

    * ``None`` -> ``sys.executable`` (empty note).
    * ``"3.6.2"`` -> exactly 3.6.2 if installed, else the newest 3.6.x, with a
      note like ``python=3.6.2 requested: using Python 3.6.15 at
      /root/.pyenv/versions/3.6.15/bin/python3 (newest installed 3.6)``.
    * ``"3.11"`` / ``"3"`` / ``">=3.8,<3.11"`` -> the newest match.

    Raises :class:`EnvSpecError` listing every installed version and path
    when nothing matches.
    """
    if requested is None:
        return Interpreter(sys.executable, tuple(sys.version_info[:3]))  # type: ignore[arg-type]
    requested = requested.strip()
    clauses = parse_python_request(requested)
    label = f"python{requested}" if requested[0] in "<>=!" else f"python={requested}"
    found = find_pythons()
    hit = next((i for i in found if _matches(i.version, clauses)), None)
    why = ""
    if hit is not None:
        if len(clauses) == 1 and clauses[0][0] == "==":
            want = clauses[0][1]
            if len(want) < 3:
                why = " (newest installed %s)" % ".".join(map(str, want))
        else:
            why = f" (newest installed matching {requested})"
    elif len(clauses) == 1 and clauses[0][0] == "==" and len(clauses[0][1]) == 3:
        major_minor = clauses[0][1][:2]
        hit = next((i for i in found if i.version[:2] == major_minor), None)
        why = " (newest installed %d.%d)" % major_minor
    if hit is None:
        hint = ""
        if clauses[0][1][0] == 2:
            hint = " Python 2 is not supported for kyanite environments."
        raise EnvSpecError(
            f"{label} requested, but no installed CPython interpreter matches.{hint}\n"
            f"Installed interpreters:\n{_describe_installed(found)}\n"
            "Install a matching Python (for example with `pyenv install`), or change the "
            "requested version to one of the above."
        )
    note = f"{label} requested: using Python {hit.version_str} at {hit.path}{why}"
    return Interpreter(hit.path, hit.version, note)
