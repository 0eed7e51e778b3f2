"""Who may see what: a dossier is visible to the agency that received it and to every agency
that holds or held one of its steps; a work item is actionable by its agency's role holders."""

from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from engine.errors import Forbidden
from models import Dossier, Officer, WorkItem


def can_view_dossier(session: Session, officer: Officer, dossier: Dossier) -> bool:
    """Whether the officer's agency received the dossier or took part in it."""
    if officer.agency_id == dossier.agency_id:
        return True
    return bool(
        session.scalar(
            select(exists().where(WorkItem.dossier_id == dossier.id, WorkItem.agency_id == officer.agency_id))
        )
    )


def visible_dossier_ids(session: Session, officer: Officer, dossier_ids: list[int]) -> set[int]:
    """Which of these dossiers the officer may open (one query for a whole list)."""
    if not dossier_ids:
        return set()
    took_part = exists().where(WorkItem.dossier_id == Dossier.id, WorkItem.agency_id == officer.agency_id)
    return set(
        session.scalars(
            select(Dossier.id).where(
                Dossier.id.in_(dossier_ids), (Dossier.agency_id == officer.agency_id) | took_part
            )
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
