"""Load the demo organisation and the procedure catalogue (`motcua load`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from engine.catalogue.catalogue_file import catalogue_path, read_toml
from engine.catalogue.procedure_model import ALL_ROLES
from engine.catalogue.procedures import procedure_by_code
from engine.catalogue.versions import activate_version, was_approved
from engine.context import Context
from engine.errors import InvalidInput, NotFound
from models import Agency, Officer, Procedure
from models.catalogue import AGENCY_LEVELS

DEMO_PASSWORD = "motcua-demo"


@dataclass
class LoadReport:
    """What a load created or changed."""

    agencies: int = 0
    officers: int = 0
    procedures: int = 0
    versions_activated: list[str] = field(default_factory=list)


def load_organisation(session: Session, path: Path, password: str = DEMO_PASSWORD) -> LoadReport:
    """Create or update agencies and officers from an organisation TOML file."""
    doc = read_toml(path)
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
    hashed = generate_password_hash(password)
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


def load_catalogue(session: Session, path: Path, now: datetime, hours_per_day: int = 8) -> LoadReport:
    """Create or update procedures and activate their BPMN when it changed (approved in the file)."""
    doc = read_toml(path)
    report = LoadReport()
    agencies = {a.code: a for a in session.scalars(select(Agency))}
    for entry in doc.get("procedure", []):
        owner = agencies.get(entry["owner_agency"])
        if owner is None:
            raise InvalidInput(
                f"{path.name}: thủ tục {entry['code']}: cơ quan giải quyết {entry['owner_agency']} "
                "không có trong danh sách cơ quan"
            )
        try:
            procedure = procedure_by_code(session, entry["code"])
        except NotFound:
            procedure = Procedure(code=entry["code"])
            session.add(procedure)
            report.procedures += 1
        legal = entry["legal_time"]
        if legal.get("unit") not in ("days", "hours"):
            raise InvalidInput(
                f"{path.name}: thủ tục {entry['code']}: legal_time.unit phải là days (ngày làm việc) "
                "hoặc hours (giờ làm việc)"
            )
        procedure.name = entry["name"]
        procedure.field = entry["field"]
        procedure.level = entry["level"]
        procedure.legal_time_value = float(legal["value"])
        procedure.legal_time_unit = legal["unit"]
        procedure.fee = entry.get("fee", "")
        procedure.required_documents = list(entry.get("required_documents", []))
        procedure.online_level = entry.get("online_level", "partial")
        procedure.owner_agency_id = owner.id
        session.flush()
        bpmn_path = path.parent / entry["bpmn"]
        text = bpmn_path.read_text(encoding="utf-8")
        decision_date = entry.get("decision_date")
        if isinstance(decision_date, str):
            decision_date = date.fromisoformat(decision_date)
        if was_approved(session, procedure, text):
            # A file whose text was approved before (loaded earlier, or approved in the catalogue and
            # exported) is not news: loading it again must not undo a later approval.
            continue
        if activate_version(
            session,
            procedure,
            text,
            filename=str(Path("workflows") / "bpmn" / bpmn_path.name),
            decision_number=entry.get("decision"),
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
