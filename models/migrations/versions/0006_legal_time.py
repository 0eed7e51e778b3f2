"""legal time: the appointment apart from the legal due time, when lateness began, when the dossier was
judged, the watcher's wake-up for projected lateness, late supplement requests and late letters

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from models.base import UtcDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_COVERED = [
    "id",
    "procedure_id",
    "channel",
    "finished_at",
    "status",
    "result_class",
    "due_at",
    "refusal_reason",
]
COVERED = [*OLD_COVERED, "judged_at", "late_at"]
PROCESSING = sa.text("status = 'processing'")


def upgrade() -> None:
    with op.batch_alter_table("dossier") as batch:
        batch.add_column(sa.Column("appointment_at", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("late_at", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("judged_at", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("projected_late_at", UtcDateTime(), nullable=True))
    # Until now an issued letter moved due_at itself; the legal due time of those dossiers is the
    # one the letter replaced, and the moved time is their appointment.
    op.execute(
        "UPDATE dossier SET appointment_at = due_at, due_at = COALESCE(("
        " SELECT l.original_due_at FROM apology_letter l"
        " WHERE l.dossier_id = dossier.id AND l.status = 'issued'), due_at)"
    )
    op.execute("UPDATE dossier SET judged_at = finished_at WHERE result_class IS NOT NULL")
    op.execute(
        "UPDATE dossier SET late_at = due_at"
        " WHERE due_at IS NOT NULL AND ((judged_at IS NOT NULL AND judged_at > due_at) OR result_class = 'late')"
    )
    op.execute(
        "UPDATE dossier SET result_class = 'late' WHERE late_at IS NOT NULL AND result_class IS NOT NULL"
    )
    with op.batch_alter_table("dossier") as batch:
        batch.create_index(
            "ix_dossier_projected_late",
            ["projected_late_at"],
            sqlite_where=PROCESSING,
            postgresql_where=PROCESSING,
        )
        batch.create_index(
            "ix_dossier_appointment",
            ["appointment_at"],
            sqlite_where=PROCESSING,
            postgresql_where=PROCESSING,
        )
        batch.drop_index("ix_dossier_report")
        batch.create_index("ix_dossier_report", ["agency_id", "received_at"], postgresql_include=COVERED)
    with op.batch_alter_table("suspension") as batch:
        batch.add_column(sa.Column("late", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("late_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("apology_letter") as batch:
        batch.add_column(sa.Column("issued_late", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("holder_agency_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_apology_letter_holder_agency_id_agency", "agency", ["holder_agency_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("apology_letter") as batch:
        batch.drop_constraint("fk_apology_letter_holder_agency_id_agency", type_="foreignkey")
        batch.drop_column("holder_agency_id")
        batch.drop_column("issued_late")
    with op.batch_alter_table("suspension") as batch:
        batch.drop_column("late_reason")
        batch.drop_column("late")
    op.execute("UPDATE dossier SET due_at = appointment_at WHERE appointment_at IS NOT NULL")
    with op.batch_alter_table("dossier") as batch:
        batch.drop_index("ix_dossier_report")
        batch.create_index("ix_dossier_report", ["agency_id", "received_at"], postgresql_include=OLD_COVERED)
        batch.drop_index("ix_dossier_appointment")
        batch.drop_index("ix_dossier_projected_late")
        batch.drop_column("projected_late_at")
        batch.drop_column("judged_at")
        batch.drop_column("late_at")
        batch.drop_column("appointment_at")
