"""Who may see what: a dossier is visible to the agency that received it and to every agency
that holds or held one of its steps; a work item is actionable by its agency's role holders."""

from __future__ import annotations

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.orm import Session

from engine.errors import Forbidden
from models import Dossier, Officer, WorkItem
from models.dossier import DossierHandler


def can_view_dossier(session: Session, officer: Officer, dossier: Dossier) -> bool:
    """Whether the officer's agency received the dossier or took part in it."""
    if officer.agency_id == dossier.agency_id:
        return True
    return bool(
        session.scalar(
            select(exists().where(WorkItem.dossier_id == dossier.id, WorkItem.agency_id == officer.agency_id))
        )
    )


def visible_to_agency_sql(agency_id: int) -> ColumnElement[bool]:
    """SQL: the agency received the dossier or holds or held one of its steps (the rule above)."""
    took_part = exists().where(WorkItem.dossier_id == Dossier.id, WorkItem.agency_id == agency_id)
    return (Dossier.agency_id == agency_id) | took_part


def visible_parts_sql(agency_id: int) -> list[ColumnElement[bool]]:
    """The same rule as two disjoint SQL conditions, each read from an index: the agency's receipts,
    and the dossiers of other agencies it holds or held a step of (`DossierHandler`, kept by
    `note_handler` whenever a step opens). Lists query each part apart and merge them."""
    handled = select(DossierHandler.dossier_id).where(DossierHandler.agency_id == agency_id)
    return [Dossier.agency_id == agency_id, Dossier.id.in_(handled)]


def note_handler(session: Session, dossier: Dossier, agency_id: int) -> None:
    """Record that an agency other than the receiving one holds a step of the dossier (once)."""
    if agency_id == dossier.agency_id:
        return
    key = (agency_id, dossier.id)
    pending = any(isinstance(o, DossierHandler) and (o.agency_id, o.dossier_id) == key for o in session.new)
    if not pending and session.get(DossierHandler, key) is None:
        session.add(DossierHandler(agency_id=agency_id, dossier_id=dossier.id))


def visible_dossier_ids(session: Session, officer: Officer, dossier_ids: list[int]) -> set[int]:
    """Which of these dossiers the officer may open (one query for a whole list)."""
    if not dossier_ids:
        return set()
    return set(
        session.scalars(
            select(Dossier.id).where(Dossier.id.in_(dossier_ids), visible_to_agency_sql(officer.agency_id))
        )
    )


def require_view(session: Session, officer: Officer, dossier: Dossier) -> None:
    """Refuse officers of agencies that have nothing to do with the dossier."""
    if not can_view_dossier(session, officer, dossier):
        raise Forbidden(f"Hồ sơ {dossier.code} không thuộc cơ quan của ông/bà.")


def require_view_item(officer: Officer, item: WorkItem) -> None:
    """Refuse a work item of another agency."""
    if item.agency_id != officer.agency_id:
        raise Forbidden("Bước xử lý này thuộc cơ quan khác.")
