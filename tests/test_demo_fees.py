"""The demo's dossiers of the sample procedure with a fee (2.000635) show every state of a fee: paid
at the desk in cash or by transfer, paid online through the gateway's answer, waived by a leader, and
unpaid at the hand-over, which refuses to hand the result over."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.demo import run_demo
from engine.errors import Conflict
from engine.payments.dues import fee_state
from engine.runtime import dossiers as svc
from models import Dossier, DossierEvent, Officer, Payment, Procedure, WorkItem
from tests.conftest import at

UNTIL = at("2026-11-23 16:00")


def test_demo_dossiers_of_the_fee_procedure_show_every_fee_state(ctx) -> None:
    lines: list[str] = []
    codes = run_demo(ctx, count=40, seed=2026, echo=lines.append, until=UNTIL, days=7)
    assert any(line.startswith("  fees: cash ") for line in lines)
    with ctx.uow() as uow:
        s = uow.session
        fee_dossiers = list(
            s.scalars(
                select(Dossier)
                .join(Procedure, Procedure.id == Dossier.procedure_id)
                .where(Procedure.code == "2.000635", Dossier.code.in_(codes))
            )
        )
        states = {d.code: fee_state(s, d) for d in fee_dossiers}
        paid = [p for state in states.values() for p in state.payments if p.status == "paid"]
        methods = {p.method for p in paid}
        assert methods == {"cash", "transfer", "online"}
        assert all(p.amount == 8000 and p.paid_at <= UNTIL for p in paid)
        desk = [p for p in paid if p.method != "online"]
        assert all(p.receipt_number.startswith("BL-2026-") and p.officer_id for p in desk)
        assert len({p.receipt_number for p in desk}) == len(desk)
        # Online: settled from the gateway's answer, its transaction number the receipt; a declined
        # attempt stays failed beside the payment that went through.
        online = [p for p in paid if p.method == "online"]
        assert all(p.receipt_number == p.gateway_reference and p.officer_id is None for p in online)
        assert s.scalars(select(Payment).where(Payment.status == "failed")).first() is not None
        (waiver,) = s.scalars(select(DossierEvent).where(DossierEvent.kind == "fee_waived"))
        assert s.get_one(Officer, waiver.officer_id).username == "xa.lanhdao"
        assert states[s.get_one(Dossier, waiver.dossier_id).code].settled
        # Every result handed over was paid or waived; one waits at the hand-over, unpaid.
        for dossier in fee_dossiers:
            if dossier.status == "returned" and not dossier.refusal_reason:
                assert states[dossier.code].settled, dossier.code
        waiting = [
            d for d in fee_dossiers if d.status == "result_ready" and states[d.code].outstanding == 8000
        ]
        assert waiting
        item = s.scalars(
            select(WorkItem).where(WorkItem.dossier_id == waiting[0].id, WorkItem.completed_at.is_(None))
        ).one()
        code, item_id, desk_id = waiting[0].code, item.id, waiting[0].received_by_id
    assert item.kind == "return"
    with pytest.raises(Conflict, match=r"chưa nộp phí, lệ phí: còn phải nộp 8\.000 đồng"):
        svc.return_result(ctx, item_id, desk_id, collected_by="Nguyễn Văn An", now=UNTIL)
    with ctx.uow() as uow:
        assert uow.session.scalars(select(Dossier.status).where(Dossier.code == code)).one() == "result_ready"
