"""dossier search text: a normalised copy of the code and applicant fields (engine/search_text.py),
back-filled in batches, with a trigram index on PostgreSQL; the agencies that hold or held a step of
a dossier they did not receive (dossier_handler, back-filled from the work items); an index of the
dossier list

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")
BATCH = 5000

# A copy of engine/search_text.py as it was when this migration was written: a migration keeps
# writing what it wrote even if the engine's normaliser changes later (a later migration re-fills).
_DIGIT_GAPS = re.compile(r"(?<=\d)[\s.\-]+(?=\d)")
_SPACES = re.compile(r"\s+")


def _normalise(text: str | None) -> str:
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFD", text.lower().replace("đ", "d").replace("Đ", "d"))
    bare = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return _DIGIT_GAPS.sub("", _SPACES.sub(" ", bare).strip())


def _search_text(
    code: str, name: str | None, phone: str | None, id_number: str | None, email: str | None
) -> str:
    number = _normalise(phone).replace(" ", "")
    phones = [number, "0" + number[3:]] if number.startswith("+84") else [number]
    parts = [_normalise(code), _normalise(name), *phones, _normalise(id_number), _normalise(email)]
    return " | ".join(p for p in parts if p)


dossier = sa.table(
    "dossier",
    sa.column("id", sa.Integer()),
    sa.column("code", sa.String()),
    sa.column("applicant_name", sa.String()),
    sa.column("applicant_phone", sa.String()),
    sa.column("applicant_id_number", sa.String()),
    sa.column("applicant_email", sa.String()),
    sa.column("search_text", sa.Text()),
)


def _backfill(bind: sa.Connection) -> None:
    """Fill the column for existing dossiers, BATCH rows at a time in id order."""
    last = 0
    while True:
        rows = bind.execute(
            sa.select(
                dossier.c.id,
                dossier.c.code,
                dossier.c.applicant_name,
                dossier.c.applicant_phone,
                dossier.c.applicant_id_number,
                dossier.c.applicant_email,
            )
            .where(dossier.c.id > last)
            .order_by(dossier.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        bind.execute(
            sa.update(dossier)
            .where(dossier.c.id == sa.bindparam("row_id"))
            .values(search_text=sa.bindparam("text")),
            [{"row_id": r[0], "text": _search_text(*r[1:])} for r in rows],
        )
        last = rows[-1][0]


def _trigram_schema(bind: sa.Connection) -> str | None:
    """The schema of pg_trgm, created in public if missing; None when it cannot be created."""
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
    except sa.exc.DBAPIError as exc:
        log.warning(
            "pg_trgm cannot be created (%s); dossier search gets a btree prefix index instead, "
            "and a search for part of a name scans",
            str(exc.orig).strip().splitlines()[0],
        )
        return None
    return bind.execute(
        sa.text(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
            "WHERE e.extname = 'pg_trgm'"
        )
    ).scalar_one()


def upgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("dossier") as batch:
        batch.add_column(sa.Column("search_text", sa.Text(), nullable=True))
    _backfill(bind)
    with op.batch_alter_table("dossier") as batch:
        batch.create_index("ix_dossier_agency_status_received", ["agency_id", "status", "received_at", "id"])
    op.create_table(
        "dossier_handler",
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("dossier_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_dossier_handler_agency_id_agency")
        ),
        sa.ForeignKeyConstraint(
            ["dossier_id"], ["dossier.id"], name=op.f("fk_dossier_handler_dossier_id_dossier")
        ),
        sa.PrimaryKeyConstraint("agency_id", "dossier_id", name=op.f("pk_dossier_handler")),
    )
    # Every agency that holds or held a step of a dossier it did not receive.
    op.execute(
        "INSERT INTO dossier_handler (agency_id, dossier_id) "
        "SELECT DISTINCT w.agency_id, w.dossier_id FROM work_item w JOIN dossier d ON d.id = w.dossier_id "
        "WHERE w.agency_id <> d.agency_id"
    )
    if bind.dialect.name != "postgresql":
        op.create_index("ix_dossier_search_text", "dossier", ["search_text"])
        return
    schema = _trigram_schema(bind)
    if schema is None:
        op.create_index(
            "ix_dossier_search_text",
            "dossier",
            ["search_text"],
            postgresql_ops={"search_text": "text_pattern_ops"},
        )
    else:
        op.create_index(
            "ix_dossier_search_text",
            "dossier",
            ["search_text"],
            postgresql_using="gin",
            postgresql_ops={"search_text": f"{schema}.gin_trgm_ops"},
        )


def downgrade() -> None:
    op.drop_index("ix_dossier_search_text", table_name="dossier")
    op.drop_table("dossier_handler")
    with op.batch_alter_table("dossier") as batch:
        batch.drop_index("ix_dossier_agency_status_received")
        batch.drop_column("search_text")
