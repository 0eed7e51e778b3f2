"""inbox pool index: open unassigned items of an agency and role by due time

The pool part of the inbox (open, unassigned, of the officer's agency and roles) read through the
(agency, role, due) index of all open items and filtered the assignee in the table; PostgreSQL,
which cannot see that open items are mostly unassigned, preferred the (assignee, due) index and
walked every unassigned open item. This index holds exactly the pool, in the page's order, with the
dossier id the counts read, so the page's first rows and the counts come from the index alone.

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from models.migrate import create_index_concurrently, drop_index_concurrently

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POOL = "completed_at IS NULL AND assignee_id IS NULL"


def upgrade() -> None:
    # Built CONCURRENTLY on PostgreSQL: work items are written by every step. INCLUDE is
    # PostgreSQL's only.
    create_index_concurrently(
        "ix_work_item_open_unassigned",
        "work_item",
        ["agency_id", "role", "due_at", "id"],
        postgresql_include=["dossier_id"],
        sqlite_where=sa.text(POOL),
        postgresql_where=sa.text(POOL),
    )


def downgrade() -> None:
    drop_index_concurrently("ix_work_item_open_unassigned", "work_item")
