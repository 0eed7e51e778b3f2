"""The generator's writers give each dossier its payments, postal items and digitised documents as they
write it, and write event payloads as the text json.dumps gives for the service functions' dicts."""

from __future__ import annotations

import json
import random
from datetime import date

from sqlalchemy import func, select

from bench.generate import BulkWriter, Environment, generate, plan_dossier
from engine.context import Context
from engine.runtime.consistency import check_all
from models import Attachment, Dossier, DossierEvent, Payment, PostalItem, Procedure
from tests.conftest import at
from tests.test_generate import _plans

FEE_PROCEDURE = "2.000635"


def test_event_payloads_are_the_text_json_dumps_gives(ctx: Context):
    env = Environment(ctx)
    writer = BulkWriter(env, random.Random(11), batch=1_000_000, until=at("2026-12-31 17:00"))
    for plan in _plans(env):
        writer.add(plan)
    events = writer.rows["dossier_event"]
    texts = [e["payload"] for e in events if isinstance(e["payload"], str)]
    # The replay test compares the values; the text is json.dumps's own (separators, escapes, key order).
    assert texts and all(json.dumps(json.loads(text)) == text for text in texts)
    assert {e["kind"] for e in events} >= {
        "received",
        "step_opened",
        "step_completed",
        "supplement_requested",
        "supplement_received",
        "refused",
        "returned",
        "withdrawn",
        "appointment_moved",
        "payment_recorded",
    }
    writer.finish()
    assert check_all(ctx).ok


def test_each_dossier_gets_its_payments_postal_items_and_documents(ctx: Context):
    until = at("2026-12-31 17:00")
    generate(ctx, 400, years=1, seed=13, end=date(2026, 12, 31), progress=False)
    with ctx.uow() as uow:
        s = uow.session
        dossiers = list(s.scalars(select(Dossier)))
        fee_procedure = s.scalars(select(Procedure.id).where(Procedure.code == FEE_PROCEDURE)).one()
        paid = dict(
            s.execute(
                select(Payment.dossier_id, func.count())
                .where(Payment.status == "paid")
                .group_by(Payment.dossier_id)
            ).all()
        )
        recorded = s.scalar(
            select(func.count()).select_from(DossierEvent).where(DossierEvent.kind == "payment_recorded")
        )
        inbound = set(s.scalars(select(PostalItem.dossier_id).where(PostalItem.direction == "inbound")))
        documents = dict(
            s.execute(select(Attachment.dossier_id, func.count()).group_by(Attachment.dossier_id)).all()
        )
    assert len(dossiers) == 400
    owing = {
        d.id
        for d in dossiers
        if d.procedure_id == fee_procedure
        and d.status not in ("refused", "withdrawn")
        and d.received_at <= until
    }
    assert owing and set(paid) == owing and set(paid.values()) == {1}
    assert recorded == len(paid)
    assert inbound == {d.id for d in dossiers if d.channel == "postal"}
    # Every document of a dossier received online is digital.
    online = [d.id for d in dossiers if d.channel == "online"]
    assert online and all(documents.get(i, 0) > 0 for i in online)
    assert check_all(ctx).ok


def test_a_dossier_received_online_after_the_end_of_the_range_has_not_paid_yet(ctx: Context):
    env = Environment(ctx)
    rng = random.Random(9)
    until = at("2026-12-31 17:00")
    writer = BulkWriter(env, rng, until=until)
    late = writer.add(plan_dossier(env, rng, FEE_PROCEDURE, at("2026-12-31 19:30"), "online", until))
    early = writer.add(plan_dossier(env, rng, FEE_PROCEDURE, at("2026-12-31 09:30"), "online", until))
    writer.finish()
    with ctx.uow() as uow:
        paid = set(
            uow.session.scalars(
                select(Dossier.code)
                .join(Payment, Payment.dossier_id == Dossier.id)
                .where(Payment.status == "paid")
            )
        )
    assert paid == {early} and late not in paid
    assert check_all(ctx).ok
