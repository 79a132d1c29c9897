"""Run hosts as subprocesses of this machine, detached from the server.

Hosts start in their own session, so a server restart leaves them running; they find the
server again on the same address. One spare host is kept started ahead, its imports done,
waiting on its stdin for a line ``<run id>\t<run token>[\t<CUDA_VISIBLE_DEVICES>]`` (it
is started without any token or GPU selection; the third field is there when the run's
environment sets ``CUDA_VISIBLE_DEVICES``, even to the empty string): a run start then skips
Python's start-up (~0.15 s). The
spare exits when the server does (its stdin closes). Hosts are started, known again (pid and
start time: the handle's ``pid``/``create_time``, the script's ``script_pid``/
``script_create_time``), ended and reaped by :mod:`kyanite.supervisor`. ``kill`` ends the
host's and the script's process groups and any descendants that left them.

``run_as_for(run)`` (optional) names the OS user a run's host runs as, or None for the
server's own user; see :mod:`kyanite.compute.run_as`. A spare is kept per user: a run is
handed only to a spare of its own user.
"""

import os
import signal
import subprocess
import sys
import time
from typing import Any

from kyanite import supervisor
from kyanite.compute import run_as
from kyanite import settings
from kyanite.compute.base import Executor
from kyanite.protocol.runs import RunRecord


class LocalExecutor(Executor):
    def __init__(self, log_dir: str, warm_spare: Any = None, run_as_for: Any = None) -> None:
        self.log_dir = log_dir
        self.run_as_for = run_as_for
        os.makedirs(log_dir, exist_ok=True)
        #: keep one host started ahead, waiting on stdin (KYANITE_WARM_HOST=0 turns it off)
        self.warm_spare = settings.get("KYANITE_WARM_HOST") if warm_spare is None else warm_spare
        self._spare: tuple[Any, dict[str, Any], str, Any] | None = None

    def launch(self, run: RunRecord, env: dict[str, str]) -> dict[str, Any]:
        """Hand the run to the warm spare host when one is ready (it has already paid
        Python's start-up and imports), else start a host; then prepare the next spare."""
        run_id = run.id
        name = self.run_as_for(run) if self.run_as_for is not None else None
        user = run_as.lookup(name) if name else None  # RunAsError (the run fails) when unusable
        spare, self._spare = self._spare, None  # (host handle, env, log path, user name)
        host = None
        token = env.get("KYANITE_TOKEN") or ""
        # a spare holds no token and no GPU selection: both come with the run id
        base = {k: v for k, v in env.items() if k not in ("KYANITE_TOKEN", "CUDA_VISIBLE_DEVICES")}
        line = "%s\t%s" % (run_id, token)
        if "CUDA_VISIBLE_DEVICES" in env:
            line += "\t" + env["CUDA_VISIBLE_DEVICES"]
        if spare is not None and spare[0].proc.poll() is None and spare[1] == base and spare[3] == name:
            try:
                spare[0].proc.stdin.write((line + "\n").encode("utf-8"))
                spare[0].proc.stdin.close()
                os.replace(spare[2], os.path.join(self.log_dir, "%s.log" % run_id))
                host = spare[0]
            except OSError:
                host = None
        if spare is not None and host is None and spare[0].proc.poll() is None:
            _end_spare(spare[0].proc)  # kept for another user or environment
        if host is None:
            host = self._start(["--run-id", run_id], env, os.path.join(self.log_dir, "%s.log" % run_id), user=user)
        supervisor.reap()  # hosts that finished since the last launch
        if self.warm_spare:
            tmp_log = os.path.join(self.log_dir, "spare-new-%d.log" % time.time_ns())
            spare_host = self._start(["--standby"], base, tmp_log, stdin=subprocess.PIPE, user=user)
            final_log = os.path.join(self.log_dir, "spare-%d.log" % spare_host.pid)
            os.replace(tmp_log, final_log)
            self._spare = (spare_host, base, final_log, name)
        handle = {"executor": "local"}
        handle.update(host.to_json())
        return handle

    def _start(self, args: Any, env: dict[str, Any], log_path: str, stdin: Any = None, user: Any = None) -> Any:
        """Start a host (a ``supervisor.ProcessHandle``); as ``user`` (a ``RunUser``) when
        given. Its log is opened here and handed over as stdout, so the host needs no access
        to the workspace folder."""
        return supervisor.start([sys.executable, "-m", "kyanite.runtime.host"] + args, env=env, log=log_path,
                                stdin=stdin, user=user)

    def cancel(self, handle: dict[str, Any]) -> None:
        supervisor.send_signal(supervisor.ProcessHandle.from_json(handle), signal.SIGTERM)

    def kill(self, handle: dict[str, Any]) -> None:
        """End the host, its descendants, and the script's process group (the script runs
        in a session of its own, so it outlives a host killed by force otherwise)."""
        supervisor.stop_tree(supervisor.ProcessHandle.from_json(handle), grace=0,
                             extra=[supervisor.ProcessHandle.from_json(handle, prefix="script_")])

    def alive(self, handle: dict[str, Any]) -> bool | None:
        return supervisor.is_alive(supervisor.ProcessHandle.from_json(handle))

    def capacity(self, config: dict[str, Any]) -> int:
        if config.get("type") == "local":
            return os.cpu_count() or 1
        return super(LocalExecutor, self).capacity(config)


def _end_spare(proc: Any) -> None:
    """A spare that will not be used: closing its stdin ends it (the supervisor reaps it)."""
    try:
        proc.stdin.close()
    except OSError:
        pass
