"""A run's description (SDK v1 ``run.description``): ``runs.description``, free text of at
most ``kyanite.protocol.identifiers.DESCRIPTION_MAX`` characters, NULL when none was set.

Revision ID: 0009
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("description", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("description")
