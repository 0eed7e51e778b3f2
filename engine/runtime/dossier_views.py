"""What an officer sees of a dossier and of one of its steps, read in one session.

Used by the dossier page, the task page, the printed forms and the JSON API, so they all show
the same thing. Access is checked here: an officer sees a dossier only if their agency received
it or holds or held one of its steps.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.catalogue.procedure_model import Outcome, Step
from engine.context import Context
from engine.errors import Conflict, NotFound
from engine.runtime.access import can_view_dossier, require_view, require_view_item
from engine.runtime.apology import LetterSummary, letters_for_dossier
from engine.runtime.attachments import attachments_of, open_attachment
from engine.runtime.control_sheet import HandOver, control_sheet
from engine.runtime.dossiers import compiled_process, dossier_by_code, supplement_request_is_late
from engine.runtime.inbox import next_item
from engine.usecase import active_officer, reading
from models import (
    Agency,
    Attachment,
    Dossier,
    DossierEvent,
    Officer,
    Procedure,
    ProcessVersion,
    Rating,
    Suspension,
    UnitOfWork,
    WorkItem,
)
from models.vocabulary import EventKind

# Outcomes with their own form on the task page (the supplement request and the refusal).
SPECIAL_OUTCOMES = ("supplement", "refuse")

# The history's labels, one for every kind of event (models.vocabulary).
EVENT_LABELS = EventKind.labels()


@dataclass
class DossierView:
    """A dossier with everything its page shows."""

    dossier: Dossier
    procedure: Procedure
    agency: Agency
    version: ProcessVersion
    items: list[WorkItem]
    events: list[DossierEvent]
    suspensions: list[Suspension]
    attachments: list[Attachment]
    sheet: list[HandOver]
    # Keyed by id; looking up an absent officer or agency (None) finds no name.
    officers: dict[int | None, str]
    agencies: dict[int | None, str]
    rating: Rating | None
    steps: dict[str, Step] = field(default_factory=dict)
    letters: list[LetterSummary] = field(default_factory=list)

    @property
    def open_items(self) -> list[WorkItem]:
        """The steps waiting now."""
        return [i for i in self.items if i.completed_at is None]

    @property
    def done_step_ids(self) -> list[str]:
        """BPMN ids of the finished steps, for marking the diagram."""
        return sorted(
            {i.task_id for i in self.items if i.completed_at is not None and i.outcome != "cancelled"}
        )

    @property
    def current_step_ids(self) -> list[str]:
        """BPMN ids of the steps waiting now."""
        return sorted({i.task_id for i in self.open_items})

    @property
    def documents_received(self) -> list[str]:
        """The checklist of documents handed in at reception."""
        for event in self.events:
            if event.kind == "received":
                return list(event.payload.get("documents") or [])
        return []


@dataclass
class TaskView:
    """One step of a dossier as its officer works it."""

    item: WorkItem
    step: Step
    dossier: DossierView


def _names(
    session: Session, model: type[Officer] | type[Agency], ids: Set[int | None]
) -> dict[int | None, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    column = Officer.full_name if model is Officer else Agency.name
    return {row[0]: row[1] for row in session.execute(select(model.id, column).where(model.id.in_(wanted)))}


def load_dossier_view(ctx: Context, session: Session, dossier: Dossier) -> DossierView:
    """Everything the dossier page shows, without an access check (callers check)."""
    items = list(
        session.scalars(select(WorkItem).where(WorkItem.dossier_id == dossier.id).order_by(WorkItem.id))
    )
    events = list(
        session.scalars(
            select(DossierEvent).where(DossierEvent.dossier_id == dossier.id).order_by(DossierEvent.id)
        )
    )
    suspensions = list(
        session.scalars(select(Suspension).where(Suspension.dossier_id == dossier.id).order_by(Suspension.id))
    )
    officer_ids = (
        {e.officer_id for e in events} | {i.assignee_id for i in items} | {i.completed_by_id for i in items}
    )
    agency_ids = {i.agency_id for i in items} | {dossier.agency_id}
    compiled = compiled_process(ctx, session, dossier.process_version_id)
    return DossierView(
        dossier=dossier,
        procedure=session.get_one(Procedure, dossier.procedure_id),
        agency=session.get_one(Agency, dossier.agency_id),
        version=session.get_one(ProcessVersion, dossier.process_version_id),
        items=items,
        events=events,
        suspensions=suspensions,
        attachments=attachments_of(session, dossier.id),
        sheet=control_sheet(session, dossier),
        officers=_names(session, Officer, officer_ids | {dossier.received_by_id}),
        agencies=_names(session, Agency, agency_ids),
        rating=session.scalars(select(Rating).where(Rating.dossier_id == dossier.id)).first(),
        steps=compiled.model.steps,
        letters=letters_for_dossier(session, dossier.id),
    )


def dossier_view(ctx: Context, session: Session, officer: Officer, code: str) -> DossierView:
    """The dossier page's content, for an officer allowed to see it."""
    dossier = dossier_by_code(session, code)
    require_view(session, officer, dossier)
    return load_dossier_view(ctx, session, dossier)


def task_view(ctx: Context, session: Session, officer: Officer, work_item_id: int) -> TaskView:
    """One step with its dossier and the outcomes its BPMN offers, for an officer of its agency."""
    item = session.get(WorkItem, work_item_id)
    if item is None:
        raise NotFound(f"Không tìm thấy bước xử lý số {work_item_id}.")
    require_view_item(officer, item)
    dossier = session.get_one(Dossier, item.dossier_id)
    view = load_dossier_view(ctx, session, dossier)
    return TaskView(item=item, step=view.steps[item.task_id], dossier=view)


def search_dossiers(
    session: Session, officer: Officer, text: str, *, limit: int = 50
) -> list[tuple[Dossier, Procedure]]:
    """Find dossiers: an exact code among those the officer may see (received or handled), else
    the agency's own receipts by applicant name, phone or part of the code, newest first.

    The exact code is a unique-index lookup; the rest walks the agency's receipts newest first
    (index on agency and receipt time) and stops at `limit`, instead of joining every step the
    agency ever handled.
    """
    text = text.strip()
    if text:
        found = session.execute(
            select(Dossier, Procedure)
            .join(Procedure, Procedure.id == Dossier.procedure_id)
            .where(Dossier.code == text)
        ).first()
        if found is not None:
            dossier, procedure = found
            return [(dossier, procedure)] if can_view_dossier(session, officer, dossier) else []
    query = (
        select(Dossier, Procedure)
        .join(Procedure, Procedure.id == Dossier.procedure_id)
        .where(Dossier.agency_id == officer.agency_id)
    )
    if text:
        # autoescape: the officer's `%`, `_` and `/` match themselves, not any text.
        query = query.where(
            Dossier.applicant_name.icontains(text, autoescape=True)
            | (Dossier.applicant_phone == text)
            | Dossier.code.icontains(text, autoescape=True)
        )
    rows = session.execute(query.order_by(Dossier.received_at.desc()).limit(limit))
    return [(dossier, procedure) for dossier, procedure in rows]


def desk_worklist(session: Session, agency_id: int, status: str, limit: int = 200) -> list[Dossier]:
    """The agency's receipts in one status (results to hand over, supplements awaited), by due time."""
    return list(
        session.scalars(
            select(Dossier)
            .where(Dossier.agency_id == agency_id, Dossier.status == status)
            .order_by(Dossier.due_at)
            .limit(limit)
        )
    )


def result_to_return(session: Session, dossier_code: str) -> int:
    """The open hand-over step of a dossier, or a Conflict when there is no result to return yet."""
    dossier = dossier_by_code(session, dossier_code)
    item_id = session.scalar(
        select(WorkItem.id).where(
            WorkItem.dossier_id == dossier.id, WorkItem.kind == "return", WorkItem.completed_at.is_(None)
        )
    )
    if item_id is None:
        raise Conflict(f"Hồ sơ {dossier_code} chưa có kết quả để trả.")
    return item_id


# ---------------------------------------------------------------------------
# read use cases: each checks who may see what, in the caller's unit of work or its own


@dataclass
class TaskPage:
    """The task page: the step, the outcomes its form offers, and whom a supervisor may hand it to."""

    view: TaskView
    outcomes: list[Outcome]
    can_supplement: bool
    can_refuse: bool
    colleagues: list[tuple[int, str]]
    # A request to supplement now would fall after the window from receipt: it needs a reason.
    supplement_late: bool = False


@dataclass(frozen=True)
class AttachmentFile:
    """One document of a dossier, ready to be sent."""

    file_name: str
    media_type: str
    path: Path


def reassignment_candidates(session: Session, supervisor: Officer, item: WorkItem) -> list[tuple[int, str]]:
    """Whom a supervisor may hand an open item to: active officers of its agency holding its role."""
    if not supervisor.has_role("supervisor") or supervisor.agency_id != item.agency_id or not item.is_open:
        return []
    return [
        (o.id, o.full_name)
        for o in session.scalars(
            select(Officer)
            .where(Officer.agency_id == item.agency_id, Officer.active.is_(True))
            .order_by(Officer.full_name)
        )
        if o.has_role(item.role)
    ]


def dossier_page(ctx: Context, officer_id: int, code: str, *, uow: UnitOfWork | None = None) -> DossierView:
    """Everything about one dossier, for an officer of an agency that received or handled it."""
    with reading(ctx, uow) as session:
        return dossier_view(ctx, session, active_officer(session, officer_id), code)


def task_page(
    ctx: Context,
    officer_id: int,
    work_item_id: int,
    *,
    uow: UnitOfWork | None = None,
    now: datetime | None = None,
) -> TaskPage:
    """One step as its officer works it, for an officer of the step's agency.

    With `now`, the page also says whether a request to supplement would be a late one.
    """
    with reading(ctx, uow) as session:
        officer = active_officer(session, officer_id)
        view = task_view(ctx, session, officer, work_item_id)
        values = view.step.outcome_values()
        return TaskPage(
            view=view,
            outcomes=[o for o in view.step.outcomes if o.value not in SPECIAL_OUTCOMES],
            can_supplement="supplement" in values,
            can_refuse="refuse" in values,
            colleagues=reassignment_candidates(session, officer, view.item),
            supplement_late=(
                now is not None
                and "supplement" in values
                and supplement_request_is_late(ctx, view.dossier.dossier, now)
            ),
        )


def dossier_bpmn(ctx: Context, officer_id: int, code: str, *, uow: UnitOfWork | None = None) -> str:
    """The BPMN of the process version the dossier runs on, for an officer allowed to see it."""
    with reading(ctx, uow) as session:
        dossier = dossier_by_code(session, code)
        require_view(session, active_officer(session, officer_id), dossier)
        xml = session.scalar(
            select(ProcessVersion.bpmn_xml).where(ProcessVersion.id == dossier.process_version_id)
        )
        return xml or ""


def dossier_attachment(
    ctx: Context, officer_id: int, code: str, attachment_id: int, *, uow: UnitOfWork | None = None
) -> AttachmentFile:
    """One document of the dossier, for an officer allowed to see the dossier."""
    with reading(ctx, uow) as session:
        dossier = dossier_by_code(session, code)
        require_view(session, active_officer(session, officer_id), dossier)
        found, path = open_attachment(ctx.settings, session, attachment_id)
        if found.dossier_id != dossier.id or not path.exists():
            raise NotFound("Không tìm thấy tài liệu.")
        return AttachmentFile(found.file_name, found.media_type, path)


def dossier_search(
    ctx: Context, officer_id: int, text: str, *, uow: UnitOfWork | None = None
) -> list[tuple[Dossier, Procedure]]:
    """Find a dossier by code among those the officer may see, or the agency's receipts by applicant."""
    with reading(ctx, uow) as session:
        return search_dossiers(session, active_officer(session, officer_id), text)


def next_task(
    ctx: Context, officer_id: int, *, after_id: int | None = None, uow: UnitOfWork | None = None
) -> int | None:
    """The officer's most urgent open item after completing one (own first, then pool)."""
    with reading(ctx, uow) as session:
        return next_item(session, active_officer(session, officer_id), after_id=after_id)
