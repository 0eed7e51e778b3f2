"""payments: a dossier's fees paid at the desk (cash, transfer) or online through the payment gateway,
with the receipt number; the nonces of the gateway's signed callbacks already seen; and two events
in the dossier's history, a payment recorded and a fee waived

Widens the CHECK constraint on dossier_event.kind by "payment_recorded" and "fee_waived"
(models.vocabulary.EventKind); the value lists are spelled out, as in 0008 and 0013.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = (
    "received",
    "step_opened",
    "step_completed",
    "claimed",
    "released",
    "reassigned",
    "assigned",
    "supplement_requested",
    "supplement_received",
    "refused",
    "returned",
    "withdrawn",
    "appointment_moved",
    "apology_drafted",
    "apology_edited",
    "apology_issued",
    "repaired",
    "rated",
)
AFTER = (*BEFORE, "payment_recorded", "fee_waived")
PENDING = sa.text("status = 'pending'")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _replace(values: tuple[str, ...]) -> None:
    with op.batch_alter_table("dossier_event") as batch:
        batch.drop_constraint(op.f("ck_dossier_event_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_dossier_event_kind"), _in("kind", values))


def upgrade() -> None:
    op.create_table(
        "payment",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "dossier_id",
            sa.Integer(),
            sa.ForeignKey("dossier.id", name="fk_payment_dossier_id_dossier"),
            nullable=False,
        ),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(10), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("reference", sa.String(40), nullable=False),
        sa.Column("receipt_number", sa.String(40), nullable=True),
        sa.Column("gateway_reference", sa.String(80), nullable=True),
        sa.Column("checkout_url", sa.Text(), nullable=True),
        sa.Column("qr_payload", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "officer_id",
            sa.Integer(),
            sa.ForeignKey("officer.id", name="fk_payment_officer_id_officer"),
            nullable=True,
        ),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint("method IN ('cash', 'transfer', 'online')", name=op.f("ck_payment_method")),
        sa.CheckConstraint(
            "status IN ('pending', 'paid', 'failed', 'cancelled')", name=op.f("ck_payment_status")
        ),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_payment_amount")),
        sa.UniqueConstraint("reference", name="uq_payment_reference"),
    )
    op.create_index("ix_payment_dossier", "payment", ["dossier_id", "id"])
    op.create_index(
        "ix_payment_pending", "payment", ["created_at"], sqlite_where=PENDING, postgresql_where=PENDING
    )
    op.create_index("ix_payment_paid_at", "payment", ["paid_at"])
    op.create_table(
        "payment_nonce",
        sa.Column("nonce", sa.String(80), primary_key=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    _replace(AFTER)


def downgrade() -> None:
    # The events of payments and waivers go with the table that held the payments.
    op.execute("DELETE FROM dossier_event WHERE kind IN ('payment_recorded', 'fee_waived')")
    _replace(BEFORE)
    op.drop_table("payment_nonce")
    op.drop_index("ix_payment_paid_at", table_name="payment")
    op.drop_index("ix_payment_pending", table_name="payment")
    op.drop_index("ix_payment_dossier", table_name="payment")
    op.drop_table("payment")
