"""Run hosts as subprocesses of this machine, detached from the server.

Hosts start in their own session, so a server restart leaves them running; they find the
server again on the same address. One spare host is kept started ahead, its imports done,
waiting on its stdin for a line ``<run id>\t<run token>`` (it is started without any
token): a run start then skips Python's start-up (~0.15 s). The
spare exits when the server does (its stdin closes). ``kill`` ends the host's whole process group and any
descendants that left it.

``run_as_for(run)`` (optional) names the OS user a run's host runs as, or None for the
server's own user; see :mod:`kyanite.compute.run_as`. A spare is kept per user: a run is
handed only to a spare of its own user.
"""

import os
import signal
import subprocess
import sys
import time

import psutil

from kyanite.compute import run_as
from kyanite import settings
from kyanite.compute.base import Executor


class LocalExecutor(Executor):
    def __init__(self, log_dir, warm_spare=None, run_as_for=None):
        self.log_dir = log_dir
        self.run_as_for = run_as_for
        os.makedirs(log_dir, exist_ok=True)
        #: keep one host started ahead, waiting on stdin (KYANITE_WARM_HOST=0 turns it off)
        self.warm_spare = settings.get("KYANITE_WARM_HOST") if warm_spare is None else warm_spare
        self._spare = None

    def launch(self, run, env):
        """Hand the run to the warm spare host when one is ready (it has already paid
        Python's start-up and imports), else start a host; then prepare the next spare."""
        run_id = run["runId"]
        name = self.run_as_for(run) if self.run_as_for is not None else None
        user = run_as.lookup(name) if name else None  # RunAsError (the run fails) when unusable
        spare, self._spare = self._spare, None
        proc = None
        token = env.get("KYANITE_TOKEN") or ""
        base = {k: v for k, v in env.items() if k != "KYANITE_TOKEN"}  # a spare holds no token
        if spare is not None and spare[0].poll() is None and spare[1] == base and spare[3] == name:
            try:
                spare[0].stdin.write(("%s\t%s\n" % (run_id, token)).encode("utf-8"))
                spare[0].stdin.close()
                os.replace(spare[2], os.path.join(self.log_dir, "%s.log" % run_id))
                proc = spare[0]
            except OSError:
                proc = None
        if spare is not None and proc is None and spare[0].poll() is None:
            _end_spare(spare[0])  # kept for another user or environment
        if proc is None:
            proc = self._start(["--run-id", run_id], env, os.path.join(self.log_dir, "%s.log" % run_id), user=user)
        try:
            created = psutil.Process(proc.pid).create_time()
        except psutil.Error:
            created = None
        _reap_later(proc)
        if self.warm_spare:
            tmp_log = os.path.join(self.log_dir, "spare-new-%d.log" % time.time_ns())
            spare_proc = self._start(["--standby"], base, tmp_log, stdin=subprocess.PIPE, user=user)
            final_log = os.path.join(self.log_dir, "spare-%d.log" % spare_proc.pid)
            os.replace(tmp_log, final_log)
            self._spare = (spare_proc, base, final_log, name)
        return {"executor": "local", "pid": proc.pid, "create_time": created}

    def _start(self, args, env, log_path, stdin=subprocess.DEVNULL, user=None):
        """Start a host; as ``user`` (a ``RunUser``) when given. Its log is opened here and
        handed over as stdout, so the host needs no access to the workspace folder."""
        kwargs = {"start_new_session": True}
        if user is not None:
            kwargs, env = user.popen_args(env)
        log = open(log_path, "ab")
        try:
            return subprocess.Popen([sys.executable, "-m", "kyanite.runtime.host"] + args,
                                    env=env, stdin=stdin, stdout=log, stderr=subprocess.STDOUT,
                                    close_fds=True, **kwargs)
        except OSError as exc:
            if user is not None:
                raise user.launch_error(exc)
            raise
        finally:
            log.close()

    def _process(self, handle, pid_key="pid", time_key="create_time"):
        try:
            p = psutil.Process(handle[pid_key])
            if handle.get(time_key) and abs(p.create_time() - handle[time_key]) > 1:
                return None  # the pid was reused
            if p.status() == psutil.STATUS_ZOMBIE:
                return None
            return p
        except (psutil.Error, KeyError, TypeError):
            return None

    def cancel(self, handle):
        p = self._process(handle)
        if p is not None:
            try:
                p.send_signal(signal.SIGTERM)
            except psutil.Error:
                pass

    def kill(self, handle):
        """End the host, its descendants, and the script's process group (the script runs
        in a session of its own, so it outlives a host killed by force otherwise)."""
        procs = []
        for p in (self._process(handle), self._process(handle, "script_pid", "script_create_time")):
            if p is None:
                continue
            procs.append(p)
            try:
                procs += p.children(recursive=True)
            except psutil.Error:
                pass
        script = self._process(handle, "script_pid", "script_create_time")
        if script is not None:
            try:
                os.killpg(script.pid, signal.SIGKILL)
            except OSError:
                pass
        for q in procs:
            try:
                q.kill()
            except psutil.Error:
                pass

    def alive(self, handle):
        return self._process(handle) is not None

    def capacity(self, config):
        if config.get("type") == "local":
            return os.cpu_count() or 1
        return super(LocalExecutor, self).capacity(config)


def _end_spare(proc):
    """A spare that will not be used: closing its stdin ends it."""
    try:
        proc.stdin.close()
    except OSError:
        pass
    _children.append(proc)


_children = []


def _reap_later(proc):
    """Keep Popen objects so finished hosts are reaped (no zombies) on the next launch."""
    _children.append(proc)
    for c in list(_children):
        if c.poll() is not None:
            _children.remove(c)
