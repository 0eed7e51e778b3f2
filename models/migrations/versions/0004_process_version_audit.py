"""process version audit: one row per transition or save of a process version

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "process_version_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("process_version_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["process_version_id"],
            ["process_version.id"],
            name=op.f("fk_process_version_event_process_version_id_process_version"),
        ),
        sa.ForeignKeyConstraint(
            ["officer_id"], ["officer.id"], name=op.f("fk_process_version_event_officer_id_officer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_process_version_event")),
    )
    op.create_index(
        "ix_process_version_event_version",
        "process_version_event",
        ["process_version_id", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_process_version_event_version", table_name="process_version_event")
    op.drop_table("process_version_event")
