"""Fees in the demo: the dossiers of a fee-charging sample procedure pay as citizens do.

Every action goes through the payment use cases (engine/payments/): a citizen at the desk pays in
cash or by transfer against a receipt number when the dossier is received, or when the result is
handed over; a citizen who applied online pays online, through `start_online_payment` and the
gateway's answer (`settle_from_gateway`), here an in-process gateway that answers as the real one
would, with no network. The first dossier reaching the hand-over unpaid has its fee waived by a
leader of the receiving agency; the next one is left waiting at the hand-over, unpaid, so an officer
trying the demo sees every state.
"""

from __future__ import annotations

import dataclasses
import random
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select

from engine.context import Context
from engine.payments.desk import record_desk_payment, waive_fee
from engine.payments.dues import fee_state
from engine.payments.gateway import CheckoutRequest, Gateway, GatewayStatus
from engine.payments.online import settle_from_gateway, start_online_payment
from models import Dossier

DEMO_GATEWAY_URL = "https://thanh-toan.demo.invalid"
DEMO_MERCHANT = "MOTCUA-DEMO"
RETURN_URL = "/tra-cuu/thanh-toan/ket-qua?ref=REF"
CALLBACK_URL = "/thanh-toan/callback"
WAIVER_REASON = (
    "Cấp lại bản sao trích lục do sai sót của cơ quan đăng ký hộ tịch; người yêu cầu không phải nộp phí"
)
P_PAY_AT_RETURN = 0.25  # citizens at the desk who pay when they collect the result
P_TRANSFER = 0.3  # of the desk payments, by transfer
P_FAILED_FIRST = 0.1  # online payments preceded by a failed attempt (the card was declined)


class DemoGateway(Gateway):
    """The gateway as the demo's citizens meet it: a checkout is paid (or declined) at once."""

    def __init__(self) -> None:  # no settings: nothing leaves the process
        self.created: dict[str, tuple[int, str]] = {}
        self.declined: set[str] = set()

    def create(
        self, reference: str, amount: int, description: str, return_url: str, callback_url: str
    ) -> CheckoutRequest:
        gateway_reference = "GW" + secrets.token_hex(6).upper()
        self.created[reference] = (amount, gateway_reference)
        return CheckoutRequest(gateway_reference, f"{DEMO_GATEWAY_URL}/pay/{gateway_reference}", reference)

    def decline(self, reference: str) -> None:
        """The citizen's bank declines this checkout."""
        self.declined.add(reference)

    def status(self, reference: str) -> GatewayStatus:
        amount, gateway_reference = self.created[reference]
        status = "failed" if reference in self.declined else "paid"
        return GatewayStatus(reference, status, amount, gateway_reference)


@dataclass
class DemoFees:
    """What the demo's fee-paying citizens have done so far, and the means to do more."""

    ctx: Context
    rng: random.Random
    officers: dict[tuple[int, str], list[int]]
    gateway: DemoGateway = field(init=False)
    online_ctx: Context = field(init=False)
    receipts: int = 0
    waived: list[str] = field(default_factory=list)
    unpaid: list[str] = field(default_factory=list)
    deferred: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.gateway = DemoGateway()
        # The online half needs a gateway configured; the demo's one answers in-process.
        settings = dataclasses.replace(
            self.ctx.settings, payment_gateway_url=DEMO_GATEWAY_URL, payment_merchant_id=DEMO_MERCHANT
        )
        self.online_ctx = dataclasses.replace(self.ctx, settings=settings)

    def _due(self, code: str) -> tuple[int, int]:
        """(what is still due, the receiving agency's id)."""
        with self.ctx.uow() as uow:
            dossier = uow.session.scalars(select(Dossier).where(Dossier.code == code)).one()
            return fee_state(uow.session, dossier).outstanding, dossier.agency_id

    def _pay_at_desk(self, code: str, desk_id: int, now: datetime) -> None:
        outstanding, _ = self._due(code)
        if outstanding <= 0:
            return
        self.receipts += 1
        method = "transfer" if self.rng.random() < P_TRANSFER else "cash"
        record_desk_payment(
            self.ctx,
            code,
            desk_id,
            amount=outstanding,
            method=method,
            receipt_number=f"BL-{now.year}-{self.receipts:06d}",
            now=now,
        )

    def _pay_online(self, code: str, phone: str, now: datetime) -> None:
        last4 = phone[-4:]
        if self.rng.random() < P_FAILED_FIRST:
            first = start_online_payment(
                self.online_ctx,
                code,
                last4,
                now=now,
                return_url=RETURN_URL,
                callback_url=CALLBACK_URL,
                gateway=self.gateway,
            )
            self.gateway.decline(first.reference)
            settle_from_gateway(self.online_ctx, first.reference, now + timedelta(minutes=2), self.gateway)
            now += timedelta(minutes=5)
        checkout = start_online_payment(
            self.online_ctx,
            code,
            last4,
            now=now,
            return_url=RETURN_URL,
            callback_url=CALLBACK_URL,
            gateway=self.gateway,
        )
        settle_from_gateway(self.online_ctx, checkout.reference, now + timedelta(minutes=3), self.gateway)

    def received(
        self, code: str, channel: str, phone: str, desk_id: int, now: datetime, until: datetime | None = None
    ) -> None:
        """Right after the receipt: online applicants pay online, most others at the desk (a payment
        after `until` has not happened yet)."""
        if self._due(code)[0] <= 0:
            return
        if channel == "online":
            # Paid from the receipt's screen: before the first step is done (events stay in order).
            at = now + timedelta(minutes=self.rng.randint(1, 4))
            if until is None or at + timedelta(minutes=10) <= until:
                self._pay_online(code, phone, at)
        elif channel == "in_person" and (len(self.deferred) < 2 or self.rng.random() < P_PAY_AT_RETURN):
            self.deferred.add(code)  # pays when collecting the result
        elif until is None or now + timedelta(minutes=1) <= until:
            self._pay_at_desk(code, desk_id, now + timedelta(minutes=1))

    def summary(self, codes: list[str]) -> str:
        """One line: how the fees of these dossiers stand."""
        counts: dict[str, int] = {}
        with self.ctx.uow() as uow:
            for dossier in uow.session.scalars(select(Dossier).where(Dossier.code.in_(codes))):
                state = fee_state(uow.session, dossier)
                if not state.lines or not state.due:
                    continue
                paid = [p.method for p in state.payments if p.status == "paid"]
                key = "waived" if state.waiver is not None else paid[0] if paid else "due"
                counts[key] = counts.get(key, 0) + 1
        shown = ("cash", "transfer", "online", "waived", "due")
        return "  fees: " + ", ".join(f"{key} {counts.get(key, 0)}" for key in shown)

    def before_handover(self, code: str, desk_id: int, now: datetime) -> bool:
        """Settle the fee before the result is handed over; False when the citizen has not paid yet
        and the dossier waits at the hand-over."""
        with self.ctx.uow() as uow:
            dossier = uow.session.scalars(select(Dossier).where(Dossier.code == code)).one()
            if dossier.refusal_reason:
                return True  # a refusal is handed over whatever was paid
            outstanding, agency_id = fee_state(uow.session, dossier).outstanding, dossier.agency_id
        if outstanding <= 0:
            return True
        if not self.waived and self.officers.get((agency_id, "leader")):
            leader = self.officers[(agency_id, "leader")][0]
            waive_fee(self.ctx, code, leader, reason=WAIVER_REASON, now=now)
            self.waived.append(code)
            return True
        if not self.unpaid:
            self.unpaid.append(code)
            return False
        self._pay_at_desk(code, desk_id, now)
        return True
