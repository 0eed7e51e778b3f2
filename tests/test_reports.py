"""Biểu 06, the indicators and the dashboard data, on histories made by the service functions."""

from __future__ import annotations

import csv
import io
import random
from datetime import date, datetime, timedelta

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from sqlalchemy import select

from bench.generate import Environment, plan_dossier, replay
from engine.cli import main
from engine.context import Context
from engine.errors import InvalidInput, NotFound
from engine.runtime import dossiers as svc
from engine.statistics import indicators as ind
from engine.statistics.periods import parse_period
from engine.statistics.report_export import (
    FIRST_DATA_ROW,
    FIRST_NUMBER_COLUMN,
    HEADER_ROW,
    csv_text,
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
from models import Dossier, Officer, Rating, WorkItem
from tests.conftest import VN, Officers, at, open_items

SO = "000.00.12.H40"  # Sở Nội vụ: receives 1.001806 (Việc làm, province level)
XA = "000.01.25.H40"  # the commune: receives 1.001193 (Hộ tịch, commune level)
ROLES = {
    SO: {
        "desk": "sonv.motcua",
        "head": "sonv.truongphong",
        "specialist": "sonv.chuyenvien1",
        "leader": "sonv.lanhdao",
    }
    | {"clerk": "sonv.vanthu"},
    XA: {"desk": "xa.motcua", "head": "xa.truongphong", "specialist": "xa.chuyenvien", "leader": "xa.lanhdao"}
    | {"clerk": "xa.vanthu"},
}
DEFAULT_OUTCOMES = {
    "Task_Process": "forward",
    "Task_Record": "forward",
    "Task_Review": "submit",
    "Task_Approve": "approve",
}
OCTOBER = parse_period("2026-10")


class History:
    """Drives dossiers through the service functions with explicit moments."""

    def __init__(self, ctx: Context, officers: Officers) -> None:
        self.ctx = ctx
        self.officers = officers
        with ctx.uow() as uow:
            agency_of = {o.username: o.agency_id for o in uow.session.scalars(select(Officer))}
        self.agency_code = {agency_of["sonv.motcua"]: SO, agency_of["xa.motcua"]: XA}
        self.codes: dict[str, str] = {}
        self.ids: dict[str, int] = {}

    def receive(self, name: str, procedure: str, when: str, channel: str = "in_person") -> None:
        desk = "sonv.motcua" if procedure == "1.001806" else "xa.motcua"
        receipt = svc.receive_dossier(
            self.ctx,
            procedure_code=procedure,
            applicant=svc.Applicant(name=f"Người nộp {name}"),
            channel=channel,
            officer_id=self.officers[desk],
            now=at(when),
        )
        self.codes[name], self.ids[name] = receipt.code, receipt.dossier_id

    def _item(self, name: str) -> tuple[WorkItem, int]:
        (item,) = open_items(self.ctx, self.ids[name])
        return item, self.officers[ROLES[self.agency_code[item.agency_id]][item.role]]

    def steps(self, name: str, *moments: str) -> None:
        """Complete the open step at each moment, with the usual outcome."""
        for when in moments:
            item, officer = self._item(name)
            svc.complete(self.ctx, item.id, officer, now=at(when), outcome=DEFAULT_OUTCOMES.get(item.task_id))

    def supplement(self, name: str, when: str) -> None:
        item, officer = self._item(name)
        svc.request_supplement(
            self.ctx, item.id, officer, missing=["Bản sao giấy tờ"], reason="Thiếu", now=at(when)
        )

    def refuse(self, name: str, when: str) -> None:
        item, officer = self._item(name)
        svc.refuse(self.ctx, item.id, officer, reason="Không đủ điều kiện", now=at(when))

    def hand_over(self, name: str, when: str) -> None:
        item, officer = self._item(name)
        svc.return_result(self.ctx, item.id, officer, collected_by="Người nộp", now=at(when))


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
    h.receive("K", "1.001806", "2026-10-02 08:00")  # apology: due 16/10 moved to 23/10, done 22/10
    h.steps("K", "2026-10-02 09:00", "2026-10-02 10:00")
    svc.move_appointment(
        ctx,
        h.codes["K"],
        officers["sonv.motcua"],
        new_due=at("2026-10-23 17:00"),
        reason="Cần xác minh",
        now=at("2026-10-14 10:00"),
    )
    h.steps("K", "2026-10-21 09:00", "2026-10-21 10:00", "2026-10-21 11:00", "2026-10-22 10:00")
    h.receive("C", "1.001806", "2026-10-05 08:00", "online")  # due 19/10 08:00, done 19/10 07:45
    h.steps("C", "2026-10-05 09:00", "2026-10-05 10:00", "2026-10-14 09:00", "2026-10-15 09:00")
    h.steps("C", "2026-10-16 09:00", "2026-10-19 07:45")
    h.receive("D", "1.001806", "2026-10-05 09:00")  # due 19/10 09:00, done 20/10: late
    h.steps("D", "2026-10-05 10:00", "2026-10-05 11:00", "2026-10-15 09:00", "2026-10-15 10:00")
    h.steps("D", "2026-10-15 11:00", "2026-10-20 10:00")
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
    svc.resume(ctx, h.codes["H"], officers["sonv.motcua"], at("2026-11-03 09:00"))
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
    received_total=11,
    received_online=2,
    received_in_person=7,
    received_carried=2,
    resolved_total=4,
    resolved_early=2,
    resolved_on_time=1,
    resolved_late=1,
    in_progress_total=3,
    in_progress_not_due=1,
    in_progress_overdue=2,
    refused=1,
    withdrawn=1,
    supplement=2,
)
XA_OCTOBER = counts(
    received_total=3,
    received_online=1,
    received_in_person=1,
    received_carried=1,
    resolved_total=3,
    resolved_on_time=2,
    resolved_late=1,
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
        "K": "early",
        "N": "on_time",
        "O": "late",
        "P": "on_time",
    }
    assert d["E"].status == "refused" and d["F"].status == "withdrawn" and d["G"].status == "supplement"
    assert d["K"].appointment_moved_at is not None
    with ctx.uow() as uow:
        views = statistics_views(uow.session, OCTOBER)
        so_only = statistics_report(uow.session, OCTOBER, SO, "field")
    by_field = {r.key: r.counts for r in views["field"].rows}
    by_level = {r.key: r.counts for r in views["level"].rows}
    by_agency = {r.key: r.counts for r in views["agency"].rows}
    assert by_field == {"Việc làm": SO_OCTOBER, "Hộ tịch": XA_OCTOBER}
    assert by_level == {"province": SO_OCTOBER, "commune": XA_OCTOBER}
    assert by_agency == {SO: SO_OCTOBER, XA: XA_OCTOBER}
    expected_total = {k: SO_OCTOBER[k] + XA_OCTOBER[k] for k in COLUMN_KEYS}
    for view in views.values():
        assert view.total.counts == expected_total
    assert [(r.key, r.counts) for r in so_only.rows] == [("Việc làm", SO_OCTOBER)]
    assert so_only.total.counts == SO_OCTOBER
    assert so_only.agency_name == "Sở Nội vụ"


def test_every_number_of_the_report_links_to_exactly_its_dossiers(ctx, scenario):
    with ctx.uow() as uow:
        s = uow.session
        views = [(None, v) for v in statistics_views(s, OCTOBER).values()]
        views.append((SO, statistics_report(s, OCTOBER, SO, "field")))
        for agency, view in views:
            for row in [*view.rows, view.total]:
                for column in COLUMN_KEYS:
                    listed = report_cell_dossiers(
                        s, OCTOBER, agency, view.group_by, row.key, column, limit=1000
                    )
                    assert len(listed) == row.counts[column], (agency, view.group_by, row.key, column)
            total = report_cell_count(s, OCTOBER, agency, view.group_by, None, "received_total")
            assert total == view.total.counts["received_total"]
        waiting = report_cell_dossiers(s, OCTOBER, None, "field", "Việc làm", "supplement")
        late = report_cell_dossiers(s, OCTOBER, SO, "agency", SO, "in_progress_overdue")
    assert {x.code for x in waiting} == {scenario.codes["G"], scenario.codes["H"]}
    assert [x.code for x in late] == [scenario.codes["M"], scenario.codes["J"]]  # oldest receipt first


def test_a_report_names_a_bad_period_grouping_column_or_agency(ctx):
    with pytest.raises(InvalidInput) as bad_period:
        parse_period("2026-13")
    assert bad_period.value.field == "period"
    with pytest.raises(InvalidInput):
        parse_period("quý 3")
    with ctx.uow() as uow:
        with pytest.raises(InvalidInput) as bad_group:
            statistics_report(uow.session, OCTOBER, None, "district")
        assert bad_group.value.field == "group_by"
        with pytest.raises(InvalidInput) as bad_column:
            report_cell_dossiers(uow.session, OCTOBER, None, "field", None, "late")
        assert bad_column.value.field == "column"
        with pytest.raises(NotFound):
            statistics_report(uow.session, OCTOBER, "000.99.99.H40")


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
            r.key: (r.resolved, r.early, r.on_time, r.late, r.rate) for r in ind.on_time_rates(s, OCTOBER)
        }
        by_procedure = {r.key: r.rate for r in ind.on_time_rates(s, OCTOBER, by="procedure")}
        so_counts, xa_counts, province = ind.agency_counts(s, OCTOBER)
        scores = {x.agency_code: x for x in ind.qd766_scores(s, OCTOBER)}
    assert rates == {SO: (4, 2, 1, 1, 0.75), XA: (3, 0, 2, 1, 2 / 3)}
    assert by_procedure == {"1.001806": 0.75, "1.001193": 2 / 3}
    assert (so_counts.agency_code, so_counts.received, so_counts.online) == (SO, 9, 2)
    assert (so_counts.late, so_counts.apologised, so_counts.late_without_apology) == (3, 1, 3)
    assert (so_counts.rated, so_counts.satisfied, so_counts.satisfaction) == (2, 1, 0.5)
    assert (province.agency_code, province.received, province.resolved, province.overdue) == (None, 11, 7, 2)
    assert xa_counts.online_share == 1 / 2
    groups = {g.key: g for g in scores[SO].groups}
    assert groups["publicity"].score is None and "Chưa có dữ liệu" in groups["publicity"].reason
    assert groups["progress"].score == pytest.approx(10.0)  # 20 x 3 on time / (4 resolved + 2 overdue)
    assert "20 × 3 / 6 = 10,00" in groups["progress"].formula
    assert groups["satisfaction"].score == pytest.approx(9.0)
    assert (
        groups["online"].score == pytest.approx(11 * 2 / 9) and "chưa có dữ liệu" in groups["online"].reason
    )
    assert groups["digitisation"].score == 0
    assert scores[SO].total == pytest.approx(10 + 9 + 11 * 2 / 9)
    assert scores[SO].points_with_data == 20 + 22 + 11 + 18
    assert scores[XA].groups[-1].score is None  # no ratings at the commune


def test_step_indicator_shows_which_step_made_dossiers_late(ctx, scenario):
    cal = ctx.calendar
    with ctx.uow() as uow:
        s = uow.session
        rows = ind.step_indicators(s, OCTOBER, SO)
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
    assert (process.items, process.late) == (6, late)  # C, D, E, G, H, K
    assert late >= 1 and process.late_share == late / 6
    assert all(r.items == r.early + r.on_time + r.late for r in rows)
    assert rows[0].late_share == max(r.late_share for r in rows)


def test_dashboard_data(ctx, scenario):
    now = at("2026-11-01 00:00")
    tz = ctx.calendar.tz
    with ctx.uow() as uow:
        s = uow.session
        overdue = [(r.agency_code, r.count) for r in ind.overdue_by_agency(s, now)]
        steps = [(r.agency_code, r.procedure_code, r.step, r.count) for r in ind.overdue_by_step(s, now)]
        oldest = [x.code for x in ind.oldest_open_dossiers(s, limit=3)]
        weeks = ind.received_per_week(s, date(2026, 10, 5), date(2026, 10, 11), tz)
        months = ind.on_time_by_month(s, date(2026, 9, 1), date(2026, 10, 31), tz)
    assert overdue == [(SO, 2)]
    assert steps == [(SO, "1.001806", "Task_Process", 2)]
    assert oldest == [scenario.codes[n] for n in "MJH"]
    assert [(w.iso_week, w.online, w.in_person, w.postal) for w in weeks] == [("2026-W41", 2, 3, 1)]
    assert [(m.month, m.resolved, m.on_time) for m in months] == [("2026-09", 2, 2), ("2026-10", 7, 5)]


# --- exports -----------------------------------------------------------------------------


def test_xlsx_and_csv_hold_the_numbers_of_the_report(ctx, scenario, tmp_path):
    with ctx.uow() as uow:
        report = statistics_report(uow.session, OCTOBER, None, "agency")
    book = load_workbook(io.BytesIO(xlsx_bytes(report)))
    sheet = book.active
    assert sheet["A2"].value == "TÌNH HÌNH, KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH"
    assert "Toàn tỉnh" in sheet["A3"].value and "01/10/2026" in sheet["A4"].value
    merged = {str(r) for r in sheet.merged_cells.ranges}
    assert {
        f"C{HEADER_ROW}:F{HEADER_ROW}",
        f"G{HEADER_ROW}:J{HEADER_ROW}",
        f"K{HEADER_ROW}:M{HEADER_ROW}",
    } <= merged
    assert {f"A{HEADER_ROW}:A{HEADER_ROW + 1}", f"P{HEADER_ROW}:P{HEADER_ROW + 1}"} <= merged
    assert sheet.cell(HEADER_ROW, 3).value == "Tổng số hồ sơ tiếp nhận"
    assert sheet.cell(HEADER_ROW + 1, 6).value == "Từ kỳ trước chuyển sang"
    assert sheet.cell(HEADER_ROW, 14).value == "Từ chối"

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
    assert [int(x) for x in lines[-1][2:]] == [report.total.counts[k] for k in COLUMN_KEYS]
    assert len(lines) == len(report.rows) + 2


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
    assert sheet.cell(FIRST_DATA_ROW + 1, FIRST_NUMBER_COLUMN).value == 11  # the total row
    assert table.read_text(encoding="utf-8-sig").splitlines()[-1].startswith(",Tổng cộng,11,2,7,2,4,")
    bad = CliRunner().invoke(main, ["report", "--period", "2026-Q5"])
    assert bad.exit_code == 1 and "Kỳ báo cáo" in bad.output


# --- identities over random histories ----------------------------------------------------

PERIODS = st.one_of(
    st.sampled_from(["2026-09", "2026-10", "2026-11", "2026-12", "2026-Q3", "2026-Q4", "2026-H2", "2026"]),
    st.tuples(st.dates(date(2026, 8, 25), date(2027, 1, 10)), st.integers(0, 60)).map(
        lambda x: f"{x[0]:%Y-%m-%d}..{x[0] + timedelta(days=x[1]):%Y-%m-%d}"
    ),
)
DOSSIERS = st.lists(
    st.tuples(
        st.sampled_from(["1.001806", "1.001193", "NA.3854"]),
        st.integers(0, 90 * 8),  # working hours after 1/9/2026
        st.sampled_from(["online", "in_person", "postal"]),
        st.integers(0, 8),  # which path through the procedure
        st.booleans(),  # withdrawn
        st.booleans(),  # a step much slower than allotted
        st.booleans(),  # an apology first
    ),
    min_size=1,
    max_size=5,
)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(histories=DOSSIERS, periods=st.lists(PERIODS, min_size=1, max_size=4), seed=st.integers(0, 10**6))
def test_identities_hold_for_every_row_period_and_view(ctx, histories, periods, seed):
    env = _environment(ctx)
    rng = random.Random(seed)
    until = at("2026-12-15 17:00")
    for procedure, hours, channel, path, withdrawn, slow, apology in histories:
        names = sorted(env.procedures[procedure].templates)
        received = env.calendar.add_working_hours(at("2026-09-01 07:30"), hours)
        plan = plan_dossier(
            env,
            rng,
            procedure,
            received,
            channel,
            until,
            template_name=names[path % len(names)],
            withdraw=withdrawn and rng.random() < 0.5,
            slow=slow,
            apology=apology,
        )
        replay(env, plan)
    with ctx.uow() as uow:
        for text in periods:
            period = parse_period(text)
            province = statistics_views(uow.session, period)
            agencies = [statistics_views(uow.session, period, r.key) for r in province["agency"].rows]
            for views in [province, *agencies]:
                for group_by in GROUPINGS:
                    view = views[group_by]
                    for row in [*view.rows, view.total]:
                        assert identity_problems(row) == [], (text, group_by, row.key)
                    assert sum_rows(view.rows) == view.total.counts
                assert (
                    views["field"].total.counts == views["level"].total.counts == views["agency"].total.counts
                )
            assert sum_rows([a["field"].total for a in agencies]) == province["field"].total.counts


_ENVIRONMENTS: dict[int, Environment] = {}


def _environment(ctx: Context) -> Environment:
    # Templates run the workflow engine; build them once per test database.
    key = id(ctx)
    if key not in _ENVIRONMENTS:
        _ENVIRONMENTS.clear()
        _ENVIRONMENTS[key] = Environment(ctx)
    return _ENVIRONMENTS[key]
