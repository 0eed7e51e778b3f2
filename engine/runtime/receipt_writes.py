"""A receipt's writes as statements: the new dossier and its first work items, without a flush.

Receiving used to add the new dossier to the session and flush it, flush again for the receipt's
event and the projection of the first steps (the dossier's `UPDATE` of its workflow state), then
write the "step_opened" events. Here the workflow is started and its first steps worked out before
anything is written, so the dossier goes in once, already in its final state, with the opened
items: on PostgreSQL in one statement (its id drawn with its number, its `INSERT` a data-modifying
CTE of the items' `INSERT ... RETURNING`), elsewhere as an `INSERT ... RETURNING id` and a
multi-row `INSERT ... RETURNING id`. The statements are built once per process with bound
parameters. The objects are then left in the session as a flush leaves them: persistent, every
column set, nothing pending; the later hooks (the receipt's events, the applicant's
notification, the desk forwarding its first step, the portal outbox at commit) see the same
objects as before.

The rows are the ones the flush wrote, column for column. The dossier's `version` is 2, as the
flush left it (its `INSERT`, then the projection's `UPDATE`), so the optimistic-lock history of a
dossier does not depend on the path it was received by. A start that does more than open steps (a
return step ready at once, a workflow that ends at its start) is left to the general projection:
`first_items` answers None and the caller takes the flush path.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapper, Session, make_transient_to_detached

from engine.catalogue import workflow_state as wf
from engine.context import Context
from models import Dossier, WorkItem
from models.prepared import Prepared

# The dossier's version after its receipt: the flush path inserted it (1) and updated it (2).
RECEIVED_VERSION = 2


@functools.cache
def _columns(entity: type) -> dict[str, Any]:
    """The column attributes of a mapped class, by attribute key: their table column."""
    mapper: Mapper[Any] = sa_inspect(entity)
    return {prop.key: prop.columns[0] for prop in mapper.column_attrs}


@functools.cache
def _insert_returning_id(entity: type) -> Any:
    """`INSERT INTO <table> (<every column but id>) ... RETURNING id`, the ids in the order of the rows."""
    table = cast(Table, cast(Any, entity).__table__)
    return insert(table).returning(table.c.id, sort_by_parameter_order=True)


@functools.cache
def _insert_statement(entity: type) -> Any:
    """`INSERT INTO <table> (<every column>) VALUES ...`, built once per process."""
    return insert(cast(Table, cast(Any, entity).__table__))


@functools.cache
def _dossier_and_items(count: int) -> Prepared:
    """PostgreSQL: the new dossier (its id given) and its `count` first items in one statement, the
    dossier's `INSERT` as a data-modifying CTE; returns each item's id with its task id. Parameters:
    `d_<column>` for the dossier, `w<n>_<column>` for the n-th item. Built and compiled once per
    process and count (SQLAlchemy does not cache the compiled form of a statement with a DML CTE)."""
    dossiers = cast(Table, cast(Any, Dossier).__table__)
    items = cast(Table, cast(Any, WorkItem).__table__)
    dossier = insert(dossiers).values({c: bindparam(f"d_{c.key}", type_=c.type) for c in dossiers.c})
    rows = [
        {c: bindparam(f"w{n}_{c.key}", type_=c.type) for c in items.c if c.key != "id"} for n in range(count)
    ]
    return Prepared(
        insert(items)
        .values(rows)
        .returning(items.c.task_uuid, items.c.id)
        .add_cte(dossier.cte("new_dossier"))
    )


def _complete_row(obj: Dossier | WorkItem) -> dict[str, Any]:
    """Give every unset column of a new object its scalar default (None without one), as the flush
    writes it; the row to insert, without the id."""
    row = {}
    for key, column in _columns(type(obj)).items():
        if key == "id":
            continue
        if key not in obj.__dict__:
            default = column.default
            if default is not None and not default.is_scalar:
                raise ValueError(f"{type(obj).__name__}.{key}: only scalar defaults are written here")
            setattr(obj, key, default.arg if default is not None else None)
        row[key] = obj.__dict__[key]
    return row


def _attach(session: Session, obj: Dossier | WorkItem, new_id: int) -> None:
    """Put a new object just inserted into the session as persistent, as a flush leaves it."""
    obj.id = new_id
    make_transient_to_detached(obj)
    session.add(obj)


def first_items(
    ctx: Context,
    session: Session,
    dossier: Dossier,
    workflow: Any,
    compiled: wf.CompiledProcess,
    now: datetime,
) -> list[WorkItem] | None:
    """The work items a new dossier's workflow opens at its start, as `project` opens them, not written
    yet (their dossier id is set when the dossier is); None when the start does more than open steps
    (a return step ready at once, or the workflow already ended), which the general projection does.
    """
    from engine.runtime.dossiers import opened_item_values

    if workflow.is_completed():
        return None
    items = []
    for task in wf.ready_user_tasks(workflow):
        step = compiled.model.steps[task.task_spec.bpmn_id]
        if step.kind == "return":
            return None
        items.append(WorkItem(**opened_item_values(ctx, session, dossier, step, task, now)))
    return items


def write_receipt(
    ctx: Context,
    session: Session,
    dossier: Dossier,
    opened: Sequence[WorkItem],
    workflow: Any,
    compiled: wf.CompiledProcess,
    now: datetime,
) -> None:
    """Insert the new dossier in its state after the projection of its first steps, then the opened
    items (`first_items`), and leave both persistent in the session with their ids.

    The dossier (not added to the session) and the items come from the caller; a step for another
    agency notes that agency as a handler of the dossier, as `project` does.
    """
    from engine.runtime.access import note_handler
    from engine.runtime.dossiers import projected_late_at

    if any(item.kind == "supplement" for item in opened):
        dossier.status = "supplement"
    dossier.projected_late_at = projected_late_at(ctx, dossier, opened, compiled.model.hours_after, now)
    dossier.workflow_state = wf.dump_state(workflow)
    dossier.version = RECEIVED_VERSION
    conn = session.connection()
    reserved = dossier.__dict__.get("id")
    if reserved is not None and opened and conn.dialect.name == "postgresql":
        # The dossier's id was drawn with its number: dossier and items in one statement.
        for item in opened:
            item.dossier_id = reserved
        dossier_row = _complete_row(dossier)
        params = {f"d_{key}": value for key, value in dossier_row.items()}
        params["d_id"] = reserved
        for n, item in enumerate(opened):
            params.update((f"w{n}_{key}", value) for key, value in _complete_row(item).items())
        ids = dict(_dossier_and_items(len(opened)).rows(conn, params))
        _attach(session, dossier, reserved)
        pairs = [(item, ids[item.task_uuid]) for item in opened]
    else:
        if reserved is None:
            new_id = conn.execute(_insert_returning_id(Dossier), _complete_row(dossier)).scalar_one()
        else:
            conn.execute(_insert_statement(Dossier), {**_complete_row(dossier), "id": reserved})
            new_id = reserved
        _attach(session, dossier, new_id)
        if not opened:
            return
        for item in opened:
            item.dossier_id = new_id
        rows = [_complete_row(item) for item in opened]
        pairs = list(
            zip(opened, conn.execute(_insert_returning_id(WorkItem), rows).scalars().all(), strict=True)
        )
    for item, item_id in pairs:
        _attach(session, item, item_id)
        note_handler(session, dossier, item.agency_id)


def step_opened_events(opened: Sequence[WorkItem]) -> list[tuple[str, dict[str, Any]]]:
    """The "step_opened" events of the items opened (kind, payload), as `project` records them."""
    return [
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
    ]
