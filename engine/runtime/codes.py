"""Dossier codes: AGENCYCODE-YYMMDD-NNNN with a per-agency daily sequence, never reused."""

from __future__ import annotations

from datetime import date

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from models import Agency, DossierSequence


def next_dossier_code(session: Session, agency: Agency, local_day: date) -> str:
    """Draw the next number of the agency's day; the row stays locked until the transaction ends.

    The upsert is atomic on both databases, so two desks receiving at the same second get
    consecutive numbers, and a rolled-back receipt gives its number back.
    """
    day = local_day.strftime("%y%m%d")
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(DossierSequence)
        .values(agency_id=agency.id, day=day, last_number=1)
        .on_conflict_do_update(
            index_elements=["agency_id", "day"],
            set_={"last_number": DossierSequence.last_number + 1},
        )
        .returning(DossierSequence.last_number)
    )
    number = session.execute(stmt).scalar_one()
    return f"{agency.code}-{day}-{number:04d}"
