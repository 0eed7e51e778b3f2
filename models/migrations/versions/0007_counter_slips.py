"""counter slips: forms 02 and 03 issued at the counter before a dossier is accepted

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from models.base import UtcDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "counter_slip",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("procedure_id", sa.Integer(), nullable=False),
        sa.Column("applicant_name", sa.String(length=255), nullable=False),
        sa.Column("applicant_id_number", sa.String(length=20), nullable=True),
        sa.Column("applicant_phone", sa.String(length=20), nullable=True),
        sa.Column("applicant_email", sa.String(length=255), nullable=True),
        sa.Column("applicant_address", sa.Text(), nullable=True),
        sa.Column("missing", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("issued_at", UtcDateTime(), nullable=False),
        sa.Column("issued_by_id", sa.Integer(), nullable=False),
        sa.Column("submission_key", sa.String(length=80), nullable=True),
        sa.CheckConstraint("kind IN ('supplement', 'refusal')", name=op.f("ck_counter_slip_kind")),
        sa.ForeignKeyConstraint(["agency_id"], ["agency.id"], name=op.f("fk_counter_slip_agency_id_agency")),
        sa.ForeignKeyConstraint(
            ["procedure_id"], ["procedure.id"], name=op.f("fk_counter_slip_procedure_id_procedure")
        ),
        sa.ForeignKeyConstraint(
            ["issued_by_id"], ["officer.id"], name=op.f("fk_counter_slip_issued_by_id_officer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_counter_slip")),
        sa.UniqueConstraint("submission_key", name=op.f("uq_counter_slip_submission_key")),
    )
    op.create_index("ix_counter_slip_agency_issued", "counter_slip", ["agency_id", "issued_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_counter_slip_agency_issued", table_name="counter_slip")
    op.drop_table("counter_slip")
