"""The metadata tables (SQLAlchemy Core). Alembic migrations in ``migrations/`` create them;
this module is the current shape the code reads and writes."""

from sqlalchemy import (
    BigInteger, Boolean, Column, Float, ForeignKey, ForeignKeyConstraint, Index, Integer, MetaData,
    String, Table, Text,
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
    Column("description", Text, nullable=True),      # free text (revision 0009), NULL when unset
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
    Column("payload", Text, nullable=True),         # JSON for rows, tables, images; a scalar's text
    Column("ts", Float, nullable=False),
    # a scalar point's type (revision 0006): NULL a float, "i" an int (in value), "s" a
    # string (in payload, value NULL); NULL for rows, tables and images
    Column("vtype", String(1), nullable=True),
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

# -- model registry and deployments (revision 0002) ------------------------------------

models = Table(
    "models", metadata,
    Column("name", String(255), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("asset", String(1024), nullable=False),     # the registered file or folder's name
    Column("is_folder", Boolean, nullable=False, default=False),
    Column("size", BigInteger, nullable=False, default=0),
    Column("file_count", Integer, nullable=False, default=0),
    Column("description", Text, nullable=True),
    Column("tags", Text, nullable=False, default="{}"),
    Column("properties", Text, nullable=False, default="{}"),
    Column("framework", String(64), nullable=True),
    Column("framework_version", String(64), nullable=True),
    Column("run_id", String(255), nullable=True),      # lineage: the run it was made from
    Column("experiment_name", String(255), nullable=True),
    Column("datasets", Text, nullable=False, default="[]"),  # JSON [[scenario, dataset], ...]
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
)
Index("ix_models_run", models.c.run_id)

deployments = Table(
    "deployments", metadata,
    Column("name", String(255), primary_key=True),
    Column("compute_type", String(32), nullable=False),  # ACI | Local
    Column("state", String(32), nullable=False),         # Transitioning | Healthy | Unhealthy | Failed
    Column("generation", Integer, nullable=False),       # bumped by every (re)deployment
    Column("spec", Text, nullable=False),                # JSON: inference + deployment configuration
    Column("keys", Text, nullable=True),                 # JSON {"primary", "secondary"} when auth is on
    Column("secret", String(255), nullable=False),       # signs tokens; authenticates the manager
    Column("port", Integer, nullable=True),
    Column("process", Text, nullable=True),              # JSON: pid, create_time, generation
    Column("error", Text, nullable=True),                # JSON: message, code
    Column("tags", Text, nullable=False, default="{}"),
    Column("properties", Text, nullable=False, default="{}"),
    Column("description", Text, nullable=True),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
)

deployment_models = Table(
    "deployment_models", metadata,
    Column("deployment", String(255), ForeignKey("deployments.name"), primary_key=True),
    Column("model_name", String(255), primary_key=True),
    Column("model_version", Integer, primary_key=True),
    ForeignKeyConstraint(["model_name", "model_version"], ["models.name", "models.version"]),
)
Index("ix_deployment_models_model", deployment_models.c.model_name, deployment_models.c.model_version)

__all__ += ["models", "deployments", "deployment_models"]

# -- datastores and datasets (revision 0003) ------------------------------------------------
datastores = Table(
    "datastores", metadata,
    Column("name", String(255), primary_key=True),
    Column("type", String(32), nullable=False),      # "S3" (the workspace datastore is built in)
    Column("config", Text, nullable=False),          # JSON: bucket, endpoint_url, region, prefix
    Column("secret", Text, nullable=True),           # JSON credentials; never leaves the server
    Column("created", Float, nullable=False),
)

datasets = Table(
    "datasets", metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(255), nullable=True),       # None: saved for a run, not registered
    Column("version", Integer, nullable=True),
    Column("kind", String(16), nullable=False),       # "file" | "tabular"
    Column("description", Text, nullable=True),
    Column("tags", Text, nullable=False),
    Column("definition", Text, nullable=False),       # JSON: sources, tabular options, transforms
    Column("files", Text, nullable=False),            # JSON manifest (kyanite.data._common)
    Column("fingerprint", String(64), nullable=False),
    Column("file_count", Integer, nullable=False),
    Column("total_size", BigInteger, nullable=True),
    Column("created", Float, nullable=False),
)
Index("ix_datasets_name_version", datasets.c.name, datasets.c.version, unique=True)
Index("ix_datasets_fingerprint", datasets.c.fingerprint)

__all__ += ["datastores", "datasets"]

# Metric batches already stored, so a batch retried after a lost reply is not stored twice.
metric_batches = Table(
    "metric_batches", metadata,
    Column("run_id", String(255), ForeignKey("runs.id"), primary_key=True),
    Column("batch_id", String(128), primary_key=True),
)

__all__ += ["metric_batches"]

# Block summaries of metric series (revision 0005): block ``blk`` of a series covers steps
# [blk * METRIC_BLOCK, (blk + 1) * METRIC_BLOCK); kept by ``Store.add_metrics``.
METRIC_BLOCK = 512

metric_blocks = Table(
    "metric_blocks", metadata,
    Column("run_id", String(255), ForeignKey("runs.id"), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("blk", Integer, primary_key=True, autoincrement=False),
    Column("n", Integer, nullable=False),              # points in the block
    Column("vmin", Float, nullable=True),              # its lowest and highest value, NaN ignored
    Column("vmax", Float, nullable=True),              # (None when it holds no number)
    Column("step_min", Integer, nullable=False),       # where they are
    Column("step_max", Integer, nullable=False),
    Column("first_value", Float, nullable=True),
    Column("last_value", Float, nullable=True),
)

# The same summaries over blocks of METRIC_FINE_BLOCK steps (revision 0010), with the times
# of the extremes: a chart whose buckets are narrower than a METRIC_BLOCK (100,000 points in
# 1,000 buckets) is answered from these instead of the points.
METRIC_FINE_BLOCK = 64

metric_fine_blocks = Table(
    "metric_fine_blocks", metadata,
    Column("run_id", String(255), ForeignKey("runs.id"), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("blk", Integer, primary_key=True, autoincrement=False),
    Column("n", Integer, nullable=False),
    Column("vmin", Float, nullable=True),
    Column("vmax", Float, nullable=True),
    Column("step_min", Integer, nullable=False),
    Column("step_max", Integer, nullable=False),
    Column("first_value", Float, nullable=True),
    Column("last_value", Float, nullable=True),
    Column("ts_min", Float, nullable=True),             # the times of the points at step_min
    Column("ts_max", Float, nullable=True),             # and step_max
)

__all__ += ["metric_blocks", "METRIC_BLOCK", "metric_fine_blocks", "METRIC_FINE_BLOCK"]

# A run's parameters and tags as rows (revision 0008), kept by the Store beside the runs'
# JSON columns so the runs filter (kyanite.store.runs_filter) finds them with index seeks.
# kind "param": the options of the run's arguments (kyanite.protocol.arguments) and the
# MLflow params (properties under "mlflow.param.", which win); kind "tag": its tags.
# ``num``: the value as a number when it reads as one (else NULL).
run_fields = Table(
    "run_fields", metadata,
    Column("run_id", String(255), ForeignKey("runs.id"), primary_key=True),
    Column("kind", String(8), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False),
    Column("num", Float, nullable=True),
)
Index("ix_run_fields_num", run_fields.c.kind, run_fields.c.key, run_fields.c.num)
Index("ix_run_fields_value", run_fields.c.kind, run_fields.c.key, run_fields.c.value)
# top-level runs newest first (revision 0008): a filtered list walks it and stops at a page
Index("ix_runs_parent_created", runs.c.parent_id, runs.c.created)

__all__ += ["run_fields"]
