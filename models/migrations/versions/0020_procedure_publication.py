"""procedure publication: the forms (mẫu đơn, tờ khai) a procedure's process owner uploads for the
public catalogue

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "procedure_form",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "procedure_id",
            sa.Integer(),
            sa.ForeignKey("procedure.id", name="fk_procedure_form_procedure_id_procedure"),
            nullable=False,
        ),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("media_type", sa.String(120), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("stored_path", sa.Text(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "uploaded_by_id",
            sa.Integer(),
            sa.ForeignKey("officer.id", name="fk_procedure_form_uploaded_by_id_officer"),
            nullable=True,
        ),
    )
    op.create_index("ix_procedure_form_procedure", "procedure_form", ["procedure_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_procedure_form_procedure", table_name="procedure_form")
    op.drop_table("procedure_form")
