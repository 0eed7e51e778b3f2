"""A real organisation comes in from its own file: new officers get one-time passwords of their own and
must choose a password before working; a reset gives a new one-time password."""

from __future__ import annotations

import csv
import re

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from engine.accounts import change_password, reset_password, sign_in
from engine.catalogue.loader import DEMO_PASSWORD, load_organisation
from engine.errors import InvalidFields, InvalidInput, Unauthenticated
from models import Agency, Officer

ORGANISATION = """
[[agency]]
code = "000.02.30.H40"
name = "Ủy ban nhân dân xã Hòa Bình"
level = "commune"
parent = "000.00.00.H40"

[[officer]]
username = "hoabinh.motcua"
full_name = "Lò Thị Mai"
agency = "000.02.30.H40"
roles = ["desk"]

[[officer]]
username = "hoabinh.chutich"
full_name = "Hà Văn Sơn"
agency = "000.02.30.H40"
roles = ["leader"]

[[officer]]
username = "sonv.motcua"
full_name = "Nguyễn Thị Hồng"
agency = "000.00.12.H40"
roles = ["desk"]
"""


def officer(ctx, username: str) -> Officer:
    with ctx.uow() as uow:
        found = uow.session.scalars(select(Officer).where(Officer.username == username)).one()
        uow.session.expunge(found)
        return found


def import_file(ctx, tmp_path, text: str = ORGANISATION):
    path = tmp_path / "to-chuc.toml"
    path.write_text(text, encoding="utf-8")
    with ctx.uow() as uow:
        report = load_organisation(uow.session, path, password=None)
        uow.commit()
    return report


def test_new_officers_get_one_time_passwords_of_their_own_and_existing_ones_keep_theirs(
    ctx, tmp_path
) -> None:
    report = import_file(ctx, tmp_path)
    assert report.agencies == 1 and report.officers == 2
    assert set(report.passwords) == {"hoabinh.motcua", "hoabinh.chutich"}
    first, second = report.passwords.values()
    assert first != second and DEMO_PASSWORD not in (first, second) and len(first) >= 12
    with pytest.raises(Unauthenticated):
        sign_in(ctx, "hoabinh.motcua", DEMO_PASSWORD)
    signed_in = sign_in(ctx, "hoabinh.motcua", report.passwords["hoabinh.motcua"])
    assert signed_in.must_change_password
    assert not sign_in(ctx, "sonv.motcua", DEMO_PASSWORD).must_change_password  # untouched
    again = import_file(ctx, tmp_path)
    assert again.officers == 0 and again.passwords == {}


def test_an_entry_missing_a_key_is_named_and_nothing_is_created(ctx, tmp_path) -> None:
    broken = ORGANISATION.replace('full_name = "Hà Văn Sơn"\n', "")
    with pytest.raises(InvalidInput) as caught:
        import_file(ctx, tmp_path, broken)
    assert "cán bộ thứ 2 (hoabinh.chutich): thiếu full_name" in caught.value.message
    with ctx.uow() as uow:
        assert uow.session.scalars(select(Agency).where(Agency.code == "000.02.30.H40")).first() is None


def test_the_officer_replaces_the_one_time_password_with_their_own(ctx, tmp_path) -> None:
    given = import_file(ctx, tmp_path).passwords["hoabinh.motcua"]
    who = officer(ctx, "hoabinh.motcua")
    with pytest.raises(InvalidFields) as caught:
        change_password(ctx, who.id, "sai-mat-khau", "ngắn", "khác")
    assert set(caught.value.fields) == {"current_password", "new_password"}
    with pytest.raises(InvalidFields) as caught:
        change_password(ctx, who.id, given, "mat-khau-rieng-1", "mat-khau-rieng-2")
    assert set(caught.value.fields) == {"repeat_password"}
    state = change_password(ctx, who.id, given, "mat-khau-rieng-1", "mat-khau-rieng-1")
    assert not state.must_change_password and state.session_version > who.session_version
    assert not sign_in(ctx, "hoabinh.motcua", "mat-khau-rieng-1").must_change_password
    with pytest.raises(Unauthenticated):
        sign_in(ctx, "hoabinh.motcua", given)


def test_a_reset_gives_a_new_one_time_password_and_ends_every_session(ctx) -> None:
    before = officer(ctx, "sonv.motcua")
    given = reset_password(ctx, "sonv.motcua")
    after = officer(ctx, "sonv.motcua")
    assert after.must_change_password and after.session_version == before.session_version + 1
    assert sign_in(ctx, "sonv.motcua", given).must_change_password


def test_every_page_asks_for_an_own_password_first(ctx, web, app) -> None:
    given = reset_password(ctx, "sonv.motcua")
    web.login("sonv.motcua", given)
    inbox = web.get("/")
    assert inbox.status_code == 302 and inbox.location.endswith("/doi-mat-khau")
    assert web.get("/tra-cuu").status_code == 200  # the citizen's page stays open
    page = web.get("/doi-mat-khau").get_data(as_text=True)
    assert "mật khẩu dùng một lần" in page
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    wrong = web.http.post(
        "/doi-mat-khau",
        data={
            "csrf_token": token,
            "current_password": given,
            "new_password": "abc",
            "repeat_password": "abc",
        },
    )
    assert wrong.status_code == 422 and "ít nhất 10 ký tự" in wrong.get_data(as_text=True)
    done = web.http.post(
        "/doi-mat-khau",
        data={
            "csrf_token": token,
            "current_password": given,
            "new_password": "mat-khau-cua-hong",
            "repeat_password": "mat-khau-cua-hong",
        },
    )
    assert done.status_code == 302
    assert web.get("/").status_code == 200  # the session goes on with the new version


def test_the_command_line_writes_one_time_passwords_to_a_private_file(ctx, tmp_path, monkeypatch) -> None:
    from engine.cli import main

    source = tmp_path / "to-chuc.toml"
    source.write_text(ORGANISATION, encoding="utf-8")
    out = tmp_path / "mat-khau.csv"
    monkeypatch.setenv("MOTCUA_DATABASE_URL", ctx.settings.database_url)
    result = CliRunner().invoke(main, ["organisation", "import", str(source), "--passwords-out", str(out)])
    assert result.exit_code == 0, result.output
    assert "officers +2" in result.output and "hoabinh" not in result.output
    assert out.stat().st_mode & 0o077 == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert {r["username"] for r in rows} == {"hoabinh.motcua", "hoabinh.chutich"}
    assert sign_in(
        ctx,
        "hoabinh.chutich",
        rows[0 if rows[0]["username"] == "hoabinh.chutich" else 1]["one_time_password"],
    )
