"""The deployment manager: runs each deployment's scoring process and keeps its state.

Who owns what: the deployment *record* (``kyanite.store.models.ModelStore``) holds the
desired configuration and the state; this manager is the only writer of ``state``,
``process``, ``port`` and ``error``. Routes call :meth:`create`, :meth:`update`,
:meth:`delete`, :meth:`regen_key` and read the record. All methods are thread-safe:
operations on one deployment are serialised by a per-name lock, and a background
*worker* thread per (re)deployment does the slow part (environment build) outside it,
checking before it launches anything that its generation is still the current one.

States (SDK v1 names): ``Transitioning`` (preparing: snapshot, models, environment; then
the process imports the entry script and runs ``init()``) -> ``Healthy`` (serving) or
``Failed`` (build error, init() raised, port taken: the reason in ``error``, the log in
``get_logs``). ``Unhealthy``: the process stopped answering its health route, or it
crashed and is being restarted (at most 5 times in 10 minutes, then Failed).

Files, per deployment under ``<workspace>/.kyanite/deployments/<name>/``:
``score.log`` (the manager's lines and the process's stdout/stderr, all generations) and
``gen-<n>/`` with ``src/`` (the source snapshot), ``models/<model>/<version>/...``,
``config.json`` (0600: port, key hashes, secret), ``state.json`` (written by the process),
``prepared.json`` (how to start it again without rebuilding).

Endpoint keys: the deployment record in the workspace database (a 0600 file, see
:func:`kyanite.store.database._private_sqlite_files`) holds them, because
``service.get_keys()`` must return them; they leave the server only through the keys
routes (:meth:`keys`, :meth:`regen_key`), never in a record, a listing or a log line. The
scoring process gets only ``key_hash(key)`` of each (``keyHashes`` in its config; its
command line and environment hold no key) and checks a request's key against those.
A process adopted at server start whose config still holds plaintext keys (written by an
older manager) is started again, so the keys leave its config.

Surviving a workspace-server restart: scoring processes run in their own session, so
they keep serving while the server is down. On start the manager *adopts* every process
whose pid and start time match the record (:mod:`kyanite.supervisor` knows a process by
both, so a reused pid is never adopted); a deployment whose process is gone (a reboot,
a kill) is started again from its ``prepared.json`` on the same port, and one whose
preparation was cut short is prepared again. Stray processes of older generations are
ended. Stopping the server never stops deployments; ``service.delete()`` does.
"""

import http.client
import json
import logging
import math
import os
import shutil
import socket
import tarfile
import threading
import time
import traceback
from typing import Any

import psutil

from kyanite import supervisor
from kyanite.exceptions import ConflictException, NotFoundException, UserErrorException
from kyanite.protocol.deployments import Deployment
from kyanite.runtime.environ import TARGET_ENV_NAMES, script_environment

log = logging.getLogger("kyanite.deployments")

TRANSITIONING, HEALTHY, UNHEALTHY, FAILED = "Transitioning", "Healthy", "Unhealthy", "Failed"
MAX_RESTARTS, RESTART_WINDOW = 5, 600.0
PROBE_INTERVAL, PROBE_TIMEOUT = 5.0, 3.0
TOKEN_LIFETIME = 3600


def _spec(row: Any) -> Any:
    """The ``Deployment`` record a deployment row holds."""
    return Deployment.from_json(json.loads(row.spec))


class DeployError(Exception):
    def __init__(self, message: str, code: str = "DeploymentFailed") -> None:
        Exception.__init__(self, message)
        self.message, self.code = message, code


class DeployLog(object):
    """Appends the manager's lines to a deployment's ``score.log``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def line(self, text: str) -> None:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        with _open_private_log(self.path, "a") as f:
            for ln in str(text).rstrip("\n").split("\n"):
                f.write("%s [kyanite] %s\n" % (stamp, ln))


def _port_free(host: Any, port: int) -> Any:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def _free_port(host: Any) -> Any:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def _http(method: str, host: Any, port: int, path: str, headers: dict[str, Any], timeout: float) -> Any:
    """One request straight to a scoring process (no proxy settings apply); the status."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=b"" if method == "POST" else None, headers=headers)
        resp = conn.getresponse()
        resp.read()
        if resp.status >= 400:
            raise OSError("HTTP %d from %s" % (resp.status, path))
        return resp.status
    finally:
        conn.close()


def _open_private_log(path: str, mode: str = "ab") -> Any:
    """Open a log for appending; created owner-only (0600)."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), mode)


def _key_hashes(keys: dict[str, str] | None) -> list[str] | None:
    """What a scoring process's config holds for the record's keys (see the module docstring)."""
    from kyanite.serving.server import key_hash
    return [key_hash(keys["primary"]), key_hash(keys["secondary"])] if keys else None


def _write_private_json(path: str, data: Any) -> None:
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


def _read_json(path: str) -> Any:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def tail_lines(path: str, n: int) -> Any:
    """The last ``n`` lines of a text file (reads backwards, so big logs cost little)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            end = pos = f.tell()
            data = b""
            while pos > 0 and data.count(b"\n") <= n:
                step = min(65536, pos)
                pos -= step
                f.seek(pos)
                data = f.read(step) + data
            lines = data.decode("utf-8", "replace").splitlines()
            return "\n".join(lines[-n:]) + ("\n" if lines and end else "")
    except OSError:
        return ""


class DeploymentManager(object):
    def __init__(self, root: str, models: Any, files: Any, artifacts: Any, notifier: Any, cache: Any = None) -> None:
        from kyanite.runtime.host import cache_dir
        self.root = root
        self.models = models
        self.files = files
        self.artifacts = artifacts
        self.notifier = notifier
        self.cache = cache or cache_dir()
        self._locks: dict[str, Any] = {}
        self._guard = threading.Lock()
        self._restarts: dict[str, Any] = {}     # name -> [times]
        self._probes: dict[str, Any] = {}       # name -> [last probe time, consecutive failures]
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._recovered = threading.Event()  # set once the first recovery after a start has run
        self._thread: threading.Thread | None = None
        os.makedirs(root, exist_ok=True)

    # -- helpers ---------------------------------------------------------------------
    def _lock(self, name: str) -> Any:
        with self._guard:
            return self._locks.setdefault(name, threading.RLock())

    def dir(self, name: str) -> Any:
        return os.path.join(self.root, name)

    def gen_dir(self, name: str, generation: int) -> Any:
        return os.path.join(self.root, name, "gen-%d" % generation)

    def log(self, name: str) -> Any:
        return DeployLog(os.path.join(self.dir(name), "score.log"))

    def _changed(self, name: str) -> None:
        self.notifier.changed("deployment:" + name)

    def _set(self, name: str, expect_generation: int | None = None, **values: Any) -> Any:
        rec = self.models.update_deployment(name, expect_generation=expect_generation, **values)
        self._changed(name)
        return rec

    def _spawn(self, target: Any, *args: Any) -> Any:
        t = threading.Thread(target=target, args=args, name="kyanite-deploy-%s" % args[0], daemon=True)
        t.start()
        return t

    # -- process handles (kyanite.supervisor) ----------------------------------------------
    @staticmethod
    def _handle(record: Any) -> Any:
        """The ``ProcessHandle`` of a record's ``process`` (a dict), or None."""
        return supervisor.ProcessHandle.from_json(record)

    def _alive(self, record: Any) -> Any:
        """The process handle of a record while its own process runs, else None."""
        handle = self._handle(record)
        return handle if supervisor.is_alive(handle) else None

    def _exit_code(self, record: Any) -> Any:
        return supervisor.exit_code(self._handle(record))

    def _kill(self, record: Any, grace: float = 5.0) -> None:
        """End the scoring process and its whole tree (SIGKILL after ``grace`` seconds)."""
        supervisor.stop_tree(self._handle(record), grace)

    def _kill_strays(self, name: str, keep_pid: Any = None) -> None:
        """End scoring processes of this deployment other than ``keep_pid`` (older
        generations left by a crash of the server during an update)."""
        base = self.dir(name) + os.sep
        for p in psutil.process_iter(["pid", "cmdline"]):
            cmd = p.info.get("cmdline") or []
            if p.info["pid"] == keep_pid or "kyanite.serving.server" not in cmd:
                continue
            if any(a.startswith(base) for a in cmd):
                supervisor.stop_tree(supervisor.ProcessHandle.of_pid(p.info["pid"]), grace=2.0)

    # -- lifecycle of the manager ------------------------------------------------------
    def start(self) -> None:
        """Recover (adopt or restart) the deployments, then watch them: one daemon thread."""
        self._thread = threading.Thread(target=self._loop, name="kyanite-deployments", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching. Scoring processes keep serving; the next server adopts them."""
        self._stop.set()
        self._wake.set()

    def _recover(self) -> None:
        """After a (re)start: adopt running processes, bring back the ones that are gone."""
        try:
            names = self.models.deployment_names()
        except Exception:
            log.exception("cannot list deployments")
            return
        for entry in os.listdir(self.root):
            if entry not in names and os.path.isdir(os.path.join(self.root, entry)):
                self._kill_strays(entry)  # deleted while its process survived somewhere
                shutil.rmtree(os.path.join(self.root, entry), ignore_errors=True)
        for name in names:
            try:
                self._recover_one(name)
            except Exception:
                log.exception("recovering deployment %s failed", name)

    def _recover_one(self, name: str) -> None:
        with self._lock(name):
            row, _ = self.models.deployment_row(name)
            handle = json.loads(row.process) if row.process else None
            alive = self._alive(handle) if handle and handle.get("generation") == row.generation else None
            if alive is not None and (_read_json(os.path.join(self.gen_dir(name, row.generation), "config.json"))
                                      or {}).get("keys"):
                self.log(name).line("workspace server started: the scoring process's config holds plaintext "
                                    "keys; starting it again with key hashes")
                self._kill(handle)
                alive = None
            self._kill_strays(name, keep_pid=alive.pid if alive else None)
            self._clean_generations(name, row.generation)
            if row.state == FAILED:
                return
            if alive is not None:
                self.log(name).line("workspace server started: adopted the running scoring process (pid %d)"
                                    % alive.pid)
                self._wake.set()
                return
            prepared = _read_json(os.path.join(self.gen_dir(name, row.generation), "prepared.json"))
            if prepared and os.path.exists(prepared["python"]):
                self.log(name).line("workspace server started: the scoring process was not running; "
                                    "starting it again")
                self._set(name, state=TRANSITIONING, error=None)
                try:
                    self._launch_prepared(name, row.generation, prepared)
                except DeployError as exc:
                    self.log(name).line(exc.message)
                    self._fail(name, row.generation, exc.message, exc.code)
            else:
                self.log(name).line("workspace server started: deployment generation %d was not ready; "
                                    "preparing it again" % row.generation)
                self._set(name, state=TRANSITIONING, error=None)
                self._spawn(self._deploy, name, row.generation)

    def _clean_generations(self, name: str, current: Any) -> None:
        d = self.dir(name)
        if not os.path.isdir(d):
            return
        for entry in os.listdir(d):
            if entry.startswith("gen-") and entry != "gen-%d" % current:
                shutil.rmtree(os.path.join(d, entry), ignore_errors=True)

    # -- requests from routes -------------------------------------------------------------
    def create(self, name: str, compute_type: str, spec: Any, models: Any, keys: dict[str, str] | None = None, tags: dict[str, Any] | None = None, properties: dict[str, Any] | None = None,
               description: str | None = None, overwrite: bool = False) -> Any:
        """Record the deployment of ``spec`` (a ``Deployment``) and start deploying it."""
        self._validate(spec)
        port_hint, generation = None, 1
        with self._lock(name):
            try:
                old, _ = self.models.deployment_row(name)
            except NotFoundException:
                old = None
            if old is not None:
                if not overwrite:
                    raise ConflictException("A service named %r already exists: pass overwrite=True, call "
                                            "service.update(...), or delete it first." % name)
                port_hint = old.port
                generation = old.generation + 1  # a worker of the old one in flight sees it is stale
                self._delete_locked(name, old)
            rec = self.models.create_deployment(name, compute_type, spec.to_json(), models, keys=keys, tags=tags,
                                                properties=properties, description=description,
                                                generation=generation)
            if port_hint:
                rec = self.models.update_deployment(name, port=port_hint)
            self.log(name).line("deployment %r created: models %s, entry script %s, environment %s" % (
                name, ", ".join(rec["models"]) or "(none)", spec.inference.entry_script,
                rec["environment"]["name"]))
        self._changed(name)
        self._spawn(self._deploy, name, generation)
        return rec

    def update(self, name: str, spec: Any = None, models: Any = None, keys: dict[str, str] | None = None, redeploy: bool = False, **values: Any) -> Any:
        """Change a deployment (``spec``: a ``Deployment``); with ``redeploy`` start a new
        generation of its process."""
        if spec is not None:
            self._validate(spec)
        with self._lock(name):
            row, _ = self.models.deployment_row(name)
            if spec is not None:
                values["spec"] = spec.to_json()
            if keys is not None:
                values["keys"] = keys
            if redeploy:
                values.update(generation=row.generation + 1, state=TRANSITIONING, error=None)
            rec = self.models.update_deployment(name, models=models, **values)
            if keys is not None and not redeploy:
                self._push_keys(name, row.generation, keys)
            if redeploy:
                self.log(name).line("update: deploying generation %d (models %s)" % (
                    rec["generation"], ", ".join(rec["models"])))
        self._changed(name)
        if redeploy:
            self._spawn(self._deploy, name, rec["generation"])
        return rec

    def delete(self, name: str) -> None:
        with self._lock(name):
            row, _ = self.models.deployment_row(name)
            self._delete_locked(name, row)
        self._changed(name)
        with self._guard:
            self._locks.pop(name, None)

    def _delete_locked(self, name: str, row: Any) -> None:
        self.models.delete_deployment(name)  # first: a worker in flight sees it is gone
        handle = json.loads(row.process) if row.process else None
        self._kill(handle)
        self._kill_strays(name)
        shutil.rmtree(self.dir(name), ignore_errors=True)
        self._restarts.pop(name, None)
        self._probes.pop(name, None)

    def regen_key(self, name: str, which: Any, set_key: Any = None) -> Any:
        import secrets
        which = (which or "").lower()
        if which not in ("primary", "secondary"):
            raise UserErrorException("regen_key: key must be 'Primary' or 'Secondary', got %r." % which)
        with self._lock(name):
            row, _ = self.models.deployment_row(name)
            keys = json.loads(row.keys) if row.keys else None
            if not keys:
                raise UserErrorException("Service %r has no keys: deploy it with auth_enabled=True." % name)
            keys[which] = set_key or secrets.token_urlsafe(24)
            self.models.update_deployment(name, keys=keys)
            self._push_keys(name, row.generation, keys)
            self.log(name).line("%s key regenerated" % which)
        self._changed(name)
        return keys

    def keys(self, name: str) -> Any:
        row, _ = self.models.deployment_row(name)
        keys = json.loads(row.keys) if row.keys else None
        if not keys:
            raise UserErrorException("Service %r has no keys: key authentication is off (deploy with "
                                     "auth_enabled=True)." % name)
        return {"primaryKey": keys["primary"], "secondaryKey": keys["secondary"]}

    def token(self, name: str) -> Any:
        from kyanite.serving.server import make_token
        row, _ = self.models.deployment_row(name)
        if not _spec(row).config.token_auth_enabled:
            raise UserErrorException("Service %r does not use token authentication (deploy with "
                                     "token_auth_enabled=True)." % name)
        expires = int(time.time()) + TOKEN_LIFETIME
        return {"accessToken": make_token(row.secret, name, expires), "tokenType": "Bearer",
                "expiryOn": expires, "refreshAfter": expires - TOKEN_LIFETIME // 2}

    def logs(self, name: str, num_lines: int = 5000) -> Any:
        self.models.deployment_row(name)
        return tail_lines(os.path.join(self.dir(name), "score.log"), max(1, int(num_lines)))

    def log_bytes(self, name: str, offset: int = 0) -> Any:
        """``(bytes from offset, where they start, log size)``, to follow a deployment's log."""
        path = os.path.join(self.dir(name), "score.log")
        try:
            with open(path, "rb") as f:
                total = os.fstat(f.fileno()).st_size
                offset = min(offset, total)
                f.seek(offset)
                data = f.read(4 << 20)
        except OSError:
            return b"", 0, 0
        return data, offset, total

    def _validate(self, spec: Any) -> None:
        """What the record's own checks cannot see: the snapshot is uploaded, the port is one."""
        if self.artifacts.size("snapshots/%s.tar.gz" % spec.inference.snapshot_id) < 0:
            raise UserErrorException("The source snapshot %r of the entry script was not uploaded."
                                     % spec.inference.snapshot_id)
        port = spec.config.port
        if port is not None and not (isinstance(port, int) and 0 < port < 65536):
            raise UserErrorException("Port %r is not a TCP port number (1-65535)." % (port,))

    def _push_keys(self, name: str, generation: int, keys: dict[str, str]) -> None:
        """Write the keys into the running generation's config and tell the process."""
        cfg_path = os.path.join(self.gen_dir(name, generation), "config.json")
        cfg = _read_json(cfg_path)
        if cfg is None:
            return  # not launched yet: it will read the new keys from the record
        cfg.pop("keys", None)
        cfg["keyHashes"] = _key_hashes(keys)
        _write_private_json(cfg_path, cfg)
        try:
            _http("POST", cfg["host"], cfg["port"], "/-/reload", {"X-Kyanite-Admin": cfg["secret"]}, timeout=5)
        except Exception as exc:  # still starting: it reads the config again when ready
            self.log(name).line("could not tell the scoring process about the new keys yet (%s)" % exc)

    # -- the worker: prepare and launch one generation -------------------------------------
    def _current(self, name: str, generation: int) -> Any:
        try:
            row, _ = self.models.deployment_row(name)
        except NotFoundException:
            return False
        return row.generation == generation

    def _deploy(self, name: str, generation: int) -> None:
        dlog = self.log(name)
        t0 = time.time()
        try:
            prepared = self._prepare(name, generation, dlog)
            if prepared is None:
                return
            dlog.line("prepared in %.2fs" % (time.time() - t0))
            with self._lock(name):
                if not self._current(name, generation):
                    return
                self._launch_prepared(name, generation, prepared)
        except Exception as exc:
            if not self._current(name, generation):
                return  # deleted or superseded meanwhile: nothing to report
            if isinstance(exc, DeployError):
                dlog.line(exc.message)
                self._fail(name, generation, exc.message, exc.code)
            else:
                dlog.line("deployment failed:\n%s" % traceback.format_exc())
                self._fail(name, generation, "Deployment failed: %s: %s" % (type(exc).__name__, exc),
                           "InternalError")

    def _fail(self, name: str, generation: int, message: str, code: Any, extra: Any = None) -> None:
        err = {"message": message, "code": code}
        err.update(extra or {})
        try:
            self._set(name, expect_generation=generation, state=FAILED, error=err)
        except NotFoundException:
            pass

    def _prepare(self, name: str, generation: int, dlog: Any) -> Any:
        from kyanite.envs import EnvBuilder, EnvBuildError, EnvSpec, EnvSpecError
        from kyanite.serving.shim import build_shim
        row, models = self.models.deployment_row(name)
        spec = _spec(row)
        inf, config = spec.inference, spec.config
        gdir = self.gen_dir(name, generation)
        if os.path.exists(gdir):
            shutil.rmtree(gdir)
        src_dir, models_root = os.path.join(gdir, "src"), os.path.join(gdir, "models")
        os.makedirs(src_dir)
        os.makedirs(models_root)
        dlog.line("generation %d: preparing source, models and environment" % generation)

        snapshot = self.artifacts.local_path("snapshots/%s.tar.gz" % inf.snapshot_id)
        from kyanite.runtime.host import _safe_extract
        with tarfile.open(snapshot, "r:gz") as tar:
            _safe_extract(tar, src_dir)
        entry = os.path.join(src_dir, inf.entry_script)
        if not os.path.isfile(entry):
            raise DeployError("Entry script %r is not in the source directory %s." % (
                inf.entry_script, inf.source_directory or "(the entry script's folder)"), "EntryScriptNotFound")

        total = 0
        for mname, mversion in models:
            dst = os.path.join(models_root, mname, str(mversion))
            for f in self.files.list(mname, mversion):
                target = os.path.join(dst, *f["path"].split("/"))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.copyfile(self.files.local_path(mname, mversion, f["path"]), target)
                total += f["size"]
        dlog.line("placed %d model(s), %.1f MB, in %s" % (len(models), total / 1e6, models_root))
        if not self._current(name, generation):
            return None

        env_def = inf.environment or {}
        try:
            envspec = EnvSpec.from_dict(env_def.get("spec") or {"user_managed": True})
            built = EnvBuilder(self.cache).ensure(envspec, log=dlog.line)
        except (EnvSpecError, EnvBuildError) as exc:
            raise DeployError("Environment %r could not be built: %s" % (env_def.get("name"), exc),
                              "EnvironmentBuildFailed")
        shim = build_shim(self.cache)

        if len(models) == 1:
            model_dir = os.path.join(models_root, models[0][0], str(models[0][1]))
        else:
            model_dir = models_root
        env = {k: str(v) for k, v in (env_def.get("environmentVariables") or {}).items()}
        env.update({"KYANITE_MODELS_ROOT": models_root, "KYANITE_MODEL_DIR": model_dir,
                    "AZUREML_MODEL_DIR": model_dir, "KYANITE_SERVICE_NAME": name,
                    "AZUREML_ENTRY_SCRIPT": inf.entry_script})
        cpu = config.cpu_cores
        if cpu:
            threads = str(max(1, int(math.ceil(float(cpu)))))
            for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
                env.setdefault(var, threads)
        prepared = {"python": built.python, "pythonVersion": built.python_version, "env": env,
                    "pythonPath": shim, "cwd": src_dir, "entryScript": entry,
                    "resolved": built.resolved}
        _write_private_json(os.path.join(gdir, "prepared.json"), prepared)
        return prepared

    def _launch_prepared(self, name: str, generation: int, prepared: Any) -> None:
        """Start the scoring process of a prepared generation (caller holds the lock)."""
        row, _ = self.models.deployment_row(name)
        config = _spec(row).config
        host = config.host or "127.0.0.1"
        dlog = self.log(name)
        old = json.loads(row.process) if row.process else None
        if old:
            self._kill(old)  # the previous generation (an update), or a hung one
        self._kill_strays(name)
        requested = config.port
        if requested:
            if not _port_free(host, requested):
                raise DeployError("Port %d is in use by another program; deploy with another port, or with "
                                  "none to get a free one." % requested, "PortInUse")
            port = requested
        elif row.port and _port_free(host, row.port):
            port = row.port
        else:
            port = _free_port(host)
            if row.port:
                dlog.line("port %d is taken now; the service moves to port %d" % (row.port, port))
        gdir = self.gen_dir(name, generation)
        keys = json.loads(row.keys) if row.keys else None
        cfg_path = os.path.join(gdir, "config.json")
        state_path = os.path.join(gdir, "state.json")
        if os.path.exists(state_path):
            os.unlink(state_path)
        _write_private_json(cfg_path, {
            "name": name, "generation": generation, "host": host, "port": port,
            "entryScript": prepared["entryScript"], "sourceDir": prepared["cwd"], "stateFile": state_path,
            "keyHashes": _key_hashes(keys),
            "tokenAuth": bool(config.token_auth_enabled), "secret": row.secret})
        # the allow-list of kyanite.runtime.environ, less the server's token and a run's variables
        env = script_environment(os.environ, prepared["python"])
        for k in ("KYANITE_TOKEN", "KYANITE_SERVER_URL", "KYANITE_RUN_ID", "KYANITE_METRICS_SPOOL",
                  "KYANITE_EXPERIMENT", TARGET_ENV_NAMES):
            env.pop(k, None)
        env.update(prepared["env"])
        env["PYTHONPATH"] = prepared["pythonPath"] + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["PYTHONUNBUFFERED"] = "1"
        from kyanite.envs.compat import set_keras_backend
        set_keras_backend(env, prepared.get("resolved"), prepared["env"])  # Keras 2 refuses "jax"
        env.setdefault("MPLBACKEND", "Agg")
        cmd = [prepared["python"], "-m", "kyanite.serving.server", "--config", cfg_path]
        dlog.line("starting the scoring process on port %d (Python %s)" % (port, prepared.get("pythonVersion")))
        proc = supervisor.start(cmd, env=env, cwd=prepared["cwd"], log=os.path.join(self.dir(name), "score.log"))
        process = proc.to_json()
        process.update(generation=generation, started=time.time())
        self._set(name, expect_generation=generation, port=port, process=process)
        self._probes.pop(name, None)
        self._wake.set()

    # -- the monitor ---------------------------------------------------------------------------
    def wait_recovered(self, timeout: float = 30.0) -> Any:
        """Block until the recovery after the server's start has run (at most ``timeout``
        seconds): before it, the records still say what the previous server saw, e.g.
        Healthy with the pid of a scoring process that died meanwhile. A manager that was
        never started has nothing to wait for."""
        return self._thread is None or self._recovered.wait(timeout)

    def _loop(self) -> None:
        try:
            self._recover()  # first, so the monitor never races the recovery
        finally:
            self._recovered.set()
        while not self._stop.is_set():
            busy = False
            try:
                busy = self.watch_once()
            except Exception:
                log.exception("deployment monitor pass failed")
            self._wake.wait(0.05 if busy else 1.0)
            self._wake.clear()

    def watch_once(self) -> Any:
        """One pass over all deployments; True while some are transitioning."""
        supervisor.reap()  # scoring processes that ended (a failed init(), a crash): no zombies
        busy = False
        for name in self.models.deployment_names():
            try:
                row, _ = self.models.deployment_row(name)
            except NotFoundException:
                continue
            if row.state == TRANSITIONING:
                busy = True
                self._watch_starting(name, row)
            elif row.state in (HEALTHY, UNHEALTHY):
                self._watch_running(name, row)
        return busy

    def _watch_starting(self, name: str, row: Any) -> None:
        handle = json.loads(row.process) if row.process else None
        if not handle or handle.get("generation") != row.generation:
            return  # still preparing
        st = _read_json(os.path.join(self.gen_dir(name, row.generation), "state.json"))
        if st and st.get("pid") == handle["pid"] and st.get("generation") == row.generation:
            if st["state"] == HEALTHY:
                with self._lock(name):
                    self._set(name, expect_generation=row.generation, state=HEALTHY, error=None)
                    self.log(name).line("service is Healthy: %s" % self.models.deployment(name)["scoringUri"])
                return
            if st["state"] == FAILED:
                err = st.get("error") or {}
                self._fail(name, row.generation, err.get("message") or "The scoring process failed.",
                           err.get("code") or "EntryScriptFailed",
                           {"traceback": err["traceback"]} if err.get("traceback") else None)
                return
        if self._alive(handle) is None:
            code = self._exit_code(handle)
            tail = tail_lines(os.path.join(self.dir(name), "score.log"), 15)
            self._fail(name, row.generation, "The scoring process exited%s before it was ready. Last log lines:\n%s"
                       % ("" if code is None else " with code %s" % code, tail), "ProcessExited")

    def _watch_running(self, name: str, row: Any) -> None:
        handle = json.loads(row.process) if row.process else None
        if self._alive(handle) is None:
            with self._lock(name):
                row, _ = self.models.deployment_row(name)
                if row.state not in (HEALTHY, UNHEALTHY) or (row.process and json.loads(row.process) != handle):
                    return
                code = self._exit_code(handle)
                now = time.time()
                times = [t for t in self._restarts.get(name, []) if now - t < RESTART_WINDOW] + [now]
                self._restarts[name] = times
                dlog = self.log(name)
                what = "exited" if code is None else ("was killed by signal %d" % -code if code < 0
                                                      else "exited with code %d" % code)
                if len(times) > MAX_RESTARTS:
                    dlog.line("the scoring process %s; it crashed %d times in %d minutes: giving up"
                              % (what, len(times), RESTART_WINDOW // 60))
                    self._fail(name, row.generation, "The scoring process crashed %d times in %d minutes."
                               % (len(times), RESTART_WINDOW // 60), "CrashLoop")
                    return
                dlog.line("the scoring process (pid %s) %s; starting it again" % (handle and handle.get("pid"), what))
                prepared = _read_json(os.path.join(self.gen_dir(name, row.generation), "prepared.json"))
                self._set(name, expect_generation=row.generation, state=UNHEALTHY)
                if prepared:
                    self._set(name, expect_generation=row.generation, state=TRANSITIONING)
                    try:
                        self._launch_prepared(name, row.generation, prepared)
                    except DeployError as exc:
                        dlog.line(exc.message)
                        self._fail(name, row.generation, exc.message, exc.code)
                else:
                    self._spawn(self._deploy, name, row.generation)
            return
        probe = self._probes.setdefault(name, [0.0, 0])
        if time.time() - probe[0] < PROBE_INTERVAL:
            return
        probe[0] = time.time()
        ok = self._health(row)
        probe[1] = 0 if ok else probe[1] + 1
        if ok and row.state == UNHEALTHY:
            self._set(name, expect_generation=row.generation, state=HEALTHY, error=None)
            self.log(name).line("service answers again: Healthy")
        elif not ok and probe[1] >= 2 and row.state == HEALTHY:
            self._set(name, expect_generation=row.generation, state=UNHEALTHY, error={
                "message": "The scoring process does not answer its health route.", "code": "NotResponding"})
            self.log(name).line("the scoring process does not answer: Unhealthy")

    def _health(self, row: Any) -> Any:
        host = _spec(row).config.host or "127.0.0.1"
        try:
            return _http("GET", host, row.port, "/health", {}, timeout=PROBE_TIMEOUT) == 200
        except Exception:
            return False


def attach(state: Any, layout: Any) -> Any:
    """Give a ServerState the model registry and the deployment manager."""
    from kyanite.store.models import ModelFiles, ModelStore
    state.models = ModelStore(state.store)
    state.model_files = ModelFiles(state.artifacts)
    state.deployments = DeploymentManager(layout.p("deployments"), state.models, state.model_files,
                                          state.artifacts, state.notifier)
    return state
