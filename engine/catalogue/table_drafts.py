"""Step tables to drafts: preview a table as a diagram, store it as a draft, or a whole folder of them.

`motcua procedure from-table` and the procedure page's "Nhập bảng các bước" call these. A table
with any problem stores nothing and names every row at fault; a good one becomes a new draft
version of its procedure, to be reviewed in the editor, submitted and approved like any other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.catalogue.bpmn_check import check_bpmn
from engine.catalogue.bpmn_writer import special_steps, table_bpmn, with_return_step
from engine.catalogue.procedures import procedure_by_code
from engine.catalogue.step_table import (
    RoleTable,
    RowError,
    StepTableReport,
    TableStep,
    fold,
    normalized_csv,
    read_step_table,
    role_table,
)
from engine.catalogue.versions import DraftResult, require_owner, store_draft
from engine.context import Context
from engine.errors import DomainError, InvalidStepTable, NotFound, TooLarge
from engine.formatting import legal_time, number
from engine.usecase import active_officer, reading, require_aware, use_case
from models import Agency, Procedure, UnitOfWork

TABLE_SUFFIXES = (".csv", ".xlsx", ".xlsm")
NAME_LIMIT = 255
KIND_LABELS = {
    "check": "Kiểm tra: yêu cầu bổ sung hoặc từ chối",
    "approval": "Phê duyệt: trả lại xử lý lại",
    "return": "Trả kết quả (không tính thời gian)",
}


@dataclass(frozen=True)
class PreviewStep:
    """One step as the preview lists it: the row it came from, its role and hours, its part in the flow."""

    row: int
    number: int
    content: str
    responsible: str
    role: str
    role_label: str
    agency: str | None
    hours: float
    counted: bool
    kind: str | None

    @property
    def kind_label(self) -> str:
        """What the step does besides its work, as officers read it."""
        label = KIND_LABELS.get(self.kind or "", "")
        if self.kind == "return" and self.counted:
            return "Trả kết quả (tính vào thời hạn)"
        return label


@dataclass
class TablePreview:
    """A table read for a procedure: its steps, every row's problem, and the diagram it makes."""

    procedure_code: str
    procedure_name: str
    legal_hours: float
    filename: str
    steps: list[PreviewStep] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    bpmn: str | None = None
    problems: list = field(default_factory=list)
    counted_hours: float = 0.0
    table_csv: str = ""
    legal_text: str = ""

    @property
    def ok(self) -> bool:
        """The table can be saved as a draft."""
        return not self.errors and self.bpmn is not None


@dataclass(frozen=True)
class FolderEntry:
    """What importing one table of a folder did: a draft, or the reasons nothing was stored."""

    filename: str
    procedure_code: str
    version_number: int | None
    messages: list[str]

    @property
    def ok(self) -> bool:
        """A draft was stored."""
        return self.version_number is not None


def shown_name(filename: str) -> str:
    """A file's name as the history and the diagram show it: no folders, at most 255 characters."""
    return Path(filename.replace("\\", "/")).name[:NAME_LIMIT]


def legal_text(procedure: Procedure) -> str:
    """The legal time as the law states it (engine.formatting.legal_time)."""
    return legal_time(float(procedure.legal_time_value), procedure.legal_time_unit)


def _agencies(session: Session) -> dict[str, str]:
    """Every agency by its folded code and by its folded name, for the table's agency column."""
    found: dict[str, str] = {}
    for code, name in session.execute(select(Agency.code, Agency.name)):
        found.setdefault(fold(name), code)
        found[fold(code)] = code
    return found


def _procedure(session: Session, code: str, *, lock: bool = False) -> Procedure:
    try:
        return procedure_by_code(session, code, lock=lock)
    except NotFound as exc:
        raise NotFound(
            f"{exc.message}; hãy thêm thủ tục vào danh mục trước khi nhập bảng các bước của nó"
        ) from exc


def _read(
    ctx: Context, session: Session, procedure: Procedure, data: bytes, filename: str
) -> tuple[StepTableReport, RoleTable]:
    if len(data) > ctx.settings.bpmn_max_bytes:
        limit = number(ctx.settings.bpmn_max_bytes / 1024 / 1024, 1)
        raise TooLarge(f"Bảng các bước {filename} lớn quá {limit} MB")
    roles = role_table(ctx.settings.workflows_dir)
    report = read_step_table(
        data,
        filename,
        roles=roles,
        legal_hours=procedure.legal_hours(ctx.settings.hours_per_day),
        hours_per_day=ctx.settings.hours_per_day,
        agencies=_agencies(session),
    )
    return report, roles


def _bpmn(procedure: Procedure, steps: list[TableStep], filename: str, roles: RoleTable) -> str:
    return table_bpmn(
        steps,
        procedure_code=procedure.code,
        procedure_name=procedure.name,
        legal_text=legal_text(procedure),
        source=shown_name(filename),
        return_hours=roles.return_hours,
    )


def _preview_steps(steps: list[TableStep], roles: RoleTable) -> list[PreviewStep]:
    planned = with_return_step(steps, roles.return_hours)
    special = special_steps(planned)
    kinds = {special.check: "check", special.approval: "approval", special.returned: "return"}
    return [
        PreviewStep(
            s.row,
            s.number,
            s.content,
            s.responsible,
            s.role,
            s.role_label,
            s.agency,
            s.hours,
            s.counted,
            kinds.get(i),
        )
        for i, s in enumerate(planned)
    ]


@dataclass(frozen=True)
class UploadPage:
    """What the upload page shows before a table is chosen: the procedure and the phrase table."""

    procedure_code: str
    procedure_name: str
    legal_text: str
    role_phrases: dict[str, list[str]]


def upload_page(
    ctx: Context, officer_id: int, procedure_code: str, *, uow: UnitOfWork | None = None
) -> UploadPage:
    """Nhập bảng các bước: the procedure a process owner drafts for, and how the roles are read."""
    with reading(ctx, uow) as session:
        officer = active_officer(session, officer_id)
        procedure = _procedure(session, procedure_code)
        require_owner(officer, procedure)
        phrases: dict[str, list[str]] = {}
        for _, role, phrase in role_table(ctx.settings.workflows_dir).phrases:
            phrases.setdefault(role, []).append(phrase)
        return UploadPage(procedure.code, procedure.name, legal_text(procedure), phrases)


def preview_table(
    ctx: Context,
    officer_id: int,
    procedure_code: str,
    data: bytes,
    filename: str,
    *,
    uow: UnitOfWork | None = None,
) -> TablePreview:
    """Xem trước bảng các bước: the steps read, every row's problem, and the diagram, nothing stored."""
    with reading(ctx, uow) as session:
        officer = active_officer(session, officer_id)
        procedure = _procedure(session, procedure_code)
        require_owner(officer, procedure)
        report, roles = _read(ctx, session, procedure, data, filename)
        preview = TablePreview(
            procedure.code,
            procedure.name,
            procedure.legal_hours(ctx.settings.hours_per_day),
            shown_name(filename),
            steps=_preview_steps(report.steps, roles),
            errors=list(report.errors),
            counted_hours=report.counted_hours,
            table_csv=normalized_csv(report.steps),
            legal_text=legal_text(procedure),
        )
        if report.ok:
            preview.bpmn = _bpmn(procedure, report.steps, filename, roles)
    if preview.bpmn is not None:
        preview.problems = check_bpmn(
            preview.bpmn, filename=f"{procedure_code}.bpmn", legal_hours=preview.legal_hours
        ).problems
    return preview


def draft_from_table(
    ctx: Context,
    procedure_code: str,
    data: bytes,
    filename: str,
    now: datetime,
    *,
    officer_id: int | None = None,
    source: str | None = None,
) -> DraftResult:
    """Lập bản nháp từ bảng các bước: a new draft of the procedure, or InvalidStepTable and nothing stored.

    With `officer_id` (the web app) only a process owner of the owner agency may; without (the
    command line, run by whoever runs the installation) the draft is recorded as imported.
    `source` is the file name the draft's history and documentation give (default: `filename`).
    """
    shown = shown_name(source or filename)
    require_aware(now)
    with use_case(ctx, "Lập bản nháp quy trình từ bảng các bước", subject="phiên bản quy trình") as uow:
        session = uow.session
        procedure = _procedure(session, procedure_code, lock=True)
        if officer_id is not None:
            require_owner(active_officer(session, officer_id), procedure)
        report, roles = _read(ctx, session, procedure, data, filename)
        if not report.ok:
            raise InvalidStepTable(report.message(), report.errors)
        text = _bpmn(procedure, report.steps, shown, roles)
        legal = procedure.legal_hours(ctx.settings.hours_per_day)
        result = check_bpmn(
            text, filename=f"{procedure.code}.bpmn", legal_hours=legal, max_bytes=max(len(text), 1) * 4
        )
        draft = store_draft(
            ctx,
            session,
            procedure,
            text,
            result,
            officer_id=officer_id,
            now=now,
            note=f"Lập từ bảng các bước {shown}",
        )
        uow.commit()
    return draft


def code_from_filename(path: Path) -> str:
    """The procedure code a file name starts with: "1.001193.xlsx", "1.001193 Khai sinh.csv" -> "1.001193"."""
    stem = path.name
    for suffix in TABLE_SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    parts = stem.split()
    return parts[0] if parts else stem


def table_files(directory: Path) -> list[Path]:
    """The step tables of a folder (CSV and XLSX), by name; Excel's lock files left out."""
    return sorted(
        p
        for p in directory.iterdir()
        if p.is_file() and p.suffix.lower() in TABLE_SUFFIXES and not p.name.startswith("~$")
    )


def drafts_from_folder(ctx: Context, directory: Path, now: datetime) -> list[FolderEntry]:
    """Every table of a folder to a draft of the procedure its file name names, one transaction each.

    A table that fails is reported with its reasons and the others go on.
    """
    entries: list[FolderEntry] = []
    for path in table_files(directory):
        code = code_from_filename(path)
        try:
            draft = draft_from_table(ctx, code, path.read_bytes(), path.name, now)
        except InvalidStepTable as exc:
            entries.append(FolderEntry(path.name, code, None, [str(e) for e in exc.rows]))
        except DomainError as exc:
            entries.append(FolderEntry(path.name, code, None, [exc.message]))
        except OSError as exc:
            entries.append(FolderEntry(path.name, code, None, [f"không đọc được tệp: {exc.strerror}"]))
        else:
            entries.append(FolderEntry(path.name, code, draft.number, [str(p) for p in draft.problems]))
    return entries
