"""assigned event: a head or supervisor assigns a step to a named officer, recorded in the dossier's
history as its own event kind

Widens the CHECK constraint on dossier_event.kind by "assigned" (models.vocabulary.EventKind); no
row changes. The value lists are spelled out, as in 0008.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = (
    "received",
    "step_opened",
    "step_completed",
    "claimed",
    "released",
    "reassigned",
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
AFTER = (*BEFORE[:6], "assigned", *BEFORE[6:])


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _replace(values: tuple[str, ...]) -> None:
    # SQLite changes a CHECK by rebuilding the table (batch mode); PostgreSQL drops and adds it.
    with op.batch_alter_table("dossier_event") as batch:
        batch.drop_constraint(op.f("ck_dossier_event_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_dossier_event_kind"), _in("kind", values))


def upgrade() -> None:
    _replace(AFTER)


def downgrade() -> None:
    # The history keeps the hand-over under the older kind it widens.
    op.execute("UPDATE dossier_event SET kind = 'reassigned' WHERE kind = 'assigned'")
    _replace(BEFORE)
