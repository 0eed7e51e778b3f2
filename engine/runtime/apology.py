"""Phiếu xin lỗi và hẹn lại ngày trả kết quả (form 04, TT 03/2025): draft, edit, issue, print.

A dossier that will be or is late gets a draft letter for the agency holding it (raised by the
watcher, or by hand), with a proposed new appointment computed from the allotted hours of the
steps still ahead. The head of that agency issues it: the dossier's appointment moves, once
only, and the applicant is notified in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, defer

from engine.calendar import WorkingCalendar
from engine.context import Context
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from engine.formatting import local_time
from engine.notify.notifications import Message, notify_applicant, notify_officers
from engine.runtime import dossiers as svc
from engine.urgency import is_overdue, overdue_sql
from engine.usecase import active_officer, require_aware, use_case
from models import Agency, ApologyLetter, Dossier, Officer, Procedure, WorkItem

SIGNER_TITLE = "Thủ trưởng cơ quan"
FORM_TITLE = "VĂN BẢN XIN LỖI VÀ ĐỀ NGHỊ GIA HẠN THỜI GIAN GIẢI QUYẾT"
FORM_NUMBER = "Mẫu số 04"


# ---------------------------------------------------------------------------
# what is left to do: the remaining allotted hours along the longest remaining path


@dataclass(frozen=True)
class RemainingPlan:
    """How much allotted time a dossier still needs, who holds it, and the appointment it allows."""

    hours: float  # allotted working hours still needed (open steps' rest + the steps after them)
    available: float  # working hours until the current due time (0 when overdue)
    holder_agency_id: int
    holder_items: tuple[WorkItem, ...]
    step_name: str | None
    proposed_due: datetime

    @property
    def cannot_finish(self) -> bool:
        """Whether the remaining steps cannot finish by the due time at their allotments."""
        return self.hours > self.available


def remaining_plan(ctx: Context, session: Session, dossier: Dossier, now: datetime) -> RemainingPlan:
    """The remaining allotted hours of a dossier from `now` and the new appointment they give."""
    cal = ctx.calendar
    tails = svc.compiled_process(ctx, session, dossier.process_version_id).model.hours_after
    items = [i for i in svc.open_items(session, dossier) if i.kind != "supplement"]
    best_hours, critical = 0.0, None
    for item in items:
        own = cal.working_hours_between(now, item.due_at) if item.counted and item.due_at else 0.0
        hours = own + tails.get(item.task_id, 0.0)
        if critical is None or hours > best_hours:
            best_hours, critical = hours, item
    holder = critical.agency_id if critical is not None else dossier.agency_id
    available = cal.working_hours_between(now, dossier.due_at) if dossier.due_at else 0.0
    proposed = cal.add_working_hours(now, best_hours)
    floor = max(now, dossier.due_at) if dossier.due_at else now
    if proposed <= floor:
        # Nothing allotted is left (the last counted step is late): give it one more working day.
        proposed = cal.add_working_hours(floor, float(ctx.settings.hours_per_day))
    return RemainingPlan(
        hours=round(best_hours, 2),
        available=round(available, 2),
        holder_agency_id=holder,
        holder_items=tuple(i for i in items if i.agency_id == holder),
        step_name=critical.task_name if critical is not None else None,
        proposed_due=proposed,
    )


def agency_at_fault(
    calendar: WorkingCalendar, session: Session, dossier: Dossier, now: datetime, holder_agency_id: int
) -> int:
    """The agency whose steps overran their allotments the most (working hours); the holder when none has."""
    overrun: dict[int, float] = {}
    for item in session.scalars(
        select(WorkItem).where(WorkItem.dossier_id == dossier.id, WorkItem.counted.is_(True))
    ):
        if item.kind is not None or item.due_at is None:
            continue
        end = item.completed_at or now
        if end > item.due_at:
            hours = calendar.working_hours_between(item.due_at, end)
            overrun[item.agency_id] = overrun.get(item.agency_id, 0.0) + hours
    if not overrun:
        return holder_agency_id
    return max(overrun, key=lambda agency_id: (overrun[agency_id], agency_id == holder_agency_id))


def needs_apology(dossier: Dossier, plan: RemainingPlan, now: datetime) -> bool:
    """Whether the dossier is late or projected late, so that a letter is due (or may be drafted)."""
    late = dossier.late_at is not None or is_overdue(dossier.due_at, now)
    return late or plan.cannot_finish


# ---------------------------------------------------------------------------
# drafting


def _default_reason(plan: RemainingPlan, agency: Agency) -> str:
    step = f" «{plan.step_name}»" if plan.step_name else ""
    return (
        f"Hồ sơ đang được giải quyết ở bước{step} tại {agency.name}; thời gian còn lại không đủ để "
        "hoàn thành các bước còn lại theo quy trình nội bộ."
    )


def _apology_text(agency: Agency) -> str:
    return (
        "Sự chậm trễ này đã gây phiền hà cho Ông/Bà. "
        f"{agency.name} xin lỗi Ông/Bà và sẽ trả kết quả giải quyết hồ sơ vào thời gian hẹn lại dưới đây."
    )


def draft_in(
    ctx: Context,
    session: Session,
    dossier: Dossier,
    now: datetime,
    *,
    plan: RemainingPlan | None = None,
    officer_id: int | None = None,
    reason: str | None = None,
) -> tuple[ApologyLetter, bool]:
    """The dossier's letter, drafted now if it has none: (letter, created), in the caller's transaction."""
    plan = plan or remaining_plan(ctx, session, dossier, now)
    fault_id = agency_at_fault(ctx.calendar, session, dossier, now, plan.holder_agency_id)
    agency = session.get_one(Agency, fault_id)
    letter = _letter_of(session, dossier.id)
    if letter is not None:
        if letter.status == "issued":
            return letter, False
        if letter.deadline_version != dossier.deadline_version and letter.status == "draft":
            # The deadline changed (e.g. restarted after a supplement): refresh the untouched draft.
            letter.agency_id = agency.id
            letter.holder_agency_id = plan.holder_agency_id
            letter.original_due_at = dossier.appointment_at or dossier.due_at  # type: ignore[assignment]
            letter.proposed_due_at = letter.new_due_at = plan.proposed_due
            letter.deadline_version = dossier.deadline_version
            letter.remaining_hours = plan.hours
            letter.reason = _default_reason(plan, agency)
            letter.apology_text = _apology_text(agency)
        return letter, False
    values = {
        "dossier_id": dossier.id,
        "agency_id": agency.id,
        "holder_agency_id": plan.holder_agency_id,
        "status": "draft",
        "reason": (reason or "").strip() or _default_reason(plan, agency),
        "apology_text": _apology_text(agency),
        "original_due_at": dossier.appointment_at or dossier.due_at,
        "proposed_due_at": plan.proposed_due,
        "new_due_at": plan.proposed_due,
        "deadline_version": dossier.deadline_version,
        "remaining_hours": plan.hours,
        "created_at": now,
        "created_by_id": officer_id,
    }
    # Two schedulers drafting at once: the unique dossier_id lets one insert win quietly.
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    new_id = session.execute(
        insert(ApologyLetter)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["dossier_id"])
        .returning(ApologyLetter.id)
    ).scalar_one_or_none()
    letter = _letter_of(session, dossier.id)
    if new_id is not None:
        svc.record_event(
            session,
            dossier,
            "apology_drafted",
            officer_id,
            now,
            letter_id=letter.id,  # type: ignore[union-attr]
            agency_id=agency.id,
            proposed_due_at=plan.proposed_due.isoformat(),
            remaining_hours=plan.hours,
        )
    return letter, new_id is not None  # type: ignore[return-value]


def create_draft_apology(
    ctx: Context,
    dossier_code: str,
    officer_id: int,
    now: datetime,
    *,
    reason: str | None = None,
    new_due: datetime | None = None,
) -> int:
    """Draft the letter by hand (or return the dossier's existing draft); returns the letter id."""
    require_aware(now)
    if new_due is not None:
        require_aware(new_due, "new_due")
    with use_case(ctx, "lập phiếu xin lỗi") as uow:
        session = uow.session
        officer = active_officer(session, officer_id)
        dossier = svc.dossier_by_code(session, dossier_code)
        holders = {dossier.agency_id} | {i.agency_id for i in svc.open_items(session, dossier)}
        if officer.agency_id not in holders:
            raise Forbidden(
                "Chỉ cơ quan tiếp nhận hoặc cơ quan đang giải quyết hồ sơ mới lập được phiếu xin lỗi"
            )
        if dossier.status not in ("processing", "supplement"):
            raise Conflict(f"Hồ sơ {dossier.code} đã giải quyết xong, không cần phiếu xin lỗi")
        if dossier.appointment_moved_at is not None:
            raise Conflict(f"Hồ sơ {dossier.code} đã được hẹn lại một lần; không thể lập phiếu xin lỗi mới")
        plan = remaining_plan(ctx, session, dossier, now)
        if not needs_apology(dossier, plan, now):
            raise InvalidInput(
                f"Hồ sơ {dossier.code} chưa quá hạn và các bước còn lại vẫn kịp hoàn thành trước hạn giải "
                f"quyết ({local_time(dossier.due_at, ctx.calendar.tz)}); chưa cần phiếu xin lỗi",
                "dossier",
            )
        letter, _created = draft_in(
            ctx, session, dossier, now, plan=plan, officer_id=officer.id, reason=reason
        )
        if letter.status == "issued":
            raise Conflict(f"Hồ sơ {dossier.code} đã có phiếu xin lỗi được ký phát hành")
        if new_due is not None:
            _check_new_due(dossier, new_due, now, ctx.calendar.tz)
            letter.new_due_at = new_due
        letter_id = letter.id
        uow.commit()
    return letter_id


# ---------------------------------------------------------------------------
# editing and issuing


def _letter(session: Session, letter_id: int) -> ApologyLetter:
    letter = session.get(ApologyLetter, letter_id)
    if letter is None:
        raise NotFound(f"Không tìm thấy phiếu xin lỗi số {letter_id}")
    return letter


def _letter_of(session: Session, dossier_id: int) -> ApologyLetter | None:
    return session.scalars(select(ApologyLetter).where(ApologyLetter.dossier_id == dossier_id)).one_or_none()


def _check_new_due(dossier: Dossier, new_due: datetime, now: datetime, tz: ZoneInfo) -> None:
    if new_due <= now:
        raise InvalidInput(
            f"Ngày hẹn trả kết quả mới ({local_time(new_due, tz)}) phải sau thời điểm hiện tại", "new_due"
        )
    current = dossier.appointment_at or dossier.due_at
    if current is not None and new_due <= current:
        raise InvalidInput(
            f"Ngày hẹn trả kết quả mới ({local_time(new_due, tz)}) phải sau ngày hẹn hiện tại "
            f"({local_time(current, tz)})",
            "new_due",
        )


def edit_apology(
    ctx: Context, letter_id: int, officer_id: int, *, reason: str, new_due: datetime, now: datetime
) -> None:
    """Change the reason and the new appointment of a letter not yet issued."""
    require_aware(now)
    require_aware(new_due, "new_due")
    if not reason or not reason.strip():
        raise InvalidInput("Cần ghi rõ lý do chậm trễ", "reason")
    with use_case(ctx, "sửa phiếu xin lỗi") as uow:
        session = uow.session
        officer = active_officer(session, officer_id)
        letter = _letter(session, letter_id)
        if letter.status == "issued":
            raise Conflict("Phiếu xin lỗi đã được ký phát hành, không thể sửa")
        if officer.agency_id != letter.agency_id:
            agency = session.get_one(Agency, letter.agency_id)
            raise Forbidden(f"Chỉ cán bộ của {agency.name} mới được sửa phiếu xin lỗi này")
        dossier = session.get_one(Dossier, letter.dossier_id)
        _check_new_due(dossier, new_due, now, ctx.calendar.tz)
        letter.reason = reason.strip()
        letter.new_due_at = new_due
        letter.status = "edited"
        letter.edited_at = now
        letter.edited_by_id = officer.id
        svc.record_event(
            session,
            dossier,
            "apology_edited",
            officer.id,
            now,
            letter_id=letter.id,
            new_due_at=new_due.isoformat(),
            reason=letter.reason,
        )
        uow.commit()


def issue_apology(ctx: Context, letter_id: int, officer_id: int, now: datetime) -> None:
    """The head of the agency at fault signs: the appointment moves (once only), the applicant is told."""
    require_aware(now)
    with use_case(ctx, "ký phát hành phiếu xin lỗi") as uow:
        session = uow.session
        officer = active_officer(session, officer_id)
        letter = _letter(session, letter_id)
        agency = session.get_one(Agency, letter.agency_id)
        if not officer.has_role("leader") or officer.agency_id != letter.agency_id:
            raise Forbidden(f"Chỉ lãnh đạo {agency.name} mới được ký phát hành phiếu xin lỗi này")
        if letter.status == "issued":
            raise Conflict("Phiếu xin lỗi này đã được ký phát hành")
        if not letter.reason or not letter.reason.strip():
            raise InvalidInput("Cần ghi rõ lý do chậm trễ trước khi ký", "reason")
        dossier = session.get_one(Dossier, letter.dossier_id)
        svc.note_running_lateness(dossier, now)
        # The once-only rule and the checks on the new appointment live in the runtime's helper.
        previous = svc.move_appointment_in(
            ctx, session, dossier, officer, new_due=letter.new_due_at, reason=letter.reason, now=now
        )
        letter.status = "issued"
        letter.issued_at = now
        # Due at least one working day before the legal due time; later is allowed but marked.
        letter.issued_late = dossier.due_at is None or (
            ctx.calendar.working_hours_between(now, dossier.due_at) < ctx.settings.hours_per_day
        )
        letter.issued_by_id = officer.id
        letter.signer_name = officer.full_name
        letter.signer_title = SIGNER_TITLE
        letter.original_due_at = previous or letter.original_due_at
        svc.record_event(
            session,
            dossier,
            "apology_issued",
            officer.id,
            now,
            letter_id=letter.id,
            agency_id=agency.id,
            late=letter.issued_late,
        )
        notify_applicant(
            ctx,
            session,
            dossier,
            "apology",
            now,
            key=str(letter.id),
            due=previous,
            new_due=letter.new_due_at,
            fault_agency=agency.name,
            reason=letter.reason,
        )
        desk = [
            o
            for o in session.scalars(
                select(Officer).where(Officer.agency_id == dossier.agency_id, Officer.active.is_(True))
            )
            if o.has_role("desk")
        ]
        holder_id = letter.holder_agency_id
        if holder_id is not None and holder_id not in (agency.id, dossier.agency_id):
            # The agency holding the dossier is told too when another agency is at fault.
            desk += [
                o
                for o in session.scalars(
                    select(Officer).where(Officer.agency_id == holder_id, Officer.active.is_(True))
                )
                if o.has_role("leader")
            ]
        tz = ctx.calendar.tz
        notify_officers(
            session,
            desk,
            key=f"apology:{letter.id}:issued",
            kind="apology_issued",
            message=Message(
                f"Đã ký phiếu xin lỗi hồ sơ {dossier.code}",
                f"{agency.name} đã ký phát hành phiếu xin lỗi và hẹn lại ngày trả kết quả hồ sơ "
                f"{dossier.code}: hẹn cũ {local_time(previous, tz)}, "
                f"hẹn mới {local_time(letter.new_due_at, tz)}.",
            ),
            now=now,
            dossier_id=dossier.id,
        )
        uow.commit()


# ---------------------------------------------------------------------------
# reading


@dataclass(frozen=True)
class LetterSummary:
    """A letter as listed on the dossier page and the control sheet."""

    id: int
    status: str
    agency_id: int
    agency_name: str
    original_due_at: datetime
    proposed_due_at: datetime
    new_due_at: datetime
    reason: str
    created_at: datetime
    issued_at: datetime | None
    signer_name: str | None


def letters_for_dossier(session: Session, dossier_id: int) -> list[LetterSummary]:
    """The dossier's apology letters (at most one, since the appointment moves once)."""
    rows = session.execute(
        select(ApologyLetter, Agency.name)
        .join(Agency, Agency.id == ApologyLetter.agency_id)
        .where(ApologyLetter.dossier_id == dossier_id)
        .order_by(ApologyLetter.id)
    )
    return [
        LetterSummary(
            id=letter.id,
            status=letter.status,
            agency_id=letter.agency_id,
            agency_name=name,
            original_due_at=letter.original_due_at,
            proposed_due_at=letter.proposed_due_at,
            new_due_at=letter.new_due_at,
            reason=letter.reason,
            created_at=letter.created_at,
            issued_at=letter.issued_at,
            signer_name=letter.signer_name,
        )
        for letter, name in rows
    ]


@dataclass(frozen=True)
class ApologyForm:
    """Every field of form 04 (TT 03/2025), times in the office's timezone, ready to print on A5."""

    letter_id: int
    status: str
    form_number: str
    title: str
    parent_agency_name: str | None  # cơ quan chủ quản
    agency_name: str  # the agency at fault, which issues and signs the letter
    receiving_agency_name: str
    applicant_name: str
    applicant_address: str | None
    received_at: datetime
    procedure_code: str
    procedure_name: str
    dossier_code: str
    original_due_at: datetime
    reason: str
    apology_text: str
    new_due_at: datetime
    signer_name: str | None
    signer_title: str
    issued_at: datetime | None
    issue_date: date | None

    @property
    def is_issued(self) -> bool:
        """Whether the letter is signed (a draft prints with a 'DỰ THẢO' mark)."""
        return self.status == "issued"


def letter_form(session: Session, letter_id: int, tz: ZoneInfo) -> ApologyForm:
    """The printable form 04 of a letter."""
    letter = _letter(session, letter_id)
    dossier = session.get_one(Dossier, letter.dossier_id)
    agency = session.get_one(Agency, letter.agency_id)
    receiving = session.get_one(Agency, dossier.agency_id)
    parent = session.get(Agency, agency.parent_id) if agency.parent_id else None
    procedure = session.get_one(Procedure, dossier.procedure_id)
    issued = letter.issued_at.astimezone(tz) if letter.issued_at else None
    return ApologyForm(
        letter_id=letter.id,
        status=letter.status,
        form_number=FORM_NUMBER,
        title=FORM_TITLE,
        parent_agency_name=parent.name if parent else None,
        agency_name=agency.name,
        receiving_agency_name=receiving.name,
        applicant_name=dossier.applicant_name,
        applicant_address=dossier.applicant_address,
        received_at=dossier.received_at.astimezone(tz),
        procedure_code=procedure.code,
        procedure_name=procedure.name,
        dossier_code=dossier.code,
        original_due_at=letter.original_due_at.astimezone(tz),
        reason=letter.reason,
        apology_text=letter.apology_text,
        new_due_at=letter.new_due_at.astimezone(tz),
        signer_name=letter.signer_name,
        signer_title=letter.signer_title or SIGNER_TITLE,
        issued_at=issued,
        issue_date=issued.date() if issued else None,
    )


@dataclass(frozen=True)
class OverdueDossier:
    """One line of the list of overdue dossiers without an issued apology."""

    dossier_id: int
    code: str
    applicant_name: str
    procedure_name: str
    receiving_agency_id: int
    holder_agency_ids: tuple[int, ...]
    holder_agency_names: tuple[str, ...]
    due_at: datetime
    overdue_hours: float
    letter_id: int | None
    letter_status: str | None


def overdue_without_apology(
    session: Session,
    agency_id: int,
    now: datetime,
    *,
    calendar: WorkingCalendar | None = None,
    limit: int = 500,
) -> list[OverdueDossier]:
    """Overdue dossiers with no issued apology that the agency received or holds, most overdue first."""
    holds = exists().where(
        WorkItem.dossier_id == Dossier.id,
        WorkItem.completed_at.is_(None),
        WorkItem.agency_id == agency_id,
    )
    rows = session.execute(
        select(Dossier, Procedure.name, ApologyLetter.id, ApologyLetter.status)
        .options(defer(Dossier.workflow_state))
        .join(Procedure, Procedure.id == Dossier.procedure_id)
        .outerjoin(ApologyLetter, ApologyLetter.dossier_id == Dossier.id)
        .where(
            Dossier.status == "processing",
            overdue_sql(Dossier.due_at, now),
            Dossier.appointment_moved_at.is_(None),
            (Dossier.agency_id == agency_id) | holds,
        )
        .order_by(Dossier.due_at, Dossier.id)
        .limit(limit)
    ).all()
    if not rows:
        return []
    ids = [d.id for d, *_ in rows]
    holders: dict[int, list[tuple[int, str]]] = {}
    for dossier_id, holder_id, name in session.execute(
        select(WorkItem.dossier_id, WorkItem.agency_id, Agency.name)
        .join(Agency, Agency.id == WorkItem.agency_id)
        .where(WorkItem.dossier_id.in_(ids), WorkItem.completed_at.is_(None))
        .order_by(WorkItem.id)
    ):
        found = holders.setdefault(dossier_id, [])
        if (holder_id, name) not in found:
            found.append((holder_id, name))
    result = []
    for dossier, procedure_name, letter_id, letter_status in rows:
        held = holders.get(dossier.id, [])
        hours = (
            calendar.working_hours_between(dossier.due_at, now)  # type: ignore[arg-type]
            if calendar is not None
            else (now - dossier.due_at).total_seconds() / 3600  # type: ignore[operator]
        )
        result.append(
            OverdueDossier(
                dossier_id=dossier.id,
                code=dossier.code,
                applicant_name=dossier.applicant_name,
                procedure_name=procedure_name,
                receiving_agency_id=dossier.agency_id,
                holder_agency_ids=tuple(h for h, _ in held),
                holder_agency_names=tuple(n for _, n in held),
                due_at=dossier.due_at,  # type: ignore[arg-type]
                overdue_hours=round(hours, 2),
                letter_id=letter_id,
                letter_status=letter_status,
            )
        )
    return result


@dataclass(frozen=True)
class LateAgainDossier:
    """One line of the list of dossiers still unresolved after the appointment their letter moved."""

    dossier_id: int
    code: str
    applicant_name: str
    procedure_name: str
    due_at: datetime
    appointment_at: datetime
    letter_id: int | None


def unresolved_after_appointment(
    session: Session, agency_id: int, now: datetime, *, limit: int = 500
) -> list[LateAgainDossier]:
    """Dossiers the agency received or holds, late again: unresolved after their moved appointment.

    The appointment moves once only, so these stay listed (and alerted daily) until resolved.
    """
    holds = exists().where(
        WorkItem.dossier_id == Dossier.id,
        WorkItem.completed_at.is_(None),
        WorkItem.agency_id == agency_id,
    )
    rows = session.execute(
        select(
            Dossier.id,
            Dossier.code,
            Dossier.applicant_name,
            Procedure.name,
            Dossier.due_at,
            Dossier.appointment_at,
            ApologyLetter.id,
        )
        .join(Procedure, Procedure.id == Dossier.procedure_id)
        .outerjoin(ApologyLetter, ApologyLetter.dossier_id == Dossier.id)
        .where(
            Dossier.status == "processing",
            Dossier.appointment_moved_at.is_not(None),
            overdue_sql(Dossier.appointment_at, now),
            (Dossier.agency_id == agency_id) | holds,
        )
        .order_by(Dossier.appointment_at, Dossier.id)
        .limit(limit)
    ).all()
    return [LateAgainDossier(*row) for row in rows]  # type: ignore[arg-type]
