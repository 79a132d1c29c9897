"""Metric block summaries: per block of steps of a series, its count, extremes (with their
steps) and first and last value, kept at ingest so a chart of a long series never scans it.

Series stored before this revision have no blocks; the first chart request for one builds
and stores them (once), so upgrading costs nothing up front.

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metric_blocks",
        sa.Column("run_id", sa.String(255), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("blk", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("vmin", sa.Float, nullable=True),
        sa.Column("vmax", sa.Float, nullable=True),
        sa.Column("step_min", sa.Integer, nullable=False),
        sa.Column("step_max", sa.Integer, nullable=False),
        sa.Column("first_value", sa.Float, nullable=True),
        sa.Column("last_value", sa.Float, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("metric_blocks")
