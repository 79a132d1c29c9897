"""The metadata store: experiments, runs, metrics, compute targets and environments.

``Store(url)`` works on any SQLAlchemy URL; SQLite (a file in the workspace folder) is
the default and PostgreSQL works by configuration alone (``postgresql+psycopg://...``).
``Store.migrate()`` brings the schema to the newest Alembic revision.

Thread safety: one Store is shared by the server's threads; every method opens its own
short transaction. Writers that must not interleave (step numbering of metrics, run
numbering) hold ``self._write_lock`` as well, so the server process is the single writer
it is designed to be.

Run records come back in the SDK v1 ``get_details()`` shape (see ``run_to_api``).
"""

import json
import os
import secrets
import threading
import time

from sqlalchemy import and_, create_engine, event, func, select, update

from kyanite.exceptions import ConflictException, NotFoundException, UserErrorException
from kyanite.runtime.run import TERMINAL_STATES, RunStatus
from kyanite.store import schema as s

ACTIVE_STATES = (RunStatus.PREPARING, RunStatus.STARTING, RunStatus.RUNNING,
                 RunStatus.FINALIZING, RunStatus.CANCEL_REQUESTED)
_ORDER = {st: i for i, st in enumerate((
    RunStatus.NOT_STARTED, RunStatus.QUEUED, RunStatus.PREPARING, RunStatus.STARTING,
    RunStatus.RUNNING, RunStatus.FINALIZING))}


def _iso(t):
    if t is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)


def run_to_api(row, experiment_name):
    definition = json.loads(row.definition) if row.definition else {}
    return {
        "runId": row.id,
        "number": row.number,
        "experiment": experiment_name,
        "parentRunId": row.parent_id,
        "displayName": row.display_name or row.id,
        "runType": row.run_type,
        "status": row.status,
        "target": row.target,
        "createdUtc": _iso(row.created),
        "startTimeUtc": _iso(row.start_time),
        "endTimeUtc": _iso(row.end_time),
        "durationSeconds": (row.end_time or time.time()) - row.start_time if row.start_time else None,
        "lastHeartbeatUtc": _iso(row.heartbeat),
        "cancelRequested": bool(row.cancel_requested),
        "tags": json.loads(row.tags or "{}"),
        "properties": json.loads(row.properties or "{}"),
        "runDefinition": definition,
        "inputDatasets": definition.get("inputDatasets") or {},
        "error": json.loads(row.error) if row.error else None,
        "resolvedPackages": json.loads(row.resolved_packages) if row.resolved_packages else None,
        "host": json.loads(row.host) if row.host else None,
    }


class Store(object):
    def __init__(self, url):
        self.url = url
        kwargs = {}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        self.engine = create_engine(url, **kwargs)
        if self.engine.dialect.name == "sqlite":
            @event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_conn, _record):
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()
        self._write_lock = threading.RLock()

    def migrate(self):
        """Upgrade the schema to the newest revision (creates it on an empty database)."""
        from alembic import command
        from alembic.config import Config
        cfg = Config()
        cfg.set_main_option("script_location", os.path.join(os.path.dirname(__file__), "migrations"))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def dispose(self):
        self.engine.dispose()

    # -- experiments ---------------------------------------------------------------
    def experiment(self, name, create=False):
        with self.engine.begin() as conn:
            row = conn.execute(select(s.experiments).where(s.experiments.c.name == name)).first()
            if row is None and create:
                _check_name("experiment", name)
                with self._write_lock:
                    conn.execute(s.experiments.insert().values(name=name, created=time.time()))
                row = conn.execute(select(s.experiments).where(s.experiments.c.name == name)).first()
        if row is None:
            raise NotFoundException("No experiment named %r in this workspace." % name)
        return {"id": row.id, "name": row.name, "createdUtc": _iso(row.created)}

    def list_experiments(self):
        with self.engine.connect() as conn:
            rows = conn.execute(select(s.experiments).order_by(s.experiments.c.name)).all()
            counts = dict(conn.execute(select(s.runs.c.experiment_id, func.count())
                                       .where(s.runs.c.parent_id.is_(None))
                                       .group_by(s.runs.c.experiment_id)).all())
        return [{"id": r.id, "name": r.name, "createdUtc": _iso(r.created), "runCount": counts.get(r.id, 0)}
                for r in rows]

    # -- runs ------------------------------------------------------------------------
    def create_run(self, experiment, status=RunStatus.NOT_STARTED, run_id=None, parent_id=None,
                   target=None, definition=None, display_name=None, run_type="run", tags=None,
                   properties=None):
        exp = self.experiment(experiment, create=True)
        now = time.time()
        if run_id is None:
            run_id = "%s_%d_%s" % (experiment, int(now), secrets.token_hex(4))
        with self._write_lock, self.engine.begin() as conn:
            if parent_id is not None and conn.execute(
                    select(s.runs.c.id).where(s.runs.c.id == parent_id)).first() is None:
                raise NotFoundException("Parent run %r does not exist." % parent_id)
            if conn.execute(select(s.runs.c.id).where(s.runs.c.id == run_id)).first() is not None:
                raise ConflictException("A run with id %r already exists." % run_id)
            number = (conn.execute(select(func.max(s.runs.c.number))
                                   .where(s.runs.c.experiment_id == exp["id"])).scalar() or 0) + 1
            conn.execute(s.runs.insert().values(
                id=run_id, number=number, experiment_id=exp["id"], parent_id=parent_id,
                display_name=display_name, run_type=run_type, status=status, target=target,
                created=now, start_time=now if status == RunStatus.RUNNING else None,
                heartbeat=None, cancel_requested=False,
                definition=json.dumps(definition) if definition is not None else None,
                tags=json.dumps(_strs(tags or {})), properties=json.dumps(_strs(properties or {}))))
        return self.run(run_id)

    def _select_runs(self):
        return select(s.runs, s.experiments.c.name.label("experiment_name")).join(
            s.experiments, s.runs.c.experiment_id == s.experiments.c.id)

    def run(self, run_id):
        with self.engine.connect() as conn:
            row = conn.execute(self._select_runs().where(s.runs.c.id == run_id)).first()
        if row is None:
            raise NotFoundException("No run with id %r in this workspace." % run_id)
        return run_to_api(row, row.experiment_name)

    def list_runs(self, experiment=None, parent_id=None, top_level=True, status=None, target=None,
                  limit=None, offset=0, newest_first=True):
        q = self._select_runs()
        if experiment is not None:
            q = q.where(s.runs.c.experiment_id == self.experiment(experiment)["id"])
        if parent_id is not None:
            q = q.where(s.runs.c.parent_id == parent_id)
        elif top_level:
            q = q.where(s.runs.c.parent_id.is_(None))
        if status is not None:
            q = q.where(s.runs.c.status.in_(status if isinstance(status, (list, tuple)) else [status]))
        if target is not None:
            q = q.where(s.runs.c.target == target)
        order = s.runs.c.created.desc() if newest_first else s.runs.c.created.asc()
        q = q.order_by(order, s.runs.c.number.desc() if newest_first else s.runs.c.number.asc())
        if limit:
            q = q.limit(limit).offset(offset)
        with self.engine.connect() as conn:
            return [run_to_api(r, r.experiment_name) for r in conn.execute(q).all()]

    def children(self, run_id, recursive=False):
        self.run(run_id)
        out, frontier = [], [run_id]
        while frontier:
            kids = []
            for pid in frontier:
                kids.extend(self.list_runs(parent_id=pid, newest_first=False))
            out.extend(kids)
            frontier = [k["runId"] for k in kids] if recursive else []
        return out

    def update_run(self, run_id, tags=None, remove_tags=None, properties=None, host=None,
                   resolved_packages=None, definition_updates=None):
        with self._write_lock, self.engine.begin() as conn:
            row = conn.execute(select(s.runs).where(s.runs.c.id == run_id)).first()
            if row is None:
                raise NotFoundException("No run with id %r in this workspace." % run_id)
            values = {}
            if tags is not None or remove_tags:
                cur = json.loads(row.tags)
                cur.update(_strs(tags or {}))
                for k in remove_tags or ():
                    cur.pop(k, None)
                values["tags"] = json.dumps(cur)
            if properties:
                cur = json.loads(row.properties)
                for k, v in _strs(properties).items():
                    if k in cur and cur[k] != v:
                        raise ConflictException(
                            "Property %r of run %s is already %r; properties are immutable." % (k, run_id, cur[k]))
                    cur[k] = v
                values["properties"] = json.dumps(cur)
            if host is not None:
                values["host"] = json.dumps(host)
            if resolved_packages is not None:
                values["resolved_packages"] = json.dumps(resolved_packages)
            if definition_updates:
                d = json.loads(row.definition) if row.definition else {}
                d.update(definition_updates)
                values["definition"] = json.dumps(d)
            if values:
                conn.execute(update(s.runs).where(s.runs.c.id == run_id).values(**values))
        return self.run(run_id)

    def set_status(self, run_id, status, error=None, expect=None):
        """Move a run to ``status``. A terminal run never changes again (the call returns
        the run unchanged with ``changed=False``); a run never moves backwards among the
        active states. ``expect`` (a tuple) makes the change conditional on the current
        state. Returns ``(run, changed)``."""
        if status not in _ORDER and status not in TERMINAL_STATES and status != RunStatus.CANCEL_REQUESTED:
            raise UserErrorException("Unknown run status %r." % status)
        now = time.time()
        with self._write_lock, self.engine.begin() as conn:
            row = conn.execute(select(s.runs).where(s.runs.c.id == run_id)).first()
            if row is None:
                raise NotFoundException("No run with id %r in this workspace." % run_id)
            cur = row.status
            if cur in TERMINAL_STATES or (expect is not None and cur not in expect):
                changed = False
            elif cur == RunStatus.CANCEL_REQUESTED and status not in TERMINAL_STATES:
                changed = False
            elif status in _ORDER and cur in _ORDER and _ORDER[status] < _ORDER[cur]:
                changed = False
            else:
                values = {"status": status}
                if status == RunStatus.RUNNING and row.start_time is None:
                    values["start_time"] = now
                if status in (RunStatus.PREPARING, RunStatus.STARTING, RunStatus.RUNNING):
                    values["heartbeat"] = now
                if status in TERMINAL_STATES:
                    values["end_time"] = now
                    if row.start_time is None:
                        values["start_time"] = now
                if error is not None:
                    values["error"] = json.dumps(error)
                conn.execute(update(s.runs).where(s.runs.c.id == run_id).values(**values))
                changed = True
        return self.run(run_id), changed

    def request_cancel(self, run_id):
        with self._write_lock, self.engine.begin() as conn:
            conn.execute(update(s.runs).where(s.runs.c.id == run_id).values(cancel_requested=True))

    def heartbeat(self, run_id):
        """Record a heartbeat; returns whether cancellation was requested."""
        with self.engine.begin() as conn:
            conn.execute(update(s.runs).where(s.runs.c.id == run_id).values(heartbeat=time.time()))
            row = conn.execute(select(s.runs.c.cancel_requested, s.runs.c.status)
                               .where(s.runs.c.id == run_id)).first()
        if row is None:
            raise NotFoundException("No run with id %r in this workspace." % run_id)
        return bool(row.cancel_requested)

    def stale_runs(self, older_than):
        """Active runs with a host whose last heartbeat is older than ``older_than``."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(s.runs.c.id).where(and_(
                s.runs.c.status.in_(ACTIVE_STATES), s.runs.c.host.is_not(None),
                s.runs.c.heartbeat < older_than))).all()
        return [r.id for r in rows]

    def count_active(self, target):
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(s.runs).where(and_(
                s.runs.c.target == target, s.runs.c.status.in_(ACTIVE_STATES),
                s.runs.c.host.is_not(None)))).scalar()

    def queued_runs(self):
        with self.engine.connect() as conn:
            rows = conn.execute(select(s.runs.c.id, s.runs.c.target).where(
                s.runs.c.status == RunStatus.QUEUED).order_by(s.runs.c.created, s.runs.c.number)).all()
        return [(r.id, r.target) for r in rows]

    # -- metrics -------------------------------------------------------------------
    def add_metrics(self, run_id, series):
        """Append points. ``series``: ``[{"name", "kind", "values": [...], "ts": [...]}]``.
        Steps continue each (run, name) series from its last step. One multi-row insert."""
        rows = []
        with self._write_lock, self.engine.begin() as conn:
            if conn.execute(select(s.runs.c.id).where(s.runs.c.id == run_id)).first() is None:
                raise NotFoundException("No run with id %r in this workspace." % run_id)
            for m in series:
                name, kind, values, ts = m["name"], m.get("kind", "scalar"), m["values"], m["ts"]
                if len(values) != len(ts):
                    raise UserErrorException("Metric %r: values and ts differ in length." % name)
                last = conn.execute(select(func.max(s.metrics.c.step)).where(and_(
                    s.metrics.c.run_id == run_id, s.metrics.c.name == name))).scalar()
                base = 0 if last is None else last + 1
                if kind == "scalar":
                    for i, (v, t) in enumerate(zip(values, ts)):
                        rows.append({"run_id": run_id, "name": name, "step": base + i, "kind": kind,
                                     "value": float(v), "payload": None, "ts": t})
                else:
                    for i, (v, t) in enumerate(zip(values, ts)):
                        rows.append({"run_id": run_id, "name": name, "step": base + i, "kind": kind,
                                     "value": None, "payload": json.dumps(v), "ts": t})
            if rows:
                conn.execute(s.metrics.insert(), rows)
        return len(rows)

    def get_metrics(self, run_id, name=None):
        """``[{"name", "kind", "steps", "values", "ts"}]`` in step order."""
        self.run(run_id)
        q = select(s.metrics.c.name, s.metrics.c.kind, s.metrics.c.step, s.metrics.c.value,
                   s.metrics.c.payload, s.metrics.c.ts).where(s.metrics.c.run_id == run_id)
        if name is not None:
            q = q.where(s.metrics.c.name == name)
        q = q.order_by(s.metrics.c.name, s.metrics.c.step)
        out = {}
        with self.engine.connect() as conn:
            for r in conn.execute(q):
                m = out.get(r.name)
                if m is None:
                    m = out[r.name] = {"name": r.name, "kind": r.kind, "steps": [], "values": [], "ts": []}
                m["steps"].append(r.step)
                m["values"].append(r.value if r.kind == "scalar" else json.loads(r.payload))
                m["ts"].append(r.ts)
        return list(out.values())

    # -- compute targets -----------------------------------------------------------
    def create_compute(self, name, type_, config):
        _check_name("compute target", name)
        with self._write_lock, self.engine.begin() as conn:
            if conn.execute(select(s.computes.c.name).where(s.computes.c.name == name)).first():
                raise ConflictException("Compute target %r already exists." % name)
            conn.execute(s.computes.insert().values(name=name, type=type_, config=json.dumps(config),
                                                    created=time.time()))
        return self.compute(name)

    def compute(self, name):
        with self.engine.connect() as conn:
            row = conn.execute(select(s.computes).where(s.computes.c.name == name)).first()
        if row is None:
            raise NotFoundException("No compute target named %r in this workspace." % name)
        return {"name": row.name, "type": row.type, "config": json.loads(row.config),
                "createdUtc": _iso(row.created)}

    def list_computes(self):
        with self.engine.connect() as conn:
            names = [r.name for r in conn.execute(select(s.computes.c.name).order_by(s.computes.c.name))]
        return [self.compute(n) for n in names]

    def delete_compute(self, name):
        self.compute(name)
        with self._write_lock, self.engine.begin() as conn:
            conn.execute(s.computes.delete().where(s.computes.c.name == name))

    # -- environments ----------------------------------------------------------------
    def register_environment(self, name, definition):
        """Store a new version unless the definition equals the latest one."""
        _check_name("environment", name)
        body = json.dumps(definition, sort_keys=True)
        with self._write_lock, self.engine.begin() as conn:
            row = conn.execute(select(s.environments).where(s.environments.c.name == name)
                               .order_by(s.environments.c.version.desc()).limit(1)).first()
            if row is not None and row.definition == body:
                version = row.version
            else:
                version = (row.version if row else 0) + 1
                conn.execute(s.environments.insert().values(name=name, version=version, definition=body,
                                                            created=time.time()))
        return self.environment(name, version)

    def environment(self, name, version=None):
        q = select(s.environments).where(s.environments.c.name == name)
        q = q.where(s.environments.c.version == int(version)) if version is not None else \
            q.order_by(s.environments.c.version.desc()).limit(1)
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        if row is None:
            raise NotFoundException("No environment %r%s is registered." % (
                name, "" if version is None else " version %s" % version))
        return {"name": row.name, "version": row.version, "definition": json.loads(row.definition),
                "createdUtc": _iso(row.created)}

    def list_environments(self):
        with self.engine.connect() as conn:
            rows = conn.execute(select(s.environments.c.name, func.max(s.environments.c.version))
                                .group_by(s.environments.c.name).order_by(s.environments.c.name)).all()
        return [self.environment(n, v) for n, v in rows]


def _strs(d):
    return dict((str(k), str(v)) for k, v in d.items())


def _check_name(what, name):
    if not isinstance(name, str) or not name.strip() or len(name) > 255 or "/" in name:
        raise UserErrorException(
            "Invalid %s name %r: use 1-255 characters without '/'." % (what, name))
