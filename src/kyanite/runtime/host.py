"""The run host: ``python -m kyanite.runtime.host --run-id ID``.

One host executes one run on the node it was started on, speaking only REST to the
workspace server (``KYANITE_SERVER_URL``, ``KYANITE_TOKEN``: the run's own token, which the
script inherits; see :mod:`kyanite.server.run_tokens` for what it may do):

1. fetch the run, record where it runs; heartbeat every ``KYANITE_HEARTBEAT_INTERVAL`` s;
2. fetch the source snapshot into the node cache (once per snapshot);
3. build or reuse the environment (``kyanite.envs``; failure -> Failed in Preparing
   with uv's message in the driver log);
4. copy the snapshot into a fresh working folder and run the script with its arguments
   (Starting -> Running); stdout/stderr stream to the driver log as they come, metric
   points arrive through the spool file and are shipped in batches; files the script writes
   under ``./logs`` are uploaded while it runs, as they change (``kyanite.runtime.logs_sync``);
5. upload ``./outputs`` and ``./logs`` (also after a failure), then report Completed,
   Failed (exit code, error line, the log's last lines) or Canceled.

SIGTERM (from the executor) or a cancel flag in a heartbeat reply ends the script's whole
process tree. Every REST call retries for minutes, so a server restart loses nothing.
The node cache is ``KYANITE_CACHE_DIR`` (default ``~/.cache/kyanite``).
"""

import argparse
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
from urllib.parse import quote

from kyanite import settings
from kyanite.runtime import _sinks
from kyanite.runtime._http import Client
from kyanite.protocol.runs import RunDefinition
from kyanite.protocol.states import TERMINAL_STATES, RunStatus
from kyanite.protocol.runfiles import DRIVER_LOG

from kyanite.runtime.shim import RUNTIME_FILES  # noqa: F401  (re-exported: what a run environment gets)


def _docker_settings(env_docker, run_docker):
    """The names of the Docker settings a run sets (the environment's ``docker``, the
    ScriptRunConfig's ``docker_runtime_config``): each is kept, none applies."""
    names = []
    for prefix, d in (("environment.docker.", env_docker), ("docker_runtime_config.", run_docker)):
        for k, v in sorted((d or {}).items()):
            if v not in (None, False, "", [], {}) or (k == "sharedVolumes" and v is False):
                names.append(prefix + k)
    return names


def cache_dir():
    return settings.get("KYANITE_CACHE_DIR")


class LogShipper(object):
    """Appends text to the run's driver log on the server, in order, in batches."""

    def __init__(self, client, run_id, name=DRIVER_LOG, interval=0.1):
        self.client, self.run_id, self.name, self.interval = client, run_id, name, interval
        self._buf = bytearray()
        self._offset = 0
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._stop = threading.Event()
        self.tail = []  # the log's last lines; the last one may be unfinished
        self._open_line = False
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def write(self, text):
        data = text.encode("utf-8", "replace") if isinstance(text, str) else text
        with self._lock:
            self._buf += data
        # chunks end anywhere (a traceback's last line comes in several writes): continue
        # the unfinished line instead of starting a new one
        lines = data.decode("utf-8", "replace").split("\n")
        if self._open_line and self.tail:
            self.tail[-1] += lines.pop(0)
            if not lines:
                return
        self._open_line = lines[-1] != ""
        if not self._open_line:
            lines.pop()
        self.tail.extend(lines)
        del self.tail[:-40]

    def line(self, text):
        self.write("[kyanite] %s\n" % text)

    def _loop(self):
        while not self._stop.wait(self.interval):
            self.flush()

    def flush(self, max_post=16 << 20):
        """Send everything buffered, in posts of at most ``max_post`` bytes (the server
        caps one log append at 64 MB)."""
        with self._send_lock:
            while True:
                with self._lock:
                    data = bytes(self._buf[:max_post])
                if not data:
                    return
                self.client.post("/api/runs/%s/logs" % self.run_id,
                                 params={"name": self.name, "offset": self._offset}, data=data, retry_seconds=600)
                self._offset += len(data)
                with self._lock:
                    del self._buf[:len(data)]

    def close(self):
        self._stop.set()
        self.flush()


class MetricShipper(object):
    """Tails the spool file the script appends to and posts batches to the server."""

    def __init__(self, client, path, interval=0.2):
        self.client, self.path, self.interval = client, path, interval
        self._pos = 0
        self._partial = b""
        self._stop = threading.Event()
        self._lock = threading.Lock()
        open(path, "ab").close()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        shipped = False
        while not self._stop.wait(0 if shipped else self.interval):
            try:
                shipped = self.flush()
            except Exception as exc:
                shipped = False
                sys.stderr.write("metric shipping delayed: %s\n" % exc)

    def flush(self, max_bytes=4 << 20):
        """Ship everything appended so far; True when anything was sent."""
        shipped = False
        with self._lock:
            while True:
                with open(self.path, "rb") as f:
                    f.seek(self._pos)
                    chunk = f.read(max_bytes)
                if not chunk:
                    return shipped
                shipped = True
                data = self._partial + chunk
                cut = data.rfind(b"\n") + 1
                lines = data[:cut].decode("utf-8", "replace").split("\n")
                batch = "%s@%d" % (os.path.basename(self.path), self._pos)  # same chunk, same id
                for run_id, series in _sinks.parse_lines(lines).items():
                    self.client.post("/api/runs/%s/metrics" % run_id, _sinks.to_payload(series, batch),
                                     retry_seconds=600)
                self._partial = data[cut:]
                self._pos += len(chunk)

    def close(self):
        self._stop.set()
        self._thread.join(timeout=5)
        self.flush()


class Host(object):
    def __init__(self, run_id, client):
        self.run_id = run_id
        self.client = client
        self.cache = cache_dir()
        self.proc = None
        self.group = None  # a distributed run's processes (kyanite.runtime.distributed)
        self.spread = None  # node groups on other Ray nodes (kyanite.runtime.ray_spread)
        self.cancel_requested = threading.Event()
        self.log = None
        self.gpu_devices = []  # the GPUs the script sees (execute: _gpu_facts)

    # -- steps ---------------------------------------------------------------------
    def status(self, status, error=None):
        body = {"status": status}
        if error:
            body["error"] = error
        return self.client.post("/api/runs/%s/status" % self.run_id, body, retry_seconds=600)

    def heartbeat_loop(self, interval):
        while True:
            time.sleep(interval)
            try:
                reply = self.client.post("/api/runs/%s/heartbeat" % self.run_id, retry_seconds=5)
                if reply and reply.get("cancel_requested"):
                    self.cancel()
            except Exception:
                pass  # the server may be restarting; the next beat tries again

    def cancel(self, *_):
        if not self.cancel_requested.is_set():
            self.cancel_requested.set()
            threading.Thread(target=self._end_tree, daemon=True).start()

    def _end_tree(self):
        if self.spread is not None:
            self.spread.stop_remote()
        if self.group is not None:
            return self.group.stop()
        proc = self.proc
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except OSError:
            pass
        for _ in range(50):
            if proc.poll() is not None:
                break
            time.sleep(0.1)
        _kill_tree(proc.pid)

    def fetch_snapshot(self, sha):
        target = os.path.join(self.cache, "snapshots", sha)
        if os.path.isdir(target):
            return target
        os.makedirs(os.path.dirname(target), exist_ok=True)
        tmp = "%s.tmp-%d" % (target, os.getpid())
        data = self.client.get("/api/snapshots/%s" % sha, raw=True, retry_seconds=600)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            _safe_extract(tar, tmp)
        try:
            os.rename(tmp, target)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)  # another host got there first
        return target

    def runtime_shim(self):
        """A folder put first on the script's PYTHONPATH, holding the stdlib-only runtime
        (``kyanite.runtime.shim``)."""
        from kyanite.runtime import shim
        return shim.build(self.cache)

    # -- the run -----------------------------------------------------------------------
    def execute(self):
        info = {"hostname": socket.gethostname(), "host_pid": os.getpid()}
        info.update(_gpu_facts())
        self.gpu_devices = info["gpuDevices"]
        run = self.client.post("/api/runs/%s/host/start" % self.run_id, {"host": info}, retry_seconds=600)
        if run["status"] in TERMINAL_STATES:
            return 0
        interval = settings.get("KYANITE_HEARTBEAT_INTERVAL")
        threading.Thread(target=self.heartbeat_loop, args=(interval,), daemon=True).start()
        signal.signal(signal.SIGTERM, self.cancel)
        self.log = LogShipper(self.client, self.run_id)
        definition = RunDefinition.from_json(run["runDefinition"])
        self.experiment = run["experiment"]
        workdir = os.path.join(self.cache, "runs", self.run_id)
        try:
            rc = self._execute(run, definition, workdir)
        except Exception as exc:  # a host bug or a lost node: record it, never lose the run
            import traceback
            self.log.write(traceback.format_exc())
            self.finish(RunStatus.FAILED, {"message": "Run host error: %s" % exc, "code": "HostError"})
            rc = 1
        finally:
            if not settings.get("KYANITE_KEEP_WORKDIR"):
                shutil.rmtree(workdir, ignore_errors=True)
                shutil.rmtree(workdir + ".inputs", ignore_errors=True)  # mounted/downloaded datasets
        return rc

    def _execute(self, run, definition, workdir):
        from kyanite.envs import EnvBuilder, EnvBuildError, EnvSpec, EnvSpecError
        log = self.log
        log.line("run %s on %s (target %s)" % (self.run_id, socket.gethostname(), run.get("target")))
        t0 = time.time()
        src = self.fetch_snapshot(definition.snapshot_id)
        env_def = definition.environment or {}
        as_submitted = (definition, env_def)  # other nodes prepare their own inputs from these
        try:
            spec = EnvSpec.from_dict(env_def.get("spec") or {"user_managed": True})
            built = EnvBuilder(self.cache).ensure(spec, log=log.line)
        except (EnvSpecError, EnvBuildError) as exc:
            log.line("environment %r could not be built:\n%s" % (env_def.get("name"), exc))
            return self.finish(RunStatus.FAILED, {
                "message": "Environment %r could not be built: %s" % (env_def.get("name"), _env_error(exc)),
                "code": "EnvironmentBuildFailed", "logTail": log.tail[-20:]})
        self.client.patch("/api/runs/%s" % self.run_id, {"resolved_packages": built.resolved}, retry_seconds=600)
        from kyanite.envs.compat import gpu_builds
        gpu_reqs = gpu_builds(spec.pip, spec.pip_options) if not spec.user_managed else []
        if gpu_reqs and not self.gpu_devices:
            log.line("the environment names a GPU build (%s), but this run has no GPU (%s): it runs on the "
                     "CPU; run it on a GPU target (AmlCompute vm_size='gpu' or an NC/ND/NV size) to use one"
                     % (", ".join(gpu_reqs), "CUDA_VISIBLE_DEVICES is empty" if os.environ.get(
                         "CUDA_VISIBLE_DEVICES") == "" else "none found on %s" % socket.gethostname()))
        elif gpu_reqs:
            log.line("GPU build (%s) on %s" % (", ".join(gpu_reqs), ", ".join(
                "GPU %s%s" % (g["id"], " (%s)" % g["name"] if g.get("name") else "") for g in self.gpu_devices)))
        docker = _docker_settings(env_def.get("docker"), definition.docker_configuration)
        if docker:
            log.line("Docker settings do not apply (%s): this target runs without Docker, in a uv "
                     "environment built from the same packages; they are kept on the records"
                     % ", ".join(docker))
        if definition.input_datasets:  # datasets into the node cache, laid out per input
            from kyanite.data import DataError, materialize_run_inputs
            try:
                inputs = materialize_run_inputs(self.client, definition, self.cache, workdir, log.line)
            except DataError as exc:
                log.line("input datasets could not be prepared: %s" % exc.message)
                return self.finish(RunStatus.FAILED, {"message": exc.message, "code": "DatasetError",
                                                      "logTail": log.tail[-20:]})
            definition = definition.replace(arguments=inputs.arguments)
            env_def = dict(env_def, environmentVariables=dict(env_def.get("environmentVariables") or {},
                                                              **inputs.env))
        if self.cancel_requested.is_set():
            return self.finish(RunStatus.CANCELED)

        self.status(RunStatus.STARTING)
        if os.path.exists(workdir):
            shutil.rmtree(workdir)
        shutil.copytree(src, workdir, symlinks=True)
        for d in ("outputs", "logs"):
            os.makedirs(os.path.join(workdir, d), exist_ok=True)
        script = definition.script
        if not os.path.isfile(os.path.join(workdir, script)):
            log.line("script %r is not in the snapshot" % script)
            return self.finish(RunStatus.FAILED, {"message": "Script %r not found in the source directory." % script,
                                                  "code": "ScriptNotFound"})
        spool = os.path.join(self.cache, "runs", "%s.metrics" % self.run_id)
        if os.path.exists(spool):
            os.unlink(spool)
        metrics = MetricShipper(self.client, spool)
        env = self.script_env(definition, env_def, spool, resolved=built.resolved, python=built.python)
        cmd = [built.python, script] + [str(a) for a in definition.arguments]
        log.line("ready in %.2fs; starting: %s" % (time.time() - t0, " ".join(_quote(c) for c in cmd)))
        from kyanite.runtime import distributed
        from kyanite.runtime import ray_spread
        if ray_spread.wanted(definition):  # node groups on distinct Ray nodes, node 0 here
            self.spread = ray_spread.Spread(self, log, definition, env_def)
            try:
                master_addr, ports = self.spread.reserve()
            except Exception as exc:
                self.spread.close()
                log.line("the run's nodes could not be reserved: %s" % exc)
                return self.finish(RunStatus.CANCELED if self.cancel_requested.is_set() else RunStatus.FAILED, None
                                   if self.cancel_requested.is_set() else {
                                       "message": "The run's nodes could not be reserved on Ray: %s" % exc,
                                       "code": "HostLaunchFailed"})
            if self.spread.gpu_ids is not None:  # node 0's GPUs, as Ray assigned them
                env["CUDA_VISIBLE_DEVICES"] = ",".join(self.spread.gpu_ids)
            members = [m for m in distributed.plan(definition.distributed, env, env_def.get("environmentVariables"),
                                                   master_addr=master_addr, ports=ports)
                       if m.env["NODE_RANK"] == "0"]
            self.spread.start(self.run_id, self.experiment, as_submitted[0], as_submitted[1], master_addr, ports)
        else:
            members = distributed.plan(definition.distributed, env, env_def.get("environmentVariables"))
        if members:  # a distributed run: one process per rank, rank 0 in the driver log
            self.group = distributed.ProcessGroup(members, log, lambda name: LogShipper(self.client, self.run_id, name))
            self.proc = self.group.start(cmd, workdir)[0]
        else:
            self.proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        self.client.patch("/api/runs/%s" % self.run_id, {"host": _script_handle(self.proc.pid)}, retry_seconds=600)
        if self.cancel_requested.is_set():  # canceled while the script was being started
            threading.Thread(target=self._end_tree, daemon=True).start()
        self.status(RunStatus.RUNNING)
        from kyanite.runtime import system_metrics  # CPU, memory, GPU of the script's tree as system/ metrics
        group = self.group
        sampler = system_metrics.start_for_run(
            self.run_id, spool, (lambda: [p.pid for p in group.procs]) if group is not None else [self.proc.pid],
            env, log.line)
        from kyanite.runtime.logs_sync import LogsSync
        logs_sync = LogsSync(self.client, self.run_id, workdir, log.line).start()  # ./logs while it runs
        timer = None
        limit = definition.max_run_duration_seconds
        timed_out = threading.Event()
        if limit:
            def _timeout():
                timed_out.set()
                log.line("run exceeded max_run_duration_seconds=%s; stopping it" % limit)
                self._end_tree()
            timer = threading.Timer(float(limit), _timeout)
            timer.daemon = True
            timer.start()
        if self.spread is not None:
            try:
                rc = self.spread.wait(self.group)
            finally:
                self.spread.close()
        elif self.group is not None:
            rc = self.group.wait()
        else:
            # the output is pumped by a thread: a child the script leaves behind may hold the
            # pipe open, and must neither keep the run going nor outlive it
            pump = threading.Thread(target=_pump, args=(self.proc.stdout, log), daemon=True)
            pump.start()
            rc = self.proc.wait()
        if sampler is not None:
            sampler.stop()
        _kill_tree(self.proc.pid)  # stray children of the script
        if self.group is None:
            pump.join(10)
        if timer:
            timer.cancel()
        metrics.close()
        self.status(RunStatus.FINALIZING)
        logs_sync.stop()  # before the final upload, which must be the last word on each file
        self.upload_outputs(workdir, logs_shipped=logs_sync.shipped)
        if self.cancel_requested.is_set():
            log.line("run canceled")
            return self.finish(RunStatus.CANCELED)
        if timed_out.is_set():
            return self.finish(RunStatus.FAILED, {"message": "The run exceeded max_run_duration_seconds=%s." % limit,
                                                  "code": "RunTimeout", "logTail": log.tail[-20:]})
        if rc != 0:
            reason = "killed by signal %d" % -rc if rc < 0 else "exited with code %d" % rc
            err_line = next((t for t in reversed(log.tail) if t.strip() and not t.startswith("[kyanite]")), "")
            log.line("script %s" % reason)
            return self.finish(RunStatus.FAILED, {
                "message": "User script %s %s%s" % (script, reason, (": " + err_line.strip()) if err_line else ""),
                "code": "UserError", "exitCode": rc, "logTail": log.tail[-20:]})
        log.line("script finished in %.2fs" % (time.time() - t0))
        return self.finish(RunStatus.COMPLETED)

    def script_env(self, definition, env_def, spool, resolved=None, python=None):
        """The script's environment: the allow-list of ``kyanite.runtime.environ`` (PATH:
        ``python``'s folder, then the system's), the environment definition's variables,
        the run's own (KYANITE_*, MLflow, thread counts, MPLBACKEND=Agg unless set)."""
        from kyanite.runtime.environ import script_environment, target_env_names
        env = script_environment(os.environ, python, keep=target_env_names(os.environ))
        env.update({k: str(v) for k, v in (env_def.get("environmentVariables") or {}).items()})
        shim = self.runtime_shim()
        env["PYTHONPATH"] = shim + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env.update({"KYANITE_RUN_ID": self.run_id, "KYANITE_METRICS_SPOOL": spool,
                    "KYANITE_EXPERIMENT": self.experiment, "PYTHONUNBUFFERED": "1",
                    "AZUREML_RUN_ID": self.run_id})
        # MLflow logs into this run with no set-up (kyanite.server.routes.mlflow), unless the
        # environment definition points it elsewhere
        mlflow_env = {"MLFLOW_TRACKING_URI": self.client.base_url + "/mlflow", "MLFLOW_RUN_ID": self.run_id,
                      "MLFLOW_EXPERIMENT_NAME": self.experiment, "MLFLOW_TRACKING_TOKEN": self.client.token or ""}
        if "MLFLOW_TRACKING_URI" not in (env_def.get("environmentVariables") or {}):
            env.update(mlflow_env)
        from kyanite.envs.compat import set_keras_backend
        set_keras_backend(env, resolved, env_def.get("environmentVariables"))  # Keras 2 refuses "jax"
        env.setdefault("MPLBACKEND", "Agg")
        threads = str(definition.cpu_count or max(1, (os.cpu_count() or 1) // max(1, int(definition.slots or 1))))
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env.setdefault(var, threads)
        return env

    def upload_outputs(self, workdir, logs_shipped=None):
        """Upload ``./outputs`` and ``./logs``; ``logs_shipped(rel, full)`` says which files of
        ``./logs`` are already on the server as they are (``LogsSync.shipped``)."""
        for folder in ("outputs", "logs"):
            base = os.path.join(workdir, folder)
            for root, _dirs, files in os.walk(base):
                for fn in files:
                    full = os.path.join(root, fn)
                    inner = os.path.relpath(full, base).replace(os.sep, "/")
                    if folder == "logs" and logs_shipped is not None and logs_shipped(inner, full):
                        continue
                    rel = folder + "/" + inner
                    try:
                        with open(full, "rb") as f:
                            self.client.request("PUT", "/api/runs/%s/artifacts/%s" % (self.run_id, quote(rel, safe="/")),
                                                data=f, retry_seconds=600)
                    except OSError as exc:
                        self.log.line("could not upload %s: %s" % (rel, exc))

    def finish(self, status, error=None):
        if self.log is not None:
            try:
                self.log.close()
            except Exception:
                pass
        for child in self.client.get("/api/runs/%s/children" % self.run_id, params={"recursive": "true"},
                                     retry_seconds=600)["runs"]:
            if child["status"] not in TERMINAL_STATES:
                self.client.post("/api/runs/%s/status" % child["runId"], {"status": status}, retry_seconds=600)
        self.status(status, error)
        return 0 if status == RunStatus.COMPLETED else 1


def _gpu_facts():
    """``{"gpuDevices": [{id, index, name, memoryMiB, uuid}...], "gpuDriver"}``: the GPUs
    this host's ``CUDA_VISIBLE_DEVICES`` lets its script see (``kyanite.compute.gpus``)."""
    try:
        from kyanite.compute import gpus
        found, driver = gpus.probe()
        return {"gpuDevices": gpus.visible(found, os.environ.get("CUDA_VISIBLE_DEVICES")), "gpuDriver": driver}
    except Exception:  # never a reason to lose the run
        return {"gpuDevices": [], "gpuDriver": None}


def _pump(pipe, log):
    fd = pipe.fileno()
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        log.write(chunk)


def _script_handle(pid):
    """What the executor needs to end the script's process group should this host die."""
    try:
        import psutil
        created = psutil.Process(pid).create_time()
    except Exception:
        created = None
    return {"script_pid": pid, "script_create_time": created}


def _kill_tree(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        import psutil
        for p in psutil.Process(pid).children(recursive=True):
            p.kill()
    except Exception:
        pass


def _safe_extract(tar, dest):
    base = os.path.abspath(dest)
    for member in tar.getmembers():
        target = os.path.abspath(os.path.join(base, member.name))
        if not (target == base or target.startswith(base + os.sep)) or member.issym() or member.islnk():
            if member.issym() or member.islnk():
                continue
            raise ValueError("unsafe path in snapshot: %r" % member.name)
    if hasattr(tarfile, "data_filter"):
        tar.extractall(base, filter="data")
    else:  # a Python without extraction filters (before 3.8.17/3.11.4): plain files and folders only
        tar.extractall(base, members=[m for m in tar.getmembers() if m.isfile() or m.isdir()])


def _env_error(exc):
    """The reason an environment failed: the spec error, or the build step that failed
    followed by uv's own error lines (from its first ``error:`` line on)."""
    text = str(exc).strip()
    tail = exc.tail(12).splitlines() if hasattr(exc, "tail") else []
    start = next((i for i, t in enumerate(tail) if t.strip().lower().startswith("error")), None)
    if start is None:
        return text
    return "%s: %s" % (exc.message, " ".join(t.strip() for t in tail[start:] if t.strip()))


def _quote(s):
    import shlex
    return shlex.quote(s)


def _standby():
    """Import what a run needs, then wait for ``<run id>\t<run token>[\t<CUDA_VISIBLE_DEVICES>]``
    on stdin (a warm spare host, see ``LocalExecutor``); returns the run id, ``None`` when
    stdin closes first (the server went away)."""
    import kyanite.envs  # noqa: F401  (the environment builder and its YAML parser)
    import psutil  # noqa: F401
    try:
        import kyanite.data  # noqa: F401  (dataset inputs)
    except ImportError:
        pass
    line = sys.stdin.readline().rstrip("\r\n")
    if not line.strip():
        return None
    fields = line.split("\t")
    run_id, token = fields[0].strip(), (fields[1] if len(fields) > 1 else "")
    if token:
        os.environ["KYANITE_TOKEN"] = token  # the run's token (kyanite.server.run_tokens)
    if len(fields) > 2:
        os.environ["CUDA_VISIBLE_DEVICES"] = fields[2]  # the run's GPUs; empty: none
    return run_id


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m kyanite.runtime.host")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--run-id")
    g.add_argument("--standby", action="store_true", help="start warm; read the run id from stdin")
    args = p.parse_args(argv)
    if args.standby:
        args.run_id = _standby()
        if args.run_id is None:
            sys.exit(0)
    client = Client(settings.require("KYANITE_SERVER_URL"), settings.get("KYANITE_TOKEN"), retry_seconds=600)
    sys.exit(Host(args.run_id, client).execute())


if __name__ == "__main__":
    main()
