"""Run parameters and tags as rows for the runs filter (``kyanite.store.runs_filter``):
``run_fields`` (run_id, kind "param"|"tag", key, value, num) with indexes on
(kind, key, num) and (kind, key, value). Existing runs are filled in: their tags, the options
of their arguments and their MLflow params. ``ix_runs_parent_created``: top-level runs newest
first, which a filtered list walks until it has a page.

Revision ID: 0008
Revises: 0007
"""
import json

from alembic import op
import sqlalchemy as sa

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from kyanite.protocol.runs import RunDefinition
    from kyanite.store.runs_filter import field_rows, params_of
    table = op.create_table(
        "run_fields",
        sa.Column("run_id", sa.String(255), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("kind", sa.String(8), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("num", sa.Float, nullable=True),
    )
    op.create_index("ix_run_fields_num", "run_fields", ["kind", "key", "num"])
    op.create_index("ix_run_fields_value", "run_fields", ["kind", "key", "value"])
    op.create_index("ix_runs_parent_created", "runs", ["parent_id", "created"])
    conn = op.get_bind()
    runs = sa.table("runs", sa.column("id"), sa.column("tags"), sa.column("properties"), sa.column("definition"))
    rows = []
    for r in conn.execute(sa.select(runs.c.id, runs.c.tags, runs.c.properties, runs.c.definition)):
        try:
            definition = RunDefinition.from_json(json.loads(r.definition)) if r.definition else None
        except Exception:  # a definition written before they were checked: no arguments
            definition = None
        rows.extend(field_rows(r.id, json.loads(r.tags or "{}"),
                               params_of(definition, json.loads(r.properties or "{}"))))
        if len(rows) >= 5000:
            op.bulk_insert(table, rows)
            rows = []
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_index("ix_runs_parent_created", "runs")
    op.drop_index("ix_run_fields_value", "run_fields")
    op.drop_index("ix_run_fields_num", "run_fields")
    op.drop_table("run_fields")
