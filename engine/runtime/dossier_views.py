"""What an officer sees of a dossier and of one of its steps, read in one session.

Used by the dossier page, the task page, the printed forms and the JSON API, so they all show
the same thing. Access is checked here: an officer sees a dossier only if their agency received
it or holds or held one of its steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.catalogue.procedure_model import Step
from engine.context import Context
from engine.errors import Conflict, NotFound
from engine.runtime.access import can_view_dossier, require_view, require_view_item
from engine.runtime.apology import LetterSummary, letters_for_dossier
from engine.runtime.attachments import attachments_of
from engine.runtime.control_sheet import HandOver, control_sheet
from engine.runtime.dossiers import compiled_process, dossier_by_code
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
    WorkItem,
)

EVENT_LABELS = {
    "received": "Tiếp nhận hồ sơ",
    "step_opened": "Chuyển đến bước",
    "step_completed": "Hoàn thành bước",
    "claimed": "Nhận xử lý",
    "unclaimed": "Trả lại danh sách chung",
    "reassigned": "Chuyển người xử lý",
    "supplement_requested": "Yêu cầu bổ sung hồ sơ",
    "supplement_received": "Tiếp nhận hồ sơ bổ sung",
    "refused": "Từ chối giải quyết",
    "returned": "Trả kết quả",
    "withdrawn": "Dừng giải quyết (rút hồ sơ)",
    "appointment_moved": "Hẹn lại ngày trả kết quả",
    "rated": "Công dân đánh giá",
}


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
    officers: dict[int, str]
    agencies: dict[int, str]
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


def _names(session: Session, model: type, ids: set[int | None]) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    column = model.full_name if model is Officer else model.name
    return {row[0]: row[1] for row in session.execute(select(model.id, column).where(model.id.in_(ids)))}


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
        procedure=session.get(Procedure, dossier.procedure_id),
        agency=session.get(Agency, dossier.agency_id),
        version=session.get(ProcessVersion, dossier.process_version_id),
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
    dossier = session.get(Dossier, item.dossier_id)
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
            return [tuple(found)] if can_view_dossier(session, officer, found[0]) else []  # type: ignore[list-item]
    query = (
        select(Dossier, Procedure)
        .join(Procedure, Procedure.id == Dossier.procedure_id)
        .where(Dossier.agency_id == officer.agency_id)
    )
    if text:
        pattern = f"%{text}%"
        query = query.where(
            Dossier.applicant_name.ilike(pattern)
            | (Dossier.applicant_phone == text)
            | Dossier.code.ilike(pattern)
        )
    return [tuple(r) for r in session.execute(query.order_by(Dossier.received_at.desc()).limit(limit))]  # type: ignore[misc]


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
