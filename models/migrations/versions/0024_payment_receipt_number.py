"""payment receipt numbers: an index so the desk can refuse a receipt number its agency already used

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

from collections.abc import Sequence

from models.migrate import create_index_concurrently, drop_index_concurrently

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_index_concurrently("ix_payment_receipt_number", "payment", ["receipt_number"])


def downgrade() -> None:
    drop_index_concurrently("ix_payment_receipt_number", "payment")
