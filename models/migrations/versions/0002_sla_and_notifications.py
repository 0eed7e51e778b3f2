"""sla and notifications

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN_ITEM = sa.text("completed_at IS NULL")
_WAKE_UP = sa.text("next_at IS NOT NULL")
_PENDING = sa.text("status = 'pending'")
_SENDING = sa.text("status = 'sending'")
_FAILED = sa.text("status = 'failed'")
_IN_APP = sa.text("channel = 'in_app'")
_UNREAD = sa.text("channel = 'in_app' AND read_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "sla_alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_kind", sa.String(length=20), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("deadline_version", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("dossier_id", sa.Integer(), nullable=False),
        sa.Column("work_item_id", sa.Integer(), nullable=True),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["agency_id"], ["agency.id"], name=op.f("fk_sla_alert_agency_id_agency")),
        sa.ForeignKeyConstraint(["dossier_id"], ["dossier.id"], name=op.f("fk_sla_alert_dossier_id_dossier")),
        sa.ForeignKeyConstraint(
            ["work_item_id"], ["work_item.id"], name=op.f("fk_sla_alert_work_item_id_work_item")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_alert")),
        sa.UniqueConstraint(
            "subject_kind", "subject_id", "kind", "deadline_version", "round", name="uq_sla_alert_key"
        ),
    )
    op.create_index("ix_sla_alert_dossier", "sla_alert", ["dossier_id", "raised_at"], unique=False)
    op.create_index(
        "ix_sla_alert_next",
        "sla_alert",
        ["next_at"],
        unique=False,
        sqlite_where=_WAKE_UP,
        postgresql_where=_WAKE_UP,
    )

    op.create_table(
        "apology_letter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dossier_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("apology_text", sa.Text(), nullable=False),
        sa.Column("original_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("proposed_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("new_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline_version", sa.Integer(), nullable=False),
        sa.Column("remaining_hours", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("edited_by_id", sa.Integer(), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("issued_by_id", sa.Integer(), nullable=True),
        sa.Column("signer_name", sa.String(length=255), nullable=True),
        sa.Column("signer_title", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_apology_letter_agency_id_agency")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["officer.id"], name=op.f("fk_apology_letter_created_by_id_officer")
        ),
        sa.ForeignKeyConstraint(
            ["dossier_id"], ["dossier.id"], name=op.f("fk_apology_letter_dossier_id_dossier")
        ),
        sa.ForeignKeyConstraint(
            ["edited_by_id"], ["officer.id"], name=op.f("fk_apology_letter_edited_by_id_officer")
        ),
        sa.ForeignKeyConstraint(
            ["issued_by_id"], ["officer.id"], name=op.f("fk_apology_letter_issued_by_id_officer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apology_letter")),
        sa.UniqueConstraint("dossier_id", name="uq_apology_letter_dossier_id"),
    )
    op.create_index(
        "ix_apology_letter_agency_status", "apology_letter", ["agency_id", "status"], unique=False
    )

    op.create_table(
        "scheduler_lease",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("holder", sa.String(length=120), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduler_lease")),
    )
    op.create_table(
        "scheduler_heartbeat",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("last_now", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ran_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("holder", sa.String(length=120), nullable=False),
        sa.Column("ticks", sa.Integer(), nullable=False),
        sa.Column("raised", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduler_heartbeat")),
    )

    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=True),
        sa.Column("address", sa.String(length=255), nullable=True),
        sa.Column("dossier_id", sa.Integer(), nullable=True),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["dossier_id"], ["dossier.id"], name=op.f("fk_notification_dossier_id_dossier")
        ),
        sa.ForeignKeyConstraint(
            ["officer_id"], ["officer.id"], name=op.f("fk_notification_officer_id_officer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_notification_dedupe_key")),
    )
    op.create_index(
        "ix_notification_pending",
        "notification",
        ["next_attempt_at"],
        unique=False,
        sqlite_where=_PENDING,
        postgresql_where=_PENDING,
    )
    op.create_index(
        "ix_notification_sending",
        "notification",
        ["claimed_until"],
        unique=False,
        sqlite_where=_SENDING,
        postgresql_where=_SENDING,
    )
    op.create_index(
        "ix_notification_failed",
        "notification",
        ["id"],
        unique=False,
        sqlite_where=_FAILED,
        postgresql_where=_FAILED,
    )
    op.create_index(
        "ix_notification_officer",
        "notification",
        ["officer_id", "id"],
        unique=False,
        sqlite_where=_IN_APP,
        postgresql_where=_IN_APP,
    )
    op.create_index(
        "ix_notification_unread",
        "notification",
        ["officer_id"],
        unique=False,
        sqlite_where=_UNREAD,
        postgresql_where=_UNREAD,
    )
    op.create_index("ix_notification_dossier", "notification", ["dossier_id"], unique=False)

    # The watcher's scan of open steps created since its last tick.
    op.create_index(
        "ix_work_item_open_created",
        "work_item",
        ["created_at"],
        unique=False,
        sqlite_where=_OPEN_ITEM,
        postgresql_where=_OPEN_ITEM,
    )


def downgrade() -> None:
    op.drop_index("ix_work_item_open_created", table_name="work_item")
    op.drop_index("ix_notification_dossier", table_name="notification")
    op.drop_index("ix_notification_unread", table_name="notification")
    op.drop_index("ix_notification_officer", table_name="notification")
    op.drop_index("ix_notification_failed", table_name="notification")
    op.drop_index("ix_notification_sending", table_name="notification")
    op.drop_index("ix_notification_pending", table_name="notification")
    op.drop_table("notification")
    op.drop_table("scheduler_heartbeat")
    op.drop_table("scheduler_lease")
    op.drop_index("ix_apology_letter_agency_status", table_name="apology_letter")
    op.drop_table("apology_letter")
    op.drop_index("ix_sla_alert_next", table_name="sla_alert")
    op.drop_index("ix_sla_alert_dossier", table_name="sla_alert")
    op.drop_table("sla_alert")
