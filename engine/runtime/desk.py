"""What the one-stop desk (Bộ phận Một cửa) reads: its worklist, the receive form with the chosen
procedure's document checklist, and a dossier it received. Each read is for desk officers only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from engine.catalogue.competence import may_receive
from engine.catalogue.procedures import CatalogueEntry, procedure_by_code, procedure_catalogue
from engine.context import Context
from engine.errors import Forbidden, NotFound
from engine.formatting import legal_time
from engine.runtime.dossier_views import DossierView, desk_worklist, dossier_view
from engine.runtime.dossiers import legal_due
from engine.usecase import active_officer, reading, require_aware
from models import Dossier, Officer, Procedure, UnitOfWork


@dataclass(frozen=True)
class DeskPage:
    """The desk's worklist: results to hand over and dossiers waiting for a supplement."""

    ready: list[Dossier]
    waiting: list[Dossier]


@dataclass(frozen=True)
class AppointmentPreview:
    """The appointment a dossier of the chosen procedure would get if received now."""

    procedure_code: str
    legal_time: str  # as the law states it: "Trong ngày", "10 ngày làm việc"
    counting_from: datetime  # the cut-off rule: after 15:00 the clock starts the next working day
    appointment_at: datetime


@dataclass(frozen=True)
class ReceiveForm:
    """What the receive form offers: the procedures the desk may receive, the chosen one's checklist
    and, given the moment, its appointment."""

    procedures: list[CatalogueEntry]
    documents: list[str]
    preview: AppointmentPreview | None = None


def _desk_officer(session: Session, officer_id: int) -> Officer:
    officer = active_officer(session, officer_id)
    if not officer.has_role("desk"):
        raise Forbidden("Chức năng này dành cho cán bộ Bộ phận Một cửa")
    return officer


def _receivable(session: Session, officer: Officer, procedure_code: str | None) -> Procedure | None:
    """The chosen procedure when the officer's desk may receive it, else None."""
    if not procedure_code:
        return None
    try:
        procedure = procedure_by_code(session, procedure_code)
    except NotFound:
        return None
    return procedure if may_receive(procedure, officer.agency) else None


def _checklist(session: Session, officer: Officer, procedure_code: str | None) -> list[str]:
    procedure = _receivable(session, officer, procedure_code)
    return list(procedure.required_documents or []) if procedure is not None else []


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
    """The documents the chosen procedure requires (empty for no, an unknown or another desk's procedure)."""
    with reading(ctx, uow) as session:
        officer = _desk_officer(session, officer_id)
        return _checklist(session, officer, procedure_code)


def appointment_preview(
    ctx: Context, officer_id: int, procedure_code: str | None, now: datetime, *, uow: UnitOfWork | None = None
) -> AppointmentPreview | None:
    """The appointment of a dossier of the chosen procedure received now (None without a procedure the
    desk may receive): the same legal due time receiving computes."""
    require_aware(now)
    with reading(ctx, uow) as session:
        officer = _desk_officer(session, officer_id)
        return _preview(ctx, _receivable(session, officer, procedure_code), now)


def _preview(ctx: Context, procedure: Procedure | None, now: datetime) -> AppointmentPreview | None:
    if procedure is None:
        return None
    return AppointmentPreview(
        procedure_code=procedure.code,
        legal_time=legal_time(
            float(procedure.legal_time_value), procedure.legal_time_unit, ctx.calendar.hours_per_day
        ),
        counting_from=ctx.calendar.counting_start(now),
        appointment_at=legal_due(ctx, procedure, now),
    )


def receive_form(
    ctx: Context,
    officer_id: int,
    procedure_code: str | None,
    *,
    now: datetime | None = None,
    uow: UnitOfWork | None = None,
) -> ReceiveForm:
    """The procedures the officer's desk may receive, the chosen one's checklist and, with `now`, the
    appointment a dossier of it received now would get."""
    with reading(ctx, uow) as session:
        officer = _desk_officer(session, officer_id)
        procedure = _receivable(session, officer, procedure_code)
        return ReceiveForm(
            procedure_catalogue(session, receiving_agency=officer.agency),
            list(procedure.required_documents or []) if procedure is not None else [],
            _preview(ctx, procedure, require_aware(now)) if now is not None else None,
        )


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
