"""report index: (agency, received) covering the columns Biểu 06 reads; replaces ix_dossier_agency_received

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COVERED = [
    "id",
    "procedure_id",
    "channel",
    "finished_at",
    "status",
    "result_class",
    "due_at",
    "refusal_reason",
]


def upgrade() -> None:
    # INCLUDE exists on PostgreSQL only; SQLite gets the plain (agency_id, received_at) key.
    with op.batch_alter_table("dossier") as batch:
        batch.create_index("ix_dossier_report", ["agency_id", "received_at"], postgresql_include=COVERED)
        batch.drop_index("ix_dossier_agency_received")


def downgrade() -> None:
    with op.batch_alter_table("dossier") as batch:
        batch.create_index("ix_dossier_agency_received", ["agency_id", "received_at"])
        batch.drop_index("ix_dossier_report")
