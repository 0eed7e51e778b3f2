"""What "overdue", "due soon" and "late" mean, once, in Python and in SQL.

- **Overdue** (quá hạn): the due time has been reached, `due_at <= now`. At the due time itself
  the time allowed is used up: the watcher alerts at that moment, and the inbox, the apology
  lists, the dashboard, the health gauges and the reports count the open step or dossier as
  overdue from that moment on.
- **Late** (trễ hạn), for a result: ready after the due time, `finished > due_at`; a result ready
  at the due time to the minute is on time (the law's "by the due time"; legal scenario
  10-happy-path). A running dossier's lateness (`late_at`) is recorded once its legal due time has
  passed in that sense, so a result ready at that very moment is never judged late.
- **Due soon** (sắp đến hạn): not overdue, and due within `warning_hours` working hours of now
  (the setting, 4 by default): `now < due_at <= now + warning_hours` by the working-time
  calendar. The watcher warns when a step enters that window; the inbox colours and counts it.
- Anything else with a due time is in time (`ok`); a step without one waits for the applicant
  with the clock stopped (`paused`).

Lateness of a dossier is judged against its legal due time (`Dossier.due_at`), never against the
appointment (`Dossier.appointment_at`) an apology letter moved; the appointment is judged by the
same rule only to find dossiers late again after it. `Dossier.is_late_at` applies the overdue rule
in the model layer, which cannot import this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, SQLColumnExpression, and_, or_

from engine.calendar import WorkingCalendar
from engine.context import Context
from models.vocabulary import Urgency


def is_overdue(due_at: datetime | None, now: datetime) -> bool:
    """Whether the due time has been reached at `now` (no due time: never overdue)."""
    return due_at is not None and due_at <= now


def overdue_sql(column: SQLColumnExpression[datetime | None], now: datetime) -> ColumnElement[bool]:
    """The SQL form of `is_overdue` for a due-time column (NULL is not overdue)."""
    return column <= now


def overdue_since_sql(
    column: SQLColumnExpression[datetime | None], low: datetime | None, now: datetime
) -> list[ColumnElement[bool]]:
    """Overdue at `now` but not yet at `low` (every overdue row when `low` is None): an index range."""
    conditions = [overdue_sql(column, now)]
    if low is not None:
        conditions.append(~overdue_sql(column, low))
    return conditions


def is_late(due_at: datetime | None, finished: datetime) -> bool:
    """Whether a result ready at `finished` is late: after the due time (at it is still on time)."""
    return due_at is not None and finished > due_at


def late_since_sql(
    column: SQLColumnExpression[datetime | None], low: datetime | None, now: datetime
) -> list[ColumnElement[bool]]:
    """SQL: a result ready at `now` would be late, one ready at `low` would not (`is_late` as a range)."""
    conditions = [column < now]
    if low is not None:
        conditions.append(column >= low)
    return conditions


@dataclass(frozen=True)
class DueWindow:
    """The moment `now` and the end of its due-soon window, computed once per request or tick."""

    now: datetime
    soon_end: datetime

    def is_overdue(self, due_at: datetime | None) -> bool:
        """Whether the due time has been reached."""
        return is_overdue(due_at, self.now)

    def is_due_soon(self, due_at: datetime | None) -> bool:
        """Whether not overdue yet, but due by the end of the window."""
        return due_at is not None and self.now < due_at <= self.soon_end

    def urgency(self, due_at: datetime | None) -> Urgency:
        """Overdue, due soon, in time, or paused (no due time: the clock is stopped)."""
        if due_at is None:
            return Urgency.PAUSED
        if self.is_overdue(due_at):
            return Urgency.OVERDUE
        return Urgency.SOON if self.is_due_soon(due_at) else Urgency.OK

    def overdue_sql(self, column: SQLColumnExpression[datetime | None]) -> ColumnElement[bool]:
        """SQL: the due time has been reached."""
        return overdue_sql(column, self.now)

    def due_soon_sql(self, column: SQLColumnExpression[datetime | None]) -> ColumnElement[bool]:
        """SQL: not overdue yet, but due by the end of the window."""
        return and_(~overdue_sql(column, self.now), column <= self.soon_end)

    def in_time_sql(self, column: SQLColumnExpression[datetime | None]) -> ColumnElement[bool]:
        """SQL: due after the window, or paused (no due time)."""
        return or_(column > self.soon_end, column.is_(None))

    def urgency_sql(self, column: SQLColumnExpression[datetime | None], urgency: str) -> ColumnElement[bool]:
        """SQL for one urgency filter of the inbox ("ok" includes the paused steps)."""
        return {
            Urgency.OVERDUE: self.overdue_sql,
            Urgency.SOON: self.due_soon_sql,
            Urgency.OK: self.in_time_sql,
        }[Urgency(urgency)](column)


def due_window(calendar: WorkingCalendar, now: datetime, warning_hours: float) -> DueWindow:
    """The due-soon window from `now`: `warning_hours` working hours (empty when not positive)."""
    soon_end = calendar.add_working_hours(now, warning_hours) if warning_hours > 0 else now
    return DueWindow(now, soon_end)


def window_of(ctx: Context, now: datetime) -> DueWindow:
    """The due-soon window of the settings (`warning_hours`) at `now`."""
    return due_window(ctx.calendar, now, ctx.settings.warning_hours)


__all__ = [
    "DueWindow",
    "due_window",
    "is_late",
    "is_overdue",
    "late_since_sql",
    "overdue_since_sql",
    "overdue_sql",
    "window_of",
]
