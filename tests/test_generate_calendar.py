"""The generator's integer working-time arithmetic gives exactly what the working calendar gives."""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta

from bench.generate import WorkingTime
from engine.calendar import WorkingCalendar


def _moments(calendar: WorkingCalendar, rng: random.Random) -> list[datetime]:
    """Random moments, and the edges: openings, closes, the lunch break, the cut-off, weekends, Tết."""
    tz = calendar.tz
    found = []
    for day in (
        datetime(2025, 1, 24, tzinfo=tz),
        datetime(2026, 2, 13, tzinfo=tz),
        datetime(2024, 4, 26, tzinfo=tz),
    ):
        for n in range(12):
            for clock in (
                time(0),
                time(7, 30),
                time(11, 30),
                time(12, 0),
                time(13, 0),
                time(15, 0),
                time(17, 0),
            ):
                found.append(datetime.combine((day + timedelta(days=n)).date(), clock, tz))
    for _ in range(3000):
        start = datetime(2024, 1, 1, tzinfo=tz) + timedelta(seconds=rng.randrange(3 * 365 * 86400))
        found.append(start.replace(microsecond=rng.choice((0, 0, rng.randrange(10**6)))))
    return found


def test_working_time_equals_the_calendar() -> None:
    calendar = WorkingCalendar()
    fast = WorkingTime(calendar)
    assert fast.fast  # the integer path, not the calendar's own
    rng = random.Random(11)
    moments = _moments(calendar, rng)
    amounts = [0, 0.05, 0.25, 1, 3.5, 4, 4.5, 8, 16, 24, 40, 80, 200.75]
    for start in moments:
        assert fast.counting_start(start) == calendar.counting_start(start), start
        for amount in (*amounts, rng.uniform(0, 90)):
            added = fast.add_working_hours(start, amount)
            assert added == calendar.add_working_hours(start, amount), (start, amount)
            assert added.isoformat() == calendar.add_working_hours(start, amount).isoformat()
            assert fast.subtract_working_hours(start, amount) == calendar.subtract_working_hours(
                start, amount
            )
        for days in (0, 1, 2.5, 5, 15):
            assert fast.due_time(start, days=days) == calendar.due_time(start, days=days), (start, days)
        assert fast.due_time(start, hours=6) == calendar.due_time(start, hours=6)
        other = rng.choice(moments)
        assert fast.working_hours_between(start, other) == calendar.working_hours_between(start, other)
        later = calendar.add_working_hours(start, rng.uniform(0, 30))
        assert fast.working_hours_between(start, later) == calendar.working_hours_between(start, later)


def test_working_time_leaves_what_it_does_not_cover_to_the_calendar() -> None:
    calendar = WorkingCalendar(due_convention="days")
    fast = WorkingTime(calendar)
    start = datetime(2026, 3, 2, 9, 0, tzinfo=calendar.tz)
    assert fast.due_time(start, days=3) == calendar.due_time(start, days=3)
    # Outside the table's years.
    plain = WorkingTime(WorkingCalendar(), first=2025, last=2026)
    early = datetime(2024, 12, 31, 16, 0, tzinfo=calendar.tz)
    assert plain.add_working_hours(early, 30) == calendar.add_working_hours(early, 30)
    late = datetime(2026, 12, 31, 16, 0, tzinfo=calendar.tz)
    assert plain.add_working_hours(late, 30) == calendar.add_working_hours(late, 30)
    assert plain.working_hours_between(early, late) == calendar.working_hours_between(early, late)
