"""The dossier runtime: each use case is one function, one transaction, with the clock as `now`.

receive -> claim / unclaim / assign / reassign -> complete (request_supplement, refuse are completions
with a named outcome) -> resume after a supplement -> return_result; withdraw and
move_appointment on the side. Workflow state, the work-item projection and the audit event
are written together; the dossier's version column makes a concurrent second completion fail.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Integer, String, Table, bindparam, insert, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapper, Session
from sqlalchemy.orm.attributes import instance_state, set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from engine import logs
from engine.catalogue import workflow_state as wf
from engine.catalogue.competence import require_competence
from engine.catalogue.procedure_model import ROLE_LABELS, Step
from engine.catalogue.procedures import procedure_by_code
from engine.context import Context
from engine.errors import Conflict, Forbidden, InvalidFields, InvalidInput, NoActiveVersion, NotFound
from engine.feedback import steps as feedback_steps
from engine.formatting import local_time, number
from engine.integrations.dvcqg import outbox as portal_outbox
from engine.notify import notifications
from engine.payments.dues import require_settled_for_handover
from engine.runtime import attachments, receipt_writes
from engine.runtime.access import note_handler, require_view_item
from engine.runtime.assignment import check_target, may_assign, require_assigner, target_officer
from engine.runtime.attachments import Upload
from engine.runtime.codes import next_dossier_code_and_id
from engine.search_text import SEARCHED, refresh_search_text
from engine.urgency import is_late
from engine.usecase import active_officer, require_aware, use_case
from engine.usecase import held as _held
from models import (
    Agency,
    Attachment,
    Dossier,
    DossierEvent,
    Officer,
    Procedure,
    ProcessVersion,
    Suspension,
    WorkItem,
)
from models.dossier import CHANNEL_LABELS, CHANNELS, OPEN_STATUSES, STATUS_LABELS
from models.prepared import Prepared, Sent, pipeline
from models.vocabulary import EventKind

if TYPE_CHECKING:
    from engine.runtime.postal import PostalIntake

LOG = logging.getLogger("motcua.dossiers")
ID_NUMBER = re.compile(r"^\d{12}$")
PHONE = re.compile(r"^(\+84|0)\d{9,10}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Applicant:
    """The person or organisation applying."""

    name: str
    id_number: str | None = None
    phone: str | None = None
    email: str | None = None
    address: str | None = None


@dataclass
class Receipt:
    """What the desk hands back: the dossier code and the appointment."""

    dossier_id: int
    code: str
    received_at: datetime
    due_at: datetime
    work_item_ids: list[int] = field(default_factory=list)
    repeated: bool = False  # the same submission was received before; this is its receipt
    forwarded: bool = False  # the desk's own step was completed with the receipt
    next_steps: list[str] = field(default_factory=list)  # names of the steps the dossier went on to


@dataclass
class Completion:
    """The result of completing a step: the items it opened and where the dossier stands."""

    dossier_code: str
    status: str
    opened_work_item_ids: list[int]
    # The outcome sent the dossier back to an earlier step for rework.
    sent_back: bool = False
    # Who the opened steps were assigned to by the completing head (None: left in the pool).
    assigned_to: str | None = None


# ---------------------------------------------------------------------------
# helpers


def _work_item(session: Session, work_item_id: int) -> WorkItem:
    item = session.get(WorkItem, work_item_id)  # from the identity map after preload_step
    if item is None:
        raise NotFound(f"Không tìm thấy bước xử lý số {work_item_id}")
    return item


# The dossier's open items read by preload_step, for the step's projection (session.info key).
PRELOADED_OPEN = "motcua.preloaded_open_items"
# The rows read ahead, held for the transaction: the identity map keeps only weak references.
PRELOADED_ROWS = "motcua.preloaded_rows"


def _hold(session: Session, rows: Sequence[Any]) -> None:
    session.info.setdefault(PRELOADED_ROWS, []).extend(rows)


Entities = tuple[tuple[Mapper[Any], tuple[str, ...]], ...]


@functools.cache
def _entities(*classes: type) -> Entities:
    """The entities a Core read of several mapped classes returns, in the order of its columns: each
    mapper and the keys of its columns loaded at once (a deferred column, such as a version's BPMN
    text, loads when used, as the ORM does)."""
    mappers: list[Mapper[Any]] = [sa_inspect(cls) for cls in classes]
    return tuple((m, tuple(prop.key for prop in m.column_attrs if not prop.deferred)) for m in mappers)


def _row_objects(
    session: Session, entities: Entities, row: Sequence[Any], only: int | None = None
) -> list[Any]:
    """The objects of one row read with Core, entity by entity (`_persistent`), or only the entity at
    index `only`; None for an entity whose columns are all NULL (an outer join that found nothing)."""
    objects: list[Any] = []
    start = 0
    for index, (mapper, keys) in enumerate(entities):
        end = start + len(keys)
        if only is None or index == only:
            values = row[start:end]
            objects.append(_persistent(session, mapper, keys, values) if values[0] is not None else None)
        start = end
    return objects


def _preload_entities() -> Entities:
    """The entities preload_step reads: the officer, the item, its dossier and its procedure."""
    return _entities(Officer, WorkItem, Dossier, Procedure)


@functools.cache
def _preload_statements() -> tuple[Prepared, Prepared]:
    """The two statements of preload_step, built once per process (bound parameters, not literals):
    every column of the officer, the item, its dossier and its procedure."""
    item_id, officer_id = bindparam("item_id", type_=Integer), bindparam("officer_id", type_=Integer)
    officer, item, dossier, procedure = (mapper.local_table for mapper, _ in _preload_entities())
    columns = [mapper.columns[key] for mapper, keys in _preload_entities() for key in keys]
    rows = select(*columns).select_from(
        item.join(dossier, dossier.c.id == item.c.dossier_id)
        .join(procedure, procedure.c.id == dossier.c.procedure_id)
        .join(officer, officer.c.id == officer_id)
    )
    target = select(item.c.dossier_id).where(item.c.id == item_id).scalar_subquery()
    return (
        Prepared(rows.where(item.c.id == item_id)),
        Prepared(
            rows.where(
                item.c.dossier_id == target, (item.c.id == item_id) | item.c.completed_at.is_(None)
            ).order_by(item.c.id)
        ),
    )


def _persistent(session: Session, mapper: Mapper[Any], keys: tuple[str, ...], values: Sequence[Any]) -> Any:
    """The object of a row read with Core, in the session's identity map as the ORM's load leaves it
    (the object already there, if any, is kept as the ORM keeps it). The same steps as SQLAlchemy's
    loader, with its private `_add_unpresent`: SQLAlchemy is pinned to 2.1 for that (pyproject.toml)."""
    identity = mapper.identity_key_from_primary_key((values[0],))  # "id" comes first in each table
    present = session.identity_map.get(identity)
    if present is not None:
        return present
    obj = mapper.class_manager.new_instance()
    state = instance_state(obj)
    state.dict.update(zip(keys, values, strict=True))
    state.key = identity
    state.session_id = session.hash_key
    session.identity_map._add_unpresent(state, identity)
    return obj


def preload_step(
    session: Session, work_item_id: int, officer_id: int, *, open_items_too: bool = False
) -> None:
    """Read the acting officer, the work item, its dossier and its procedure in one round trip.

    The rows land in the session's identity map, so the primary-key loads that follow (the
    officer, the item, the dossier, the procedure the hooks look at) need no statement. With
    `open_items_too` the dossier's other open items come in the same statement and the step's
    projection takes them from there instead of querying again. A missing officer or item reads
    nothing here; the loads that follow then fail with their usual messages.

    The statement runs as a prepared Core statement and the objects are put in the identity map
    directly (no ORM load events are listened for on these classes), which costs a fraction of an
    ORM query's result processing.
    """
    one_item, with_open = _preload_statements()
    params = {"item_id": work_item_id, "officer_id": officer_id}
    conn = session.connection()
    with pipeline(conn, begin=True):  # on PostgreSQL the transaction's BEGIN goes with it
        sent = (with_open if open_items_too else one_item).send(conn, params)
    rows = sent.rows()
    entities = _preload_entities()
    loaded: list[Any] = []
    items: list[WorkItem] = []
    for row_number, row in enumerate(rows):
        # The officer, dossier and procedure repeat in every row: after the first, only the item.
        objects = _row_objects(session, entities, row, only=None if row_number == 0 else 1)
        loaded.extend(objects)
        items.append(objects[0 if row_number else 1])
    _hold(session, loaded)
    if open_items_too and rows:
        session.info[PRELOADED_OPEN] = (loaded[2].id, items)


def dossier_by_code(session: Session, code: str) -> Dossier:
    """The dossier with that code, or NotFound."""
    dossier = session.scalars(select(Dossier).where(Dossier.code == code)).one_or_none()
    if dossier is None:
        raise NotFound(f"Không tìm thấy hồ sơ {code}")
    return dossier


def record_event(
    session: Session, dossier: Dossier, kind: str, officer_id: int | None, now: datetime, **payload: Any
) -> None:
    """Append an audit event for the dossier; `kind` is one of EventKind (ValueError otherwise)."""
    logs.tag_dossier(dossier.code)
    kind = EventKind(kind).value
    session.add(
        DossierEvent(dossier_id=dossier.id, at=now, officer_id=officer_id, kind=kind, payload=payload)
    )
    portal_outbox.note(session, dossier, kind, now, payload)  # the national portal hears of it at commit


EVENT_COLUMNS = ("dossier_id", "at", "officer_id", "kind", "payload")


def record_events(
    session: Session,
    dossier: Dossier,
    officer_id: int | None,
    now: datetime,
    events: Sequence[tuple[str, dict[str, Any]]],
) -> None:
    """Append several audit events (kind, payload) in one multi-row INSERT, in this order, written at
    once (not at the next flush); each is noted for the national portal as record_event does."""
    if not events:
        return
    logs.tag_dossier(dossier.code)
    rows = [(EventKind(kind).value, payload) for kind, payload in events]
    if session.autoflush:  # what the ORM's bulk INSERT did first; nothing to do after a step's writes
        session.flush()
    values = [
        {"dossier_id": dossier.id, "at": now, "officer_id": officer_id, "kind": kind, "payload": payload}
        for kind, payload in rows
    ]
    if len(values) <= MULTI_ROW_LIMIT:  # one statement: on PostgreSQL cheaper than the driver's executemany
        flat = {f"{key}_{n}": value for n, row in enumerate(values) for key, value in row.items()}
        _prepared_rows_insert(DossierEvent, EVENT_COLUMNS, len(values)).run(session.connection(), flat)
    else:
        _prepared_insert(DossierEvent, EVENT_COLUMNS, returning=False).run_many(session.connection(), values)
    for kind, payload in rows:
        portal_outbox.note(session, dossier, kind, now, payload)


def classify(finished: datetime, due: datetime | None, ctx: Context) -> str | None:
    """Early (before the due day), on time (by the due time) or late, against a due time."""
    if due is None:
        return None
    if is_late(due, finished):
        return "late"
    tz = ctx.calendar.tz
    if finished.astimezone(tz).date() < due.astimezone(tz).date():
        return "early"
    return "on_time"


def record_lateness(dossier: Dossier, now: datetime) -> None:
    """Once late, always late: note the legal due time the running clock has passed, never to clear it."""
    if dossier.late_at is None and is_late(dossier.due_at, now):
        dossier.late_at = dossier.due_at


def note_running_lateness(dossier: Dossier, now: datetime) -> None:
    """Record lateness on any action while the clock runs, so it never waits for the watcher."""
    if dossier.status == "processing":
        record_lateness(dossier, now)


def judge(ctx: Context, dossier: Dossier, now: datetime) -> None:
    """Fix the dossier's result class against its legal due time; late if lateness was ever recorded."""
    record_lateness(dossier, now)
    dossier.judged_at = now
    dossier.result_class = "late" if dossier.late_at is not None else classify(now, dossier.due_at, ctx)


def projected_late_at(
    ctx: Context, dossier: Dossier, items: Sequence[WorkItem], tails: dict[str, float], now: datetime
) -> datetime | None:
    """When the open steps stop fitting before the legal due time at their allotments, if nothing moves.

    A step fits while its own due time plus the counted hours after it end by the legal due time;
    once it is overdue only the hours after it are left, so the dossier stops fitting at the legal
    due time minus those hours. The watcher scans this moment to draft the apology letter.
    """
    if dossier.due_at is None or dossier.status != "processing":
        return None
    moments = []
    for item in items:
        if item.kind is not None or item.due_at is None or not item.counted:
            continue
        latest_start = ctx.calendar.subtract_working_hours(dossier.due_at, tails.get(item.task_id, 0.0))
        moments.append(max(now, item.created_at) if item.due_at > latest_start else latest_start)
    return min(moments) if moments else None


def legal_due(ctx: Context, procedure: Procedure, start: datetime) -> datetime:
    """The legal due time of a dossier of `procedure` received at `start` (calendar and cut-off rule)."""
    if procedure.legal_time_unit == "hours":
        return ctx.calendar.due_time(start, hours=float(procedure.legal_time_value))
    return ctx.calendar.due_time(start, days=float(procedure.legal_time_value))


def compiled_process(ctx: Context, session: Session, version_id: int) -> wf.CompiledProcess:
    """The compiled spec and model of a process version, loading its BPMN text only on a cache miss."""

    def load() -> tuple[str, str]:
        row = session.execute(
            select(ProcessVersion.sha256, ProcessVersion.bpmn_xml).where(ProcessVersion.id == version_id)
        ).one()
        return row.sha256, row.bpmn_xml

    return ctx.specs.for_version(version_id, load)


def _agency_for(session: Session, step: Step, dossier: Dossier, data: dict[str, Any] | None = None) -> int:
    """The agency whose inbox a step lands in: the lane's agency, the one an earlier step chose for a
    lane with `agency-from` (see docs/feedback.md), else the agency that received the dossier."""
    if step.agency_key:
        chosen = (data or {}).get(step.agency_key)
        if not chosen:
            raise InvalidInput(
                f'Bước "{step.name}" chuyển đến cơ quan được chọn ở bước trước; '
                "cần chọn cơ quan có thẩm quyền",
                step.agency_key,
            )
        agency_id = session.scalars(select(Agency.id).where(Agency.code == str(chosen))).one_or_none()
        if agency_id is None:
            raise InvalidInput(f"Không có cơ quan mã {chosen} trong danh sách cơ quan", step.agency_key)
        return agency_id
    if not step.agency_code:
        return dossier.agency_id
    agency_id = session.scalars(select(Agency.id).where(Agency.code == step.agency_code)).one_or_none()
    if agency_id is None:
        raise Conflict(
            f'Bước "{step.name}" chuyển đến cơ quan {step.agency_code}, nhưng cơ quan này chưa có trong '
            "danh sách cơ quan; cần bổ sung cơ quan hoặc sửa lại quy trình"
        )
    return agency_id


def open_items(session: Session, dossier: Dossier) -> list[WorkItem]:
    # No autoflush: pending changes are seen through the identity map, so an item completed
    # in this transaction is filtered here instead of paying for an extra flush.
    preloaded = session.info.pop(PRELOADED_OPEN, None)
    if preloaded is not None and preloaded[0] == dossier.id:
        # Read by preload_step in this transaction, before any item of the dossier was added.
        return [i for i in preloaded[1] if i.completed_at is None]
    with session.no_autoflush:
        items = session.scalars(
            select(WorkItem)
            .where(WorkItem.dossier_id == dossier.id, WorkItem.completed_at.is_(None))
            .order_by(WorkItem.id)
        )
        return [i for i in items if i.completed_at is None]


def _refusing_agency_name(session: Session, dossier: Dossier) -> str:
    """The agency whose step recorded the refusal (the receiving agency when unknown)."""
    agency_id = session.scalar(
        select(WorkItem.agency_id)
        .where(WorkItem.dossier_id == dossier.id, WorkItem.outcome == "refuse")
        .order_by(WorkItem.id.desc())
        .limit(1)
    )
    agency = session.get(Agency, agency_id or dossier.agency_id)
    return agency.name if agency is not None else ""


def project(
    ctx: Context,
    session: Session,
    dossier: Dossier,
    workflow: Any,
    compiled: wf.CompiledProcess,
    officer_id: int | None,
    now: datetime,
    first: Sequence[tuple[str, dict[str, Any]]] = (),
) -> list[WorkItem]:
    """Bring the work items in line with the workflow's ready tasks; returns the items opened.

    `first` are the caller's events by the same officer (kind, payload), written before the
    "step_opened" ones in the same statement.
    """
    ready = {str(t.id): t for t in wf.ready_user_tasks(workflow)}
    still_open = open_items(session, dossier)
    for item in still_open:
        if item.task_uuid not in ready:
            item.completed_at = now
            item.outcome = item.outcome or "cancelled"
    known = {i.task_uuid for i in still_open}
    opened: list[WorkItem] = []
    for uuid, task in ready.items():
        if uuid in known:
            continue
        step = compiled.model.steps[task.task_spec.bpmn_id]
        item = _new_item(dossier_id=dossier.id, **opened_item_values(ctx, session, dossier, step, task, now))
        session.add(item)
        note_handler(session, dossier, item.agency_id)
        opened.append(item)
        if step.kind == "return" and dossier.status == "processing":
            dossier.status = "result_ready"
            dossier.finished_at = now
            if dossier.refusal_reason is None:
                notifications.notify_applicant(ctx, session, dossier, "result_ready", now)
                # Judged when the result is ready at the desk, unless the hand-over is counted.
                if not step.counted:
                    judge(ctx, dossier, now)
            else:
                record_lateness(dossier, now)
                notifications.notify_applicant(
                    ctx,
                    session,
                    dossier,
                    "refused",
                    now,
                    fault_agency=_refusing_agency_name(session, dossier),
                    reason=dossier.refusal_reason,
                )
        if step.kind == "supplement" and dossier.status != "supplement":
            dossier.status = "supplement"
    if not ready and workflow.is_completed() and dossier.status in OPEN_STATUSES:  # none ready: maybe done
        dossier.status = "refused" if dossier.refusal_reason else "returned"
        dossier.finished_at = dossier.finished_at or now
        if dossier.status == "returned" and dossier.judged_at is None:
            judge(ctx, dossier, now)
    dossier.projected_late_at = projected_late_at(
        ctx,
        dossier,
        [*(i for i in still_open if i.completed_at is None), *opened],
        compiled.model.hours_after,
        now,
    )
    dossier.workflow_state = wf.dump_state(workflow)
    write_projection(session, dossier, opened)
    record_events(
        session,
        dossier,
        officer_id,
        now,
        [
            *first,
            *(
                (
                    "step_opened",
                    {
                        "work_item_id": item.id,
                        "step": item.task_id,
                        "name": item.task_name,
                        "role": item.role,
                        "agency_id": item.agency_id,
                        "due_at": item.due_at.isoformat() if item.due_at else None,
                    },
                )
                for item in opened
            ),
        ],
    )
    return opened


def opened_item_values(
    ctx: Context, session: Session, dossier: Dossier, step: Step, task: Any, now: datetime
) -> dict[str, Any]:
    """The column values of the work item a ready task opens (all but its dossier's id): a step
    waiting for a supplement has no due time while it waits."""
    paused = step.kind == "supplement"
    return {
        "task_uuid": str(task.id),
        "task_id": step.id,
        "task_name": step.name,
        "lane": step.lane,
        "role": step.role or "",
        "kind": step.kind,
        "agency_id": _agency_for(session, step, dossier, task.data),
        "created_at": now,
        "due_at": None if paused else ctx.calendar.add_working_hours(now, step.hours or 0.0),
        "allotted_hours": step.hours or 0.0,
        "counted": step.counted,
    }


def _new_item(**values: Any) -> WorkItem:
    """A new work item with these column values, as `WorkItem(**values)` makes it but without an
    attribute event per value (the class has no validators or attribute listeners)."""
    item = WorkItem()
    instance_state(item).dict.update(values)
    return item


def _column_changes(obj: Any, columns: dict[str, Any]) -> dict[str, Any] | None:
    """The changed column attributes of a persistent object (key: value), None if anything else changed."""
    state = instance_state(obj)
    changed = state.committed_state
    if not changed.keys() <= columns.keys():
        return None
    values = state.dict
    return {key: values[key] for key in changed}


def _written_items(session: Session, dossier: Dossier, opened: Sequence[WorkItem]) -> list[WorkItem] | None:
    """The dossier's changed items, by id, when the pending changes are only the dossier, its items and
    the opened items (None otherwise: something else is pending)."""
    if session.deleted:
        return None
    new = session.new
    if len(new) != len(opened) or any(item not in new for item in opened):
        return None
    items = []
    for obj in session.dirty:
        if isinstance(obj, WorkItem) and obj.dossier_id == dossier.id:
            items.append(obj)
        elif obj is not dossier:
            return None
    return sorted(items, key=lambda i: i.id)


def write_projection(session: Session, dossier: Dossier, opened: Sequence[WorkItem]) -> None:
    """Write the step's projection: the dossier's versioned UPDATE, the changed items' UPDATEs and the
    opened items' INSERT, as Core statements instead of the unit of work's flush.

    The dossier's `UPDATE ... WHERE version = :v` matching no row raises StaleDataError as the ORM's
    versioned update does (the use case answers Conflict). The objects are then marked as written,
    the opened items persistent with their ids, as a flush leaves them. Anything else pending (a
    handler row, a notification, a corrected applicant field for the search text) takes the ORM's
    flush instead.
    """
    dossier_columns, item_columns = _mapped_columns(Dossier), _mapped_columns(WorkItem)
    changed = _written_items(session, dossier, opened)
    dossier_changes = _column_changes(dossier, dossier_columns) if changed is not None else None
    if (
        changed is None
        or dossier_changes is None
        or any(key in SEARCHED or key == "version" for key in dossier_changes)
    ):
        session.flush()
        return
    item_changes = []
    for item in changed:
        changes = _column_changes(item, item_columns)
        if changes is None:
            session.flush()
            return
        if changes:
            item_changes.append((item, changes))
    rows = [{key: item.__dict__[key] for key in item_columns if key in item.__dict__} for item in opened]
    if rows and any(row.keys() != rows[0].keys() or "id" in row for row in rows):
        session.flush()
        return
    conn = session.connection()
    version = dossier.version
    guarded: Sent | None = None
    with pipeline(conn):  # on PostgreSQL the statements go in one round trip
        if dossier_changes:
            params = {f"v_{k}": v for k, v in dossier_changes.items()}
            params.update(w_id=dossier.id, w_version=version, v_version=version + 1)
            guarded = _prepared_update(Dossier, tuple(dossier_changes)).send(conn, params)
        updated = []
        for item, changes in item_changes:
            params = {f"v_{k}": v for k, v in changes.items()}
            params["w_id"] = item.id
            updated.append(_prepared_update(WorkItem, tuple(changes)).send(conn, params))
        inserted = [_prepared_insert(WorkItem, tuple(row), returning=True).send(conn, row) for row in rows]
    for sent in updated:
        sent.close()
    if guarded is not None:
        matched = guarded.rowcount
        guarded.close()
        if matched != 1:
            raise StaleDataError(f"dossier {dossier.id} at version {version}: {matched} rows matched")
        set_committed_value(dossier, "version", version + 1)
        instance_state(dossier)._commit_all(dossier.__dict__, session.identity_map)
    for item, _ in item_changes:
        instance_state(item)._commit_all(item.__dict__, session.identity_map)
    if inserted:
        states = set()
        for item, sent in zip(opened, inserted, strict=True):
            ((new_id,),) = sent.rows()
            state = instance_state(item)
            values = state.dict
            values["id"] = new_id
            for key, column in item_columns.items():
                if key not in values:
                    default = column.default
                    values[key] = default.arg if default is not None and default.is_scalar else None
            states.add(state)
        # As a flush leaves them: pending to persistent, in the identity map, nothing left to write.
        session._register_persistent(states)


@functools.cache
def _update_statement(entity: type, keys: tuple[str, ...]) -> Any:
    """`UPDATE ... SET <keys> WHERE id = :w_id` (and `version = :w_version`, setting `:v_version`, for the
    dossier), built once per process for each set of changed columns."""
    columns = _mapped_columns(entity)
    table = cast(Table, cast(Any, entity).__table__)
    values: dict[Any, Any] = {columns[k]: bindparam(f"v_{k}") for k in keys}
    where = [table.c.id == bindparam("w_id")]
    if "version" in table.c:
        where.append(table.c.version == bindparam("w_version"))
        values[table.c.version] = bindparam("v_version")
    return update(table).where(*where).values(values)


@functools.cache
def _prepared_update(entity: type, keys: tuple[str, ...]) -> Prepared:
    """`_update_statement` as a prepared statement."""
    return Prepared(_update_statement(entity, keys))


@functools.cache
def _prepared_insert(entity: type, keys: tuple[str, ...], *, returning: bool) -> Prepared:
    """`INSERT` of one row with these columns (`RETURNING id`), a prepared statement built once per
    process for each set of columns; the columns left out take their Python-side defaults."""
    columns = _mapped_columns(entity)
    table = cast(Table, cast(Any, entity).__table__)
    statement = insert(table).values({columns[key]: bindparam(key) for key in keys})
    return Prepared(statement.returning(table.c.id) if returning else statement)


# The most rows written by one multi-row INSERT statement (one statement per number of rows).
MULTI_ROW_LIMIT = 16


@functools.cache
def _prepared_rows_insert(entity: type, keys: tuple[str, ...], count: int) -> Prepared:
    """`INSERT ... VALUES (...), (...)` of `count` rows with these columns (parameters `<key>_<n>`),
    the rows inserted in their order; a prepared statement built once per process."""
    columns = _mapped_columns(entity)
    table = cast(Table, cast(Any, entity).__table__)
    rows = [{columns[k]: bindparam(f"{k}_{n}", type_=columns[k].type) for k in keys} for n in range(count)]
    return Prepared(insert(table).values(rows))


@functools.cache
def _insert_statement(entity: type, *, returning: bool = True) -> Any:
    """`INSERT` (`RETURNING id`, the ids in the order of the rows), built once per process."""
    table = cast(Table, cast(Any, entity).__table__)
    statement = insert(table)
    return statement.returning(table.c.id, sort_by_parameter_order=True) if returning else statement


@functools.cache
def _mapped_columns(entity: type) -> dict[str, Any]:
    """The column attributes of a mapped class, by attribute key: their table column."""
    mapper: Mapper[Any] = sa_inspect(entity)
    return {prop.key: prop.columns[0] for prop in mapper.column_attrs}


# ---------------------------------------------------------------------------
# receiving


# Column sizes of the free texts officers and portals send; longer is refused, not truncated.
TEXT_LIMITS = {
    "applicant_name": 255,
    "applicant_email": 255,
    "applicant_id_number": 20,
    "applicant_phone": 20,
    "applicant_address": 1000,
    "collected_by": 255,
    "outcome": 40,
    "comment": 4000,
    "reason": 4000,
    "note": 4000,
    # Codes and names a caller looks things up by or hands in, as long as their columns.
    "dossier_code": Dossier.code.type.length,
    "procedure_code": Procedure.code.type.length,
    "file_name": Attachment.file_name.type.length,
    # The nonce of a desk form or an API client's Idempotency-Key, as stored.
    "submission_key": Dossier.submission_key.type.length,
    # The user name an officer is named by (the API's assignment).
    "username": Officer.username.type.length,
}
DATA_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# What no column can hold: PostgreSQL refuses NUL in text, and a lone UTF-16 surrogate (JSON's
# "\ud800") has no UTF-8 encoding; the other C0 controls (tab and line breaks aside) are never typed.
UNSAFE_CHARACTER = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


def unsafe_character(value: str) -> str | None:
    """The first character of `value` no column can hold, named in Vietnamese; None when there is none."""
    found = UNSAFE_CHARACTER.search(value)
    if found is None:
        return None
    char = found.group()
    if char == "\x00":
        return "ký tự NUL"
    if char >= "\ud800":
        return f"ký tự Unicode đơn lẻ U+{ord(char):04X}"
    return f"ký tự điều khiển U+{ord(char):04X}"


def check_text(value: str | None, field: str) -> None:
    """Refuse control characters, lone surrogates and text longer than its column (the database would
    fail later)."""
    if value is None:
        return
    unsafe = unsafe_character(value)
    if unsafe is not None:
        raise InvalidInput(f"Nội dung có {unsafe} không hợp lệ", field)
    limit = TEXT_LIMITS.get(field)
    if limit is not None and len(value) > limit:
        raise InvalidInput(f"Nội dung dài quá {limit} ký tự", field)


def check_data(data: dict[str, Any] | None) -> dict[str, Any]:
    """Step data stays flat: identifier keys and scalar values, so the workflow state always loads back."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidInput("Dữ liệu kèm theo phải là một bảng khóa – giá trị", "data")
    for key, value in data.items():
        if not isinstance(key, str) or not DATA_KEY.match(key) or key in ("outcome", "typename"):
            raise InvalidInput(f"Khóa dữ liệu {key!r} không hợp lệ", "data")
        if value is not None and not isinstance(value, str | int | float | bool):
            raise InvalidInput(f"Giá trị của {key!r} phải là chữ, số hoặc đúng/sai", "data")
        if isinstance(value, str):
            check_text(value, "comment")
    return dict(data)


def applicant_problems(applicant: Applicant) -> dict[str, str]:
    """Every bad field of the applicant's details, by field, each with its message."""
    problems: dict[str, str] = {}
    for field_name, value in (
        ("applicant_name", applicant.name),
        ("applicant_id_number", applicant.id_number),
        ("applicant_phone", applicant.phone),
        ("applicant_email", applicant.email),
        ("applicant_address", applicant.address),
    ):
        try:
            check_text(value, field_name)
        except InvalidInput as exc:
            problems[field_name] = exc.message
    if "applicant_name" not in problems and (not applicant.name or not applicant.name.strip()):
        problems["applicant_name"] = "Chưa nhập họ tên người nộp hồ sơ"
    if (
        "applicant_id_number" not in problems
        and applicant.id_number
        and not ID_NUMBER.match(applicant.id_number)
    ):
        problems["applicant_id_number"] = "Số định danh cá nhân phải gồm đúng 12 chữ số"
    if (
        "applicant_phone" not in problems
        and applicant.phone
        and not PHONE.match(applicant.phone.replace(" ", ""))
    ):
        problems["applicant_phone"] = "Số điện thoại không hợp lệ (10–11 chữ số, bắt đầu bằng 0 hoặc +84)"
    if "applicant_email" not in problems and applicant.email and not EMAIL.match(applicant.email):
        problems["applicant_email"] = "Địa chỉ thư điện tử không hợp lệ"
    return problems


def validate_applicant(applicant: Applicant) -> None:
    """Check the applicant's details; the first bad field is named."""
    problems = applicant_problems(applicant)
    if problems:
        field_name, message = next(iter(problems.items()))
        raise InvalidInput(message, field_name)


NO_CONTACT_MESSAGE = (
    "Cần số điện thoại hoặc số định danh cá nhân để công dân tra cứu hồ sơ; nếu công dân không cung cấp, "
    "đánh dấu “Công dân không cung cấp liên lạc”"
)
NO_DOCUMENT_MESSAGE = "Chưa đánh dấu thành phần hồ sơ nào đã nhận theo danh mục của thủ tục"


def _desk_problems(
    procedure_code: str, channel: str, applicant: Applicant, no_contact: bool
) -> dict[str, str]:
    """The receive form's field problems that need no database, in the form's order."""
    problems: dict[str, str] = {}
    if not procedure_code or not procedure_code.strip():
        problems["procedure_code"] = "Chọn thủ tục hành chính"
    if channel not in CHANNELS:
        problems["channel"] = (
            f"Kênh tiếp nhận không hợp lệ; chọn một trong: {', '.join(CHANNEL_LABELS.values())}"
        )
    problems |= applicant_problems(applicant)
    # A typed but malformed phone or number is named on its own field; none at all is asked for here.
    if not (applicant.phone or applicant.id_number or no_contact):
        problems["contact"] = NO_CONTACT_MESSAGE
    return problems


def active_version(session: Session, procedure: Procedure) -> ProcessVersion:
    """The procedure's active process version, or NoActiveVersion."""
    version = session.scalars(
        select(ProcessVersion).where(
            ProcessVersion.procedure_id == procedure.id, ProcessVersion.status == "active"
        )
    ).one_or_none()
    if version is None:
        raise NoActiveVersion(
            f"Thủ tục {procedure.code} chưa có quy trình nội bộ đang áp dụng; "
            "cần kích hoạt một phiên bản quy trình đã được phê duyệt"
        )
    return version


def _procedure_and_version(session: Session, code: str) -> tuple[Procedure, ProcessVersion | None]:
    """The procedure with this code (NotFound as procedure_by_code) and its active process version, if
    any, in one round trip."""
    row = session.execute(
        select(Procedure, ProcessVersion)
        .outerjoin(
            ProcessVersion,
            (ProcessVersion.procedure_id == Procedure.id) & (ProcessVersion.status == "active"),
        )
        .where(Procedure.code == code)
    ).first()
    if row is None:
        return procedure_by_code(session, code), None  # raises NotFound with its message
    return row.Procedure, row.ProcessVersion


def _desk_entities() -> Entities:
    """The entities of a receipt's desk read: the officer, their agency, the procedure and its version."""
    return _entities(Officer, Agency, Procedure, ProcessVersion)


@functools.cache
def _desk_statement() -> Prepared:
    """The desk's read at a receipt: the officer with their agency, and the procedure with this code
    with its active process version (NULLs when there is no such procedure), a prepared statement
    built once per process."""
    officer, agency, procedure, version = (mapper.local_table for mapper, _ in _desk_entities())
    columns = [mapper.columns[key] for mapper, keys in _desk_entities() for key in keys]
    return Prepared(
        select(*columns)
        .select_from(
            officer.join(agency, agency.c.id == officer.c.agency_id)
            .outerjoin(procedure, procedure.c.code == bindparam("procedure_code", type_=String))
            .outerjoin(version, (version.c.procedure_id == procedure.c.id) & (version.c.status == "active"))
        )
        .where(officer.c.id == bindparam("officer_id", type_=Integer))
    )


def _read_desk(
    session: Session, officer_id: int, procedure_code: str
) -> tuple[Procedure | None, ProcessVersion | None]:
    """Read the desk officer, their agency, the procedure and its active version in one round trip,
    into the session's identity map as an ORM load leaves them (the loads that follow find them
    there); the procedure and version read (None when there is none, or the officer is unknown)."""
    conn = session.connection()
    with pipeline(conn, begin=True):  # on PostgreSQL the transaction's BEGIN goes with it
        sent = _desk_statement().send(conn, {"officer_id": officer_id, "procedure_code": procedure_code})
    rows = sent.rows()
    if not rows:  # no such officer: the load that follows says so
        return None, None
    _officer, _agency, procedure, version = loaded = _row_objects(session, _desk_entities(), rows[0])
    _hold(session, [obj for obj in loaded if obj is not None])
    return procedure, version


def receive_in(
    ctx: Context,
    session: Session,
    *,
    procedure: Procedure,
    agency: Agency,
    received_by_id: int | None,
    applicant: Applicant,
    channel: str,
    now: datetime,
    data: dict[str, Any] | None,
    documents: list[str] | None,
    uploads: Sequence[Upload],
    submission_key: str | None,
    received_note: dict[str, Any] | None = None,
    version: ProcessVersion | None = None,
) -> tuple[Dossier, list[WorkItem], wf.CompiledProcess]:
    """Create the dossier at `agency` inside the caller's transaction (the checks are the caller's):
    code, legal due time, documents, workflow started, first steps projected, the applicant told.

    `received_by_id` is the desk officer, or None for a dossier the national portal pushed;
    `received_note` goes into the receipt's audit event (e.g. the portal's own code); `version` is
    the procedure's active process version when the caller has read it already.
    """
    version = version or active_version(session, procedure)
    compiled = compiled_process(ctx, session, version.id)
    local_day = now.astimezone(ctx.calendar.tz).date()
    # The number is drawn as late as the diagram allows: its agency's row stays locked from the draw
    # to the commit, and other desks of the agency wait for it. A diagram that names the code may
    # route on it, so its workflow starts with the code; another one starts without it and is given
    # it just before the dossier is written.
    drawn = compiled.names_dossier_code
    # On PostgreSQL the new dossier's id comes with its number (one statement fewer to write it).
    code, dossier_id = next_dossier_code_and_id(session, agency, local_day) if drawn else ("", None)
    due = legal_due(ctx, procedure, now)
    workflow = wf.new_workflow(compiled, dict(data or {}, dossier_code=code, channel=channel))
    dossier = Dossier(
        id=dossier_id,
        code=code,
        procedure_id=procedure.id,
        process_version_id=version.id,
        agency_id=agency.id,
        applicant_name=applicant.name.strip(),
        applicant_id_number=applicant.id_number,
        applicant_phone=applicant.phone,
        applicant_email=applicant.email,
        applicant_address=applicant.address,
        channel=channel,
        received_at=now,
        received_by_id=received_by_id,
        clock_started_at=ctx.calendar.counting_start(now),
        due_at=due,
        original_due_at=due,
        appointment_at=due,
        status="processing",
        workflow_state="",
        submission_key=submission_key or None,
    )
    received = dict(
        procedure=procedure.code,
        process_version=version.number,
        channel=channel,
        due_at=due.isoformat(),
        documents=[d.strip() for d in documents or [] if d and d.strip()],
        **(received_note or {}),
    )
    first = receipt_writes.first_items(ctx, session, dossier, workflow, compiled, now)
    if not drawn:
        code, dossier_id = next_dossier_code_and_id(session, agency, local_day)
        wf.set_start_value(workflow, wf.DOSSIER_CODE, code)
        dossier.code = code
        if dossier_id is not None:
            dossier.id = dossier_id
    refresh_search_text(dossier)
    if first is not None:
        # The dossier and its first steps in their final state, one INSERT each (no flush).
        receipt_writes.write_receipt(ctx, session, dossier, first, workflow, compiled, now)
        attachments.store_all(ctx.settings, session, dossier.id, "input", uploads, received_by_id, now)
        record_events(
            session,
            dossier,
            received_by_id,
            now,
            [("received", received), *receipt_writes.step_opened_events(first)],
        )
        opened = first
    else:
        session.add(dossier)
        session.flush()
        session.info[PRELOADED_OPEN] = (dossier.id, [])  # a new dossier has no items to query for
        attachments.store_all(ctx.settings, session, dossier.id, "input", uploads, received_by_id, now)
        record_event(session, dossier, "received", received_by_id, now, **received)
        opened = project(ctx, session, dossier, workflow, compiled, received_by_id, now)
    if procedure.kind != "feedback":  # a feedback's sender is told by engine/feedback/service.py
        notifications.notify_applicant(ctx, session, dossier, "received", now)
    return dossier, opened, compiled


def receive_dossier(
    ctx: Context,
    *,
    procedure_code: str,
    applicant: Applicant,
    channel: str,
    officer_id: int,
    now: datetime,
    data: dict[str, Any] | None = None,
    documents: list[str] | None = None,
    uploads: Sequence[Upload] = (),
    submission_key: str | None = None,
    no_contact: bool = False,
    forward: bool = False,
    postal: PostalIntake | None = None,
    reuse: Sequence[tuple[int, str]] = (),
) -> Receipt:
    """Receive a dossier at the desk: code, legal due time, workflow started, first steps projected.

    Only a desk whose agency may receive the procedure (engine.catalogue.competence) receives it.
    `documents` is the checklist of documents handed in: when given, at least one of the procedure's
    listed documents. A phone or an ID number is needed for the citizen's lookup unless `no_contact`
    says the citizen gave none. Every field problem is reported at once (InvalidFields).
    `submission_key` makes a repeated submission (double click, network retry) return the first
    dossier's receipt. With `forward`, the desk's own first step is completed with its forwarding
    outcome in the same transaction, so the dossier lands in the next officer's inbox.
    `reuse` names earlier digitised documents of the same applicant (attachment id, the checklist item
    each stands for) attached instead of asked for again (engine/documents/digitisation.py).
    `postal` is the post's part (engine/runtime/postal.py): the item number a dossier of channel
    "postal" came under (required), and the result asked for by post with its address.
    """
    from engine.runtime import postal as post

    require_aware(now)
    data = check_data(data)
    for document in documents or []:
        check_text(document, "reason")
    check_text(submission_key, "submission_key")
    problems = _desk_problems(procedure_code, channel, applicant, no_contact)
    problems |= post.intake_problems(channel, postal)
    with use_case(ctx, "Tiếp nhận hồ sơ") as uow:
        session = uow.session
        # The officer, their agency, the procedure and its active version in one round trip (the
        # loads below find them in the session).
        read_procedure, read_version = _read_desk(session, officer_id, procedure_code)
        officer = active_officer(session, officer_id)
        if not officer.has_role("desk"):
            raise Forbidden("Chỉ cán bộ Bộ phận Một cửa mới được tiếp nhận hồ sơ")
        if submission_key:
            earlier = session.scalars(select(Dossier).where(Dossier.submission_key == submission_key)).first()
            # Only the desk that received it learns that a key was used before.
            if earlier is not None and earlier.agency_id == officer.agency_id:
                return Receipt(
                    earlier.id,
                    earlier.code,
                    earlier.received_at,
                    earlier.due_at,  # type: ignore[arg-type]
                    [],
                    repeated=True,
                )
            if earlier is not None:
                raise Conflict("Mã gửi biểu mẫu đã được dùng; vui lòng tải lại biểu mẫu")
        if "procedure_code" in problems:
            raise InvalidFields(problems)
        if read_procedure is not None:
            procedure, version = read_procedure, read_version
        else:
            procedure, version = _procedure_and_version(session, procedure_code)
        agency = session.get_one(Agency, officer.agency_id)
        require_competence(procedure, agency)
        listed = set(procedure.required_documents or [])
        if documents is not None and listed and not listed.intersection(d.strip() for d in documents if d):
            problems["documents"] = NO_DOCUMENT_MESSAGE
        if problems:
            raise InvalidFields(problems)
        dossier, opened, compiled = receive_in(
            ctx,
            session,
            procedure=procedure,
            agency=agency,
            received_by_id=officer.id,
            applicant=applicant,
            channel=channel,
            now=now,
            data=data,
            documents=documents,
            uploads=uploads,
            submission_key=submission_key,
            received_note=post.intake_note(channel, postal),
            version=version,
        )
        post.record_intake(session, dossier, postal, officer.id, now)
        if reuse:
            # The applicant's earlier digitised documents, attached instead of asked for again.
            from engine.documents.digitisation import reuse_in

            for attachment_id, document_name in reuse:
                reuse_in(session, officer, dossier, attachment_id, document_name, now)
        code, due = dossier.code, dossier.due_at
        assert due is not None
        if forward:
            # The items just opened are all the new dossier's open items: the step takes them from
            # here instead of querying for them.
            session.info[PRELOADED_OPEN] = (dossier.id, list(opened))
            opened = _forward_from_desk(ctx, session, dossier, opened, compiled, officer, now)
        receipt = Receipt(
            dossier.id,
            code,
            now,
            due,
            [i.id for i in opened],
            forwarded=forward,
            next_steps=[i.task_name for i in opened] if forward else [],
        )
        uow.commit()
    return receipt


def _forward_from_desk(
    ctx: Context,
    session: Session,
    dossier: Dossier,
    opened: list[WorkItem],
    compiled: wf.CompiledProcess,
    officer: Officer,
    now: datetime,
) -> list[WorkItem]:
    """Complete the desk's own first step with its forwarding outcome; the items that opens."""
    item = next(
        (i for i in opened if i.role == "desk" and i.kind is None and i.agency_id == officer.agency_id),
        None,
    )
    if item is None:
        raise Conflict(
            f"Quy trình của thủ tục không có bước đầu tiên của Bộ phận Một cửa để chuyển xử lý hồ sơ "
            f"{dossier.code}; chọn “Tiếp nhận”"
        )
    step = compiled.model.steps[item.task_id]
    values = step.outcome_values()
    if "forward" in values:
        outcome: str | None = "forward"
    elif not step.needs_outcome:
        outcome = None
    else:
        raise Conflict(
            f'Bước "{step.name}" không có kết quả chuyển xử lý mặc định; chọn “Tiếp nhận” rồi xử lý bước này'
        )
    _, next_items = _complete_in(ctx, session, item, officer, outcome, None, None, now)
    return next_items


# ---------------------------------------------------------------------------
# working a step


def _can_work(officer: Officer, item: WorkItem) -> None:
    require_view_item(officer, item)
    if not officer.has_role(item.role):
        raise Forbidden(f'Bước xử lý này dành cho vai trò "{ROLE_LABELS.get(item.role, item.role)}"')


def claim(ctx: Context, work_item_id: int, officer_id: int, now: datetime) -> None:
    """Take an open pool item into the officer's own inbox."""
    require_aware(now)
    with use_case(ctx, "Nhận xử lý") as uow:
        session = uow.session
        preload_step(session, work_item_id, officer_id)
        officer = active_officer(session, officer_id)
        item = _work_item(session, work_item_id)
        _can_work(officer, item)
        if not item.is_open:
            raise Conflict("Bước xử lý này đã hoàn thành")
        if item.assignee_id == officer.id:
            return
        # A conditional update, so two officers clicking at once cannot both get the item.
        taken = session.execute(  # type: ignore[attr-defined]
            update(WorkItem)
            .where(WorkItem.id == item.id, WorkItem.assignee_id.is_(None), WorkItem.completed_at.is_(None))
            .values(assignee_id=officer.id, claimed_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if taken != 1:
            raise Conflict("Bước xử lý này đã được cán bộ khác nhận xử lý")
        dossier = session.get_one(Dossier, item.dossier_id)
        # Written now, so the commit has nothing to flush.
        record_events(session, dossier, officer.id, now, [("claimed", {"work_item_id": item.id})])
        uow.commit()


def unclaim(ctx: Context, work_item_id: int, officer_id: int, now: datetime) -> None:
    """Put a claimed item back into the pool."""
    require_aware(now)
    with use_case(ctx, "Trả lại bước xử lý") as uow:
        session = uow.session
        officer = active_officer(session, officer_id)
        item = _work_item(session, work_item_id)
        _can_work(officer, item)
        if not item.is_open:
            raise Conflict("Bước xử lý này đã hoàn thành")
        if item.assignee_id != officer.id:
            raise Forbidden("Chỉ cán bộ đã nhận bước xử lý này mới được trả lại bước này về danh sách chung")
        item.assignee_id = None
        item.claimed_at = None
        dossier = session.get_one(Dossier, item.dossier_id)
        record_event(session, dossier, "released", officer.id, now, work_item_id=item.id)
        uow.commit()


def _assign_in(
    ctx: Context,
    session: Session,
    item: WorkItem,
    actor: Officer,
    target: Officer,
    now: datetime,
    kind: str = "assigned",
    field: str = "officer",
) -> bool:
    """Give an open item to the target inside the caller's transaction: recorded and notified.

    False when the target already holds it (nothing to record).
    """
    check_target(item, target, field)
    previous = item.assignee_id
    if previous == target.id:
        return False
    item.assignee_id = target.id
    item.claimed_at = now
    dossier = session.get_one(Dossier, item.dossier_id)
    record_event(
        session,
        dossier,
        kind,
        actor.id,
        now,
        work_item_id=item.id,
        step=item.task_id,
        name=item.task_name,
        from_officer_id=previous,
        to_officer_id=target.id,
    )
    due = f"; hạn xử lý bước {local_time(item.due_at, ctx.calendar.tz)}" if item.due_at else ""
    notifications.notify_officers(
        session,
        [target],
        key=f"assigned:{item.id}:{target.id}:{now.isoformat()}",
        kind="assigned",
        message=notifications.Message(
            f"Được phân công xử lý hồ sơ {dossier.code}",
            f'{actor.full_name} phân công cho {target.full_name} xử lý bước "{item.task_name}" của hồ sơ '
            f"{dossier.code}{due}.",
        ),
        now=now,
        dossier_id=dossier.id,
    )
    return True


def assign(ctx: Context, work_item_id: int, actor_id: int, to_officer_id: int | str, now: datetime) -> bool:
    """Phân công: a head or supervisor gives an open step of their agency to a named officer.

    Works for pool items and for items someone holds (the history says from whom to whom); the
    target (an id, or a user name) must be an active officer of the step's agency holding its role.
    False when the target already held it.
    """
    require_aware(now)
    with use_case(ctx, "Phân công xử lý") as uow:
        session = uow.session
        actor = active_officer(session, actor_id)
        item = _work_item(session, work_item_id)
        require_assigner(actor, item)
        if not item.is_open:
            raise Conflict("Bước xử lý này đã hoàn thành")
        changed = _assign_in(ctx, session, item, actor, target_officer(session, to_officer_id), now)
        uow.commit()
    return changed


def reassign(ctx: Context, work_item_id: int, supervisor_id: int, to_officer_id: int, now: datetime) -> None:
    """A supervisor moves an open item of their agency to another officer (e.g. sick leave)."""
    require_aware(now)
    with use_case(ctx, "Chuyển người xử lý") as uow:
        session = uow.session
        supervisor = active_officer(session, supervisor_id)
        item = _work_item(session, work_item_id)
        if not supervisor.has_role("supervisor") or supervisor.agency_id != item.agency_id:
            raise Forbidden(
                "Chỉ cán bộ giám sát của cơ quan đang giữ bước xử lý này mới được chuyển người xử lý"
            )
        if not item.is_open:
            raise Conflict("Bước xử lý này đã hoàn thành")
        target = target_officer(session, to_officer_id)
        _assign_in(ctx, session, item, supervisor, target, now, kind="reassigned")
        uow.commit()


def step_class(ctx: Context, dossier: Dossier, item: WorkItem, now: datetime) -> str | None:
    """A step's class on the control sheet: against its allotment (an uncounted hand-over: the appointment).

    The wait for the applicant's supplement is the applicant's time, not a step of the agency's.
    """
    if item.kind == "supplement":
        return None
    if item.kind == "return" and not item.counted:
        return classify(now, dossier.appointment_at or dossier.due_at, ctx)
    return classify(now, item.due_at, ctx)


def _complete_in(
    ctx: Context,
    session: Session,
    item: WorkItem,
    officer: Officer,
    outcome: str | None,
    comment: str | None,
    data: dict[str, Any] | None,
    now: datetime,
) -> tuple[Dossier, list[WorkItem]]:
    """Complete one step inside the caller's transaction."""
    _can_work(officer, item)
    if not item.is_open:
        raise Conflict("Bước xử lý này đã hoàn thành; vui lòng tải lại danh sách công việc")
    if item.assignee_id not in (None, officer.id):
        raise Forbidden("Bước xử lý này đang do cán bộ khác xử lý")
    dossier = _held(session, Dossier, item.dossier_id) or session.get_one(Dossier, item.dossier_id)
    if dossier.status not in OPEN_STATUSES:
        raise Conflict(
            f'Hồ sơ {dossier.code} đã kết thúc ("{STATUS_LABELS[dossier.status]}"), không thể xử lý tiếp'
        )
    compiled = compiled_process(ctx, session, dossier.process_version_id)
    step = compiled.model.steps[item.task_id]
    allowed = step.outcome_values()
    choices = ", ".join(f'"{o.label}"' for o in step.outcomes if o.value is not None)
    if outcome is None and step.needs_outcome:
        raise InvalidInput(f'Bước "{step.name}" cần chọn kết quả xử lý: {choices}', "outcome")
    if outcome is not None and step.outcomes and outcome not in allowed and step.needs_outcome:
        raise InvalidInput(
            f'Kết quả xử lý "{outcome}" không áp dụng cho bước này; chọn một trong: {choices}', "outcome"
        )
    chosen = compiled.model.outcome_of(step.id, outcome)
    sent_back = chosen is not None and chosen.returns
    if sent_back and not (comment and comment.strip()):
        raise InvalidInput("Cần ghi lý do trả lại để xử lý lại", "comment")
    note_running_lateness(dossier, now)
    workflow = wf.load_state(dossier.workflow_state, compiled)
    task_data = dict(data or {})
    task_data["outcome"] = outcome or ""
    try:
        wf.run_user_task(workflow, item.task_uuid, task_data)
    except LookupError as exc:
        raise Conflict(
            f'Bước "{item.task_name}" không còn chờ xử lý; cần chạy `motcua check` cho hồ sơ {dossier.code}'
        ) from exc
    item.completed_at = now
    item.completed_by_id = officer.id
    item.assignee_id = item.assignee_id or officer.id
    item.claimed_at = item.claimed_at or now
    item.outcome = outcome
    item.comment = comment
    item.used_hours = round(ctx.calendar.working_hours_between(item.created_at, now), 2)
    item.result_class = step_class(ctx, dossier, item, now)
    completed = {
        "work_item_id": item.id,
        "step": item.task_id,
        "name": item.task_name,
        "outcome": outcome,
        "comment": comment,
        "used_hours": item.used_hours,
        "result_class": item.result_class,
        **({"sent_back": True} if sent_back else {}),
    }
    # Written with the "step_opened" events, in one statement after the projection's flush.
    opened = project(
        ctx, session, dossier, workflow, compiled, officer.id, now, [("step_completed", completed)]
    )
    feedback_steps.after_step(ctx, session, dossier, item, outcome, task_data, now)
    return dossier, opened


def complete(
    ctx: Context,
    work_item_id: int,
    officer_id: int,
    *,
    now: datetime,
    outcome: str | None = None,
    comment: str | None = None,
    data: dict[str, Any] | None = None,
    uploads: Sequence[Upload] = (),
    assign_to: int | str | None = None,
) -> Completion:
    """Complete a step with its outcome; the workflow advances and the next steps are projected.

    An outcome that sends the dossier back to an earlier step needs the reason as `comment`. A head
    or supervisor may pass `assign_to`: the steps this completion opens whose role that officer
    holds are assigned to them in the same transaction (none fitting: nothing is done).
    """
    require_aware(now)
    data = check_data(data)
    check_text(outcome, "outcome")
    check_text(comment, "comment")
    if outcome in ("supplement", "refuse"):
        raise InvalidInput(
            "Yêu cầu bổ sung và từ chối được ghi nhận bằng chức năng riêng, kèm theo lý do", "outcome"
        )
    with use_case(ctx, "Hoàn thành bước xử lý") as uow:
        session = uow.session
        preload_step(session, work_item_id, officer_id, open_items_too=True)
        officer = active_officer(session, officer_id)
        item = _held(session, WorkItem, work_item_id) or _work_item(session, work_item_id)
        if item.kind == "supplement":
            raise InvalidInput(
                "Bước chờ bổ sung kết thúc khi Bộ phận Một cửa tiếp nhận hồ sơ bổ sung", "work_item"
            )
        if item.kind == "return":
            raise InvalidInput("Bước trả kết quả được hoàn thành bằng chức năng Trả kết quả", "work_item")
        if assign_to is not None and not may_assign(officer, item.agency_id):
            raise Forbidden(
                "Chỉ lãnh đạo phòng hoặc cán bộ giám sát mới được giao bước tiếp theo cho cán bộ "
                "khi hoàn thành bước"
            )
        dossier, opened = _complete_in(ctx, session, item, officer, outcome, comment, data, now)
        chosen = compiled_process(ctx, session, dossier.process_version_id).model.outcome_of(
            item.task_id, outcome
        )
        result = Completion(
            dossier.code,
            dossier.status,
            [i.id for i in opened],
            sent_back=chosen is not None and chosen.returns,
        )
        if assign_to is not None:  # before the files are stored: a refusal stores nothing
            result.assigned_to = _assign_opened(ctx, session, officer, opened, assign_to, now)
        attachments.store_all(ctx.settings, session, dossier.id, "result", uploads, officer.id, now, item.id)
        uow.commit()
    return result


def _assign_opened(
    ctx: Context,
    session: Session,
    actor: Officer,
    opened: Sequence[WorkItem],
    to_officer_id: int | str,
    now: datetime,
) -> str:
    """Assign the just-opened steps the target can work to them; InvalidInput "assign_to" if none fits."""
    target = target_officer(session, to_officer_id)
    human = [i for i in opened if i.kind is None and may_assign(actor, i.agency_id)]
    fitting = [
        i for i in human if i.agency_id == target.agency_id and target.has_role(i.role) and target.active
    ]
    if not fitting:
        if human:
            check_target(human[0], target, "assign_to")  # says why the first of them does not fit
        raise InvalidInput(
            "Bước tiếp theo không thuộc cơ quan của người phân công hoặc không phải bước xử lý; "
            'chọn "Để danh sách chung"',
            "assign_to",
        )
    for item in fitting:
        _assign_in(ctx, session, item, actor, target, now, field="assign_to")
    return target.full_name


def supplement_request_is_late(ctx: Context, dossier: Dossier, now: datetime) -> bool:
    """Whether a request to supplement now falls after the window from receipt (default 3 working days)."""
    window = ctx.settings.supplement_window_days * ctx.settings.hours_per_day
    return ctx.calendar.working_hours_between(dossier.clock_started_at, now) > window


def request_supplement(
    ctx: Context,
    work_item_id: int,
    officer_id: int,
    *,
    missing: list[str],
    reason: str,
    now: datetime,
    late_reason: str | None = None,
) -> Completion:
    """Yêu cầu bổ sung: ask for every missing document at once; the dossier's clock stops.

    A request later than the window from receipt is the agency's fault: it needs `late_reason`,
    is marked late and counted. Lateness already incurred stays recorded (the clock restarts
    only when the complete supplement arrives).
    """
    require_aware(now)
    check_text(reason, "reason")
    check_text(late_reason, "reason")
    for entry in missing:
        check_text(entry, "missing")
    missing = [m.strip() for m in missing if m and m.strip()]
    if not missing:
        raise InvalidInput(
            "Liệt kê đầy đủ một lần các giấy tờ còn thiếu hoặc chưa đúng cần bổ sung", "missing"
        )
    if not reason or not reason.strip():
        raise InvalidInput("Nêu rõ lý do yêu cầu bổ sung", "reason")
    with use_case(ctx, "Yêu cầu bổ sung") as uow:
        session = uow.session
        officer = active_officer(session, officer_id)
        item = _work_item(session, work_item_id)
        _can_work(officer, item)  # before anything about the step or its dossier is told
        held = session.get(Dossier, item.dossier_id)
        late = held is not None and supplement_request_is_late(ctx, held, now)
        if late and not (late_reason and late_reason.strip()):
            days = number(ctx.settings.supplement_window_days, 2)
            raise InvalidInput(
                f"Yêu cầu bổ sung sau {days} ngày làm việc kể từ khi tiếp nhận là yêu cầu trễ (lỗi của cơ "
                "quan giải quyết); cần ghi rõ lý do yêu cầu bổ sung muộn",
                "late_reason",
            )
        dossier, opened = _complete_in(ctx, session, item, officer, "supplement", reason, None, now)
        if not any(i.kind == "supplement" for i in opened):
            raise InvalidInput(f'Bước "{item.task_name}" không được yêu cầu bổ sung hồ sơ', "outcome")
        # A request after the legal due time does not erase the lateness already incurred.
        record_lateness(dossier, now)
        session.add(
            Suspension(
                dossier_id=dossier.id,
                kind="supplement",
                reason=reason.strip(),
                details=missing,
                started_at=now,
                started_by_id=officer.id,
                late=late,
                late_reason=late_reason.strip() if late and late_reason else None,
            )
        )
        record_event(
            session,
            dossier,
            "supplement_requested",
            officer.id,
            now,
            missing=missing,
            reason=reason,
            late=late,
            late_reason=late_reason.strip() if late and late_reason else None,
        )
        notifications.notify_applicant(
            ctx, session, dossier, "supplement", now, key=str(item.id), missing=missing, reason=reason
        )
        result = Completion(dossier.code, dossier.status, [i.id for i in opened])
        uow.commit()
    return result


def resume(
    ctx: Context, dossier_code: str, officer_id: int, now: datetime, note: str | None = None
) -> Completion:
    """The supplement arrived at the desk: end the suspension and restart (or resume) the clock."""
    require_aware(now)
    check_text(note, "note")
    with use_case(ctx, "Tiếp nhận hồ sơ bổ sung") as uow:
        session = uow.session
        officer = active_officer(session, officer_id)
        dossier = dossier_by_code(session, dossier_code)
        if not officer.has_role("desk") or officer.agency_id != dossier.agency_id:
            raise Forbidden("Hồ sơ bổ sung được tiếp nhận tại Bộ phận Một cửa của cơ quan đã tiếp nhận hồ sơ")
        if dossier.status != "supplement":
            raise Conflict(f"Hồ sơ {dossier.code} không ở trạng thái chờ bổ sung")
        item = next((i for i in open_items(session, dossier) if i.kind == "supplement"), None)
        suspension = session.scalars(
            select(Suspension).where(Suspension.dossier_id == dossier.id, Suspension.ended_at.is_(None))
        ).first()
        if item is None or suspension is None:
            raise Conflict(
                f"Hồ sơ {dossier.code} không có yêu cầu bổ sung nào đang mở; cần chạy `motcua check`"
            )
        paused = ctx.calendar.working_hours_between(suspension.started_at, now)
        suspension.ended_at = now
        suspension.ended_by_id = officer.id
        suspension.paused_hours = round(paused, 2)
        procedure = session.get_one(Procedure, dossier.procedure_id)
        if ctx.settings.supplement_mode == "pause":
            new_due = _shift(ctx, dossier.due_at, suspension.started_at, now)  # type: ignore[arg-type]
        else:
            new_due = legal_due(ctx, procedure, now)
            dossier.clock_started_at = ctx.calendar.counting_start(now)
        dossier.status = "processing"
        _set_due(dossier, new_due)
        moved = dossier.appointment_at if dossier.appointment_moved_at is not None else None
        dossier.appointment_at = max(new_due, moved) if moved is not None else new_due
        record_event(
            session,
            dossier,
            "supplement_received",
            officer.id,
            now,
            paused_hours=suspension.paused_hours,
            due_at=new_due.isoformat(),
            mode=ctx.settings.supplement_mode,
            note=note,
        )
        _, opened = _complete_in(ctx, session, item, officer, None, note, None, now)
        notifications.notify_applicant(
            ctx,
            session,
            dossier,
            "supplement_received",
            now,
            key=str(suspension.id),
            new_due=dossier.appointment_at,
        )
        result = Completion(dossier.code, dossier.status, [i.id for i in opened])
        uow.commit()
    return result


def _shift(ctx: Context, due: datetime, paused_from: datetime, now: datetime) -> datetime:
    """The due time moved by the working time the clock stood still."""
    remaining = ctx.calendar.working_hours_between(paused_from, due)
    return ctx.calendar.add_working_hours(now, remaining)


def _set_due(dossier: Dossier, due: datetime) -> None:
    dossier.due_at = due
    dossier.deadline_version = (dossier.deadline_version or 1) + 1


def refuse(ctx: Context, work_item_id: int, officer_id: int, *, reason: str, now: datetime) -> Completion:
    """Từ chối: the dossier is not granted; it goes back through the desk with the reasons."""
    require_aware(now)
    check_text(reason, "reason")
    if not reason or not reason.strip():
        raise InvalidInput("Từ chối hồ sơ phải nêu rõ lý do", "reason")
    with use_case(ctx, "Từ chối hồ sơ") as uow:
        session = uow.session
        officer = active_officer(session, officer_id)
        item = _work_item(session, work_item_id)
        _can_work(officer, item)  # before anything about the step or its dossier is told
        dossier = session.get_one(Dossier, item.dossier_id)
        step = compiled_process(ctx, session, dossier.process_version_id).model.steps[item.task_id]
        if item.kind is not None or "refuse" not in step.outcome_values():
            raise InvalidInput(
                f'Bước "{item.task_name}" không có nhánh từ chối trong quy trình nội bộ; chỉ được từ chối '
                'hồ sơ ở bước có kết quả xử lý "Từ chối"',
                "outcome",
            )
        dossier.refusal_reason = reason.strip()
        dossier, opened = _complete_in(ctx, session, item, officer, "refuse", reason, None, now)
        record_event(session, dossier, "refused", officer.id, now, reason=reason)
        result = Completion(dossier.code, dossier.status, [i.id for i in opened])
        uow.commit()
    return result


def return_result(
    ctx: Context, work_item_id: int, officer_id: int, *, collected_by: str, now: datetime
) -> Completion:
    """Trả kết quả: the desk hands the result (or the refusal) over; the dossier is finished."""
    _check_collected_by(now, collected_by)
    with use_case(ctx, "Trả kết quả") as uow:
        session = uow.session
        officer = active_officer(session, officer_id)
        result = _return_in(ctx, session, officer, _work_item(session, work_item_id), collected_by, now)
        uow.commit()
    return result


def return_dossier_result(
    ctx: Context, dossier_code: str, officer_id: int, *, collected_by: str, now: datetime
) -> Completion:
    """Trả kết quả by dossier code (the desk's form): the dossier's open hand-over step is completed."""
    _check_collected_by(now, collected_by)
    with use_case(ctx, "Trả kết quả") as uow:
        session = uow.session
        officer = active_officer(session, officer_id)
        dossier = dossier_by_code(session, dossier_code)
        item = next((i for i in open_items(session, dossier) if i.kind == "return"), None)
        if item is None:
            raise Conflict(f"Hồ sơ {dossier_code} chưa có kết quả để trả.")
        result = _return_in(ctx, session, officer, item, collected_by, now)
        uow.commit()
    return result


def _check_collected_by(now: datetime, collected_by: str) -> None:
    require_aware(now)
    if not collected_by or not collected_by.strip():
        raise InvalidInput("Ghi rõ người nhận kết quả", "collected_by")
    check_text(collected_by, "collected_by")


def _return_in(
    ctx: Context,
    session: Session,
    officer: Officer,
    item: WorkItem,
    collected_by: str,
    now: datetime,
    note: dict[str, Any] | None = None,
) -> Completion:
    """Complete the hand-over step; `note` goes into the return's event (the postal item handed to the
    post, engine/runtime/postal.py). Without one, the result was collected at the desk."""
    from engine.runtime import postal

    _can_work(officer, item)
    if item.kind != "return":
        raise InvalidInput(f'Bước "{item.task_name}" không phải bước trả kết quả', "work_item")
    dossier = session.get_one(Dossier, item.dossier_id)
    require_settled_for_handover(session, dossier)  # fee paid in full or waived (engine/payments)
    dossier.returned_at = now
    dossier.returned_to = collected_by.strip()
    # Collected at the desk after all: a result waiting to go by post stays here.
    unsent = note is None and postal.cancel_unsent(session, dossier, now)
    dossier, opened = _complete_in(ctx, session, item, officer, None, None, None, now)
    note = note or ({"postal_cancelled": True} if unsent else {})
    record_event(session, dossier, "returned", officer.id, now, collected_by=collected_by, **note)
    return Completion(dossier.code, dossier.status, [i.id for i in opened])


def withdraw(ctx: Context, dossier_code: str, officer_id: int, *, reason: str, now: datetime) -> None:
    """Dừng giải quyết: the applicant withdraws before a decision; the workflow is cancelled."""
    require_aware(now)
    check_text(reason, "reason")
    if not reason or not reason.strip():
        raise InvalidInput("Ghi rõ lý do người nộp xin rút hồ sơ", "reason")
    with use_case(ctx, "Rút hồ sơ") as uow:
        session = uow.session
        officer = active_officer(session, officer_id)
        if not officer.has_role("desk"):
            raise Forbidden("Việc rút hồ sơ do Bộ phận Một cửa ghi nhận")
        dossier = dossier_by_code(session, dossier_code)
        if officer.agency_id != dossier.agency_id:
            raise Forbidden("Hồ sơ này do cơ quan khác tiếp nhận")
        if dossier.status not in OPEN_STATUSES or dossier.status == "result_ready":
            raise Conflict(
                f'Hồ sơ {dossier.code} đang ở trạng thái "{STATUS_LABELS[dossier.status]}", '
                "không thể rút hồ sơ được nữa"
            )
        compiled = compiled_process(ctx, session, dossier.process_version_id)
        workflow = wf.load_state(dossier.workflow_state, compiled)
        wf.cancel(workflow)
        for item in open_items(session, dossier):
            item.completed_at = now
            item.outcome = "withdrawn"
        for suspension in session.scalars(
            select(Suspension).where(Suspension.dossier_id == dossier.id, Suspension.ended_at.is_(None))
        ):
            suspension.ended_at = now
            suspension.ended_by_id = officer.id
        dossier.status = "withdrawn"
        dossier.withdrawal_reason = reason.strip()
        dossier.finished_at = now
        dossier.workflow_state = wf.dump_state(workflow)
        record_event(session, dossier, "withdrawn", officer.id, now, reason=reason)
        uow.commit()


def move_appointment(
    ctx: Context, dossier_code: str, officer_id: int, *, new_due: datetime, reason: str, now: datetime
) -> None:
    """Hẹn lại ngày trả kết quả: move the appointment once (the apology case)."""
    require_aware(now)
    check_text(reason, "reason")
    require_aware(new_due, "new_due")
    if not reason or not reason.strip():
        raise InvalidInput("Nêu rõ lý do chậm trễ", "reason")
    with use_case(ctx, "Hẹn lại ngày trả kết quả") as uow:
        session = uow.session
        officer = active_officer(session, officer_id)
        dossier = dossier_by_code(session, dossier_code)
        if not (officer.has_role("desk") or officer.has_role("leader")):
            raise Forbidden("Chỉ Bộ phận Một cửa hoặc Lãnh đạo cơ quan mới được hẹn lại ngày trả kết quả")
        holders = {dossier.agency_id} | {i.agency_id for i in open_items(session, dossier)}
        if officer.agency_id not in holders:
            raise Forbidden(
                "Chỉ cơ quan tiếp nhận hoặc cơ quan đang giải quyết hồ sơ mới được hẹn lại ngày trả kết quả"
            )
        move_appointment_in(ctx, session, dossier, officer, new_due=new_due, reason=reason, now=now)
        uow.commit()


def move_appointment_in(
    ctx: Context,
    session: Session,
    dossier: Dossier,
    officer: Officer,
    *,
    new_due: datetime,
    reason: str,
    now: datetime,
) -> datetime | None:
    """Move the appointment inside the caller's transaction: once only, later than now and than before.

    Both move_appointment and the apology letter's issue go through here, so the once-only
    rule lives in one place. Returns the previous appointment.
    """
    if dossier.status not in OPEN_STATUSES:
        raise Conflict(f"Hồ sơ {dossier.code} đã kết thúc, không thể hẹn lại ngày trả kết quả")
    if dossier.appointment_moved_at is not None:
        raise Conflict(
            f"Hồ sơ {dossier.code} đã được hẹn lại ngày trả kết quả vào ngày "
            f"{dossier.appointment_moved_at.astimezone(ctx.calendar.tz):%d/%m/%Y}; "
            "mỗi hồ sơ chỉ được hẹn lại một lần"
        )
    current = dossier.appointment_at or dossier.due_at
    if new_due <= now or (current is not None and new_due <= current):
        raise InvalidInput(
            "Ngày hẹn trả kết quả mới phải sau thời điểm hiện tại và sau ngày hẹn hiện tại", "new_due"
        )
    previous = current
    # The legal due time never moves with the appointment: lateness is judged against it.
    dossier.appointment_at = new_due
    dossier.deadline_version = (dossier.deadline_version or 1) + 1
    dossier.appointment_moved_at = now
    record_event(
        session,
        dossier,
        "appointment_moved",
        officer.id,
        now,
        previous_due_at=previous.isoformat() if previous else None,
        due_at=new_due.isoformat(),
        reason=reason,
    )
    return previous
