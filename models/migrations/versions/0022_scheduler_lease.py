"""scheduler lease: a fencing term, the last renewal and the leader's interval on the lease row

The lease row, used on SQLite only until now, becomes the scheduler's leadership on PostgreSQL too
(a hung leader's session-bound advisory lock never expired).

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("scheduler_lease") as batch:
        batch.add_column(sa.Column("term", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("interval_seconds", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scheduler_lease") as batch:
        batch.drop_column("interval_seconds")
        batch.drop_column("renewed_at")
        batch.drop_column("term")
