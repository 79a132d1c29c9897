"""Fine metric block summaries: ``metric_fine_blocks``, the summaries of ``metric_blocks``
over blocks of ``METRIC_FINE_BLOCK`` steps plus the times of the extremes, kept at ingest so
a chart whose buckets are narrower than a coarse block never reads the points.

Series stored before this revision have no fine blocks; the first chart request that needs
them builds and stores both levels (once), so upgrading costs nothing up front.

Revision ID: 0010
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metric_fine_blocks",
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
        sa.Column("ts_min", sa.Float, nullable=True),
        sa.Column("ts_max", sa.Float, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("metric_fine_blocks")
