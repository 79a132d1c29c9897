"""MLflow tracking API state that kyanite's own tables do not hold (``kyanite.store.mlflow``):

- ``mlflow_metric_steps``: the step MLflow logged each point at. A point logged through
  MLflow is stored as a plain metric point (its series' next step, so charts, sweeps and
  ``run.get_metrics`` see it); one row per series and batch keeps the logged steps of the
  points from ``first_step`` on, as a JSON list.
- ``mlflow_logged_models``: MLflow 3 logged models (their files are run outputs).
- ``mlflow_experiments``: an experiment's MLflow tags and lifecycle stage.

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mlflow_metric_steps",
        sa.Column("run_id", sa.String(255), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("first_step", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("steps", sa.Text, nullable=False),
    )
    op.create_table(
        "mlflow_logged_models",
        sa.Column("model_id", sa.String(64), primary_key=True),
        sa.Column("run_id", sa.String(255), sa.ForeignKey("runs.id"), nullable=True),
        sa.Column("experiment_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("model_type", sa.String(255), nullable=True),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("updated", sa.Float, nullable=False),
    )
    op.create_index("ix_mlflow_logged_models_run", "mlflow_logged_models", ["run_id"])
    op.create_table(
        "mlflow_experiments",
        sa.Column("experiment_id", sa.Integer, sa.ForeignKey("experiments.id"), primary_key=True),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("lifecycle_stage", sa.String(16), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("mlflow_experiments")
    op.drop_index("ix_mlflow_logged_models_run", "mlflow_logged_models")
    op.drop_table("mlflow_logged_models")
    op.drop_table("mlflow_metric_steps")
