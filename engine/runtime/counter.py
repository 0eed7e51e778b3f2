"""Forms 02 and 03 at the counter, before a dossier is accepted (NĐ 61 Đ15; TT 03/2025).

The desk officer checks the documents against the procedure's list. When they are incomplete the
applicant gets, at once and without a dossier being received, a supplement slip listing every
missing document (form 02); when the request cannot be accepted, a refusal slip with the reasons
(form 03). Either slip is recorded, printable again and counted per agency and period, and no
dossier code is drawn: the agency's dossier sequence is untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.catalogue.procedures import procedure_by_code
from engine.context import Context
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from engine.runtime.dossiers import Applicant, check_text, validate_applicant
from engine.runtime.forms import form_number
from engine.usecase import active_officer, reading, require_aware, use_case
from models import Agency, CounterSlip, Officer, Procedure, UnitOfWork
from models.counter import COUNTER_SLIP_KINDS, COUNTER_SLIP_LABELS

# The form each kind of slip is printed on.
SLIP_FORMS = {"supplement": "02", "refusal": "03"}


@dataclass(frozen=True)
class IssuedSlip:
    """The slip just issued (or, for a repeated submission, the one issued the first time)."""

    id: int
    kind: str
    issued_at: datetime
    repeated: bool = False


def issue_counter_slip(
    ctx: Context,
    *,
    kind: str,
    procedure_code: str,
    applicant: Applicant,
    missing: list[str],
    reason: str,
    officer_id: int,
    now: datetime,
    submission_key: str | None = None,
) -> IssuedSlip:
    """Issue a supplement slip (form 02) or a refusal slip (form 03) at the counter, without a dossier.

    A supplement slip lists every missing document at once and the reason; a refusal slip gives the
    reasons. `submission_key` makes a repeated submission of the same desk form return the first slip.
    """
    require_aware(now)
    if kind not in COUNTER_SLIP_KINDS:
        raise InvalidInput(
            "Chọn loại phiếu: yêu cầu bổ sung (Mẫu 02) hoặc từ chối tiếp nhận (Mẫu 03)", "kind"
        )
    if not procedure_code or not procedure_code.strip():
        raise InvalidInput("Chọn thủ tục hành chính", "procedure_code")
    validate_applicant(applicant)
    check_text(reason, "reason")
    for entry in missing or []:
        check_text(entry, "missing")
    check_text(submission_key, "submission_key")
    documents = [m.strip() for m in missing or [] if m and m.strip()]
    if kind == "supplement" and not documents:
        raise InvalidInput(
            "Liệt kê đầy đủ một lần các giấy tờ còn thiếu hoặc chưa đúng cần bổ sung, hoàn thiện", "missing"
        )
    if not reason or not reason.strip():
        field_name = "lý do yêu cầu bổ sung" if kind == "supplement" else "lý do từ chối tiếp nhận"
        raise InvalidInput(f"Nêu rõ {field_name}", "reason")
    with use_case(ctx, f"Phát hành {COUNTER_SLIP_LABELS[kind].lower()} tại quầy") as uow:
        session = uow.session
        officer = active_officer(session, officer_id)
        if not officer.has_role("desk"):
            raise Forbidden("Chỉ cán bộ Bộ phận Một cửa mới được phát hành phiếu tại quầy")
        if submission_key:
            earlier = session.scalars(
                select(CounterSlip).where(CounterSlip.submission_key == submission_key)
            ).first()
            if earlier is not None and earlier.agency_id == officer.agency_id:
                return IssuedSlip(earlier.id, earlier.kind, earlier.issued_at, repeated=True)
            if earlier is not None:
                raise Conflict("Mã gửi biểu mẫu đã được dùng; vui lòng tải lại biểu mẫu")
        try:
            procedure = procedure_by_code(session, procedure_code.strip())
        except NotFound as exc:
            raise InvalidInput(exc.message, "procedure_code") from exc
        slip = CounterSlip(
            kind=kind,
            agency_id=officer.agency_id,
            procedure_id=procedure.id,
            applicant_name=applicant.name.strip(),
            applicant_id_number=applicant.id_number,
            applicant_phone=applicant.phone,
            applicant_email=applicant.email,
            applicant_address=applicant.address,
            missing=documents if kind == "supplement" else [],
            reason=reason.strip(),
            issued_at=now,
            issued_by_id=officer.id,
            submission_key=submission_key or None,
        )
        session.add(slip)
        session.flush()
        issued = IssuedSlip(slip.id, slip.kind, now)
        uow.commit()
    return issued


@dataclass(frozen=True)
class CounterSlipForm:
    """A counter slip as printed: the heading fields every form shares, then its content."""

    id: int
    kind: str
    form: str
    number: str
    title: str
    parent_agency_name: str | None
    agency_name: str
    issued_at: datetime
    procedure_code: str
    procedure_name: str
    required_documents: list[str]
    applicant_name: str
    applicant_address: str | None
    applicant_phone: str | None
    applicant_email: str | None
    missing: list[str]
    reason: str
    signer_name: str


def counter_slip_form(
    ctx: Context, officer_id: int, slip_id: int, *, uow: UnitOfWork | None = None
) -> CounterSlipForm:
    """A counter slip to print, for an officer of the agency that issued it."""
    with reading(ctx, uow) as session:
        return _slip_form(session, active_officer(session, officer_id), slip_id)


def _slip_form(session: Session, officer: Officer, slip_id: int) -> CounterSlipForm:
    slip = session.get(CounterSlip, slip_id)
    if slip is None:
        raise NotFound(f"Không tìm thấy phiếu số {slip_id}")
    if slip.agency_id != officer.agency_id:
        raise Forbidden("Phiếu này do cơ quan khác phát hành")
    agency = session.get_one(Agency, slip.agency_id)
    procedure = session.get_one(Procedure, slip.procedure_id)
    form = SLIP_FORMS[slip.kind]
    return CounterSlipForm(
        id=slip.id,
        kind=slip.kind,
        form=form,
        number=form_number(form),
        title=COUNTER_SLIP_LABELS[slip.kind],
        parent_agency_name=agency.parent.name if agency.parent else None,
        agency_name=agency.name,
        issued_at=slip.issued_at,
        procedure_code=procedure.code,
        procedure_name=procedure.name,
        required_documents=list(procedure.required_documents or []),
        applicant_name=slip.applicant_name,
        applicant_address=slip.applicant_address,
        applicant_phone=slip.applicant_phone,
        applicant_email=slip.applicant_email,
        missing=list(slip.missing or []),
        reason=slip.reason,
        signer_name=session.get_one(Officer, slip.issued_by_id).full_name,
    )


@dataclass(frozen=True)
class CounterSlipLine:
    """One slip in the desk's list of recent slips."""

    id: int
    kind: str
    issued_at: datetime
    applicant_name: str
    procedure_code: str


def recent_counter_slips(
    ctx: Context, officer_id: int, *, limit: int = 10, uow: UnitOfWork | None = None
) -> list[CounterSlipLine]:
    """The latest counter slips of the officer's agency, newest first (to print one again)."""
    with reading(ctx, uow) as session:
        agency_id = active_officer(session, officer_id).agency_id
        rows = session.execute(
            select(
                CounterSlip.id,
                CounterSlip.kind,
                CounterSlip.issued_at,
                CounterSlip.applicant_name,
                Procedure.code,
            )
            .join(Procedure, Procedure.id == CounterSlip.procedure_id)
            .where(CounterSlip.agency_id == agency_id)
            .order_by(CounterSlip.issued_at.desc(), CounterSlip.id.desc())
            .limit(limit)
        )
        return [CounterSlipLine(*row) for row in rows]
