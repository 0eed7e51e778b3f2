"""DongBoDanhGia: each month's satisfaction ratings, per receiving agency, sent once.

The payload's field names follow the connected systems' usage (month, year, the unit, counts of
satisfied and not satisfied ratings); confirm them against the adapter's specification.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import case, func, select

from engine.context import Context
from engine.integrations.dvcqg.messages import Mappings
from engine.integrations.dvcqg.outbox import queue
from engine.usecase import require_aware
from models import Agency, Dossier, PortalMessage, Rating

RATINGS = "DongBoDanhGia"


@dataclass(frozen=True)
class RatingsQueued:
    """The agencies whose month was queued, and those already sent or queued before."""

    month: str
    queued: list[str]
    already: list[str]


def previous_month(now: datetime, tz: object) -> date:
    """The first day of the month before `now`'s (in Vietnam)."""
    local = now.astimezone(tz)  # type: ignore[arg-type]
    first = local.date().replace(day=1)
    return (
        first.replace(year=first.year - 1, month=12)
        if first.month == 1
        else first.replace(month=first.month - 1)
    )


def queue_month_ratings(ctx: Context, month: date, now: datetime) -> RatingsQueued:
    """Queue one DongBoDanhGia per agency for the month's ratings; a month is queued once."""
    require_aware(now)
    tz = ctx.calendar.tz
    start = datetime(month.year, month.month, 1, tzinfo=tz)
    end = datetime(month.year + (month.month == 12), month.month % 12 + 1, 1, tzinfo=tz)
    label = f"{month.year:04d}-{month.month:02d}"
    queued, already = [], []
    with ctx.uow() as uow:
        session = uow.session
        mappings = Mappings(session)
        rows = session.execute(
            select(
                Agency.code,
                func.count(Rating.id),
                func.sum(case((Rating.satisfied.is_(True), 1), else_=0)),
            )
            .join(Dossier, Dossier.id == Rating.dossier_id)
            .join(Agency, Agency.id == Dossier.agency_id)
            .where(Rating.rated_at >= start, Rating.rated_at < end)
            .group_by(Agency.code)
            .order_by(Agency.code)
        ).all()
        for agency_code, total, satisfied in rows:
            stream = f"danhgia:{agency_code}:{label}"
            if session.scalar(select(func.count(PortalMessage.id)).where(PortalMessage.stream == stream)):
                already.append(agency_code)
                continue
            madonvi = mappings.get("agency", agency_code, ctx.settings.dvcqg_madonvi or agency_code)
            record = {
                "MaDonVi": madonvi,
                "Thang": f"{month.month:02d}",
                "Nam": f"{month.year:04d}",
                "TongSoDanhGia": str(int(total)),
                "HaiLong": str(int(satisfied or 0)),
                "KhongHaiLong": str(int(total) - int(satisfied or 0)),
            }
            queue(session, stream, RATINGS, {"madonvi": madonvi, "data": [record]}, now, None)
            queued.append(agency_code)
        uow.commit()
    return RatingsQueued(label, queued, already)
