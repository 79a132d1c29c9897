"""The run scheduler and the run watchdog, two daemon threads of the workspace server.

Scheduler: takes Queued runs oldest first and, when their compute target has a free
slot (``executor.capacity``), moves them to Preparing and launches a run host. A run
stays Queued while its target is full. ``wake()`` makes it look at once (on submit and
whenever a run ends).

Watchdog: fails active runs whose host stopped heartbeating for ``heartbeat_timeout``
seconds (counted from the server's start at the earliest, so a restart is not a death),
or whose host process is gone (where the executor can tell), and ends runs stuck in
CancelRequested after ``cancel_grace`` seconds.

GPUs (targets on the local executor): a target with ``gpus_per_node`` > 0 gives each of
its runs that many of the machine's GPUs (``kyanite.compute.gpus.discover``, once per
server), in ``CUDA_VISIBLE_DEVICES`` of the run host (and so of its script), and records
their ids on the run's host record (``host.gpus``). A GPU is free when no active run's
host record holds it, so the assignment survives a server restart and two runs of any
targets never share a GPU; a run whose target has a free slot but not enough free GPUs
stays Queued. A target without GPUs sets ``CUDA_VISIBLE_DEVICES`` to the empty string: its
scripts see no GPU. Ray targets are left to Ray (``kyanite.compute.ray``).

A broken target (a stored config that ``ComputeConfig`` refuses, say from an older
workspace, or an executor that cannot be built) fails its own queued runs with the reason
(``ComputeTargetBroken``), logged once; the other targets' runs go on.
"""

import logging
import os
import threading
import time
from typing import Any

from kyanite import settings
from kyanite.exceptions import ConflictException, NotFoundException
from kyanite.protocol.compute import ComputeConfig, ComputeConfigError
from kyanite.protocol.states import RunStatus
from kyanite.protocol.states import ACTIVE_STATES
from kyanite.server.wire import iso

log = logging.getLogger("kyanite.scheduler")
LOCAL_TARGET = {"name": "local", "type": "local", "config": {"type": "local"}}


class Scheduler(object):
    def __init__(self, store: Any, executors: Any, host_env: Any, notifier: Any, heartbeat_timeout: Any = None, cancel_grace: float = 15.0) -> None:
        self.store = store
        self.executors = executors
        self.host_env = host_env
        self.notifier = notifier
        self.heartbeat_timeout = float(heartbeat_timeout or settings.get("KYANITE_HEARTBEAT_TIMEOUT"))
        self.cancel_grace = cancel_grace
        self.started = time.time()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._cancel_seen: dict[str, Any] = {}
        self._broken_logged: set[tuple[str, Any]] = set()
        self._machine_gpus: Any = None
        self._threads = [threading.Thread(target=self._loop, name="kyanite-scheduler", daemon=True),
                         threading.Thread(target=self._watch, name="kyanite-watchdog", daemon=True)]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    # -- targets -----------------------------------------------------------------
    def target(self, name: str) -> Any:
        if name in (None, "local"):
            return LOCAL_TARGET
        return self.store.compute(name)

    def config_for(self, target: Any) -> Any:
        """The target's validated ``ComputeConfig``; ConflictException (409) naming the target
        and the field when its stored config is not valid."""
        try:
            return ComputeConfig.from_json(dict(target["config"] or {}, type=target["type"]))
        except ComputeConfigError as exc:
            raise ConflictException(
                "Compute target %r has a stored config that is not valid: %s Delete the target and create "
                "it again." % (target["name"], exc.message), field=exc.field)  # type: ignore[attr-defined]

    def executor_for(self, target: Any) -> Any:
        return self.executors[self.config_for(target).executor]

    def capacity(self, target: Any) -> Any:
        """How many runs of ``target`` may execute at once (its executor's ``capacity``
        of the validated config)."""
        return self.executor_for(target).capacity(self.config_for(target).to_json())

    def machine_gpus(self) -> Any:
        """The ids of this machine's GPUs (``kyanite.compute.gpus.discover``, asked once)."""
        return [g["id"] for g in self.gpu_facts()]

    def gpu_facts(self) -> Any:
        """This machine's GPU facts (``kyanite.compute.gpus.discover``, asked once)."""
        if self._machine_gpus is None:
            from kyanite.compute import gpus
            self._machine_gpus = gpus.discover()
        return [dict(g) for g in self._machine_gpus]

    def held_gpus(self) -> Any:
        """``{gpu id: run id}`` of the GPUs that active runs hold (their ``host.gpus``)."""
        held = {}
        for run in self.store.list_runs(status=list(ACTIVE_STATES), top_level=False):
            for g in (run.host or {}).get("gpus") or ():
                held[str(g)] = run.id
        return held

    # -- scheduling ----------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            try:
                self.schedule_once()
            except Exception:
                log.exception("scheduler pass failed")

    def schedule_once(self) -> None:
        with self._lock:
            free = {}
            held = None  # {gpu id: run id}, read when a GPU target first needs it
            for run_id, target_name in self.store.queued_runs():
                try:
                    target = self.target(target_name)
                except NotFoundException:
                    self._finish(run_id, RunStatus.FAILED, "Compute target %r was deleted while the "
                                 "run was queued." % target_name, "ComputeTargetNotFound")
                    continue
                except Exception as exc:  # a record the store cannot read
                    self._fail_broken(run_id, target_name, exc)
                    continue
                if target_name not in free:
                    try:  # a broken target fails its own runs, not the whole pass
                        free[target_name] = self.capacity(target)
                    except Exception as exc:
                        free[target_name] = exc
                    else:
                        free[target_name] -= self.store.count_active(target_name)
                if isinstance(free[target_name], Exception):
                    self._fail_broken(run_id, target_name, free[target_name])
                    continue
                if free[target_name] <= 0:
                    continue
                config = self.config_for(target)
                gpus = None  # None: leave CUDA_VISIBLE_DEVICES to the executor (Ray)
                if config.executor == "local":
                    need = getattr(config, "gpus_per_node", 0) or 0
                    if need:
                        if held is None:
                            held = self.held_gpus()
                        spare = [g for g in self.machine_gpus() if g not in held]
                        if len(spare) < need:
                            continue  # a slot is free but its GPUs are not: wait Queued
                        gpus = spare[:need]
                    else:
                        gpus = []
                run, changed = self.store.set_status(run_id, RunStatus.PREPARING, expect=(RunStatus.QUEUED,))
                if not changed:
                    continue
                free[target_name] -= 1
                env = self.run_env(run_id)
                if gpus is not None:
                    env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
                    if held is not None:
                        held.update((g, run_id) for g in gpus)
                try:
                    handle = self.executor_for(target).launch(run, env)
                except Exception as exc:
                    log.exception("launch failed")
                    self._finish(run_id, RunStatus.FAILED, "Could not start the run host: %s" % exc,
                                 "HostLaunchFailed")
                    continue
                if gpus:
                    handle = dict(handle, gpus=gpus)
                self.store.update_run(run_id, host=handle)
                self.notifier.changed(run_id)

    def _fail_broken(self, run_id: str, target_name: str, exc: Exception) -> None:
        """Fail a queued run of a target that cannot be used; the reason is logged once."""
        reason = getattr(exc, "message", None) or "Compute target %r cannot be used: %s: %s" % (
            target_name, type(exc).__name__, exc)
        if (target_name, reason) not in self._broken_logged:
            self._broken_logged.add((target_name, reason))
            log.error("compute target %r cannot run anything; its queued runs fail: %s", target_name, reason)
        run, changed = self.store.set_status(run_id, RunStatus.FAILED, expect=(RunStatus.QUEUED,), error={
            "message": "Cannot start the run: %s" % reason, "code": "ComputeTargetBroken"})
        if changed:
            self.notifier.changed(run_id)

    def run_env(self, run_id: str) -> Any:
        """The host environment for one run: ``KYANITE_TOKEN`` is that run's token
        (:mod:`kyanite.server.run_tokens`), never the workspace token."""
        from kyanite.server import run_tokens
        env = dict(self.host_env)
        if env.get("KYANITE_TOKEN"):
            env["KYANITE_TOKEN"] = run_tokens.issue(env["KYANITE_TOKEN"], run_id)
        return env

    def _finish(self, run_id: str, status: Any, message: str | None, code: Any) -> None:
        self.store.set_status(run_id, status, error={"message": message, "code": code} if message else None)
        self.notifier.changed(run_id)
        self.wake()

    # -- cancellation ---------------------------------------------------------------
    def cancel(self, run_id: str) -> Any:
        """Cancel a run: at once when it has not started, else through its host."""
        run = self.store.run(run_id)
        if run.status in (RunStatus.NOT_STARTED, RunStatus.QUEUED):
            run, changed = self.store.set_status(run_id, RunStatus.CANCELED,
                                                 expect=(RunStatus.NOT_STARTED, RunStatus.QUEUED))
            if changed:
                self.notifier.changed(run_id)
                return run
            run = self.store.run(run_id)
        if run.status in ACTIVE_STATES:
            self.store.request_cancel(run_id)
            run, _ = self.store.set_status(run_id, RunStatus.CANCEL_REQUESTED)
            if run.host:
                try:
                    self.executor_for(self.target(run.target)).cancel(run.host)
                except Exception:
                    log.exception("cancel signal failed")
            elif run.host is None:  # an interactive run: nobody else will end it
                run, _ = self.store.set_status(run_id, RunStatus.CANCELED)
            self.notifier.changed(run_id)
        return run

    # -- watchdog ---------------------------------------------------------------------
    def _watch(self) -> None:
        while not self._stop.wait(min(2.0, self.heartbeat_timeout / 4)):
            try:
                self.watch_once()
            except Exception:
                log.exception("watchdog pass failed")

    def watch_once(self) -> None:
        now = time.time()
        cutoff: Any = now - self.heartbeat_timeout
        if self.started > cutoff:
            cutoff = None  # within the grace period after a (re)start
        stale = set(self.store.stale_runs(cutoff)) if cutoff else set()
        for run in self.store.list_runs(status=list(ACTIVE_STATES), top_level=False):
            rid, handle = run.id, run.host
            if not handle:
                continue
            try:
                executor = self.executor_for(self.target(run.target))
            except Exception:  # target deleted or broken: the host's own handle names its executor
                executor = self.executors[handle.get("executor") or "local"]
            if run.status == RunStatus.CANCEL_REQUESTED:
                first = self._cancel_seen.setdefault(rid, now)
                if now - first > self.cancel_grace or executor.alive(handle) is False:
                    executor.kill(handle)
                    self._finish(rid, RunStatus.CANCELED, None, None)
                    self._cancel_seen.pop(rid, None)
                continue
            if rid in stale:
                executor.kill(handle)
                self._finish(rid, RunStatus.FAILED,
                             "The run host stopped heartbeating: no sign of life for %.0f s (last at %s). "
                             "The process or node running it was lost." % (
                                 self.heartbeat_timeout, iso(run.heartbeat)), "HeartbeatTimeout")
            elif executor.alive(handle) is False:
                time.sleep(0.5)  # the host may be reporting its final state right now
                if self.store.run(rid).status in ACTIVE_STATES:
                    executor.kill(handle)  # what the host started may outlive it
                    self._finish(rid, RunStatus.FAILED,
                                 "The run host process exited without reporting a final status "
                                 "(killed, or out of memory). See hosts/%s.log in the workspace folder." % rid,
                                 "HostLost")
