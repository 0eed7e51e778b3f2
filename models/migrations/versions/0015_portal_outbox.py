"""portal outbox: messages for the national public service portal (DVCQG), queued in the transaction
of the change they report, and the editable mappings of our codes to the portal's, seeded with the
status codes connected systems use

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNSENT = sa.text("status <> 'sent'")
# Our dossier states and events as the portal's status codes (TrangThaiHoSo), as seen in connected
# systems; an administrator can change them (`motcua dvcqg mapping`).
STATUSES = {
    "received": "2",
    "processing": "4",
    "supplement": "5",
    "result_ready": "9",
    "returned": "10",
    "refused": "3",
    "withdrawn": "8",
}


def upgrade() -> None:
    op.create_table(
        "portal_message",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("stream", sa.String(60), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column(
            "dossier_id",
            sa.Integer(),
            sa.ForeignKey("dossier.id", name="fk_portal_message_dossier_id_dossier"),
            nullable=True,
        ),
        sa.Column("service", sa.String(40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sending_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.UniqueConstraint("stream", "seq", name="uq_portal_message_stream_seq"),
    )
    op.create_index("ix_portal_message_dossier_id", "portal_message", ["dossier_id"])
    op.create_index(
        "ix_portal_message_due",
        "portal_message",
        ["next_attempt_at"],
        sqlite_where=UNSENT,
        postgresql_where=UNSENT,
    )
    op.create_index(
        "ix_portal_message_stream_unsent",
        "portal_message",
        ["stream", "seq"],
        sqlite_where=UNSENT,
        postgresql_where=UNSENT,
    )
    mapping = op.create_table(
        "portal_mapping",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("local", sa.String(80), nullable=False),
        sa.Column("portal", sa.String(80), nullable=False),
        sa.UniqueConstraint("kind", "local", name="uq_portal_mapping_kind_local"),
    )
    op.bulk_insert(mapping, [{"kind": "status", "local": k, "portal": v} for k, v in STATUSES.items()])


def downgrade() -> None:
    op.drop_table("portal_mapping")
    op.drop_index("ix_portal_message_stream_unsent", table_name="portal_message")
    op.drop_index("ix_portal_message_due", table_name="portal_message")
    op.drop_index("ix_portal_message_dossier_id", table_name="portal_message")
    op.drop_table("portal_message")
