"""The SQL conditions the indicators count fees and online payments with (QĐ 766, online group)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, exists, false, select
from sqlalchemy.orm import Session

from engine.catalogue.fees import total_due
from models import Dossier, Payment, Procedure
from models.vocabulary import PaymentMethod, PaymentStatus


def fee_due_sql(session: Session) -> ColumnElement[bool]:
    """SQL: the dossier's procedure has a fee to pay (the catalogue is small: read once per report)."""
    ids = [pid for pid, fees in session.execute(select(Procedure.id, Procedure.fees)) if total_due(fees) > 0]
    return Dossier.procedure_id.in_(ids) if ids else false()


def paid_online_sql(moment: datetime) -> ColumnElement[bool]:
    """SQL: the dossier has a payment made online and settled by the moment."""
    return exists(
        select(Payment.id).where(
            Payment.dossier_id == Dossier.id,
            Payment.method == PaymentMethod.ONLINE,
            Payment.status == PaymentStatus.PAID,
            Payment.paid_at <= moment,
        )
    )
