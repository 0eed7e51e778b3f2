"""The procedure catalogue as officers, the online portal and the JSON API read it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, true
from sqlalchemy.orm import Session

from engine.catalogue.competence import may_receive
from engine.catalogue.fees import FeeLine, fee_lines
from engine.context import Context
from engine.errors import NotFound
from engine.usecase import active_officer, reading
from models import Agency, Procedure, ProcessVersion, UnitOfWork


@dataclass(frozen=True)
class CatalogueEntry:
    """One procedure (thủ tục hành chính) with what an applicant needs to know and its running version."""

    code: str
    name: str
    field: str
    level: str
    legal_time_value: float
    legal_time_unit: str  # "days" | "hours"
    fee: str
    required_documents: list[str]
    online_level: str
    owner_agency_code: str
    active_version: int | None  # number of the process version dossiers start on, None if none
    receiving_level: str = ""
    receiving_agencies: tuple[str, ...] = ()
    fees: tuple[FeeLine, ...] = ()  # each fee or charge in đồng (engine/catalogue/fees.py)


def procedure_catalogue(
    session: Session, *, receiving_agency: Agency | None = None, code: str | None = None
) -> list[CatalogueEntry]:
    """Every procedure by code, with its legal time, fee, documents and active process version;
    with `receiving_agency`, only those its desk may receive; with `code`, that one only."""
    active = (
        select(ProcessVersion.procedure_id, ProcessVersion.number)
        .where(ProcessVersion.status == "active")
        .subquery()
    )
    rows = session.execute(
        select(Procedure, Agency.code, active.c.number)
        .join(Agency, Agency.id == Procedure.owner_agency_id)
        .outerjoin(active, active.c.procedure_id == Procedure.id)
        .where(Procedure.code == code if code is not None else true())
        .order_by(Procedure.code)
    )
    return [
        CatalogueEntry(
            code=p.code,
            name=p.name,
            field=p.field,
            level=p.level,
            legal_time_value=float(p.legal_time_value),
            legal_time_unit=p.legal_time_unit,
            fee=p.fee or "",
            required_documents=list(p.required_documents or []),
            online_level=p.online_level,
            owner_agency_code=agency_code,
            active_version=number,
            receiving_level=p.receiving_level,
            receiving_agencies=tuple(p.receiving_agencies or ()),
            fees=tuple(fee_lines(p.fees)),
        )
        for p, agency_code, number in rows
        if receiving_agency is None or may_receive(p, receiving_agency)
    ]


def catalogue(ctx: Context, *, uow: UnitOfWork | None = None) -> list[CatalogueEntry]:
    """Danh mục thủ tục hành chính: public information, for any signed-in officer or API caller."""
    with reading(ctx, uow) as session:
        return procedure_catalogue(session)


def catalogue_entry(ctx: Context, code: str, *, uow: UnitOfWork | None = None) -> CatalogueEntry:
    """One procedure of the catalogue as `catalogue` lists it, or NotFound."""
    with reading(ctx, uow) as session:
        found = procedure_catalogue(session, code=code)
    if not found:
        raise NotFound(f"Thủ tục {code} không có trong danh mục thủ tục hành chính")
    return found[0]


def desk_catalogue(ctx: Context, officer_id: int, *, uow: UnitOfWork | None = None) -> list[CatalogueEntry]:
    """The procedures the desk of the officer's agency may receive (thẩm quyền tiếp nhận)."""
    with reading(ctx, uow) as session:
        officer = active_officer(session, officer_id)
        return procedure_catalogue(session, receiving_agency=officer.agency)


def procedure_by_code(session: Session, code: str, *, lock: bool = False) -> Procedure:
    """The procedure with this code, or NotFound; `lock` serialises writers on it (PostgreSQL)."""
    query = select(Procedure).where(Procedure.code == code)
    if lock:
        query = query.with_for_update()
    procedure = session.scalars(query).one_or_none()
    if procedure is None:
        raise NotFound(f"Thủ tục {code} không có trong danh mục thủ tục hành chính")
    return procedure


def procedure_id_by_code(session: Session, code: str) -> int | None:
    """The id of the procedure with this code, None if the catalogue has no such procedure."""
    try:
        return procedure_by_code(session, code).id
    except NotFound:
        return None
