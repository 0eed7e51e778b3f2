"""The data generator's bulk path writes the rows the service functions write for the same history."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import func, select

from bench.generate import BulkWriter, Environment, plan_dossier, replay
from engine.catalogue import workflow_state as wf
from engine.context import Context
from engine.search_text import normalise
from models import Dossier, DossierEvent, Payment, Procedure, Suspension, WorkItem
from tests.conftest import at

# The search text starts with the code, which differs; the rest is compared ("search_fields").
SKIP_DOSSIER = {"id", "code", "workflow_state", "search_text"}
SKIP_ITEM = {"id", "dossier_id", "task_uuid"}
SKIP_SUSPENSION = {"id", "dossier_id"}


def _plans(env: Environment) -> list:
    """Every path of every procedure, plus withdrawals, slow steps with and without an apology."""
    rng = random.Random(7)
    start = at("2026-09-01 08:00")
    until = at("2026-12-31 17:00")
    plans = []
    moment = start
    for code, procedure in env.procedures.items():
        supplement = next(n for n in procedure.templates if n.startswith("supplement:"))
        variants = [(name, {}) for name in procedure.templates] + [
            ("normal", {"withdraw": True}),
            (supplement, {"withdraw": True}),
            ("normal", {"slow": True, "apology": True}),
            ("normal", {"slow": True, "apology": False}),
        ]
        for name, options in variants:
            moment = env.calendar.add_working_hours(moment, 1.5)
            channel = rng.choice(["online", "in_person", "postal"])
            plans.append(
                plan_dossier(
                    env,
                    rng,
                    code,
                    moment,
                    channel,
                    until,
                    template_name=name,
                    withdraw=options.get("withdraw", False),
                    slow=options.get("slow", False),
                    apology=options.get("apology"),
                )
            )
    # Open dossiers: the same paths cut at the end of the range.
    for code in env.procedures:
        for hours in (0.5, 3, 30):
            moment = env.calendar.add_working_hours(until - timedelta(days=10), hours)
            plans.append(plan_dossier(env, rng, code, moment, "online", until, template_name="normal"))
    return plans


def _columns(row: object, skip: set[str]) -> dict:
    table = type(row).__table__
    return {c.name: getattr(row, c.key) for c in table.columns if c.name not in skip}


def _snapshot(ctx: Context, code: str) -> dict:
    with ctx.uow() as uow:
        s = uow.session
        dossier = s.scalars(select(Dossier).where(Dossier.code == code)).one()
        items = list(
            s.scalars(select(WorkItem).where(WorkItem.dossier_id == dossier.id).order_by(WorkItem.id))
        )
        suspensions = list(
            s.scalars(select(Suspension).where(Suspension.dossier_id == dossier.id).order_by(Suspension.id))
        )
        events = list(
            s.scalars(
                select(DossierEvent).where(DossierEvent.dossier_id == dossier.id).order_by(DossierEvent.id)
            )
        )
        position = {item.id: index for index, item in enumerate(items)}
        event_rows = []
        for event in events:
            if event.kind == "payment_recorded":
                continue  # the bulk path writes payments after the dossiers (bench/payments.py)
            payload = dict(event.payload)
            if "work_item_id" in payload:
                payload["work_item_id"] = position[payload["work_item_id"]]
            event_rows.append((event.kind, event.at, event.officer_id, payload))
        from engine.runtime.dossiers import compiled_process

        workflow = wf.load_state(dossier.workflow_state, compiled_process(ctx, s, dossier.process_version_id))
        ready = {str(t.id): t.task_spec.bpmn_id for t in wf.ready_user_tasks(workflow)}
        open_items = {i.task_uuid: i.task_id for i in items if i.completed_at is None}
        return {
            "dossier": _columns(dossier, SKIP_DOSSIER),
            "code_prefix": dossier.code.rsplit("-", 1)[0],
            "search_fields": dossier.search_text.split(" | ", 1)[1],
            "search_code_written": dossier.search_text.startswith(normalise(dossier.code) + " | "),
            "items": [_columns(i, SKIP_ITEM) for i in items],
            "suspensions": [_columns(x, SKIP_SUSPENSION) for x in suspensions],
            "events": event_rows,
            "workflow_completed": workflow.is_completed(),
            "ready_steps": sorted(ready.values()),
            # The open work items are exactly the workflow's ready tasks, by task id.
            "open_items_match_ready": open_items == ready
            or (dossier.status == "withdrawn" and not open_items),
            "data": {k: workflow.data.get(k) for k in ("dossier_code", "channel")}
            == {
                "dossier_code": dossier.code,
                "channel": dossier.channel,
            },
        }


def _differences(a: dict, b: dict) -> list:
    """(part, key, bulk value, replayed value) for everything that differs."""
    found = []
    for part in a:
        if part == "dossier":
            found += [(part, k, a[part][k], b[part][k]) for k in a[part] if a[part][k] != b[part][k]]
        elif part in ("items", "suspensions") and len(a[part]) == len(b[part]):
            for n, (x, y) in enumerate(zip(a[part], b[part], strict=True)):
                found += [(f"{part}[{n}]", k, x[k], y[k]) for k in x if x[k] != y[k]]
        elif a[part] != b[part]:
            found.append((part, None, a[part], b[part]))
    return found


def test_bulk_rows_equal_the_rows_of_the_same_plans_run_through_the_service_functions(ctx):
    env = Environment(ctx)
    plans = _plans(env)
    writer = BulkWriter(env, random.Random(1), batch=7)
    bulk_codes = [writer.add(plan) for plan in plans]
    writer.finish()
    replayed_codes = [replay(env, plan) for plan in plans]
    kinds = set()
    for plan, bulk_code, replay_code in zip(plans, bulk_codes, replayed_codes, strict=True):
        bulk, replayed = _snapshot(ctx, bulk_code), _snapshot(ctx, replay_code)
        where = f"{plan.procedure_code} {plan.template} {[a.kind for a in plan.actions]}"
        assert _differences(bulk, replayed) == [], where
        assert bulk["open_items_match_ready"] and bulk["data"]
        kinds.add(bulk["dossier"]["status"])
    assert kinds >= {"processing", "returned", "refused", "withdrawn"}
    # The replayed hand-overs of the procedure with a fee came after its payment at the desk.
    with ctx.uow() as uow:
        fee_paid = uow.session.execute(
            select(Dossier.status, func.count(Payment.id))
            .join(Procedure, Procedure.id == Dossier.procedure_id)
            .outerjoin(Payment, Payment.dossier_id == Dossier.id)
            .where(Procedure.code == "2.000635", Dossier.code.in_(replayed_codes))
            .group_by(Dossier.id, Dossier.status)
        ).all()
    returned = [paid for status, paid in fee_paid if status == "returned"]
    assert returned and all(paid == 1 for paid in returned)


def test_generated_histories_end_in_consistent_states(ctx):
    env = Environment(ctx)
    rng = random.Random(3)
    until = at("2026-12-31 17:00")
    writer = BulkWriter(env, rng)
    codes = []
    moment = at("2026-11-02 08:00")
    for _ in range(80):
        moment = env.calendar.add_working_hours(moment, 1)
        code = rng.choice(list(env.procedures))
        codes.append(writer.add(plan_dossier(env, rng, code, moment, "in_person", until)))
    writer.finish()
    with ctx.uow() as uow:
        s = uow.session
        for dossier in s.scalars(select(Dossier).where(Dossier.code.in_(codes))):
            items = list(s.scalars(select(WorkItem).where(WorkItem.dossier_id == dossier.id)))
            open_items = [i for i in items if i.completed_at is None]
            if dossier.status in ("returned", "refused", "withdrawn"):
                assert dossier.finished_at is not None and not open_items
            else:
                assert len(open_items) == 1
            assert (dossier.result_class is not None) == (
                dossier.finished_at is not None
                and dossier.status not in ("withdrawn",)
                and not dossier.refusal_reason
            )
            assert all(i.completed_at >= i.created_at for i in items if i.completed_at)
    assert len(set(codes)) == len(codes)


def test_generation_keeps_the_code_sequence_for_later_receipts(ctx, officers):
    from engine.runtime import dossiers as svc

    env = Environment(ctx)
    rng = random.Random(5)
    moment = at("2026-11-23 08:00")
    writer = BulkWriter(env, rng)
    first = writer.add(plan_dossier(env, rng, "1.001806", moment, "online", moment, template_name="normal"))
    writer.finish()
    receipt = svc.receive_dossier(
        ctx,
        procedure_code="1.001806",
        applicant=svc.Applicant(name="Trần Thị Bình"),
        no_contact=True,
        channel="in_person",
        officer_id=officers["sonv.motcua"],
        now=moment + timedelta(minutes=5),
    )
    assert first == "000.00.12.H40-261123-0001"
    assert receipt.code == "000.00.12.H40-261123-0002"


def test_a_dossier_received_online_after_the_end_of_the_range_has_not_paid_yet(ctx):
    from bench.payments import add_payments
    from engine.runtime.consistency import check_all

    env = Environment(ctx)
    rng = random.Random(9)
    until = at("2026-12-31 17:00")
    writer = BulkWriter(env, rng)
    # The procedure with a fee, received online in the evening of the last day.
    late = writer.add(plan_dossier(env, rng, "2.000635", at("2026-12-31 19:30"), "online", until))
    early = writer.add(plan_dossier(env, rng, "2.000635", at("2026-12-31 09:30"), "online", until))
    writer.finish()
    assert add_payments(ctx, rng, until) == 1
    with ctx.uow() as uow:
        paid = set(uow.session.scalars(select(Dossier.code).join(Payment, Payment.dossier_id == Dossier.id)))
    assert paid == {early} and late not in paid
    assert check_all(ctx).ok
