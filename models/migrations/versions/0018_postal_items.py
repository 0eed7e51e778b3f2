"""postal items: dossiers received by post and results sent back by post (bưu chính công ích), each
item with its number, carrier, status, address and times; three event kinds for the history

Widens the CHECK constraint on dossier_event.kind by the postal kinds. The kinds already allowed are
read from the database (other changes widen the same constraint) and kept in the order the models
declare them, so the constraint reads as the models spell it.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DIRECTIONS = ("inbound", "outbound")
STATUSES = ("received", "prepared", "handed_over", "delivered", "returned_to_sender", "cancelled")
POSTAL_KINDS = ("postal_requested", "postal_delivered", "postal_returned")


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _event_kinds() -> list[str]:
    """The kinds dossier_event.kind allows now, as the database spells its CHECK."""
    inspector = sa.inspect(op.get_bind())
    for check in inspector.get_check_constraints("dossier_event"):
        if check["name"] == "ck_dossier_event_kind":
            return list(dict.fromkeys(re.findall(r"'([^']+)'", str(check["sqltext"]))))
    raise RuntimeError("ck_dossier_event_kind not found on dossier_event")


def _declared_order(kinds: list[str]) -> list[str]:
    from models.vocabulary import EventKind

    order = {kind: n for n, kind in enumerate(EventKind.values())}
    return sorted(kinds, key=lambda kind: (order.get(kind, len(order)), kinds.index(kind)))


def _replace_kinds(kinds: list[str]) -> None:
    # SQLite changes a CHECK by rebuilding the table (batch mode); PostgreSQL drops and adds it.
    with op.batch_alter_table("dossier_event") as batch:
        batch.drop_constraint(op.f("ck_dossier_event_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_dossier_event_kind"), _in("kind", kinds))


def upgrade() -> None:
    op.create_table(
        "postal_item",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "dossier_id",
            sa.Integer(),
            sa.ForeignKey("dossier.id", name="fk_postal_item_dossier_id_dossier"),
            nullable=False,
        ),
        sa.Column("direction", sa.String(10), nullable=False),
        sa.Column("item_number", sa.String(20), nullable=True),
        sa.Column("carrier", sa.String(120), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "officer_id",
            sa.Integer(),
            sa.ForeignKey("officer.id", name="fk_postal_item_officer_id_officer"),
            nullable=True,
        ),
        sa.Column("handed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint(_in("direction", DIRECTIONS), name=op.f("ck_postal_item_direction")),
        sa.CheckConstraint(_in("status", STATUSES), name=op.f("ck_postal_item_status")),
        sa.UniqueConstraint("dossier_id", "direction", name="uq_postal_item_dossier_direction"),
        sa.UniqueConstraint("carrier", "item_number", name="uq_postal_item_carrier_item_number"),
    )
    op.create_index("ix_postal_item_item_number", "postal_item", ["item_number"])
    kinds = _event_kinds()
    _replace_kinds(_declared_order(kinds + [k for k in POSTAL_KINDS if k not in kinds]))


def downgrade() -> None:
    # The postal events go with the items; the return itself stays in the history as "returned".
    op.execute(
        "DELETE FROM dossier_event WHERE kind IN ('postal_requested', 'postal_delivered', 'postal_returned')"
    )
    _replace_kinds([k for k in _event_kinds() if k not in POSTAL_KINDS])
    op.drop_index("ix_postal_item_item_number", table_name="postal_item")
    op.drop_table("postal_item")
