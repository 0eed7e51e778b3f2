"""procedure competence: the receiving level of each procedure (filled from its level) and the
agency codes that alone may receive it, so a desk sees and receives only what it handles

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("procedure") as batch:
        batch.add_column(sa.Column("receiving_level", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("receiving_agencies", sa.JSON(), nullable=True))
    # Until `motcua load` reads the catalogue again, a procedure is received at its own level.
    procedure = sa.table(
        "procedure",
        sa.column("level", sa.String()),
        sa.column("receiving_level", sa.String()),
        sa.column("receiving_agencies", sa.JSON()),
    )
    op.execute(procedure.update().values(receiving_level=procedure.c.level, receiving_agencies=[]))
    with op.batch_alter_table("procedure") as batch:
        batch.alter_column("receiving_level", existing_type=sa.String(length=20), nullable=False)
        batch.alter_column("receiving_agencies", existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("procedure") as batch:
        batch.drop_column("receiving_agencies")
        batch.drop_column("receiving_level")
