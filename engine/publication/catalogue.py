"""The public procedure catalogue: search with paging, and one procedure as the applicant reads it.

Search folds text the way dossier search does (`engine.search_text.normalise`: lower case, no
diacritics, đ as d), so "dang ky khai sinh", "ĐĂNG KÝ KHAI SINH" and "Đăng ký khai sinh" find the
same procedures; every typed word must appear in the code or the name. Filters: field (lĩnh vực),
level (cấp thực hiện) and agency (a code: the procedures it owns or its desk receives).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import cast
from zoneinfo import ZoneInfo

from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.catalogue.bpmn_diff import hours_text
from engine.catalogue.bpmn_xml import BPMN_NS, parse_bpmn_xml
from engine.catalogue.catalogue_admin import ONLINE_LEVEL_LABELS
from engine.catalogue.competence import may_receive
from engine.catalogue.fees import fee_lines, format_vnd
from engine.catalogue.procedure_model import ROLE_LABELS
from engine.catalogue.procedures import procedure_by_code
from engine.catalogue.versions import version_xml
from engine.context import Context
from engine.errors import InvalidInput, NotFound
from engine.formatting import legal_time
from engine.publication.completeness import NOT_PUBLISHED_KIND
from engine.publication.forms import FormFile, public_forms
from engine.publication.ontime import DAILY_RATES, OnTimeRate
from engine.search_text import normalise
from engine.usecase import reading, require_aware
from models import Agency, Procedure, ProcessVersion, UnitOfWork
from models.catalogue import RECEIVING_AGENCY_LEVELS
from models.vocabulary import Level

PER_PAGE = 20
MAX_PAGE = 500
QUERY_LENGTH = 200
NO_FEE = "Không thu phí, lệ phí"
LEVEL_LABELS = Level.labels()


@dataclass(frozen=True)
class ProcedureRow:
    """One procedure in the list."""

    code: str
    name: str
    field: str
    level: str
    level_label: str
    legal_time: str
    agency: str
    online_label: str


@dataclass(frozen=True)
class SearchPage:
    """One page of the search, with what the filters may choose."""

    rows: list[ProcedureRow]
    total: int
    page: int
    pages: int
    per_page: int
    fields: list[str]
    levels: dict[str, str]
    agencies: list[tuple[str, str]]  # (code, name)


@dataclass(frozen=True)
class FeeRow:
    """One fee or charge as published."""

    name: str
    amount: int
    amount_text: str
    exempt: str


@dataclass(frozen=True)
class PublicStep:
    """One step of the internal procedure: what is done, by whom, in how much time."""

    name: str
    who: str
    time: str
    hours: float | None
    counted: bool


@dataclass(frozen=True)
class PublicProcess:
    """The approved internal procedure as published: its decision and its steps."""

    decision_number: str
    decision_date: date | None
    steps: list[PublicStep]
    counted_hours: float


@dataclass(frozen=True)
class PublicProcedure:
    """A procedure as the applicant reads it."""

    code: str
    name: str
    field: str
    level: str
    level_label: str
    legal_time: str
    legal_time_value: float
    legal_time_unit: str
    owner_agency: str
    receiving: str
    receiving_agencies: list[str]
    required_documents: list[str]
    fees: list[FeeRow]
    fee_text: str
    forms: list[FormFile]
    online_level: str
    submission: list[str]
    process: PublicProcess | None
    on_time: OnTimeRate | None


@lru_cache(maxsize=50_000)
def _folded(text: str) -> str:
    """`normalise`, remembered: the catalogue's names are folded once per process, not per search."""
    return normalise(text)


def _check_filters(session: Session, level: str, agency: str) -> Agency | None:
    if level and level not in LEVEL_LABELS:
        labels = ", ".join(f"{k} ({v})" for k, v in LEVEL_LABELS.items())
        raise InvalidInput(f"Cấp thực hiện “{level}” không hợp lệ; chọn một trong: {labels}.", "level")
    if not agency:
        return None
    found = session.scalars(select(Agency).where(Agency.code == agency)).one_or_none()
    if found is None:
        raise InvalidInput(f"Không có cơ quan mã “{agency}” trong danh mục.", "agency")
    return found


def search_procedures(
    ctx: Context,
    q: str = "",
    *,
    field: str = "",
    level: str = "",
    agency: str = "",
    page: int = 1,
    per_page: int = PER_PAGE,
    uow: UnitOfWork | None = None,
) -> SearchPage:
    """Procedures whose code or name holds every typed word (folded), filtered, one page of them."""
    q, field, level, agency = (v.strip() for v in (q or "", field or "", level or "", agency or ""))
    if len(q) > QUERY_LENGTH:
        raise InvalidInput(f"Từ khóa tìm kiếm dài quá {QUERY_LENGTH} ký tự.", "q")
    if not 1 <= page <= MAX_PAGE:
        raise InvalidInput(f"Số trang phải từ 1 đến {MAX_PAGE}.", "page")
    words = [w for w in normalise(q).split(" ") if w]
    wanted_field = normalise(field)
    with reading(ctx, uow) as session:
        chosen = _check_filters(session, level, agency)
        agencies = list(session.scalars(select(Agency).order_by(Agency.name)))
        names = {a.id: a.name for a in agencies}
        # Plain rows of the columns the list and the filters read: a catalogue of thousands is read
        # whole, and ORM objects would cost most of the time. `may_receive` reads the row as it would
        # read the procedure (kind, receiving level and agencies).
        procedures = session.execute(
            select(
                Procedure.code,
                Procedure.name,
                Procedure.field,
                Procedure.level,
                Procedure.kind,
                Procedure.legal_time_value,
                Procedure.legal_time_unit,
                Procedure.online_level,
                Procedure.owner_agency_id,
                Procedure.receiving_level,
                Procedure.receiving_agencies,
            )
            .where(Procedure.kind != NOT_PUBLISHED_KIND)
            .order_by(Procedure.code)
        ).all()
        fields = sorted({p.field for p in procedures if p.field}, key=_folded)
        matched = []
        for p in procedures:
            text = f"{_folded(p.code)} {_folded(p.name)}"
            if any(w not in text for w in words):
                continue
            if wanted_field and _folded(p.field) != wanted_field:
                continue
            if level and p.level != level:
                continue
            if (
                chosen is not None
                and p.owner_agency_id != chosen.id
                and not may_receive(cast(Procedure, p), chosen)
            ):
                continue
            matched.append(p)
        pages = max(1, math.ceil(len(matched) / per_page))
        rows = [
            ProcedureRow(
                p.code,
                p.name,
                p.field,
                p.level,
                LEVEL_LABELS.get(p.level, p.level),
                legal_time(p.legal_time_value, p.legal_time_unit, ctx.settings.hours_per_day),
                names.get(p.owner_agency_id, ""),
                ONLINE_LEVEL_LABELS.get(p.online_level, ""),
            )
            for p in matched[(page - 1) * per_page : page * per_page]
        ]
        return SearchPage(
            rows,
            len(matched),
            page,
            pages,
            per_page,
            fields,
            {k: v for k, v in LEVEL_LABELS.items() if k != "department"},
            [(a.code, a.name) for a in agencies],
        )


def _published(session: Session, code: str) -> Procedure:
    procedure = procedure_by_code(session, code)
    if procedure.kind == NOT_PUBLISHED_KIND:
        raise NotFound(f"Thủ tục {code} không có trong danh mục thủ tục hành chính")
    return procedure


def _receiving(session: Session, procedure: Procedure) -> tuple[str, list[str]]:
    listed = procedure.receiving_agencies or []
    if listed:
        found = dict(session.execute(select(Agency.code, Agency.name).where(Agency.code.in_(listed))).all())
        names = [found.get(code, code) for code in listed]
        return "Bộ phận Một cửa của: " + "; ".join(names), names
    levels = RECEIVING_AGENCY_LEVELS.get(procedure.receiving_level, (procedure.receiving_level,))
    where = {
        "province": "Trung tâm Phục vụ hành chính công tỉnh",
        "department": "Bộ phận Một cửa của sở, ngành",
        "district": "Bộ phận Một cửa cấp huyện",
        "commune": "Bộ phận Một cửa của Ủy ban nhân dân cấp xã",
    }
    return " hoặc ".join(where.get(level, level) for level in levels), []


def _submission(procedure: Procedure) -> list[str]:
    ways = [
        "Trực tiếp tại Bộ phận Một cửa (nơi tiếp nhận nêu trên)",
        "Qua dịch vụ bưu chính công ích",
    ]
    if procedure.online_level == "full":
        ways.append("Trực tuyến toàn trình trên Cổng dịch vụ công: nộp hồ sơ và nhận kết quả trực tuyến")
    elif procedure.online_level == "partial":
        ways.append(
            "Trực tuyến một phần trên Cổng dịch vụ công: nộp hồ sơ trực tuyến, nhận kết quả tại nơi tiếp nhận"
        )
    return ways


def _who(role: str | None, lane: str | None, agency_code: str | None, agency_names: dict[str, str]) -> str:
    person = ROLE_LABELS.get(role or "", "") or (lane or "")
    where = agency_names.get(agency_code, agency_code) if agency_code else "cơ quan tiếp nhận hồ sơ"
    return f"{person}, {where}" if person else where


def _process(ctx: Context, session: Session, procedure: Procedure) -> PublicProcess | None:
    version = session.scalars(
        select(ProcessVersion).where(
            ProcessVersion.procedure_id == procedure.id, ProcessVersion.status == "active"
        )
    ).first()
    if version is None:
        return None
    model = ctx.specs.model(version.sha256, lambda: version_xml(session, version.id).text)
    steps: list[PublicStep] = []
    if model is not None:
        agency_names = dict(session.execute(select(Agency.code, Agency.name)).all())
        order = [s for s in model.longest_path if s in model.steps]
        order += [s for s in model.steps if s not in order]
        for step_id in order:
            step = model.steps[step_id]
            time = hours_text(step.hours) if step.hours else ""
            if not step.counted:
                time = f"{time} (không tính vào thời hạn giải quyết)" if time else "Không tính vào thời hạn"
            elif not time:
                time = "Không quy định"
            who = _who(step.role, step.lane, step.agency_code, agency_names)
            steps.append(PublicStep(step.name, who, time, step.hours, step.counted))
    return PublicProcess(
        version.decision_number or "",
        version.decision_date,
        steps,
        model.longest_counted_hours if model is not None else 0.0,
    )


def public_procedure(
    ctx: Context, code: str, *, now: datetime, uow: UnitOfWork | None = None
) -> PublicProcedure:
    """One procedure as published, or NotFound."""
    require_aware(now)
    tz = ZoneInfo(ctx.settings.timezone)
    with reading(ctx, uow) as session:
        procedure = _published(session, code)
        receiving, receiving_names = _receiving(session, procedure)
        fees = [FeeRow(f.name, f.amount, format_vnd(f.amount), f.exempt) for f in fee_lines(procedure.fees)]
        process = _process(ctx, session, procedure)
        return PublicProcedure(
            code=procedure.code,
            name=procedure.name,
            field=procedure.field,
            level=procedure.level,
            level_label=LEVEL_LABELS.get(procedure.level, procedure.level),
            legal_time=legal_time(
                procedure.legal_time_value, procedure.legal_time_unit, ctx.settings.hours_per_day
            ),
            legal_time_value=float(procedure.legal_time_value),
            legal_time_unit=procedure.legal_time_unit,
            owner_agency=procedure.owner_agency.name,
            receiving=receiving,
            receiving_agencies=receiving_names,
            required_documents=[d for d in procedure.required_documents or [] if str(d).strip()],
            fees=fees,
            fee_text="" if fees else ((procedure.fee or "").strip() or NO_FEE),
            forms=public_forms(session, procedure.id),
            online_level=procedure.online_level,
            submission=_submission(procedure),
            process=process,
            on_time=DAILY_RATES.get(session, procedure.id, now, tz),
        )


def public_diagram(ctx: Context, code: str, *, uow: UnitOfWork | None = None) -> str:
    """The active internal procedure's BPMN for the read-only viewer, without its extension elements
    and notes (what the engine reads of a step stays inside), or NotFound."""
    with reading(ctx, uow) as session:
        procedure = _published(session, code)
        version_id = session.scalars(
            select(ProcessVersion.id).where(
                ProcessVersion.procedure_id == procedure.id, ProcessVersion.status == "active"
            )
        ).first()
        if version_id is None:
            raise NotFound(f"Thủ tục {code} chưa có quy trình nội bộ được phê duyệt")
        text = version_xml(session, version_id).text
    root = parse_bpmn_xml(text, max_bytes=max(ctx.settings.bpmn_max_bytes, len(text.encode("utf-8"))))
    for tag in ("extensionElements", "documentation"):
        for element in list(root.iter(f"{{{BPMN_NS}}}{tag}")):
            parent = element.getparent()
            if parent is not None:
                parent.remove(element)
    return etree.tostring(root, encoding="unicode")
