"""Dossier codes: AGENCYCODE-YYMMDD-NNNN with a per-agency daily sequence, never reused."""

from __future__ import annotations

import functools
from datetime import date
from typing import Any, cast

from sqlalchemy import Table, bindparam, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from models import Agency, Dossier, DossierSequence
from models.prepared import Prepared


@functools.cache
def _draw(dialect: str, reserve_id: bool) -> Prepared:
    """The upsert that draws the next number, a prepared statement built once per process and
    dialect; with `reserve_id` (PostgreSQL) it also takes the next id of the dossier table's sequence."""
    table = cast(Table, cast(Any, DossierSequence).__table__)
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    returned: list[Any] = [table.c.last_number]
    if reserve_id:
        dossiers = cast(Table, cast(Any, Dossier).__table__)
        returned.append(func.nextval(func.pg_get_serial_sequence(dossiers.name, dossiers.c.id.name)))
    return Prepared(
        insert(table)
        .values(agency_id=bindparam("agency_id"), day=bindparam("day"), last_number=1)
        .on_conflict_do_update(
            index_elements=["agency_id", "day"],
            set_={"last_number": table.c.last_number + 1},
        )
        .returning(*returned)
    )


def next_dossier_code(session: Session, agency: Agency, local_day: date) -> str:
    """Draw the next number of the agency's day; the row stays locked until the transaction ends.

    The upsert is atomic on both databases, so two desks receiving at the same second get
    consecutive numbers, and a rolled-back receipt gives its number back.
    """
    return next_dossier_code_and_id(session, agency, local_day, reserve_id=False)[0]


def next_dossier_code_and_id(
    session: Session, agency: Agency, local_day: date, *, reserve_id: bool = True
) -> tuple[str, int | None]:
    """The next dossier code as `next_dossier_code` draws it and, on PostgreSQL, the new dossier's id
    taken from its sequence in the same statement (None elsewhere: the insert gives it)."""
    day = local_day.strftime("%y%m%d")
    conn = session.connection()
    dialect = conn.dialect.name
    reserve = reserve_id and dialect == "postgresql"
    (row,) = _draw(dialect, reserve).rows(conn, {"agency_id": agency.id, "day": day})
    return f"{agency.code}-{day}-{row[0]:04d}", (row[1] if reserve else None)
