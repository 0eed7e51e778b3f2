"""Working-time calendar: office hours, Vietnam's public holidays and dossier deadlines.

All public functions take and return timezone-aware datetimes; results are expressed in
the calendar's timezone. Internally a moment is a (day ordinal, microsecond of the local
day) pair and every duration is an integer number of microseconds, so arithmetic is exact.
Office hours are read on the local wall clock (Vietnam has no daylight saving time).
"""

from __future__ import annotations

import math
import tomllib
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import holidays

if TYPE_CHECKING:
    from config.settings import Settings

__all__ = [
    "DUE_CONVENTIONS",
    "NaiveDatetimeError",
    "WorkingCalendar",
    "load_calendar_overrides",
]

DUE_CONVENTIONS = ("hours", "days")
DEFAULT_OFFICE_HOURS: tuple[tuple[time, time], ...] = (
    (time(7, 30), time(11, 30)),
    (time(13, 0), time(17, 0)),
)

_US_PER_SECOND = 1_000_000
_US_PER_HOUR = 3600 * _US_PER_SECOND
_COUNTRY = "VN"

# A local moment: (proleptic Gregorian ordinal of the local date, microseconds since local midnight).
_Local = tuple[int, int]


class NaiveDatetimeError(ValueError):
    """A datetime without timezone reached the calendar."""


def load_calendar_overrides(path: str | Path) -> tuple[set[date], set[date]]:
    """Read ``days_off`` and ``working_days`` (ISO dates) from a TOML file; a missing file means none."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        return set(), set()
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: invalid TOML: {exc}") from exc
    # A misspelt key would otherwise be silently ignored and shift every deadline.
    unknown = sorted(set(data) - {"days_off", "working_days"})
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {', '.join(unknown)}; expected days_off, working_days")
    return _parse_dates(path, "days_off", data.get("days_off", [])), _parse_dates(
        path, "working_days", data.get("working_days", [])
    )


def _parse_dates(path: Path, key: str, values: object) -> set[date]:
    if not isinstance(values, list):
        raise ValueError(f"{path}: {key} must be a list of ISO dates, got {values!r}")
    result: set[date] = set()
    for value in values:
        # TOML also has a native date type (unquoted 2026-05-04); accept it like the string form.
        if isinstance(value, date) and not isinstance(value, datetime):
            result.add(value)
            continue
        if not isinstance(value, str):
            raise ValueError(f"{path}: {key}: not an ISO date (YYYY-MM-DD): {value!r}")
        try:
            result.add(date.fromisoformat(value.strip()))
        except ValueError as exc:
            raise ValueError(f"{path}: {key}: not an ISO date (YYYY-MM-DD): {value!r}") from exc
    return result


def _time_to_us(value: time) -> int:
    return ((value.hour * 60 + value.minute) * 60 + value.second) * _US_PER_SECOND + value.microsecond


def _check_amount(value: float, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def _hours_to_us(hours: float, name: str = "hours") -> int:
    _check_amount(hours, name)
    # Whole seconds first, so 0.1 h is exactly 360 s and not 359.99999... s.
    return round(hours * 3600) * _US_PER_SECOND


class WorkingCalendar:
    """Office time of working days: weekdays minus public holidays, plus make-up Saturdays."""

    def __init__(
        self,
        tz_name: str = "Asia/Ho_Chi_Minh",
        office_hours: Iterable[tuple[time, time]] = DEFAULT_OFFICE_HOURS,
        cutoff: time = time(15, 0),
        due_convention: str = "hours",
        hours_per_day: float = 8,
        extra_days_off: Iterable[date] = (),
        extra_working_days: Iterable[date] = (),
    ) -> None:
        self.tz = ZoneInfo(tz_name)
        self.office_hours = tuple(sorted(office_hours))
        if not self.office_hours:
            raise ValueError("office_hours must contain at least one period")
        for start, end in self.office_hours:
            if not start < end:
                raise ValueError(f"office period {start}-{end} is empty")
        for (_s1, e1), (s2, _e2) in zip(self.office_hours, self.office_hours[1:], strict=False):
            if e1 > s2:
                raise ValueError(f"office periods overlap: {self.office_hours}")
        if due_convention not in DUE_CONVENTIONS:
            raise ValueError(f"due_convention must be one of {', '.join(DUE_CONVENTIONS)}")
        _check_amount(hours_per_day, "hours_per_day")
        if hours_per_day == 0:
            raise ValueError("hours_per_day must be > 0")
        self.cutoff = cutoff
        self.due_convention = due_convention
        self.hours_per_day = hours_per_day
        self.extra_days_off = frozenset(extra_days_off)
        self.extra_working_days = frozenset(extra_working_days)

        self._periods: tuple[tuple[int, int], ...] = tuple(
            (_time_to_us(s), _time_to_us(e)) for s, e in self.office_hours
        )
        self._open = self._periods[0][0]
        self._close = self._periods[-1][1]
        self._day_us = sum(e - s for s, e in self._periods)
        self._cutoff_us = _time_to_us(cutoff)
        # year -> (set of working-day ordinals, the same sorted); holidays objects are slow to build.
        self._years: dict[int, tuple[frozenset[int], list[int]]] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkingCalendar:
        """Build the calendar from settings, including the TOML overrides file."""
        days_off, working_days = load_calendar_overrides(settings.calendar_file)
        return cls(
            tz_name=settings.timezone,
            office_hours=settings.office_hours,
            cutoff=settings.cutoff,
            due_convention=settings.due_convention,
            hours_per_day=settings.hours_per_day,
            extra_days_off=days_off,
            extra_working_days=working_days,
        )

    # ----- working days -------------------------------------------------------------------

    def _year_days(self, year: int) -> tuple[frozenset[int], list[int]]:
        cached = self._years.get(year)
        if cached is not None:
            return cached
        public = holidays.country_holidays(_COUNTRY, years=year)
        days_off = {d for d in public if d.year == year}
        # The set also carries make-up days of other years; keep only this year's.
        weekend_workdays = {d for d in public.weekend_workdays if d.year == year}
        working: set[int] = set()
        day = date(year, 1, 1)
        while day.year == year:
            # Same rule as HolidayBase.is_working_day: a make-up Saturday wins over a holiday on it.
            is_working = day in weekend_workdays if day.weekday() >= 5 else day not in days_off
            if day in self.extra_working_days or (is_working and day not in self.extra_days_off):
                working.add(day.toordinal())
            day += timedelta(days=1)
        cached = (frozenset(working), sorted(working))
        self._years[year] = cached
        return cached

    def _is_working_ordinal(self, ordinal: int) -> bool:
        return ordinal in self._year_days(date.fromordinal(ordinal).year)[0]

    def is_working_day(self, day: date) -> bool:
        """Whether a date (or the local date of an aware datetime) is a working day."""
        if isinstance(day, datetime):
            return self._is_working_ordinal(self._local(day)[0])
        return self._is_working_ordinal(day.toordinal())

    def _nth_working_day_after(self, ordinal: int, n: int) -> int:
        """Ordinal of the n-th (n >= 1) working day strictly after ``ordinal``."""
        year = date.fromordinal(ordinal).year
        days = self._year_days(year)[1]
        index = bisect_right(days, ordinal)
        while True:
            available = len(days) - index
            if n <= available:
                return days[index + n - 1]
            n -= available
            year += 1
            days = self._year_days(year)[1]
            index = 0

    def _count_working_days(self, first: int, last: int) -> int:
        """Number of working days with ordinal in [first, last]."""
        if last < first:
            return 0
        count = 0
        for year in range(date.fromordinal(first).year, date.fromordinal(last).year + 1):
            days = self._year_days(year)[1]
            count += bisect_right(days, last) - bisect_left(days, first)
        return count

    # ----- conversions ----------------------------------------------------------------------

    def _local(self, moment: datetime) -> _Local:
        if not isinstance(moment, datetime):
            raise TypeError(f"expected a timezone-aware datetime, got {moment!r}")
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise NaiveDatetimeError(
                f"naive datetime {moment.isoformat()} has no timezone; "
                f"attach one, e.g. .replace(tzinfo=ZoneInfo({self.tz.key!r}))"
            )
        local = moment.astimezone(self.tz)
        return local.toordinal(), _time_to_us(local.time())

    def _moment(self, ordinal: int, us: int) -> datetime:
        naive = datetime.fromordinal(ordinal) + timedelta(microseconds=us)
        return naive.replace(tzinfo=self.tz)

    # ----- office time ----------------------------------------------------------------------

    def _in_office(self, us: int) -> bool:
        return any(s <= us < e for s, e in self._periods)

    def _overlap(self, start_us: int, end_us: int) -> int:
        """Office microseconds of one working day inside [start_us, end_us]."""
        return sum(max(0, min(e, end_us) - max(s, start_us)) for s, e in self._periods)

    def is_working_time(self, moment: datetime) -> bool:
        """Whether the moment lies inside an office period [start, end) of a working day."""
        ordinal, us = self._local(moment)
        return self._in_office(us) and self._is_working_ordinal(ordinal)

    def _next_open_local(self, ordinal: int, us: int) -> _Local:
        if self._is_working_ordinal(ordinal):
            for s, e in self._periods:
                if us < e:
                    return ordinal, max(s, us)
        return self._nth_working_day_after(ordinal, 1), self._open

    def next_open(self, moment: datetime) -> datetime:
        """The moment itself if it is working time, else the start of the next office period."""
        return self._moment(*self._next_open_local(*self._local(moment)))

    def end_of_working_day(self, moment: datetime) -> datetime:
        """Close of the moment's day if it is a working day (even if already past), else of the next one."""
        ordinal, _us = self._local(moment)
        if not self._is_working_ordinal(ordinal):
            ordinal = self._nth_working_day_after(ordinal, 1)
        return self._moment(ordinal, self._close)

    # ----- arithmetic -----------------------------------------------------------------------

    def _walk_day(self, ordinal: int, us: int, amount: int) -> _Local:
        """Advance ``amount`` (> 0, fits in the rest of the day) from ``us`` on a working day."""
        for s, e in self._periods:
            if e <= us:
                continue
            begin = max(s, us)
            # "<=" so that landing exactly on a period end returns that end, not the next opening.
            if amount <= e - begin:
                return ordinal, begin + amount
            amount -= e - begin
        raise AssertionError("amount does not fit in the working day")

    def _add_local(self, ordinal: int, us: int, amount: int) -> _Local:
        ordinal, us = self._next_open_local(ordinal, us)
        rest_of_day = self._overlap(us, self._close)
        if amount <= rest_of_day:
            return self._walk_day(ordinal, us, amount)
        amount -= rest_of_day
        # Skip whole days, leaving 0 < amount <= one day for the last one.
        whole_days = (amount - 1) // self._day_us
        amount -= whole_days * self._day_us
        ordinal = self._nth_working_day_after(ordinal, whole_days + 1)
        return self._walk_day(ordinal, self._open, amount)

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """Add working hours to a moment; adding 0 returns ``start`` as is (same instant, calendar tz)."""
        ordinal, us = self._local(start)
        amount = _hours_to_us(hours)
        if amount == 0:
            return start.astimezone(self.tz)
        return self._moment(*self._add_local(ordinal, us, amount))

    def subtract_working_hours(self, end: datetime, hours: float) -> datetime:
        """The latest moment from which ``hours`` of office time run up to ``end`` (0 returns ``end``)."""
        amount = _hours_to_us(hours)
        if amount == 0:
            return end.astimezone(self.tz)
        ordinal, us = self._local(end)
        if self._is_working_ordinal(ordinal):
            found = self._walk_day_back(ordinal, us, amount)
            if isinstance(found, datetime):
                return found
            amount = found
        # Skip whole working days, leaving 0 < amount <= one day for the last one.
        whole_days = (amount - 1) // self._day_us
        amount -= whole_days * self._day_us
        ordinal = self._nth_working_day_before(ordinal, whole_days + 1)
        found = self._walk_day_back(ordinal, self._close, amount)
        if not isinstance(found, datetime):
            raise AssertionError("amount does not fit in the working day")
        return found

    def _walk_day_back(self, ordinal: int, us: int, amount: int) -> datetime | int:
        """Go back ``amount`` (> 0) from ``us`` on a working day: the moment reached, or the amount
        still left once the day's office time before ``us`` is used up."""
        for start, stop in reversed(self._periods):
            if start >= us:
                continue
            available = min(stop, us) - start
            if amount <= available:
                return self._moment(ordinal, min(stop, us) - amount)
            amount -= available
        return amount

    def _nth_working_day_before(self, ordinal: int, n: int) -> int:
        """Ordinal of the n-th (n >= 1) working day strictly before ``ordinal``."""
        year = date.fromordinal(ordinal).year
        days = self._year_days(year)[1]
        index = bisect_left(days, ordinal)
        while n > index:
            n -= index
            year -= 1
            days = self._year_days(year)[1]
            index = len(days)
        return days[index - n]

    def _working_us_between(self, a: datetime, b: datetime) -> int:
        start_ordinal, start_us = self._local(a)
        end_ordinal, end_us = self._local(b)
        if b <= a:
            return 0
        if start_ordinal == end_ordinal:
            return self._overlap(start_us, end_us) if self._is_working_ordinal(start_ordinal) else 0
        total = self._day_us * self._count_working_days(start_ordinal + 1, end_ordinal - 1)
        if self._is_working_ordinal(start_ordinal):
            total += self._overlap(start_us, self._close)
        if self._is_working_ordinal(end_ordinal):
            total += self._overlap(self._open, end_us)
        return total

    def working_seconds_between(self, a: datetime, b: datetime) -> int:
        """Whole seconds of office time in [a, b] (rounded down); 0 if b <= a."""
        return self._working_us_between(a, b) // _US_PER_SECOND

    def working_hours_between(self, a: datetime, b: datetime) -> float:
        """Hours of office time in [a, b]; 0.0 if b <= a."""
        return self._working_us_between(a, b) / _US_PER_HOUR

    # ----- dossiers -------------------------------------------------------------------------

    def _counting_start_local(self, received: datetime) -> _Local:
        ordinal, us = self._local(received)
        if us < self._cutoff_us and self._is_working_ordinal(ordinal):
            return self._next_open_local(ordinal, us)
        return self._nth_working_day_after(ordinal, 1), self._open

    def counting_start(self, received: datetime) -> datetime:
        """When a dossier's time starts: next office moment, or next working day's opening after cut-off."""
        return self._moment(*self._counting_start_local(received))

    def due_time(
        self, received: datetime, *, days: float | None = None, hours: float | None = None
    ) -> datetime:
        """Deadline of a dossier received at ``received`` with a processing time of days or hours."""
        if (days is None) == (hours is None):
            raise ValueError("give exactly one of days= or hours=")
        ordinal, us = self._counting_start_local(received)
        if days is not None:
            _check_amount(days, "days")
            if self.due_convention == "days":
                # round() first so float noise like 3.0000000000000004 does not add a whole day.
                n = math.ceil(round(days, 6))
                if n > 0:
                    ordinal = self._nth_working_day_after(ordinal, n)
                return self._moment(ordinal, self._close)
            amount = _hours_to_us(days * self.hours_per_day, "days")
        else:
            assert hours is not None
            amount = _hours_to_us(hours)
        if amount == 0:
            # Same-day procedure: due at the close of the day counting starts on.
            return self._moment(ordinal, self._close)
        return self._moment(*self._add_local(ordinal, us, amount))

    def working_hours_left(self, dues: Iterable[datetime | None], now: datetime) -> list[float | None]:
        """Working hours from `now` to each due time, negative once it has passed, None without one.

        The same values as `working_hours_between(now, due)` (or minus `working_hours_between(due,
        now)` once passed) for many due times at once: `now` is converted to local time once, and
        each local day of a due time is looked up once (whether it is a working day, and how many
        working days lie between it and today).
        """
        now_ordinal, now_us = self._local(now)
        now_working = self._is_working_ordinal(now_ordinal)
        days: dict[int, tuple[bool, int]] = {}
        left: list[float | None] = []
        for due in dues:
            if due is None:
                left.append(None)
                continue
            if due == now:
                left.append(0.0)
                continue
            ordinal, us = self._local(due)
            day = days.get(ordinal)
            if day is None:
                first, last = sorted((ordinal, now_ordinal))
                day = days[ordinal] = (
                    self._is_working_ordinal(ordinal),
                    self._count_working_days(first + 1, last - 1),
                )
            working, between = day
            if due > now:
                left.append(
                    self._span_us(now_ordinal, now_us, now_working, ordinal, us, working, between)
                    / _US_PER_HOUR
                )
            else:
                left.append(
                    -(
                        self._span_us(ordinal, us, working, now_ordinal, now_us, now_working, between)
                        / _US_PER_HOUR
                    )
                )
        return left

    def _span_us(
        self,
        start_ordinal: int,
        start_us: int,
        start_working: bool,
        end_ordinal: int,
        end_us: int,
        end_working: bool,
        between: int,
    ) -> int:
        """Office microseconds from an earlier local moment to a later one (as `_working_us_between`
        counts them), given whether their days are working days and the working days between them."""
        if start_ordinal == end_ordinal:
            return self._overlap(start_us, end_us) if start_working else 0
        total = self._day_us * between
        if start_working:
            total += self._overlap(start_us, self._close)
        if end_working:
            total += self._overlap(self._open, end_us)
        return total
