"""feedback: citizens' feedback and recommendations (phản ánh, kiến nghị) handled as dossiers of a
feedback procedure, which the catalogue marks by its kind

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PUBLISHED = sa.text("published")


def upgrade() -> None:
    with op.batch_alter_table("procedure") as batch:
        batch.add_column(sa.Column("kind", sa.String(20), server_default="tthc", nullable=False))
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "dossier_id",
            sa.Integer(),
            sa.ForeignKey("dossier.id", name="fk_feedback_dossier_id_dossier"),
            nullable=False,
        ),
        sa.Column(
            "procedure_id",
            sa.Integer(),
            sa.ForeignKey("procedure.id", name="fk_feedback_procedure_id_procedure"),
            nullable=True,
        ),
        sa.Column("about_dossier_code", sa.String(40), nullable=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("phone", sa.String(20), nullable=True),
        sa.Column("email", sa.String(255), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("consent_publish", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "competent_agency_id",
            sa.Integer(),
            sa.ForeignKey("agency.id", name="fk_feedback_competent_agency_id_agency"),
            nullable=True,
        ),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("dossier_id", name="uq_feedback_dossier_id"),
    )
    op.create_index(
        "ix_feedback_published",
        "feedback",
        ["procedure_id", "published_at"],
        sqlite_where=PUBLISHED,
        postgresql_where=PUBLISHED,
    )


def downgrade() -> None:
    op.drop_index("ix_feedback_published", table_name="feedback")
    op.drop_table("feedback")
    with op.batch_alter_table("procedure") as batch:
        batch.drop_column("kind")
