"""Metric batch ids: retried metric posts are stored once.

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metric_batches",
        sa.Column("run_id", sa.String(255), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("batch_id", sa.String(128), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("metric_batches")
