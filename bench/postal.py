"""Postal items for generated dossiers (bưu chính công ích).

Every dossier received by post gets the item it came under; 80 % of them, and 2 % of the others,
ask for the result by post: a returned one was handed to the post at its return (and then delivered,
or for 4 % returned to the sender, a few days later if that is before the end of the range), an open
one has its item prepared. Item numbers are S10 numbers made from the dossier id. What the service
functions would write for the same dossier (engine/runtime/postal.py) is written here: the items,
the carrier and number as the recipient of the return, the delivery events.

The generator's writers draw each dossier's items as they write it (`dossier_postal_items`).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from engine.runtime.postal import s10_check_digit
from models.postal import DEFAULT_CARRIER

P_RESULT_BY_POST = {"postal": 0.80, "in_person": 0.02}
P_RETURNED_TO_SENDER = 0.04


def _s10(prefix: str, dossier_id: int) -> str:
    serial = f"{dossier_id % 10**8:08d}"
    return f"{prefix}{serial}{s10_check_digit(serial)}VN"


def dossier_postal_items(
    dossier_id: int,
    channel: str,
    status: str,
    received_at: datetime,
    received_by_id: int | None,
    returned_at: datetime | None,
    address: str | None,
    rng: random.Random,
    until: datetime,
) -> tuple[list[dict], dict | None, str | None]:
    """One dossier's postal items, its delivery event if any, and the recipient of its return if by post.

    Only dossiers received by post and one in-person dossier in 25 (by id) are candidates; the others
    draw nothing from `rng`.
    """
    if not (channel == "postal" or (channel == "in_person" and dossier_id % 25 == 0)):
        return [], None, None
    items: list[dict] = []
    base = {"dossier_id": dossier_id, "carrier": DEFAULT_CARRIER, "note": None, "closed_at": None}
    if channel == "postal":
        items.append(
            base
            | {
                "direction": "inbound",
                "item_number": _s10("EB", dossier_id),
                "status": "received",
                "address": address,
                "created_at": received_at,
                "officer_id": received_by_id,
                "handed_at": received_at,
                "updated_at": received_at,
            }
        )
    share = P_RESULT_BY_POST[channel] * (25 if channel == "in_person" else 1)
    if rng.random() >= share or status in ("withdrawn",):
        return items, None, None
    outbound = base | {
        "direction": "outbound",
        "item_number": None,
        "status": "prepared",
        "address": address or "Địa chỉ người nộp",
        "created_at": received_at,
        "officer_id": received_by_id,
        "handed_at": None,
        "updated_at": received_at,
    }
    event = returned_to = None
    if returned_at is not None:
        number = _s10("RR", dossier_id)
        closed = returned_at + timedelta(days=rng.choice((1, 2, 2, 3, 4)))
        delivery = "returned_to_sender" if rng.random() < P_RETURNED_TO_SENDER else "delivered"
        outbound |= {"item_number": number, "status": "handed_over", "handed_at": returned_at}
        outbound["updated_at"] = returned_at
        returned_to = f"{DEFAULT_CARRIER}, số hiệu bưu gửi {number}"
        if closed <= until:
            outbound |= {"status": delivery, "closed_at": closed, "updated_at": closed}
            event = {
                "dossier_id": dossier_id,
                "at": closed,
                "officer_id": None,
                "kind": "postal_delivered" if delivery == "delivered" else "postal_returned",
                "payload": {"postal_item": number, "at": closed.isoformat()},
            }
    elif status not in ("processing", "supplement", "result_ready"):
        return items, None, None
    items.append(outbound)
    return items, event, returned_to
