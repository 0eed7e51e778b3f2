"""version check: the result of `bpmn check` stored with each process version (ok flag, problems
as JSON, counted hours, number of steps, the legal budget and the rules it was checked against,
when), so the catalogue's pages show it instead of checking the diagram again on every view

Existing rows stay unchecked (NULL); the first view of such a version checks it and stores the result.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from models.base import UtcDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HOURS = sa.Numeric(12, 4, asdecimal=False)


def upgrade() -> None:
    with op.batch_alter_table("process_version") as batch:
        batch.add_column(sa.Column("check_ok", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("check_problems", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("check_counted_hours", HOURS, nullable=True))
        batch.add_column(sa.Column("check_step_count", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("check_legal_hours", HOURS, nullable=True))
        batch.add_column(sa.Column("check_rules", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("checked_at", UtcDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("process_version") as batch:
        for column in (
            "checked_at",
            "check_rules",
            "check_legal_hours",
            "check_step_count",
            "check_counted_hours",
            "check_problems",
            "check_ok",
        ):
            batch.drop_column(column)
