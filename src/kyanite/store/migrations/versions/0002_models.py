"""The model registry and deployments: models, deployments, deployment_models.

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("asset", sa.String(1024), nullable=False),
        sa.Column("is_folder", sa.Boolean, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("file_count", sa.Integer, nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("properties", sa.Text, nullable=False),
        sa.Column("framework", sa.String(64), nullable=True),
        sa.Column("framework_version", sa.String(64), nullable=True),
        sa.Column("run_id", sa.String(255), nullable=True),
        sa.Column("experiment_name", sa.String(255), nullable=True),
        sa.Column("datasets", sa.Text, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("updated", sa.Float, nullable=False),
    )
    op.create_index("ix_models_run", "models", ["run_id"])
    op.create_table(
        "deployments",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("compute_type", sa.String(32), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("keys", sa.Text, nullable=True),
        sa.Column("secret", sa.String(255), nullable=False),
        sa.Column("port", sa.Integer, nullable=True),
        sa.Column("process", sa.Text, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("properties", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("updated", sa.Float, nullable=False),
    )
    op.create_table(
        "deployment_models",
        sa.Column("deployment", sa.String(255), sa.ForeignKey("deployments.name"), primary_key=True),
        sa.Column("model_name", sa.String(255), primary_key=True),
        sa.Column("model_version", sa.Integer, primary_key=True),
        sa.ForeignKeyConstraint(["model_name", "model_version"], ["models.name", "models.version"]),
    )
    op.create_index("ix_deployment_models_model", "deployment_models", ["model_name", "model_version"])


def downgrade() -> None:
    for table in ("deployment_models", "deployments", "models"):
        op.drop_table(table)
