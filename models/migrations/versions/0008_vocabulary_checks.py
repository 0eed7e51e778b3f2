"""vocabulary checks: CHECK constraints keep the status, channel, result class, kind columns inside
their value sets (models.vocabulary)

The values are the ones the code always wrote, so no row changes. The value lists are spelled out
here rather than read from models.vocabulary: a migration must keep meaning what it meant when it
was written, whatever the sets become later (a new value comes with a migration that widens its
CHECK).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> [(column, allowed values)]; each constraint is named ck_<table>_<column>.
CHECKS: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "dossier": [
        ("status", ("processing", "supplement", "result_ready", "returned", "refused", "withdrawn")),
        ("channel", ("in_person", "postal", "online")),
        ("result_class", ("early", "on_time", "late")),
    ],
    "work_item": [
        ("kind", ("supplement", "return")),
        ("result_class", ("early", "on_time", "late")),
    ],
    "dossier_event": [
        (
            "kind",
            (
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
            ),
        ),
    ],
    "process_version": [("status", ("draft", "submitted", "approved", "active", "retired"))],
    "sla_alert": [("kind", ("due_soon", "overdue", "apology_required", "late_unapologised", "late_again"))],
    "apology_letter": [("status", ("draft", "edited", "issued"))],
}


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    # On SQLite a CHECK can only be added by rebuilding the table: batch mode copies it (with its
    # indexes) into a new one; PostgreSQL gets ALTER TABLE ... ADD CONSTRAINT.
    for table, checks in CHECKS.items():
        with op.batch_alter_table(table) as batch:
            for column, values in checks:
                batch.create_check_constraint(op.f(f"ck_{table}_{column}"), _in(column, values))


def downgrade() -> None:
    for table, checks in reversed(CHECKS.items()):
        with op.batch_alter_table(table) as batch:
            for column, _values in reversed(checks):
                batch.drop_constraint(op.f(f"ck_{table}_{column}"), type_="check")
