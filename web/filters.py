"""Template filters and globals: local times, working hours, Vietnamese labels."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask, current_app

from engine import formatting
from engine.catalogue.fees import format_vnd, total_due
from engine.catalogue.procedure_model import ROLE_LABELS
from engine.runtime.forms import place_date_line
from models.vocabulary import (
    VOCABULARIES,
    Channel,
    DossierStatus,
    EventKind,
    LetterStatus,
    Level,
    ResultClass,
)


def local(moment: datetime | None, fmt: str = formatting.DATE_TIME) -> str:
    """A UTC moment shown in the office's time zone."""
    return formatting.in_zone(moment, current_app.extensions["motcua"].calendar.tz, fmt)


def number(value: float | None, digits: int = 1) -> str:
    """A number the Vietnamese way: decimal comma, no trailing zeros."""
    return formatting.number(value, digits)


def working_time(hours: float | None) -> str:
    """Working hours as 'N ngày M giờ' (days of the calendar's working hours); negative means overdue."""
    return formatting.working_time(hours, current_app.extensions["motcua"].calendar.hours_per_day)


def legal_time(procedure: Any) -> str:
    """A procedure's legal time as the law states it ('Trong ngày', '10 ngày làm việc')."""
    return formatting.legal_time(
        float(procedure.legal_time_value),
        procedure.legal_time_unit,
        current_app.extensions["motcua"].calendar.hours_per_day,
    )


def warning_hours() -> float:
    """The due-soon window of the settings, in working hours (engine.urgency)."""
    return float(current_app.extensions["motcua"].settings.warning_hours)


def place_date(moment: datetime | None) -> str:
    """The date line of a printed form: the place name setting and the day `moment` falls on."""
    ctx = current_app.extensions["motcua"]
    return place_date_line(ctx.settings.place_name, moment, ctx.calendar.tz)


def level_label(value: str | None) -> str:
    """The Vietnamese name of a level ("Cấp xã"), never the stored key."""
    return Level.label_of(value, value or "")


def role_label(value: str | None) -> str:
    """The Vietnamese name of a role ("Chuyên viên"), never the stored key."""
    return ROLE_LABELS.get(value or "", value or "")


def register(app: Flask) -> None:
    """Install the filters and globals on the app."""
    app.jinja_env.filters.update(
        local=local,
        number=number,
        working_time=working_time,
        legal_time=legal_time,
        level=level_label,
        role=role_label,
        vnd=format_vnd,
        fee_total=total_due,
    )
    # Every value set by its class name (DossierStatus, EventKind, ...), and the label dictionaries
    # the templates read, all from models.vocabulary.
    app.jinja_env.globals.update({vocabulary.__name__: vocabulary for vocabulary in VOCABULARIES})
    app.jinja_env.globals.update(
        ROLE_LABELS=ROLE_LABELS,
        STATUS_LABELS=DossierStatus.labels(),
        CHANNEL_LABELS=Channel.labels(),
        RESULT_LABELS=ResultClass.labels(),
        EVENT_LABELS=EventKind.labels(),
        LETTER_LABELS=LetterStatus.labels(),
        place_date=place_date,
        warning_hours=warning_hours,
    )
