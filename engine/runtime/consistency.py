"""The consistency checker and the repair of one dossier (`motcua check`, `motcua repair`).

A dossier is stored four ways: the workflow state (SpiffWorkflow JSON), its work items (the
projection officers work from), its audit events and its suspensions. They are written in one
transaction, so they can only disagree after a bug or a hand edit; this module finds such
dossiers and re-projects the work items of one from its workflow state.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.catalogue import workflow_state as wf
from engine.context import Context
from engine.formatting import in_zone
from engine.runtime.dossiers import (
    compiled_process,
    dossier_by_code,
    project,
    record_event,
    require_aware,
    use_case,
)
from models import Dossier, DossierEvent, Suspension, WorkItem
from models.dossier import OPEN_STATUSES, STATUS_LABELS
from models.vocabulary import EventKind

FINISHED_STATUSES = ("returned", "refused", "withdrawn")
# The event that finishes a dossier in each finished status: its time is the derivable finished_at.
FINISHING_EVENTS = {"returned": "returned", "refused": "returned", "withdrawn": "withdrawn"}


@dataclass
class CheckReport:
    """What a check run found: how many dossiers were checked and the broken ones with their reasons."""

    checked: int = 0
    broken: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether every checked dossier is consistent."""
        return not self.broken

    def lines(self) -> list[str]:
        """The summary line, then one line per reason of each broken dossier."""
        out = [f"Đã kiểm tra {self.checked} hồ sơ, {len(self.broken)} hồ sơ không nhất quán"]
        for code, reasons in self.broken.items():
            out.extend(f"{code}: {reason}" for reason in reasons)
        return out


@dataclass
class RepairReport:
    """What repairing one dossier changed and what is still wrong afterwards."""

    code: str
    changes: list[str] = field(default_factory=list)
    remaining: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Human-readable lines for the CLI."""
        if not self.changes:
            out = [f"{self.code}: không có gì cần sửa"]
        else:
            out = [f"{self.code}: đã sửa"] + [f"  - {c}" for c in self.changes]
        out += [f"{self.code}: còn lỗi không tự sửa được: {r}" for r in self.remaining]
        return out


def _local(ctx: Context, moment: datetime | None) -> str:
    return in_zone(moment, ctx.calendar.tz, missing="?")


def _item_label(item: WorkItem, *, first: bool = False) -> str:
    return f"{'Bước' if first else 'bước'} “{item.task_name}” (số {item.id})"


def _problems(
    ctx: Context,
    session: Session,
    dossier: Dossier,
    items: Sequence[WorkItem],
    events: Sequence[DossierEvent],
    suspensions: Sequence[Suspension],
) -> list[str]:
    """Every invariant between the dossier row, its workflow state, items, events and suspensions."""
    problems: list[str] = []
    label = STATUS_LABELS.get(dossier.status, dossier.status)
    open_items = [i for i in items if i.completed_at is None]
    finished = dossier.status in FINISHED_STATUSES

    ready: dict[str, str] = {}
    try:
        compiled = compiled_process(ctx, session, dossier.process_version_id)
        workflow = wf.load_state(dossier.workflow_state, compiled)
        for task in wf.ready_user_tasks(workflow):
            step = compiled.model.steps.get(task.task_spec.bpmn_id)
            ready[str(task.id)] = step.name if step else task.task_spec.bpmn_id
    except Exception as exc:  # a corrupt blob is a finding, not a crash of the whole run
        problems.append(f"Không đọc được trạng thái quy trình: {type(exc).__name__}: {exc}")
        workflow = None

    if finished:
        problems += [f"Hồ sơ đã kết thúc (“{label}”) nhưng {_item_label(i)} vẫn đang mở" for i in open_items]
        if dossier.finished_at is None:
            problems.append(f"Hồ sơ đã kết thúc (“{label}”) nhưng chưa ghi thời điểm kết thúc")
        problems += [
            f"Hồ sơ đã kết thúc (“{label}”) nhưng quy trình vẫn chờ bước “{name}”" for name in ready.values()
        ]
    elif workflow is not None:
        for item in open_items:
            if item.task_uuid not in ready:
                problems.append(f"{_item_label(item, first=True)} đang mở nhưng quy trình không chờ bước này")
        open_uuids = {i.task_uuid for i in open_items}
        for uuid, name in ready.items():
            if uuid not in open_uuids:
                problems.append(f"Quy trình đang chờ bước “{name}” nhưng không có bước xử lý nào đang mở")

    open_suspensions = [s for s in suspensions if s.ended_at is None]
    kinds = {i.kind for i in open_items}
    if dossier.status == "supplement":
        if len(open_suspensions) != 1:
            problems.append(
                f"Hồ sơ chờ bổ sung phải có đúng một lần tạm dừng đang mở, nhưng có {len(open_suspensions)}"
            )
        if "supplement" not in kinds:
            problems.append("Hồ sơ chờ bổ sung nhưng không có bước chờ bổ sung đang mở")
    else:
        problems += [
            f"Hồ sơ “{label}” nhưng còn lần tạm dừng đang mở từ {_local(ctx, s.started_at)}"
            for s in open_suspensions
        ]
    if dossier.status == "result_ready" and "return" not in kinds:
        problems.append("Hồ sơ chờ trả kết quả nhưng không có bước trả kết quả đang mở")
    if dossier.status == "processing":
        problems += [
            f"Hồ sơ “{label}” nhưng {_item_label(i)} (loại {i.kind}) đang mở"
            for i in open_items
            if i.kind in ("supplement", "return")
        ]
    if dossier.status in ("processing", "supplement") and dossier.finished_at is not None:
        problems.append(f"Hồ sơ “{label}” nhưng đã ghi thời điểm kết thúc {_local(ctx, dossier.finished_at)}")
    if dossier.status == "processing" and dossier.due_at is None:
        problems.append("Hồ sơ đang giải quyết nhưng chưa có hạn trả kết quả")

    for item in items:
        if item.completed_at is not None and item.completed_at < item.created_at:
            problems.append(
                f"{_item_label(item, first=True)} hoàn thành lúc {_local(ctx, item.completed_at)}, "
                f"trước khi được mở lúc {_local(ctx, item.created_at)}"
            )

    if not events:
        problems.append("Hồ sơ không có nhật ký xử lý")
    elif events[0].kind != "received":
        first = EventKind.label_of(events[0].kind, events[0].kind)
        problems.append(f"Nhật ký hồ sơ không bắt đầu bằng sự kiện tiếp nhận (sự kiện đầu: {first})")
    for before, after in pairwise(events):
        if after.at < before.at:
            earlier, later = (EventKind.label_of(e.kind, e.kind) for e in (before, after))
            problems.append(
                f"Sự kiện “{later}” (số {after.id}) ghi lúc {_local(ctx, after.at)}, "
                f"sớm hơn sự kiện trước nó “{earlier}” lúc {_local(ctx, before.at)}"
            )
    return problems


def _grouped(session: Session, model: Any, ids: Iterable[int], order: Sequence[Any]) -> dict[int, list]:
    groups: dict[int, list] = defaultdict(list)
    for row in session.scalars(select(model).where(model.dossier_id.in_(list(ids))).order_by(*order)):
        groups[row.dossier_id].append(row)
    return groups


def check_dossier(ctx: Context, session: Session, dossier: Dossier) -> list[str]:
    """The reasons this dossier is inconsistent, in Vietnamese; empty when it is consistent."""
    ids = [dossier.id]
    items = _grouped(session, WorkItem, ids, [WorkItem.id])[dossier.id]
    events = _grouped(session, DossierEvent, ids, [DossierEvent.id])[dossier.id]
    suspensions = _grouped(session, Suspension, ids, [Suspension.id])[dossier.id]
    return _problems(ctx, session, dossier, items, events, suspensions)


def check_all(
    ctx: Context, *, batch: int = 500, open_only: bool = False, limit: int | None = None
) -> CheckReport:
    """Check every dossier (or only the open ones), walking them in id batches of `batch`."""
    report = CheckReport()
    last_id = 0
    while limit is None or report.checked < limit:
        size = batch if limit is None else min(batch, limit - report.checked)
        # One short transaction per batch keeps memory flat and never holds locks for long.
        with ctx.uow() as uow:
            session = uow.session
            query = select(Dossier).where(Dossier.id > last_id).order_by(Dossier.id).limit(size)
            if open_only:
                query = query.where(Dossier.status.in_(OPEN_STATUSES))
            dossiers = list(session.scalars(query))
            if not dossiers:
                break
            ids = [d.id for d in dossiers]
            items = _grouped(session, WorkItem, ids, [WorkItem.dossier_id, WorkItem.id])
            events = _grouped(session, DossierEvent, ids, [DossierEvent.dossier_id, DossierEvent.id])
            suspensions = _grouped(session, Suspension, ids, [Suspension.dossier_id, Suspension.id])
            for dossier in dossiers:
                found = _problems(
                    ctx, session, dossier, items[dossier.id], events[dossier.id], suspensions[dossier.id]
                )
                if found:
                    report.broken[dossier.code] = found
            report.checked += len(dossiers)
            last_id = ids[-1]
    return report


def repair_dossier(ctx: Context, code: str, officer_id: int | None, now: datetime) -> RepairReport:
    """Re-project one dossier's work items from its workflow state and fix what is derivable, audited."""
    require_aware(now)
    report = RepairReport(code)
    with use_case(ctx, f"Sửa hồ sơ {code}") as uow:
        session = uow.session
        dossier = dossier_by_code(session, code)
        status_before, finished_before = dossier.status, dossier.finished_at
        changes = report.changes
        open_items = list(
            session.scalars(
                select(WorkItem)
                .where(WorkItem.dossier_id == dossier.id, WorkItem.completed_at.is_(None))
                .order_by(WorkItem.id)
            )
        )
        open_suspensions = list(
            session.scalars(
                select(Suspension).where(Suspension.dossier_id == dossier.id, Suspension.ended_at.is_(None))
            )
        )
        closed: list[WorkItem] = []
        opened: list[WorkItem] = []
        reopened: list[WorkItem] = []
        if dossier.status in FINISHED_STATUSES:
            for item in open_items:
                item.completed_at, item.outcome = now, "repaired"
                closed.append(item)
            if dossier.finished_at is None:
                dossier.finished_at = _finishing_time(session, dossier) or now
        else:
            compiled = compiled_process(ctx, session, dossier.process_version_id)
            workflow = wf.load_state(dossier.workflow_state, compiled)
            ready = {str(t.id) for t in wf.ready_user_tasks(workflow)}
            for item in open_items:
                if item.task_uuid not in ready:
                    # project closes these; the outcome says why they were closed.
                    item.outcome = "repaired"
                    closed.append(item)
            # A ready task whose item was closed wrongly gets that item back (task_uuid is unique).
            for item in session.scalars(
                select(WorkItem).where(
                    WorkItem.dossier_id == dossier.id,
                    WorkItem.completed_at.is_not(None),
                    WorkItem.task_uuid.in_(ready),
                )
            ):
                item.completed_at = item.completed_by_id = item.outcome = None
                item.used_hours = item.result_class = None
                reopened.append(item)
            session.flush()
            opened = project(ctx, session, dossier, workflow, compiled, officer_id, now)
            kinds = {i.kind for i in [*open_items, *reopened, *opened] if i not in closed}
            if "return" in kinds and dossier.status != "result_ready" and dossier.status in OPEN_STATUSES:
                dossier.status = "result_ready"
                dossier.finished_at = dossier.finished_at or now
            elif "supplement" in kinds and dossier.status == "processing":
                dossier.status = "supplement"
            elif dossier.status in ("supplement", "result_ready") and not kinds & {"supplement", "return"}:
                dossier.status, dossier.finished_at, dossier.result_class = "processing", None, None
            if dossier.status == "processing" and dossier.finished_at is not None:
                dossier.finished_at = None
        if dossier.status != "supplement":
            for suspension in open_suspensions:
                suspension.ended_at = now
                suspension.ended_by_id = officer_id
                suspension.paused_hours = round(
                    ctx.calendar.working_hours_between(suspension.started_at, now), 2
                )
                changes.append(f"Kết thúc lần tạm dừng từ {_local(ctx, suspension.started_at)} đang mở")
        changes += [f"Đóng {_item_label(i)} vì quy trình không chờ bước này" for i in closed]
        changes += [f"Mở lại {_item_label(i)} mà quy trình vẫn đang chờ" for i in reopened]
        changes += [f"Mở {_item_label(i)} mà quy trình đang chờ" for i in opened]
        if dossier.status != status_before:
            changes.append(
                f"Trạng thái: “{STATUS_LABELS[status_before]}” → “{STATUS_LABELS[dossier.status]}”"
            )
        if dossier.finished_at != finished_before:
            changes.append(
                f"Thời điểm kết thúc: {_local(ctx, finished_before)} → {_local(ctx, dossier.finished_at)}"
            )
        if not changes:
            report.remaining = check_dossier(ctx, session, dossier)
            return report
        record_event(
            session,
            dossier,
            "repaired",
            officer_id,
            now,
            changes=changes,
            closed_work_item_ids=[i.id for i in closed],
            opened_work_item_ids=[i.id for i in opened],
            reopened_work_item_ids=[i.id for i in reopened],
            status_before=status_before,
            status=dossier.status,
        )
        session.flush()
        report.remaining = check_dossier(ctx, session, dossier)
        uow.commit()
    return report


def _finishing_time(session: Session, dossier: Dossier) -> datetime | None:
    kind = FINISHING_EVENTS[dossier.status]
    return session.scalars(
        select(DossierEvent.at)
        .where(DossierEvent.dossier_id == dossier.id, DossierEvent.kind == kind)
        .order_by(DossierEvent.id.desc())
        .limit(1)
    ).first()


__all__ = ["CheckReport", "RepairReport", "check_all", "check_dossier", "repair_dossier"]
