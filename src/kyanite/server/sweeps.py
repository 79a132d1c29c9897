"""The sweep controller: a daemon thread of the workspace server that drives hyperparameter
sweeps (HyperDrive runs).

State lives in the runs table only, so a restarted server carries on where it stopped:

- the sweep is a run with ``run_type="hyperdrive"`` whose ``RunDefinition`` holds the validated
  spec (``definition.hyperdrive``, a ``SweepSpec``; see ``kyanite.sweep.spec``) and the
  definition its children run (``definition.child_definition``);
- child number ``i`` is an ordinary submitted run with the id ``<sweep id>_<i>``, created
  Queued on the sweep's compute target with its sampled values in its arguments, in
  ``definition.hyperparameters`` and in the ``hyperparameters`` property. Creating a run
  with an id that exists is refused by the store, so a child is never created twice, and
  the next index is always the number of children already there.

Every pass (``interval`` seconds) the controller, for each sweep not yet ended:

1. ends it when it was canceled (children are canceled first) or ran past
   ``max_duration_minutes``;
2. reads the primary metric of its children (one query) and, when new values arrived,
   lets the early termination policy judge the running ones; a stopped child is canceled
   with the reason as its error message and the policy's name in its
   ``hyperdrive.termination`` property (children stopped because the sweep ended get the
   reason as their error message, with code SweepCanceled, SweepTimeout or SweepFailed);
3. fails the sweep with a clear message when children completed without ever logging the
   primary metric (a wrong ``primary_metric_name``), or when the first five finished children
   all failed;
4. creates children while fewer than ``max_concurrent_runs`` are outstanding and fewer than
   ``max_total_runs`` exist (the scheduler runs them when the target has room). When the
   target's capacity is what limits the sweep (``max_concurrent_runs`` equal to it, or capped
   to it), one child more waits Queued, so the scheduler starts it as soon as a slot frees;
   the target still never runs more than its capacity;
5. completes the sweep once no more children will be made and all have ended (Failed when
   every child failed), and keeps a progress summary in the sweep's tags.

Children of a sweep that was canceled through the plain run API (its run ended at once)
are canceled on the next pass. Only this thread creates children or ends sweeps; the
cancel route merely flags the sweep.
"""

import json
import logging
import os
import threading
import time
from typing import Any

from kyanite.exceptions import ConflictException, NotFoundException
from kyanite.protocol.runs import RunRecord
from kyanite.protocol.states import TERMINAL_STATES, RunStatus
from kyanite.store.artifacts import run_key
from kyanite.protocol.states import ACTIVE_STATES
from kyanite.server.wire import iso, run_details
from kyanite.sweep import child_arguments, evaluate, make_sampler

log = logging.getLogger("kyanite.sweeps")

RUN_TYPE = "hyperdrive"
HP_PROPERTY = "hyperparameters"
INDEX_PROPERTY = "hyperdrive.index"
TERMINATION_PROPERTY = "hyperdrive.termination"
RESUMED_PROPERTY = "hyperdrive.resumed_from"
PENDING = (RunStatus.NOT_STARTED, RunStatus.QUEUED)
FAIL_FAST = 5          # the first this many finished children all failed: stop the sweep
NO_METRIC_AFTER = 2    # this many children completed without the primary metric: stop
MAX_ERRORS = 5         # passes in a row that raised on one sweep: fail it


# -- read by the route as well -----------------------------------------------------------------
def child_hyperparameters(child: Any) -> Any:
    hp = child.definition.hyperparameters
    if hp is None:
        try:
            hp = json.loads(child.properties.get(HP_PROPERTY, "null"))
        except ValueError:
            hp = None
    return hp


def _with_status(run: RunRecord, status: str) -> RunRecord:
    """A copy of the RunRecord ``run`` in ``status``."""
    copy = type(run).__new__(type(run))
    copy.__dict__.update(run.__dict__, status=status)
    return copy


def sweep_children(store: Any, sweep_id: str) -> Any:
    """The sweep's children (its own child runs that carry hyperparameters), by index."""
    kids = [c for c in store.list_runs(parent_id=sweep_id, newest_first=False)
            if INDEX_PROPERTY in c.properties]
    kids.sort(key=lambda c: int(c.properties[INDEX_PROPERTY]))
    return kids


def best_of(values: Any, goal: Any) -> Any:
    if not values:
        return None
    return max(values) if goal == "maximize" else min(values)


def summarize(store: Any, sweep: Any) -> Any:
    """The sweep with its children, their hyperparameters and best primary metric values."""
    spec = sweep.definition.hyperdrive.to_json() if sweep.definition.hyperdrive else {}
    metric, goal = spec.get("primaryMetricName"), spec.get("primaryMetricGoal", "maximize")
    kids = sweep_children(store, sweep.id)
    series = store.scalar_values([c.id for c in kids], metric)
    children = []
    for c in kids:
        vals = series.get(c.id) or []
        children.append({
            "runId": c.id, "index": int(c.properties[INDEX_PROPERTY]), "status": c.status,
            "hyperparameters": child_hyperparameters(c), "bestMetric": best_of(vals, goal),
            "lastMetric": vals[-1] if vals else None, "metricCount": len(vals),
            "arguments": c.definition.arguments,
            "termination": c.properties.get(TERMINATION_PROPERTY),
            "error": (c.error or {}).get("message"),
            "startTimeUtc": iso(c.start_time), "endTimeUtc": iso(c.end_time),
        })
    counts: dict[Any, int] = {}
    for c in children:
        counts[c["status"]] = counts.get(c["status"], 0) + 1
    return {"run": run_details(sweep), "spec": spec, "children": children, "counts": counts}


# -- the controller -----------------------------------------------------------------------------
class _SweepState(object):
    """What the controller caches about one sweep; all of it can be rebuilt from the DB."""

    def __init__(self, spec: Any) -> None:
        self.spec = spec
        self.sampler = make_sampler(spec)
        self.final_series: dict[str, Any] = {}        # ended children: their metric values no longer change
        self.resume_series = None     # children of resume_from sweeps: {run_id: values}
        self.resume_history = None
        self.signature = None         # lengths of the series at the last policy evaluation
        self.tags = None
        self.capacity = None          # (runs the target takes at once, when looked up)


class SweepController(object):
    def __init__(self, store: Any, scheduler: Any, notifier: Any, artifacts: Any = None, interval: float = 0.2) -> None:
        self.store = store
        self.scheduler = scheduler
        self.notifier = notifier
        self.artifacts = artifacts
        self.interval = interval
        self._states: dict[str, Any] = {}
        self._errors: dict[str, Any] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="kyanite-sweeps", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.pass_once()
            except Exception:
                log.exception("sweep controller pass failed")

    def pass_once(self) -> None:
        with self._lock:
            live = self.store.open_run_ids(RUN_TYPE)
            for sid in live:
                try:
                    self.step(self.store.run(sid))
                    self._errors.pop(sid, None)
                except NotFoundException:
                    continue
                except Exception as exc:
                    log.exception("sweep %s: pass failed", sid)
                    self._errors[sid] = self._errors.get(sid, 0) + 1
                    if self._errors[sid] >= MAX_ERRORS:  # do not retry a broken sweep forever
                        self._errors.pop(sid, None)
                        self.finish(sid, RunStatus.FAILED, "The sweep controller failed on this sweep %d times in a "
                                    "row; last error: %s: %s" % (MAX_ERRORS, type(exc).__name__, exc),
                                    "SweepControllerError")
            for child_id in self.store.orphan_run_ids(RUN_TYPE):
                self.terminate(child_id, "The sweep this run belongs to was canceled.", "SweepCanceled")
            for sid in list(self._states):
                if sid not in live:
                    del self._states[sid]

    # -- one sweep ------------------------------------------------------------------------
    def state(self, sweep: Any) -> Any:
        st = self._states.get(sweep.id)
        if st is None:
            st = self._states[sweep.id] = _SweepState(sweep.definition.hyperdrive.to_json())
        return st

    def step(self, sweep: Any) -> Any:
        sid = sweep.id
        if not sweep.definition.hyperdrive:
            return self.finish(sid, RunStatus.FAILED, "The sweep has no hyperdrive definition.", "BadSweep")
        if sweep.status in (RunStatus.NOT_STARTED, RunStatus.QUEUED):
            self.store.set_status(sid, RunStatus.RUNNING)
        st = self.state(sweep)
        spec = st.spec  # the JSON object kyanite.sweep reads
        metric, goal = spec["primaryMetricName"], spec["primaryMetricGoal"]
        kids = sweep_children(self.store, sid)
        open_kids = [c for c in kids if c.status not in TERMINAL_STATES]

        # 1. canceled, or out of time
        if sweep.status == RunStatus.CANCEL_REQUESTED or sweep.cancel_requested:
            return self.wind_down(sid, open_kids, RunStatus.CANCELED, None,
                                  "The sweep was canceled.", "SweepCanceled")
        elapsed = time.time() - float(spec.get("createdAt") or time.time())
        if elapsed > float(spec["maxDurationMinutes"]) * 60:
            msg = "The sweep reached max_duration_minutes=%s and was canceled." % _num(spec["maxDurationMinutes"])
            return self.wind_down(sid, open_kids, RunStatus.CANCELED, {"message": msg, "code": "SweepTimeout"},
                                  msg, "SweepTimeout")

        # 2. metrics and the policy
        fresh = [c.id for c in kids if c.id not in st.final_series]
        series = dict(st.final_series)
        series.update(self.store.scalar_values(fresh, metric))
        for c in kids:
            if c.status in TERMINAL_STATES and c.id not in st.final_series:
                st.final_series[c.id] = series[c.id]
        self.load_resumed(st, spec)
        policy = spec.get("policy")
        if policy:
            everyone = dict(st.resume_series)
            everyone.update(series)
            signature = tuple(sorted((rid, len(v)) for rid, v in everyone.items()))
            if signature != st.signature:
                st.signature = signature
                candidates = [c.id for c in open_kids if c.status in
                              (RunStatus.PREPARING, RunStatus.STARTING, RunStatus.RUNNING)]
                for rid, reason in evaluate(policy, goal, everyone, candidates, metric).items():
                    name = policy["name"] + "Policy"
                    log.info("sweep %s: %s", sid, reason)
                    self.terminate(rid, reason, "EarlyTermination", name)
                    kids = [_with_status(c, RunStatus.CANCEL_REQUESTED) if c.id == rid else c for c in kids]

        # 3. a wrong metric name, or a script that always fails
        completed = [c for c in kids if c.status == RunStatus.COMPLETED]
        failed = [c for c in kids if c.status == RunStatus.FAILED]
        with_metric = [rid for rid, v in series.items() if v]
        total = spec["maxTotalRuns"]
        if not with_metric and len(completed) >= min(NO_METRIC_AFTER, total):
            names = self.store.metric_names([c.id for c in completed])
            msg = ("No child run logged the primary metric %r: %d child run(s) completed without it%s. "
                   "primary_metric_name must be the name the script passes to run.log() (names are "
                   "case-sensitive)." % (metric, len(completed),
                                         ("; they logged %s" % ", ".join(repr(n) for n in names)) if names
                                         else " and logged no metrics at all"))
            return self.wind_down(sid, [c for c in kids if c.status not in TERMINAL_STATES], RunStatus.FAILED,
                                  {"message": msg, "code": "PrimaryMetricNotFound"},
                                  "The sweep stopped: " + msg, "SweepFailed")
        if not completed and len(failed) >= min(FAIL_FAST, total) and len(failed) < total:
            first = (failed[0].error or {}).get("message") or "no reason recorded"
            msg = ("The first %d child runs all failed, so the sweep stopped. First error (%s): %s"
                   % (len(failed), failed[0].id, first))
            return self.wind_down(sid, [c for c in kids if c.status not in TERMINAL_STATES], RunStatus.FAILED,
                                  {"message": msg, "code": "ChildRunsFailed"},
                                  "The sweep stopped: " + msg, "SweepFailed")

        # 4. new children
        outstanding = len([c for c in kids if c.status not in TERMINAL_STATES])
        exhausted = False
        n = len(kids)
        concurrent = spec.get("maxConcurrentRuns") or total
        limit = concurrent + self.lookahead(st, sweep, concurrent)
        created = False
        while n < total and outstanding < limit:
            child = self.create_child(sweep, st, n, kids)
            if child is None:
                exhausted = True
                break
            if child is False:  # lost a race: look again next pass
                break
            kids.append(child)
            n += 1
            outstanding += 1
            created = True
        if created:
            self.scheduler.wake()

        # 5. the end, and progress
        self.update_tags(sid, st, kids, series, spec)
        if (exhausted or n >= total) and outstanding == 0:
            if kids and all(c.status == RunStatus.FAILED for c in kids):
                first = (kids[0].error or {}).get("message") or "no reason recorded"
                return self.finish(sid, RunStatus.FAILED, "All %d child runs failed. First error (%s): %s" % (
                    len(kids), kids[0].id, first), "ChildRunsFailed")
            if not with_metric:
                return self.finish(sid, RunStatus.FAILED, "No child run logged the primary metric %r." % metric,
                                   "PrimaryMetricNotFound")
            return self.finish(sid, RunStatus.COMPLETED, None, None)
        if exhausted and n == 0:
            return self.finish(sid, RunStatus.FAILED, "The parameter space produced no child run.", "EmptySpace")

    def lookahead(self, st: Any, sweep: Any, concurrent: Any) -> Any:
        """1 when the compute target itself holds the sweep to ``concurrent`` runs at once: then
        one more child may wait Queued, and the scheduler starts it the moment a slot frees,
        without waiting for this thread. Not for Bayesian sampling, whose next choice should
        see the latest result."""
        if st.spec["sampling"]["name"] == "bayesian":
            return 0
        now = time.time()
        if st.capacity is None or now - st.capacity[1] > 5.0:
            try:
                cap = capacity_of(self.scheduler, sweep.target)[0]
            except (NotFoundException, ConflictException):  # deleted or broken: its children fail
                cap = None
            st.capacity = (cap, now)
        cap = st.capacity[0]
        return 1 if cap is not None and concurrent >= cap else 0

    def wind_down(self, sid: str, open_kids: Any, status: Any, error: Any, child_reason: Any, code: Any) -> None:
        for c in open_kids:
            self.terminate(c.id, child_reason, code)
        if all(self.store.run(c.id).status in TERMINAL_STATES for c in open_kids):
            self.finish(sid, status, (error or {}).get("message"), (error or {}).get("code"))
        elif status != RunStatus.CANCELED or error:
            # keep the sweep open until its children have stopped; record why it is ending
            self.store.set_status(sid, RunStatus.CANCEL_REQUESTED, error=error)
            self.store.request_cancel(sid)

    def finish(self, sid: str, status: Any, message: str | None, code: Any) -> None:
        if status == RunStatus.COMPLETED or message is None:
            error = None
        else:
            error = {"message": message, "code": code}
        cur = self.store.run(sid)
        if status == RunStatus.CANCELED and cur.error and cur.error.get("code") in (
                "PrimaryMetricNotFound", "ChildRunsFailed"):
            status = RunStatus.FAILED  # a failing sweep whose children had to be stopped first
        self.store.set_status(sid, status, error=error)
        self._states.pop(sid, None)
        self.notifier.changed(sid)
        log.info("sweep %s ended %s%s", sid, status, (": " + message) if message else "")

    # -- children -------------------------------------------------------------------------------
    def history(self, st: Any, kids: Any) -> Any:
        out = list(st.resume_history or [])
        goal = st.spec["primaryMetricGoal"]
        for c in kids:
            vals = st.final_series.get(c.id)
            out.append({"params": child_hyperparameters(c), "status": c.status,
                        "value": best_of(vals, goal) if vals else None})
        return out

    def create_child(self, sweep: Any, st: Any, index: int, kids: Any) -> Any:
        """Create child ``index``; None when the space is exhausted, False on a lost race."""
        sid = sweep.id
        spec = st.spec
        base = sweep.definition.child_definition
        resumed = spec.get("resumeChildren") or []
        properties: dict[str, Any] = {INDEX_PROPERTY: index}
        resume_path = None
        if index < len(resumed):
            params = resumed[index]["hyperparameters"]
            resume_path = resumed[index]["resumeFrom"]
            properties[RESUMED_PROPERTY] = resumed[index]["runId"]
        else:
            sample_index = index - len(resumed)
            hist = self.history(st, kids)
            if spec["sampling"]["name"] == "grid":
                hist = None
            params = st.sampler.sample(sample_index, hist or [])
            if params is None:
                return None
        properties[HP_PROPERTY] = json.dumps(params, sort_keys=False)
        base = base.replace(arguments=child_arguments(list(base.arguments), params, resume_path),
                            hyperparameters=params)
        child_id = "%s_%d" % (sid, index)
        try:
            child = self.store.create_run(sweep.experiment, status=RunStatus.QUEUED, run_id=child_id, parent_id=sid,
                                          target=base.target or sweep.target, definition=base,
                                          display_name=child_id, run_type="run", properties=properties)
        except ConflictException:
            log.warning("sweep %s: child %s exists already; reloading", sid, child_id)
            return False
        log.info("sweep %s: child %s %s", sid, child_id, params)
        return child

    def terminate(self, run_id: str, reason: Any, code: Any, by: Any = None) -> None:
        """Cancel a child with ``reason`` (and ``code``) recorded as its error; ``by`` (the policy
        that stopped it) also goes into its ``hyperdrive.termination`` property."""
        try:
            run = self.store.run(run_id)
        except NotFoundException:
            return
        if run.status in TERMINAL_STATES or run.status == RunStatus.CANCEL_REQUESTED:
            return  # ended, or already being stopped
        error = {"message": reason, "code": code}
        if by and TERMINATION_PROPERTY not in run.properties:
            try:  # stopped by the early termination policy: which one, as a property
                self.store.update_run(run_id, properties={TERMINATION_PROPERTY: by})
            except ConflictException:
                pass
        if run.status in PENDING:
            _, changed = self.store.set_status(run_id, RunStatus.CANCELED, error=error, expect=PENDING)
            if changed:
                self.notifier.changed(run_id)
                self.scheduler.wake()
                return
            run = self.store.run(run_id)
        if run.status in ACTIVE_STATES:
            self.store.set_status(run_id, RunStatus.CANCEL_REQUESTED, error=error)
        self.scheduler.cancel(run_id)
        self.notifier.changed(run_id)

    # -- resume_from ----------------------------------------------------------------------------
    def load_resumed(self, st: Any, spec: Any) -> None:
        if st.resume_series is not None:
            return
        st.resume_series, st.resume_history = {}, []
        metric, goal = spec["primaryMetricName"], spec["primaryMetricGoal"]
        for prev in spec.get("resumeFrom") or []:
            try:
                kids = sweep_children(self.store, prev)
            except NotFoundException:
                continue
            series = self.store.scalar_values([c.id for c in kids], metric)
            for c in kids:
                vals = series.get(c.id) or []
                if vals:
                    st.resume_series[c.id] = vals
                st.resume_history.append({"params": child_hyperparameters(c), "value": best_of(vals, goal),
                                          "status": c.status if vals and c.status == RunStatus.COMPLETED
                                          else RunStatus.FAILED})

    def update_tags(self, sid: str, st: Any, kids: Any, series: Any, spec: Any) -> None:
        counts: dict[Any, int] = {}
        for c in kids:
            counts[c.status] = counts.get(c.status, 0) + 1
        goal = spec["primaryMetricGoal"]
        best_id, best_val = None, None
        for c in kids:
            v = best_of(series.get(c.id) or [], goal)
            if v is not None and (best_val is None or (v > best_val if goal == "maximize" else v < best_val)):
                best_id, best_val = c.id, v
        tags = {"hyperdrive.progress": "%d of %d child runs: %s" % (
            len(kids), spec["maxTotalRuns"], ", ".join("%d %s" % (n, st_.lower()) for st_, n in sorted(counts.items()))
            or "none yet")}
        if best_id:
            tags.update({"best_child_run_id": best_id, "best_metric": _num(best_val)})
        if tags != st.tags:
            st.tags = tags
            self.store.update_run(sid, tags=tags)
            self.notifier.changed(sid)


def _num(x: Any) -> Any:
    return "%.6g" % x if isinstance(x, float) else str(x)


def capacity_of(scheduler: Any, target_name: str) -> Any:
    target = scheduler.target(target_name)
    return scheduler.capacity(target), target


def outputs_folder(artifacts: Any, run_id: str) -> Any:
    key = run_key(run_id, "outputs")
    root = getattr(artifacts, "root", None)
    return os.path.join(root, *key.split("/")) if root else key
