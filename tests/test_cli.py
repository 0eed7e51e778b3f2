"""The `motcua` command as an operator uses it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from engine.catalogue.loader import load_catalogue
from engine.cli import main
from engine.errors import InvalidProcess
from models import ProcessVersion
from tests.conftest import at

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--received", "2026-02-13T10:00:00+07:00", "--days", "3"], "2026-02-25T10:00:00+07:00"),
        (["--received", "2026-04-28T15:30", "--days", "0"], "2026-04-29T17:00:00+07:00"),
        (
            ["--received", "2026-08-21T13:00", "--hours", "16"],
            "2026-08-24T11:30:00+07:00",
        ),  # Saturday 22/8 is worked
    ],
)
def test_calendar_due_prints_the_iso_due_time(args, expected):
    result = CliRunner().invoke(main, ["calendar", "due", *args])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == expected


def test_calendar_due_needs_exactly_one_of_days_or_hours():
    result = CliRunner().invoke(main, ["calendar", "due", "--received", "2026-04-28T15:30"])
    assert result.exit_code == 2
    assert "exactly one of --days or --hours" in result.output


def test_bpmn_check_accepts_the_samples():
    files = sorted(str(p) for p in (ROOT / "workflows" / "bpmn").glob("*.bpmn"))
    result = CliRunner().invoke(main, ["bpmn", "check", *files])
    assert result.exit_code == 0, result.output
    assert len(files) == 5 and result.output.count(": ok,") == len(files)
    assert "80 of 80 counted hours" in result.output
    # The sample drawn from a step table (workflows/tables/2.000635.csv) passes too.
    assert "2.000635.bpmn: ok, 7 steps, 7 of 8 counted hours" in result.output


def test_db_upgrade_load_and_demo_run_on_a_fresh_database(tmp_path, monkeypatch):
    monkeypatch.setenv("MOTCUA_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    first = runner.invoke(main, ["load"])
    assert first.exit_code == 0, first.output
    assert "versions activated: 1.001806, NA.3854, 1.001193" in first.output
    again = runner.invoke(main, ["load"])
    assert "versions activated: none (unchanged)" in again.output
    demo = runner.invoke(main, ["demo", "--count", "12", "--seed", "3"])
    assert demo.exit_code == 0, demo.output
    assert demo.output.startswith("12 dossiers in")
    assert "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ" in demo.output


def test_loading_an_invalid_procedure_names_the_line_and_changes_nothing(ctx, tmp_path):
    bpmn = (ROOT / "workflows" / "bpmn" / "1.001806.bpmn").read_text(encoding="utf-8")
    broken = bpmn.replace('<mc:sla hours="56" counted="true"/>', '<mc:sla hours="many" counted="true"/>')
    line = broken.splitlines().index(next(x for x in broken.splitlines() if 'hours="many"' in x)) + 1
    (tmp_path / "1.001806.bpmn").write_text(broken, encoding="utf-8")
    catalogue = (ROOT / "workflows" / "bpmn" / "catalogue.toml").read_text(encoding="utf-8")
    (tmp_path / "catalogue.toml").write_text(catalogue, encoding="utf-8")
    for name in ("nghe-an-allowance.bpmn", "birth-registration.bpmn"):
        (tmp_path / name).write_text((ROOT / "workflows" / "bpmn" / name).read_text(encoding="utf-8"))
    with ctx.uow() as uow:
        before = uow.session.scalar(select(func.count()).select_from(ProcessVersion))
    with pytest.raises(InvalidProcess) as err, ctx.uow() as uow:
        load_catalogue(uow.session, tmp_path / "catalogue.toml", at("2026-11-23 08:00"))
        uow.commit()
    assert err.value.message.startswith("Quy trình workflows/bpmn/1.001806.bpmn không hợp lệ:")
    assert (
        f"1.001806.bpmn:{line}: Thẩm định hồ sơ (Task_Process): số giờ được giao 'many'" in err.value.message
    )
    with ctx.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(ProcessVersion)) == before


def test_password_and_token_commands_change_what_sign_in_accepts(tmp_path, monkeypatch):
    from engine.accounts import authenticate, officer_for_token
    from engine.context import Context
    from engine.errors import Unauthenticated
    from web.cli import main as web_main

    monkeypatch.setenv("MOTCUA_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    runner = CliRunner()
    assert runner.invoke(web_main, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(web_main, ["load"]).exit_code == 0
    short = runner.invoke(web_main, ["password", "sonv.motcua", "--password", "short"])
    assert short.exit_code == 1 and "ít nhất 10 ký tự" in short.output
    changed = runner.invoke(web_main, ["password", "sonv.motcua", "--password", "một-mật-khẩu-dài"])
    assert changed.exit_code == 0, changed.output
    token = runner.invoke(web_main, ["token", "create", "sonv.motcua", "--name", "portal"])
    assert token.exit_code == 0 and token.output.startswith("mc_")
    ctx = Context.from_settings()
    with ctx.uow() as uow:
        assert authenticate(uow.session, "sonv.motcua", "một-mật-khẩu-dài").username == "sonv.motcua"
        with pytest.raises(Unauthenticated):
            authenticate(uow.session, "sonv.motcua", "motcua-demo")
        assert officer_for_token(uow.session, token.output.strip()).username == "sonv.motcua"
    ctx.db.dispose()
