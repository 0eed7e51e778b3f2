"""Legal scenarios (`motcua scenario run`): every file of scenarios/ holds, and the runner reports plainly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect, text

from config import Settings
from engine.cli import main
from engine.scenario import check_outcome, demo_usernames, load_scenario, run_scenario
from tests.conftest import PG_URL

SCENARIOS = sorted((Path(__file__).resolve().parent.parent / "scenarios").glob("*.toml"))
USERNAMES = demo_usernames(Settings().workflows_dir)
DOSSIER_KEYS = {
    "scenario",
    "dossier",
    "code",
    "status",
    "legal_due",
    "appointment",
    "result_class",
    "late",
    "late_at",
    "judged_at",
    "letters",
    "supplement_requests",
    "alerts",
    "errors",
}
REPORT_KEYS = {
    "at",
    "period",
    "agency",
    "received",
    "received_online",
    "received_in_person_post",
    "carried_over",
    "resolved",
    "resolved_early",
    "resolved_on_time",
    "resolved_late",
    "resolved_late_with_letter",
    "in_progress",
    "in_progress_not_due",
    "in_progress_overdue",
    "supplement",
    "refused",
    "withdrawn",
}

# One dossier of 1.001806: the specialist tries the head's step (refused, 403), the desk and the
# head work their steps; the expectations are wrong on purpose in two places.
SMALL = """
procedure = "1.001806"

[[event]]
at = "2026-11-23T08:00"
do = "receive"
by = "sonv.motcua"
phone = "0912345678"

[[event]]
at = "2026-11-23T09:00"
do = "complete"
by = "sonv.motcua"

[[event]]
at = "2026-11-23T09:30"
do = "complete"
by = "sonv.chuyenvien1"

[[event]]
at = "2026-11-23T10:00"
do = "complete"
by = "sonv.truongphong"

[[event]]
at = "2026-12-01T08:00"
do = "report"
period = "2026-11"
agency = "000.00.12.H40"

[expect.A]
legal_due = "2026-12-08T08:00"
status = "returned"
errors_count = 1

[[expect_report]]
event = 5
received = 1
in_progress = 2
"""


def write(tmp_path: Path, body: str, name: str = "scenario.toml") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def run_cli(*args: str):
    return CliRunner().invoke(main, ["scenario", "run", *args])


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_each_legal_scenario_holds(make_ctx, path: Path) -> None:
    scenario = load_scenario(path, usernames=USERNAMES)
    ctx = make_ctx(**scenario.settings)
    outcome = run_scenario(ctx, scenario)
    assert check_outcome(outcome, ctx.calendar.tz) == []
    # Biểu 06, the indicators and the dashboard agree for every report the scenario takes.
    assert [(r["event"], r["disagreements"]) for r in outcome.reports if r["disagreements"]] == []


def test_the_shipped_scenarios_cover_the_ten_rules() -> None:
    assert len(SCENARIOS) >= 10
    for path in SCENARIOS:
        scenario = load_scenario(path, usernames=USERNAMES)
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# Rule "), f"{path.name} must open with the rule it replays"
        assert scenario.expect or scenario.expect_report, f"{path.name} expects nothing"


def test_a_run_prints_dossier_and_report_lines_records_refusals_and_diffs_mismatches(tmp_path: Path) -> None:
    path = write(tmp_path, SMALL)

    plain = run_cli(str(path))
    assert plain.exit_code == 0, plain.output
    lines = [json.loads(line) for line in plain.stdout.splitlines()]
    dossier, report = lines
    assert set(dossier) >= DOSSIER_KEYS
    assert (dossier["dossier"], dossier["status"], dossier["legal_due"]) == (
        "A",
        "processing",
        "2026-12-08T08:00+07:00",
    )
    assert dossier["code"].startswith("000.00.12.H40-261123-")
    # The specialist cannot do the head's step: recorded with the event number, and the run went on.
    (error,) = dossier["errors"]
    assert (error["event"], error["status"]) == (3, 403)
    assert "Trưởng phòng" in error["message"] or "vai trò" in error["message"]
    assert [s["step"] for s in dossier["steps"]] == ["Task_Receive", "Task_Assign", "Task_Process"]
    assert set(report) == {"scenario", "report"}
    assert set(report["report"]) >= REPORT_KEYS
    assert (report["report"]["received"], report["report"]["in_progress"]) == (1, 1)

    checked = run_cli("--check", str(path))
    assert checked.exit_code == 1
    assert checked.stdout == plain.stdout
    assert f'{path}: dossier A: status: expected "returned", got "processing"' in checked.stderr
    assert f"{path}: report of event 5: in_progress: expected 2, got 1" in checked.stderr
    assert "legal_due" not in checked.stderr and "errors_count" not in checked.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('do = "complete"\nby = "sonv.motcua"', 'do = "finish"\nby = "sonv.motcua"'),
            "event 2: unknown `do",
        ),
        (('do = "receive"\nby = "sonv.motcua"', 'do = "receive"'), "event 1 (receive): missing key `by`"),
        (('at = "2026-11-23T09:30"', 'at = "23/11/2026 09:30"'), "event 3 (complete): key `at`"),
        (('at = "2026-11-23T09:30"', 'at = "2026-11-22T09:30"'), "event 3 (complete): key `at`"),
        (('by = "sonv.chuyenvien1"', 'by = "sonv.nobody"'), "event 3 (complete): key `by`: no officer"),
        (('period = "2026-11"', 'period = "2026-13"'), "event 5 (report): key `period`"),
        (("status = ", "state = "), "[expect.A]: unknown key `state`"),
        (("event = 5", "event = 4"), "expect_report 1: event 4 is not a report event"),
        (
            ('procedure = "1.001806"', 'procedure = "1.001806"\n[settings]\nsupplement_mode = "sometimes"'),
            "settings: MOTCUA_SUPPLEMENT_MODE must be one of",
        ),
        (
            ('procedure = "1.001806"', 'procedure = "1.001806"\n[settings]\ndatabase_url = "sqlite://"'),
            "settings: unknown or fixed setting `database_url`",
        ),
        (
            ('do = "complete"\nby = "sonv.motcua"', 'do = "complete"\nby = "sonv.motcua"\noutcom = "x"'),
            "event 2 (complete): unknown key `outcom`",
        ),
    ],
)
def test_an_invalid_file_exits_2_naming_the_event_and_the_key(tmp_path: Path, change, message: str) -> None:
    old, new = change
    assert old in SMALL
    path = write(tmp_path, SMALL.replace(old, new, 1))
    result = run_cli(str(path))
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""


PAUSED = """
procedure = "1.001806"
[settings]
supplement_mode = "pause"

[[event]]
at = "2026-11-23T08:00"
do = "receive"
by = "sonv.motcua"
[[event]]
at = "2026-11-23T09:00"
do = "complete"
by = "sonv.motcua"
[[event]]
at = "2026-11-23T10:00"
do = "complete"
by = "sonv.truongphong"
[[event]]
at = "2026-11-24T08:00"
do = "claim"
by = "sonv.chuyenvien2"
[[event]]
at = "2026-11-25T09:00"
do = "supplement"
by = "sonv.chuyenvien1"
[[event]]
at = "2026-11-25T09:00"
do = "supplement"
by = "sonv.chuyenvien2"
[[event]]
at = "2026-11-26T09:00"
do = "resume"
by = "sonv.motcua"
[[event]]
at = "2026-11-27T09:00"
do = "withdraw"
by = "sonv.motcua"
"""


def test_a_file_sets_its_own_settings_and_claims_stand(make_ctx, tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, PAUSED), usernames=USERNAMES)
    assert scenario.settings == {"supplement_mode": "pause"}
    ctx = make_ctx(**scenario.settings)
    (line,) = run_scenario(ctx, scenario).dossiers
    # The step claimed by one specialist is not taken over by the other one.
    (error,) = line["errors"]
    assert (error["event"], error["status"]) == (5, 403)
    # Paused, not restarted: the legal due time moves by the 8 working hours the clock stood still.
    assert (line["original_legal_due"], line["legal_due"]) == (
        "2026-12-08T08:00+07:00",
        "2026-12-09T08:00+07:00",
    )
    assert line["supplement_requests"] == [
        {"at": "2026-11-25T09:00+07:00", "late": False, "resumed_at": "2026-11-26T09:00+07:00"}
    ]
    assert (line["status"], line["result_class"], line["finished_at"]) == (
        "withdrawn",
        None,
        "2026-11-27T09:00+07:00",
    )


def test_several_dossiers_need_their_labels(tmp_path: Path) -> None:
    body = SMALL.replace(
        'phone = "0912345678"',
        'phone = "0912345678"\n\n[[event]]\nat = "2026-11-23T08:30"\ndo = "receive"\nby = "sonv.motcua"',
    )
    result = run_cli(str(write(tmp_path, body)))
    assert result.exit_code == 2
    assert "event 1 (receive): missing key `dossier` (the scenario has several dossiers)" in result.stderr


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "procedure = \n")
    result = run_cli(str(path))
    assert result.exit_code == 2
    assert f"{path}: not valid TOML" in result.stderr


def test_with_db_the_schema_is_dropped_and_rebuilt_before_the_run(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'given.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE leftover (id INTEGER)"))
    engine.dispose()
    result = run_cli("--db", url, "--check", str(SCENARIOS[0]), str(SCENARIOS[-1]))
    assert result.exit_code == 0, result.output
    assert f"{SCENARIOS[0]}: ok" in result.stderr
    engine = create_engine(url)
    assert "leftover" not in inspect(engine).get_table_names()
    engine.dispose()


@pytest.mark.skipif(not PG_URL, reason="MOTCUA_TEST_DATABASE_URL is not set")
def test_with_a_postgresql_db_the_scenarios_hold(tmp_path: Path) -> None:
    result = run_cli("--db", PG_URL, "--check", str(SCENARIOS[0]))
    assert result.exit_code == 0, result.output
