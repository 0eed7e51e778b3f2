"""web accounts and ratings: API tokens, citizens' ratings, submission keys

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["officer_id"], ["officer.id"], name=op.f("fk_api_token_officer_id_officer")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_api_token_token_sha256")),
    )
    op.create_index(op.f("ix_api_token_officer_id"), "api_token", ["officer_id"], unique=False)
    op.create_table(
        "rating",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dossier_id", sa.Integer(), nullable=False),
        sa.Column("satisfied", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["dossier_id"], ["dossier.id"], name=op.f("fk_rating_dossier_id_dossier")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rating")),
        sa.UniqueConstraint("dossier_id", name=op.f("uq_rating_dossier_id")),
    )
    with op.batch_alter_table("dossier") as batch:
        batch.add_column(sa.Column("submission_key", sa.String(length=80), nullable=True))
        batch.create_unique_constraint(op.f("uq_dossier_submission_key"), ["submission_key"])


def downgrade() -> None:
    with op.batch_alter_table("dossier") as batch:
        batch.drop_constraint(op.f("uq_dossier_submission_key"), type_="unique")
        batch.drop_column("submission_key")
    op.drop_table("rating")
    op.drop_index(op.f("ix_api_token_officer_id"), table_name="api_token")
    op.drop_table("api_token")
