"""The runs filter in SQL, and the ``run_fields`` rows it searches.

The filter's grammar is MLflow's (``kyanite.server.mlflow_search.parse``, in its ``loose``
dialect: params and tags may compare with unquoted numbers): clauses ``(entity, key, op,
value)`` joined by AND, such as ``metrics.Accuracy > 0.97 and params.batch_size = 50 and
tags.team = "vision" and attributes.status = "Completed"``. ``conditions(clauses, dialect)``
turns them into SQLAlchemy conditions on ``runs`` (values are bound parameters, never SQL
text):

- ``metrics.<name>``: the newest scalar value of that metric (by step) - one index seek per
  run on ``(run_id, name, step)``;
- ``params.<key>`` / ``tags.<key>``: a ``run_fields`` row of the run, found through the
  ``(kind, key, num)`` index when the value is a number and ``(kind, key, value)`` otherwise;
  ``!=`` matches runs that have the key with another value (as MLflow);
- ``attributes.<key>``: a column of ``runs`` - text: ``run_id``, ``run_name``, ``status``,
  ``target``, ``run_type``, ``experiment``; numbers (epoch seconds): ``created``,
  ``start_time``, ``end_time``.

``LIKE`` is case-sensitive and ``ILIKE`` not, on every database (SQLite's LIKE ignores case,
so there LIKE runs as GLOB). ``field_rows`` gives the ``run_fields`` rows of one run.
"""

from sqlalchemy import and_, func, literal, select

from kyanite.protocol.arguments import parse_arguments, typed
from kyanite.store import schema as s
from typing import Any

__all__ = ["NUMERIC_ATTRIBUTES", "TEXT_ATTRIBUTES", "PARAM_PREFIX", "conditions", "field_rows", "params_of"]

NUMERIC_ATTRIBUTES = ("created", "start_time", "end_time")
TEXT_ATTRIBUTES = ("run_id", "run_name", "status", "target", "run_type", "experiment")
PARAM_PREFIX = "mlflow.param."  # MLflow params are run properties under this prefix


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    v = typed(value)
    if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf"):
        return float(v)
    return None


def _text(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def params_of(definition: Any, properties: dict[str, Any]) -> dict[str, Any]:
    """``{key: value}``: the run's parsed arguments (typed) overlaid with its MLflow params
    (text). ``definition``: a RunDefinition or None; ``properties``: a dict."""
    out = parse_arguments(getattr(definition, "arguments", None) or []) if definition is not None else {}
    n = len(PARAM_PREFIX)
    for k, v in (properties or {}).items():
        if k.startswith(PARAM_PREFIX):
            out[k[n:]] = v
    return out


def field_rows(run_id: str, tags: dict[str, Any], params: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``run_fields`` rows of a run with these ``tags`` and ``params`` (dicts)."""
    rows = []
    for kind, d in (("param", params or {}), ("tag", tags or {})):
        for k, v in d.items():
            rows.append({"run_id": run_id, "kind": kind, "key": str(k)[:255], "value": _text(v), "num": _num(v)})
    return rows


def _glob(pattern: str) -> str:
    """A LIKE pattern as the GLOB pattern that matches the same text, case-sensitively."""
    out = []
    for c in pattern:
        out.append("*" if c == "%" else "?" if c == "_" else "[%s]" % c if c in "*?[" else c)
    return "".join(out)


def _compare(col: Any, op: Any, value: Any, dialect: Any) -> Any:
    if op == "=":
        return col == value
    if op == "!=":
        return col != value
    if op == ">":
        return col > value
    if op == ">=":
        return col >= value
    if op == "<":
        return col < value
    if op == "<=":
        return col <= value
    if op == "LIKE":
        return col.op("GLOB")(_glob(value)) if dialect == "sqlite" else col.like(value)
    if op == "ILIKE":
        return func.lower(col).like(func.lower(literal(value)))
    if op == "IN":
        return col.in_(value)
    if op == "NOT IN":
        return ~col.in_(value)
    raise ValueError("unknown comparator %r" % op)


def conditions(clauses: Any, dialect: Any) -> list[Any]:
    """SQLAlchemy conditions on ``schema.runs`` for parsed filter ``clauses``."""
    r, f = s.runs, s.run_fields
    out = []
    for entity, key, op, value in clauses:
        if entity == "metrics":
            m = s.metrics.alias("mf")
            newest = (select(m.c.value).where(m.c.run_id == r.c.id, m.c.name == key, m.c.kind == "scalar")
                      .order_by(m.c.step.desc()).limit(1).scalar_subquery())
            out.append(_compare(newest, op, value, dialect))
        elif entity in ("params", "tags"):
            kind = "param" if entity == "params" else "tag"
            has = and_(f.c.kind == kind, f.c.key == key)
            if op == "IS NULL":
                out.append(~r.c.id.in_(select(f.c.run_id).where(has)))
                continue
            if op == "IS NOT NULL":
                out.append(r.c.id.in_(select(f.c.run_id).where(has)))
                continue
            numeric = isinstance(value, float)
            col: Any = f.c.num if numeric else f.c.value
            out.append(r.c.id.in_(select(f.c.run_id).where(has, _compare(col, op, value, dialect))))
        else:
            if key == "experiment":
                e = s.experiments
                out.append(r.c.experiment_id.in_(select(e.c.id).where(_compare(e.c.name, op, value, dialect))))
                continue
            col = {"run_id": r.c.id, "run_name": func.coalesce(r.c.display_name, ""), "status": r.c.status,
                   "target": r.c.target, "run_type": r.c.run_type, "created": r.c.created,
                   "start_time": r.c.start_time, "end_time": r.c.end_time}[key]
            out.append(_compare(col, op, value, dialect))
    return out
