"""The printed forms of a dossier (TT 03/2025/TT-VPCP, Phụ lục I): number, title, issuing agency,
signer and the moment each was issued.

Every form carries the place name and the date it was issued, never the date it is printed, so a
form printed again a month later is the same paper: the receipt is dated when the dossier was
received (or received again complete after a supplement, when a new receipt is issued), the
supplement slip when the supplement was requested, the refusal slip when the dossier was refused,
the stop notice when the dossier was withdrawn, the control sheet at its latest entry. Form 04
(apology letter) is read by `engine.runtime.apology.letter_form`, form 07 (register) by
`engine.statistics.register`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy.orm import Session

from engine.catalogue.procedure_model import ROLE_LABELS
from engine.context import Context
from engine.errors import NotFound
from engine.runtime.dossier_views import DossierView, dossier_view
from engine.usecase import active_officer, reading
from models import Agency, DossierEvent, Suspension, UnitOfWork

FORM_TITLES = {
    "01": "Giấy tiếp nhận hồ sơ và hẹn trả kết quả",
    "02": "Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ",
    "03": "Phiếu từ chối tiếp nhận giải quyết hồ sơ",
    "04": "Văn bản xin lỗi và đề nghị gia hạn thời gian giải quyết",
    "05": "Thông báo dừng giải quyết hồ sơ",
    "06": "Phiếu kiểm soát quá trình giải quyết hồ sơ",
    "07": "Sổ theo dõi hồ sơ",
}
BLANK_PLACE = "……………"


def form_number(form: str) -> str:
    """'Mẫu số 05' for form '05'."""
    return f"Mẫu số {form}"


def place_date_line(place: str, moment: datetime | None, tz: tzinfo) -> str:
    """'<place>, ngày 05 tháng 3 năm 2026': the date line of a form, in the office's timezone.

    Written as NĐ 30/2020/NĐ-CP asks: a zero before days under 10 and before months 1 and 2. A form
    not issued yet (a draft) gets dotted blanks instead of a date; an unset place a dotted blank.
    """
    where = (place or "").strip() or BLANK_PLACE
    if moment is None:
        return f"{where}, ngày …… tháng …… năm ………"
    day = moment.astimezone(tz).date()
    month = f"{day.month:02d}" if day.month < 3 else str(day.month)
    return f"{where}, ngày {day.day:02d} tháng {month} năm {day.year}"


@dataclass(frozen=True)
class Signer:
    """Who signs a form: the title printed above the signature and the name below it."""

    title: str
    name: str


@dataclass(frozen=True)
class DossierForm:
    """What a printed form of a dossier carries besides the dossier itself."""

    form: str
    number: str
    title: str
    parent_agency_name: str | None  # cơ quan chủ quản, top left
    agency_name: str  # the issuing agency, top left
    issued_at: datetime
    signer: Signer | None = None
    # Form 01 issued again when the complete supplement arrived, and the appointment it gave.
    reissued: bool = False
    appointment_at: datetime | None = None
    # Form 02: the supplement request printed.
    supplement: Suspension | None = None
    # Form 03: the reasons.
    reason: str | None = None


def _latest(events: list[DossierEvent], *kinds: str) -> DossierEvent | None:
    found = [e for e in events if e.kind in kinds]
    return found[-1] if found else None


def _parse(text: object) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None


def dossier_form(session: Session, view: DossierView, form: str) -> DossierForm:
    """Form 01, 02, 03, 05 or 06 of a dossier as issued; NotFound when the dossier never issued it."""
    dossier = view.dossier
    agency = view.agency
    parent = agency.parent.name if agency.parent else None
    officers = view.officers
    common: dict[str, Any] = {"form": form, "number": form_number(form), "title": FORM_TITLES[form]}
    if form == "01":
        # After a complete supplement the desk issues a new receipt with the new appointment.
        event = _latest(view.events, "received", "supplement_received")
        issued = event.at if event is not None else dossier.received_at
        appointment = _parse(event.payload.get("due_at")) if event is not None else None
        return DossierForm(
            **common,
            parent_agency_name=parent,
            agency_name=agency.name,
            issued_at=issued,
            signer=Signer("Người tiếp nhận hồ sơ", officers.get(dossier.received_by_id, "")),
            reissued=event is not None and event.kind == "supplement_received",
            appointment_at=appointment or dossier.appointment_at or dossier.due_at,
        )
    if form == "02":
        requests = [s for s in view.suspensions if s.kind == "supplement"]
        if not requests:
            raise NotFound(f"Hồ sơ {dossier.code} chưa có yêu cầu bổ sung, hoàn thiện hồ sơ.")
        request = requests[-1]
        return DossierForm(
            **common,
            parent_agency_name=parent,
            agency_name=agency.name,
            issued_at=request.started_at,
            signer=Signer("Người hướng dẫn", officers.get(request.started_by_id, "")),
            supplement=request,
        )
    if form == "03":
        event = _latest(view.events, "refused")
        if event is None or not dossier.refusal_reason:
            raise NotFound(f"Hồ sơ {dossier.code} không bị từ chối.")
        # The agency that refused signs: the agency of the step completed with the refusal.
        step = next(
            (
                i
                for i in reversed(view.items)
                if i.outcome == "refuse" and i.completed_by_id == event.officer_id
            ),
            None,
        )
        refusing = session.get_one(Agency, step.agency_id) if step is not None else agency
        title = ROLE_LABELS.get(step.role, "Người ký") if step is not None else "Người tiếp nhận hồ sơ"
        return DossierForm(
            **common,
            parent_agency_name=refusing.parent.name if refusing.parent else None,
            agency_name=refusing.name,
            issued_at=event.at,
            signer=Signer(title, officers.get(event.officer_id, "")),
            reason=dossier.refusal_reason,
        )
    if form == "05":
        event = _latest(view.events, "withdrawn")
        if dossier.status != "withdrawn" or dossier.finished_at is None:
            raise NotFound(f"Hồ sơ {dossier.code} không dừng giải quyết.")
        return DossierForm(
            **common,
            parent_agency_name=parent,
            agency_name=agency.name,
            issued_at=dossier.finished_at,
            signer=Signer("Người tiếp nhận hồ sơ", officers.get(event.officer_id, "") if event else ""),
        )
    if form == "06":
        entries = [dossier.received_at]
        for row in view.sheet:
            entries.append(row.completed_at or row.received_at)
        return DossierForm(
            **common, parent_agency_name=parent, agency_name=agency.name, issued_at=max(entries)
        )
    raise NotFound(f"Không có mẫu số {form} cho hồ sơ.")


def printed_dossier_form(
    ctx: Context, officer_id: int, code: str, form: str, *, uow: UnitOfWork | None = None
) -> tuple[DossierView, DossierForm]:
    """A dossier's form to print, as issued, for an officer allowed to see the dossier."""
    if form not in FORM_TITLES:
        raise NotFound(f"Không có mẫu số {form}.")
    with reading(ctx, uow) as session:
        view = dossier_view(ctx, session, active_officer(session, officer_id), code)
        return view, dossier_form(session, view, form)
