"""Load the demo organisation and the procedure catalogue (`motcua load`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from engine.accounts import one_time_password
from engine.catalogue.catalogue_admin import ProcedureInput, save_procedure_in
from engine.catalogue.catalogue_file import catalogue_path, read_toml, receiving_of
from engine.catalogue.fees import parse_fee_lines
from engine.catalogue.procedure_model import ALL_ROLES
from engine.catalogue.procedures import procedure_by_code
from engine.catalogue.versions import activate_version, was_approved
from engine.context import Context
from engine.errors import InvalidFields, InvalidInput
from models import Agency, Officer
from models.catalogue import AGENCY_LEVELS

DEMO_PASSWORD = "motcua-demo"


@dataclass
class LoadReport:
    """What a load created or changed."""

    agencies: int = 0
    officers: int = 0
    procedures: int = 0
    versions_activated: list[str] = field(default_factory=list)
    # New officers' one-time passwords, to hand to each of them once (an import without a shared password).
    passwords: dict[str, str] = field(default_factory=dict)


ORGANISATION_KEYS = {"agency": ("code", "name", "level"), "officer": ("username", "full_name", "agency")}


def _require_keys(path: Path, doc: dict) -> None:
    """Every entry names what it must, so a gap is a message naming the entry, not a KeyError."""
    for kind, keys in ORGANISATION_KEYS.items():
        for number, entry in enumerate(doc.get(kind, []), 1):
            missing = [k for k in keys if not str(entry.get(k, "")).strip()]
            if missing:
                label = {"agency": "cơ quan", "officer": "cán bộ"}[kind]
                named = entry.get(keys[0], "?")
                raise InvalidInput(f"{path.name}: {label} thứ {number} ({named}): thiếu {', '.join(missing)}")


def load_organisation(session: Session, path: Path, password: str | None = DEMO_PASSWORD) -> LoadReport:
    """Create or update agencies and officers from an organisation TOML file.

    New officers get `password` (the demo's), or with None each a one-time password of their own,
    listed in the report and replaced at their first sign-in. Existing officers keep theirs.
    """
    doc = read_toml(path)
    _require_keys(path, doc)
    report = LoadReport()
    by_code: dict[str, Agency] = {a.code: a for a in session.scalars(select(Agency))}
    for entry in doc.get("agency", []):
        if entry.get("level") not in AGENCY_LEVELS:
            raise InvalidInput(
                f"{path.name}: cơ quan {entry.get('code')}: cấp (level) phải là một trong: "
                f"{', '.join(AGENCY_LEVELS)}"
            )
        agency = by_code.get(entry["code"])
        if agency is None:
            agency = Agency(code=entry["code"], name=entry["name"], level=entry["level"])
            session.add(agency)
            by_code[agency.code] = agency
            report.agencies += 1
        agency.name, agency.level = entry["name"], entry["level"]
    session.flush()
    for entry in doc.get("agency", []):
        parent = entry.get("parent")
        if parent:
            if parent not in by_code:
                raise InvalidInput(
                    f"{path.name}: cơ quan {entry['code']}: cơ quan cấp trên {parent} "
                    "không có trong danh sách"
                )
            by_code[entry["code"]].parent_id = by_code[parent].id
    users = {o.username: o for o in session.scalars(select(Officer))}
    hashed = generate_password_hash(password) if password is not None else ""
    for entry in doc.get("officer", []):
        unknown = [r for r in entry.get("roles", []) if r not in ALL_ROLES]
        if unknown:
            raise InvalidInput(
                f"{path.name}: cán bộ {entry['username']}: vai trò không xác định: {', '.join(unknown)}; "
                f"vai trò hợp lệ: {', '.join(ALL_ROLES)}"
            )
        if entry["agency"] not in by_code:
            raise InvalidInput(
                f"{path.name}: cán bộ {entry['username']}: cơ quan {entry['agency']} không có trong danh sách"
            )
        officer = users.get(entry["username"])
        if officer is None:
            officer = Officer(username=entry["username"], password_hash=hashed)
            if password is None:
                given = one_time_password()
                officer.password_hash = generate_password_hash(given)
                officer.must_change_password = True
                report.passwords[officer.username] = given
            session.add(officer)
            report.officers += 1
        officer.full_name = entry["full_name"]
        officer.agency_id = by_code[entry["agency"]].id
        officer.roles = list(entry.get("roles", []))
        officer.email = entry.get("email")
        officer.phone = entry.get("phone")
        if officer.active and not entry.get("active", True):
            officer.session_version = (officer.session_version or 0) + 1  # disabling ends every session
        officer.active = entry.get("active", True)
    session.flush()
    return report


CATALOGUE_KEYS = ("code", "name", "field", "level", "legal_time", "owner_agency")


def _entry_input(file_name: str, number: int, entry: dict) -> ProcedureInput:
    """A catalogue.toml entry as the catalogue's input, every gap named with the entry."""
    where = f"{file_name}: thủ tục thứ {number} ({entry.get('code', '?')})"
    missing = [key for key in CATALOGUE_KEYS if key not in entry]
    if missing:
        raise InvalidInput(f"{where}: thiếu {', '.join(missing)}")
    legal = entry["legal_time"]
    if not isinstance(legal, dict) or legal.get("unit") not in ("days", "hours"):
        raise InvalidInput(
            f'{where}: legal_time phải có dạng {{ value = 10, unit = "days" }} '
            "(days: ngày làm việc, hours: giờ làm việc)"
        )
    value = legal.get("value")
    level, receiving = receiving_of(entry, file_name)
    fees = entry.get("fees", [])
    if not isinstance(fees, list) or not all(isinstance(line, dict) for line in fees):
        raise InvalidInput(
            f'{where}: fees phải có dạng [{{ name = "Lệ phí ...", amount = 50000, exempt = "..." }}]'
        )
    parse_fee_lines(fees, f"{where}: ")
    return ProcedureInput(
        code=str(entry["code"]),
        name=str(entry["name"]),
        field=str(entry["field"]),
        level=str(entry["level"]),
        legal_time_value=float(value) if isinstance(value, int | float) else None,
        legal_time_unit=legal["unit"],
        owner_agency=str(entry["owner_agency"]),
        fee=str(entry.get("fee", "")),
        fees=tuple(fees),
        required_documents=tuple(entry.get("required_documents", [])),
        online_level=str(entry.get("online_level", "partial")),
        receiving_level=level,
        receiving_agencies=tuple(receiving),
    )


def _decision(where: str, entry: dict) -> tuple[str, date]:
    """The approval decision of an entry's BPMN: its number and date, both required."""
    number, day = entry.get("decision"), entry.get("decision_date")
    if isinstance(day, str):
        try:
            day = date.fromisoformat(day)
        except ValueError:
            raise InvalidInput(f"{where}: decision_date {day!r} không phải ngày dạng YYYY-MM-DD") from None
    if not number or not isinstance(day, date):
        raise InvalidInput(
            f"{where}: quy trình nội bộ {entry['bpmn']} cần số quyết định phê duyệt (decision) và ngày "
            "quyết định (decision_date); bỏ bpmn nếu thủ tục chưa có quy trình được phê duyệt"
        )
    return str(number), day


PROCEDURE_KINDS = ("tthc", "feedback")


def _set_kind(session: Session, where: str, code: str, entry: dict) -> None:
    """An entry's kind: an administrative procedure (default) or the feedback procedure (phản ánh,
    kiến nghị), which the reports never count as an administrative dossier."""
    kind = str(entry.get("kind", "tthc"))
    if kind not in PROCEDURE_KINDS:
        raise InvalidInput(
            f"{where}: kind {kind!r} không hợp lệ; chọn một trong: {', '.join(PROCEDURE_KINDS)}"
        )
    procedure_by_code(session, code).kind = kind


def load_catalogue(session: Session, path: Path, now: datetime, hours_per_day: int = 8) -> LoadReport:
    """Create or update procedures and activate their BPMN when it changed (approved in the file).

    An entry without `bpmn` is catalogue data only: its internal procedure comes later as a draft.
    """
    doc = read_toml(path)
    report = LoadReport()
    for number, entry in enumerate(doc.get("procedure", []), 1):
        data = _entry_input(path.name, number, entry)
        where = f"{path.name}: thủ tục {data.code}"
        try:
            saved = save_procedure_in(session, data, None)
        except InvalidFields as exc:
            raise InvalidInput(f"{where}: {exc.message}") from exc
        report.procedures += int(saved.created)
        _set_kind(session, where, data.code, entry)
        if not entry.get("bpmn"):
            continue
        decision_number, decision_date = _decision(where, entry)
        bpmn_path = path.parent / entry["bpmn"]
        if not bpmn_path.is_file():
            raise InvalidInput(f"{where}: không tìm thấy tệp quy trình {entry['bpmn']} cạnh {path.name}")
        text = bpmn_path.read_text(encoding="utf-8")
        procedure = procedure_by_code(session, data.code)
        if was_approved(session, procedure, text):
            # A file whose text was approved before (loaded earlier, or approved in the catalogue and
            # exported) is not news: loading it again must not undo a later approval.
            continue
        if activate_version(
            session,
            procedure,
            text,
            filename=str(Path("workflows") / "bpmn" / bpmn_path.name),
            decision_number=decision_number,
            decision_date=decision_date,
            now=now,
            hours_per_day=hours_per_day,
        ):
            report.versions_activated.append(procedure.code)
    return report


def load_all(ctx: Context, now: datetime, workflows_dir: Path | None = None) -> LoadReport:
    """Load the demo organisation and the catalogue in one transaction."""
    base = Path(workflows_dir or ctx.settings.workflows_dir)
    with ctx.uow() as uow:
        org = load_organisation(uow.session, base / "demo" / "organisation.toml")
        cat = load_catalogue(uow.session, catalogue_path(base), now, ctx.settings.hours_per_day)
        uow.commit()
    return LoadReport(org.agencies, org.officers, cat.procedures, cat.versions_activated)
