"""Datastores and datasets: datastores, datasets.

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "datastores",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("secret", sa.Text, nullable=True),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_table(
        "datasets",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("files", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("file_count", sa.Integer, nullable=False),
        sa.Column("total_size", sa.BigInteger, nullable=True),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_index("ix_datasets_name_version", "datasets", ["name", "version"], unique=True)
    op.create_index("ix_datasets_fingerprint", "datasets", ["fingerprint"])


def downgrade() -> None:
    op.drop_index("ix_datasets_fingerprint", "datasets")
    op.drop_index("ix_datasets_name_version", "datasets")
    op.drop_table("datasets")
    op.drop_table("datastores")
