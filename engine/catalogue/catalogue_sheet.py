"""The province's catalogue as a spreadsheet: import from XLSX or CSV, export to XLSX.

Provinces publish their catalogues with Vietnamese headers (Mã TTHC, Tên TTHC, Lĩnh vực, Cấp thực
hiện, Thời hạn giải quyết, Cơ quan thực hiện); the English names (code, name, field, level,
legal_time, agency) work too. Import is idempotent: a row that matches the stored procedure is
"unchanged"; each row is reported, a bad row never stops the others, and nothing is written when
the operator only asks to check.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from engine.catalogue.catalogue_admin import (
    ONLINE_LEVEL_LABELS,
    ProcedureInput,
    check_input,
    fold,
    input_of,
    parse_legal_time,
    parse_level,
    parse_online_level,
    save_procedure_in,
)
from engine.context import Context
from engine.errors import DomainError, InvalidInput
from engine.formatting import legal_time
from engine.usecase import active_officer, reading, require_aware, use_case
from models import Agency, Officer, Procedure, UnitOfWork
from models.vocabulary import Level

MAX_ROWS = 20_000
# Column -> the header spellings accepted (compared folded: lower case, no diacritics).
COLUMNS: dict[str, tuple[str, ...]] = {
    "code": ("code", "ma tthc", "ma thu tuc", "ma thu tuc hanh chinh", "ma so"),
    "name": ("name", "ten tthc", "ten thu tuc", "ten thu tuc hanh chinh"),
    "field": ("field", "linh vuc"),
    "level": ("level", "cap thuc hien", "cap"),
    "legal_time": ("legal_time", "thoi han giai quyet", "thoi gian giai quyet", "thoi han"),
    "agency": ("agency", "owner_agency", "co quan thuc hien", "co quan chu tri", "co quan giai quyet"),
    "fee": ("fee", "phi, le phi", "phi le phi", "le phi", "phi"),
    "documents": ("documents", "required_documents", "thanh phan ho so"),
    "online_level": ("online_level", "muc do truc tuyen", "muc do dvc", "dich vu cong truc tuyen"),
    "receiving_level": ("receiving_level", "cap tiep nhan"),
    "receiving_agencies": ("receiving_agencies", "co quan tiep nhan"),
}
REQUIRED = ("code", "name", "field", "level", "legal_time", "agency")
EXPORT_HEADERS = {
    "code": "Mã TTHC",
    "name": "Tên TTHC",
    "field": "Lĩnh vực",
    "level": "Cấp thực hiện",
    "legal_time": "Thời hạn giải quyết",
    "agency": "Cơ quan thực hiện",
    "fee": "Phí, lệ phí",
    "documents": "Thành phần hồ sơ",
    "online_level": "Mức độ trực tuyến",
    "receiving_level": "Cấp tiếp nhận",
    "receiving_agencies": "Cơ quan tiếp nhận",
}
STATUS_LABELS = {
    "created": "Thêm mới",
    "updated": "Cập nhật",
    "unchanged": "Không đổi",
    "error": "Lỗi",
}


@dataclass(frozen=True)
class RowResult:
    """What became of one row of the file (rows numbered as the spreadsheet shows them)."""

    row: int
    code: str
    status: str  # created | updated | unchanged | error
    message: str = ""


@dataclass
class ImportReport:
    """The per-row report of an import."""

    rows: list[RowResult] = field(default_factory=list)
    dry_run: bool = False

    def count(self, status: str) -> int:
        """How many rows ended with this status."""
        return sum(1 for r in self.rows if r.status == status)

    @property
    def ok(self) -> bool:
        """Whether every row was imported."""
        return self.count("error") == 0

    def lines(self) -> list[str]:
        """One line a row, then the totals."""
        out = [
            f"dòng {r.row}: {r.code or '-'}: {STATUS_LABELS[r.status]}{': ' + r.message if r.message else ''}"
            for r in self.rows
        ]
        totals = ", ".join(f"{STATUS_LABELS[s].lower()} {self.count(s)}" for s in STATUS_LABELS)
        out.append(("Kiểm tra (không ghi): " if self.dry_run else "Kết quả: ") + totals)
        return out


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_rows(content: bytes, filename: str) -> list[tuple[int, list[str]]]:
    """The rows of an XLSX or CSV file with their row numbers, as text."""
    suffix = Path(filename).suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        try:
            book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
            raise InvalidInput(
                f"Không đọc được tệp Excel {filename}: tệp hỏng hoặc không phải .xlsx", "file"
            ) from exc
        sheet = book.worksheets[0]
        rows = [
            (n, [_cell(v) for v in values]) for n, values in enumerate(sheet.iter_rows(values_only=True), 1)
        ]
        book.close()
        return rows
    if suffix == ".csv":
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"Tệp {filename} không phải văn bản UTF-8; lưu lại dạng CSV UTF-8", "file"
            ) from exc
        sample = text[:4096]
        delimiter = ";" if sample.count(";") > sample.count(",") else ","
        return [
            (n, [c.strip() for c in row])
            for n, row in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter), 1)
        ]
    raise InvalidInput(f"Tệp {filename}: chỉ nhận tệp .xlsx hoặc .csv", "file")


def _header(rows: list[tuple[int, list[str]]]) -> tuple[int, dict[str, int]]:
    """The header row (the first naming a code and a name; provinces put titles above it) and its columns."""
    for index, (_, cells) in enumerate(rows[:30]):
        columns: dict[str, int] = {}
        for position, cell in enumerate(cells):
            folded = fold(cell).rstrip(" :*")
            for column, names in COLUMNS.items():
                if folded in names and column not in columns:
                    columns[column] = position
        if "code" in columns and "name" in columns:
            missing = [c for c in REQUIRED if c not in columns]
            if missing:
                wanted = ", ".join(f"{EXPORT_HEADERS[c]} ({c})" for c in missing)
                raise InvalidInput(f"Thiếu cột: {wanted}", "file")
            return index, columns
    raise InvalidInput(
        "Không tìm thấy dòng tiêu đề; cần các cột: "
        + ", ".join(f"{EXPORT_HEADERS[c]} ({c})" for c in REQUIRED),
        "file",
    )


def _split(text: str) -> tuple[str, ...]:
    parts = text.replace("\r", "\n").replace(";", "\n").split("\n")
    return tuple(p.strip(" -•\t") for p in parts if p.strip(" -•\t"))


_AMOUNT = re.compile(r"(\d{1,3}(?:[.,]\d{3})+|\d+)\s*(?:đồng|đ|vnđ|vnd)(?!\w)", re.IGNORECASE)


def fees_from_text(text: str) -> list[dict[str, object]]:
    """The fee lines of a "Phí, lệ phí" cell when each part names its amount like "50.000 đồng"
    ("Lệ phí cấp giấy phép: 50.000 đồng; Phí thẩm định: 1.000.000 đồng"); else none (the text is kept)."""
    lines: list[dict[str, object]] = []
    for part in re.split(r"[;\n]+", text or ""):
        part = part.strip(" .-–+")
        if not part:
            continue
        amounts = _AMOUNT.findall(part)
        if len(amounts) != 1:
            return []
        name = _AMOUNT.sub("", part).strip(" :.-–()").removesuffix("/hồ sơ").strip(" :.-–") or "Phí, lệ phí"
        amount = int(re.sub(r"[.,]", "", amounts[0]))
        lines.append({"name": " ".join(name.split())[:255], "amount": amount, "exempt": ""})
    return lines


def _row_input(cells: list[str], columns: dict[str, int]) -> tuple[ProcedureInput | None, dict[str, str]]:
    def get(column: str) -> str:
        position = columns.get(column)
        return cells[position] if position is not None and position < len(cells) else ""

    errors: dict[str, str] = {}
    level = parse_level(get("level"))
    if level is None:
        errors["level"] = f"cấp thực hiện {get('level')!r} không hợp lệ (Cấp tỉnh, Cấp huyện, Cấp xã)"
    legal = parse_legal_time(get("legal_time"))
    if legal is None:
        errors["legal_time"] = (
            f"thời hạn giải quyết {get('legal_time')!r} không đọc được "
            '(ví dụ "10 ngày làm việc", "8 giờ", "Trong ngày")'
        )
    online = parse_online_level(get("online_level"))
    if online is None:
        errors["online_level"] = f"mức độ trực tuyến {get('online_level')!r} không hợp lệ"
    receiving_level = parse_level(get("receiving_level")) if get("receiving_level") else None
    if get("receiving_level") and receiving_level is None:
        errors["receiving_level"] = f"cấp tiếp nhận {get('receiving_level')!r} không hợp lệ"
    if errors:
        return None, errors
    assert level is not None and legal is not None and online is not None
    return (
        ProcedureInput(
            code=get("code"),
            name=get("name"),
            field=get("field"),
            level=level,
            legal_time_value=legal[0],
            legal_time_unit=legal[1],
            owner_agency=get("agency"),
            fee=get("fee"),
            fees=tuple(fees_from_text(get("fee"))),
            required_documents=_split(get("documents")),
            online_level=online,
            receiving_level=receiving_level,
            receiving_agencies=_split(get("receiving_agencies")),
        ),
        {},
    )


def import_catalogue(
    ctx: Context,
    content: bytes,
    filename: str,
    now: datetime,
    *,
    officer_id: int | None = None,
    dry_run: bool = False,
) -> ImportReport:
    """Nhập danh mục thủ tục from a spreadsheet; every row reported, bad rows skipped, one transaction.

    `officer_id` None is the operator at the command line; an officer may write only what they may
    edit in the app. New procedures start with no internal procedure (no active version).
    """
    require_aware(now)
    rows = read_rows(content, filename)
    header_index, columns = _header(rows)
    data_rows = [(n, cells) for n, cells in rows[header_index + 1 :] if any(c for c in cells)]
    if len(data_rows) > MAX_ROWS:
        raise InvalidInput(f"Tệp có {len(data_rows)} dòng; mỗi lần nhập tối đa {MAX_ROWS} dòng", "file")
    report = ImportReport(dry_run=dry_run)
    seen: dict[str, int] = {}
    with use_case(ctx, "Nhập danh mục thủ tục", "danh mục") as uow:
        session = uow.session
        officer: Officer | None = active_officer(session, officer_id) if officer_id is not None else None
        stored = {p.code: p for p in session.scalars(select(Procedure))}
        owners = {a.id: a.code for a in session.scalars(select(Agency))}
        absent = [c for c in KEPT_WHEN_ABSENT if c not in columns]
        for row_number, cells in data_rows:
            data, errors = _row_input(cells, columns)
            code = cells[columns["code"]].strip() if columns["code"] < len(cells) else ""
            if code in seen:
                errors["code"] = f"mã {code} trùng với dòng {seen[code]}"
            existing = stored.get(code)
            if data is not None and existing is not None and absent:
                # A column the file does not have keeps what the catalogue holds.
                data = _keep(data, input_of(existing, owners[existing.owner_agency_id]), absent)
            if data is not None and not errors:
                errors, values = check_input(session, data)
            if errors:
                report.rows.append(RowResult(row_number, code, "error", "; ".join(errors.values())))
                continue
            assert data is not None
            seen[code] = row_number
            if existing is not None and _same(existing, values):
                report.rows.append(RowResult(row_number, code, "unchanged"))
                continue
            try:
                saved = save_procedure_in(session, data, officer)
            except DomainError as exc:
                report.rows.append(RowResult(row_number, code, "error", exc.message))
                continue
            status = "created" if saved.created else "updated"
            report.rows.append(RowResult(row_number, code, status, ", ".join(saved.changed)))
        if not dry_run:
            uow.commit()
    return report


KEPT_WHEN_ABSENT = {
    "fee": ("fee", "fees"),
    "documents": ("required_documents",),
    "online_level": ("online_level",),
    "receiving_level": ("receiving_level",),
    "receiving_agencies": ("receiving_agencies",),
}


def _keep(data: ProcedureInput, stored: ProcedureInput, absent: list[str]) -> ProcedureInput:
    kept = {name: getattr(stored, name) for column in absent for name in KEPT_WHEN_ABSENT[column]}
    return replace(data, **kept)


def _same(procedure: Procedure, values: dict[str, object]) -> bool:
    return all(getattr(procedure, name) == value for name, value in values.items())


def export_catalogue(ctx: Context, *, uow: UnitOfWork | None = None) -> bytes:
    """Danh mục thủ tục as XLSX, with the headers the import reads, so the file goes back in unchanged."""
    with reading(ctx, uow) as session:
        agencies = {a.id: a.code for a in session.scalars(select(Agency))}
        procedures = list(session.scalars(select(Procedure).order_by(Procedure.code)))
        book = Workbook()
        sheet = book.active
        sheet.title = "Danh mục TTHC"
        sheet.append(list(EXPORT_HEADERS.values()))
        for p in procedures:
            data = input_of(p, agencies[p.owner_agency_id])
            sheet.append(
                [
                    p.code,
                    p.name,
                    p.field,
                    Level(p.level).label if p.level in Level.values() else p.level,
                    legal_time(float(p.legal_time_value), p.legal_time_unit, ctx.settings.hours_per_day),
                    data.owner_agency,
                    p.fee or "",
                    "\n".join(data.required_documents),
                    ONLINE_LEVEL_LABELS.get(p.online_level, p.online_level),
                    Level(p.receiving_level).label if p.receiving_level in Level.values() else "",
                    "\n".join(data.receiving_agencies),
                ]
            )
        for column, width in zip("ABCDEFGHIJK", (12, 60, 24, 14, 20, 18, 20, 60, 22, 16, 20), strict=True):
            sheet.column_dimensions[column].width = width
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()
