"""What process owners and approvers read of the catalogue: the procedures, one procedure's versions,
a version with its problems and history, the editor, the stored BPMN. Each read checks the role.

The pages show the check stored with each version; a version without one (a row from before the
check was stored) is checked once, and the result stored when the caller gives `now`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from engine.catalogue import versions
from engine.catalogue.procedures import CatalogueEntry, procedure_by_code, procedure_catalogue
from engine.catalogue.versions import (
    STATUS_LABELS,
    VERSION_READERS,
    VersionDetail,
    VersionSummary,
    VersionXml,
    is_owner,
)
from engine.context import Context
from engine.errors import Conflict, Forbidden
from engine.usecase import active_officer, reading, require_aware
from models import Officer, Procedure, UnitOfWork


@dataclass(frozen=True)
class ProcedurePage:
    """A procedure with each version's detail, and whether the officer may draft new ones."""

    procedure: Procedure
    details: list[VersionDetail]
    may_edit: bool


@dataclass(frozen=True)
class VersionPage:
    """A version's detail, its procedure, and whether the officer may change it."""

    detail: VersionDetail
    procedure: Procedure
    may_edit: bool


@dataclass(frozen=True)
class EditorPage:
    """What the editor opens with: the version, its stored text's hash, and whether it may be edited."""

    detail: VersionDetail
    procedure: Procedure
    sha256: str
    editable: bool


def _reader(session: Session, officer_id: int) -> Officer:
    officer = active_officer(session, officer_id)
    if not any(officer.has_role(role) for role in VERSION_READERS):
        raise Forbidden("Danh mục quy trình nội bộ dành cho cán bộ quản lý quy trình và người phê duyệt")
    return officer


def catalogue_page(ctx: Context, officer_id: int, *, uow: UnitOfWork | None = None) -> list[CatalogueEntry]:
    """The catalogue: every procedure with its running version."""
    with reading(ctx, uow) as session:
        _reader(session, officer_id)
        return procedure_catalogue(session)


def _version_detail(ctx: Context, session: Session, version_id: int) -> VersionDetail:
    return versions.version_detail(
        session, version_id, hours_per_day=ctx.settings.hours_per_day, models=ctx.specs
    )


def _store(session: Session, details: list[VersionDetail], now: datetime | None) -> None:
    # Without a clock there is no checked_at: the result is shown and checked again next time.
    if now is not None:
        versions.store_pending_checks(session, details, now)


def procedure_page(
    ctx: Context, officer_id: int, code: str, *, uow: UnitOfWork | None = None, now: datetime | None = None
) -> ProcedurePage:
    """One procedure's versions, each with its stored check and what changed against the previous one."""
    with reading(ctx, uow) as session:
        officer = _reader(session, officer_id)
        procedure = procedure_by_code(session, code)
        details = [_version_detail(ctx, session, v.id) for v in versions.versions_of(session, code)]
        _store(session, details, now)
        return ProcedurePage(procedure, details, is_owner(officer, procedure))


def _detail(
    ctx: Context, session: Session, version_id: int, now: datetime | None
) -> tuple[VersionDetail, Procedure]:
    detail = _version_detail(ctx, session, version_id)
    _store(session, [detail], now)
    return detail, procedure_by_code(session, detail.version.procedure_code)


def version_page(
    ctx: Context,
    officer_id: int,
    version_id: int,
    *,
    uow: UnitOfWork | None = None,
    now: datetime | None = None,
) -> VersionPage:
    """A version: status, decision, stored problems, what changed, its history."""
    with reading(ctx, uow) as session:
        officer = _reader(session, officer_id)
        detail, procedure = _detail(ctx, session, version_id, now)
        return VersionPage(detail, procedure, is_owner(officer, procedure))


def editor_page(
    ctx: Context,
    officer_id: int,
    version_id: int,
    *,
    uow: UnitOfWork | None = None,
    now: datetime | None = None,
) -> EditorPage:
    """The editor's version; editable only while it is a draft and by an owner of the procedure."""
    with reading(ctx, uow) as session:
        officer = _reader(session, officer_id)
        detail, procedure = _detail(ctx, session, version_id, now)
        found = versions.version_xml(session, version_id)
        return EditorPage(
            detail, procedure, found.sha256, detail.version.editable and is_owner(officer, procedure)
        )


def version_file(
    ctx: Context, officer_id: int, version_id: int, *, uow: UnitOfWork | None = None
) -> VersionXml:
    """A version's stored BPMN text."""
    with reading(ctx, uow) as session:
        _reader(session, officer_id)
        return versions.version_xml(session, version_id)


@dataclass(frozen=True)
class ApprovalPreview:
    """What approving a version would change, shown for confirmation before anything is written."""

    detail: VersionDetail
    procedure: Procedure
    decision_number: str
    decision_date: date
    # The version running now, which retires when this one is activated (None: the first one).
    replaces: VersionSummary | None


def approval_preview(
    ctx: Context,
    officer_id: int,
    version_id: int,
    *,
    decision_number: str | None,
    decision_date: date | None,
    now: datetime,
    uow: UnitOfWork | None = None,
) -> ApprovalPreview:
    """Check an approval as `versions.approve` would, and say what it changes, without writing."""
    require_aware(now)
    with reading(ctx, uow) as session:
        officer = active_officer(session, officer_id)
        if not officer.has_role("approver"):
            raise Forbidden("Chỉ người có vai trò phê duyệt quy trình mới được phê duyệt phiên bản quy trình")
        number = versions.check_decision(decision_number, decision_date, now.astimezone(ctx.calendar.tz))
        detail, procedure = _detail(ctx, session, version_id, None)
        if detail.version.status != "submitted":
            label = STATUS_LABELS.get(detail.version.status, detail.version.status)
            raise Conflict(
                f"Không thể phê duyệt phiên bản {detail.version.number} "
                f"vì phiên bản đang ở trạng thái “{label}”"
            )
        running = [v for v in versions.versions_of(session, procedure.code) if v.status == "active"]
        replaces = running[0] if running else None
        assert decision_date is not None  # check_decision refuses a missing date
        return ApprovalPreview(detail, procedure, number, decision_date, replaces)
