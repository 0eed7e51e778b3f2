"""Fees and payments for generated dossiers.

Every dossier of a procedure with a fee (engine/catalogue/fees.py) that was not refused or withdrawn
pays what its procedure charges: most dossiers received online pay online, most received at the desk
pay there in cash or by transfer, as the provinces' seeds report (online payment is still the smaller
share at the desk). One online payment in twenty is preceded by a failed attempt. Written after the
dossier's history, a payment never comes before its last event (the history stays in order): an open
dossier pays within a day of receipt or of its last event, never after `until`; a returned one pays
at its hand-over, which waits for the payment (postal deliveries are written afterwards); one received
online after `until` has not paid yet. What the service functions would write (engine/payments/) is
written here: the payment rows and their `payment_recorded` events. `settle_before_handover` is the
same payment made through the service function, for a plan replayed through the engine
(bench/generate.py `replay`). The generator's writers draw each dossier's payments as they write it
(`dossier_payments`); `add_payments` does the same in one pass over dossiers already in a
database (tests use it).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from bench.bulk import bulk_transaction, insert_rows
from engine.catalogue.fees import total_due
from engine.context import Context
from engine.payments.desk import record_desk_payment
from engine.payments.dues import fee_state
from models import Dossier, DossierEvent, Payment, Procedure

# Method by channel: (cash, transfer, online).
METHOD_MIX = {"online": (0.00, 0.25, 0.75), "in_person": (0.55, 0.25, 0.20), "postal": (0.00, 0.70, 0.30)}
P_FAILED_FIRST = 0.05
BATCH = 5000


def procedure_dues(session: Session) -> dict[int, Any]:
    """What a dossier of each procedure with a fee pays, by procedure id."""
    due = {pid: total_due(fees) for pid, fees in session.execute(select(Procedure.id, Procedure.fees))}
    return {pid: amount for pid, amount in due.items() if amount > 0}


def add_payments(ctx: Context, rng: random.Random, until: datetime) -> int:
    """Give the generated dossiers of procedures with fees their payments; returns how many were written."""
    with ctx.uow() as uow:
        due = procedure_dues(uow.session)
    if not due:
        return 0
    paid = exists().where(Payment.dossier_id == Dossier.id)
    query = (
        select(
            Dossier.id,
            Dossier.procedure_id,
            Dossier.channel,
            Dossier.received_at,
            Dossier.received_by_id,
            Dossier.returned_at,
            select(func.max(DossierEvent.at))
            .where(DossierEvent.dossier_id == Dossier.id)
            .scalar_subquery()
            .label("last_at"),
        )
        .where(Dossier.procedure_id.in_(list(due)), Dossier.status.not_in(("refused", "withdrawn")), ~paid)
        .order_by(Dossier.id)
    )
    written = 0
    payments: list[dict] = []
    events: list[dict] = []

    def flush(conn) -> None:
        nonlocal written
        if payments:
            insert_rows(conn, Payment.__table__, payments)
            insert_rows(conn, DossierEvent.__table__, events)
            written += len(payments)
            payments.clear()
            events.clear()

    with ctx.db.begin() as conn:
        bulk_transaction(conn)
        for d in conn.execute(query).yield_per(BATCH):
            found = dossier_payments(
                d.id,
                due[d.procedure_id],
                d.channel,
                d.received_at,
                d.received_by_id,
                d.returned_at,
                d.last_at,
                rng,
                until,
            )
            if found is None:
                continue
            payments.extend(found[0])
            events.append(found[1])
            if len(payments) >= BATCH:
                flush(conn)
        flush(conn)
    return written


def dossier_payments(
    dossier_id: int,
    amount: Any,
    channel: str,
    received_at: datetime,
    received_by_id: int | None,
    returned_at: datetime | None,
    last_at: datetime | None,
    rng: random.Random,
    until: datetime,
) -> tuple[list[dict], dict] | None:
    """The payment rows of one dossier that owes `amount`, and the event of the one that paid.

    `last_at` is the time of its last event. None when it has not paid (received online after `until`).
    """
    cash, transfer, _online = METHOD_MIX.get(channel, METHOD_MIX["in_person"])
    draw = rng.random()
    method = "cash" if draw < cash else "transfer" if draw < cash + transfer else "online"
    after = received_at + timedelta(minutes=rng.randint(1, 24 * 60))
    if returned_at is not None:  # paid at the hand-over, which waits for it
        at = max(returned_at, last_at or returned_at)
    elif max(received_at, last_at or received_at) > until:
        return None  # received (online) after the end of the range: nothing paid yet
    else:
        at = min(max(after, last_at or after), until)
    officer = None if method == "online" else received_by_id
    base = {"dossier_id": dossier_id, "amount": amount, "method": method, "note": None}
    payments = []
    if method == "online" and rng.random() < P_FAILED_FIRST:
        payments.append(
            base
            | {
                "status": "failed",
                "reference": f"TTF{dossier_id:015X}",
                "receipt_number": None,
                "gateway_reference": f"GWF{dossier_id:012d}",
                "checkout_url": None,
                "qr_payload": None,
                "created_at": at - timedelta(minutes=1),
                "paid_at": None,
                "officer_id": None,
            }
        )
    number = f"GW{dossier_id:012d}" if method == "online" else f"{dossier_id:07d}"
    payments.append(
        base
        | {
            "status": "paid",
            "reference": f"TTB{dossier_id:015X}",
            "receipt_number": number,
            "gateway_reference": number if method == "online" else None,
            "checkout_url": None,
            "qr_payload": None,
            "created_at": at,
            "paid_at": at,
            "officer_id": officer,
        }
    )
    event = {
        "dossier_id": dossier_id,
        "at": at,
        "officer_id": officer,
        "kind": "payment_recorded",
        "payload": {"amount": amount, "method": method, "receipt_number": number},
    }
    return payments, event


def settle_before_handover(ctx: Context, code: str, desk_id: int, at: datetime) -> None:
    """Pay in cash at the desk what the dossier still owes, as the citizen collecting the result does."""
    with ctx.uow() as uow:
        dossier = uow.session.scalars(select(Dossier).where(Dossier.code == code)).one()
        if dossier.refusal_reason:
            return
        outstanding, dossier_id = fee_state(uow.session, dossier).outstanding, dossier.id
    if outstanding > 0:
        record_desk_payment(
            ctx, code, desk_id, amount=outstanding, method="cash", receipt_number=f"{dossier_id:07d}", now=at
        )
