"""Postal items for generated dossiers (bưu chính công ích), written after the dossiers in one pass.

Every dossier received by post gets the item it came under; 80 % of them, and 2 % of the others,
ask for the result by post: a returned one was handed to the post at its return (and then delivered,
or for 4 % returned to the sender, a few days later if that is before the end of the range), an open
one has its item prepared. Item numbers are S10 numbers made from the dossier id. What the service
functions would write for the same dossier (engine/runtime/postal.py) is written here: the items,
the carrier and number as the recipient of the return, the delivery events.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import exists, select

from bench.bulk import bulk_transaction, insert_rows, update_rows
from engine.context import Context
from engine.runtime.postal import s10_check_digit
from models import Dossier, DossierEvent, PostalItem
from models.postal import DEFAULT_CARRIER

P_RESULT_BY_POST = {"postal": 0.80, "in_person": 0.02}
P_RETURNED_TO_SENDER = 0.04


def _s10(prefix: str, dossier_id: int) -> str:
    serial = f"{dossier_id % 10**8:08d}"
    return f"{prefix}{serial}{s10_check_digit(serial)}VN"


def add_postal_items(ctx: Context, rng: random.Random, until: datetime) -> int:
    """Give the generated dossiers their postal items; returns how many items were written."""
    has_item = exists().where(PostalItem.dossier_id == Dossier.id)
    query = (
        select(
            Dossier.id,
            Dossier.channel,
            Dossier.status,
            Dossier.received_at,
            Dossier.received_by_id,
            Dossier.returned_at,
            Dossier.applicant_address,
        )
        # Only the candidates: every dossier by post, one in-person dossier in 25 to sample from.
        .where((Dossier.channel == "postal") | ((Dossier.channel == "in_person") & (Dossier.id % 25 == 0)))
        .where(~has_item)
        .order_by(Dossier.id)
    )
    items: list[dict] = []
    events: list[dict] = []
    recipients: list[dict] = []
    with ctx.db.begin() as conn:
        bulk_transaction(conn)
        for d in conn.execute(query):
            base = {"dossier_id": d.id, "carrier": DEFAULT_CARRIER, "note": None, "closed_at": None}
            if d.channel == "postal":
                items.append(
                    base
                    | {
                        "direction": "inbound",
                        "item_number": _s10("EB", d.id),
                        "status": "received",
                        "address": d.applicant_address,
                        "created_at": d.received_at,
                        "officer_id": d.received_by_id,
                        "handed_at": d.received_at,
                        "updated_at": d.received_at,
                    }
                )
            share = P_RESULT_BY_POST[d.channel] * (25 if d.channel == "in_person" else 1)
            if rng.random() >= share or d.status in ("withdrawn",):
                continue
            outbound = base | {
                "direction": "outbound",
                "item_number": None,
                "status": "prepared",
                "address": d.applicant_address or "Địa chỉ người nộp",
                "created_at": d.received_at,
                "officer_id": d.received_by_id,
                "handed_at": None,
                "updated_at": d.received_at,
            }
            if d.returned_at is not None:
                number = _s10("RR", d.id)
                closed = d.returned_at + timedelta(days=rng.choice((1, 2, 2, 3, 4)))
                status = "returned_to_sender" if rng.random() < P_RETURNED_TO_SENDER else "delivered"
                outbound |= {"item_number": number, "status": "handed_over", "handed_at": d.returned_at}
                outbound["updated_at"] = d.returned_at
                recipients.append({"id": d.id, "returned_to": f"{DEFAULT_CARRIER}, số hiệu bưu gửi {number}"})
                if closed <= until:
                    outbound |= {"status": status, "closed_at": closed, "updated_at": closed}
                    events.append(
                        {
                            "dossier_id": d.id,
                            "at": closed,
                            "officer_id": None,
                            "kind": "postal_delivered" if status == "delivered" else "postal_returned",
                            "payload": {"postal_item": number, "at": closed.isoformat()},
                        }
                    )
            elif d.status not in ("processing", "supplement", "result_ready"):
                continue
            items.append(outbound)
        insert_rows(conn, PostalItem.__table__, items)
        insert_rows(conn, DossierEvent.__table__, events)
        update_rows(conn, Dossier.__table__, recipients)
    return len(items)
