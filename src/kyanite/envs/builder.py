"""Build (once) and reuse Python virtual environments described by :class:`EnvSpec`.

Layout under ``cache_dir``::

    envs/<spec.hash()>/                 the virtual environment
    envs/<spec.hash()>/kyanite-env.json marker, written last (atomically)
    envs/<spec.hash()>/kyanite-constraints.txt  uv constraints added for an old
                                        TensorFlow/Keras spec (see :mod:`.compat`), if any
    envs/<spec.hash()>.lock             fcntl lock file guarding that build

An env directory without a valid marker is a partial leftover (a crashed or
interrupted build) and is deleted and rebuilt.
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .errors import EnvBuildError, EnvSpecError
from .compat import check as check_era, default_python
from .pythons import Interpreter, find_pythons, python_version, resolve_python
from .spec import BUILD_FORMAT, EnvSpec

__all__ = ["BuiltEnv", "EnvBuilder", "MARKER_NAME", "uv_bin"]

MARKER_NAME = "kyanite-env.json"
#: uv constraints added for old TensorFlow/Keras specs (see :mod:`kyanite.envs.compat`).
CONSTRAINTS_NAME = "kyanite-constraints.txt"

LogFn = Callable[[str], None]

_uv_path: str | None = None


def uv_bin() -> str:
    """Path of the uv executable shipped with the ``uv`` Python package."""
    global _uv_path
    if _uv_path is None:
        import uv

        _uv_path = uv.find_uv_bin()
    return _uv_path


@dataclass(frozen=True)
class BuiltEnv:
    """A ready-to-use environment.

    Attributes:
        python: path of the interpreter to run (``<env>/bin/python``, or the
            user's interpreter when ``user_managed``).
        python_version: ``"X.Y.Z"``.
        resolved: installed distributions, name -> version (from
            ``uv pip freeze``; a direct URL requirement maps to its URL).
        cached: ``True`` when nothing was built by this call.
        path: the env directory, or ``None`` for user-managed interpreters.
        hash: ``spec.hash()``.
        build_seconds: how long the original build took (0 for user-managed).
    """

    python: str
    python_version: str
    resolved: dict[str, str] = field(default_factory=dict)
    cached: bool = False
    path: Path | None = None
    hash: str = ""
    build_seconds: float = 0.0


def _parse_freeze(text: str) -> dict[str, str]:
    resolved: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "==" in line:
            name, _, version = line.partition("==")
            resolved[name.strip()] = version.strip()
        elif " @ " in line:
            name, _, url = line.partition(" @ ")
            resolved[name.strip()] = url.strip()
        elif line.startswith("-e "):
            resolved[line[3:].strip()] = "editable"
    return resolved


class EnvBuilder:
    """Builds environments into ``cache_dir/envs/<hash>/`` and reuses them.

    :meth:`ensure` is safe to call concurrently from any number of threads and
    processes sharing ``cache_dir`` (on one host / a filesystem with working
    ``flock``): each hash is built at most once, under an exclusive ``fcntl.flock``
    on ``envs/<hash>.lock`` (taken on a fresh open file, so threads of one
    process exclude each other too).  A caller that finds the lock held logs
    one "waiting" line, blocks, then reuses the finished environment.
    The common case -- the marker already exists -- takes no lock and runs no
    subprocess (a ``stat`` + reading a small JSON file).

    Environments are never modified after their marker is written; deleting
    an env directory while another process is using it is the caller's
    business (nothing here does that, except for marker-less leftovers).
    """

    def __init__(self, cache_dir: str | os.PathLike[str]) -> None:
        self.cache_dir = Path(cache_dir).expanduser().absolute()
        self.envs_dir = self.cache_dir / "envs"

    # ------------------------------------------------------------------ public

    def env_dir(self, spec: EnvSpec) -> Path:
        """Where ``spec`` is (or would be) built."""
        return self.envs_dir / spec.hash()

    def ensure(self, spec: EnvSpec, log: LogFn | None = print) -> BuiltEnv:
        """Return a ready environment for ``spec``, building it if needed.

        ``log`` receives human-readable progress lines (python resolution,
        dropped runtime packages, uv's output as it streams, timing); pass
        ``None`` to silence.  Raises :class:`EnvSpecError` when the spec
        cannot be satisfied on this host (e.g. Python version not installed)
        and :class:`EnvBuildError` when uv fails; a failed build leaves no
        directory behind.  Old pins (TensorFlow/Keras, numpy, scikit-learn...)
        that cannot be installed on the resolved Python are refused with an
        :class:`EnvSpecError` before anything is installed, and the constraints
        they need are added (both logged; see :mod:`kyanite.envs.compat`).  A
        spec that pins no Python gets the newest installed one its pins fit
        when kyanite's own does not (logged; :func:`~kyanite.envs.compat.default_python`).
        """
        say: LogFn = log if log is not None else (lambda _line: None)
        h = spec.hash()
        if spec.user_managed:
            return self._user_managed(spec, h, say)

        env_dir = self.envs_dir / h
        tag = f"[env {h[:12]}]"
        built = self._load_marker(env_dir, h)  # lock-free fast path
        if built is not None:
            say(f"{tag} reused cached environment {h[:12]}")
            return built

        self.envs_dir.mkdir(parents=True, exist_ok=True)
        lock_path = self.envs_dir / f"{h}.lock"
        with open(lock_path, "a+b") as lock_file:
            try:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                say(f"{tag} another process is building environment {h[:12]}; waiting for it")
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
            try:
                built = self._load_marker(env_dir, h)
                if built is not None:
                    say(f"{tag} reused cached environment {h[:12]}")
                    return built
                if os.path.lexists(env_dir):
                    say(f"{tag} removing incomplete environment left by an earlier build")
                    _rmtree(env_dir)
                return self._build(spec, h, env_dir, say)
            finally:
                fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)

    # ------------------------------------------------------------------ internals

    def _load_marker(self, env_dir: Path, h: str) -> BuiltEnv | None:
        try:
            with open(env_dir / MARKER_NAME, "rb") as f:
                data = json.loads(f.read())
        except (OSError, ValueError):
            return None
        try:
            if data.get("format") != BUILD_FORMAT or data.get("hash") != h:
                return None
            python = data["python"]
            if not os.path.exists(python):  # e.g. base interpreter removed
                return None
            return BuiltEnv(
                python=python,
                python_version=data["python_version"],
                resolved=dict(data.get("resolved", {})),
                cached=True,
                path=env_dir,
                hash=h,
                build_seconds=float(data.get("build_seconds", 0.0)),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return None

    def _build(self, spec: EnvSpec, h: str, env_dir: Path, say: LogFn) -> BuiltEnv:
        tag = f"[env {h[:12]}]"
        interp: Interpreter = resolve_python(spec.python)  # EnvSpecError if none
        if spec.python is None:
            # not pinned: the running interpreter, or the newest installed Python that old
            # pins (scikit-learn==0.22.1, tensorflow==2.0.0...) have wheels for
            interp = default_python(spec.pip, interp, find_pythons())
        if interp.note:
            say(f"{tag} {interp.note}")
        # old pins that no package set satisfies on this Python: say so now, before anything
        # is installed (EnvSpecError)
        check_era(spec.pip, interp.version, find_pythons())
        added = spec.constraints()
        for constraint, reason in added:
            say(f"{tag} added constraint {constraint}: {reason}")
        for w in spec.warnings:
            say(f"{tag} note: {w}")
        if spec.dropped:
            say(f"{tag} provided by kyanite, not installed: {', '.join(spec.dropped)}")
        say(f"{tag} building environment {h[:12]} (Python {interp.version_str}, "
            f"{len(spec.pip)} requirement(s)) in {env_dir}")

        start = time.monotonic()
        # UV_COMPILE_BYTECODE runs a helper that needs Python >= 3.7; older
        # interpreters are compiled with their own compileall afterwards.
        uv_compiles = interp.version >= (3, 7)
        env = _uv_env(compile_bytecode=uv_compiles)
        env_python = env_dir / "bin" / "python"
        try:
            self._run(
                [uv_bin(), "venv", "--python", interp.path, str(env_dir)],
                "uv venv", tag, env, say,
            )
            if spec.pip:
                options: list[str] = []
                for line in spec.pip_options:
                    options.extend(_split_option(line))
                if added:
                    constraints_file = env_dir / CONSTRAINTS_NAME
                    constraints_file.write_text(
                        "".join(f"# {reason}\n{constraint}\n" for constraint, reason in added),
                        encoding="utf-8")
                    options.extend(["--constraint", str(constraints_file)])
                self._run(
                    [uv_bin(), "pip", "install", "--python", str(env_python), *options, *spec.pip],
                    "uv pip install", tag, env, say,
                )
                if not uv_compiles:
                    self._compile_bytecode(env_python, env_dir, interp, tag, say)
            freeze = self._run(
                [uv_bin(), "pip", "freeze", "--python", str(env_python)],
                "uv pip freeze", tag, env, None,
            )
            seconds = round(time.monotonic() - start, 3)
            marker = {
                "format": BUILD_FORMAT,
                "hash": h,
                "spec": spec.to_dict(),
                "python": str(env_python),
                "python_version": interp.version_str,
                "base_interpreter": interp.path,
                "resolved": _parse_freeze(freeze),
                "constraints": [c for c, _ in added],
                "build_seconds": seconds,
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            tmp = env_dir / f".{MARKER_NAME}.tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(marker, f, indent=2, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, env_dir / MARKER_NAME)  # written last: the env is now complete
        except BaseException:
            _rmtree(env_dir)
            raise
        say(f"{tag} environment {h[:12]} built in {seconds:.1f}s")
        return BuiltEnv(
            python=str(env_python),
            python_version=interp.version_str,
            resolved=marker["resolved"],
            cached=False,
            path=env_dir,
            hash=h,
            build_seconds=seconds,
        )

    def _compile_bytecode(self, env_python: Path, env_dir: Path, interp: Interpreter,
                          tag: str, say: LogFn) -> None:
        site = env_dir / "lib" / ("python%d.%d" % interp.version[:2]) / "site-packages"
        try:
            self._run([str(env_python), "-m", "compileall", "-q", str(site)],
                      "compileall", tag, os.environ.copy(), say)
        except EnvBuildError as e:
            # Like pip, treat files that do not compile as a warning only.
            say(f"{tag} warning: some files could not be byte-compiled ({e.message})")

    def _run(self, cmd: list[str], what: str, tag: str, env: dict[str, str],
             say: LogFn | None) -> str:
        """Run ``cmd``, streaming merged output lines to ``say``; return the output."""
        lines: list[str] = []
        # Run from the cache dir so no project-level uv configuration of the
        # caller's working directory leaks into builds.
        self.envs_dir.mkdir(parents=True, exist_ok=True)
        try:
            proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, cwd=str(self.envs_dir), text=True, errors="replace", bufsize=1,
            )
        except OSError as e:
            raise EnvBuildError(f"{what} could not be started: {e}") from None
        with proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                line = line.rstrip("\n")
                lines.append(line)
                if say is not None and line.strip() and not line.startswith("Activate with"):
                    say(f"{tag} {what}: {line}")
            rc = proc.wait()
        output = "\n".join(lines)
        if rc != 0:
            raise EnvBuildError(f"{what} failed (exit status {rc})", output)
        return output

    def _user_managed_packages(self, python: str, tag: str) -> dict:
        """``uv pip freeze`` of an existing interpreter, cached until one of its
        site-packages folders changes (an install or removal touches the folder)."""
        prefix = os.path.dirname(os.path.dirname(os.path.realpath(python)))
        venv_prefix = os.path.dirname(os.path.dirname(os.path.abspath(python)))
        dirs = sorted(set(glob.glob(os.path.join(venv_prefix, "lib", "python*", "site-packages"))
                          + glob.glob(os.path.join(prefix, "lib", "python*", "site-packages"))))
        key = hashlib.sha256(json.dumps(
            [python] + [[d, os.stat(d).st_mtime_ns] for d in dirs]).encode()).hexdigest()
        cache = self.cache_dir / "user-managed" / (key + ".json")
        try:
            return json.loads(cache.read_text())
        except (OSError, ValueError):
            pass
        freeze = self._run(
            [uv_bin(), "pip", "freeze", "--python", python],
            "uv pip freeze", tag, _uv_env(compile_bytecode=False), None,
        )
        resolved = _parse_freeze(freeze)
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(".tmp%d" % os.getpid())
            tmp.write_text(json.dumps(resolved))
            os.replace(tmp, cache)
        except OSError:
            pass
        return resolved

    def _user_managed(self, spec: EnvSpec, h: str, say: LogFn) -> BuiltEnv:
        python = spec.interpreter or sys.executable
        if not (os.path.isfile(python) and os.access(python, os.X_OK)):
            raise EnvSpecError(
                f"user-managed environment: interpreter {python!r} does not exist or is not "
                "executable; set the interpreter to the full path of an installed python"
            )
        if python == sys.executable:
            version = tuple(sys.version_info[:3])
        else:
            version = python_version(python)  # type: ignore[assignment]
            if version is None:
                raise EnvSpecError(
                    f"user-managed environment: {python!r} is not a working CPython interpreter"
                )
        tag = f"[env {h[:12]}]"
        if spec.pip:
            say(f"{tag} user-managed environment: pip requirements are not installed "
                f"({len(spec.pip)} listed)")
        say(f"{tag} using user-managed interpreter {python}")
        return BuiltEnv(
            python=python,
            python_version="%d.%d.%d" % version,
            resolved=self._user_managed_packages(python, tag),
            cached=True,
            path=None,
            hash=h,
        )


def _uv_env(compile_bytecode: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONHOME", "PYTHONPATH")}
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env["NO_COLOR"] = "1"
    if compile_bytecode:
        env["UV_COMPILE_BYTECODE"] = "1"
    else:
        env.pop("UV_COMPILE_BYTECODE", None)
    return env


def _split_option(line: str) -> list[str]:
    import shlex

    tokens = shlex.split(line)
    first = tokens[0]
    if first[:2] in ("-f", "-i") and len(first) > 2 and first[2] != "=":
        return [first[:2], first[2:], *tokens[1:]]
    return tokens


def _rmtree(path: Path) -> None:
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
