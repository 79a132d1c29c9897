"""Metric value types: a scalar point may be an int or a string (``run.log('epochs', 3)``,
``run.log('optimizer', 'adam')``), kept as such. ``metrics.vtype`` is NULL for a float
(every point stored before this revision), "i" for an int (its value in ``value``) and
"s" for a string (its text in ``payload``, ``value`` NULL).

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("metrics", sa.Column("vtype", sa.String(1), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("metrics") as batch:
        batch.drop_column("vtype")
