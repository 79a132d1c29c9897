"""Run hosts as subprocesses of this machine, detached from the server.

Hosts start in their own session, so a server restart leaves them running; they find the
server again on the same address. ``kill`` ends the host's whole process group and any
descendants that left it.
"""

import os
import signal
import subprocess
import sys

import psutil

from kyanite.compute.base import Executor


class LocalExecutor(Executor):
    def __init__(self, log_dir):
        self.log_dir = log_dir
        os.makedirs(log_dir, exist_ok=True)

    def launch(self, run, env):
        log = open(os.path.join(self.log_dir, "%s.log" % run["runId"]), "ab")
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "kyanite.runtime.host", "--run-id", run["runId"]],
                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True)
        finally:
            log.close()
        try:
            created = psutil.Process(proc.pid).create_time()
        except psutil.Error:
            created = None
        _reap_later(proc)
        return {"executor": "local", "pid": proc.pid, "create_time": created}

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


_children = []


def _reap_later(proc):
    """Keep Popen objects so finished hosts are reaped (no zombies) on the next launch."""
    _children.append(proc)
    for c in list(_children):
        if c.poll() is not None:
            _children.remove(c)
