"""What the one-stop desk (Bộ phận Một cửa) reads: its worklist, the receive form with the chosen
procedure's document checklist, and a dossier it received. Each read is for desk officers only."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from engine.catalogue.procedures import CatalogueEntry, procedure_by_code, procedure_catalogue
from engine.context import Context
from engine.errors import Forbidden, NotFound
from engine.runtime.dossier_views import DossierView, desk_worklist, dossier_view
from engine.usecase import active_officer, reading
from models import Dossier, Officer, UnitOfWork


@dataclass(frozen=True)
class DeskPage:
    """The desk's worklist: results to hand over and dossiers waiting for a supplement."""

    ready: list[Dossier]
    waiting: list[Dossier]


@dataclass(frozen=True)
class ReceiveForm:
    """What the receive form offers: the catalogue, and the checklist of the chosen procedure."""

    procedures: list[CatalogueEntry]
    documents: list[str]


def _desk_officer(session: Session, officer_id: int) -> Officer:
    officer = active_officer(session, officer_id)
    if not officer.has_role("desk"):
        raise Forbidden("Chức năng này dành cho cán bộ Bộ phận Một cửa")
    return officer


def _checklist(session: Session, procedure_code: str | None) -> list[str]:
    if not procedure_code:
        return []
    try:
        procedure = procedure_by_code(session, procedure_code)
    except NotFound:
        return []
    return list(procedure.required_documents or [])


def desk_page(ctx: Context, officer_id: int, *, uow: UnitOfWork | None = None) -> DeskPage:
    """The worklist of the officer's desk, by due time."""
    with reading(ctx, uow) as session:
        officer = _desk_officer(session, officer_id)
        return DeskPage(
            ready=desk_worklist(session, officer.agency_id, "result_ready"),
            waiting=desk_worklist(session, officer.agency_id, "supplement"),
        )


def desk_checklist(
    ctx: Context, officer_id: int, procedure_code: str | None, *, uow: UnitOfWork | None = None
) -> list[str]:
    """The documents the chosen procedure requires (empty for no or an unknown procedure)."""
    with reading(ctx, uow) as session:
        _desk_officer(session, officer_id)
        return _checklist(session, procedure_code)


def receive_form(
    ctx: Context, officer_id: int, procedure_code: str | None, *, uow: UnitOfWork | None = None
) -> ReceiveForm:
    """The procedures a dossier can be received for, and the chosen one's checklist."""
    with reading(ctx, uow) as session:
        _desk_officer(session, officer_id)
        return ReceiveForm(procedure_catalogue(session), _checklist(session, procedure_code))


def desk_dossier(ctx: Context, officer_id: int, code: str, *, uow: UnitOfWork | None = None) -> DossierView:
    """A dossier the officer's desk received (for the supplement, withdrawal and return forms)."""
    with reading(ctx, uow) as session:
        officer = _desk_officer(session, officer_id)
        view = dossier_view(ctx, session, officer, code)
        if view.dossier.agency_id != officer.agency_id:
            raise Forbidden(
                f"Hồ sơ {code} do cơ quan khác tiếp nhận; "
                "chỉ Bộ phận Một cửa nơi tiếp nhận mới xử lý hồ sơ này"
            )
        return view
