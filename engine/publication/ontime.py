"""A procedure's on-time rate over the last 12 months, from the same numbers as Biểu 06.

The rate is (resolved early + resolved on time) / resolved, the dossiers of the procedure resolved in
the 12 months up to today, judged as `engine.statistics.reports.ReportFrame` judges them for Biểu 06.
It is computed at most once per procedure per local day and per database in each process: the public
page never runs the aggregate on every view.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from engine.statistics.periods import period_of_days
from engine.statistics.reports import ON_TIME_CLASSES, RESOLVED_CLASSES, ReportFrame
from models import Dossier


@dataclass(frozen=True)
class OnTimeRate:
    """The procedure's resolved dossiers of the window and how many were early or on time."""

    first_day: date
    last_day: date
    resolved: int
    on_time: int

    @property
    def rate(self) -> float | None:
        """On time / resolved; None without resolved dossiers."""
        return self.on_time / self.resolved if self.resolved else None

    @property
    def percent(self) -> str:
        """The rate as Vietnamese writes it: '95,2%'."""
        if self.rate is None:
            return "Chưa có hồ sơ đã giải quyết"
        return f"{100 * self.rate:.1f}".replace(".", ",") + "%"


def twelve_months(today: date) -> tuple[date, date]:
    """The first and last day of the 12 months that end today."""
    try:
        first = today.replace(year=today.year - 1) + timedelta(days=1)
    except ValueError:  # 29 February
        first = date(today.year - 1, 3, 1)
    return first, today


def compute_on_time(session: Session, procedure_id: int, now: datetime, tz: ZoneInfo) -> OnTimeRate:
    """The rate as of `now`, with one GROUP BY over the procedure's dossiers of the window."""
    first, last = twelve_months(now.astimezone(tz).date())
    frame = ReportFrame(period_of_days(first, last, tz), now)
    inner = (
        select(frame.klass.label("klass"))
        .select_from(frame.source)
        .where(frame.scope(None), Dossier.procedure_id == procedure_id)
        .subquery()
    )
    counts: dict[str, int] = {
        str(klass): int(n)
        for klass, n in session.execute(select(inner.c.klass, func.count()).group_by(inner.c.klass))
    }
    resolved = sum(counts.get(k, 0) for k in RESOLVED_CLASSES)
    on_time = sum(counts.get(k, 0) for k in ON_TIME_CLASSES)
    return OnTimeRate(first, last, resolved, on_time)


class DailyRates:
    """Rates by (procedure, local day), one table per database; yesterday's rows are dropped."""

    def __init__(self) -> None:
        self._by_db: weakref.WeakKeyDictionary[Engine, dict[tuple[int, date], OnTimeRate]] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    def get(self, session: Session, procedure_id: int, now: datetime, tz: ZoneInfo) -> OnTimeRate:
        """The cached rate of today, computed on the first request of the day."""
        bind = session.get_bind()
        engine = bind if isinstance(bind, Engine) else bind.engine
        today = now.astimezone(tz).date()
        key = (procedure_id, today)
        with self._lock:
            table = self._by_db.setdefault(engine, {})
            found = table.get(key)
        if found is not None:
            return found
        rate = compute_on_time(session, procedure_id, now, tz)
        with self._lock:
            for old in [k for k in table if k[1] != today]:
                del table[old]
            table[key] = rate
        return rate

    def clear(self) -> None:
        """Forget every cached rate."""
        with self._lock:
            self._by_db.clear()


DAILY_RATES = DailyRates()
