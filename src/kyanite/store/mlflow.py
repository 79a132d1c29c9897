"""What the MLflow tracking API (``kyanite.server.routes.mlflow``) reads and writes in the store.

An MLflow experiment is a kyanite experiment (its id is the experiment's id as text; MLflow's
default experiment "0" is the kyanite experiment ``Default``); an MLflow run is a kyanite run
(same id). MLflow params are the run's properties under ``PARAM_PREFIX`` (immutable, as in
MLflow), tags its tags, metrics its metric points: ``log_metrics`` stores them through
``Store.add_metrics`` (the batch path ``run.log`` uses), each series continuing its steps, and
keeps the step MLflow logged each point at in ``mlflow_metric_steps`` (one row per series and
batch). A point with no such row (logged with ``run.log``) reads back at its kyanite step.
Timestamps are MLflow's milliseconds, stored as seconds like every metric point.

``MlflowStore(store)`` wraps the server's Store; every method opens its own transaction.
Runs are read straight from the ``runs`` table into ``RunView``s.
"""

import json
import secrets
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, Float, ForeignKey, Integer, String, Table, Text, and_, select, update
from sqlalchemy.engine import Connection

from kyanite.exceptions import NotFoundException
from kyanite.store import schema as s

PARAM_PREFIX = "mlflow.param."
DEFAULT_EXPERIMENT = "Default"
DELETED_TAG = "mlflow.lifecycleStage"  # "deleted" on a run deleted through MLflow

metric_steps = Table(
    "mlflow_metric_steps", s.metadata,
    Column("run_id", String(255), ForeignKey("runs.id"), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("first_step", Integer, primary_key=True, autoincrement=False),
    Column("steps", Text, nullable=False),  # JSON list: the logged steps from first_step on
)

logged_models = Table(
    "mlflow_logged_models", s.metadata,
    Column("model_id", String(64), primary_key=True),
    Column("run_id", String(255), ForeignKey("runs.id"), nullable=True),
    Column("experiment_id", Integer, nullable=False),
    Column("name", String(255), nullable=False),
    Column("path", String(1024), nullable=False),   # the model's folder among the run's files
    Column("status", String(32), nullable=False),
    Column("model_type", String(255), nullable=True),
    Column("tags", Text, nullable=False),
    Column("params", Text, nullable=False),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
)

experiment_extra = Table(
    "mlflow_experiments", s.metadata,
    Column("experiment_id", Integer, ForeignKey("experiments.id"), primary_key=True),
    Column("tags", Text, nullable=False),
    Column("lifecycle_stage", String(16), nullable=False),
)


class RunView(object):
    """One run as the MLflow API needs it (from a ``runs`` row)."""

    def __init__(self, row: Any) -> None:
        self.id = row.id
        self.experiment_id = row.experiment_id
        self.experiment = row.experiment_name
        self.parent_id = row.parent_id
        self.display_name = row.display_name
        self.run_type = row.run_type
        self.status = row.status
        self.created = row.created
        self.start_time = row.start_time
        self.end_time = row.end_time
        self.tags = json.loads(row.tags or "{}")
        self.properties = json.loads(row.properties or "{}")

    @property
    def params(self) -> dict[Any, Any]:
        n = len(PARAM_PREFIX)
        return dict((k[n:], v) for k, v in self.properties.items() if k.startswith(PARAM_PREFIX))

    @property
    def deleted(self) -> Any:
        return self.tags.get(DELETED_TAG) == "deleted"


class MlflowStore(object):
    def __init__(self, store: Any) -> None:
        self.store = store
        self.engine = store.engine

    # -- experiments ---------------------------------------------------------------
    def _experiment(self, where: Any) -> list[dict[str, Any]]:
        e, x = s.experiments, experiment_extra
        q = select(e.c.id, e.c.name, e.c.created, x.c.tags, x.c.lifecycle_stage).select_from(
            e.outerjoin(x, x.c.experiment_id == e.c.id)).where(where).order_by(e.c.id)
        with self.engine.connect() as conn:
            return [{"id": r.id, "name": r.name, "created": r.created, "tags": json.loads(r.tags or "{}"),
                     "lifecycle_stage": r.lifecycle_stage or "active"} for r in conn.execute(q)]

    def experiment_by_id(self, experiment_id: str) -> Any:
        """The experiment of an MLflow experiment id ("0": ``Default``, made on first use)."""
        if str(experiment_id) == "0":
            return self.experiment_by_name(DEFAULT_EXPERIMENT, create=True)
        try:
            found = self._experiment(s.experiments.c.id == int(experiment_id))
        except (TypeError, ValueError):
            found = []
        if not found:
            raise NotFoundException("No experiment with id=%s in this workspace." % (experiment_id,))
        return found[0]

    def experiment_by_name(self, name: str, create: bool = False) -> Any:
        if create:
            self.store.experiment(name, create=True)
        found = self._experiment(s.experiments.c.name == name)
        if not found:
            raise NotFoundException("No experiment named %r in this workspace." % (name,))
        return found[0]

    def experiments(self) -> Any:
        return self._experiment(s.experiments.c.id.is_not(None))

    def update_experiment(self, experiment_id: str, tags: dict[str, Any] | None = None, remove_tags: Sequence[str] = (), lifecycle_stage: str | None = None, name: str | None = None) -> None:
        exp = self.experiment_by_id(experiment_id)
        new_tags = dict(exp["tags"], **(tags or {}))
        for k in remove_tags:
            new_tags.pop(k, None)
        values = {"tags": json.dumps(new_tags), "lifecycle_stage": lifecycle_stage or exp["lifecycle_stage"]}
        with self.store._write_lock, self.engine.begin() as conn:
            if name is not None:
                conn.execute(update(s.experiments).where(s.experiments.c.id == exp["id"]).values(name=name))
            changed = conn.execute(update(experiment_extra).where(
                experiment_extra.c.experiment_id == exp["id"]).values(**values)).rowcount
            if not changed:
                conn.execute(experiment_extra.insert().values(experiment_id=exp["id"], **values))

    # -- runs ----------------------------------------------------------------------------
    def _runs_query(self) -> Any:
        return select(s.runs, s.experiments.c.name.label("experiment_name")).join(
            s.experiments, s.runs.c.experiment_id == s.experiments.c.id)

    def run(self, run_id: str) -> RunView:
        with self.engine.connect() as conn:
            row = conn.execute(self._runs_query().where(s.runs.c.id == run_id)).first()
        if row is None:
            raise NotFoundException("Run with id=%s not found." % (run_id,))
        return RunView(row)

    def runs(self, experiment_ids: list[str]) -> list[RunView]:
        """Every run (children too) of the experiments, newest first."""
        q = self._runs_query().where(s.runs.c.experiment_id.in_(list(experiment_ids))).order_by(
            s.runs.c.created.desc(), s.runs.c.number.desc())
        with self.engine.connect() as conn:
            return [RunView(r) for r in conn.execute(q)]

    def set_display_name(self, run_id: str, name: str) -> None:
        with self.store._write_lock, self.engine.begin() as conn:
            conn.execute(update(s.runs).where(s.runs.c.id == run_id).values(display_name=name))

    def set_end_time(self, run_id: str, end_time: float) -> None:
        with self.store._write_lock, self.engine.begin() as conn:
            conn.execute(update(s.runs).where(s.runs.c.id == run_id).values(end_time=end_time))

    # -- metrics ----------------------------------------------------------------------
    def log_metrics(self, run_id: str, points: Any, once: bool = False) -> Any:
        """Store ``points``, ``[(key, value float, timestamp ms, step)]`` in the order given,
        as metric points of ``run_id``; returns how many were stored. With ``once``, a point
        equal (key, value, timestamp, step) to one the run already holds is not stored again,
        as in MLflow, whose ``log_model`` logs a run's points again to link them to the model."""
        with self.store._write_lock:  # no other writer between reading what is there and storing
            if once:
                points = self._new_points(run_id, points)
            return self._log_metrics(run_id, points)

    def _new_points(self, run_id: str, points: Any) -> list[Any]:
        """``points`` less those the run already holds."""
        m = s.metrics.c
        held = set()
        with self.engine.connect() as conn:
            for key in set(p[0] for p in points):
                logged = self._logged_steps(conn, run_id, key)
                for step, value, ts in conn.execute(select(m.step, m.value, m.ts).where(
                        and_(m.run_id == run_id, m.name == key, m.kind == "scalar"))):
                    held.add((key, value, int(round(ts * 1000)), logged.get(step, step)))
        return [p for p in points if (p[0], p[1], p[2], p[3]) not in held]

    def _log_metrics(self, run_id: str, points: Any) -> Any:
        by_key: dict[Any, Any] = {}
        for key, value, ts, step in points:
            vals, stamps, steps = by_key.setdefault(key, ([], [], []))
            vals.append(value)
            stamps.append(ts / 1000.0)
            steps.append(int(step))
        if not by_key:
            return 0

        def keep_steps(conn: Connection, bases: dict[str, int]) -> None:
            conn.execute(metric_steps.insert(), [
                {"run_id": run_id, "name": key, "first_step": bases[key], "steps": json.dumps(v[2])}
                for key, v in by_key.items()])
        return self.store.add_metrics(run_id, [{"name": key, "kind": "scalar", "values": v[0], "ts": v[1]}
                                               for key, v in by_key.items()], then=keep_steps)

    def _logged_steps(self, conn: Connection, run_id: str, key: str) -> dict[Any, Any]:
        """``{kyanite step: logged step}`` of one series."""
        out = {}
        for first, steps in conn.execute(select(metric_steps.c.first_step, metric_steps.c.steps).where(
                and_(metric_steps.c.run_id == run_id, metric_steps.c.name == key))):
            for i, st in enumerate(json.loads(steps)):
                out[first + i] = st
        return out

    def metric_history(self, run_id: str, key: str) -> list[tuple[float | Any, int, Any]]:
        """``[(value, timestamp ms, step)]`` of one metric, in the order logged."""
        m = s.metrics.c
        with self.engine.connect() as conn:
            logged = self._logged_steps(conn, run_id, key)
            rows = conn.execute(select(m.step, m.value, m.ts).where(
                and_(m.run_id == run_id, m.name == key, m.kind == "scalar")).order_by(m.step)).all()
        nan = float("nan")
        return [(nan if value is None else value, int(round(ts * 1000)), logged.get(step, step))
                for step, value, ts in rows]

    def latest_metrics(self, run_id: str) -> list[tuple[Any, float | Any, int, Any]]:
        """``[(key, value, timestamp ms, step)]``: the last point logged of each scalar metric."""
        m = s.metrics.c
        out = []
        with self.engine.connect() as conn:
            for summary in self.store.metric_summaries([run_id])[run_id]:
                if summary["kind"] != "scalar":
                    continue
                key = summary["name"]
                row = conn.execute(select(m.step, m.value, m.ts).where(and_(
                    m.run_id == run_id, m.name == key)).order_by(m.step.desc()).limit(1)).first()
                if row is None:
                    continue
                st = conn.execute(select(metric_steps.c.first_step, metric_steps.c.steps).where(and_(
                    metric_steps.c.run_id == run_id, metric_steps.c.name == key,
                    metric_steps.c.first_step <= row.step)).order_by(metric_steps.c.first_step.desc())
                    .limit(1)).first()
                step = row.step
                if st is not None:
                    steps = json.loads(st.steps)
                    if row.step - st.first_step < len(steps):
                        step = steps[row.step - st.first_step]
                out.append((key, float("nan") if row.value is None else row.value,
                            int(round(row.ts * 1000)), step))
        return out

    # -- logged models (MLflow 3) ---------------------------------------------------------------
    def create_logged_model(self, run_id: str, experiment_id: str, name: str, path: str, model_type: str | None = None, tags: dict[str, Any] | None = None, params: dict[str, Any] | None = None) -> Any:
        now = time.time()
        model_id = "m-" + secrets.token_hex(16)
        with self.store._write_lock, self.engine.begin() as conn:
            conn.execute(logged_models.insert().values(
                model_id=model_id, run_id=run_id, experiment_id=int(experiment_id), name=name, path=path,
                status="PENDING", model_type=model_type, tags=json.dumps(tags or {}),
                params=json.dumps(params or {}), created=now, updated=now))
        return self.logged_model(model_id)

    def logged_model(self, model_id: str) -> Any:
        with self.engine.connect() as conn:
            row = conn.execute(select(logged_models).where(logged_models.c.model_id == model_id)).first()
        if row is None:
            raise NotFoundException("Logged model with ID '%s' not found." % (model_id,))
        return _model(row)

    def logged_models(self, experiment_ids: list[str]) -> list[Any]:
        q = select(logged_models).where(logged_models.c.experiment_id.in_([int(x) for x in experiment_ids])) \
            .order_by(logged_models.c.created.desc())
        with self.engine.connect() as conn:
            return [_model(r) for r in conn.execute(q)]

    def update_logged_model(self, model_id: str, status: Any = None, tags: dict[str, Any] | None = None, remove_tags: Sequence[str] = (), params: dict[str, Any] | None = None) -> Any:
        model = self.logged_model(model_id)
        values: dict[str, Any] = {"updated": time.time()}
        if status:
            values["status"] = status
        if tags or remove_tags:
            new = dict(model["tags"], **(tags or {}))
            for k in remove_tags:
                new.pop(k, None)
            values["tags"] = json.dumps(new)
        if params:
            values["params"] = json.dumps(dict(model["params"], **params))
        with self.store._write_lock, self.engine.begin() as conn:
            conn.execute(update(logged_models).where(logged_models.c.model_id == model_id).values(**values))
        return self.logged_model(model_id)


def _model(row: Any) -> dict[str, Any]:
    return {"model_id": row.model_id, "run_id": row.run_id, "experiment_id": row.experiment_id,
            "name": row.name, "path": row.path, "status": row.status, "model_type": row.model_type,
            "tags": json.loads(row.tags), "params": json.loads(row.params), "created": row.created,
            "updated": row.updated}
