"""Reading a province's step table (bảng các bước of an internal procedure) from XLSX or CSV.

An approval decision publishes each internal procedure as a table: step | content of the work |
who is responsible | time. This module reads such a table into steps with a role and working
hours, and reports every problem of every row at once, in Vietnamese, so the process owner fixes
the file in one pass. Nothing here touches the database: the caller passes what it knows (the
legal time, the agencies) and stores nothing when `StepTableReport.errors` is not empty.
"""

from __future__ import annotations

import csv
import functools
import io
import re
import tomllib
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from engine.catalogue.procedure_model import ROLE_LABELS, STEP_ROLES
from engine.errors import InvalidInput

ROLE_TABLE_FILE = "step_roles.toml"
# Headers as provinces write them, folded (lower case, no diacritics, single spaces).
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "step": ("step", "buoc", "stt", "buoc thuc hien", "thu tu", "so thu tu", "trinh tu"),
    "content": (
        "content",
        "noi dung cong viec",
        "noi dung",
        "noi dung thuc hien",
        "noi dung cong viec thuc hien",
        "ten buoc",
    ),
    "responsible": (
        "responsible",
        "trach nhiem thuc hien",
        "trach nhiem",
        "nguoi thuc hien",
        "bo phan thuc hien",
        "can bo thuc hien",
        "don vi thuc hien",
    ),
    "time": ("time", "thoi gian thuc hien", "thoi gian", "thoi gian giai quyet", "thoi han"),
    "role": ("role", "vai tro"),
    "agency": ("agency", "co quan", "co quan thuc hien", "ma co quan"),
}
REQUIRED_COLUMNS = ("step", "content", "responsible", "time")
COLUMN_LABELS = {
    "step": "Bước",
    "content": "Nội dung công việc",
    "responsible": "Trách nhiệm thực hiện",
    "time": "Thời gian thực hiện",
    "role": "Vai trò",
    "agency": "Cơ quan",
}
# The step-table's header may sit under a title: the first rows are searched for it.
HEADER_SEARCH_ROWS = 20
MAX_ROWS = 500
MAX_STEP_HOURS = 10_000
CONTENT_LIMIT = 255
# "Không tính", "không tính thời gian", "Không tính vào thời gian giải quyết".
NOT_COUNTED = "khong tinh"
RETURN_WORDS = "tra ket qua"
TIME_PATTERN = re.compile(
    r"^(?P<number>\d+(?:[.,]\d+)?|\d+\s*/\s*\d+)\s*(?P<unit>ngay|gio|h|tieng)?(?:\s*lam viec)?$"
)
STEP_PATTERN = re.compile(r"^(?:buoc\s*|b\s*)?(?P<number>\d+)(?:[.,]0+)?\.?$")


def fold(text: str) -> str:
    """Lower case without diacritics and with single spaces: "Bộ  phận MỘT CỬA" -> "bo phan mot cua"."""
    decomposed = unicodedata.normalize("NFD", text.casefold().replace("đ", "d"))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.split())


def _words(text: str) -> str:
    """Folded, with punctuation as spaces, padded: phrases are matched on whole words."""
    return " " + " ".join(re.sub(r"[^\w]+", " ", fold(text)).split()) + " "


# ---------------------------------------------------------------------------
# the province's phrase -> role table


@dataclass(frozen=True)
class RoleTable:
    """Phrases of the "responsible" column and the role each names; the longest match wins."""

    phrases: tuple[tuple[str, str, str], ...]  # (folded words, role, phrase as written)
    return_hours: float = 4.0

    def role_of(self, responsible: str) -> str | None:
        """The role of a responsible phrase, by the longest phrase it contains; None when none."""
        words = _words(responsible)
        best: tuple[int, str] | None = None
        for folded, role, _ in self.phrases:
            if folded in words and (best is None or len(folded) > best[0]):
                best = (len(folded), role)
        return best[1] if best else None

    @classmethod
    def from_mapping(cls, data: Mapping[str, object], source: str = ROLE_TABLE_FILE) -> RoleTable:
        """Build the table from the TOML's content; an unknown role or a bad value is named."""
        roles = data.get("roles", {})
        if not isinstance(roles, Mapping):
            raise InvalidInput(f"{source}: mục [roles] phải là bảng vai trò -> danh sách cụm từ", "roles")
        phrases: list[tuple[str, str, str]] = []
        for role, listed in roles.items():
            if role not in STEP_ROLES:
                raise InvalidInput(
                    f"{source}: vai trò '{role}' không hợp lệ; hãy dùng một trong: {', '.join(STEP_ROLES)}",
                    "roles",
                )
            if not isinstance(listed, list) or not all(isinstance(p, str) for p in listed):
                raise InvalidInput(f"{source}: vai trò '{role}' phải có một danh sách cụm từ", "roles")
            phrases.extend((_words(p), role, p) for p in listed if p.strip())
        hours = data.get("return_hours", 4)
        if not isinstance(hours, int | float) or isinstance(hours, bool) or not 0 < hours <= MAX_STEP_HOURS:
            raise InvalidInput(f"{source}: return_hours phải là số giờ làm việc lớn hơn 0", "return_hours")
        return cls(tuple(phrases), float(hours))


DEFAULT_ROLE_PHRASES = {
    "desk": ["Bộ phận Một cửa", "Công chức tiếp nhận", "Bộ phận tiếp nhận và trả kết quả"],
    "head": ["Lãnh đạo phòng", "Trưởng phòng", "Chỉ huy"],
    "specialist": ["Chuyên viên", "Công chức chuyên môn", "Cán bộ"],
    "leader": ["Lãnh đạo UBND", "Giám đốc", "Chủ tịch", "Lãnh đạo Sở"],
    "clerk": ["Văn thư"],
}


@functools.lru_cache(maxsize=8)
def _role_table_at(path: str, mtime_ns: int) -> RoleTable:
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{Path(path).name}: không đọc được tệp TOML: {exc}", "roles") from exc
    return RoleTable.from_mapping(data, Path(path).name)


def role_table(workflows_dir: str | Path) -> RoleTable:
    """The province's table (workflows/step_roles.toml), read again when it changes; else the defaults."""
    path = Path(workflows_dir) / ROLE_TABLE_FILE
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return RoleTable.from_mapping({"roles": DEFAULT_ROLE_PHRASES})
    return _role_table_at(str(path), mtime)


# ---------------------------------------------------------------------------
# what reading a table gives


@dataclass(frozen=True)
class RowError:
    """One problem of one row (row 0: the file itself), as the process owner reads it."""

    row: int
    message: str
    column: str | None = None

    def __str__(self) -> str:
        return f"Dòng {self.row}: {self.message}" if self.row else self.message

    def as_dict(self) -> dict[str, object]:
        """JSON form (the API and the pages)."""
        return {"row": self.row, "column": self.column, "message": self.message}


@dataclass(frozen=True)
class TableStep:
    """One row of the table, read: its number, work, role, agency and working hours."""

    row: int
    number: int
    content: str
    responsible: str
    role: str
    agency: str | None
    hours: float
    counted: bool
    time_text: str

    @property
    def role_label(self) -> str:
        """The role as officers read it."""
        return ROLE_LABELS.get(self.role, self.role)

    @property
    def hands_over(self) -> bool:
        """Whether the row names the hand-over of the result ("trả kết quả") at the desk."""
        return self.role == "desk" and RETURN_WORDS in _words(self.content)


@dataclass
class StepTableReport:
    """The steps read from a table, in step order, and every problem found (none: it can be drafted)."""

    filename: str
    steps: list[TableStep] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    legal_hours: float | None = None
    hours_per_day: int = 8

    @property
    def ok(self) -> bool:
        """No problem: the table can become a draft."""
        return not self.errors

    @property
    def counted_hours(self) -> float:
        """Working hours of the steps counted in the legal time."""
        return round(sum(s.hours for s in self.steps if s.counted), 4)

    def message(self) -> str:
        """Every problem, one per line, under a line naming the file."""
        lines = "\n".join(str(e) for e in self.errors)
        return f"Bảng các bước {self.filename} có {len(self.errors)} lỗi, chưa có gì được lưu:\n{lines}"


# ---------------------------------------------------------------------------
# cells: XLSX or CSV -> rows of text with their row numbers


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


XLSX_UNREADABLE = "Không đọc được tệp Excel (.xlsx); hãy lưu lại bằng Excel rồi thử lại"
# A step table is narrow and short: what lies beyond is not read (a sheet may claim a million rows).
XLSX_MAX_COLUMNS = 30


def _xlsx_rows(data: bytes) -> Iterator[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    rows: list[tuple[int, list[str]]] = []
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            sheet = workbook.worksheets[0]
            cells = sheet.iter_rows(max_col=XLSX_MAX_COLUMNS, values_only=True)
            for number, row in enumerate(cells, start=1):
                rows.append((number, [_cell_text(v) for v in row]))
                if number >= HEADER_SEARCH_ROWS + MAX_ROWS + 1:
                    break
        finally:
            workbook.close()
    except zipfile.BadZipFile as exc:
        raise InvalidInput(XLSX_UNREADABLE, "file") from exc
    except Exception as exc:  # openpyxl raises many kinds of error on a damaged or foreign file
        raise InvalidInput(XLSX_UNREADABLE, "file") from exc
    return iter(rows)


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            "Tệp CSV phải được lưu với bảng mã UTF-8 (trong Excel: Lưu thành > CSV UTF-8)", "file"
        ) from exc


def _csv_rows(data: bytes) -> Iterator[tuple[int, list[str]]]:
    text = _decode(data)
    # Excel writes "," or, in locales with a decimal comma, ";"; some exports use tabs. The one every
    # first line holds most of is the delimiter ("0,5 ngày" puts commas in some cells only).
    lines = [line for line in text[:4096].splitlines() if line.strip()][:5] or [""]
    delimiter = max(",;\t", key=lambda d: min(line.count(d) for line in lines))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        start = 1
        for row in reader:
            yield start, [c.strip() for c in row]
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InvalidInput(f"Không đọc được tệp CSV (dòng {reader.line_num}): {exc}", "file") from exc


def is_xlsx(data: bytes, filename: str) -> bool:
    """Whether the upload is a workbook (by its name, else by its zip signature)."""
    return filename.lower().endswith((".xlsx", ".xlsm")) or data.startswith(b"PK\x03\x04")


def table_rows(data: bytes, filename: str) -> Iterator[tuple[int, list[str]]]:
    """The rows of the file, numbered as the spreadsheet shows them."""
    return _xlsx_rows(data) if is_xlsx(data, filename) else _csv_rows(data)


def _header_columns(cells: Sequence[str]) -> dict[str, int]:
    columns: dict[str, int] = {}
    for index, cell in enumerate(cells):
        key = fold(re.sub(r"\(.*?\)|[*:]", " ", cell))
        for name, aliases in HEADER_ALIASES.items():
            if key in aliases and name not in columns:
                columns[name] = index
    return columns


# ---------------------------------------------------------------------------
# values


def parse_hours(text: str, hours_per_day: int = 8, *, bare_unit: str = "ngay") -> tuple[float, bool] | str:
    """Working hours and whether they count, from "0,25 ngày", "0.5", "4 giờ", "02 ngày", "Không tính".

    A bare number is days, or hours when `bare_unit` is "gio" (a header "Thời gian (giờ)").
    Returns the reason in Vietnamese when the text cannot be read.
    """
    folded = fold(text)
    if not folded:
        return "chưa ghi thời gian thực hiện"
    if folded.startswith(NOT_COUNTED):
        return 0.0, False
    found = TIME_PATTERN.match(folded)
    if found is None:
        return (
            f"thời gian '{text}' không đọc được; hãy ghi số ngày làm việc (ví dụ '0,5 ngày' hoặc '0.5'), "
            "số giờ (ví dụ '4 giờ') hoặc 'Không tính' cho bước trả kết quả"
        )
    number = found.group("number").replace(",", ".").replace(" ", "")
    if "/" in number:
        top, bottom = number.split("/")
        if int(bottom) == 0:
            return f"thời gian '{text}' không đọc được"
        value = int(top) / int(bottom)
    else:
        value = float(number)
    unit = found.group("unit") or bare_unit
    hours = value * hours_per_day if unit == "ngay" else value
    if hours <= 0:
        return f"thời gian '{text}' phải lớn hơn 0 (bước trả kết quả không tính thời gian: ghi 'Không tính')"
    if hours > MAX_STEP_HOURS:
        return f"thời gian '{text}' vượt quá {MAX_STEP_HOURS:,} giờ làm việc".replace(",", ".")
    return round(hours, 4), True


def _role_of(column: str, responsible: str, roles: RoleTable) -> str | None:
    if column:
        key = fold(column)
        if key in STEP_ROLES:
            return key
        by_label = {fold(label): role for role, label in STEP_ROLES.items()}
        return by_label.get(key) or roles.role_of(column)
    return roles.role_of(responsible)


def _shown_hours(hours: float) -> str:
    return f"{hours:g}".replace(".", ",")


def read_step_table(
    data: bytes,
    filename: str,
    *,
    roles: RoleTable,
    legal_hours: float | None = None,
    hours_per_day: int = 8,
    agencies: Mapping[str, str] | None = None,
) -> StepTableReport:
    """Read a step table and report every problem of every row at once.

    `legal_hours` (the procedure's budget, when known) caps the counted steps; `agencies` maps
    the folded codes and names of known agencies to their codes, for the optional agency column.
    Raises InvalidInput only when the file cannot be read at all.
    """
    report = StepTableReport(filename, legal_hours=legal_hours, hours_per_day=hours_per_day)
    rows = table_rows(data, filename)
    columns: dict[str, int] = {}
    header_row = 0
    bare_unit = "ngay"
    for number, cells in rows:
        found = _header_columns(cells)
        if all(c in found for c in REQUIRED_COLUMNS):
            columns, header_row = found, number
            # "Thời gian thực hiện (giờ)": the bare numbers under it are hours, not days.
            time_header = fold(cells[found["time"]])
            if re.search(r"\b(gio|h|hours?)\b", time_header.replace("thoi gian", "")):
                bare_unit = "gio"
            break
        if number >= HEADER_SEARCH_ROWS:
            break
    if not columns:
        wanted = ", ".join(COLUMN_LABELS[c] for c in REQUIRED_COLUMNS)
        report.errors.append(
            RowError(
                0,
                f"Không tìm thấy dòng tiêu đề của bảng các bước: cần các cột {wanted} "
                "(hoặc step, content, responsible, time)",
            )
        )
        return report
    _read_rows(report, rows, columns, header_row, roles, (hours_per_day, bare_unit), agencies)
    _check_whole(report)
    report.errors.sort(key=lambda e: e.row)
    return report


def _read_rows(
    report: StepTableReport,
    rows: Iterable[tuple[int, list[str]]],
    columns: Mapping[str, int],
    header_row: int,
    roles: RoleTable,
    time_units: tuple[int, str],
    agencies: Mapping[str, str] | None,
) -> None:
    seen: dict[int, int] = {}
    steps: list[TableStep] = []
    for number, cells in rows:
        if not any(cells):
            continue
        if len(steps) + len(report.errors) >= MAX_ROWS:
            report.errors.append(
                RowError(number, f"bảng có quá {MAX_ROWS} dòng; hãy tách thành nhiều quy trình")
            )
            break

        def cell(name: str, cells: list[str] = cells) -> str:
            index = columns.get(name)
            return " ".join(cells[index].split()) if index is not None and index < len(cells) else ""

        errors: list[RowError] = []
        step_text, content, responsible = cell("step"), cell("content"), cell("responsible")
        matched = STEP_PATTERN.match(fold(step_text))
        step_number = int(matched.group("number")) if matched else None
        if not step_text:
            errors.append(RowError(number, "chưa ghi số thứ tự bước", "step"))
        elif step_number is None or step_number <= 0:
            errors.append(RowError(number, f"số thứ tự bước '{step_text}' phải là số nguyên dương", "step"))
        elif step_number in seen:
            errors.append(
                RowError(number, f"bước {step_number} trùng với bước ở dòng {seen[step_number]}", "step")
            )
        else:
            seen[step_number] = number
        if not content:
            errors.append(RowError(number, "chưa ghi nội dung công việc", "content"))
        elif len(content) > CONTENT_LIMIT:
            errors.append(RowError(number, f"nội dung công việc dài quá {CONTENT_LIMIT} ký tự", "content"))
        role = _role_of(cell("role"), responsible, roles)
        if not responsible and not cell("role"):
            errors.append(RowError(number, "chưa ghi trách nhiệm thực hiện", "responsible"))
        elif role is None:
            shown = cell("role") or responsible
            errors.append(
                RowError(
                    number,
                    f"không xác định được vai trò của '{shown}'; hãy thêm cụm từ này vào "
                    f"{ROLE_TABLE_FILE} hoặc ghi cột Vai trò (desk, head, specialist, leader, clerk)",
                    "role" if cell("role") else "responsible",
                )
            )
        agency = None
        agency_text = cell("agency")
        if agency_text and agencies is not None:
            agency = agencies.get(fold(agency_text))
            if agency is None:
                errors.append(
                    RowError(number, f"cơ quan '{agency_text}' không có trong danh sách cơ quan", "agency")
                )
        elif agency_text:
            agency = agency_text
        time_text = cell("time")
        parsed = parse_hours(time_text, time_units[0], bare_unit=time_units[1])
        if isinstance(parsed, str):
            errors.append(RowError(number, parsed, "time"))
        if errors:
            report.errors.extend(errors)
            continue
        assert step_number is not None and role is not None and not isinstance(parsed, str)
        hours, counted = parsed
        steps.append(
            TableStep(
                row=number,
                number=step_number,
                content=content,
                responsible=responsible or STEP_ROLES[role],
                role=role,
                agency=agency,
                hours=hours if counted else roles.return_hours,
                counted=counted,
                time_text=time_text,
            )
        )
    if not steps and not report.errors:
        report.errors.append(RowError(header_row, "bảng không có bước nào dưới dòng tiêu đề"))
    report.steps = sorted(steps, key=lambda s: s.number)


def _check_whole(report: StepTableReport) -> None:
    """Rules across rows: only the hand-over is uncounted and comes last; counted steps fit the legal time."""
    steps = report.steps
    returns = [s for s in steps if s.hands_over]
    last_return = returns[-1] if returns else None
    for step in steps:
        if not step.counted and step is not last_return:
            report.errors.append(
                RowError(
                    step.row,
                    f"bước {step.number}: chỉ bước trả kết quả của Bộ phận Một cửa (bước cuối) mới được "
                    f"ghi '{step.time_text}'; hãy ghi thời gian thực hiện",
                    "time",
                )
            )
    if last_return is not None and last_return is not steps[-1]:
        for after in steps[steps.index(last_return) + 1 :]:
            report.errors.append(
                RowError(
                    after.row,
                    f"bước {after.number} nằm sau bước trả kết quả (bước {last_return.number}); "
                    "bước trả kết quả phải là bước cuối cùng",
                    "step",
                )
            )
    if report.legal_hours is None:
        return
    total = 0.0
    for step in steps:
        if not step.counted:
            continue
        total = round(total + step.hours, 4)
        if total > report.legal_hours + 1e-9:
            days = report.legal_hours / report.hours_per_day
            report.errors.append(
                RowError(
                    step.row,
                    f"cộng dồn đến bước {step.number} là {_shown_hours(total)} giờ làm việc, vượt thời hạn "
                    f"giải quyết {_shown_hours(report.legal_hours)} giờ ({_shown_hours(days)} ngày) "
                    "làm việc của thủ tục",
                    "time",
                )
            )
            break


def normalized_csv(steps: Sequence[TableStep]) -> str:
    """The steps as a CSV with the English headers: what the preview page sends back to be saved."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["step", "content", "responsible", "time", "role", "agency"])
    for s in steps:
        writer.writerow([s.number, s.content, s.responsible, s.time_text, s.role, s.agency or ""])
    return out.getvalue()
