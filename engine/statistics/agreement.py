"""Whether Biểu 06, the indicators and the dashboard tell the same story for one scope and moment.

The seeds' complaint was reports that disagreed with each other. Biểu 06 and the indicators are
folded from the same frame, and the dashboard reads the live tables; this cross-check names every
number on which they part, so the scenarios (and an operator) can prove they do not.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from engine.statistics.indicators import agency_counts, overdue_by_agency
from engine.statistics.periods import Period
from engine.statistics.reports import statistics_views


def disagreements(session: Session, period: Period, agency_code: str | None, *, now: datetime) -> list[str]:
    """Every number on which the report views, the indicators and the dashboard disagree (none: agree)."""
    views = statistics_views(session, period, agency_code, now=now)
    found: list[str] = []
    totals = {name: view.total.counts for name, view in views.items()}
    first_name, first = next(iter(totals.items()))
    for name, counts in totals.items():
        for key, value in counts.items():
            if value != first[key]:
                found.append(f"Biểu 06 theo {name}: {key} = {value}, theo {first_name}: {first[key]}")
    report = first
    rows = agency_counts(session, period, agency_code, now=now)
    numbers = rows[-1]  # the agency asked for, or the province total
    pairs = {
        "tiếp nhận trong kỳ": (numbers.received, report["received_online"] + report["received_in_person"]),
        "trực tuyến": (numbers.online, report["received_online"]),
        "đã giải quyết": (numbers.resolved, report["resolved_total"]),
        "giải quyết trước hạn và đúng hạn": (
            numbers.resolved_on_time,
            report["resolved_early"] + report["resolved_on_time"],
        ),
        "giải quyết quá hạn": (numbers.resolved_late, report["resolved_late"]),
        "đang giải quyết quá hạn": (numbers.overdue, report["in_progress_overdue"]),
    }
    for label, (indicator, in_report) in pairs.items():
        if indicator != in_report:
            found.append(f"Chỉ số {label} = {indicator}, Biểu 06 = {in_report}")
    # The dashboard is live (it reads today's state): it matches a report taken as of the present
    # over a period that contains it (every open dossier is then received in it or carried over).
    # `now` must then be the present of the recorded history, as it is in the scenarios.
    if period.start <= now < period.end:
        dashboard = sum(
            row.count
            for row in overdue_by_agency(session, now)
            if agency_code is None or row.agency_code == agency_code
        )
        if dashboard != report["in_progress_overdue"]:
            found.append(
                f"Tổng quan: hồ sơ quá hạn = {dashboard}, Biểu 06 đang giải quyết quá hạn = "
                f"{report['in_progress_overdue']}"
            )
    return found
