"""procedure fees as data: each fee or charge (phí, lệ phí) of a procedure with its amount and who is
exempt, beside the fee as the catalogue words it

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("procedure") as batch:
        batch.add_column(sa.Column("fees", sa.JSON(), nullable=True))
    procedure = sa.table("procedure", sa.column("fees", sa.JSON()))
    op.execute(procedure.update().values(fees=[]))
    with op.batch_alter_table("procedure") as batch:
        batch.alter_column("fees", existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("procedure") as batch:
        batch.drop_column("fees")
