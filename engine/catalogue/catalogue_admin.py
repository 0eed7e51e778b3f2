"""Danh mục thủ tục hành chính: creating and editing procedures in the app, the CLI and the API.

A procedure is catalogue data (code, name, field, level, legal time, fees, documents, owner and
receiving agencies, online level); its internal procedure comes later as process versions, so a
new procedure starts with no active version. Every field is checked in one pass and all problems
are reported at once.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.catalogue.fees import fee_lines, parse_fee_lines
from engine.context import Context
from engine.errors import Forbidden, InvalidFields, InvalidInput, NotFound
from engine.usecase import active_officer, reading, require_aware, use_case
from models import Agency, Officer, Procedure, UnitOfWork
from models.catalogue import ONLINE_LEVELS, RECEIVING_AGENCY_LEVELS
from models.vocabulary import Level

# Who may write the catalogue: an administrator anywhere, a process owner for their own agency.
CATALOGUE_EDITORS = ("admin", "process_owner")
PROCEDURE_LEVELS = ("province", "district", "commune")
ONLINE_LEVEL_LABELS = {
    "none": "Không trực tuyến",
    "partial": "Trực tuyến một phần",
    "full": "Trực tuyến toàn trình",
}
MAX_FEE_LINES = 20
MAX_FEE_AMOUNT = 1_000_000_000
CODE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,39}$")
# Legal times as catalogues write them: "3 ngày làm việc", "03 ngày", "0,5 ngày", "8 giờ", "Trong ngày".
_TIME = re.compile(r"(\d+(?:[.,]\d+)?)\s*(ngay|gio|days?|hours?|h)?\b")
_STATED_HOURS = re.compile(r"\((\d+(?:[.,]\d+)?)\s*(gio)\b")


def fold(text: str) -> str:
    """Lower case without diacritics or repeated spaces ("Cấp  Tỉnh" -> "cap tinh"), for matching words."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    plain = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return " ".join(plain.lower().split())


def parse_legal_time(text: str | float | int | None) -> tuple[float, str] | None:
    """(value, "days"|"hours") from a catalogue's wording; None when nothing usable is written.

    A bare number is days, as catalogues state legal times in working days.
    """
    if text is None:
        return None
    if isinstance(text, int | float):
        return (float(text), "days") if text >= 0 else None
    folded = fold(str(text))
    if not folded:
        return None
    if folded.startswith("trong ngay") or folded in ("ngay", "giai quyet ngay"):
        return 0.0, "days"
    # "12 ngày làm việc (96 giờ làm việc)", as engine.formatting.legal_time writes hours: the hours.
    stated = _STATED_HOURS.search(folded)
    match = stated or _TIME.search(folded)
    if match is None:
        return None
    value = float(match.group(1).replace(",", "."))
    unit = match.group(2) or "ngay"
    return value, "hours" if unit in ("gio", "hour", "hours", "h") else "days"


_LEVEL_WORDS = {
    "province": ("province", "tinh", "cap tinh", "so", "cap so"),
    "district": ("district", "huyen", "cap huyen"),
    "commune": ("commune", "xa", "cap xa", "phuong", "xa, phuong, thi tran"),
    # Only as a receiving level: dossiers of a provincial procedure received at a department's desk.
    "department": ("department", "cap so, nganh", "cap so nganh", "so, nganh"),
}


def parse_level(text: str | None) -> str | None:
    """The procedure level from "province", "Cấp tỉnh", "Cấp xã"...; None when unknown."""
    folded = fold(text or "")
    for level, words in _LEVEL_WORDS.items():
        if folded in words:
            return level
    return None


def parse_online_level(text: str | None) -> str | None:
    """The online level from "full"/"Toàn trình"/"Một phần"/"none"; None when unknown."""
    folded = fold(text or "")
    if folded in ("", "none", "khong", "truc tiep"):
        return "none"
    if folded in ONLINE_LEVELS:
        return folded
    if "toan trinh" in folded or folded in ("4", "muc do 4"):
        return "full"
    if "mot phan" in folded or folded in ("3", "muc do 3"):
        return "partial"
    return None


@dataclass(frozen=True)
class ProcedureInput:
    """What an officer, a catalogue row or an API caller gives for one procedure."""

    code: str
    name: str
    field: str
    level: str
    legal_time_value: float | None
    legal_time_unit: str
    owner_agency: str  # agency code or exact name
    fee: str = ""
    required_documents: tuple[str, ...] = ()
    online_level: str = "partial"
    receiving_level: str | None = None  # default: the procedure's level
    receiving_agencies: tuple[str, ...] = ()
    # Each fee or charge: {"name", "amount" (đồng: int or "50.000 đồng"), "exempt"}; see catalogue/fees.py.
    fees: tuple[Mapping[str, object], ...] = ()


@dataclass(frozen=True)
class ProcedureSaved:
    """The outcome of a create or an edit."""

    code: str
    created: bool
    changed: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProcedureForm:
    """What the create and edit pages show: current values and the agencies to choose from."""

    values: ProcedureInput | None
    agencies: list[tuple[str, str, str]] = field(default_factory=list)  # code, name, level
    has_versions: bool = False


def _agency(session: Session, ref: str) -> Agency | None:
    ref = ref.strip()
    if not ref:
        return None
    found = session.scalars(select(Agency).where(Agency.code == ref)).one_or_none()
    if found is not None:
        return found
    wanted = fold(ref)
    return next((a for a in session.scalars(select(Agency)) if fold(a.name) == wanted), None)


def check_input(session: Session, data: ProcedureInput) -> tuple[dict[str, str], dict[str, object]]:
    """Every problem of `data` by field, and the column values when there is none."""
    errors: dict[str, str] = {}
    code = data.code.strip()
    if not CODE.match(code):
        errors["code"] = (
            "Mã thủ tục bắt buộc, tối đa 40 ký tự (chữ, số, dấu chấm, gạch ngang), ví dụ 1.001806"
        )
    name = " ".join(data.name.split())
    if not name:
        errors["name"] = "Tên thủ tục bắt buộc"
    field_name = " ".join(data.field.split())
    if not field_name:
        errors["field"] = "Lĩnh vực bắt buộc"
    elif len(field_name) > 255:
        errors["field"] = "Lĩnh vực dài quá 255 ký tự"
    if data.level not in PROCEDURE_LEVELS:
        labels = ", ".join(Level(level).label for level in PROCEDURE_LEVELS)
        errors["level"] = f"Cấp thực hiện không hợp lệ; chọn một trong: {labels}"
    if data.legal_time_unit not in ("days", "hours"):
        errors["legal_time"] = "Đơn vị thời hạn phải là ngày làm việc hoặc giờ làm việc"
    elif data.legal_time_value is None or not 0 <= data.legal_time_value <= 3650:
        errors["legal_time"] = (
            'Thời hạn giải quyết không hợp lệ; ví dụ "10 ngày làm việc", "8 giờ", "Trong ngày"'
        )
    if data.online_level not in ONLINE_LEVELS:
        errors["online_level"] = "Mức độ trực tuyến phải là: " + ", ".join(ONLINE_LEVEL_LABELS.values())
    owner = _agency(session, data.owner_agency)
    if owner is None:
        errors["owner_agency"] = (
            f"Cơ quan thực hiện {data.owner_agency!r} không có trong danh sách cơ quan"
            if data.owner_agency.strip()
            else "Cơ quan thực hiện bắt buộc"
        )
    receiving_level = data.receiving_level or data.level
    if receiving_level not in RECEIVING_AGENCY_LEVELS and data.receiving_level:
        errors["receiving_level"] = "Cấp tiếp nhận không hợp lệ"
    receiving: list[str] = []
    # Without a valid receiving level (the level's own error says why) the agencies cannot be judged.
    for ref in data.receiving_agencies if receiving_level in RECEIVING_AGENCY_LEVELS else ():
        agency = _agency(session, ref)
        if agency is None:
            errors["receiving_agencies"] = f"Cơ quan tiếp nhận {ref} không có trong danh sách cơ quan"
            break
        if agency.level not in RECEIVING_AGENCY_LEVELS.get(receiving_level, ()):
            errors["receiving_agencies"] = (
                f"Cơ quan tiếp nhận {agency.code} ({agency.name}) không thuộc cấp tiếp nhận "
                f"{Level(receiving_level).label if receiving_level in Level.values() else receiving_level}"
            )
            break
        receiving.append(agency.code)
    documents = [" ".join(d.split()) for d in data.required_documents if d and d.strip()]
    if any(len(d) > 1000 for d in documents):
        errors["required_documents"] = "Mỗi thành phần hồ sơ tối đa 1.000 ký tự"
    fee_values: list[dict[str, object]] = []
    try:
        fee_values = [line.as_data() for line in parse_fee_lines(data.fees)]
    except InvalidInput as exc:
        errors["fees"] = exc.message
    if len(fee_values) > MAX_FEE_LINES:
        errors["fees"] = f"Tối đa {MAX_FEE_LINES} khoản phí, lệ phí"
    elif any(len(str(line["name"])) > 255 or len(str(line["exempt"])) > 1000 for line in fee_values):
        errors["fees"] = "Tên khoản phí tối đa 255 ký tự, đối tượng miễn tối đa 1.000 ký tự"
    elif any(int(str(line["amount"])) > MAX_FEE_AMOUNT for line in fee_values):
        errors["fees"] = "Số tiền một khoản phí, lệ phí không quá 1 tỷ đồng"
    values: dict[str, object] = {
        "code": code,
        "name": name,
        "field": field_name,
        "level": data.level,
        "legal_time_value": data.legal_time_value,
        "legal_time_unit": data.legal_time_unit,
        "fee": data.fee.strip(),
        "fees": fee_values,
        "required_documents": documents,
        "online_level": data.online_level,
        "owner_agency_id": owner.id if owner is not None else None,
        "receiving_level": receiving_level,
        "receiving_agencies": receiving,
    }
    return errors, values


def may_edit_catalogue(officer: Officer, owner_agency_id: int | None) -> bool:
    """Whether the officer may write a procedure owned by that agency."""
    if officer.has_role("admin"):
        return True
    return officer.has_role("process_owner") and officer.agency_id == owner_agency_id


def _require_editor(officer: Officer | None, owner_agency_id: int | None) -> None:
    if officer is None or may_edit_catalogue(officer, owner_agency_id):
        return
    if not any(officer.has_role(role) for role in CATALOGUE_EDITORS):
        raise Forbidden("Chỉ quản trị hệ thống hoặc cán bộ quản lý quy trình mới được sửa danh mục thủ tục")
    raise Forbidden("Cán bộ quản lý quy trình chỉ được thêm, sửa thủ tục do cơ quan mình chủ trì")


def save_procedure_in(
    session: Session, data: ProcedureInput, officer: Officer | None, *, create_only: bool = False
) -> ProcedureSaved:
    """Create or update one procedure inside the caller's transaction (None officer: the CLI's operator)."""
    existing = session.scalars(select(Procedure).where(Procedure.code == data.code.strip())).one_or_none()
    if existing is not None and not create_only:
        _require_editor(officer, existing.owner_agency_id)
    errors, values = check_input(session, data)
    if existing is not None and create_only:
        errors["code"] = f"Thủ tục {existing.code} đã có trong danh mục"
    if errors:
        raise InvalidFields(errors)
    _require_editor(officer, values["owner_agency_id"])  # type: ignore[arg-type]
    if existing is None:
        session.add(Procedure(**values))
        session.flush()
        return ProcedureSaved(str(values["code"]), created=True)
    changed = []
    for name, value in values.items():
        if getattr(existing, name) != value:
            setattr(existing, name, value)
            changed.append(name)
    session.flush()
    return ProcedureSaved(existing.code, created=False, changed=tuple(changed))


def create_procedure(ctx: Context, officer_id: int, data: ProcedureInput, now: datetime) -> ProcedureSaved:
    """Thêm thủ tục vào danh mục, with no internal procedure yet (a draft version comes next)."""
    require_aware(now)
    with use_case(ctx, "Thêm thủ tục", "thủ tục") as uow:
        officer = active_officer(uow.session, officer_id)
        saved = save_procedure_in(uow.session, data, officer, create_only=True)
        uow.commit()
    return saved


def update_procedure(
    ctx: Context, officer_id: int, code: str, data: ProcedureInput, now: datetime
) -> ProcedureSaved:
    """Sửa thông tin thủ tục; the code never changes (dossier codes and reports refer to it).

    A new legal time applies to dossiers received from now on; running dossiers keep theirs.
    """
    require_aware(now)
    with use_case(ctx, "Sửa thủ tục", "thủ tục") as uow:
        officer = active_officer(uow.session, officer_id)
        if uow.session.scalars(select(Procedure.id).where(Procedure.code == code)).one_or_none() is None:
            raise NotFound(f"Thủ tục {code} không có trong danh mục thủ tục hành chính")
        saved = save_procedure_in(uow.session, replace(data, code=code), officer)
        uow.commit()
    return saved


def input_of(procedure: Procedure, owner_code: str) -> ProcedureInput:
    """A stored procedure as the form's values."""
    return ProcedureInput(
        code=procedure.code,
        name=procedure.name,
        field=procedure.field,
        level=procedure.level,
        legal_time_value=float(procedure.legal_time_value),
        legal_time_unit=procedure.legal_time_unit,
        owner_agency=owner_code,
        fee=procedure.fee or "",
        fees=tuple(line.as_data() for line in fee_lines(procedure.fees)),
        required_documents=tuple(procedure.required_documents or ()),
        online_level=procedure.online_level,
        receiving_level=procedure.receiving_level,
        receiving_agencies=tuple(procedure.receiving_agencies or ()),
    )


def procedure_form(
    ctx: Context, officer_id: int, code: str | None = None, *, uow: UnitOfWork | None = None
) -> ProcedureForm:
    """The create page (no code) or the edit page of a procedure, for those who may write it."""
    with reading(ctx, uow) as session:
        officer = active_officer(session, officer_id)
        agencies = [(a.code, a.name, a.level) for a in session.scalars(select(Agency).order_by(Agency.code))]
        if code is None:
            _require_editor(officer, officer.agency_id)
            # A new procedure is owned by the writer's own agency unless they choose another.
            own = session.get_one(Agency, officer.agency_id).code
            blank = ProcedureInput("", "", "", "province", None, "days", own)
            return ProcedureForm(blank, agencies)
        procedure = session.scalars(select(Procedure).where(Procedure.code == code)).one_or_none()
        if procedure is None:
            raise NotFound(f"Thủ tục {code} không có trong danh mục thủ tục hành chính")
        _require_editor(officer, procedure.owner_agency_id)
        owner = session.get_one(Agency, procedure.owner_agency_id)
        return ProcedureForm(input_of(procedure, owner.code), agencies, has_versions=bool(procedure.versions))
