"""API tokens as an operator and an administrator revoke them: `motcua token list` and `revoke`,
and the administrator's page; a revoked token stops working at once."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from engine.accounts import api_tokens, issue_token, revoke_token_by_id
from engine.errors import Forbidden
from models import Officer
from tests.conftest import LOADED_AT


@pytest.fixture
def cli(ctx, monkeypatch):
    """Run `motcua` against the test's database."""
    from web.cli import main

    monkeypatch.setenv("MOTCUA_DATABASE_URL", ctx.settings.database_url)

    def run(*args: str):
        return CliRunner().invoke(main, list(args))

    return run


def make_admin(ctx, username: str) -> None:
    with ctx.uow() as uow:
        officer = uow.session.scalars(select(Officer).where(Officer.username == username)).one()
        officer.roles = [*officer.roles, "admin"]
        uow.commit()


def api_status(app, token: str) -> int:
    return (
        app.test_client().get("/api/v1/work-items", headers={"Authorization": f"Bearer {token}"}).status_code
    )


def test_motcua_token_list_shows_each_token_without_its_secret(ctx, cli) -> None:
    portal = issue_token(ctx, "sonv.motcua", "cong-dich-vu-cong", LOADED_AT)
    issue_token(ctx, "sonv.chuyenvien1", "bao-cao", LOADED_AT)
    every = cli("token", "list")
    assert every.exit_code == 0, every.output
    assert "cong-dich-vu-cong" in every.output and "bao-cao" in every.output
    assert portal not in every.output
    assert "in force" in every.output and "created 01/11/2026 08:00" in every.output
    one = cli("token", "list", "sonv.chuyenvien1")
    assert "bao-cao" in one.output and "cong-dich-vu-cong" not in one.output
    unknown = cli("token", "list", "ai.do")
    assert unknown.exit_code == 1 and "Không có cán bộ với tên đăng nhập ai.do" in unknown.output


def test_motcua_token_revoke_stops_the_token_at_once(app, cli) -> None:
    ctx = app.extensions["motcua"]
    token = issue_token(ctx, "sonv.motcua", "cong-dich-vu-cong", LOADED_AT)
    other = issue_token(ctx, "sonv.motcua", "bao-cao", LOADED_AT)
    assert api_status(app, token) == 200
    token_id = re.search(r"^\s*(\d+)\s+in force\s+cong-dich-vu-cong", cli("token", "list").output, re.M)
    assert token_id, "token not listed"
    revoked = cli("token", "revoke", token_id.group(1))
    assert revoked.exit_code == 0, revoked.output
    assert f"token {token_id.group(1)} (cong-dich-vu-cong) of sonv.motcua revoked" in revoked.output
    assert api_status(app, token) == 401
    assert api_status(app, other) == 200
    assert "revoked" in cli("token", "list", "sonv.motcua").output
    again = cli("token", "revoke", token_id.group(1))
    assert again.exit_code == 1 and "đã bị thu hồi trước đó" in again.output
    missing = cli("token", "revoke", "987654")
    assert missing.exit_code == 1 and "Không có mã truy cập số 987654" in missing.output


def test_only_an_administrator_lists_and_revokes_tokens_through_the_engine(ctx, officers) -> None:
    issue_token(ctx, "sonv.motcua", "cong-dich-vu-cong", LOADED_AT)
    with pytest.raises(Forbidden):
        api_tokens(ctx, admin_id=officers["sonv.lanhdao"])
    token_id = api_tokens(ctx)[0].id
    with pytest.raises(Forbidden):
        revoke_token_by_id(ctx, token_id, LOADED_AT, admin_id=officers["sonv.lanhdao"])
    assert api_tokens(ctx)[0].revoked_at is None


def test_the_administrator_revokes_a_token_on_the_tokens_page(app, web) -> None:
    ctx = app.extensions["motcua"]
    token = issue_token(ctx, "sonv.chuyenvien1", "cong-dich-vu-cong", LOADED_AT)
    web.login("sonv.motcua")
    assert web.get("/quan-tri/ma-truy-cap").status_code == 403
    make_admin(ctx, "sonv.lanhdao")
    web.login("sonv.lanhdao")
    assert "/quan-tri/ma-truy-cap" in web.get("/").get_data(as_text=True)
    page = web.get("/quan-tri/ma-truy-cap").get_data(as_text=True)
    assert "cong-dich-vu-cong" in page and "sonv.chuyenvien1" in page and "Đang dùng" in page
    assert token not in page
    action = re.search(r'action="(/quan-tri/ma-truy-cap/\d+/thu-hoi)"', page)
    assert action
    # Without the CSRF token the form is refused and the token keeps working.
    assert web.http.post(action.group(1)).status_code == 400
    assert api_status(app, token) == 200
    done = web.post(action.group(1), page="/quan-tri/ma-truy-cap", follow_redirects=True)
    assert "Đã thu hồi mã truy cập “cong-dich-vu-cong”" in done.get_data(as_text=True)
    assert "Đã thu hồi lúc" in done.get_data(as_text=True)
    assert api_status(app, token) == 401
