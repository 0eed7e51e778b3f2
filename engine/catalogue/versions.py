"""The lifecycle of a procedure's process versions: draft -> submitted -> approved -> active -> retired.

A process owner of the procedure's agency drafts a version (from an upload, from the active
version, or in the editor), saves it as often as needed (every problem is returned, and an
invalid diagram is still kept as a draft), and submits it once it validates. An approver records
the chairman's decision number and date and activates it; the previous active version retires in
the same transaction. Approved, active and retired versions never change: running dossiers are
compiled from them. Every transition writes a ProcessVersionEvent row, the version's history.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, aliased

from engine.catalogue.bpmn_check import CHECK_RULES, CheckResult, check_bpmn
from engine.catalogue.bpmn_diff import VersionDiff, diff_summary
from engine.catalogue.bpmn_xml import DEFAULT_MAX_BYTES, Problem, bpmn_text, parse_bpmn_xml
from engine.catalogue.catalogue_file import catalogue_file_names, catalogue_path
from engine.catalogue.procedure_model import ProcedureModel, read_model
from engine.catalogue.procedures import procedure_by_code, procedure_id_by_code
from engine.catalogue.workflow_state import SpecCache, sha256_of
from engine.context import Context
from engine.errors import Conflict, Forbidden, InvalidInput, InvalidProcess, NoActiveVersion, NotFound
from engine.outbox import Message, notify_officers
from engine.usecase import active_officer, reading, require_aware, use_case
from models import Agency, Officer, Procedure, ProcessVersion, ProcessVersionEvent, UnitOfWork
from models.versioning import FROZEN_STATUSES
from models.vocabulary import ProcessStatus, VersionAction

STATUS_LABELS = ProcessStatus.labels()
ACTION_LABELS = VersionAction.labels()
# Who reads the catalogue of internal procedures and their versions: process owners and approvers.
VERSION_READERS = ("process_owner", "approver", "admin")
DECISION_NUMBER_MAX = 80


# ---------------------------------------------------------------------------
# what the use cases return


@dataclass
class DraftResult:
    """A stored draft and every problem that keeps it from being submitted (none: it may be)."""

    version_id: int
    procedure_code: str
    number: int
    status: str
    sha256: str
    problems: list[Problem]
    counted_hours: float | None
    legal_hours: float
    changed: bool = True
    # What was done to the file on the way in (other modelers' metadata stripped), one line each.
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """The draft validates and may be submitted."""
        return not self.problems

    def as_dict(self) -> dict[str, object]:
        """JSON form for the editor: problems with line, element id and element name."""
        return {
            "version_id": self.version_id,
            "procedure_code": self.procedure_code,
            "number": self.number,
            "status": self.status,
            "sha256": self.sha256,
            "ok": self.ok,
            "changed": self.changed,
            "counted_hours": self.counted_hours,
            "legal_hours": self.legal_hours,
            "problems": [p.as_dict() for p in self.problems],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class VersionSummary:
    """One row of a procedure's version list in the catalogue."""

    id: int
    procedure_code: str
    number: int
    status: str
    sha256: str
    process_id: str
    created_at: datetime
    created_by: str | None
    decision_number: str | None
    decision_date: date | None
    approved_by: str | None
    approved_at: datetime | None

    @property
    def status_label(self) -> str:
        """The status as officers read it."""
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def editable(self) -> bool:
        """Only a draft can be edited."""
        return self.status == "draft"


@dataclass(frozen=True)
class StoredCheck:
    """The result of `bpmn check` kept with a version: what its pages show without checking again."""

    ok: bool
    problems: list[Problem]
    counted_hours: float | None
    step_count: int
    legal_hours: float
    rules: int
    checked_at: datetime | None

    @classmethod
    def of(cls, result: CheckResult, legal_hours: float, now: datetime | None) -> StoredCheck:
        """The stored form of a check just run against `legal_hours`."""
        model = result.model
        return cls(
            ok=result.ok,
            problems=list(result.problems),
            counted_hours=model.longest_counted_hours if model else None,
            step_count=len(model.steps) if model else 0,
            legal_hours=legal_hours,
            rules=CHECK_RULES,
            checked_at=now,
        )

    def columns(self) -> dict[str, object]:
        """The process_version columns that hold it."""
        return {
            "check_ok": self.ok,
            "check_problems": [p.as_dict() for p in self.problems],
            "check_counted_hours": self.counted_hours,
            "check_step_count": self.step_count,
            "check_legal_hours": self.legal_hours,
            "check_rules": self.rules,
            "checked_at": self.checked_at,
        }


def stored_check(version: ProcessVersion, legal_hours: float) -> StoredCheck | None:
    """The version's stored check, or None when there is none or it is stale.

    Stale: checked under older rules (CHECK_RULES), or against another legal budget than the
    procedure's current one (the catalogue's legal time changed since).
    """
    if (
        version.checked_at is None
        or version.check_ok is None
        or version.check_rules != CHECK_RULES
        or version.check_legal_hours is None
        or abs(float(version.check_legal_hours) - legal_hours) > 1e-6
    ):
        return None
    return StoredCheck(
        ok=bool(version.check_ok),
        problems=[Problem(**p) for p in version.check_problems or []],
        counted_hours=version.check_counted_hours,
        step_count=version.check_step_count or 0,
        legal_hours=float(version.check_legal_hours),
        rules=version.check_rules,
        checked_at=version.checked_at,
    )


def record_check(version: ProcessVersion, result: CheckResult, legal_hours: float, now: datetime) -> None:
    """Keep the result of checking the version's current text on its row."""
    for name, value in StoredCheck.of(result, legal_hours, now).columns().items():
        setattr(version, name, value)


@dataclass(frozen=True)
class HistoryEntry:
    """One audited transition or save of a version."""

    at: datetime
    action: str
    from_status: str | None
    to_status: str
    officer_id: int | None
    officer_name: str | None
    note: str | None
    sha256: str | None

    @property
    def action_label(self) -> str:
        """The action as officers read it."""
        return ACTION_LABELS.get(self.action, self.action)


@dataclass
class VersionDetail:
    """A version with its current problems, the changes against the previous version and its history.

    The problems, hours and steps are the check stored with the version; `pending_check` holds a
    check run for this view because none was stored (or it was stale), for the caller to store.
    """

    version: VersionSummary
    procedure_name: str
    legal_hours: float
    counted_hours: float | None
    step_count: int
    problems: list[Problem]
    previous: VersionSummary | None
    diff: VersionDiff | None
    history: list[HistoryEntry] = field(default_factory=list)
    checked_at: datetime | None = None
    pending_check: StoredCheck | None = None


@dataclass(frozen=True)
class VersionXml:
    """The stored BPMN of a version, for the editor and for downloads."""

    version_id: int
    procedure_code: str
    number: int
    status: str
    sha256: str
    text: str

    @property
    def filename(self) -> str:
        """A download name that says which version it is."""
        return f"{self.procedure_code}-v{self.number}.bpmn"


@dataclass(frozen=True)
class ExportedFile:
    """One active version written to a file."""

    procedure_code: str
    number: int
    path: Path
    sha256: str
    changed: bool


@dataclass(frozen=True)
class ImportResult:
    """What importing one file did: a draft, a newly active version, or nothing (already active)."""

    procedure_code: str
    version_id: int | None
    number: int | None
    status: str | None
    sha256: str
    problems: list[Problem]
    changed: bool
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------
# helpers


def _version(session: Session, version_id: int) -> ProcessVersion:
    version = session.scalars(
        select(ProcessVersion).where(ProcessVersion.id == version_id).with_for_update()
    ).one_or_none()
    if version is None:
        raise NotFound(f"Không tìm thấy phiên bản quy trình có mã {version_id}")
    return version


def is_owner(officer: Officer, procedure: Procedure) -> bool:
    """Whether the officer may draft, edit and submit the procedure's versions."""
    return officer.has_role("process_owner") and officer.agency_id == procedure.owner_agency_id


def require_owner(officer: Officer, procedure: Procedure) -> None:
    if not officer.has_role("process_owner"):
        raise Forbidden("Chỉ cán bộ quản lý quy trình mới được soạn, sửa và trình quy trình nội bộ")
    if officer.agency_id != procedure.owner_agency_id:
        raise Forbidden(
            f"Chỉ cán bộ quản lý quy trình của cơ quan chủ trì thủ tục {procedure.code} "
            "mới được soạn, sửa và trình quy trình này"
        )


def _require_approver(officer: Officer) -> None:
    if not officer.has_role("approver"):
        raise Forbidden("Chỉ người có vai trò phê duyệt quy trình mới được phê duyệt phiên bản quy trình")


def _status_conflict(version: ProcessVersion, action: str) -> Conflict:
    label = STATUS_LABELS.get(version.status, version.status)
    if version.status in FROZEN_STATUSES and action == "sửa":
        return Conflict(
            f"Phiên bản {version.number} đã được phê duyệt nên không thể sửa; "
            "hãy tạo bản nháp mới từ phiên bản đang áp dụng"
        )
    return Conflict(f"Không thể {action} phiên bản {version.number} vì phiên bản đang ở trạng thái “{label}”")


def record_transition(
    session: Session,
    version: ProcessVersion,
    action: str,
    to_status: str,
    officer_id: int | None,
    now: datetime,
    note: str | None = None,
) -> None:
    """Move a version to a status and append the audit row that the history shows."""
    from_status = version.status if version.id is not None else None
    version.status = to_status
    session.flush()
    session.add(
        ProcessVersionEvent(
            process_version_id=version.id,
            action=action,
            from_status=from_status,
            to_status=to_status,
            officer_id=officer_id,
            at=now,
            note=note,
            sha256=version.sha256,
        )
    )


def make_active(
    session: Session, version: ProcessVersion, officer_id: int | None, now: datetime, note: str | None = None
) -> ProcessVersion | None:
    """Activate an approved version; the procedure's previous active version retires. Returns that one.

    The one activation path: approval here, `motcua load` and `motcua bpmn import --approve` all use it.
    """
    if version.status != "approved":
        raise _status_conflict(version, "đưa vào áp dụng")
    current = session.scalars(
        select(ProcessVersion)
        .where(ProcessVersion.procedure_id == version.procedure_id, ProcessVersion.status == "active")
        .with_for_update()
    ).one_or_none()
    if current is not None:
        record_transition(
            session, current, "retired", "retired", officer_id, now, f"Thay bằng phiên bản {version.number}"
        )
    record_transition(session, version, "activated", "active", officer_id, now, note)
    session.flush()
    return current


def was_approved(session: Session, procedure: Procedure, text: str) -> bool:
    """Whether this exact BPMN text was ever approved for the procedure (active, approved or retired)."""
    found = session.scalar(
        select(ProcessVersion.id)
        .where(
            ProcessVersion.procedure_id == procedure.id,
            ProcessVersion.sha256 == sha256_of(text),
            ProcessVersion.status.in_(FROZEN_STATUSES),
        )
        .limit(1)
    )
    return found is not None


def _next_number(session: Session, procedure: Procedure) -> int:
    numbers = session.scalars(
        select(ProcessVersion.number).where(ProcessVersion.procedure_id == procedure.id)
    )
    return max(numbers, default=0) + 1


def add_version(
    session: Session,
    procedure: Procedure,
    text: str,
    *,
    process_id: str,
    action: str,
    officer_id: int | None,
    now: datetime,
    note: str | None = None,
    decision_number: str | None = None,
    decision_date: date | None = None,
) -> ProcessVersion:
    """Store BPMN text as the procedure's next version: a draft, or approved when a decision is given."""
    approved = decision_number is not None
    version = ProcessVersion(
        procedure_id=procedure.id,
        number=_next_number(session, procedure),
        bpmn_xml=text,
        sha256=sha256_of(text),
        process_id=process_id,
        status="draft",
        created_at=now,
        created_by_id=officer_id,
    )
    session.add(version)
    record_transition(session, version, action, "draft", officer_id, now, note)
    if approved:
        version.decision_number = decision_number
        version.decision_date = decision_date
        version.approved_by_id = officer_id
        version.approved_at = now
        record_transition(
            session,
            version,
            "approved",
            "approved",
            officer_id,
            now,
            _decision_note(decision_number, decision_date),
        )
    return version


def activate_version(
    session: Session,
    procedure: Procedure,
    bpmn_xml: str,
    *,
    filename: str,
    decision_number: str | None,
    decision_date: date | None,
    now: datetime,
    hours_per_day: int = 8,
    approved_by_id: int | None = None,
) -> bool:
    """Validate BPMN and make it the procedure's active version; False when it is active already."""
    digest = sha256_of(bpmn_xml)
    current = session.scalars(
        select(ProcessVersion).where(
            ProcessVersion.procedure_id == procedure.id, ProcessVersion.status == "active"
        )
    ).one_or_none()
    if current is not None and current.sha256 == digest:
        return False
    result = check_bpmn(
        bpmn_xml,
        filename=filename,
        legal_hours=procedure.legal_hours(hours_per_day),
        agencies=agency_codes(session),
        max_bytes=max(DEFAULT_MAX_BYTES, len(bpmn_xml.encode("utf-8"))),
    )
    if not result.ok:
        lines = "\n".join(str(p) for p in result.problems)
        raise InvalidProcess(f"Quy trình {filename} không hợp lệ:\n{lines}", result.problems)
    assert result.model is not None  # a BPMN that passed the check has its model
    if not decision_number:
        raise InvalidInput(
            f"{filename}: phiên bản quy trình được áp dụng phải có số quyết định phê duyệt", "decision"
        )
    # The one activation path, shared with approval in the catalogue and `motcua bpmn import`.
    version = add_version(
        session,
        procedure,
        bpmn_xml,
        process_id=result.model.process_id,
        action="imported",
        officer_id=approved_by_id,
        now=now,
        note=f"Nạp từ tệp {filename}",
        decision_number=decision_number,
        decision_date=decision_date,
    )
    record_check(version, result, procedure.legal_hours(hours_per_day), now)
    make_active(session, version, approved_by_id, now)
    return True


def _decision_note(number: str | None, day: date | None) -> str:
    shown = day.strftime("%d/%m/%Y") if day else "chưa rõ ngày"
    return f"Quyết định số {number} ngày {shown}"


def _legal_hours(ctx: Context, procedure: Procedure) -> float:
    return procedure.legal_hours(ctx.settings.hours_per_day)


def agency_codes(session: Session) -> frozenset[str]:
    """The codes of every agency: what a lane of a diagram may name."""
    return frozenset(session.scalars(select(Agency.code)))


def _check(
    ctx: Context, session: Session, procedure: Procedure, bpmn: bytes | str, filename: str
) -> tuple[CheckResult, str]:
    """Check a document for storage: refuse what must never be stored, return the text to store.

    Other modelers' metadata is stripped from the stored text; the result is then that of the
    stored text (its lines are the stored file's), with the notes of what was stripped.
    """
    agencies = agency_codes(session)
    legal = _legal_hours(ctx, procedure)
    result = check_bpmn(
        bpmn, filename=filename, legal_hours=legal, max_bytes=ctx.settings.bpmn_max_bytes, agencies=agencies
    )
    if not result.storable:
        lines = "\n".join(str(p) for p in result.unsafe)
        raise InvalidProcess(
            f"Tệp {filename} không được chấp nhận, chưa có gì được lưu:\n{lines}", result.unsafe
        )
    if result.text is None:
        return result, bpmn_text(bpmn)
    stripped = check_bpmn(
        result.text,
        filename=filename,
        legal_hours=legal,
        max_bytes=max(ctx.settings.bpmn_max_bytes, len(result.text.encode("utf-8"))),
        agencies=agencies,
    )
    stripped.notes = result.notes + [n for n in stripped.notes if n not in result.notes]
    return stripped, result.text


def _draft_result(
    ctx: Context, procedure: Procedure, version: ProcessVersion, result: CheckResult, changed: bool = True
) -> DraftResult:
    return DraftResult(
        version_id=version.id,
        procedure_code=procedure.code,
        number=version.number,
        status=version.status,
        sha256=version.sha256,
        problems=list(result.problems),
        counted_hours=result.model.longest_counted_hours if result.model else None,
        legal_hours=_legal_hours(ctx, procedure),
        changed=changed,
        notes=list(result.notes),
    )


def _summary(
    version: ProcessVersion, procedure_code: str, created_by: str | None, approved_by: str | None
) -> VersionSummary:
    return VersionSummary(
        id=version.id,
        procedure_code=procedure_code,
        number=version.number,
        status=version.status,
        sha256=version.sha256,
        process_id=version.process_id,
        created_at=version.created_at,
        created_by=created_by,
        decision_number=version.decision_number,
        decision_date=version.decision_date,
        approved_by=approved_by,
        approved_at=version.approved_at,
    )


def _summary_in(session: Session, version: ProcessVersion) -> VersionSummary:
    procedure = session.get_one(Procedure, version.procedure_id)
    created = session.get(Officer, version.created_by_id) if version.created_by_id else None
    approved = session.get(Officer, version.approved_by_id) if version.approved_by_id else None
    return _summary(
        version,
        procedure.code,
        created.full_name if created else None,
        approved.full_name if approved else None,
    )


def _file_name(procedure: Procedure, filename: str | None) -> str:
    return filename or f"{procedure.code}.bpmn"


# ---------------------------------------------------------------------------
# the process owner's use cases


def create_draft(
    ctx: Context,
    procedure_code: str,
    officer_id: int,
    bpmn: bytes,
    now: datetime,
    *,
    filename: str | None = None,
) -> DraftResult:
    """Store an uploaded BPMN document as a new draft of the procedure; returns its problems."""
    require_aware(now)
    with use_case(ctx, "Nhập bản nháp quy trình", subject="phiên bản quy trình") as uow:
        session = uow.session
        officer = active_officer(session, officer_id)
        procedure = procedure_by_code(session, procedure_code, lock=True)
        require_owner(officer, procedure)
        name = _file_name(procedure, filename)
        result, text = _check(ctx, session, procedure, bpmn, name)
        draft = store_draft(
            ctx,
            session,
            procedure,
            text,
            result,
            officer_id=officer.id,
            now=now,
            note=f"Tải lên tệp {name}" if filename else None,
        )
        uow.commit()
    return draft


def store_draft(
    ctx: Context,
    session: Session,
    procedure: Procedure,
    text: str,
    result: CheckResult,
    *,
    officer_id: int | None,
    now: datetime,
    note: str | None,
) -> DraftResult:
    """A checked text stored as a new draft with its check result, inside the caller's transaction;
    without an officer (the command line) it is recorded as imported."""
    version = add_version(
        session,
        procedure,
        text,
        process_id=result.model.process_id if result.model else "",
        action="created" if officer_id is not None else "imported",
        officer_id=officer_id,
        now=now,
        note=note,
    )
    record_check(version, result, _legal_hours(ctx, procedure), now)
    return _draft_result(ctx, procedure, version, result)


def new_draft_from_active(ctx: Context, procedure_code: str, officer_id: int, now: datetime) -> DraftResult:
    """Start a new draft as a copy of the procedure's active version."""
    require_aware(now)
    with use_case(ctx, "Tạo bản nháp quy trình", subject="phiên bản quy trình") as uow:
        session = uow.session
        officer = active_officer(session, officer_id)
        procedure = procedure_by_code(session, procedure_code, lock=True)
        require_owner(officer, procedure)
        active = session.scalars(
            select(ProcessVersion).where(
                ProcessVersion.procedure_id == procedure.id, ProcessVersion.status == "active"
            )
        ).one_or_none()
        if active is None:
            raise NoActiveVersion(f"Thủ tục {procedure.code} chưa có phiên bản quy trình đang áp dụng")
        result = check_bpmn(
            active.bpmn_xml,
            filename=_file_name(procedure, None),
            legal_hours=_legal_hours(ctx, procedure),
            max_bytes=max(ctx.settings.bpmn_max_bytes, len(active.bpmn_xml.encode("utf-8"))),
            agencies=agency_codes(session),
        )
        version = add_version(
            session,
            procedure,
            active.bpmn_xml,
            process_id=active.process_id,
            action="created",
            officer_id=officer.id,
            now=now,
            note=f"Sao chép từ phiên bản {active.number} đang áp dụng",
        )
        record_check(version, result, _legal_hours(ctx, procedure), now)
        draft = _draft_result(ctx, procedure, version, result)
        uow.commit()
    return draft


def save_draft(
    ctx: Context,
    version_id: int,
    officer_id: int,
    bpmn: bytes,
    now: datetime,
    *,
    base_sha256: str | None = None,
) -> DraftResult:
    """Save a draft's BPMN, valid or not, and return every problem; `base_sha256` guards lost updates."""
    require_aware(now)
    with use_case(ctx, "Lưu bản nháp quy trình", subject="phiên bản quy trình") as uow:
        session = uow.session
        officer = active_officer(session, officer_id)
        version = _version(session, version_id)
        procedure = session.get_one(Procedure, version.procedure_id)
        require_owner(officer, procedure)
        if version.status != "draft":
            raise _status_conflict(version, "sửa")
        if base_sha256 is not None and base_sha256 != version.sha256:
            raise Conflict(
                f"Bản nháp {version.number} đã được lưu bởi người khác sau khi bạn mở; "
                "hãy tải lại trước khi lưu để không ghi đè thay đổi của họ"
            )
        result, text = _check(ctx, session, procedure, bpmn, _file_name(procedure, None))
        digest = sha256_of(text)
        changed = digest != version.sha256
        if changed:
            version.bpmn_xml = text
            version.sha256 = digest
            version.process_id = result.model.process_id if result.model else ""
            record_transition(session, version, "saved", "draft", officer.id, now)
        record_check(version, result, _legal_hours(ctx, procedure), now)
        draft = _draft_result(ctx, procedure, version, result, changed)
        uow.commit()
    return draft


def submit(
    ctx: Context, version_id: int, officer_id: int, now: datetime, *, note: str | None = None
) -> VersionSummary:
    """Submit a draft that validates cleanly for approval."""
    require_aware(now)
    with use_case(ctx, "Trình phê duyệt quy trình", subject="phiên bản quy trình") as uow:
        session = uow.session
        officer = active_officer(session, officer_id)
        version = _version(session, version_id)
        procedure = session.get_one(Procedure, version.procedure_id)
        require_owner(officer, procedure)
        if version.status != "draft":
            raise _status_conflict(version, "trình")
        result = _require_valid(ctx, session, procedure, version, "trình phê duyệt")
        record_check(version, result, _legal_hours(ctx, procedure), now)
        record_transition(session, version, "submitted", "submitted", officer.id, now, note)
        _tell_approvers(session, procedure, version, officer, now)
        summary = _summary_in(session, version)
        uow.commit()
    return summary


def _tell_approvers(
    session: Session, procedure: Procedure, version: ProcessVersion, submitter: Officer, now: datetime
) -> None:
    """Every active approver is told in the submission's transaction (the kernel's outbox, below us)."""
    approvers = [
        o for o in session.scalars(select(Officer).where(Officer.active.is_(True))) if o.has_role("approver")
    ]
    # The event count makes each submission its own message: a version withdrawn and submitted
    # again is announced again.
    round_ = session.scalar(
        select(func.count(ProcessVersionEvent.id)).where(
            ProcessVersionEvent.process_version_id == version.id, ProcessVersionEvent.action == "submitted"
        )
    )
    notify_officers(
        session,
        approvers,
        key=f"process_version:{version.id}:submitted:{round_}",
        kind="version_submitted",
        message=Message(
            f"Quy trình {procedure.code} phiên bản {version.number} chờ phê duyệt",
            f"{submitter.full_name} đã trình phê duyệt phiên bản {version.number} quy trình nội bộ "
            f"của thủ tục {procedure.code} «{procedure.name}». Mở mục Điều hành để xem và phê duyệt.",
        ),
        now=now,
    )


def withdraw_submission(
    ctx: Context, version_id: int, officer_id: int, now: datetime, *, note: str | None = None
) -> VersionSummary:
    """Send a submitted version back to draft: its process owner withdraws it, or an approver returns it."""
    require_aware(now)
    with use_case(ctx, "Rút lại quy trình đã trình", subject="phiên bản quy trình") as uow:
        session = uow.session
        officer = active_officer(session, officer_id)
        version = _version(session, version_id)
        procedure = session.get_one(Procedure, version.procedure_id)
        if officer.has_role("approver"):
            action = "returned"
        else:
            require_owner(officer, procedure)
            action = "withdrawn"
        if version.status != "submitted":
            raise _status_conflict(version, "rút lại")
        record_transition(session, version, action, "draft", officer.id, now, note)
        summary = _summary_in(session, version)
        uow.commit()
    return summary


def _require_valid(
    ctx: Context, session: Session, procedure: Procedure, version: ProcessVersion, action: str
) -> CheckResult:
    result = check_bpmn(
        version.bpmn_xml,
        filename=_file_name(procedure, None),
        legal_hours=_legal_hours(ctx, procedure),
        max_bytes=max(ctx.settings.bpmn_max_bytes, len(version.bpmn_xml.encode("utf-8"))),
        agencies=agency_codes(session),
    )
    if not result.ok:
        lines = "\n".join(str(p) for p in result.problems)
        raise InvalidProcess(
            f"Phiên bản {version.number} còn {len(result.problems)} lỗi nên chưa thể {action}:\n{lines}",
            result.problems,
        )
    return result


# ---------------------------------------------------------------------------
# the approver's use cases


def _check_decision(decision_number: str | None, decision_date: date | None, now: datetime) -> str:
    number = (decision_number or "").strip()
    if not number:
        raise InvalidInput("Chưa nhập số quyết định phê duyệt quy trình", "decision_number")
    if len(number) > DECISION_NUMBER_MAX:
        raise InvalidInput(f"Số quyết định phê duyệt dài quá {DECISION_NUMBER_MAX} ký tự", "decision_number")
    if decision_date is None:
        raise InvalidInput("Chưa nhập ngày ký quyết định phê duyệt quy trình", "decision_date")
    if isinstance(decision_date, datetime) or not isinstance(decision_date, date):
        raise InvalidInput("Ngày ký quyết định phải là một ngày (năm-tháng-ngày)", "decision_date")
    if decision_date > now.date():
        raise InvalidInput("Ngày ký quyết định không được sau ngày hôm nay", "decision_date")
    return number


def check_decision(decision_number: str | None, decision_date: date | None, now: datetime) -> str:
    """The approval decision's number, trimmed, once it and its date are acceptable at `now` (local)."""
    return _check_decision(decision_number, decision_date, now)


def approve(
    ctx: Context,
    version_id: int,
    approver_id: int,
    *,
    decision_number: str | None,
    decision_date: date | None,
    now: datetime,
    activate: bool = True,
    note: str | None = None,
) -> VersionSummary:
    """Record the approval decision of a submitted version and, by default, make it the active one."""
    require_aware(now)
    with use_case(ctx, "Phê duyệt quy trình", subject="phiên bản quy trình") as uow:
        session = uow.session
        officer = active_officer(session, approver_id)
        _require_approver(officer)
        number = _check_decision(decision_number, decision_date, now.astimezone(ctx.calendar.tz))
        version = _version(session, version_id)
        procedure = session.get_one(Procedure, version.procedure_id)
        # Lock the procedure first, as every other activation does, so two approvals queue.
        procedure_by_code(session, procedure.code, lock=True)
        if version.status != "submitted":
            raise _status_conflict(version, "phê duyệt")
        # Checked again: the catalogue's legal time may have changed since the submission.
        result = _require_valid(ctx, session, procedure, version, "phê duyệt")
        record_check(version, result, _legal_hours(ctx, procedure), now)
        version.decision_number = number
        version.decision_date = decision_date
        version.approved_by_id = officer.id
        version.approved_at = now
        record_transition(
            session,
            version,
            "approved",
            "approved",
            officer.id,
            now,
            note or _decision_note(number, decision_date),
        )
        if activate:
            make_active(session, version, officer.id, now)
        summary = _summary_in(session, version)
        uow.commit()
    return summary


def activate(ctx: Context, version_id: int, approver_id: int, now: datetime) -> VersionSummary:
    """Make an approved version the active one; the previous active version retires."""
    require_aware(now)
    with use_case(ctx, "Áp dụng phiên bản quy trình", subject="phiên bản quy trình") as uow:
        session = uow.session
        officer = active_officer(session, approver_id)
        _require_approver(officer)
        version = _version(session, version_id)
        procedure = session.get_one(Procedure, version.procedure_id)
        procedure_by_code(session, procedure.code, lock=True)
        make_active(session, version, officer.id, now)
        summary = _summary_in(session, version)
        uow.commit()
    return summary


def retire(
    ctx: Context, version_id: int, approver_id: int, now: datetime, *, note: str | None = None
) -> VersionSummary:
    """Retire an approved or active version; with no active version left, no new dossier can start."""
    require_aware(now)
    with use_case(ctx, "Ngừng áp dụng phiên bản quy trình", subject="phiên bản quy trình") as uow:
        session = uow.session
        officer = active_officer(session, approver_id)
        _require_approver(officer)
        version = _version(session, version_id)
        if version.status not in ("approved", "active"):
            raise _status_conflict(version, "ngừng áp dụng")
        record_transition(session, version, "retired", "retired", officer.id, now, note)
        summary = _summary_in(session, version)
        uow.commit()
    return summary


# ---------------------------------------------------------------------------
# reading


def _summaries(
    session: Session, *conditions: ColumnElement[bool]
) -> list[tuple[VersionSummary, ProcessVersion]]:
    creator, approver = aliased(Officer), aliased(Officer)
    rows = session.execute(
        select(ProcessVersion, Procedure.code, creator.full_name, approver.full_name)
        .join(Procedure, Procedure.id == ProcessVersion.procedure_id)
        .outerjoin(creator, creator.id == ProcessVersion.created_by_id)
        .outerjoin(approver, approver.id == ProcessVersion.approved_by_id)
        .where(*conditions)
        .order_by(ProcessVersion.number.desc())
    )
    return [(_summary(v, code, made, signed), v) for v, code, made, signed in rows]


def versions_of(session: Session, procedure_code: str) -> list[VersionSummary]:
    """The procedure's versions, newest first, without their BPMN text."""
    procedure = procedure_by_code(session, procedure_code)
    return [s for s, _ in _summaries(session, ProcessVersion.procedure_id == procedure.id)]


@dataclass(frozen=True)
class AwaitingApproval:
    """A submitted version as the approver's worklist shows it: who submitted it and when."""

    version_id: int
    procedure_code: str
    procedure_name: str
    number: int
    submitted_by: str | None
    submitted_at: datetime | None


def awaiting_approval(session: Session, *, limit: int = 200) -> list[AwaitingApproval]:
    """Versions submitted and not yet decided, the longest waiting first."""
    # The submission is the version's newest "submitted" event: it may have been returned before.
    latest = (
        select(
            ProcessVersionEvent.process_version_id.label("version_id"),
            func.max(ProcessVersionEvent.id).label("event_id"),
        )
        .join(ProcessVersion, ProcessVersion.id == ProcessVersionEvent.process_version_id)
        .where(ProcessVersion.status == "submitted", ProcessVersionEvent.action == "submitted")
        .group_by(ProcessVersionEvent.process_version_id)
        .subquery()
    )
    rows = session.execute(
        select(
            ProcessVersion.id,
            Procedure.code,
            Procedure.name,
            ProcessVersion.number,
            Officer.full_name,
            ProcessVersionEvent.at,
        )
        .join(Procedure, Procedure.id == ProcessVersion.procedure_id)
        .outerjoin(latest, latest.c.version_id == ProcessVersion.id)
        .outerjoin(ProcessVersionEvent, ProcessVersionEvent.id == latest.c.event_id)
        .outerjoin(Officer, Officer.id == ProcessVersionEvent.officer_id)
        .where(ProcessVersion.status == "submitted")
        .order_by(ProcessVersionEvent.at.asc().nulls_first(), ProcessVersion.id)
        .limit(limit)
    )
    return [AwaitingApproval(*row) for row in rows]


def version_history(session: Session, version_id: int) -> list[HistoryEntry]:
    """The audited transitions and saves of a version, oldest first."""
    if session.get(ProcessVersion, version_id) is None:
        raise NotFound(f"Không tìm thấy phiên bản quy trình có mã {version_id}")
    rows = session.execute(
        select(ProcessVersionEvent, Officer.full_name)
        .outerjoin(Officer, Officer.id == ProcessVersionEvent.officer_id)
        .where(ProcessVersionEvent.process_version_id == version_id)
        .order_by(ProcessVersionEvent.id)
    )
    return [
        HistoryEntry(e.at, e.action, e.from_status, e.to_status, e.officer_id, name, e.note, e.sha256)
        for e, name in rows
    ]


def version_xml(session: Session, version_id: int) -> VersionXml:
    """A version's stored BPMN text (for the editor, downloads and exports)."""
    row = session.execute(
        select(
            ProcessVersion.id,
            Procedure.code,
            ProcessVersion.number,
            ProcessVersion.status,
            ProcessVersion.sha256,
            ProcessVersion.bpmn_xml,
        )
        .join(Procedure, Procedure.id == ProcessVersion.procedure_id)
        .where(ProcessVersion.id == version_id)
    ).one_or_none()
    if row is None:
        raise NotFound(f"Không tìm thấy phiên bản quy trình có mã {version_id}")
    return VersionXml(*row)


def previous_version(session: Session, version: ProcessVersion | VersionSummary) -> VersionSummary | None:
    """The newest approved (approved, active or retired) version numbered below this one."""
    procedure_id = session.scalar(select(ProcessVersion.procedure_id).where(ProcessVersion.id == version.id))
    found = _summaries(
        session,
        ProcessVersion.procedure_id == procedure_id,
        ProcessVersion.number < version.number,
        ProcessVersion.status.in_(FROZEN_STATUSES),
    )
    return found[0][0] if found else None


def _model_of_text(text: str) -> ProcedureModel | None:
    try:
        return read_model(parse_bpmn_xml(text, max_bytes=max(len(text.encode("utf-8")), 1)))
    except Exception:  # a stored draft may be anything that could be stored; it simply has no model
        return None


def _model(session: Session, version_id: int, sha256: str, models: SpecCache | None) -> ProcedureModel | None:
    """A version's procedure model, from the cache when there is one (the text is loaded on a miss only)."""

    def load() -> str:
        return version_xml(session, version_id).text

    return models.model(sha256, load) if models is not None else _model_of_text(load())


def version_detail(
    session: Session, version_id: int, *, hours_per_day: int = 8, models: SpecCache | None = None
) -> VersionDetail:
    """A version with its stored check, what changed against the previous version, and its history.

    The diagram is checked only when no check is stored for it (old rows) or the stored one is
    stale; that result comes back as `pending_check` for the caller to store. `models` caches
    the procedure models the diff compares.
    """
    found = _summaries(session, ProcessVersion.id == version_id)
    if not found:
        raise NotFound(f"Không tìm thấy phiên bản quy trình có mã {version_id}")
    summary, version = found[0]
    procedure = session.get_one(Procedure, version.procedure_id)
    legal = procedure.legal_hours(hours_per_day)
    check = stored_check(version, legal)
    pending = None
    new: ProcedureModel | None = None
    if check is None:
        text = version.bpmn_xml
        size = len(text.encode("utf-8"))
        result = check_bpmn(
            text,
            filename=f"{procedure.code}.bpmn",
            legal_hours=legal,
            max_bytes=size,
            agencies=agency_codes(session),
        )
        check = pending = StoredCheck.of(result, legal, None)
        new = result.model
    previous = previous_version(session, summary)
    diff = None
    if previous is not None:
        new = new or _model(session, version.id, version.sha256, models)
        old = _model(session, previous.id, previous.sha256, models) if new is not None else None
        if new is not None and old is not None:
            diff = diff_summary(old, new)
    return VersionDetail(
        version=summary,
        procedure_name=procedure.name,
        legal_hours=legal,
        counted_hours=check.counted_hours,
        step_count=check.step_count,
        problems=check.problems,
        previous=previous,
        diff=diff,
        history=version_history(session, version_id),
        checked_at=check.checked_at,
        pending_check=pending,
    )


def store_pending_checks(session: Session, details: Iterable[VersionDetail], now: datetime) -> int:
    """Store the checks a view had to run (versions without a stored one) and commit; returns how many.

    Runs in the reader's own session and transaction (on SQLite it already holds the write
    lock); a version whose text changed meanwhile is left alone, and a failure to store only
    means the next view checks again.
    """
    pending = [d for d in details if d.pending_check is not None]
    if not pending:
        return 0
    try:
        for detail in pending:
            assert detail.pending_check is not None
            checked = replace(detail.pending_check, checked_at=now)
            session.execute(
                update(ProcessVersion)
                .where(ProcessVersion.id == detail.version.id, ProcessVersion.sha256 == detail.version.sha256)
                .values(**checked.columns())
                .execution_options(synchronize_session=False)
            )
        session.commit()
    except SQLAlchemyError:
        session.rollback()
        return 0
    return len(pending)


@dataclass(frozen=True)
class CheckFacts:
    """What `bpmn check` needs from the database about one procedure: its legal time, the agencies."""

    procedure_code: str
    legal_hours: float
    agencies: frozenset[str]


def check_facts(ctx: Context, procedure_code: str, *, uow: UnitOfWork | None = None) -> CheckFacts:
    """The legal time of a procedure and the agency codes a lane may name, for a check outside the app."""
    with reading(ctx, uow) as session:
        procedure = procedure_by_code(session, procedure_code)
        return CheckFacts(procedure.code, _legal_hours(ctx, procedure), agency_codes(session))


@dataclass(frozen=True)
class DiagramCheck:
    """What the editor shows while a diagram is edited: every problem and the running total."""

    problems: list[Problem]
    counted_hours: float | None
    legal_hours: float


def check_diagram(
    ctx: Context, officer_id: int, version_id: int, bpmn: bytes, *, uow: UnitOfWork | None = None
) -> DiagramCheck:
    """Kiểm tra quy trình: check a diagram against its procedure's legal time without saving it."""
    # Runs on every edit (debounced): only the procedure's budget is read, not the version's detail.
    with reading(ctx, uow) as session:
        officer = active_officer(session, officer_id)
        if not any(officer.has_role(role) for role in VERSION_READERS):
            raise Forbidden("Chỉ cán bộ quản lý quy trình hoặc người phê duyệt mới được kiểm tra quy trình")
        procedure = session.scalars(
            select(Procedure)
            .join(ProcessVersion, ProcessVersion.procedure_id == Procedure.id)
            .where(ProcessVersion.id == version_id)
        ).one_or_none()
        if procedure is None:
            raise NotFound(f"Không tìm thấy phiên bản quy trình có mã {version_id}")
        code, legal = procedure.code, _legal_hours(ctx, procedure)
        agencies = agency_codes(session)
    result = check_bpmn(
        bpmn,
        filename=code + ".bpmn",
        legal_hours=legal,
        max_bytes=ctx.settings.bpmn_max_bytes,
        agencies=agencies,
    )
    counted = result.model.longest_counted_hours if result.model else None
    return DiagramCheck(list(result.problems), counted, legal)


# ---------------------------------------------------------------------------
# files: `motcua bpmn export` and `motcua bpmn import`


def export_active_versions(
    ctx: Context, directory: Path, file_names: Mapping[str, str] | None = None
) -> list[ExportedFile]:
    """Write every procedure's active version to `directory`, under the catalogue's file names."""
    names = (
        dict(file_names)
        if file_names is not None
        else catalogue_file_names(catalogue_path(ctx.settings.workflows_dir))
    )
    directory.mkdir(parents=True, exist_ok=True)
    exported: list[ExportedFile] = []
    with ctx.uow() as uow:
        rows = uow.session.execute(
            select(Procedure.code, ProcessVersion.number, ProcessVersion.sha256, ProcessVersion.bpmn_xml)
            .join(Procedure, Procedure.id == ProcessVersion.procedure_id)
            .where(ProcessVersion.status == "active")
            .order_by(Procedure.code)
        ).all()
    for code, number, digest, text in rows:
        path = directory / names.get(code, f"{code}.bpmn")
        data = text.encode("utf-8")
        changed = not path.exists() or path.read_bytes() != data
        if changed:
            # Write beside and rename, so a reader never sees half a file.
            partial = path.with_name(path.name + ".partial")
            partial.write_bytes(data)
            partial.replace(path)
        exported.append(ExportedFile(code, number, path, digest, changed))
    return exported


def procedure_for_file(session: Session, path: Path, file_names: Mapping[str, str]) -> str:
    """The procedure a BPMN file belongs to: by the catalogue's file name, else by its code as file name."""
    by_name = {name: code for code, name in file_names.items()}
    if path.name in by_name:
        return by_name[path.name]
    code = path.stem
    if procedure_id_by_code(session, code) is not None:
        return code
    raise InvalidInput(
        f"{path.name}: không xác định được thủ tục của tệp; hãy chỉ rõ bằng --procedure MÃ_THỦ_TỤC",
        "procedure",
    )


def import_version(
    ctx: Context,
    bpmn: bytes,
    *,
    procedure_code: str,
    filename: str,
    now: datetime,
    approve: bool = False,
    decision_number: str | None = None,
    decision_date: date | None = None,
) -> ImportResult:
    """Load a BPMN file as a draft, or as approved and active when a decision number and date are given."""
    require_aware(now)
    if approve:
        decision_number = _check_decision(decision_number, decision_date, now.astimezone(ctx.calendar.tz))
    with use_case(ctx, "Nhập tệp quy trình", subject="phiên bản quy trình") as uow:
        session = uow.session
        procedure = procedure_by_code(session, procedure_code, lock=True)
        result, text = _check(ctx, session, procedure, bpmn, filename)
        if approve:
            changed = activate_version(
                session,
                procedure,
                text,
                filename=filename,
                decision_number=decision_number,
                decision_date=decision_date,
                now=now,
                hours_per_day=ctx.settings.hours_per_day,
            )
            version = session.scalars(
                select(ProcessVersion).where(
                    ProcessVersion.procedure_id == procedure.id, ProcessVersion.status == "active"
                )
            ).one()
        else:
            process_id = result.model.process_id if result.model else ""
            version = add_version(
                session,
                procedure,
                text,
                process_id=process_id,
                action="imported",
                officer_id=None,
                now=now,
                note=f"Nhập từ tệp {filename}",
            )
            record_check(version, result, _legal_hours(ctx, procedure), now)
            changed = True
        imported = ImportResult(
            procedure.code,
            version.id,
            version.number,
            version.status,
            version.sha256,
            list(result.problems),
            changed,
            list(result.notes),
        )
        uow.commit()
    return imported
