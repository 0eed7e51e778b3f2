"""Times, hours and numbers the Vietnamese way, for messages, printed sheets, reports and pages.

Times are stored in UTC and shown in the office's time zone (the calendar's `tz`); numbers take a
decimal comma and drop trailing zeros; working time reads 'N ngày M giờ'.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

DATE_TIME = "%d/%m/%Y %H:%M"


def in_zone(moment: datetime | None, tz: tzinfo, fmt: str = DATE_TIME, missing: str = "") -> str:
    """A moment in the office's time zone with a strftime format ('25/02/2026 10:00' by default)."""
    if moment is None:
        return missing
    return moment.astimezone(tz).strftime(fmt)


def local_time(moment: datetime | None, tz: tzinfo) -> str:
    """'10:00 ngày 25/02/2026', as messages and letters write a moment."""
    if moment is None:
        return "chưa xác định"
    local = moment.astimezone(tz)
    return f"{local:%H:%M} ngày {local:%d/%m/%Y}"


def short_time(moment: datetime | None, tz: tzinfo) -> str:
    """'10:00 25/02/2026', for SMS and table cells."""
    return in_zone(moment, tz, "%H:%M %d/%m/%Y", missing="?")


def number(value: float | None, digits: int = 1) -> str:
    """A number with a decimal comma and no trailing zeros: 2.50 -> '2,5', 3.0 -> '3'."""
    if value is None:
        return ""
    text = f"{value:.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace(".", ",")


def hours(value: float) -> str:
    """Working hours to one decimal, as in 'còn 3,5 giờ làm việc'."""
    return number(value, 1)


def working_time(value: float | None, hours_per_day: float) -> str:
    """Working hours as 'N ngày M giờ' (days of `hours_per_day`); negative reads 'quá ...'.

    None is a step whose clock is stopped (waiting for the applicant): 'tạm dừng'.
    """
    if value is None:
        return "tạm dừng"
    sign = "quá " if value < 0 else ""
    left = abs(value)
    days, rest = int(left // hours_per_day), left % hours_per_day
    parts = []
    if days:
        parts.append(f"{days} ngày")
    if rest >= 0.05 or not days:
        parts.append(f"{number(rest)} giờ")
    return sign + " ".join(parts)


def legal_time(value: float, unit: str, hours_per_day: float = 8) -> str:
    """A procedure's legal time as the law states it: 'Trong ngày', '10 ngày làm việc', or for hours
    that make whole working days '12 ngày làm việc (96 giờ làm việc)'."""
    value = float(value)
    if value <= 0:
        return "Trong ngày"
    if unit == "hours":
        if hours_per_day > 0 and value % hours_per_day == 0:
            return f"{number(value / hours_per_day)} ngày làm việc ({number(value)} giờ làm việc)"
        return f"{number(value)} giờ làm việc"
    return f"{number(value)} ngày làm việc"


__all__ = [
    "DATE_TIME",
    "hours",
    "in_zone",
    "legal_time",
    "local_time",
    "number",
    "short_time",
    "working_time",
]
