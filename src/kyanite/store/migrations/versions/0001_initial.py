"""The first tables: experiments, runs, metrics, compute targets, environments.

Revision ID: 0001
Revises:
"""
from alembic import op
import sqlalchemy as sa

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiments.id"), nullable=False),
        sa.Column("parent_id", sa.String(255), sa.ForeignKey("runs.id"), nullable=True),
        sa.Column("display_name", sa.String(255), nullable=True),
        sa.Column("run_type", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("target", sa.String(255), nullable=True),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("start_time", sa.Float, nullable=True),
        sa.Column("end_time", sa.Float, nullable=True),
        sa.Column("heartbeat", sa.Float, nullable=True),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        sa.Column("definition", sa.Text, nullable=True),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("properties", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("resolved_packages", sa.Text, nullable=True),
        sa.Column("host", sa.Text, nullable=True),
    )
    op.create_index("ix_runs_experiment_created", "runs", ["experiment_id", "created"])
    op.create_index("ix_runs_parent", "runs", ["parent_id"])
    op.create_index("ix_runs_status_target", "runs", ["status", "target"])
    op.create_table(
        "metrics",
        sa.Column("run_id", sa.String(255), sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("payload", sa.Text, nullable=True),
        sa.Column("ts", sa.Float, nullable=False),
    )
    op.create_index("ix_metrics_run_name_step", "metrics", ["run_id", "name", "step"])
    op.create_table(
        "computes",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_table(
        "environments",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
    )


def downgrade() -> None:
    for table in ("environments", "computes", "metrics", "runs", "experiments"):
        op.drop_table(table)
