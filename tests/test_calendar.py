"""Tests of the working-time calendar: holidays, office hours, cut-off and due times."""

from __future__ import annotations

import time as clock
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config.settings import Settings
from engine.calendar import NaiveDatetimeError, WorkingCalendar, load_calendar_overrides

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
PERIODS = ((time(7, 30), time(11, 30)), (time(13, 0), time(17, 0)))
# Oracle built straight from the package, independent of the calendar's own per-year index.
VN_HOLIDAYS = holidays.country_holidays("VN", years=range(2024, 2031))


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TZ)


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar.from_settings(Settings())


@pytest.fixture(scope="module")
def days_cal() -> WorkingCalendar:
    return WorkingCalendar.from_settings(Settings().with_overrides(due_convention="days"))


# ----- a slow but obviously correct oracle ---------------------------------------------------


def oracle_add(start: datetime, hours: float) -> datetime:
    """Walk office periods one by one (hours > 0)."""
    remaining = timedelta(seconds=round(hours * 3600))
    local = start.astimezone(TZ)
    day = local.date()
    while True:
        if VN_HOLIDAYS.is_working_day(day):
            for s, e in PERIODS:
                begin = max(datetime.combine(day, s, TZ), local)
                end = datetime.combine(day, e, TZ)
                if begin >= end:
                    continue
                if remaining <= end - begin:
                    return begin + remaining
                remaining -= end - begin
        day += timedelta(days=1)


def oracle_between(a: datetime, b: datetime) -> timedelta:
    total = timedelta()
    day = a.astimezone(TZ).date()
    while day <= b.astimezone(TZ).date():
        if VN_HOLIDAYS.is_working_day(day):
            for s, e in PERIODS:
                lo = max(datetime.combine(day, s, TZ), a)
                hi = min(datetime.combine(day, e, TZ), b)
                total += max(timedelta(), hi - lo)
        day += timedelta(days=1)
    return total


# ----- strategies ----------------------------------------------------------------------------

moments = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(TZ)
).map(lambda d: d.replace(second=0, microsecond=0))
positive_hours = st.integers(min_value=1, max_value=800).map(lambda q: q / 4)
any_hours = st.integers(min_value=0, max_value=800).map(lambda q: q / 4)
PROPERTY = settings(max_examples=200, deadline=None)


# ----- properties ----------------------------------------------------------------------------


@PROPERTY
@given(start=moments, hours=positive_hours)
def test_add_working_hours_matches_period_by_period_oracle(
    cal: WorkingCalendar, start: datetime, hours: float
) -> None:
    assert cal.add_working_hours(start, hours) == oracle_add(start, hours)


@PROPERTY
@given(a=moments, b=moments)
def test_working_seconds_between_matches_oracle(cal: WorkingCalendar, a: datetime, b: datetime) -> None:
    a, b = min(a, b), max(a, b)
    assert cal.working_seconds_between(a, b) == int(oracle_between(a, b).total_seconds())


@PROPERTY
@given(start=moments, hours=any_hours, more=positive_hours)
def test_more_hours_are_never_earlier(
    cal: WorkingCalendar, start: datetime, hours: float, more: float
) -> None:
    assert cal.add_working_hours(start, hours + more) >= cal.add_working_hours(start, hours)


@PROPERTY
@given(t1=moments, t2=moments, hours=any_hours)
def test_later_start_is_never_earlier(cal: WorkingCalendar, t1: datetime, t2: datetime, hours: float) -> None:
    t1, t2 = min(t1, t2), max(t1, t2)
    assert cal.add_working_hours(t1, hours) <= cal.add_working_hours(t2, hours)


@PROPERTY
@given(start=moments, a=positive_hours, b=any_hours)
def test_adding_in_two_steps_equals_adding_the_sum(
    cal: WorkingCalendar, start: datetime, a: float, b: float
) -> None:
    # a > 0: adding 0 from a non-working moment returns that moment, so a == 0 would not compose.
    assert cal.add_working_hours(cal.add_working_hours(start, a), b) == cal.add_working_hours(start, a + b)


@PROPERTY
@given(start=moments, hours=positive_hours)
def test_result_is_inside_office_time_or_at_a_period_end(
    cal: WorkingCalendar, start: datetime, hours: float
) -> None:
    result = cal.add_working_hours(start, hours)
    local = result.astimezone(TZ)
    assert VN_HOLIDAYS.is_working_day(local.date())
    # Strictly after a period start: a positive amount was consumed inside that period.
    assert any(s < local.time() <= e for s, e in PERIODS)


@PROPERTY
@given(start=moments, hours=positive_hours)
def test_hours_between_start_and_added_result_round_trip(
    cal: WorkingCalendar, start: datetime, hours: float
) -> None:
    start = cal.next_open(start)
    assert cal.is_working_time(start)
    assert cal.working_hours_between(start, cal.add_working_hours(start, hours)) == hours


@PROPERTY
@given(a=moments, b=moments, c=moments)
def test_hours_between_is_additive_over_a_split_point(
    cal: WorkingCalendar, a: datetime, b: datetime, c: datetime
) -> None:
    a, b, c = sorted((a, b, c))
    whole = cal.working_seconds_between(a, c)
    assert whole == cal.working_seconds_between(a, b) + cal.working_seconds_between(b, c)


@PROPERTY
@given(received=moments)
def test_counting_start_is_working_time_and_not_before_receipt(
    cal: WorkingCalendar, received: datetime
) -> None:
    start = cal.counting_start(received)
    assert cal.is_working_time(start)
    assert start >= received


# ----- the examples of the specification -----------------------------------------------------


def test_friday_before_tet_2026_with_three_days_is_due_wednesday_10_00(cal: WorkingCalendar) -> None:
    # Fri 5.5 h, Tết 16-20/2, Mon 23 and Tue 24 16 h, Wed 25 the last 2.5 h.
    assert cal.due_time(at(2026, 2, 13, 10), days=3) == at(2026, 2, 25, 10)


def test_same_day_procedure_received_after_cutoff_is_due_next_working_day_close(
    cal: WorkingCalendar,
) -> None:
    assert cal.due_time(at(2026, 4, 28, 15, 30), days=0) == at(2026, 4, 29, 17)
    assert cal.due_time(at(2026, 4, 28, 15, 30), hours=0) == at(2026, 4, 29, 17)


def test_same_day_procedure_received_in_the_morning_is_due_at_close(cal: WorkingCalendar) -> None:
    assert cal.due_time(at(2026, 4, 28, 9), days=0) == at(2026, 4, 28, 17)


# ----- holidays ------------------------------------------------------------------------------


def test_tet_2026_is_skipped(cal: WorkingCalendar) -> None:
    closed = [date(2026, 2, d) for d in range(16, 21)]
    assert not any(cal.is_working_day(d) for d in closed)
    assert cal.is_working_day(date(2026, 2, 13))
    assert cal.is_working_day(date(2026, 2, 23))
    # Fri 16:30 + 1 h: 30 min on Friday, 30 min on Monday 23/2.
    assert cal.add_working_hours(at(2026, 2, 13, 16, 30), 1) == at(2026, 2, 23, 8)


def test_tet_2027_is_skipped(cal: WorkingCalendar) -> None:
    # The package closes Thu 4/2 ("29 of Lunar New Year") through Wed 10/2/2027.
    for d in (4, 5, 8, 9, 10):
        assert not cal.is_working_day(date(2027, 2, d)), d
    assert cal.is_working_day(date(2027, 2, 3))
    assert cal.is_working_day(date(2027, 2, 11))
    # Wed 3/2 09:00, 1 day = 8 h: 6.5 h on Wednesday, the last 1.5 h on Thu 11/2.
    assert cal.due_time(at(2027, 2, 3, 9), days=1) == at(2027, 2, 11, 9)


def test_reunification_and_labour_day_2026_are_skipped(cal: WorkingCalendar) -> None:
    assert not cal.is_working_day(date(2026, 4, 30))  # Thursday
    assert not cal.is_working_day(date(2026, 5, 1))  # Friday
    # Wed 29/4 16:00 + 2 h: 1 h on Wednesday, 1 h on Mon 4/5.
    assert cal.add_working_hours(at(2026, 4, 29, 16), 2) == at(2026, 5, 4, 8, 30)


def test_national_day_2026_closes_1_and_2_september(cal: WorkingCalendar) -> None:
    assert not cal.is_working_day(date(2026, 9, 1))
    assert not cal.is_working_day(date(2026, 9, 2))
    assert cal.is_working_day(date(2026, 9, 3))
    # Fri 28/8 16:00 + 2 h: Mon 31/8 (swapped), Tue 1 and Wed 2/9 are closed.
    assert cal.add_working_hours(at(2026, 8, 28, 16), 2) == at(2026, 9, 3, 8, 30)


def test_holidays_package_lists_make_up_saturday_2026_08_22(cal: WorkingCalendar) -> None:
    vn = holidays.country_holidays("VN", years=2026)
    assert date(2026, 8, 22) in vn.weekend_workdays
    assert "08/22/2026" in vn[date(2026, 8, 31)]


def test_make_up_saturday_2026_08_22_is_working_time(cal: WorkingCalendar) -> None:
    assert cal.is_working_time(at(2026, 8, 22, 9))
    assert not cal.is_working_time(at(2026, 8, 22, 12))  # still has a lunch break
    assert not cal.is_working_time(at(2026, 8, 29, 9))  # an ordinary Saturday


def test_monday_2026_08_31_swapped_for_the_saturday_is_not_working(cal: WorkingCalendar) -> None:
    assert not cal.is_working_day(date(2026, 8, 31))
    assert not cal.is_working_time(at(2026, 8, 31, 9))


def test_due_time_crossing_2026_08_22_counts_the_saturday(cal: WorkingCalendar) -> None:
    # Fri 21/8 09:00, 16 h: 6.5 h Friday, 8 h Saturday, 1.5 h Monday 24/8 (else Tuesday 25/8).
    assert cal.due_time(at(2026, 8, 21, 9), days=2) == at(2026, 8, 24, 9)


def test_hung_kings_2026_observed_monday_is_not_working(cal: WorkingCalendar) -> None:
    assert not cal.is_working_day(date(2026, 4, 27))
    assert cal.is_working_day(date(2026, 4, 28))
    assert cal.next_open(at(2026, 4, 27, 9)) == at(2026, 4, 28, 7, 30)


def test_vietnam_cultural_day_2026_11_24_is_not_working(cal: WorkingCalendar) -> None:
    assert not cal.is_working_day(date(2026, 11, 24))


def test_250_working_days_land_on_the_close_of_the_250th_working_day(cal: WorkingCalendar) -> None:
    day, count = date(2026, 1, 5), 0
    while True:
        count += VN_HOLIDAYS.is_working_day(day)
        if count == 250:
            break
        day += timedelta(days=1)
    assert day == date(2027, 1, 5)
    assert cal.add_working_hours(at(2026, 1, 5, 7, 30), 2000) == datetime.combine(day, time(17), TZ)


# ----- office hours, lunch, cut-off ----------------------------------------------------------


def test_landing_on_a_period_end_returns_that_end(cal: WorkingCalendar) -> None:
    assert cal.add_working_hours(at(2026, 3, 3, 7, 30), 4) == at(2026, 3, 3, 11, 30)
    assert cal.add_working_hours(at(2026, 3, 3, 7, 30), 8) == at(2026, 3, 3, 17)
    assert cal.add_working_hours(at(2026, 3, 3, 7, 30), 4.25) == at(2026, 3, 3, 13, 15)


def test_adding_zero_returns_start_even_outside_office_time(cal: WorkingCalendar) -> None:
    sunday = at(2026, 3, 8, 10)
    assert cal.add_working_hours(sunday, 0) == sunday
    utc_moment = datetime(2026, 3, 8, 3, tzinfo=UTC)
    result = cal.add_working_hours(utc_moment, 0)
    assert result == utc_moment
    assert result.utcoffset() == timedelta(hours=7)


def test_adding_from_a_non_working_moment_starts_at_next_opening(cal: WorkingCalendar) -> None:
    assert cal.add_working_hours(at(2026, 3, 3, 12), 0.5) == at(2026, 3, 3, 13, 30)
    assert cal.add_working_hours(at(2026, 3, 7, 10), 1) == at(2026, 3, 9, 8, 30)


def test_fractional_hours_are_exact(cal: WorkingCalendar) -> None:
    assert cal.add_working_hours(at(2026, 3, 3, 7, 30), 0.1) == at(2026, 3, 3, 7, 36)
    assert cal.add_working_hours(at(2026, 3, 3, 7, 30), 2.25) == at(2026, 3, 3, 9, 45)


def test_results_are_in_the_calendar_timezone(cal: WorkingCalendar) -> None:
    # 01:00 UTC is 08:00 in Hà Nội.
    result = cal.add_working_hours(datetime(2026, 3, 3, 1, tzinfo=UTC), 1)
    assert result == at(2026, 3, 3, 9)
    assert result.tzinfo == TZ


def test_dossier_received_at_lunch_counts_from_13_00(cal: WorkingCalendar) -> None:
    assert cal.counting_start(at(2026, 3, 3, 12)) == at(2026, 3, 3, 13)


def test_dossier_received_before_opening_counts_from_opening(cal: WorkingCalendar) -> None:
    assert cal.counting_start(at(2026, 3, 3, 6, 45)) == at(2026, 3, 3, 7, 30)


def test_dossier_received_on_sunday_counts_from_monday_opening(cal: WorkingCalendar) -> None:
    assert cal.counting_start(at(2026, 3, 8, 10)) == at(2026, 3, 9, 7, 30)


def test_dossier_received_at_cutoff_counts_from_next_working_day(cal: WorkingCalendar) -> None:
    assert cal.counting_start(at(2026, 3, 3, 14, 59)) == at(2026, 3, 3, 14, 59)
    assert cal.counting_start(at(2026, 3, 3, 15)) == at(2026, 3, 4, 7, 30)
    # Friday after the cut-off: the next working day is Monday.
    assert cal.counting_start(at(2026, 3, 6, 16)) == at(2026, 3, 9, 7, 30)


def test_next_open_returns_working_moment_itself(cal: WorkingCalendar) -> None:
    assert cal.next_open(at(2026, 3, 3, 10)) == at(2026, 3, 3, 10)
    assert cal.next_open(at(2026, 3, 3, 11, 30)) == at(2026, 3, 3, 13)
    assert cal.next_open(at(2026, 3, 3, 17)) == at(2026, 3, 4, 7, 30)


def test_period_bounds_are_start_inclusive_end_exclusive(cal: WorkingCalendar) -> None:
    assert cal.is_working_time(at(2026, 3, 3, 7, 30))
    assert not cal.is_working_time(at(2026, 3, 3, 11, 30))
    assert cal.is_working_time(at(2026, 3, 3, 13))
    assert not cal.is_working_time(at(2026, 3, 3, 17))


def test_end_of_working_day_of_a_holiday_is_next_working_day_close(cal: WorkingCalendar) -> None:
    assert cal.end_of_working_day(at(2026, 3, 3, 9)) == at(2026, 3, 3, 17)
    assert cal.end_of_working_day(at(2026, 4, 30, 9)) == at(2026, 5, 4, 17)


def test_hours_argument_is_used_as_is(cal: WorkingCalendar) -> None:
    # Tue 10:00 + 12 h: 5.5 h Tuesday, 6.5 h Wednesday -> Wed 15:30.
    assert cal.due_time(at(2026, 3, 3, 10), hours=12) == at(2026, 3, 4, 15, 30)
    assert cal.due_time(at(2026, 3, 3, 10), days=1.5) == at(2026, 3, 4, 15, 30)


# ----- the "days" convention -----------------------------------------------------------------


def test_days_convention_is_due_at_close_of_nth_working_day(days_cal: WorkingCalendar) -> None:
    assert days_cal.due_time(at(2026, 3, 3, 10), days=3) == at(2026, 3, 6, 17)


def test_days_convention_after_cutoff_shifts_one_day(days_cal: WorkingCalendar) -> None:
    # Counting starts Wed 4/3, so the third working day after it is Mon 9/3.
    assert days_cal.due_time(at(2026, 3, 3, 15, 30), days=3) == at(2026, 3, 9, 17)


def test_days_convention_rounds_fractional_days_up(days_cal: WorkingCalendar) -> None:
    assert days_cal.due_time(at(2026, 3, 3, 10), days=2.5) == at(2026, 3, 6, 17)
    assert days_cal.due_time(at(2026, 3, 3, 10), days=0) == at(2026, 3, 3, 17)


def test_days_convention_skips_holidays(days_cal: WorkingCalendar) -> None:
    # Base Fri 13/2/2026; working days after it: Mon 23, Tue 24, Wed 25.
    assert days_cal.due_time(at(2026, 2, 13, 10), days=3) == at(2026, 2, 25, 17)


def test_days_convention_with_hours_uses_the_hours_rule(days_cal: WorkingCalendar) -> None:
    assert days_cal.due_time(at(2026, 3, 3, 10), hours=12) == at(2026, 3, 4, 15, 30)


# ----- settings variants ---------------------------------------------------------------------


def test_other_office_hours_and_cutoff_from_settings() -> None:
    variant = Settings().with_overrides(
        office_hours=((time(8), time(12)), (time(13, 30), time(17, 30))), cutoff=time(16)
    )
    cal = WorkingCalendar.from_settings(variant)
    assert cal.counting_start(at(2026, 3, 3, 15, 30)) == at(2026, 3, 3, 15, 30)
    # Tue 10:00 + 8 h: 2 h + 4 h Tuesday, 2 h Wednesday -> 10:00.
    assert cal.due_time(at(2026, 3, 3, 10), days=1) == at(2026, 3, 4, 10)


def test_hours_per_day_from_settings() -> None:
    cal = WorkingCalendar.from_settings(Settings().with_overrides(hours_per_day=4))
    assert cal.due_time(at(2026, 3, 3, 7, 30), days=1) == at(2026, 3, 3, 11, 30)


# ----- overrides file ------------------------------------------------------------------------


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "calendar.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_extra_day_off_from_toml_delays_the_due_time(cal: WorkingCalendar, tmp_path: Path) -> None:
    path = write_toml(tmp_path, 'days_off = ["2026-03-04"]\nworking_days = []\n')
    local = WorkingCalendar.from_settings(Settings().with_overrides(calendar_file=str(path)))
    # Tue 10:00 + 8 h: normally Wed 10:00; with Wednesday off, Thursday 10:00.
    assert cal.due_time(at(2026, 3, 3, 10), days=1) == at(2026, 3, 4, 10)
    assert local.due_time(at(2026, 3, 3, 10), days=1) == at(2026, 3, 5, 10)


def test_extra_working_day_from_toml_brings_the_due_time_forward(
    cal: WorkingCalendar, tmp_path: Path
) -> None:
    path = write_toml(tmp_path, 'working_days = ["2026-03-07"]\n')
    local = WorkingCalendar.from_settings(Settings().with_overrides(calendar_file=str(path)))
    # Fri 10:00 + 8 h: normally Mon 9/3 10:00; with Saturday worked, Sat 7/3 10:00.
    assert cal.due_time(at(2026, 3, 6, 10), days=1) == at(2026, 3, 9, 10)
    assert local.due_time(at(2026, 3, 6, 10), days=1) == at(2026, 3, 7, 10)


def test_explicit_constructor_takes_extra_days() -> None:
    cal = WorkingCalendar(extra_days_off={date(2026, 3, 4)}, extra_working_days={date(2026, 2, 16)})
    assert not cal.is_working_day(date(2026, 3, 4))
    assert cal.is_working_day(date(2026, 2, 16))  # a Tết day worked by decision


def test_toml_accepts_native_dates(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "days_off = [2026-03-04]\n")
    assert load_calendar_overrides(path) == ({date(2026, 3, 4)}, set())


def test_missing_overrides_file_means_no_overrides(tmp_path: Path) -> None:
    assert load_calendar_overrides(tmp_path / "absent.toml") == (set(), set())


def test_shipped_overrides_file_is_valid() -> None:
    assert load_calendar_overrides(Settings().calendar_file) == (set(), set())


def test_bad_date_in_overrides_names_file_and_value(tmp_path: Path) -> None:
    path = write_toml(tmp_path, 'days_off = ["2026-02-30"]\n')
    with pytest.raises(ValueError, match="2026-02-30") as info:
        load_calendar_overrides(path)
    assert str(path) in str(info.value)


def test_unknown_key_in_overrides_is_rejected(tmp_path: Path) -> None:
    path = write_toml(tmp_path, 'day_off = ["2026-03-04"]\n')
    with pytest.raises(ValueError, match="day_off"):
        load_calendar_overrides(path)


# ----- errors and totals ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda c, n: c.is_working_time(n),
        lambda c, n: c.next_open(n),
        lambda c, n: c.add_working_hours(n, 1),
        lambda c, n: c.working_hours_between(n, n),
        lambda c, n: c.working_seconds_between(at(2026, 3, 3), n),
        lambda c, n: c.counting_start(n),
        lambda c, n: c.due_time(n, days=1),
        lambda c, n: c.end_of_working_day(n),
    ],
)
def test_naive_datetimes_raise(
    cal: WorkingCalendar, call: Callable[[WorkingCalendar, datetime], object]
) -> None:
    with pytest.raises(NaiveDatetimeError, match="naive"):
        call(cal, datetime(2026, 3, 3, 10))


def test_naive_datetime_error_is_a_value_error() -> None:
    assert issubclass(NaiveDatetimeError, ValueError)


def test_negative_hours_raise(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="hours"):
        cal.add_working_hours(at(2026, 3, 3, 10), -1)
    with pytest.raises(ValueError, match="days"):
        cal.due_time(at(2026, 3, 3, 10), days=-1)


def test_due_time_needs_exactly_one_of_days_and_hours(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        cal.due_time(at(2026, 3, 3, 10))
    with pytest.raises(ValueError, match="exactly one"):
        cal.due_time(at(2026, 3, 3, 10), days=1, hours=8)


def test_full_working_week_is_40_hours(cal: WorkingCalendar) -> None:
    assert cal.working_hours_between(at(2026, 3, 2), at(2026, 3, 9)) == 40.0
    assert cal.working_seconds_between(at(2026, 3, 2), at(2026, 3, 9)) == 40 * 3600


def test_working_hours_between_reversed_or_empty_is_zero(cal: WorkingCalendar) -> None:
    assert cal.working_hours_between(at(2026, 3, 9), at(2026, 3, 2)) == 0.0
    assert cal.working_hours_between(at(2026, 3, 3, 10), at(2026, 3, 3, 10)) == 0.0


def test_working_hours_between_a_tet_week_counts_only_open_days(cal: WorkingCalendar) -> None:
    # Fri 13/2 (8 h) and Mon 23/2 (8 h) around Tết 2026.
    assert cal.working_hours_between(at(2026, 2, 13), at(2026, 2, 24)) == 16.0


def test_working_hours_between_over_three_years_is_fast(cal: WorkingCalendar) -> None:
    a, b = at(2025, 1, 1), at(2028, 1, 1)
    cal.working_hours_between(a, b)  # fill the per-year cache
    began = clock.perf_counter()
    for _ in range(100):
        cal.working_hours_between(a, b)
    assert (clock.perf_counter() - began) / 100 < 0.01


def test_subtracting_working_hours_walks_back_over_tet_and_lunch(cal: WorkingCalendar) -> None:
    # 21.5 working hours before Wednesday 25/2/2026 10:00, across Tết (16-20/2): Friday 13/2 14:00.
    assert cal.subtract_working_hours(at(2026, 2, 25, 10, 0), 21.5) == at(2026, 2, 13, 14, 0)
    # Landing on the start of the afternoon period gives that start, not the morning's close.
    assert cal.subtract_working_hours(at(2026, 12, 1, 14, 0), 1) == at(2026, 12, 1, 13, 0)
    assert cal.subtract_working_hours(at(2026, 12, 1, 14, 0), 0) == at(2026, 12, 1, 14, 0)


@settings(max_examples=200, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)),
    hours=st.floats(min_value=0.25, max_value=400).map(lambda h: round(h * 4) / 4),
)
def test_subtracting_undoes_adding_working_hours(cal: WorkingCalendar, start: datetime, hours: float) -> None:
    end = cal.add_working_hours(start.replace(tzinfo=TZ), hours)
    back = cal.subtract_working_hours(end, hours)
    assert cal.working_hours_between(back, end) == pytest.approx(hours)
    assert cal.add_working_hours(back, hours) == end
