"""`motcua demo`: run dossiers through the sample procedures with random outcomes.

Every action goes through the same service functions the web app and the API use, with a
simulated clock, so the demo is also a smoke test of the whole runtime.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.catalogue.competence import may_receive
from engine.catalogue.fees import total_due
from engine.catalogue.procedure_model import ProcedureModel
from engine.context import Context
from engine.demo_fees import DemoFees
from engine.errors import NotFound
from engine.runtime import dossiers as svc
from engine.runtime.control_sheet import control_sheet, format_control_sheet
from models import Agency, Dossier, Officer, Procedure, WorkItem

APPLICANTS = [
    "Nguyễn Văn An",
    "Trần Thị Bình",
    "Lê Hoàng Cường",
    "Phạm Thu Dung",
    "Hoàng Minh Đức",
    "Vũ Thị Hà",
]
# Relative weights of the outcomes a random officer picks when a step offers them.
OUTCOME_WEIGHTS = {
    "forward": 85,
    "submit": 90,
    "approve": 90,
    "agree": 95,
    "rework": 10,
    "supplement": 8,
    "refuse": 3,
}


def officers_by_role(ctx: Context) -> dict[tuple[int, str], list[int]]:
    """Active officers by (agency, role), in id order."""
    with ctx.uow() as uow:
        result: dict[tuple[int, str], list[int]] = {}
        for officer in uow.session.scalars(
            select(Officer).where(Officer.active.is_(True)).order_by(Officer.id)
        ):
            for role in officer.roles:
                result.setdefault((officer.agency_id, role), []).append(officer.id)
        return result


def _named_next(
    rng: random.Random,
    officers: dict[tuple[int, str], list[int]],
    model: ProcedureModel,
    item: WorkItem,
    outcome: str | None,
) -> int | None:
    """A head names the officer of the next step at the receiving agency, as offices do; else the pool."""
    if item.role != "head" or model.steps[item.task_id].agency_code is not None:
        return None
    for step_id in model.next_steps(item.task_id, outcome):
        step = model.steps[step_id]
        if step.kind is None and step.agency_code is None and officers.get((item.agency_id, step.role or "")):
            return rng.choice(officers[(item.agency_id, step.role or "")])
    return None


def _open_items(ctx: Context, dossier_id: int) -> list[WorkItem]:
    with ctx.uow() as uow:
        return list(
            uow.session.scalars(
                select(WorkItem)
                .where(WorkItem.dossier_id == dossier_id, WorkItem.completed_at.is_(None))
                .order_by(WorkItem.id)
            )
        )


def run_one(
    ctx: Context,
    rng: random.Random,
    procedure_code: str,
    received_at: datetime,
    desk_id: int,
    officers: dict[tuple[int, str], list[int]],
    timings: list[float],
    stop_at: datetime | None = None,
    fees: DemoFees | None = None,
) -> str:
    """Receive one dossier and work it with random outcomes to the end, or until `stop_at`; with
    `fees`, the dossier's fee is paid (at the desk or online), waived or left due (engine/demo_fees.py)."""
    applicant = svc.Applicant(
        name=rng.choice(APPLICANTS),
        id_number="".join(rng.choice("0123456789") for _ in range(12)),
        phone="09" + "".join(rng.choice("0123456789") for _ in range(8)),
    )
    channel = rng.choice(["in_person", "in_person", "postal", "online", "online"])
    receipt = svc.receive_dossier(
        ctx,
        procedure_code=procedure_code,
        applicant=applicant,
        channel=channel,
        officer_id=desk_id,
        now=received_at,
    )
    now = received_at
    if fees is not None:
        fees.received(receipt.code, channel, applicant.phone or "", desk_id, now, stop_at)
    if rng.random() < 0.02:
        svc.withdraw(
            ctx, receipt.code, desk_id, reason="Công dân xin rút hồ sơ", now=now + timedelta(hours=2)
        )
        return receipt.code
    model: ProcedureModel | None = None
    for _ in range(200):  # bounded: rework loops are random
        items = _open_items(ctx, receipt.dossier_id)
        if not items:
            break
        item = items[0]
        # The officer the step was assigned to works it; a pool step goes to anyone of its role.
        worker = item.assignee_id or rng.choice(officers[(item.agency_id, item.role)])
        # Officers take between a fifth and a third more than their allotment.
        spent = float(item.allotted_hours or 1) * rng.uniform(0.2, 1.35)
        now = ctx.calendar.add_working_hours(now, max(spent, 0.25))
        if stop_at is not None and now > stop_at:
            break  # still open: the officers have not got this far yet
        started = time.perf_counter()
        if item.kind == "supplement":
            svc.resume(ctx, receipt.code, worker, now, note="Công dân đã nộp bổ sung")
        elif item.kind == "return":
            if fees is not None and not fees.before_handover(receipt.code, worker, now):
                break  # the citizen has not paid yet: the result waits at the hand-over
            svc.return_result(ctx, item.id, worker, collected_by=applicant.name, now=now)
        else:
            if model is None:
                with ctx.uow() as uow:
                    dossier = uow.session.get_one(Dossier, receipt.dossier_id)
                    model = svc.compiled_process(ctx, uow.session, dossier.process_version_id).model
            choices = model.steps[item.task_id].outcome_values()
            outcome = (
                rng.choices(choices, [OUTCOME_WEIGHTS.get(c, 50) for c in choices])[0] if choices else None
            )
            if outcome == "supplement":
                svc.request_supplement(
                    ctx,
                    item.id,
                    worker,
                    missing=["Bản sao giấy tờ chứng minh"],
                    reason="Hồ sơ còn thiếu",
                    now=now,
                    # Kept only when the request falls after the window from receipt.
                    late_reason="Phát hiện thiếu giấy tờ khi thẩm định chuyên sâu",
                )
            elif outcome == "refuse":
                svc.refuse(ctx, item.id, worker, reason="Không đủ điều kiện theo quy định", now=now)
            else:
                svc.complete(
                    ctx,
                    item.id,
                    worker,
                    outcome=outcome,
                    comment="Cần thẩm định lại" if outcome == "rework" else "Đã xử lý",
                    now=now,
                    assign_to=_named_next(rng, officers, model, item, outcome),
                )
        timings.append(time.perf_counter() - started)
    return receipt.code


def run_demo(
    ctx: Context,
    *,
    count: int,
    seed: int,
    echo: Callable[[str], None],
    until: datetime | None = None,
    days: int = 14,
) -> list[str]:
    """Run `count` dossiers through the samples and print a summary and one control sheet.

    With `until`, dossiers are received over the `days` before it and worked only up to it, so
    the most recent ones are still open in the inboxes (the demo data of the web app).
    """
    rng = random.Random(seed)
    officers = officers_by_role(ctx)
    with ctx.uow() as uow:
        # Citizens' feedback arrives through /phan-anh, never at a desk (docs/feedback.md).
        procedures = list(
            uow.session.scalars(
                select(Procedure).where(Procedure.kind != "feedback").order_by(Procedure.code)
            )
        )
        if not procedures:
            raise NotFound("Chưa nạp thủ tục hành chính nào: hãy chạy `motcua load` trước")
        desks = {p.code: desk_for(ctx, uow.session, p) for p in procedures}
        charging = {p.code for p in procedures if total_due(p.fees) > 0}
    fees = DemoFees(ctx, random.Random(seed + 1), officers)
    tz = ctx.calendar.tz
    if until is None:
        clock = ctx.calendar.next_open(datetime.now(tz).replace(second=0, microsecond=0))
        spacing = None
    else:
        clock = ctx.calendar.next_open((until - timedelta(days=days)).replace(second=0, microsecond=0))
        spacing = ctx.calendar.working_hours_between(clock, until) / max(count, 1)
    codes: list[str] = []
    timings: list[float] = []
    started = time.perf_counter()
    for _ in range(count):
        procedure = rng.choice(procedures)
        gap = rng.uniform(0.05, 0.5) if spacing is None else spacing * rng.uniform(0.5, 1.5)
        clock = ctx.calendar.add_working_hours(clock, gap)
        if until is not None and clock > until:
            break
        codes.append(
            run_one(
                ctx,
                rng,
                procedure.code,
                clock,
                desks[procedure.code],
                officers,
                timings,
                stop_at=until,
                fees=fees if procedure.code in charging else None,
            )
        )
    elapsed = time.perf_counter() - started
    _summary(ctx, codes, elapsed, timings, echo)
    if charging:
        echo(fees.summary(codes))
    with ctx.uow() as uow:
        dossiers = list(uow.session.scalars(select(Dossier).where(Dossier.code.in_(codes))))
        shown = max(dossiers, key=lambda d: len(control_sheet(uow.session, d)))
        echo("")
        echo(format_control_sheet(shown, control_sheet(uow.session, shown), tz))
    return codes


def desk_for(ctx: Context, session: Session, procedure: Procedure) -> int:
    """A desk officer whose agency may receive the procedure (the catalogue's competence)."""
    query = select(Officer).join(Agency, Agency.id == Officer.agency_id).order_by(Officer.id)
    for officer in session.scalars(query):
        if officer.has_role("desk") and officer.active and may_receive(procedure, officer.agency):
            return officer.id
    raise NotFound(f"Không có cán bộ Bộ phận Một cửa nào tiếp nhận được hồ sơ thủ tục {procedure.code}")


def _summary(
    ctx: Context, codes: list[str], elapsed: float, timings: list[float], echo: Callable[[str], None]
) -> None:
    with ctx.uow() as uow:
        rows = uow.session.execute(
            select(Procedure.code, Dossier.status, Dossier.result_class)
            .join(Procedure, Procedure.id == Dossier.procedure_id)
            .where(Dossier.code.in_(codes))
        ).all()
    by_status = Counter((r[0], r[1]) for r in rows)
    by_class = Counter(r[2] for r in rows if r[1] == "returned")
    echo(
        f"{len(codes)} dossiers in {elapsed:.1f} s; {len(timings)} service calls, "
        f"median {sorted(timings)[len(timings) // 2] * 1000:.1f} ms"
        if timings
        else "no calls"
    )
    for (code, status), n in sorted(by_status.items()):
        echo(f"  {code:12} {status:14} {n:5}")
    labels: dict[str | None, str | None] = {"early": "trước hạn", "on_time": "đúng hạn", "late": "quá hạn"}
    echo("  returned: " + ", ".join(f"{labels.get(k, k)} {v}" for k, v in sorted(by_class.items(), key=str)))
