"""Template filters and globals: local times, working hours, Vietnamese labels."""

from __future__ import annotations

from datetime import datetime

from flask import Flask, current_app

from engine.catalogue.procedure_model import ROLE_LABELS
from engine.runtime.dossier_views import EVENT_LABELS
from engine.runtime.forms import place_date_line
from models.dossier import CHANNEL_LABELS, RESULT_LABELS, STATUS_LABELS


def local(moment: datetime | None, fmt: str = "%d/%m/%Y %H:%M") -> str:
    """A UTC moment shown in the office's time zone."""
    if moment is None:
        return ""
    return moment.astimezone(current_app.extensions["motcua"].calendar.tz).strftime(fmt)


def number(value: float | None, digits: int = 1) -> str:
    """A number the Vietnamese way: decimal comma, no trailing zeros."""
    if value is None:
        return ""
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return text.replace(".", ",")


def working_time(hours: float | None) -> str:
    """Working hours as 'N ngày M giờ' (days of the calendar's working hours); negative means overdue."""
    if hours is None:
        return "tạm dừng"
    # The same working day the inbox counts "due soon" with: the calendar's, from the settings.
    day = current_app.extensions["motcua"].calendar.hours_per_day
    sign = "quá " if hours < 0 else ""
    left = abs(hours)
    days, rest = int(left // day), left % day
    parts = []
    if days:
        parts.append(f"{days} ngày")
    if rest >= 0.05 or not days:
        parts.append(f"{number(rest)} giờ")
    return sign + " ".join(parts)


def place_date(moment: datetime | None) -> str:
    """The date line of a printed form: the place name setting and the day `moment` falls on."""
    ctx = current_app.extensions["motcua"]
    return place_date_line(ctx.settings.place_name, moment, ctx.calendar.tz)


def register(app: Flask) -> None:
    """Install the filters and globals on the app."""
    app.jinja_env.filters.update(local=local, number=number, working_time=working_time)
    app.jinja_env.globals.update(
        ROLE_LABELS=ROLE_LABELS,
        STATUS_LABELS=STATUS_LABELS,
        CHANNEL_LABELS=CHANNEL_LABELS,
        RESULT_LABELS=RESULT_LABELS,
        EVENT_LABELS=EVENT_LABELS,
        place_date=place_date,
    )
