"""Sổ theo dõi hồ sơ (form 07, TT 03/2025): an agency's register for a period, and the counter slips.

One line per dossier the agency received in the period, from receipt to return: code, applicant,
procedure, when received, the legal due time, the appointment, when the result was ready and
handed over, how it was judged, and a note on supplements, refusal, withdrawal and the apology
letter. Like the statistics report, a register is judged as of a moment from the recorded history:
the end of a closed period (printing it again later gives the same book), or now for the current
one. Its date line carries that moment (the last day of a closed period).

Readers: the agency's desk, leaders and supervisors; approvers of the provincial office (who
check procedures province-wide, as in the reports) see any agency. The command line, which holds
the database itself, reads without an officer.
"""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, NamedStyle, Side
from openpyxl.utils import get_column_letter
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from engine.context import Context
from engine.errors import Forbidden, NotFound
from engine.feedback.scope import administrative_only
from engine.runtime.forms import FORM_TITLES, form_number, place_date_line
from engine.statistics.periods import Period
from engine.usecase import active_officer, reading, require_aware
from models import (
    Agency,
    ApologyLetter,
    CounterSlip,
    Dossier,
    DossierEvent,
    Officer,
    PostalItem,
    Procedure,
    Suspension,
    UnitOfWork,
)
from models.dossier import CHANNEL_LABELS, RESULT_LABELS

REGISTER_READERS = ("desk", "leader", "supervisor")
PROVINCE_WIDE = "approver"
OPEN_LABEL = "Đang giải quyết"
OVERDUE_LABEL = "Quá hạn (đang giải quyết)"
SUPPLEMENT_LABEL = "Chờ bổ sung"
REFUSED_LABEL = "Từ chối"
WITHDRAWN_LABEL = "Rút hồ sơ (dừng giải quyết)"


@dataclass(frozen=True)
class RegisterLine:
    """One dossier in the register, as of the register's moment; times in the office's timezone."""

    number: int
    dossier_code: str
    applicant_name: str
    applicant_contact: str
    procedure_code: str
    procedure_name: str
    channel: str
    received_at: datetime
    legal_due_at: datetime | None
    appointment_at: datetime | None
    result_at: datetime | None  # the result ready at the desk (judged)
    returned_at: datetime | None
    returned_to: str | None
    result_class: str | None  # early / on_time / late once judged
    state: str  # the class label, or where the dossier stood at the register's moment
    notes: tuple[str, ...]

    @property
    def note(self) -> str:
        """The notes as one cell."""
        return "; ".join(self.notes)


@dataclass(frozen=True)
class CounterSlipCount:
    """Forms 02 and 03 issued at the counter by an agency in a period, without a dossier."""

    agency_code: str
    agency_name: str
    supplement: int
    refusal: int

    @property
    def total(self) -> int:
        """Both kinds together."""
        return self.supplement + self.refusal


@dataclass(frozen=True)
class Register:
    """Form 07 of one agency for one period, as of a moment; times in the office's timezone."""

    agency_code: str
    agency_name: str
    parent_agency_name: str | None
    period: Period
    as_of: datetime  # the moment the lines are judged at
    issued_at: datetime  # the date the register carries: the period's last day, or now
    place_name: str
    tz: tzinfo
    lines: tuple[RegisterLine, ...]
    counter_slips: CounterSlipCount
    number: str = form_number("07")
    title: str = FORM_TITLES["07"]

    @property
    def place_date(self) -> str:
        """The date line: '<place>, ngày .. tháng .. năm ..'."""
        return place_date_line(self.place_name, self.issued_at, self.tz)

    @property
    def closed(self) -> bool:
        """Whether the period was over at the register's moment (the book no longer changes)."""
        return self.as_of >= self.period.end

    @property
    def as_of_title(self) -> str:
        """The moment the lines are judged at, as printed under the title."""
        if self.closed:
            return f"Tình trạng hồ sơ tính đến hết ngày {self.period.last_day:%d/%m/%Y}"
        return f"Tình trạng hồ sơ tính đến {self.as_of:%H:%M} ngày {self.as_of:%d/%m/%Y} (kỳ chưa kết thúc)"

    def count(self, state: str) -> int:
        """How many lines stand in this state (a class label or an open state)."""
        return sum(1 for line in self.lines if line.state == state)


def require_register_reader(officer: Officer, agency: Agency) -> None:
    """Refuse anyone but the agency's desk, leaders and supervisors, and province-wide approvers."""
    if officer.has_role(PROVINCE_WIDE):
        return
    if officer.agency_id != agency.id:
        raise Forbidden(f"Sổ theo dõi hồ sơ của {agency.name} không thuộc cơ quan của ông/bà.")
    if not any(officer.has_role(role) for role in REGISTER_READERS):
        raise Forbidden("Sổ theo dõi hồ sơ dành cho Bộ phận Một cửa, lãnh đạo và giám sát của cơ quan.")


def counter_slip_counts(
    session: Session, period: Period, agency_code: str | None = None, *, until: datetime | None = None
) -> list[CounterSlipCount]:
    """Counter slips (forms 02 and 03 without a dossier) per agency issued in the period, by agency code.

    `until` caps the period at a moment, exclusive (the current period, counted up to now); agencies
    that issued none are left out, except the one asked for.
    """
    end = min(period.end, until) if until is not None else period.end
    query = (
        select(
            Agency.code,
            Agency.name,
            func.count().filter(CounterSlip.kind == "supplement"),
            func.count().filter(CounterSlip.kind == "refusal"),
        )
        .join(Agency, Agency.id == CounterSlip.agency_id)
        .where(CounterSlip.issued_at >= period.start, CounterSlip.issued_at < end)
        .group_by(Agency.code, Agency.name)
        .order_by(Agency.code)
    )
    if agency_code is not None:
        query = query.where(Agency.code == agency_code)
    counts = [
        CounterSlipCount(code, name, supplement, refusal)
        for code, name, supplement, refusal in session.execute(query)
    ]
    if agency_code is not None and not counts:
        name = session.scalar(select(Agency.name).where(Agency.code == agency_code))
        if name is None:
            raise NotFound(f"Không có cơ quan mã {agency_code}")
        counts = [CounterSlipCount(agency_code, name, 0, 0)]
    return counts


def agency_register(
    ctx: Context,
    *,
    agency_code: str,
    period: Period,
    officer_id: int | None,
    now: datetime,
    uow: UnitOfWork | None = None,
) -> Register:
    """Form 07 of an agency for a period, judged as of the period's end (or now, while it runs).

    `officer_id` is the reader, checked against the agency; None is the command line. Read in one
    transaction: the caller's unit of work (a web request's) or one of its own.
    """
    require_aware(now)
    tz = ctx.calendar.tz
    with reading(ctx, uow) as session:
        agency = session.scalars(select(Agency).where(Agency.code == agency_code)).one_or_none()
        if agency is None:
            raise NotFound(f"Không có cơ quan mã {agency_code}")
        if officer_id is not None:
            require_register_reader(active_officer(session, officer_id), agency)
        closed = now >= period.end
        as_of = period.end if closed else now
        lines = _lines(session, agency.id, period, as_of, closed, tz)
        slips = counter_slip_counts(
            session, period, agency.code, until=None if closed else now + timedelta(microseconds=1)
        )
        return Register(
            agency_code=agency.code,
            agency_name=agency.name,
            parent_agency_name=agency.parent.name if agency.parent else None,
            period=period,
            as_of=as_of.astimezone(tz),
            issued_at=(period.end - timedelta(seconds=1) if closed else now).astimezone(tz),
            place_name=ctx.settings.place_name,
            tz=tz,
            lines=tuple(lines),
            counter_slips=slips[0],
        )


_DOSSIER_COLUMNS = (
    "id",
    "code",
    "applicant_name",
    "applicant_address",
    "applicant_phone",
    "channel",
    "received_at",
    "due_at",
    "original_due_at",
    "late_at",
    "judged_at",
    "result_class",
    "finished_at",
    "status",
    "returned_at",
    "returned_to",
    "refusal_reason",
    "withdrawal_reason",
)


def _lines(
    session: Session, agency_id: int, period: Period, as_of: datetime, closed: bool, tz: tzinfo
) -> list[RegisterLine]:
    """The register's lines; four queries over the same scope, whatever the number of dossiers."""

    def by(moment: datetime | None) -> bool:
        # A closed period is judged before its end; the running one up to now included.
        return moment is not None and (moment < as_of if closed else moment <= as_of)

    def local(moment: datetime | None) -> datetime | None:
        return moment.astimezone(tz) if moment is not None else None

    def day(moment: datetime) -> str:
        return moment.astimezone(tz).strftime("%d/%m/%Y")

    received_until = Dossier.received_at < as_of if closed else Dossier.received_at <= as_of
    scope = and_(
        Dossier.agency_id == agency_id,
        Dossier.received_at >= period.start,
        received_until,
        administrative_only(),  # citizens' feedback is no administrative dossier
    )
    # Plain rows, not ORM objects: a quarter of a busy desk is thousands of lines.
    dossiers = session.execute(
        select(
            *(getattr(Dossier, name) for name in _DOSSIER_COLUMNS),
            Procedure.code.label("procedure_code"),
            Procedure.name.label("procedure_name"),
        )
        .join(Procedure, Procedure.id == Dossier.procedure_id)
        .where(scope)
        .order_by(Dossier.received_at, Dossier.id)
    ).all()
    # The receipt's legal due time is original_due_at; a complete supplement records the new one.
    events: dict[int, list[Any]] = defaultdict(list)
    for event in session.execute(
        select(DossierEvent.dossier_id, DossierEvent.kind, DossierEvent.at, DossierEvent.payload)
        .join(Dossier, Dossier.id == DossierEvent.dossier_id)
        .where(scope, DossierEvent.kind.in_(("supplement_received", "refused")))
        .order_by(DossierEvent.id)
    ):
        events[event.dossier_id].append(event)
    supplements: dict[int, list[Any]] = defaultdict(list)
    for suspension in session.execute(
        select(Suspension.dossier_id, Suspension.started_at, Suspension.ended_at, Suspension.late)
        .join(Dossier, Dossier.id == Suspension.dossier_id)
        .where(scope, Suspension.kind == "supplement")
        .order_by(Suspension.started_at, Suspension.id)
    ):
        supplements[suspension.dossier_id].append(suspension)
    # The post's part: the item a dossier came under, the one its result went back under.
    posted: dict[tuple[int, str], Any] = {
        (item.dossier_id, item.direction): item
        for item in session.execute(
            select(
                PostalItem.dossier_id,
                PostalItem.direction,
                PostalItem.item_number,
                PostalItem.status,
                PostalItem.created_at,
                PostalItem.closed_at,
            )
            .join(Dossier, Dossier.id == PostalItem.dossier_id)
            .where(scope, PostalItem.status != "cancelled")
        )
    }
    letters = {
        letter.dossier_id: letter
        for letter in session.execute(
            select(ApologyLetter.dossier_id, ApologyLetter.issued_at, ApologyLetter.new_due_at)
            .join(Dossier, Dossier.id == ApologyLetter.dossier_id)
            .where(scope, ApologyLetter.status == "issued")
        )
    }

    lines = []
    for number, dossier in enumerate(dossiers, start=1):
        notes: list[str] = []
        # The legal due time as recorded at receipt or at the latest complete supplement before the moment.
        legal_due = dossier.original_due_at or dossier.due_at
        for event in events.get(dossier.id, []):
            if event.kind == "supplement_received" and by(event.at):
                recorded = event.payload.get("due_at")
                if isinstance(recorded, str):
                    legal_due = datetime.fromisoformat(recorded)
        letter = letters.get(dossier.id)
        appointment = legal_due
        if letter is not None and by(letter.issued_at):
            appointment = max(legal_due, letter.new_due_at) if legal_due else letter.new_due_at
        suspended = False
        for s in supplements.get(dossier.id, []):
            if not by(s.started_at):
                continue
            note = f"Yêu cầu bổ sung ngày {day(s.started_at)}" + (" (yêu cầu muộn)" if s.late else "")
            if by(s.ended_at) and not (dossier.status == "withdrawn" and s.ended_at == dossier.finished_at):
                note += f", nhận đủ ngày {day(s.ended_at)}"
            elif not by(s.ended_at):
                suspended = True
            notes.append(note)
        refused = next((e for e in events.get(dossier.id, []) if e.kind == "refused" and by(e.at)), None)
        withdrawn = dossier.status == "withdrawn" and by(dossier.finished_at)
        judged = by(dossier.judged_at) and dossier.result_class is not None
        late = by(dossier.late_at)
        if refused is not None:
            notes.append(f"Từ chối ngày {day(refused.at)}: {dossier.refusal_reason or ''}".rstrip(": "))
        if withdrawn:
            notes.append(
                f"Rút hồ sơ ngày {day(dossier.finished_at)}: {dossier.withdrawal_reason or ''}".rstrip(": ")
            )
        if judged:
            state = RESULT_LABELS[dossier.result_class]
        elif refused is not None:
            state = REFUSED_LABEL
        elif withdrawn:
            state = WITHDRAWN_LABEL
        elif suspended:
            state = SUPPLEMENT_LABEL
        elif late or (legal_due is not None and by(legal_due)):
            state = OVERDUE_LABEL
        else:
            state = OPEN_LABEL
        if letter is not None and by(letter.issued_at):
            notes.append(
                f"Văn bản xin lỗi (Mẫu số 04) ngày {day(letter.issued_at)}, "
                f"hẹn lại {letter.new_due_at.astimezone(tz):%H:%M %d/%m/%Y}"
            )
        elif late or state == OVERDUE_LABEL:
            # The seeds' complaint: late dossiers nobody apologised for.
            notes.append("Quá hạn, chưa có văn bản xin lỗi")
        notes.extend(_postal_notes(posted.get((dossier.id, "outbound")), by, day))
        inbound = posted.get((dossier.id, "inbound"))
        channel = CHANNEL_LABELS.get(dossier.channel, dossier.channel)
        if inbound is not None and inbound.item_number:
            channel += f" (số hiệu {inbound.item_number})"
        contact = " · ".join(x for x in (dossier.applicant_address, dossier.applicant_phone) if x)
        lines.append(
            RegisterLine(
                number=number,
                dossier_code=dossier.code,
                applicant_name=dossier.applicant_name,
                applicant_contact=contact,
                procedure_code=dossier.procedure_code,
                procedure_name=dossier.procedure_name,
                channel=channel,
                received_at=local(dossier.received_at),  # type: ignore[arg-type]
                legal_due_at=local(legal_due),
                appointment_at=local(appointment),
                result_at=local(dossier.judged_at) if judged else None,
                returned_at=local(dossier.returned_at) if by(dossier.returned_at) else None,
                returned_to=dossier.returned_to if by(dossier.returned_at) else None,
                result_class=dossier.result_class if judged else None,
                state=state,
                notes=tuple(notes),
            )
        )
    return lines


def _postal_notes(item: Any, by: Any, day: Any) -> list[str]:
    """The register's note on a result going back by post, as of the register's moment (the hand-over
    to the post itself is the return: its column names the carrier and the item number)."""
    if item is None or not by(item.created_at):
        return []
    if item.status == "delivered" and by(item.closed_at):
        return [f"Bưu chính đã phát kết quả ngày {day(item.closed_at)}"]
    if item.status == "returned_to_sender" and by(item.closed_at):
        return [f"Bưu gửi kết quả bị chuyển hoàn ngày {day(item.closed_at)}"]
    if item.status == "prepared":
        return ["Đăng ký nhận kết quả qua bưu chính"]
    return []


# ---------------------------------------------------------------------------
# output

HEADINGS = (
    ("STT", 5),
    ("Mã hồ sơ", 24),
    ("Tên thủ tục hành chính", 36),
    ("Tên cá nhân, tổ chức", 22),
    ("Địa chỉ, số điện thoại", 24),
    ("Hình thức nộp", 14),
    ("Ngày, giờ nhận hồ sơ", 16),
    ("Hạn giải quyết theo quy định", 16),
    ("Ngày hẹn trả kết quả", 16),
    ("Ngày có kết quả", 16),
    ("Ngày trả kết quả (người nhận)", 20),
    ("Kết quả giải quyết", 16),
    ("Ghi chú", 40),
)
HEADER_ROW = 8
_THIN = Side(style="thin")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_WRAP = Alignment(vertical="top", wrap_text=True)
_CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%H:%M %d/%m/%Y") if moment is not None else ""


def line_cells(line: RegisterLine) -> list[object]:
    """The cells of one line, in the order of HEADINGS."""
    returned = _when(line.returned_at) + (f" ({line.returned_to})" if line.returned_to else "")
    return [
        line.number,
        line.dossier_code,
        f"{line.procedure_name} ({line.procedure_code})",
        line.applicant_name,
        line.applicant_contact,
        line.channel,
        _when(line.received_at),
        _when(line.legal_due_at),
        _when(line.appointment_at),
        _when(line.result_at),
        returned,
        line.state,
        line.note,
    ]


def summary_lines(register: Register) -> list[str]:
    """The totals under the register: lines by state and the counter slips."""
    states = (
        RESULT_LABELS["early"],
        RESULT_LABELS["on_time"],
        RESULT_LABELS["late"],
        OPEN_LABEL,
        OVERDUE_LABEL,
        SUPPLEMENT_LABEL,
        REFUSED_LABEL,
        WITHDRAWN_LABEL,
    )
    by_state = ", ".join(f"{state.lower()}: {register.count(state)}" for state in states)
    slips = register.counter_slips
    return [
        f"Tổng số hồ sơ tiếp nhận: {len(register.lines)} ({by_state}).",
        f"Phiếu phát hành tại quầy, không tiếp nhận hồ sơ: {slips.total} "
        f"(yêu cầu bổ sung, hoàn thiện – Mẫu số 02: {slips.supplement}; "
        f"từ chối tiếp nhận – Mẫu số 03: {slips.refusal}).",
    ]


def register_workbook(register: Register) -> Workbook:
    """Form 07 as a workbook: heading as on paper, one row per dossier, totals; A4 landscape."""
    book = Workbook()
    sheet = book.active
    sheet.title = "Sổ theo dõi hồ sơ"
    last = len(HEADINGS)
    half = 5  # the agency block spans the first columns, the motto block the last ones
    heading = (
        (1, (register.parent_agency_name or "").upper(), "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", True),
        (2, register.agency_name.upper(), "Độc lập - Tự do - Hạnh phúc", True),
        (3, "", register.place_date, False),
    )
    for row, left, right, bold in heading:
        sheet.merge_cells(start_row=row, start_column=1, end_row=row, end_column=half)
        sheet.merge_cells(start_row=row, start_column=last - 4, end_row=row, end_column=last)
        sheet.cell(row=row, column=1, value=left).font = Font(bold=bold and row == 2)
        cell = sheet.cell(row=row, column=last - 4, value=right)
        cell.font = Font(bold=bold, italic=not bold)
        for column in (1, last - 4):
            sheet.cell(row=row, column=column).alignment = Alignment(horizontal="center")
    for row, text, font in (
        (4, register.number, Font(italic=True)),
        (5, register.title.upper(), Font(bold=True, size=14)),
        (6, f"{register.period.title} ({register.period.label})", Font(italic=True)),
        (7, register.as_of_title, None),
    ):
        sheet.merge_cells(start_row=row, start_column=1, end_row=row, end_column=last)
        cell = sheet.cell(row=row, column=1, value=text)
        cell.font = font
        cell.alignment = Alignment(horizontal="right" if row == 4 else "center")
    for column, (label, width) in enumerate(HEADINGS, start=1):
        cell = sheet.cell(row=HEADER_ROW, column=column, value=label)
        cell.font = Font(bold=True)
        cell.alignment = _CENTER
        cell.border = _BOX
        sheet.column_dimensions[get_column_letter(column)].width = width
    # One named style for every body cell: far cheaper than a border and an alignment per cell.
    body = NamedStyle(name="register_line", alignment=_WRAP, border=_BOX)
    book.add_named_style(body)
    for offset, line in enumerate(register.lines, start=1):
        for column, value in enumerate(line_cells(line), start=1):
            sheet.cell(row=HEADER_ROW + offset, column=column, value=value).style = body.name
    row = HEADER_ROW + len(register.lines) + 2
    for text in summary_lines(register):
        sheet.merge_cells(start_row=row, start_column=1, end_row=row, end_column=last)
        sheet.cell(row=row, column=1, value=text)
        row += 1
    sheet.freeze_panes = sheet.cell(row=HEADER_ROW + 1, column=3)
    sheet.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    return book


def register_xlsx(register: Register) -> bytes:
    """Form 07 as XLSX bytes."""
    buffer = io.BytesIO()
    register_workbook(register).save(buffer)
    return buffer.getvalue()


def format_register(register: Register) -> str:
    """Form 07 as plain text for the terminal."""
    out = [
        f"{register.number} – {register.title.upper()} – {register.agency_name} ({register.agency_code})",
        f"{register.period.title} ({register.period.label}) · {register.place_date}",
        register.as_of_title,
        "",
        f"{'STT':>4} {'Mã hồ sơ':26} {'Người nộp':22} {'Nhận':16} {'Hạn':16} {'Hẹn trả':16} "
        f"{'Có kết quả':16} {'Kết quả':26} Ghi chú",
    ]
    for line in register.lines:
        out.append(
            f"{line.number:>4} {line.dossier_code:26} {line.applicant_name[:22]:22} "
            f"{_when(line.received_at):16} {_when(line.legal_due_at):16} "
            f"{_when(line.appointment_at):16} {_when(line.result_at):16} "
            f"{line.state[:26]:26} {line.note}"
        )
    out.append("")
    out.extend(summary_lines(register))
    return "\n".join(out)


def agency_choices(ctx: Context, *, uow: UnitOfWork | None = None) -> list[tuple[str, str]]:
    """Every agency as (code, name), for the province-wide reader's choice of register."""
    with reading(ctx, uow) as session:
        return [tuple(row) for row in session.execute(select(Agency.code, Agency.name).order_by(Agency.code))]  # type: ignore[misc]
