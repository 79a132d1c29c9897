"""The metadata tables (SQLAlchemy Core). Alembic migrations in ``migrations/`` create them;
this module is the current shape the code reads and writes."""

from sqlalchemy import (
    Boolean, Column, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text,
)

metadata = MetaData()

experiments = Table(
    "experiments", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("created", Float, nullable=False),
)

runs = Table(
    "runs", metadata,
    Column("id", String(255), primary_key=True),
    Column("number", Integer, nullable=False),
    Column("experiment_id", Integer, ForeignKey("experiments.id"), nullable=False),
    Column("parent_id", String(255), ForeignKey("runs.id"), nullable=True),
    Column("display_name", String(255), nullable=True),
    Column("run_type", String(64), nullable=False, default="run"),
    Column("status", String(32), nullable=False),
    Column("target", String(255), nullable=True),
    Column("created", Float, nullable=False),
    Column("start_time", Float, nullable=True),
    Column("end_time", Float, nullable=True),
    Column("heartbeat", Float, nullable=True),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("definition", Text, nullable=True),      # JSON: script, arguments, environment...
    Column("tags", Text, nullable=False, default="{}"),
    Column("properties", Text, nullable=False, default="{}"),
    Column("error", Text, nullable=True),           # JSON: message, code, log tail
    Column("resolved_packages", Text, nullable=True),  # JSON: {name: version}
    Column("host", Text, nullable=True),             # JSON: executor handle (pid, job id)
)
Index("ix_runs_experiment_created", runs.c.experiment_id, runs.c.created)
Index("ix_runs_parent", runs.c.parent_id)
Index("ix_runs_status_target", runs.c.status, runs.c.target)

metrics = Table(
    "metrics", metadata,
    Column("run_id", String(255), ForeignKey("runs.id"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("step", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("value", Float, nullable=True),          # scalar points
    Column("payload", Text, nullable=True),         # JSON for rows, tables, images
    Column("ts", Float, nullable=False),
)
Index("ix_metrics_run_name_step", metrics.c.run_id, metrics.c.name, metrics.c.step)

computes = Table(
    "computes", metadata,
    Column("name", String(255), primary_key=True),
    Column("type", String(64), nullable=False),
    Column("config", Text, nullable=False),
    Column("created", Float, nullable=False),
)

environments = Table(
    "environments", metadata,
    Column("name", String(255), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("definition", Text, nullable=False),
    Column("created", Float, nullable=False),
)

__all__ = ["metadata", "experiments", "runs", "metrics", "computes", "environments"]
