"""report index: (agency, received) covering the columns Biểu 06 reads; replaces ix_dossier_agency_received

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

from models.migrate import create_index_concurrently, drop_index_concurrently

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


# The dossier table is the biggest and busiest: on PostgreSQL both indexes are built and dropped
# CONCURRENTLY, outside the migration's transaction, so receipts and completions go on meanwhile.


def upgrade() -> None:
    # INCLUDE exists on PostgreSQL only; SQLite gets the plain (agency_id, received_at) key.
    create_index_concurrently(
        "ix_dossier_report", "dossier", ["agency_id", "received_at"], postgresql_include=COVERED
    )
    drop_index_concurrently("ix_dossier_agency_received", "dossier")


def downgrade() -> None:
    create_index_concurrently("ix_dossier_agency_received", "dossier", ["agency_id", "received_at"])
    drop_index_concurrently("ix_dossier_report", "dossier")
