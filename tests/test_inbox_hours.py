"""The working hours left of many due times at once (`WorkingCalendar.working_hours_left`), as the
inbox computes them for a page: the same values as one `remaining_hours` per row."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from config.settings import Settings
from engine.calendar import WorkingCalendar
from engine.runtime.inbox import remaining_hours

CALENDAR = WorkingCalendar.from_settings(Settings())
TZ = ZoneInfo("Asia/Ho_Chi_Minh")

moments = st.datetimes(
    min_value=datetime(2025, 12, 20), max_value=datetime(2027, 1, 10), timezones=st.just(TZ)
)


def _same(a: float | None, b: float | None) -> bool:
    # Equal values, and the same sign of zero (the badge's text reads the sign).
    return a == b and (a is None or b is None or math.copysign(1, a) == math.copysign(1, b))


@settings(max_examples=200, deadline=None)
@given(now=moments, dues=st.lists(st.one_of(st.none(), moments), max_size=12))
def test_working_hours_left_matches_remaining_hours_row_by_row(
    now: datetime, dues: list[datetime | None]
) -> None:
    left = CALENDAR.working_hours_left(dues, now)
    expected = [remaining_hours(CALENDAR, due, now) for due in dues]
    assert len(left) == len(dues)
    assert all(_same(a, b) for a, b in zip(left, expected, strict=True)), (left, expected)


def test_working_hours_left_edges() -> None:
    # Wednesday 2 December 2026, 09:00 in the office's zone (open 07:30-11:30 and 13:00-17:00).
    now = datetime(2026, 12, 2, 9, 0, tzinfo=TZ)
    dues = [
        None,
        now,  # due now: nothing left
        now.astimezone(UTC),  # the same moment in another zone
        now + timedelta(hours=1),  # the same morning
        now - timedelta(hours=1),  # an hour ago
        now - timedelta(hours=2),  # two hours ago, half an hour of it before opening
        datetime(2026, 12, 5, 12, 0, tzinfo=TZ),  # a Saturday
        datetime(2026, 11, 29, 12, 0, tzinfo=TZ),  # a Sunday before
        datetime(2026, 12, 9, 16, 0, tzinfo=TZ),  # a week on
    ]
    left = CALENDAR.working_hours_left(dues, now)
    assert left[:6] == [None, 0.0, 0.0, 1.0, -1.0, -1.5]
    # The rest of Wednesday (6.5 hours), Thursday and Friday.
    assert left[6] == 6.5 + 2 * 8 == CALENDAR.working_hours_between(now, dues[6])
    # Since Sunday: Monday, Tuesday and Wednesday's 1.5 hours.
    assert left[7] == -(2 * 8 + 1.5) == -CALENDAR.working_hours_between(dues[7], now)
    # The rest of Wednesday, Thursday, Friday, Monday, Tuesday, and Wednesday 9 December until 16:00.
    assert left[8] == 6.5 + 4 * 8 + 7
    assert CALENDAR.working_hours_left([], now) == []
