"""What an officer sees of a dossier and of one of its steps, read in one session.

Used by the dossier page, the task page, the printed forms and the JSON API, so they all show
the same thing. Access is checked here: an officer sees a dossier only if their agency received
it or holds or held one of its steps.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.catalogue.procedure_model import ROLE_LABELS, Outcome, Step
from engine.context import Context
from engine.errors import Conflict, NotFound
from engine.runtime import postal
from engine.runtime.access import require_view, require_view_item
from engine.runtime.apology import LetterSummary, letters_for_dossier
from engine.runtime.assignment import Candidate, candidates, may_assign
from engine.runtime.attachments import attachments_of, open_document
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
from models.postal import PostalItem
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
    # Inbound (the dossier came by post) and outbound (the result goes back by post), inbound first.
    postal_items: list[PostalItem] = field(default_factory=list)

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
    # The history names both ends of every assignment ("from whom to whom").
    officer_ids |= {
        e.payload.get(end)
        for e in events
        if e.kind in ("assigned", "reassigned")
        for end in ("from_officer_id", "to_officer_id")
    }
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
        postal_items=postal.items_of(session, dossier.id),
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
    # The officer may work the step now: its role in its agency, open, and unassigned or theirs.
    can_work: bool = False
    # A head or supervisor of the step's agency: whom the open step can be assigned to, with load.
    assign_candidates: list[Candidate] = field(default_factory=list)
    # "Giao cho" while completing: candidates by role label for the next steps in the same agency.
    handover: list[tuple[str, list[Candidate]]] = field(default_factory=list)
    # Why an earlier step sent the dossier back to this one, for the officer who reworks it.
    sent_back: SendBack | None = None


@dataclass(frozen=True)
class SendBack:
    """A send-back for rework as the reopened step shows it: the reason, who, when, from which step."""

    reason: str
    officer: str
    at: datetime
    step: str


def send_back_of(view: DossierView, item: WorkItem) -> SendBack | None:
    """The send-back that opened this item, if it was opened by one.

    The completion and the steps it opens are recorded in that order in one transaction, so the
    event before the item's opening (other openings aside) is the completion that opened it.
    """
    events = view.events
    opened = next(
        (
            n
            for n, e in enumerate(events)
            if e.kind == "step_opened" and e.payload.get("work_item_id") == item.id
        ),
        None,
    )
    if opened is None:
        return None
    for event in reversed(events[:opened]):
        if event.kind == "step_opened":
            continue
        if event.kind != "step_completed":
            return None
        step = view.steps.get(event.payload.get("step") or "")
        outcome = event.payload.get("outcome")
        returns = step is not None and any(o.value == outcome and o.returns for o in step.outcomes)
        if not (event.payload.get("sent_back") or returns):
            return None
        return SendBack(
            reason=event.payload.get("comment") or "",
            officer=view.officers.get(event.officer_id, ""),
            at=event.at,
            step=event.payload.get("name") or "",
        )
    return None


def may_work(officer: Officer, item: WorkItem) -> bool:
    """Whether the officer may complete the item now (the buttons and forms are shown only then)."""
    return (
        item.is_open
        and officer.agency_id == item.agency_id
        and officer.has_role(item.role)
        and item.assignee_id in (None, officer.id)
    )


def handover_candidates(
    ctx: Context, session: Session, officer: Officer, view: TaskView
) -> list[tuple[str, list[Candidate]]]:
    """For a head or supervisor working a step: the officers of the same agency who can take the
    steps it opens next (any offered outcome, through gateways), by role, with their open load."""
    item = view.item
    if item.kind is not None or not may_assign(officer, item.agency_id) or not may_work(officer, item):
        return []
    model = compiled_process(ctx, session, view.dossier.dossier.process_version_id).model
    if view.step.outcomes:
        ahead = [s for o in view.step.outcomes if o.value not in SPECIAL_OUTCOMES for s in o.next_steps]
    else:
        ahead = list(model.plain_next.get(view.step.id, ()))
    roles: list[str] = []
    for step_id in ahead:
        step = model.steps[step_id]
        # The agency's leaders are not directed by a head of division; a supervisor reassigns theirs.
        if step.kind is not None or not step.role or step.role in roles or step.role == "leader":
            continue
        agency_id = (
            view.dossier.dossier.agency_id
            if not step.agency_code
            else session.scalar(select(Agency.id).where(Agency.code == step.agency_code))
        )
        if agency_id == item.agency_id:
            roles.append(step.role)
    groups = [(ROLE_LABELS.get(role, role), candidates(session, item.agency_id, [role])) for role in roles]
    return [(label, group) for label, group in groups if group]


@dataclass(frozen=True)
class AttachmentFile:
    """One document of a dossier, ready to be sent."""

    file_name: str
    media_type: str
    stream: IO[bytes]  # from the document store; the caller sends and closes it
    size: int


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
        item = view.item
        assignable = item.is_open and item.kind != "supplement" and may_assign(officer, item.agency_id)
        chosen = candidates(session, item.agency_id, [item.role]) if assignable else []
        return TaskPage(
            view=view,
            outcomes=[o for o in view.step.outcomes if o.value not in SPECIAL_OUTCOMES],
            can_supplement="supplement" in values,
            can_refuse="refuse" in values,
            colleagues=[(c.officer_id, c.name) for c in chosen],
            supplement_late=(
                now is not None
                and "supplement" in values
                and supplement_request_is_late(ctx, view.dossier.dossier, now)
            ),
            can_work=may_work(officer, item),
            assign_candidates=chosen,
            handover=handover_candidates(ctx, session, officer, view),
            sent_back=send_back_of(view.dossier, item) if item.is_open else None,
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
        found = session.get(Attachment, attachment_id)
        if found is None or found.dossier_id != dossier.id:
            raise NotFound("Không tìm thấy tài liệu.")
        stream = open_document(ctx.settings, found.stored_path)
        return AttachmentFile(found.file_name, found.media_type, stream, found.size)


def next_task(
    ctx: Context, officer_id: int, *, after_id: int | None = None, uow: UnitOfWork | None = None
) -> int | None:
    """The officer's most urgent open item after completing one (own first, then pool)."""
    with reading(ctx, uow) as session:
        return next_item(session, active_officer(session, officer_id), after_id=after_id)
