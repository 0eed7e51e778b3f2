"""Two officers at once: exactly one completion wins; parallel receipts keep codes unique and consecutive."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update

from engine.errors import Conflict, Forbidden
from engine.runtime import dossiers as svc
from models import DossierEvent, WorkItem, create_db_engine
from tests.conftest import Officers, at, open_items

APPLICANT = svc.Applicant(name="Trần Thị Bình", id_number="001203004006")


def _run_together(functions):
    """Start the functions at the same moment in threads; return (results, errors) in order."""
    barrier = threading.Barrier(len(functions))
    results: list[object] = [None] * len(functions)
    errors: list[BaseException | None] = [None] * len(functions)

    def runner(index, fn):
        barrier.wait()
        try:
            results[index] = fn()
        except BaseException as exc:  # collected and asserted by the caller
            errors[index] = exc

    threads = [threading.Thread(target=runner, args=(i, f)) for i, f in enumerate(functions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results, errors


def test_two_officers_completing_the_same_step_exactly_one_wins(ctx, backend):
    officers = Officers(ctx)
    receipt = svc.receive_dossier(
        ctx,
        procedure_code="1.001806",
        applicant=APPLICANT,
        channel="online",
        officer_id=officers["sonv.motcua"],
        now=at("2026-11-23 08:00"),
    )
    svc.complete(
        ctx, open_items(ctx, receipt.dossier_id)[0].id, officers["sonv.motcua"], now=at("2026-11-23 09:00")
    )
    svc.complete(
        ctx,
        open_items(ctx, receipt.dossier_id)[0].id,
        officers["sonv.truongphong"],
        now=at("2026-11-23 10:00"),
    )
    (item,) = open_items(ctx, receipt.dossier_id)
    rounds = 5 if backend == "postgresql" else 2
    for round_ in range(rounds):
        (item,) = open_items(ctx, receipt.dossier_id)
        if item.task_id != "Task_Process":
            break
        now = at("2026-11-23 11:00") + timedelta(minutes=round_)
        _, errors = _run_together(
            [
                lambda item=item, now=now: svc.complete(
                    ctx, item.id, officers["sonv.chuyenvien1"], now=now, outcome="forward"
                ),
                lambda item=item, now=now: svc.complete(
                    ctx, item.id, officers["sonv.chuyenvien2"], now=now, outcome="forward"
                ),
            ]
        )
        failures = [e for e in errors if e is not None]
        assert len(failures) == 1, errors
        assert isinstance(failures[0], Conflict)
        with ctx.uow() as uow:
            completed = uow.session.scalar(
                select(func.count())
                .select_from(DossierEvent)
                .where(
                    DossierEvent.dossier_id == receipt.dossier_id,
                    DossierEvent.kind == "step_completed",
                    DossierEvent.payload["work_item_id"].as_integer() == item.id,
                )
            )
            opened = uow.session.scalars(
                select(WorkItem.task_id).where(
                    WorkItem.dossier_id == receipt.dossier_id, WorkItem.completed_at.is_(None)
                )
            ).all()
        assert completed == 1
        assert opened == ["Task_Review"]
        # Send it back for rework so the next round races on the same kind of step.
        svc.complete(
            ctx,
            open_items(ctx, receipt.dossier_id)[0].id,
            officers["sonv.truongphong"],
            now=now + timedelta(minutes=1),
            outcome="rework",
            comment="Cần thẩm định lại",
        )


@pytest.mark.parametrize("threads", [6])
def test_parallel_receipts_get_unique_consecutive_codes(ctx, threads):
    officers = Officers(ctx)
    per_thread = 4

    def burst():
        return [
            svc.receive_dossier(
                ctx,
                procedure_code="1.001806",
                applicant=APPLICANT,
                channel="in_person",
                officer_id=officers["sonv.motcua"],
                now=at("2026-11-23 08:00"),
            ).code
            for _ in range(per_thread)
        ]

    results, errors = _run_together([burst] * threads)
    assert errors == [None] * threads
    codes = sorted(code for batch in results for code in batch)
    assert len(set(codes)) == threads * per_thread
    assert codes == [f"000.00.12.H40-261123-{n:04d}" for n in range(1, threads * per_thread + 1)]


def _pooled_connections(ctx):
    """The DBAPI connections idle in the pool (checked out and returned at once, in pool order)."""
    checked_out = [ctx.db.pool.connect() for _ in range(ctx.db.pool.checkedin())]
    try:
        return [c.dbapi_connection for c in checked_out]
    finally:
        for c in checked_out:
            c.close()


def _first_item(ctx, officers):
    """The open first step of a dossier just received online at the department's desk."""
    receipt = svc.receive_dossier(
        ctx,
        procedure_code="1.001806",
        applicant=APPLICANT,
        channel="online",
        officer_id=officers["sonv.motcua"],
        now=at("2026-11-23 08:00"),
    )
    (item,) = open_items(ctx, receipt.dossier_id)
    return item


def test_a_step_leaves_its_connection_as_it_found_it(ctx, backend):
    officers = Officers(ctx)
    item = _first_item(ctx, officers)
    # Refused after the read (not this officer's role): rolled back.
    with pytest.raises(Forbidden):
        svc.complete(ctx, item.id, officers["sonv.chuyenvien1"], now=at("2026-11-23 09:00"))
    svc.complete(ctx, item.id, officers["sonv.motcua"], now=at("2026-11-23 09:00"))
    if backend == "postgresql":  # psycopg begins the next transactions itself again
        assert all(c.autocommit is False for c in _pooled_connections(ctx))
    # The next use of a pooled connection is one transaction: a failure undoes all of it.
    with pytest.raises(RuntimeError), ctx.uow() as uow:
        uow.session.execute(update(WorkItem).where(WorkItem.id == item.id).values(comment="tạm"))
        raise RuntimeError("undone")
    with ctx.uow() as uow:
        assert uow.session.get_one(WorkItem, item.id).comment is None


def test_a_connection_the_server_dropped_is_replaced_before_the_step(ctx, backend):
    if backend != "postgresql":
        pytest.skip("a server connection")
    officers = Officers(ctx)
    item = _first_item(ctx, officers)
    pids = [c.info.backend_pid for c in _pooled_connections(ctx)]
    assert pids
    admin = create_db_engine(ctx.db.url.render_as_string(hide_password=False))
    try:
        with admin.connect() as conn:
            for pid in pids:
                conn.execute(select(func.pg_terminate_backend(pid)))
            for _ in range(100):  # until the server has closed them
                alive = conn.scalar(
                    select(func.count())
                    .where(text("pid = ANY(:pids)"))
                    .select_from(text("pg_stat_activity")),
                    {"pids": pids},
                )
                if not alive:
                    break
                time.sleep(0.05)
    finally:
        admin.dispose()
    done = svc.complete(ctx, item.id, officers["sonv.motcua"], now=at("2026-11-23 09:00"))
    assert done.opened_work_item_ids
