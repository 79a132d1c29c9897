"""The metadata store: experiments, runs, metrics, compute targets and environments.

``Store(url)`` works on any SQLAlchemy URL; SQLite (a file in the workspace folder) is
the default and PostgreSQL works by configuration alone (``postgresql+psycopg://...``).
``Store.migrate()`` brings the schema to the newest Alembic revision.

Thread safety: one Store is shared by the server's threads; every method opens its own
short transaction. Writers that must not interleave (step numbering of metrics, run
numbering) hold ``self._write_lock`` as well, so the server process is the single writer
it is designed to be.

Runs come back as ``kyanite.protocol.RunRecord``s (the server builds the SDK v1
``get_details()`` shape from them: ``kyanite.server.wire``). A run's definition is given as
a ``RunDefinition`` (or its JSON object, checked by ``RunDefinition.from_json``).
"""

import json
import logging
import math
import os
import secrets
import threading
import time
from typing import Any, Callable, NamedTuple, Optional
from collections.abc import Iterator

from sqlalchemy import and_, create_engine, delete, event, func, select, update
from sqlalchemy import text
from sqlalchemy.engine import Connection

from kyanite.exceptions import ConflictException, NotFoundException, UserErrorException
from kyanite.protocol.records import RecordError
from kyanite.protocol.runs import RunDefinition, RunRecord
from kyanite.protocol.states import ACTIVE_STATES, TERMINAL_STATES, RunStatus, can_move, check_status
from kyanite.protocol.arguments import typed
from kyanite.store import schema as s
from kyanite.store.runs_filter import conditions as filter_conditions, field_rows, params_of

log = logging.getLogger("kyanite.store")


class QueuedRun(NamedTuple):
    """A Queued run: its id and the compute target it waits for."""
    id: str
    target: Optional[str]


def _iso(t: Any) -> str | None:
    if t is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)


def _record(row: Any, experiment_name: str) -> RunRecord:
    """The ``RunRecord`` of a ``runs`` row. A stored definition that no longer validates (a
    row written before definitions were checked) reads as an empty definition, logged."""
    definition = json.loads(row.definition) if row.definition else {}
    try:
        definition = RunDefinition.from_json(definition)
    except RecordError as e:
        log.warning("run %s: stored definition ignored: %s", row.id, e.message)
        definition = RunDefinition()
    return RunRecord(
        id=row.id, number=row.number, experiment=experiment_name, parent_id=row.parent_id,
        display_name=row.display_name, run_type=row.run_type, status=row.status, target=row.target,
        created=row.created, start_time=row.start_time, end_time=row.end_time, heartbeat=row.heartbeat,
        cancel_requested=bool(row.cancel_requested), tags=json.loads(row.tags or "{}"),
        properties=json.loads(row.properties or "{}"), definition=definition,
        error=json.loads(row.error) if row.error else None,
        resolved_packages=json.loads(row.resolved_packages) if row.resolved_packages else None,
        host=json.loads(row.host) if row.host else None, description=row.description)


def _private_sqlite_files(path: str | None) -> None:
    """Make a SQLite database file owner-only (0600) before the first connection, creating
    it empty when absent: SQLite gives its -wal and -shm files the database file's mode.
    Existing -wal/-shm files (of a database made before) are fixed too: the database holds
    the deployments' endpoint keys."""
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    if not os.path.exists(path):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for p in (path, path + "-wal", path + "-shm", path + "-journal"):
        try:
            if os.stat(p).st_mode & 0o077:
                os.chmod(p, 0o600)
        except OSError:
            pass


class Store(object):
    def __init__(self, url: str) -> None:
        self.url = url
        kwargs = {}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        self.engine = create_engine(url, **kwargs)
        if self.engine.dialect.name == "sqlite":
            _private_sqlite_files(self.engine.url.database)

            @event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()
        self._write_lock = threading.RLock()

    def migrate(self) -> None:
        """Upgrade the schema to the newest revision (creates it on an empty database)."""
        from alembic import command
        from alembic.config import Config
        cfg = Config()
        cfg.set_main_option("script_location", os.path.join(os.path.dirname(__file__), "migrations"))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def dispose(self) -> None:
        self.engine.dispose()

    # -- experiments ---------------------------------------------------------------
    def experiment(self, name: str, create: bool = False) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(select(s.experiments).where(s.experiments.c.name == name)).first()
        if row is None and create:
            _check_name("experiment", name)
            with self._write_lock, self.engine.begin() as conn:  # look again under the lock
                row = conn.execute(select(s.experiments).where(s.experiments.c.name == name)).first()
                if row is None:
                    conn.execute(s.experiments.insert().values(name=name, created=time.time()))
                    row = conn.execute(select(s.experiments).where(s.experiments.c.name == name)).first()
        if row is None:
            raise NotFoundException("No experiment named %r in this workspace." % name)
        return {"id": row.id, "name": row.name, "createdUtc": _iso(row.created)}

    def list_experiments(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(s.experiments).order_by(s.experiments.c.name)).all()
            counts: dict[Any, Any] = dict(conn.execute(select(s.runs.c.experiment_id, func.count())
                                       .where(s.runs.c.parent_id.is_(None))
                                       .group_by(s.runs.c.experiment_id)).all())
        return [{"id": r.id, "name": r.name, "createdUtc": _iso(r.created), "runCount": counts.get(r.id, 0)}
                for r in rows]

    # -- runs ------------------------------------------------------------------------
    def create_run(self, experiment: Any, status: str = RunStatus.NOT_STARTED, run_id: str | None = None, parent_id: str | None = None,
                   target: Any = None, definition: Any = None, display_name: str | None = None, run_type: str = "run", tags: dict[str, Any] | None = None,
                   properties: dict[str, Any] | None = None) -> Any:
        check_status(status)
        if definition is not None and not isinstance(definition, RunDefinition):
            definition = RunDefinition.from_json(definition)
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
                definition=json.dumps(definition.to_json()) if definition is not None else None,
                tags=json.dumps(_strs(tags or {})), properties=json.dumps(_strs(properties or {}))))
            _index_fields(conn, run_id, _strs(tags or {}), _strs(properties or {}), definition)
        return self.run(run_id)

    def _select_runs(self) -> Any:
        return select(s.runs, s.experiments.c.name.label("experiment_name")).join(
            s.experiments, s.runs.c.experiment_id == s.experiments.c.id)

    def run(self, run_id: str) -> Any:
        with self.engine.connect() as conn:
            row = conn.execute(self._select_runs().where(s.runs.c.id == run_id)).first()
        if row is None:
            raise NotFoundException("No run with id %r in this workspace." % run_id)
        return _record(row, row.experiment_name)

    def run_state(self, run_id: str) -> tuple[Any, Any, Any]:
        """``(status, end_time epoch or None, parent id or None)`` of one run, from the
        primary key alone (what the API's run-token check reads on every call)."""
        r = s.runs.c
        with self.engine.connect() as conn:
            row = conn.execute(select(r.status, r.end_time, r.parent_id).where(r.id == run_id)).first()
        if row is None:
            raise NotFoundException("No run with id %r in this workspace." % run_id)
        return row.status, row.end_time, row.parent_id

    def list_runs(self, experiment: Any = None, parent_id: str | None = None, top_level: bool = True, status: Any = None, target: Any = None,
                  limit: int | None = None, offset: int = 0, newest_first: bool = True) -> list[Any]:
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
            return [_record(r, r.experiment_name) for r in conn.execute(q).all()]

    def children(self, run_id: str, recursive: bool = False) -> list[Any]:
        self.run(run_id)
        out, frontier = [], [run_id]
        while frontier:
            kids = []
            for pid in frontier:
                kids.extend(self.list_runs(parent_id=pid, newest_first=False))
            out.extend(kids)
            frontier = [k.id for k in kids] if recursive else []
        return out

    def update_run(self, run_id: str, tags: dict[str, Any] | None = None, remove_tags: list[str] | None = None, properties: dict[str, Any] | None = None, host: Any = None,
                   resolved_packages: Any = None, definition_updates: Any = None, display_name: str | None = None, description: str | None = None) -> Any:
        """Change a run: merge ``tags`` (and drop ``remove_tags``), add ``properties``
        (immutable: a different value for a key already set is a ConflictException), merge
        ``host``, set ``resolved_packages``, ``display_name``, ``description`` ("" clears
        it) and update definition fields; None leaves a field as it is."""
        with self._write_lock, self.engine.begin() as conn:
            row = conn.execute(select(s.runs).where(s.runs.c.id == run_id)).first()
            if row is None:
                raise NotFoundException("No run with id %r in this workspace." % run_id)
            values: dict[str, Any] = {}
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
            if host is not None:  # merged: the scheduler and the host itself both add to it
                values["host"] = json.dumps(dict(json.loads(row.host) if row.host else {}, **host))
            if resolved_packages is not None:
                values["resolved_packages"] = json.dumps(resolved_packages)
            if display_name is not None:
                values["display_name"] = display_name
            if description is not None:
                values["description"] = description or None
            if definition_updates:
                if isinstance(definition_updates, RunDefinition):
                    definition_updates = definition_updates.to_json()
                d = json.loads(row.definition) if row.definition else {}
                d.update(definition_updates)
                values["definition"] = json.dumps(RunDefinition.from_json(d).to_json())
            if values:
                conn.execute(update(s.runs).where(s.runs.c.id == run_id).values(**values))
            if {"tags", "properties", "definition"} & set(values):
                d = values.get("definition", row.definition)
                _index_fields(conn, run_id, json.loads(values.get("tags", row.tags)),
                              json.loads(values.get("properties", row.properties)),
                              RunDefinition.from_json(json.loads(d)) if d else None)
        return self.run(run_id)

    def run_params(self, run_ids: list[str]) -> dict[Any, Any]:
        """``{run_id: {key: value}}``: each run's parameters - the options of its arguments
        (``kyanite.protocol.arguments``) overlaid with its MLflow params - numbers typed."""
        run_ids = list(run_ids)
        out: dict[str, dict[str, Any]] = dict((rid, {}) for rid in run_ids)
        f = s.run_fields
        with self.engine.connect() as conn:
            for i in range(0, len(run_ids), 500):
                q = (select(f.c.run_id, f.c.key, f.c.value)
                     .where(f.c.kind == "param", f.c.run_id.in_(run_ids[i:i + 500])).order_by(f.c.key))
                for rid, key, value in conn.execute(q):
                    out[rid][key] = typed(value)
        return out

    def set_status(self, run_id: str, status: Any, error: Any = None, expect: Any = None) -> tuple[Any, bool]:
        """Move a run to ``status``. A terminal run never changes again (the call returns
        the run unchanged with ``changed=False``); a run never moves backwards among the
        active states. ``expect`` (a tuple) makes the change conditional on the current
        state. Returns ``(run, changed)``."""
        check_status(status)
        now = time.time()
        with self._write_lock, self.engine.begin() as conn:
            row = conn.execute(select(s.runs).where(s.runs.c.id == run_id)).first()
            if row is None:
                raise NotFoundException("No run with id %r in this workspace." % run_id)
            cur = row.status
            if not can_move(cur, status) or (expect is not None and cur not in expect):
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

    def request_cancel(self, run_id: str) -> None:
        with self._write_lock, self.engine.begin() as conn:
            conn.execute(update(s.runs).where(s.runs.c.id == run_id).values(cancel_requested=True))

    def heartbeat(self, run_id: str) -> bool:
        """Record a heartbeat; returns whether cancellation was requested."""
        with self.engine.begin() as conn:
            conn.execute(update(s.runs).where(s.runs.c.id == run_id).values(heartbeat=time.time()))
            row = conn.execute(select(s.runs.c.cancel_requested, s.runs.c.status)
                               .where(s.runs.c.id == run_id)).first()
        if row is None:
            raise NotFoundException("No run with id %r in this workspace." % run_id)
        return bool(row.cancel_requested)

    def stale_runs(self, older_than: float) -> list[Any]:
        """Active runs with a host whose last heartbeat is older than ``older_than``."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(s.runs.c.id).where(and_(
                s.runs.c.status.in_(ACTIVE_STATES), s.runs.c.host.is_not(None),
                s.runs.c.heartbeat < older_than))).all()
        return [r.id for r in rows]

    def count_active(self, target: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(s.runs).where(and_(
                s.runs.c.target == target, s.runs.c.status.in_(ACTIVE_STATES),
                s.runs.c.host.is_not(None)))).scalar()

    def queued_runs(self) -> list[QueuedRun]:
        """The Queued runs, oldest first, as ``QueuedRun(id, target)`` pairs."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(s.runs.c.id, s.runs.c.target).where(
                s.runs.c.status == RunStatus.QUEUED).order_by(s.runs.c.created, s.runs.c.number)).all()
        return [QueuedRun(r.id, r.target) for r in rows]

    # -- sweeps: the queries of the sweep controller -------------------------------------
    def open_run_ids(self, run_type: str) -> list[Any]:
        """Ids of the runs of ``run_type`` (e.g. ``"hyperdrive"``) that have not ended (any
        status outside ``TERMINAL_STATES``, CancelRequested included), oldest first."""
        r = s.runs.c
        q = select(r.id).where(and_(r.run_type == run_type, r.status.not_in(TERMINAL_STATES))).order_by(
            r.created, r.number)
        with self.engine.connect() as conn:
            return [row.id for row in conn.execute(q)]

    def orphan_run_ids(self, parent_run_type: str) -> list[Any]:
        """Ids of the child runs still to be stopped whose parent, a run of ``parent_run_type``,
        has ended: the child is neither in a terminal state nor CancelRequested. Oldest first."""
        parent, child = s.runs.alias("parent_run"), s.runs.alias("child_run")
        q = (select(child.c.id).join(parent, child.c.parent_id == parent.c.id)
             .where(and_(parent.c.run_type == parent_run_type, parent.c.status.in_(TERMINAL_STATES),
                         child.c.status.not_in(TERMINAL_STATES + (RunStatus.CANCEL_REQUESTED,))))
             .order_by(child.c.created, child.c.number))
        with self.engine.connect() as conn:
            return [row.id for row in conn.execute(q)]

    def scalar_values(self, run_ids: list[str], name: str) -> dict[Any, Any]:
        """``{run_id: [values in step order]}`` of the scalar metric ``name`` for each of
        ``run_ids``: every id given is a key (``[]`` when it logged no value of ``name``, or
        does not exist); points without a number (rows, tables, images) are left out. One
        query per 500 runs."""
        out: dict[str, list[Any]] = dict((rid, []) for rid in run_ids)
        ids, m = list(out), s.metrics.c
        if not ids:
            return out
        with self.engine.connect() as conn:
            for i in range(0, len(ids), 500):
                q = select(m.run_id, m.value).where(and_(
                    m.run_id.in_(ids[i:i + 500]), m.name == name, m.value.is_not(None))).order_by(m.run_id, m.step)
                for row in conn.execute(q):
                    out[row.run_id].append(row.value)
        return out

    def metric_names(self, run_ids: list[str]) -> list[Any]:
        """The names of the metrics (of any kind) logged by any of ``run_ids``, each once,
        sorted; ``[]`` for no runs."""
        if not run_ids:
            return []
        m = s.metrics.c
        with self.engine.connect() as conn:
            rows = conn.execute(select(m.name).where(m.run_id.in_(list(run_ids))).group_by(m.name)
                                .order_by(m.name)).all()
        return [row.name for row in rows]

    # -- metrics -------------------------------------------------------------------
    def add_metrics(self, run_id: str, series: Any, batch_id: str | None = None,
                    then: Callable[[Connection, dict[str, int]], None] | None = None) -> int:
        """Append points. ``series``: ``[{"name", "kind", "values": [...], "ts": [...]}]``;
        a scalar value is a float, an int or a string (each kept as such, see
        ``_check_series``). Steps continue each (run, name) series from its last step. One
        multi-row insert.
        A ``batch_id`` seen before for this run stores nothing (a retried post); returns
        the number of points stored. ``then(conn, first_steps)``, when given, runs in the same
        transaction after the insert, with each series' first new step by name (for records
        kept beside the points, e.g. the steps MLflow logged them at)."""
        rows: list[Any] = []
        first_steps: dict[str, int] = {}
        fine: list[Any] = []
        blocks: list[Any] = []
        with self._write_lock, self.engine.begin() as conn:
            if conn.execute(select(s.runs.c.id).where(s.runs.c.id == run_id)).first() is None:
                raise NotFoundException("No run with id %r in this workspace." % run_id)
            if batch_id is not None:
                if conn.execute(select(s.metric_batches.c.batch_id).where(and_(
                        s.metric_batches.c.run_id == run_id, s.metric_batches.c.batch_id == batch_id))).first():
                    return 0
                conn.execute(s.metric_batches.insert().values(run_id=run_id, batch_id=str(batch_id)[:128]))
            for m in series:
                name, kind, values, ts, vtypes = _check_series(m)
                last = conn.execute(select(func.max(s.metrics.c.step)).where(and_(
                    s.metrics.c.run_id == run_id, s.metrics.c.name == name))).scalar()
                base = 0 if last is None else last + 1
                first_steps.setdefault(name, base)
                n = len(values)
                payloads: list[Any]
                numbers: list[Any]
                if kind != "scalar":
                    payloads, numbers, vtypes = [json.dumps(v) for v in values], [None] * n, [None] * n
                elif vtypes is None:  # floats only: the fast path
                    payloads, numbers, vtypes = [None] * n, values, [None] * n
                else:
                    payloads = [v if t == "s" else None for v, t in zip(values, vtypes)]
                    numbers = [None if t == "s" else float(v) for v, t in zip(values, vtypes)]
                rows.extend(zip([run_id] * n, [name] * n, range(base, base + n), [kind] * n,
                                numbers, payloads, ts, vtypes))
                if n:
                    f, c = self._ingest_blocks(conn, run_id, name, base, numbers, ts)
                    fine.extend(f)
                    blocks.extend(c)
            if rows:
                # Plain executemany: SQLAlchemy's per-row parameter processing costs more
                # than the insert itself at 100k+ points per second.
                mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
                conn.exec_driver_sql(
                    "INSERT INTO metrics (run_id, name, step, kind, value, payload, ts, vtype) VALUES (%s)"
                    % ", ".join([mark] * 8), rows)
                _upsert_blocks(conn, fine, fine=True)
                _upsert_blocks(conn, blocks)
            if then is not None:
                then(conn, first_steps)
        return len(rows)

    def _ingest_blocks(self, conn: Connection, run_id: str, name: str, base: Any, values: Any,
                       ts: Any) -> tuple[list[Any], list[Any]]:
        """``(fine, coarse)``: the summary rows of both levels for ``values`` (at times
        ``ts``) stored from step ``base`` on; a block the series already began is merged
        with its stored row."""
        fine = _block_rows(run_id, name, values, ts, base)
        coarse = _coarse_rows(fine)
        for rows, size, t in ((fine, _FINE, s.metric_fine_blocks), (coarse, _BLOCK, s.metric_blocks)):
            if base % size:
                b = t.c
                cols = [b.n, b.vmin, b.vmax, b.step_min, b.step_max, b.first_value, b.last_value]
                old = conn.execute(select(*(cols + [b.ts_min, b.ts_max] if size == _FINE else cols))
                                   .where(b.run_id == run_id, b.name == name, b.blk == base // size)).first()
                if old is not None:
                    rows[0] = _merge_block_rows(rows[0][:3] + tuple(old), rows[0])
        return fine, coarse

    def get_metrics(self, run_id: str, name: str | None = None) -> list[dict[str, Any]]:
        """``[{"name", "kind", "steps", "values", "ts"}]`` in step order, plus ``"types"``
        (``"float"``, ``"int"`` or ``"str"`` per point) for a scalar series holding an int or
        a string. A scalar point is a float (NaN and infinities included: SQLite keeps a NaN
        as NULL, and ``add_metrics`` refuses null scalars, so a NULL float reads back as
        NaN), an int or a str, as logged."""
        self.run(run_id)
        q = select(s.metrics.c.name, s.metrics.c.kind, s.metrics.c.step, s.metrics.c.value,
                   s.metrics.c.payload, s.metrics.c.ts, s.metrics.c.vtype).where(s.metrics.c.run_id == run_id)
        if name is not None:
            q = q.where(s.metrics.c.name == name)
        q = q.order_by(s.metrics.c.name, s.metrics.c.step)
        out = {}
        steps: Any
        values: Any
        stamps: Any
        cur_name, steps, values, stamps = None, None, None, None
        typed: dict[str, list[Any]] = {}  # name -> [(index, vtype)] of its int and string points
        with self.engine.connect() as conn:
            for name_, kind, step, value, payload, ts, vtype in conn.execute(q):
                if name_ != cur_name:
                    cur_name = name_
                    m = out[name_] = {"name": name_, "kind": kind, "steps": [], "values": [], "ts": []}
                    steps, values, stamps = m["steps"], m["values"], m["ts"]
                steps.append(step)
                stamps.append(ts)
                if vtype is None:  # a float (the common case) or a row, table, image
                    values.append((_NAN if value is None else value) if kind == "scalar" else json.loads(payload))
                else:
                    typed.setdefault(name_, []).append((len(values), vtype))
                    values.append(payload if vtype == "s" else int(value))
        for name_, points in typed.items():
            types = out[name_]["types"] = ["float"] * len(out[name_]["values"])
            for i, vtype in points:
                types[i] = _VTYPE_NAMES[vtype]
        return list(out.values())

    # -- compute targets -----------------------------------------------------------
    def create_compute(self, name: str, type_: str, config: Any) -> Any:
        _check_name("compute target", name)
        with self._write_lock, self.engine.begin() as conn:
            if conn.execute(select(s.computes.c.name).where(s.computes.c.name == name)).first():
                raise ConflictException("Compute target %r already exists." % name)
            conn.execute(s.computes.insert().values(name=name, type=type_, config=json.dumps(config),
                                                    created=time.time()))
        return self.compute(name)

    def compute(self, name: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(select(s.computes).where(s.computes.c.name == name)).first()
        if row is None:
            raise NotFoundException("No compute target named %r in this workspace." % name)
        return {"name": row.name, "type": row.type, "config": json.loads(row.config),
                "createdUtc": _iso(row.created)}

    def list_computes(self) -> list[Any]:
        with self.engine.connect() as conn:
            names = [r.name for r in conn.execute(select(s.computes.c.name).order_by(s.computes.c.name))]
        return [self.compute(n) for n in names]

    def delete_compute(self, name: str) -> None:
        self.compute(name)
        with self._write_lock, self.engine.begin() as conn:
            conn.execute(s.computes.delete().where(s.computes.c.name == name))

    # -- environments ----------------------------------------------------------------
    def register_environment(self, name: str, definition: Any) -> Any:
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

    def environment(self, name: str, version: Any = None) -> dict[str, Any]:
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

    def list_environments(self) -> list[Any]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(s.environments.c.name, func.max(s.environments.c.version))
                                .group_by(s.environments.c.name).order_by(s.environments.c.name)).all()
        return [self.environment(n, v) for n, v in rows]

    # -- studio queries: paged run tables, metric summaries, downsampled series --------
    RUN_SORTS = ("created", "number", "name", "status", "target", "start", "end", "duration")

    def query_runs(self, experiment: Any = None, parent_id: str | None = None, status: Any = None, target: Any = None, search: str | None = None,
                   sort: str = "created", descending: bool = True, limit: int = 50, offset: int = 0, top_level: bool = True, filter: Any = None) -> dict[str, Any]:
        """One page of runs and the total that match: ``{"runs": [...], "total": n}``.

        The children of ``parent_id`` when given, else top-level runs (all runs with
        ``top_level=False``). ``status`` is one state or a list;
        ``search`` matches the run id or display name (case-insensitive substring). Sorts
        on one of RUN_SORTS or on ``"metric:<name>"``, the newest value of that scalar metric
        (one index seek per matching run; runs without it come last either way). The default
        (newest first within an experiment) walks the ``(experiment_id, created)`` index.
        ``filter``: parsed runs-filter clauses (``kyanite.store.runs_filter``), all must hold."""
        r = s.runs
        conds: list[Any] = [r.c.parent_id == parent_id] if parent_id is not None else \
            [r.c.parent_id.is_(None)] if top_level else []
        if experiment is not None:
            conds.append(r.c.experiment_id == self.experiment(experiment)["id"])
        if status:
            conds.append(r.c.status.in_(status if isinstance(status, (list, tuple)) else [status]))
        if target:
            conds.append(r.c.target == target)
        if filter:
            conds.extend(filter_conditions(filter, self.engine.dialect.name))
        if search:
            like = "%" + search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            conds.append(func.lower(r.c.id).like(like, escape="\\")
                         | func.lower(func.coalesce(r.c.display_name, "")).like(like, escape="\\"))
        order = []
        key: Any
        if sort.startswith("metric:") and sort[len("metric:"):]:
            m = s.metrics.alias("m")
            key = (select(m.c.value).where(m.c.run_id == r.c.id, m.c.name == sort[len("metric:"):],
                                           m.c.kind == "scalar")
                   .order_by(m.c.step.desc()).limit(1).scalar_subquery())
            order.append(key.is_(None).asc())
        elif sort in self.RUN_SORTS:
            key = {"created": r.c.created, "number": r.c.number, "status": r.c.status, "target": r.c.target,
                   "name": func.coalesce(r.c.display_name, r.c.id), "start": r.c.start_time, "end": r.c.end_time,
                   "duration": func.coalesce(r.c.end_time, time.time()) - r.c.start_time}[sort]
        else:
            raise UserErrorException("Cannot sort runs by %r; use one of %s, or metric:<name>."
                                     % (sort, ", ".join(self.RUN_SORTS)))
        order.append(key.desc() if descending else key.asc())
        if sort != "created":
            order.append(r.c.created.desc() if descending else r.c.created.asc())
        order.append(r.c.number.desc() if descending else r.c.number.asc())
        limit = max(1, min(int(limit or 50), 500))
        q = self._select_runs().where(*conds).order_by(*order).limit(limit).offset(max(0, int(offset or 0)))
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(r).where(*conds)).scalar()
            rows = conn.execute(q).all()
        return {"runs": [_record(row, row.experiment_name) for row in rows], "total": total}

    def runs_using_dataset(self, name: str, limit: int = 200) -> list[tuple[Any, list[dict[str, Any]]]]:
        """Runs (children too) whose inputs include the registered dataset ``name``, newest
        first: ``[(RunRecord, [{"input", "version", "mode"}])]``. The run
        definitions are searched as text first, so only candidates are parsed."""
        r = s.runs
        q = (self._select_runs().where(r.c.definition.like("%%%s%%" % json.dumps(RunDefinition.key("input_datasets"))),
                                       r.c.definition.like("%" + json.dumps(name) + "%"))
             .order_by(r.c.created.desc()))
        out = []
        with self.engine.connect() as conn:
            for row in conn.execute(q):
                run = _record(row, row.experiment_name)
                used = [{"input": k, "version": v.get("version"), "mode": v.get("mode")}
                        for k, v in run.definition.input_datasets.items()
                        if isinstance(v, dict) and v.get("name") == name]
                if used:
                    out.append((run, used))
                    if len(out) >= limit:
                        break
        return out

    def metric_summaries(self, run_ids: list[str]) -> dict[Any, list[Any]]:
        """``{run_id: [{"name", "kind", "count", "last", "lastStep"}]}``: every metric of
        the given runs with its newest value (scalars: a number, None when not finite, or
        the text of a string point, which adds ``"text": true``) and point count, found with
        index seeks only (a series of a million points costs no more than one of ten)."""
        out = {}
        sql = text(
            "WITH RECURSIVE names(name) AS ("
            " SELECT (SELECT min(name) FROM metrics WHERE run_id = :rid)"
            " UNION ALL SELECT (SELECT min(m.name) FROM metrics m WHERE m.run_id = :rid AND m.name > names.name)"
            " FROM names WHERE names.name IS NOT NULL) "
            "SELECT name, %s AS kind, %s AS step, %s AS value, %s AS vtype, %s AS payload FROM names"
            " WHERE name IS NOT NULL ORDER BY name"
            % tuple("(SELECT x.%s FROM metrics x WHERE x.run_id = :rid AND x.name = names.name"
                    " ORDER BY x.step DESC LIMIT 1)" % col for col in ("kind", "step", "value", "vtype", "payload")))
        with self.engine.connect() as conn:
            for rid in run_ids:
                out[rid] = [_summary(row) for row in conn.execute(sql, {"rid": rid})]
        return out

    def metric_series(self, run_id: str, name: str, max_points: int = 2000, min_step: Any = None, max_step: Any = None) -> dict[str, Any]:
        """A scalar series for a chart: ``{"name", "count", "minStep", "maxStep", "steps",
        "values", "downsampled"}`` with at most ``max_points`` points between ``min_step``
        and ``max_step`` (both optional, inclusive).

        When the range holds more points than that, it is cut into ``max_points / 2``
        buckets and each gives its lowest and its highest value at their steps, in step
        order, so no spike or dip is lost. Ranges are answered from the block summaries
        ``add_metrics`` keeps plus the points of the partial blocks at the range's edges,
        so no request scans a long series: buckets of at least ``METRIC_BLOCK`` steps from
        ``metric_blocks``, narrower ones of at least half a ``METRIC_FINE_BLOCK`` from
        ``metric_fine_blocks`` (each bucket takes the blocks that begin in it, so buckets
        differ in width by up to a block, and half of them may stay empty: ``max_points``
        is a cap). Narrower buckets are aggregated from the points themselves when the
        range holds at most ``RAW_RANGE`` points (a wider range gets one bucket per fine
        block). Series stored before block summaries existed get theirs built and stored by
        the first request that needs them. Non-finite values come back as null."""
        max_points = max(4, min(int(max_points), 10000))
        m = s.metrics
        where = and_(m.c.run_id == run_id, m.c.name == name)
        with self.engine.connect() as conn:
            lo_hi = conn.execute(select(  # three subqueries: each is one index seek
                select(func.min(m.c.step)).where(where).scalar_subquery(),
                select(func.max(m.c.step)).where(where).scalar_subquery(),
                select(m.c.ts).where(where).order_by(m.c.step).limit(1).scalar_subquery())).first()
        if lo_hi is None or lo_hi[0] is None:
            self.run(run_id)  # 404 for an unknown run
            raise NotFoundException("Run %s has no metric %r." % (run_id, name))
        first, last, first_ts = lo_hi
        lo = first if min_step is None else max(first, int(min_step))
        hi = last if max_step is None else min(last, int(max_step))
        out = {"name": name, "count": last - first + 1, "minStep": first, "maxStep": last, "firstTs": first_ts,
               "steps": [], "values": [], "ts": [], "downsampled": False}
        if hi < lo:
            return out
        if hi - lo + 1 <= max_points:  # few enough: the points themselves
            q = select(m.c.step, m.c.value, m.c.ts).where(where, m.c.step >= lo, m.c.step <= hi).order_by(m.c.step)
            with self.engine.connect() as conn:
                for step, value, ts in conn.execute(q):
                    out["steps"].append(step)
                    out["values"].append(_finite(value))
                    out["ts"].append(ts)
            return out
        nb = max_points // 2
        width = (hi - lo + 1) / float(nb)
        size = max(1, int(width))
        if width >= _FINE // 2 or hi - lo + 1 > self.RAW_RANGE:  # at least nb / 2 buckets
            blocks = self._stored_blocks(run_id, name, first, last, lo, hi, size, _BLOCK if width >= _BLOCK else _FINE)
        else:  # zoomed in finer than the blocks: aggregate the range's points
            blocks = self._aggregate_blocks(run_id, name, lo, hi, size)
        buckets: dict[Any, Any] = {}
        for b in blocks:  # [first, last, vmin, vmax, step_of_min, step_of_max, ts_of_min, ts_of_max]
            i = min(nb - 1, max(0, int((b[0] - lo) / width)))
            if i in buckets:
                _merge_block(buckets[i], b)
            else:
                buckets[i] = list(b)
        unknown = []  # the points whose time the summaries do not hold
        for i in sorted(buckets):
            b = buckets[i]
            # (step of min, min), (step of max, max), with their times
            for (step, value), ts in sorted({(b[4], b[2]): b[6], (b[5], b[3]): b[7]}.items()):
                if ts is None:
                    unknown.append(len(out["steps"]))
                out["steps"].append(step)
                out["values"].append(_finite(value))
                out["ts"].append(ts)
        if unknown:
            for i, ts in zip(unknown, self._stamps(run_id, name, [out["steps"][i] for i in unknown])):
                out["ts"][i] = ts
        out["downsampled"] = True
        return out

    def _stamps(self, run_id: str, name: str, steps: Any) -> list[Any | None]:
        """The times of the points at ``steps`` of one series (index seeks, in pieces)."""
        mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        found: dict[Any, Any] = {}
        with self.engine.connect() as conn:  # the driver's cursor: no per-parameter processing
            cur = conn.connection.cursor()
            try:
                for i in range(0, len(steps), 500):
                    part = list(steps[i:i + 500])
                    cur.execute("SELECT step, ts FROM metrics WHERE run_id = %s AND name = %s AND step IN (%s)"
                                % (mark, mark, ", ".join([mark] * len(part))), [run_id, name] + part)
                    found.update(cur.fetchall())
            finally:
                cur.close()
        return [found.get(st) for st in steps]

    def metric_points(self, run_id: str, name: str) -> Any:
        """An iterator over every point of one scalar series in step order, read in pieces:
        ``(step, value, ts)`` with ``value`` a float (NaN for a stored NULL) or the text of
        a string value. NotFound for an unknown run or a run without that metric; a
        UserError for a metric that is not a scalar series."""
        m = s.metrics
        with self.engine.connect() as conn:
            kind = conn.execute(select(m.c.kind).where(m.c.run_id == run_id, m.c.name == name)
                                .order_by(m.c.step).limit(1)).scalar()
        if kind is None:
            self.run(run_id)  # 404 for an unknown run
            raise NotFoundException("Run %s has no metric %r." % (run_id, name))
        if kind != "scalar":
            raise UserErrorException("Metric %r is a %s, not a series of numbers: read it with "
                                     "GET /api/runs/{id}/metrics?name=..." % (name, kind))
        q = (select(m.c.step, m.c.value, m.c.payload, m.c.ts).where(m.c.run_id == run_id, m.c.name == name)
             .order_by(m.c.step).execution_options(yield_per=20000))

        def points() -> Iterator[Any]:
            with self.engine.connect() as conn:
                for part in conn.execute(q).partitions():
                    for step, value, payload, ts in part:
                        yield step, (payload if payload is not None else _NAN if value is None else value), ts
        return points()

    RAW_RANGE = 32768  # the most points a chart request aggregates from the points themselves

    def _stored_blocks(self, run_id: str, name: str, first: Any, last: Any, lo: int, hi: int, size: int,
                       block: int) -> Any:
        """``[first, last, vmin, vmax, step_of_min, step_of_max, ts_of_min, ts_of_max]``
        covering [lo, hi]: the stored summaries of the blocks of ``block`` steps
        (``METRIC_BLOCK`` or ``METRIC_FINE_BLOCK``) inside it and, for the partial blocks
        at its edges (each under a block long), the points aggregated in pieces of ``size``
        steps. A time is None where the summaries do not hold it (``metric_blocks``)."""
        kb = first // block if lo <= first else -(-lo // block)
        ke = last // block if hi >= last else (hi + 1) // block - 1
        if kb > ke:
            return self._aggregate_blocks(run_id, name, lo, hi, size)
        a0, a1 = max(kb * block, first), min(ke * block + block - 1, last)
        mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        sql = ("SELECT blk, n, vmin, vmax, step_min, step_max, {1} FROM {2} WHERE run_id = {0} "
               "AND name = {0} AND blk >= {0} AND blk <= {0} ORDER BY blk").format(
                   mark, *(("ts_min, ts_max", "metric_fine_blocks") if block == _FINE
                           else ("NULL, NULL", "metric_blocks")))
        for attempt in (0, 1):
            with self.engine.connect() as conn:  # the driver's plain tuples: thousands of rows
                cur = conn.connection.cursor()
                try:
                    cur.execute(sql, (run_id, name, kb, ke))
                    rows = cur.fetchall()
                finally:
                    cur.close()
            # every block there (the key is unique) with all its points
            if (len(rows) == ke - kb + 1 and rows[0][0] == kb and rows[-1][0] == ke
                    and sum(r[1] for r in rows) >= a1 - a0 + 1) or attempt:
                break
            self.rebuild_metric_blocks(run_id, name)  # stored before blocks were kept: once
        out = self._aggregate_blocks(run_id, name, lo, a0 - 1, size) if lo < a0 else []
        out.extend([blk * block, blk * block + block - 1, vmin, vmax, smin, smax, tmin, tmax]
                   for blk, _, vmin, vmax, smin, smax, tmin, tmax in rows)
        if out and rows:  # the series' ends inside its first and last block
            out[len(out) - len(rows)][0] = max(out[len(out) - len(rows)][0], first)
            out[-1][1] = min(out[-1][1], last)
        if a1 < hi:
            out.extend(self._aggregate_blocks(run_id, name, a1 + 1, hi, size))
        return out

    def rebuild_metric_blocks(self, run_id: str, name: str) -> int:
        """Build and store the block summaries of one series, both levels, from its points
        (one scan): for series stored before ``add_metrics`` kept them, or written around
        it. Returns the number of (coarse) ``metric_blocks`` rows."""
        m = s.metrics
        q = select(m.c.step, m.c.value, m.c.ts).where(m.c.run_id == run_id, m.c.name == name).order_by(m.c.step)
        with self._write_lock, self.engine.begin() as conn:
            for t in (s.metric_blocks, s.metric_fine_blocks):
                conn.execute(delete(t).where(t.c.run_id == run_id, t.c.name == name))
            steps: list[Any]
            values: list[Any]
            stamps: list[Any]
            fine, cur, steps, values, stamps = [], None, [], [], []
            for part in conn.execute(q.execution_options(yield_per=50000)).partitions():
                for step, value, ts in part:
                    if step // _FINE != cur:
                        if steps:
                            fine.append(_block_row(run_id, name, cur, values, steps[0], steps, stamps))
                        cur, steps, values, stamps = step // _FINE, [], [], []
                    steps.append(step)
                    values.append(value)
                    stamps.append(ts)
            if steps:
                fine.append(_block_row(run_id, name, cur, values, steps[0], steps, stamps))
            coarse = _coarse_rows(fine)
            _upsert_blocks(conn, fine, fine=True)
            _upsert_blocks(conn, coarse)
        return len(coarse)

    def _aggregate_blocks(self, run_id: str, name: str, lo: int, hi: int, size: int) -> list[list[Any]]:
        """Per block of ``size`` steps in [lo, hi]: ``[first, last, vmin, vmax, step_of_min,
        step_of_max, None, None]`` (the steps of the extremes are placed within their block;
        their times are not read)."""
        m = s.metrics
        if self.engine.dialect.name == "sqlite":
            # SQLite sorts for a GROUP BY on an expression; two index range scans per block
            # (min, max) over a generated list of blocks take about half the time.
            rng = "x.run_id = :rid AND x.name = :name AND x.step >= :lo + b.k * :size" \
                  " AND x.step < :lo + (b.k + 1) * :size AND x.step <= :hi"
            q: Any = text("WITH RECURSIVE b(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM b WHERE k < :nb) "
                     "SELECT :lo + b.k * :size, (SELECT min(x.value) FROM metrics x WHERE %s), "
                     "(SELECT max(x.value) FROM metrics x WHERE %s) FROM b" % (rng, rng))
            with self.engine.connect() as conn:
                rows = conn.execute(q, {"rid": run_id, "name": name, "lo": lo, "hi": hi, "size": size,
                                        "nb": (hi - lo) // size}).all()
            out = []
            for a, vmin, vmax in rows:
                b = min(hi, a + size - 1)
                if vmin is not None or vmax is not None:
                    out.append([a, b, vmin, vmax, a, b, None, None])
            return out
        blk = ((m.c.step - lo) // size).label("blk")
        q = (select(blk, func.min(m.c.step), func.max(m.c.step), func.min(m.c.value), func.max(m.c.value))
             .where(m.c.run_id == run_id, m.c.name == name, m.c.step >= lo, m.c.step <= hi)
             .group_by(blk).order_by(blk))
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return [[a, b, vmin, vmax, a, b, None, None] for _, a, b, vmin, vmax in rows]


_BLOCK = s.METRIC_BLOCK
_FINE = s.METRIC_FINE_BLOCK
_NAN = float("nan")
_VTYPE_NAMES = {None: "float", "i": "int", "s": "str"}  # metrics.vtype -> the wire's "types"


def _index_fields(conn: Connection, run_id: str, tags: dict[str, Any], properties: dict[str, Any], definition: Any) -> None:
    """Rewrite the ``run_fields`` rows (params and tags the runs filter searches) of a run."""
    conn.execute(delete(s.run_fields).where(s.run_fields.c.run_id == run_id))
    rows = field_rows(run_id, tags, params_of(definition, properties))
    if rows:
        conn.execute(s.run_fields.insert(), rows)


def _summary(row: Any) -> dict[str, Any]:
    """One entry of ``metric_summaries`` from its newest point."""
    out = {"name": row.name, "kind": row.kind, "count": row.step + 1, "lastStep": row.step, "last": None}
    if row.kind == "scalar":
        if row.vtype == "s":
            out["last"], out["text"] = row.payload, True
        elif row.vtype == "i":
            out["last"] = int(row.value)
        else:
            out["last"] = _finite(row.value)
    return out


def _block_row(run_id: str, name: str, blk: Any, values: Any, start: int, steps: Any = None,
               ts: Any = None) -> tuple[Any, ...]:
    """One ``metric_fine_blocks`` row (``metric_blocks``' columns, then ``ts_min`` and
    ``ts_max``) for ``values`` (floats, NaN or None) of block ``blk`` at consecutive steps
    from ``start`` (or at ``steps``), logged at times ``ts``; NaN and None count as points but
    not as values. A block without a number has its first and last point as its extremes."""
    try:
        total = sum(values)
        nums = values if total == total else [v for v in values if v == v]
    except TypeError:  # None among them
        nums = [v for v in values if v is not None and v == v]
    n = len(values)
    if nums:
        vmin, vmax = min(nums), max(nums)
        imin, imax = values.index(vmin), values.index(vmax)
    else:
        vmin = vmax = None
        imin, imax = 0, n - 1
    smin, smax = (start + imin, start + imax) if steps is None else (steps[imin], steps[imax])
    f, l = values[0], values[-1]
    return (run_id, name, blk, n, vmin, vmax, smin, smax,
            None if f is None or f != f else f, None if l is None or l != l else l, ts[imin], ts[imax])


def _block_rows(run_id: str, name: str, values: Any, ts: Any, base: Any) -> list[Any]:
    """The ``metric_fine_blocks`` rows of ``values`` (at times ``ts``) stored at steps
    ``base``, ``base + 1``..."""
    out, i, n = [], 0, len(values)
    while i < n:
        step = base + i
        blk = step // _FINE
        j = min(n, i + (blk + 1) * _FINE - step)
        out.append(_block_row(run_id, name, blk, values[i:j], step, None, ts[i:j]))
        i = j
    return out


def _coarse_rows(fine: list[Any]) -> list[Any]:
    """The ``metric_blocks`` rows summing up ``fine`` (consecutive ``metric_fine_blocks``
    rows of one series, in step order): the same as built from their points."""
    out: list[Any] = []
    per = _BLOCK // _FINE
    for row in fine:
        blk = row[2] // per
        if out and out[-1][2] == blk:
            out[-1] = _merge_block_rows(out[-1], row[:10])
        else:
            out.append(row[:2] + (blk,) + row[3:10])
    return out


def _merge_block_rows(old: Any, new: Any) -> tuple[Any, ...]:
    """A block row (of either level) extended by the row of the points that follow it."""
    row = list(old)
    timed = len(row) > 10
    row[3] += new[3]
    if new[4] is not None and (row[4] is None or new[4] < row[4]):
        row[4], row[6] = new[4], new[6]
        if timed:
            row[10] = new[10]
    if new[5] is not None and (row[5] is None or new[5] > row[5]):
        row[5], row[7] = new[5], new[7]
        if timed:
            row[11] = new[11]
    elif row[5] is None:  # no number in either: the last point is its end
        row[7] = new[7]
        if timed:
            row[11] = new[11]
    row[9] = new[9]
    return tuple(row)


def _upsert_blocks(conn: Connection, rows: Any, fine: bool = False) -> None:
    """Insert or replace summary rows: ``metric_fine_blocks`` ones when ``fine``, else
    ``metric_blocks`` ones."""
    if not rows:
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    cols = ["n", "vmin", "vmax", "step_min", "step_max", "first_value", "last_value"] + (
        ["ts_min", "ts_max"] if fine else [])
    conn.exec_driver_sql(
        "INSERT INTO %s (run_id, name, blk, %s) VALUES (%s) ON CONFLICT (run_id, name, blk) DO UPDATE SET %s"
        % ("metric_fine_blocks" if fine else "metric_blocks", ", ".join(cols), ", ".join([mark] * (len(cols) + 3)),
           ", ".join("%s = excluded.%s" % (c, c) for c in cols)), rows)


def _check_series(m: Any) -> tuple[Any, str, list[Any], list[Any], Any]:
    """Validate one series of a metrics batch; returns ``(name, kind, values, ts, vtypes)``
    with times as floats. A scalar value is a float (a bool becomes one), an int or a str:
    ``vtypes`` is None when every value is a float, else one ``metrics.vtype`` per value
    (None, "i" or "s"). Refuses the whole batch on the first bad point."""
    if not isinstance(m, dict) or not isinstance(m.get("name"), str) or not m["name"]:
        raise UserErrorException("Each metric series needs a non-empty string 'name', got %r." % (m,))
    name, kind = m["name"], m.get("kind", "scalar")
    values, ts = m.get("values"), m.get("ts")
    if not isinstance(kind, str) or not isinstance(values, list) or not isinstance(ts, list):
        raise UserErrorException("Metric %r: 'kind' must be a string and 'values' and 'ts' lists." % name)
    if len(values) != len(ts):
        raise UserErrorException("Metric %r: values and ts differ in length." % name)
    try:
        ts = [float(t) for t in ts]
    except (TypeError, ValueError):
        raise UserErrorException("Metric %r: 'ts' must hold unix times (numbers)." % name)
    vtypes = None
    if kind == "scalar":
        types = set(map(type, values))
        if not types <= {float}:
            bad = next((v for v in values if type(v) not in _SCALAR_TYPES), None)
            if bad is not None or None in values:
                raise UserErrorException(
                    "Metric %r: value %r is not a number or a string." % (name, bad))
            if types <= {float, bool}:
                values = [float(v) for v in values]
            else:
                vtypes = [_SCALAR_TYPES[type(v)] for v in values]
                values = [float(v) if type(v) is bool else v for v in values]
                for i, v in enumerate(values):
                    if vtypes[i] == "i" and not -_EXACT < v < _EXACT:  # beyond a float's exact ints
                        try:
                            values[i], vtypes[i] = float(v), None
                        except OverflowError:
                            raise UserErrorException("Metric %r: integer %d is too large." % (name, v))
    return name, kind, values, ts, vtypes


#: the JSON scalars a scalar metric takes, with their ``metrics.vtype``
_SCALAR_TYPES = {float: None, bool: None, int: "i", str: "s"}
_EXACT = 2 ** 53  # an int kept as an int is stored in a float column: exact below this


def _strs(d: Any) -> dict[str, str]:
    return dict((str(k), str(v)) for k, v in d.items())


def _check_name(what: str, name: str) -> None:
    if not isinstance(name, str) or not name.strip() or len(name) > 255 or "/" in name:
        raise UserErrorException(
            "Invalid %s name %r: use 1-255 characters without '/'." % (what, name))


def _merge_block(into: Any, b: Any) -> None:
    """Extend a chart bucket ``[first, last, vmin, vmax, step_of_min, step_of_max,
    ts_of_min, ts_of_max]`` by the block ``b`` that follows it."""
    into[1] = b[1]
    if b[2] is not None and (into[2] is None or b[2] < into[2]):
        into[2], into[4], into[6] = b[2], b[4], b[6]
    if b[3] is not None and (into[3] is None or b[3] > into[3]):
        into[3], into[5], into[7] = b[3], b[5], b[7]


def _finite(v: Any) -> Any:
    return v if v is None or math.isfinite(v) else None
