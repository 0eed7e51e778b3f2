"""Reporting periods: a year, a half, a quarter, a month or a range of days, as [start, end).

A period is written the way officers name it: `2026` (year), `2026-H1` (six months),
`2026-Q3` (quarter), `2026-07` (month) or `2026-01-01..2026-03-31` (both days included).
Its boundaries are local midnights (Asia/Ho_Chi_Minh by default) converted to UTC, so a
dossier received at 23:30 on the last day of a month belongs to that month.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from engine.errors import InvalidInput
from engine.formatting import local_time

_YEAR = re.compile(r"^(\d{4})$")
_HALF = re.compile(r"^(\d{4})-H([12])$", re.IGNORECASE)
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$", re.IGNORECASE)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")
# The years a report, a register or a date typed in a form may name; outside them a date means a typo
# (and year 1 or 9999 overflows once moved to UTC).
FIRST_YEAR = 2000
LAST_YEAR = 2100


@dataclass(frozen=True)
class Period:
    """[start, end) in UTC, with the local first and last day it covers and its label."""

    label: str
    first_day: date
    last_day: date
    start: datetime
    end: datetime
    tz: tzinfo = UTC  # the office's timezone, in which the days above are counted

    @property
    def title(self) -> str:
        """The period as printed on a report, e.g. 'Từ ngày 01/07/2026 đến ngày 30/09/2026'."""
        return f"Từ ngày {self.first_day:%d/%m/%Y} đến ngày {self.last_day:%d/%m/%Y}"

    def as_of(self, now: datetime) -> datetime:
        """The moment a report of this period judges at: its end once closed, `now` while current."""
        return min(self.end, now)

    def as_of_title(self, now: datetime) -> str:
        """That moment as printed on a report, e.g. 'Số liệu tính đến hết ngày 31/10/2026'."""
        moment = self.as_of(now)
        if moment >= self.end:
            return f"Số liệu tính đến hết ngày {self.last_day:%d/%m/%Y}"
        return f"Số liệu tính đến {local_time(moment, self.tz)}"


def _add_months(year: int, month: int, months: int) -> date:
    index = year * 12 + (month - 1) + months
    return date(index // 12, index % 12 + 1, 1)


def _check_years(label: str, *years: int) -> None:
    if any(not FIRST_YEAR <= year <= LAST_YEAR for year in years):
        raise InvalidInput(
            f"Kỳ báo cáo {label!r} nằm ngoài khoảng cho phép; chọn một kỳ trong các năm từ {FIRST_YEAR} "
            f"đến {LAST_YEAR}",
            "period",
        )


def period_of_days(first_day: date, last_day: date, tz: tzinfo, label: str | None = None) -> Period:
    """The period from the start of `first_day` to the end of `last_day`, local time."""
    label = label or f"{first_day:%Y-%m-%d}..{last_day:%Y-%m-%d}"
    _check_years(label, first_day.year, last_day.year)
    if last_day < first_day:
        raise InvalidInput("Ngày kết thúc kỳ báo cáo phải sau hoặc trùng ngày bắt đầu", "period")
    start = datetime.combine(first_day, datetime.min.time(), tz).astimezone(UTC)
    end = datetime.combine(last_day + timedelta(days=1), datetime.min.time(), tz).astimezone(UTC)
    return Period(label, first_day, last_day, start, end, tz)


def parse_period(text: str, tz: tzinfo | str = "Asia/Ho_Chi_Minh") -> Period:
    """Parse `2026`, `2026-H1`, `2026-Q3`, `2026-07` or `2026-01-01..2026-03-31` into a Period."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    value = (text or "").strip()
    # Every form starts with its year, and a range has a second one after "..".
    _check_years(value, *(int(year) for year in re.findall(r"(?:^|\.\.)(\d{4})", value)))
    try:
        if m := _YEAR.match(value):
            year = int(m.group(1))
            return period_of_days(date(year, 1, 1), date(year, 12, 31), zone, value)
        if m := _HALF.match(value):
            year, half = int(m.group(1)), int(m.group(2))
            first = date(year, 1 + 6 * (half - 1), 1)
            return period_of_days(
                first, _add_months(year, first.month, 6) - timedelta(days=1), zone, value.upper()
            )
        if m := _QUARTER.match(value):
            year, quarter = int(m.group(1)), int(m.group(2))
            first = date(year, 1 + 3 * (quarter - 1), 1)
            return period_of_days(
                first, _add_months(year, first.month, 3) - timedelta(days=1), zone, value.upper()
            )
        if m := _MONTH.match(value):
            year, month = int(m.group(1)), int(m.group(2))
            first = date(year, month, 1)
            return period_of_days(first, _add_months(year, month, 1) - timedelta(days=1), zone, value)
        if m := _RANGE.match(value):
            return period_of_days(date.fromisoformat(m.group(1)), date.fromisoformat(m.group(2)), zone, value)
    except ValueError as exc:
        raise InvalidInput(f"Kỳ báo cáo {value!r} có ngày không hợp lệ", "period") from exc
    raise InvalidInput(
        f"Kỳ báo cáo {value!r} không đúng định dạng; dùng năm (2026), sáu tháng (2026-H1), "
        "quý (2026-Q3), tháng (2026-07) hoặc khoảng ngày (2026-01-01..2026-03-31)",
        "period",
    )


def months_between(first: date, last: date, tz: tzinfo) -> list[Period]:
    """The calendar months from the month of `first` to the month of `last`, each as a Period."""
    months = []
    current = date(first.year, first.month, 1)
    while current <= last:
        following = _add_months(current.year, current.month, 1)
        months.append(period_of_days(current, following - timedelta(days=1), tz, f"{current:%Y-%m}"))
        current = following
    return months
