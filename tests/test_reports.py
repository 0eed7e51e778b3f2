"""Biểu 06, the indicators and the dashboard data, on histories made by the service functions.

Every report is judged as of `min(period.end, now)` from the recorded history: the current period as
of now, a closed period as of its end, so that later events never change a closed period.
"""

from __future__ import annotations

import csv
import heapq
import io
import random
from dataclasses import asdict, replace
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from sqlalchemy import select

from engine.catalogue.versions import activate_version
from engine.cli import main
from engine.context import Context
from engine.demo_fees import DemoGateway
from engine.errors import InvalidInput, NotFound
from engine.payments.desk import record_desk_payment
from engine.payments.online import settle_from_gateway, start_online_payment
from engine.runtime import apology
from engine.runtime import dossiers as svc
from engine.statistics import indicators as ind
from engine.statistics.periods import parse_period
from engine.statistics.report_export import (
    FIRST_DATA_ROW,
    FIRST_NUMBER_COLUMN,
    HEADER_ROW,
    csv_text,
    format_table,
    xlsx_bytes,
)
from engine.statistics.reports import (
    COLUMN_KEYS,
    COLUMNS,
    GROUPINGS,
    identity_problems,
    report_cell_count,
    report_cell_dossiers,
    statistics_report,
    statistics_views,
    sum_rows,
)
from models import ApologyLetter, Dossier, Officer, Procedure, Rating, WorkItem
from tests.conftest import VN, Officers, at, open_items

SO = "000.00.12.H40"  # Sở Nội vụ: receives 1.001806 (Việc làm, province level)
XA = "000.01.25.H40"  # the commune: receives 1.001193 and 2.000635 (Hộ tịch, commune level)
DESK_OF = {
    "1.001806": "sonv.motcua",
    "1.001193": "xa.motcua",
    "NA.3854": "xa.motcua",
    "2.000635": "xa.motcua",
}
SKIPPED_OUTCOMES = ("supplement", "refuse", "rework")
OCTOBER = parse_period("2026-10")
NOVEMBER = parse_period("2026-11")
AFTERWARDS = at("2027-01-15 08:00")  # a reader long after every history below


def officers_by_role(ctx: Context) -> dict[tuple[int, str], int]:
    """The first active officer of each (agency, role)."""
    found: dict[tuple[int, str], int] = {}
    with ctx.uow() as uow:
        for officer in uow.session.scalars(select(Officer).order_by(Officer.id)):
            for role in officer.roles:
                found.setdefault((officer.agency_id, role), officer.id)
    return found


def usual_outcome(ctx: Context, item: WorkItem) -> str | None:
    """The outcome that moves a step forward (not supplement, refusal or rework)."""
    with ctx.uow() as uow:
        dossier = uow.session.get(Dossier, item.dossier_id)
        step = svc.compiled_process(ctx, uow.session, dossier.process_version_id).model.steps[item.task_id]
    return next((v for v in step.outcome_values() if v not in SKIPPED_OUTCOMES), None)


class History:
    """Drives dossiers through the service functions with explicit moments."""

    def __init__(self, ctx: Context, officers: Officers) -> None:
        self.ctx = ctx
        self.officers = officers
        self.by_role = officers_by_role(ctx)
        self.codes: dict[str, str] = {}
        self.ids: dict[str, int] = {}
        self.due: dict[str, datetime] = {}

    def receive(self, name: str, procedure: str, when: str, channel: str = "in_person") -> None:
        receipt = svc.receive_dossier(
            self.ctx,
            procedure_code=procedure,
            applicant=svc.Applicant(name=f"Người nộp {name}"),
            channel=channel,
            officer_id=self.officers[DESK_OF[procedure]],
            now=at(when),
            no_contact=True,
        )
        self.codes[name], self.ids[name], self.due[name] = receipt.code, receipt.dossier_id, receipt.due_at

    def _item(self, name: str) -> tuple[WorkItem, int]:
        (item,) = open_items(self.ctx, self.ids[name])
        return item, self.by_role[(item.agency_id, item.role)]

    def steps(self, name: str, *moments: str) -> None:
        """Complete the open step at each moment, with the usual outcome."""
        for when in moments:
            item, officer = self._item(name)
            svc.complete(self.ctx, item.id, officer, now=at(when), outcome=usual_outcome(self.ctx, item))

    def supplement(self, name: str, when: str, late_reason: str | None = None) -> None:
        item, officer = self._item(name)
        svc.request_supplement(
            self.ctx,
            item.id,
            officer,
            missing=["Bản sao giấy tờ"],
            reason="Thiếu",
            now=at(when),
            late_reason=late_reason,
        )

    def resume(self, name: str, when: str) -> None:
        with self.ctx.uow() as uow:
            agency_id = uow.session.get(Dossier, self.ids[name]).agency_id
        svc.resume(self.ctx, self.codes[name], self.by_role[(agency_id, "desk")], at(when))

    def refuse(self, name: str, when: str) -> None:
        item, officer = self._item(name)
        svc.refuse(self.ctx, item.id, officer, reason="Không đủ điều kiện", now=at(when))

    def hand_over(self, name: str, when: str) -> None:
        item, officer = self._item(name)
        svc.return_result(self.ctx, item.id, officer, collected_by="Người nộp", now=at(when))

    def letter(self, name: str, when: str, new_due: str) -> None:
        """The desk drafts the apology letter and the head of the agency at fault issues it at once."""
        with self.ctx.uow() as uow:
            agency_id = uow.session.get(Dossier, self.ids[name]).agency_id
        letter_id = apology.create_draft_apology(
            self.ctx,
            self.codes[name],
            self.by_role[(agency_id, "desk")],
            at(when),
            reason="Cần xác minh thêm",
            new_due=at(new_due),
        )
        with self.ctx.uow() as uow:
            fault = uow.session.get(ApologyLetter, letter_id).agency_id
        apology.issue_apology(self.ctx, letter_id, self.by_role[(fault, "leader")], at(when))


def build_scenario(ctx: Context, officers: Officers) -> History:
    """Dossiers around October 2026 with every fate Biểu 06 distinguishes."""
    h = History(ctx, officers)
    # Sở Nội vụ, 1.001806 (10 working days).
    h.receive("A", "1.001806", "2026-09-21 08:00")  # finished before October: not in the report
    h.steps("A", "2026-09-21 09:00", "2026-09-21 10:00", "2026-09-22 09:00", "2026-09-22 10:00")
    h.steps("A", "2026-09-22 11:00", "2026-09-23 08:00")
    h.receive("B", "1.001806", "2026-09-28 08:00")  # carried over, resolved early
    h.steps("B", "2026-09-28 09:00", "2026-09-28 10:00", "2026-09-29 09:00", "2026-09-29 10:00")
    h.steps("B", "2026-09-29 11:00", "2026-10-02 09:00")
    h.receive("M", "1.001806", "2026-09-28 09:00")  # carried over, stuck: overdue at the end
    h.steps("M", "2026-09-28 10:00", "2026-09-28 11:00")
    h.receive("J", "1.001806", "2026-10-01 08:00")  # due 15/10, still being processed: overdue
    h.steps("J", "2026-10-01 09:00", "2026-10-01 10:00")
    h.receive("R", "1.001806", "2026-10-01 09:00")  # due 15/10, supplement asked 20/10: late, waiting
    h.steps("R", "2026-10-01 10:00", "2026-10-01 11:00")
    h.supplement("R", "2026-10-20 09:00", late_reason="Phát hiện thiếu giấy tờ khi trình ký")
    h.receive("K", "1.001806", "2026-10-02 08:00")  # due 16/10; letter 14/10 (hẹn 23/10); done 22/10
    h.steps("K", "2026-10-02 09:00", "2026-10-02 10:00")
    h.letter("K", "2026-10-14 10:00", new_due="2026-10-23 17:00")
    h.steps("K", "2026-10-21 09:00", "2026-10-21 10:00", "2026-10-21 11:00", "2026-10-22 10:00")
    h.receive("C", "1.001806", "2026-10-05 08:00", "online")  # due 19/10 08:00, done 19/10 07:45
    h.steps("C", "2026-10-05 09:00", "2026-10-05 10:00", "2026-10-14 09:00", "2026-10-15 09:00")
    h.steps("C", "2026-10-16 09:00", "2026-10-19 07:45")
    h.receive("D", "1.001806", "2026-10-05 09:00")  # due 19/10 09:00, done 20/10: late, no letter
    h.steps("D", "2026-10-05 10:00", "2026-10-05 11:00", "2026-10-15 09:00", "2026-10-15 10:00")
    h.steps("D", "2026-10-15 11:00", "2026-10-20 10:00")
    h.receive("L", "1.001806", "2026-10-05 10:00")  # supplement asked after 3 working days: late request
    h.steps("L", "2026-10-05 11:00", "2026-10-05 13:30")
    h.supplement("L", "2026-10-09 10:00", late_reason="Chuyên viên nghỉ ốm")
    h.receive("E", "1.001806", "2026-10-06 08:00", "postal")  # refused, slip handed over
    h.steps("E", "2026-10-06 09:00", "2026-10-06 10:00")
    h.refuse("E", "2026-10-08 09:00")
    h.hand_over("E", "2026-10-09 09:00")
    h.receive("F", "1.001806", "2026-10-07 08:00")  # withdrawn
    h.steps("F", "2026-10-07 09:00")
    svc.withdraw(ctx, h.codes["F"], officers["sonv.motcua"], reason="Xin rút", now=at("2026-10-09 08:00"))
    h.receive("H", "1.001806", "2026-10-12 08:00")  # supplement asked 14/10, arrives 3/11
    h.steps("H", "2026-10-12 09:00", "2026-10-12 10:00")
    h.supplement("H", "2026-10-14 09:00")
    h.resume("H", "2026-11-03 09:00")
    h.receive("G", "1.001806", "2026-10-20 08:00", "online")  # supplement asked, still waiting
    h.steps("G", "2026-10-20 09:00", "2026-10-20 10:00")
    h.supplement("G", "2026-10-22 09:00")
    h.receive("I", "1.001806", "2026-10-26 08:00")  # due 9/11: not yet due
    h.steps("I", "2026-10-26 09:00", "2026-10-26 10:00")
    # The commune, 1.001193 (same day).
    h.receive("Q", "1.001193", "2026-09-29 08:00")  # finished before October
    h.steps("Q", "2026-09-29 09:00", "2026-09-29 10:00", "2026-09-29 11:00")
    h.receive("P", "1.001193", "2026-09-30 16:00")  # after the cut-off: due 1/10 17:00, done 1/10
    h.steps("P", "2026-09-30 16:30", "2026-10-01 08:00", "2026-10-01 09:00")
    h.receive("N", "1.001193", "2026-10-07 08:00")  # done the same day: on time
    h.steps("N", "2026-10-07 09:00", "2026-10-07 10:00", "2026-10-07 10:30")
    h.hand_over("N", "2026-10-08 09:00")
    h.receive("O", "1.001193", "2026-10-08 08:00", "online")  # done the next day: late
    h.steps("O", "2026-10-08 09:00", "2026-10-08 10:00", "2026-10-09 09:00")
    return h


def counts(**given: int) -> dict[str, int]:
    return {key: given.get(key, 0) for key in COLUMN_KEYS}


SO_OCTOBER = counts(
    received_total=13,
    received_online=2,
    received_in_person=9,
    received_carried=2,
    resolved_total=4,
    resolved_early=1,
    resolved_on_time=1,
    resolved_late=2,
    resolved_late_letter=1,
    resolved_late_no_letter=1,
    in_progress_total=3,
    in_progress_not_due=1,
    in_progress_overdue=2,
    refused=1,
    withdrawn=1,
    supplement=4,
)
XA_OCTOBER = counts(
    received_total=3,
    received_online=1,
    received_in_person=1,
    received_carried=1,
    resolved_total=3,
    resolved_on_time=2,
    resolved_late=1,
    resolved_late_no_letter=1,
)


@pytest.fixture
def scenario(ctx, officers) -> History:
    return build_scenario(ctx, officers)


def _by_code(ctx: Context, history: History) -> dict[str, Dossier]:
    with ctx.uow() as uow:
        return {name: uow.session.get(Dossier, i) for name, i in history.ids.items()}


def test_october_report_counts_every_dossier_in_its_one_class(ctx, scenario):
    d = _by_code(ctx, scenario)  # the scenario ended as intended
    assert {n: d[n].result_class for n in "BCDKNOP"} == {
        "B": "early",
        "C": "on_time",
        "D": "late",
        "K": "late",  # the letter moved the appointment, never the legal due time
        "N": "on_time",
        "O": "late",
        "P": "on_time",
    }
    assert d["E"].status == "refused" and d["F"].status == "withdrawn" and d["G"].status == "supplement"
    assert d["K"].appointment_at == at("2026-10-23 17:00") and d["K"].due_at == scenario.due["K"]
    with ctx.uow() as uow:
        views = statistics_views(uow.session, OCTOBER, now=AFTERWARDS)
        so_only = statistics_report(uow.session, OCTOBER, SO, "field", now=AFTERWARDS)
    by_field = {r.key: r.counts for r in views["field"].rows}
    by_level = {r.key: r.counts for r in views["level"].rows}
    by_agency = {r.key: r.counts for r in views["agency"].rows}
    assert by_field == {"Việc làm": SO_OCTOBER, "Hộ tịch": XA_OCTOBER}
    assert by_level == {"province": SO_OCTOBER, "commune": XA_OCTOBER}
    assert by_agency == {SO: SO_OCTOBER, XA: XA_OCTOBER}
    expected_total = {k: SO_OCTOBER[k] + XA_OCTOBER[k] for k in COLUMN_KEYS}
    for view in views.values():
        assert view.total.counts == expected_total
        assert identity_problems(view.total) == []
    assert [(r.key, r.counts) for r in so_only.rows] == [("Việc làm", SO_OCTOBER)]
    assert so_only.total.counts == SO_OCTOBER
    assert so_only.agency_name == "Sở Nội vụ"
    assert so_only.closed and so_only.as_of == OCTOBER.end
    assert so_only.as_of_title == "Số liệu tính đến hết ngày 31/10/2026"


def test_every_number_of_the_report_links_to_exactly_its_dossiers(ctx, scenario):
    with ctx.uow() as uow:
        s = uow.session
        views = [(None, v) for v in statistics_views(s, OCTOBER, now=AFTERWARDS).values()]
        views.append((SO, statistics_report(s, OCTOBER, SO, "field", now=AFTERWARDS)))
        for agency, view in views:
            for row in [*view.rows, view.total]:
                for column in COLUMN_KEYS:
                    listed = report_cell_dossiers(
                        s, OCTOBER, agency, view.group_by, row.key, column, now=AFTERWARDS, limit=1000
                    )
                    assert len(listed) == row.counts[column], (agency, view.group_by, row.key, column)
            total = report_cell_count(
                s, OCTOBER, agency, view.group_by, None, "received_total", now=AFTERWARDS
            )
            assert total == view.total.counts["received_total"]
        waiting = report_cell_dossiers(s, OCTOBER, None, "field", "Việc làm", "supplement", now=AFTERWARDS)
        late = report_cell_dossiers(s, OCTOBER, SO, "agency", SO, "in_progress_overdue", now=AFTERWARDS)
    assert {x.dossier.code for x in waiting} == {scenario.codes[n] for n in "GHLR"}
    assert [x.dossier.code for x in late] == [scenario.codes["M"], scenario.codes["J"]]  # oldest first
    assert {x.class_label for x in late} == {"Đang giải quyết, quá hạn"}


def test_late_dossiers_are_split_by_whether_an_apology_letter_was_issued(ctx, scenario):
    def listed(column: str, now: datetime, period=OCTOBER) -> list[tuple[str, datetime | None]]:
        with ctx.uow() as uow:
            rows = report_cell_dossiers(uow.session, period, None, "field", None, column, now=now)
        return [(x.dossier.code, x.letter_issued_at) for x in rows]

    codes = scenario.codes
    assert listed("resolved_late_letter", AFTERWARDS) == [(codes["K"], at("2026-10-14 10:00"))]
    assert listed("resolved_late_no_letter", AFTERWARDS) == [(codes["D"], None), (codes["O"], None)]
    assert [c for c, _ in listed("resolved_late", AFTERWARDS)] == [codes[n] for n in "KDO"]
    # Before the letter was issued, K was simply on its way: no letter to count yet.
    assert listed("resolved_late_letter", at("2026-10-14 09:00")) == []
    assert codes["K"] in [c for c, _ in listed("in_progress_not_due", at("2026-10-14 09:00"))]


def test_a_report_names_a_bad_period_grouping_column_or_agency(ctx):
    with pytest.raises(InvalidInput) as bad_period:
        parse_period("2026-13")
    assert bad_period.value.field == "period"
    with pytest.raises(InvalidInput):
        parse_period("quý 3")
    with ctx.uow() as uow:
        with pytest.raises(InvalidInput) as bad_group:
            statistics_report(uow.session, OCTOBER, None, "district", now=AFTERWARDS)
        assert bad_group.value.field == "group_by"
        with pytest.raises(InvalidInput) as bad_column:
            report_cell_dossiers(uow.session, OCTOBER, None, "field", None, "late", now=AFTERWARDS)
        assert bad_column.value.field == "column"
        with pytest.raises(NotFound):
            statistics_report(uow.session, OCTOBER, "000.99.99.H40", now=AFTERWARDS)
        with pytest.raises(InvalidInput) as naive:
            statistics_report(uow.session, OCTOBER, now=datetime(2026, 11, 1, 8, 0))
        assert naive.value.field == "now"


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("2026", date(2026, 1, 1), date(2026, 12, 31)),
        ("2026-H2", date(2026, 7, 1), date(2026, 12, 31)),
        ("2026-q3", date(2026, 7, 1), date(2026, 9, 30)),
        ("2026-02", date(2026, 2, 1), date(2026, 2, 28)),
        ("2026-01-15..2026-03-31", date(2026, 1, 15), date(2026, 3, 31)),
    ],
)
def test_periods_are_local_days_converted_to_utc(text, first, last):
    period = parse_period(text)
    assert (period.first_day, period.last_day) == (first, last)
    assert period.start == datetime(first.year, first.month, first.day, tzinfo=VN)
    assert period.end == datetime(last.year, last.month, last.day, tzinfo=VN) + timedelta(days=1)
    assert period.start.utcoffset() == timedelta(0)


# --- as of a moment ---------------------------------------------------------------------


def test_the_current_period_is_judged_as_of_now(ctx, officers):
    h = History(ctx, officers)
    h.receive("X", "1.001806", "2026-11-19 08:00")  # due in early December
    h.steps("X", "2026-11-19 09:00", "2026-11-19 10:00")
    h.receive("Y", "1.001806", "2026-11-02 08:00")  # due mid-November
    h.steps("Y", "2026-11-02 09:00", "2026-11-02 10:00")
    assert at("2026-12-02 17:00") < h.due["X"] < at("2026-12-07 08:00") and h.due["Y"] < at(
        "2026-11-30 08:00"
    )
    december = parse_period("2026-12")
    on_the_first = at("2026-12-01 09:00")
    with ctx.uow() as uow:
        s = uow.session
        today = statistics_report(s, december, SO, now=on_the_first)
        a_week_on = statistics_report(s, december, SO, now=at("2026-12-08 09:00"))
        november = statistics_report(s, NOVEMBER, SO, now=on_the_first)
        not_due = report_cell_dossiers(
            s, december, SO, "field", None, "in_progress_not_due", now=on_the_first
        )
    # On 1/12 the dossier due in December is not overdue, whatever the month's end says.
    assert (today.total["received_carried"], today.total["in_progress_not_due"]) == (2, 1)
    assert today.total["in_progress_overdue"] == 1
    assert [x.dossier.code for x in not_due] == [h.codes["X"]]
    assert not today.closed and today.as_of == on_the_first
    assert today.as_of_title == "Số liệu tính đến 09:00 ngày 01/12/2026"
    assert a_week_on.total["in_progress_overdue"] == 2 and a_week_on.total["in_progress_not_due"] == 0
    # November is over: judged as of its end, the same on 1/12 as on any later day.
    assert november.closed and november.total["in_progress_not_due"] == 1
    assert november.total["in_progress_overdue"] == 1
    assert november.total["received_in_person"] == 2


def _snapshot(ctx: Context, period, now: datetime) -> dict:
    """Everything a reader can see of a period: every view, every list behind a number, the indicators."""
    with ctx.uow() as uow:
        s = uow.session
        views = [
            ("province", statistics_views(s, period, now=now)),
            (SO, statistics_views(s, period, SO, now=now)),
        ]
        numbers = {
            (scope, group_by, row.key): row.counts
            for scope, by in views
            for group_by, view in by.items()
            for row in [*view.rows, view.total]
        }
        lists = {
            column: [
                (x.dossier.code, x.klass, x.letter_issued_at)
                for x in report_cell_dossiers(s, period, None, "field", None, column, now=now, limit=1000)
            ]
            for column in COLUMN_KEYS
        }
        agencies = [asdict(c) for c in ind.agency_counts(s, period, now=now)]
        rates = [asdict(r) for r in ind.on_time_rates(s, period, now=now)]
        steps = [asdict(r) for r in ind.step_indicators(s, period, now=now)]
        scores = [[asdict(g) for g in a.groups] for a in ind.qd766_scores(s, period, now=now)]
    return {
        "numbers": numbers,
        "lists": lists,
        "agencies": agencies,
        "rates": rates,
        "steps": steps,
        "scores": scores,
    }


def test_a_closed_period_never_changes_afterwards(ctx, officers, scenario):
    h = scenario
    before = _snapshot(ctx, OCTOBER, at("2026-11-03 10:00"))
    # November: a letter for an overdue dossier, a late supplement that restarts the clock of another,
    # an appointment moved, a waiting supplement arriving, late results handed in, a rating.
    h.letter("J", "2026-11-04 09:00", new_due="2026-11-20 17:00")
    h.supplement("M", "2026-11-04 10:00", late_reason="Bổ sung xác minh người lao động")
    h.resume("M", "2026-11-06 09:00")
    svc.move_appointment(
        ctx,
        h.codes["I"],
        officers["sonv.motcua"],
        new_due=at("2026-11-16 17:00"),
        reason="Chờ ý kiến",
        now=at("2026-11-05 09:00"),
    )
    h.resume("G", "2026-11-05 10:00")
    h.steps("J", "2026-11-10 09:00", "2026-11-10 10:00", "2026-11-10 11:00", "2026-11-11 09:00")
    h.steps("I", "2026-11-12 09:00", "2026-11-12 10:00", "2026-11-12 11:00", "2026-11-13 09:00")
    with ctx.uow() as uow:
        uow.session.add(Rating(dossier_id=h.ids["C"], satisfied=False, rated_at=at("2026-11-20 09:00")))
        uow.commit()
    d = _by_code(ctx, h)
    assert d["M"].due_at > at("2026-11-16 08:00") and d["I"].appointment_at == at("2026-11-16 17:00")
    after = _snapshot(ctx, OCTOBER, at("2026-12-01 08:00"))
    assert after == before
    # The same events count in November, where they happened.
    with ctx.uow() as uow:
        november = statistics_report(uow.session, NOVEMBER, SO, now=at("2026-12-01 08:00"))
        so_november = ind.agency_counts(uow.session, NOVEMBER, SO, now=at("2026-12-01 08:00"))[0]
    assert november.total["resolved_late_letter"] == 1  # J: late, letter issued 4/11
    # I: due 9/11, done 13/11; moving the appointment is no apology letter.
    assert november.total["resolved_late_no_letter"] == 1
    assert (so_november.supplement_requests, so_november.late_supplement_requests) == (1, 1)  # M
    assert so_november.letters_issued_late == 1  # J's letter came after its legal due time


def test_a_result_waiting_at_a_counted_hand_over_is_in_progress_until_handed_over(ctx, officers):
    _counted_hand_over(ctx)
    h = History(ctx, officers)
    h.receive("S", "1.001193", "2026-10-30 08:00")  # due 30/10 17:00; ready 30/10, handed over 2/11
    h.steps("S", "2026-10-30 09:00", "2026-10-30 10:00", "2026-10-30 11:00")
    h.hand_over("S", "2026-11-02 09:00")
    h.receive("T", "1.001193", "2026-10-30 08:30")  # ready and handed over on 30/10
    h.steps("T", "2026-10-30 09:00", "2026-10-30 10:00", "2026-10-30 11:00")
    h.hand_over("T", "2026-10-30 16:00")
    d = _by_code(ctx, h)
    assert d["S"].finished_at == at("2026-10-30 11:00") and d["S"].judged_at == at("2026-11-02 09:00")
    assert (d["S"].result_class, d["T"].result_class) == ("late", "on_time")
    with ctx.uow() as uow:
        october = statistics_report(uow.session, OCTOBER, XA, now=AFTERWARDS)
        november = statistics_report(uow.session, NOVEMBER, XA, now=AFTERWARDS)
    assert october.total.counts == counts(
        received_total=2,
        received_in_person=2,
        resolved_total=1,
        resolved_on_time=1,
        in_progress_total=1,
        in_progress_overdue=1,
    )
    assert november.total.counts == counts(
        received_total=1, received_carried=1, resolved_total=1, resolved_late=1, resolved_late_no_letter=1
    )


# --- indicators and dashboard ------------------------------------------------------------


def test_indicators_agree_with_the_report(ctx, scenario):
    d = _by_code(ctx, scenario)
    with ctx.uow() as uow:
        uow.session.add(Rating(dossier_id=d["B"].id, satisfied=True, rated_at=at("2026-10-03 09:00")))
        uow.session.add(Rating(dossier_id=d["D"].id, satisfied=False, rated_at=at("2026-10-21 09:00")))
        uow.commit()
    with ctx.uow() as uow:
        s = uow.session
        rates = {
            r.key: (r.resolved, r.early, r.on_time, r.late, r.late_with_letter, r.rate)
            for r in ind.on_time_rates(s, OCTOBER, now=AFTERWARDS)
        }
        by_procedure = {r.key: r.rate for r in ind.on_time_rates(s, OCTOBER, by="procedure", now=AFTERWARDS)}
        so_counts, xa_counts, province = ind.agency_counts(s, OCTOBER, now=AFTERWARDS)
        scores = {x.agency_code: x for x in ind.qd766_scores(s, OCTOBER, now=AFTERWARDS)}
    assert rates == {SO: (4, 1, 1, 2, 1, 0.5), XA: (3, 0, 2, 1, 0, 2 / 3)}
    assert by_procedure == {"1.001806": 0.5, "1.001193": 2 / 3}
    assert (so_counts.agency_code, so_counts.received, so_counts.online) == (SO, 11, 2)
    # Late: D and K resolved late, M and J overdue, R waiting for a supplement asked after its due time.
    assert (so_counts.late, so_counts.late_with_letter, so_counts.late_without_letter) == (5, 1, 4)
    assert (so_counts.late_waiting, so_counts.letters_issued_late) == (1, 0)
    assert (so_counts.supplement_requests, so_counts.late_supplement_requests) == (4, 2)  # L and R late
    assert (so_counts.rated, so_counts.satisfied, so_counts.satisfaction) == (2, 1, 0.5)
    assert (province.agency_code, province.received, province.resolved, province.overdue) == (None, 13, 7, 2)
    assert xa_counts.online_share == 1 / 2 and xa_counts.late == 1
    groups = {g.key: g for g in scores[SO].groups}
    # No procedure of the demo catalogue has its forms published yet: 18 x 0 complete / its procedures.
    assert groups["publicity"].score == 0 and "= 18 × 0 / " in groups["publicity"].formula
    # 20 x (1 early + 1 on time) / (4 resolved + 2 overdue + 1 late while waiting)
    assert groups["progress"].score == pytest.approx(20 * 2 / 7)
    assert "= 20 × 2 / 7 = 5,71" in groups["progress"].formula
    assert groups["satisfaction"].score == pytest.approx(9.0)
    assert groups["online"].score == pytest.approx(11 * 2 / 11)
    # Sở Nội vụ's procedure charges no fee: its online-payment half has nothing to score (the commune's
    # is scored in the test below).
    assert "không có hồ sơ phải nộp phí" in groups["online"].reason
    assert groups["digitisation"].score == 0
    assert scores[SO].total == pytest.approx(20 * 2 / 7 + 9 + 2)
    assert scores[SO].points_with_data == 18 + 20 + 22 + 11 + 18
    assert scores[XA].groups[-1].score is None  # no ratings at the commune


def test_the_online_payment_half_scores_the_dossiers_with_a_fee(ctx, officers):
    """QĐ 766, online group: 11 × online / received + 11 × paid online (by the moment) / with a fee due."""
    h = History(ctx, officers)
    h.receive("U", "2.000635", "2026-10-05 08:00", "online")  # paid online at once
    h.receive("V", "2.000635", "2026-10-06 08:00")  # paid in cash at the desk
    h.receive("W", "2.000635", "2026-10-07 08:00", "online")  # paid online on 26/10 only
    h.receive("X", "1.001193", "2026-10-08 08:00")  # free: not in the online-payment half
    gateway = DemoGateway()
    online = replace(
        ctx, settings=replace(ctx.settings, payment_gateway_url="https://cong.test", payment_merchant_id="M")
    )

    def pay_online(name: str, when: str) -> None:
        checkout = start_online_payment(
            online,
            h.codes[name],
            "0000",
            now=at(when),
            return_url="/r?ref=REF",
            callback_url="/c",
            gateway=gateway,
        )
        assert (
            settle_from_gateway(online, checkout.reference, at(when) + timedelta(minutes=2), gateway)
            == "paid"
        )

    pay_online("U", "2026-10-05 08:10")
    record_desk_payment(
        ctx,
        h.codes["V"],
        officers["xa.motcua"],
        amount=8000,
        method="cash",
        receipt_number="BL-1",
        now=at("2026-10-06 08:05"),
    )
    pay_online("W", "2026-10-26 09:00")

    def online_group(now: datetime) -> tuple[float, str]:
        with ctx.uow() as uow:
            scores = {x.agency_code: x for x in ind.qd766_scores(uow.session, OCTOBER, XA, now=now)}
        (group,) = [g for g in scores[XA].groups if g.key == "online"]
        assert group.points_with_data == 22 and not group.reason
        return group.score, group.formula

    # As of 20/10, W's fee is still due: 11 × 2 online / 4 received + 11 × 1 paid online / 3 with a fee.
    score, formula = online_group(at("2026-10-20 08:00"))
    assert score == pytest.approx(11 * 2 / 4 + 11 * 1 / 3) and "= 11 × 2 / 4 + 11 × 1 / 3 = " in formula
    score, formula = online_group(AFTERWARDS)
    assert score == pytest.approx(11 * 2 / 4 + 11 * 2 / 3) and "= 11 × 2 / 4 + 11 × 2 / 3 = " in formula


def test_step_indicator_shows_which_step_made_dossiers_late(ctx, scenario):
    cal = ctx.calendar
    with ctx.uow() as uow:
        s = uow.session
        rows = ind.step_indicators(s, OCTOBER, SO, now=AFTERWARDS)
        process_items = list(
            s.scalars(
                select(WorkItem).where(
                    WorkItem.task_id == "Task_Process",
                    WorkItem.completed_at >= OCTOBER.start,
                    WorkItem.completed_at < OCTOBER.end,
                )
            )
        )
    late = sum(1 for i in process_items if i.completed_at > cal.add_working_hours(i.created_at, 56))
    process = next(r for r in rows if r.step == "Task_Process")
    assert (process.items, process.late) == (8, late)  # C, D, E, G, H, K, L, R
    assert late >= 1 and process.late_share == late / 8
    assert all(r.items == r.early + r.on_time + r.late for r in rows)
    assert rows[0].late_share == max(r.late_share for r in rows)


def test_dashboard_data(ctx, scenario):
    now = at("2026-11-01 00:00")
    tz = ctx.calendar.tz
    with ctx.uow() as uow:
        s = uow.session
        overdue = [(r.agency_code, r.count) for r in ind.overdue_by_agency(s, now)]
        steps = [(r.agency_code, r.procedure_code, r.step, r.count) for r in ind.overdue_by_step(s, now)]
        oldest = [(x.code, x.overdue) for x in ind.oldest_open_dossiers(s, now, limit=3)]
        weeks = ind.received_per_week(s, date(2026, 10, 5), date(2026, 10, 11), tz)
        months = ind.on_time_by_month(s, date(2026, 9, 1), date(2026, 10, 31), tz)
    assert overdue == [(SO, 2)]  # M and J; R waits for its supplement
    assert steps == [(SO, "1.001806", "Task_Process", 2)]
    # R waits for a supplement, but it was asked after the due time: still shown late.
    assert oldest == [(scenario.codes["M"], True), (scenario.codes["J"], True), (scenario.codes["R"], True)]
    assert [(w.iso_week, w.online, w.in_person, w.postal) for w in weeks] == [("2026-W41", 2, 4, 1)]
    assert [(m.month, m.resolved, m.on_time) for m in months] == [("2026-09", 2, 2), ("2026-10", 7, 4)]


def test_dashboard_counts_a_dossier_recorded_late_even_after_its_clock_restarted(ctx, officers, scenario):
    h = scenario
    h.supplement("M", "2026-11-04 10:00", late_reason="Bổ sung xác minh")
    h.resume("M", "2026-11-06 09:00")  # a new legal due time in late November
    assert _by_code(ctx, h)["M"].due_at > at("2026-11-19 08:00")
    with ctx.uow() as uow:
        overdue = [
            (r.agency_code, r.count) for r in ind.overdue_by_agency(uow.session, at("2026-11-06 10:00"))
        ]
    assert overdue == [(SO, 2)]  # J past its due time, M late since 12/10 whatever its new due time


# --- exports -----------------------------------------------------------------------------


def test_xlsx_and_csv_hold_the_numbers_of_the_report(ctx, scenario, tmp_path):
    with ctx.uow() as uow:
        report = statistics_report(uow.session, OCTOBER, None, "agency", now=AFTERWARDS)
    book = load_workbook(io.BytesIO(xlsx_bytes(report)))
    sheet = book.active
    assert sheet["A2"].value == "TÌNH HÌNH, KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH"
    assert "Toàn tỉnh" in sheet["A3"].value and "01/10/2026" in sheet["A4"].value
    assert sheet["A5"].value == "Số liệu tính đến hết ngày 31/10/2026"
    merged = {str(r) for r in sheet.merged_cells.ranges}
    assert {
        f"C{HEADER_ROW}:F{HEADER_ROW}",
        f"G{HEADER_ROW}:L{HEADER_ROW}",
        f"M{HEADER_ROW}:O{HEADER_ROW}",
    } <= merged
    assert {f"A{HEADER_ROW}:A{HEADER_ROW + 1}", f"R{HEADER_ROW}:R{HEADER_ROW + 1}"} <= merged
    assert sheet.cell(HEADER_ROW, 3).value == "Tổng số hồ sơ tiếp nhận"
    assert sheet.cell(HEADER_ROW + 1, 6).value == "Từ kỳ trước chuyển sang"
    assert sheet.cell(HEADER_ROW + 1, 11).value == "Quá hạn, có văn bản xin lỗi"
    assert sheet.cell(HEADER_ROW + 1, 12).value == "Quá hạn, không có văn bản xin lỗi"
    assert sheet.cell(HEADER_ROW, 16).value == "Từ chối"

    def numbers(row: int) -> dict[str, int]:
        return {c.key: sheet.cell(row, FIRST_NUMBER_COLUMN + i).value for i, c in enumerate(COLUMNS)}

    for offset, row in enumerate(report.rows):
        assert sheet.cell(FIRST_DATA_ROW + offset, 2).value == row.label
        assert numbers(FIRST_DATA_ROW + offset) == row.counts
    total_row = FIRST_DATA_ROW + len(report.rows)
    assert sheet.cell(total_row, 2).value == "Tổng cộng"
    assert numbers(total_row) == report.total.counts

    lines = list(csv.reader(io.StringIO(csv_text(report))))
    assert lines[0][:3] == ["STT", "Cơ quan tiếp nhận", "Tổng số hồ sơ tiếp nhận - Tổng số"]
    assert "Số hồ sơ đã giải quyết - Quá hạn, không có văn bản xin lỗi" in lines[0]
    assert [int(x) for x in lines[-1][2:]] == [report.total.counts[k] for k in COLUMN_KEYS]
    assert len(lines) == len(report.rows) + 2
    assert "Số liệu tính đến hết ngày 31/10/2026" in format_table(report)


def test_report_command_prints_and_writes_the_workbook(ctx, scenario, tmp_path, monkeypatch):
    monkeypatch.setenv("MOTCUA_DATABASE_URL", ctx.settings.database_url)
    target = tmp_path / "bieu06.xlsx"
    table = tmp_path / "bieu06.csv"
    result = CliRunner().invoke(
        main, ["report", "--period", "2026-10", "--agency", SO, "--xlsx", str(target), "--csv", str(table)]
    )
    assert result.exit_code == 0, result.output
    assert "Sở Nội vụ" in result.output and "Việc làm" in result.output
    sheet = load_workbook(target).active
    assert sheet.cell(FIRST_DATA_ROW + 1, FIRST_NUMBER_COLUMN).value == 13  # the total row
    assert (
        table.read_text(encoding="utf-8-sig").splitlines()[-1].startswith(",Tổng cộng,13,2,9,2,4,1,1,2,1,1,")
    )
    bad = CliRunner().invoke(main, ["report", "--period", "2026-Q5"])
    assert bad.exit_code == 1 and "Kỳ báo cáo" in bad.output


def test_report_command_judges_the_current_period_as_of_the_moment_given(ctx, scenario, monkeypatch):
    monkeypatch.setenv("MOTCUA_DATABASE_URL", ctx.settings.database_url)
    early = CliRunner().invoke(
        main, ["report", "--period", "2026-10", "--agency", SO, "--now", "2026-10-16 12:00"]
    )
    assert early.exit_code == 0, early.output
    assert "Số liệu tính đến 12:00 ngày 16/10/2026" in early.output
    # As of 16/10 noon: G and I not received yet; B resolved; M, J, R and K past their legal due time,
    # C and D not yet due; E refused, F withdrawn, L and H waiting for a supplement.
    total = [int(x) for x in early.output.splitlines()[-1].split()[2:]]
    assert total == [11, 1, 8, 2, 1, 1, 0, 0, 0, 0, 6, 2, 4, 1, 1, 2]
    bad = CliRunner().invoke(main, ["report", "--period", "2026-10", "--now", "hôm qua"])
    assert bad.exit_code == 2 and "ISO" in bad.output


# --- identities and history over random histories ----------------------------------------

PERIODS = st.one_of(
    st.sampled_from(["2026-09", "2026-10", "2026-11", "2026-12", "2026-Q3", "2026-Q4", "2026-H2", "2026"]),
    st.tuples(st.dates(date(2026, 8, 25), date(2027, 1, 10)), st.integers(0, 60)).map(
        lambda x: f"{x[0]:%Y-%m-%d}..{x[0] + timedelta(days=x[1]):%Y-%m-%d}"
    ),
)
INTENTS = st.sampled_from(["step", "step", "step", "slow", "supplement", "refuse", "withdraw", "letter"])
DOSSIERS = st.lists(
    st.tuples(
        st.sampled_from(["1.001806", "1.001193", "NA.3854"]),
        st.integers(0, 60 * 8),  # working hours after 1/9/2026
        st.sampled_from(["online", "in_person", "postal"]),
        st.lists(INTENTS, max_size=10),
    ),
    min_size=1,
    max_size=5,
)
HORIZON = at("2026-12-31 17:00")
COUNTED_HAND_OVER = "counted-hand-over"


class Simulation:
    """Random dossiers acted on in time order through the service functions."""

    def __init__(self, ctx: Context, officers: Officers, rng: random.Random) -> None:
        self.ctx = ctx
        self.officers = officers
        self.rng = rng
        self.by_role = officers_by_role(ctx)
        self.cal = ctx.calendar
        self.queue: list[tuple[datetime, int]] = []
        self.dossiers: list[dict] = []

    def add(self, procedure: str, received: datetime, channel: str, intents: list[str]) -> None:
        self.dossiers.append(
            {"procedure": procedure, "channel": channel, "intents": list(intents), "code": None}
        )
        heapq.heappush(self.queue, (received, len(self.dossiers) - 1))

    def later(self, when: datetime, hours: float) -> datetime:
        return self.cal.add_working_hours(when, max(hours, 0.05))

    def run_until(self, moment: datetime) -> None:
        """Act on every event at or before `moment`."""
        while self.queue and self.queue[0][0] <= moment:
            when, index = heapq.heappop(self.queue)
            following = self.act(self.dossiers[index], when)
            if following is not None and following <= HORIZON:
                heapq.heappush(self.queue, (following, index))

    def act(self, d: dict, when: datetime) -> datetime | None:
        """One action on one dossier at `when`; returns when it acts next (None: finished)."""
        if d["code"] is None:
            receipt = svc.receive_dossier(
                self.ctx,
                procedure_code=d["procedure"],
                applicant=svc.Applicant(name="Người nộp ngẫu nhiên"),
                channel=d["channel"],
                officer_id=self.officers[DESK_OF[d["procedure"]]],
                now=when,
                no_contact=True,
            )
            d["code"], d["id"] = receipt.code, receipt.dossier_id
            return self.later(when, self.rng.uniform(0.2, 3))
        with self.ctx.uow() as uow:
            dossier = uow.session.get(Dossier, d["id"])
            status, agency_id = dossier.status, dossier.agency_id
            has_letter = uow.session.scalar(
                select(ApologyLetter.id).where(ApologyLetter.dossier_id == d["id"])
            )
            due, appointment = dossier.due_at, dossier.appointment_at
        if status not in ("processing", "supplement", "result_ready"):
            return None
        desk = self.by_role[(agency_id, "desk")]
        if status == "supplement":
            svc.resume(self.ctx, d["code"], desk, when)
            return self.later(when, self.rng.uniform(0.5, 6))
        intent = d["intents"].pop(0) if d["intents"] else "step"
        items = [i for i in open_items(self.ctx, d["id"]) if i.kind != "supplement"]
        item = items[0]
        officer = self.by_role[(item.agency_id, item.role)]
        if item.kind == "return":
            svc.return_result(self.ctx, item.id, officer, collected_by="Người nộp", now=when)
            return self.later(when, 1)
        if intent == "withdraw":
            svc.withdraw(self.ctx, d["code"], desk, reason="Xin rút", now=when)
            return None
        if intent == "letter" and not has_letter:
            new_due = self.later(max(when, due, appointment or due), 24)
            try:
                letter_id = apology.create_draft_apology(self.ctx, d["code"], desk, when, new_due=new_due)
            except InvalidInput:
                # Not late and the remaining steps still fit: no letter yet; work slowly, ask again.
                d["intents"].insert(0, "letter")
                intent, letter_id = "slow", None
            if letter_id is not None:
                with self.ctx.uow() as uow:
                    fault = uow.session.get(ApologyLetter, letter_id).agency_id
                apology.issue_apology(self.ctx, letter_id, self.by_role[(fault, "leader")], when)
                return self.later(when, self.rng.uniform(0.5, 4))
        with self.ctx.uow() as uow:
            dossier = uow.session.get(Dossier, d["id"])
            values = (
                svc.compiled_process(self.ctx, uow.session, dossier.process_version_id)
                .model.steps[item.task_id]
                .outcome_values()
            )
        if intent in ("supplement", "refuse") and intent not in values:
            d["intents"].insert(0, intent)  # at the first step that allows it
            intent = "step"
        if intent == "supplement":
            svc.request_supplement(
                self.ctx,
                item.id,
                officer,
                missing=["Giấy tờ"],
                reason="Thiếu",
                now=when,
                late_reason="Phát hiện muộn",
            )
            return self.later(when, self.rng.uniform(2, 60))
        if intent == "refuse":
            svc.refuse(self.ctx, item.id, officer, reason="Không đủ điều kiện", now=when)
            return self.later(when, self.rng.uniform(0.5, 8))
        outcome = next((v for v in values if v not in SKIPPED_OUTCOMES), None)
        svc.complete(self.ctx, item.id, officer, now=when, outcome=outcome)
        allotted = float(item.allotted_hours or 1)
        if intent == "slow":  # well past the step's allotment, often past the legal due time
            return self.later(when, allotted * self.rng.uniform(1.5, 6.0) + self.rng.uniform(0, 40))
        return self.later(when, allotted * self.rng.uniform(0.1, 0.9))


def _counted_hand_over(ctx: Context) -> None:
    """The birth registration counts its hand-over step, so its results are judged when handed over."""
    bpmn = (Path(__file__).parents[1] / "workflows" / "bpmn" / "birth-registration.bpmn").read_text()
    counted = bpmn.replace(
        '<mc:sla hours="1" counted="false"/>\n        <mc:step kind="return"/>',
        '<mc:sla hours="1" counted="true"/>\n        <mc:step kind="return"/>',
    )
    with ctx.uow() as uow:
        procedure = uow.session.scalars(select(Procedure).where(Procedure.code == "1.001193")).one()
        activate_version(
            uow.session,
            procedure,
            counted,
            filename="birth-registration.bpmn",
            decision_number="99/QĐ-UBND",
            decision_date=date(2026, 8, 1),
            now=at("2026-08-01 08:00"),
        )
        uow.commit()


def _numbers(ctx: Context, period, now: datetime) -> dict:
    """The province's views and each agency's, as of `now`."""
    with ctx.uow() as uow:
        province = statistics_views(uow.session, period, now=now)
        agencies = {
            r.key: statistics_views(uow.session, period, r.key, now=now) for r in province["agency"].rows
        }
    return {"province": province, **agencies}


def _indicators(ctx: Context, period, now: datetime) -> list[dict]:
    """The indicator counts of every agency and the province, as of `now`."""
    with ctx.uow() as uow:
        return [asdict(c) for c in ind.agency_counts(uow.session, period, now=now)]


def _flat(numbers: dict) -> dict:
    """Every row of every view of every scope, by (scope, grouping, row)."""
    return {
        (scope, group_by, row.key): row.counts
        for scope, views in numbers.items()
        for group_by, view in views.items()
        for row in [*view.rows, view.total]
    }


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    histories=DOSSIERS,
    periods=st.lists(PERIODS, min_size=1, max_size=3),
    checkpoints=st.lists(st.integers(0, 125 * 24), min_size=1, max_size=3),
    seed=st.integers(0, 10**6),
)
def test_identities_hold_and_history_never_changes(ctx, officers, histories, periods, checkpoints, seed):
    """Random histories with supplements (some late), letters (before and after the due time) and
    hand-overs: every view keeps the identities, and a report taken at any moment is the same when
    recomputed later for that moment."""
    _counted_hand_over(ctx)
    sim = Simulation(ctx, officers, random.Random(seed))
    for procedure, hours, channel, intents in histories:
        sim.add(procedure, sim.cal.add_working_hours(at("2026-09-01 07:30"), hours), channel, intents)
    moments = sorted(at("2026-09-01 00:00") + timedelta(hours=h) for h in checkpoints)
    taken = []
    for moment in moments:
        sim.run_until(moment)
        for text in periods:
            period = parse_period(text)
            taken.append(
                (period, moment, _flat(_numbers(ctx, period, moment)), _indicators(ctx, period, moment))
            )
    sim.run_until(HORIZON)
    for period, moment, seen, indicators_seen in taken:
        assert _flat(_numbers(ctx, period, moment)) == seen, (period.label, moment)
        assert _indicators(ctx, period, moment) == indicators_seen, (period.label, moment)
    for text in periods:
        period = parse_period(text)
        for now in (*moments, AFTERWARDS):
            found = _numbers(ctx, period, now)
            province = found.pop("province")
            for views in [province, *found.values()]:
                for group_by in GROUPINGS:
                    view = views[group_by]
                    for row in [*view.rows, view.total]:
                        assert identity_problems(row) == [], (text, now, group_by, row.key)
                    assert sum_rows(view.rows) == view.total.counts
                assert (
                    views["field"].total.counts == views["level"].total.counts == views["agency"].total.counts
                )
            assert sum_rows([a["field"].total for a in found.values()]) == province["field"].total.counts


def test_biểu_06_the_indicators_and_the_dashboard_agree_and_a_disagreement_is_named(
    ctx, scenario, monkeypatch
):
    from engine.statistics import agreement

    # A closed period, and the current one as of now (the dashboard is live, so "now" must be the
    # present of the recorded history): no number differs.
    current = parse_period("2027-01", VN)
    with ctx.uow() as uow:
        for period in (OCTOBER, current):
            for agency in (None, SO, XA):
                assert agreement.disagreements(uow.session, period, agency, now=AFTERWARDS) == []
        # A dashboard that counted differently would be named, not silently accepted.
        real = agreement.overdue_by_agency
        monkeypatch.setattr(
            agreement,
            "overdue_by_agency",
            lambda session, now: (
                [replace(r, count=r.count + 1) for r in real(session, now)]
                or [ind.OverdueCount(SO, "Sở Nội vụ", 1)]
            ),
        )
        found = agreement.disagreements(uow.session, current, SO, now=AFTERWARDS)
    assert len(found) == 1 and found[0].startswith("Tổng quan: hồ sơ quá hạn =")
