"""Completeness of what the catalogue publishes for each procedure (công khai thủ tục hành chính).

A procedure is published completely when the applicant can read everything the law says a published
procedure states (NĐ 63/2010 Đ8, as kept by NĐ 118/2025; DOMAIN.md "Words"): what to bring, how long
it takes, what it costs, the forms to fill in, and how it is handled inside (the approved internal
procedure). Each missing item has a key and the label process owners read:

- `documents`: no required documents (thành phần hồ sơ) listed;
- `legal_time`: no legal processing time (a negative value or an unknown unit; 0 is "Trong ngày");
- `fees`: neither a fee list (`Procedure.fees`) nor the catalogue's own wording (`Procedure.fee`,
  where "Không" or "Miễn lệ phí" states explicitly that nothing is charged);
- `forms`: no form (mẫu đơn, tờ khai) uploaded for download;
- `process`: no active internal procedure approved by a decision with its number and date;
- `field`: no field (lĩnh vực), by which citizens search.

The QĐ 766 "publicity" group (engine.statistics.indicators) scores an agency by the share of its
procedures (those it owns and those its desk receives) with nothing missing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.catalogue.competence import may_receive
from engine.catalogue.versions import VERSION_READERS
from engine.context import Context
from engine.errors import Forbidden
from engine.usecase import active_officer, reading
from models import Agency, Procedure, ProcedureForm, ProcessVersion, UnitOfWork

# Citizens' feedback runs through a procedure of its own kind (docs/feedback.md): it is no
# administrative procedure, so it is neither published nor scored here.
NOT_PUBLISHED_KIND = "feedback"
MISSING_LABELS: dict[str, str] = {
    "documents": "Thành phần hồ sơ",
    "legal_time": "Thời hạn giải quyết",
    "fees": "Phí, lệ phí",
    "forms": "Mẫu đơn, tờ khai",
    "process": "Quy trình nội bộ được phê duyệt",
    "field": "Lĩnh vực",
}


def missing_of(procedure: Procedure, *, form_count: int, approved_process: bool) -> list[str]:
    """The keys of MISSING_LABELS this procedure lacks, in that order."""
    missing = []
    if not [d for d in procedure.required_documents or [] if str(d).strip()]:
        missing.append("documents")
    value = procedure.legal_time_value
    if value is None or float(value) < 0 or procedure.legal_time_unit not in ("days", "hours"):
        missing.append("legal_time")
    if not (procedure.fees or []) and not (procedure.fee or "").strip():
        missing.append("fees")
    if form_count == 0:
        missing.append("forms")
    if not approved_process:
        missing.append("process")
    if not (procedure.field or "").strip():
        missing.append("field")
    return missing


def form_counts(session: Session) -> dict[int, int]:
    """How many forms each procedure has (procedure id to count; absent means none)."""
    query = select(ProcedureForm.procedure_id, func.count()).group_by(ProcedureForm.procedure_id)
    return {pid: int(n) for pid, n in session.execute(query)}


def approved_procedures(session: Session) -> set[int]:
    """The procedures whose active internal procedure carries its decision's number and date."""
    query = select(ProcessVersion.procedure_id).where(
        ProcessVersion.status == "active",
        ProcessVersion.decision_number.is_not(None),
        ProcessVersion.decision_number != "",
        ProcessVersion.decision_date.is_not(None),
    )
    return set(session.scalars(query))


def catalogue_missing(session: Session, code: str | None = None) -> dict[str, list[str]]:
    """Every procedure's missing items (or one's, with `code`), by procedure code (three queries)."""
    forms = form_counts(session)
    approved = approved_procedures(session)
    query = select(Procedure).where(Procedure.kind != NOT_PUBLISHED_KIND).order_by(Procedure.code)
    if code is not None:
        query = query.where(Procedure.code == code)
    return {
        p.code: missing_of(p, form_count=forms.get(p.id, 0), approved_process=p.id in approved)
        for p in session.scalars(query)
    }


@dataclass(frozen=True)
class Publicity:
    """An agency's procedures and how many of them are published completely."""

    procedures: int
    complete: int


def publicity_by_agency(session: Session) -> dict[str | None, Publicity]:
    """Per agency code (None: the whole province), its procedures and the complete ones.

    An agency's procedures are those it owns and those its desk may receive; the province counts
    every procedure of the catalogue once."""
    missing = catalogue_missing(session)
    procedures = list(session.scalars(select(Procedure).where(Procedure.kind != NOT_PUBLISHED_KIND)))
    agencies = list(session.scalars(select(Agency)))
    owners = {a.id: a.code for a in agencies}
    counts: dict[str | None, list[int]] = defaultdict(lambda: [0, 0])
    for procedure in procedures:
        complete = 0 if missing[procedure.code] else 1
        codes = {owners.get(procedure.owner_agency_id)}
        codes |= {a.code for a in agencies if may_receive(procedure, a)}
        for code in {*codes, None}:
            counts[code][0] += 1
            counts[code][1] += complete
    return {code: Publicity(n, complete) for code, (n, complete) in counts.items()}


def catalogue_completeness(
    ctx: Context, officer_id: int, *, code: str | None = None, uow: UnitOfWork | None = None
) -> dict[str, list[str]]:
    """What each procedure (or the one of `code`) still lacks, for process owners and approvers."""
    with reading(ctx, uow) as session:
        officer = active_officer(session, officer_id)
        if not any(officer.has_role(role) for role in VERSION_READERS):
            raise Forbidden("Danh mục quy trình nội bộ dành cho cán bộ quản lý quy trình và người phê duyệt")
        return catalogue_missing(session, code)
