"""digitised documents: an attachment names the checklist item it digitises, when it was digitised,
the earlier attachment it reuses and its signature (who signed, when, valid or not); an index of the
applicant's ID number for the reuse offer; two event kinds (document_digitised, document_signed)

Widens the CHECK constraint on dossier_event.kind (models.vocabulary.EventKind) by the two kinds, at
the end of the list the database holds (read back as 0018 does).

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = ("document_digitised", "document_signed")


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _event_kinds() -> list[str]:
    """The kinds dossier_event.kind allows now, as the database spells its CHECK (as 0018 reads it)."""
    for check in sa.inspect(op.get_bind()).get_check_constraints("dossier_event"):
        if check["name"] == "ck_dossier_event_kind":
            return list(dict.fromkeys(re.findall(r"'([^']+)'", str(check["sqltext"]))))
    raise RuntimeError("ck_dossier_event_kind not found on dossier_event")


def _replace(values: Sequence[str]) -> None:
    # SQLite changes a CHECK by rebuilding the table (batch mode); PostgreSQL drops and adds it.
    with op.batch_alter_table("dossier_event") as batch:
        batch.drop_constraint(op.f("ck_dossier_event_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_dossier_event_kind"), _in("kind", values))


def upgrade() -> None:
    with op.batch_alter_table("attachment") as batch:
        batch.add_column(sa.Column("document_name", sa.String(length=1000), nullable=True))
        batch.add_column(sa.Column("digitised_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("reused_from_attachment_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("signature_status", sa.String(length=10), nullable=True))
        batch.add_column(sa.Column("signer_name", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("signer_organisation", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("signed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("signature_checked_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("signature_note", sa.Text(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_attachment_reused_from_attachment_id_attachment"),
            "attachment",
            ["reused_from_attachment_id"],
            ["id"],
        )
        batch.create_index(
            "ix_attachment_dossier_digitised", ["dossier_id", "kind", "digitised_at"], unique=False
        )
    # Results already issued were digitised when they were attached.
    op.execute("UPDATE attachment SET digitised_at = uploaded_at WHERE kind = 'result'")
    with op.batch_alter_table("dossier") as batch:
        batch.create_index("ix_dossier_applicant_id_number", ["applicant_id_number"], unique=False)
    kinds = _event_kinds()
    _replace([*kinds, *(k for k in KINDS if k not in kinds)])


def downgrade() -> None:
    op.execute("DELETE FROM dossier_event WHERE kind IN ('document_digitised', 'document_signed')")
    _replace([k for k in _event_kinds() if k not in KINDS])
    with op.batch_alter_table("dossier") as batch:
        batch.drop_index("ix_dossier_applicant_id_number")
    with op.batch_alter_table("attachment") as batch:
        batch.drop_index("ix_attachment_dossier_digitised")
        batch.drop_constraint(op.f("fk_attachment_reused_from_attachment_id_attachment"), type_="foreignkey")
        for column in (
            "signature_note",
            "signature_checked_at",
            "signed_at",
            "signer_organisation",
            "signer_name",
            "signature_status",
            "reused_from_attachment_id",
            "digitised_at",
            "document_name",
        ):
            batch.drop_column(column)
