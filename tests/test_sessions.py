"""Officers' sessions: what ends them (sign-out, a new password, a disabled account, idle and absolute
timeouts) and where a form may send the browser next; as someone holding a copied cookie sees it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner

from config import Settings
from engine.accounts import set_active, set_password
from tests.conftest import WebClient
from web import create_app

SIGN_IN_PAGE = "/dang-nhap"
DEFAULTS = Settings()
CONFIG = {"TESTING": True, "SECRET_KEY": "test-secret", "RATELIMIT_ENABLED": False}


@pytest.fixture
def app(make_ctx, clock, tmp_path):
    """The web app with the default session timeouts (the suite's other apps keep sessions for a year)."""
    ctx = make_ctx(
        attachments_dir=str(tmp_path / "attachments"),
        session_idle_minutes=DEFAULTS.session_idle_minutes,
        session_max_hours=DEFAULTS.session_max_hours,
    )
    return create_app(ctx=ctx, test_config={**CONFIG, "MOTCUA_CLOCK": clock})


def cookie_of(web: WebClient) -> str:
    """The session cookie the browser holds now."""
    found = web.http.get_cookie("session")
    assert found is not None, "no session cookie"
    return found.value


def browser_with(app, cookie: str) -> WebClient:
    """Another browser, holding a copy of that cookie."""
    other = WebClient(app)
    other.http.set_cookie("session", cookie)
    return other


def signed_in(web: WebClient) -> bool:
    """Whether the inbox opens (a signed-out browser is sent to the sign-in page)."""
    response = web.get("/")
    if response.status_code == 200:
        return True
    assert response.status_code == 302 and response.location.startswith(SIGN_IN_PAGE)
    return False


def test_a_cookie_copied_before_sign_out_is_refused_after_it(app, web) -> None:
    web.login("sonv.motcua")
    thief = browser_with(app, cookie_of(web))
    assert signed_in(thief)
    assert web.post("/dang-xuat", page="/").status_code == 302
    assert not signed_in(thief)
    assert not signed_in(web)


def test_signing_out_ends_the_officers_sessions_on_every_browser_and_no_one_elses(app, web) -> None:
    web.login("sonv.motcua")
    laptop = WebClient(app)
    laptop.login("sonv.motcua")
    colleague = WebClient(app)
    colleague.login("sonv.chuyenvien1")
    laptop.post("/dang-xuat", page="/")
    assert not signed_in(web)
    assert signed_in(colleague)
    web.login("sonv.motcua")
    assert signed_in(web)


def test_a_new_password_ends_every_session_of_the_officer(app, web) -> None:
    web.login("sonv.motcua")
    thief = browser_with(app, cookie_of(web))
    set_password(app.extensions["motcua"], "sonv.motcua", "mật-khẩu-mới-rất-dài")
    assert not signed_in(thief)
    assert not signed_in(web)
    assert web.login("sonv.motcua", "mật-khẩu-mới-rất-dài").status_code == 302
    assert signed_in(web)


def test_disabling_an_officer_ends_the_sessions_and_enabling_does_not_bring_them_back(app, web) -> None:
    ctx = app.extensions["motcua"]
    web.login("sonv.motcua")
    thief = browser_with(app, cookie_of(web))
    set_active(ctx, "sonv.motcua", False)
    assert not signed_in(thief)
    refused = web.login("sonv.motcua")
    assert refused.status_code == 403 and "đã bị khóa" in refused.get_data(as_text=True)
    set_active(ctx, "sonv.motcua", True)
    assert not signed_in(thief)
    web.login("sonv.motcua")
    assert signed_in(web)


def test_motcua_officer_disable_ends_the_sessions(app, web, monkeypatch) -> None:
    from web.cli import main

    monkeypatch.setenv("MOTCUA_DATABASE_URL", app.extensions["motcua"].settings.database_url)
    web.login("sonv.motcua")
    result = CliRunner().invoke(main, ["officer", "disable", "sonv.motcua"])
    assert result.exit_code == 0, result.output
    assert "sonv.motcua disabled" in result.output
    assert not signed_in(web)
    assert CliRunner().invoke(main, ["officer", "enable", "sonv.motcua"]).exit_code == 0
    assert not signed_in(web)
    unknown = CliRunner().invoke(main, ["officer", "disable", "ai.do"])
    assert unknown.exit_code == 1 and "Không có cán bộ với tên đăng nhập ai.do" in unknown.output


def test_a_session_ends_after_the_idle_timeout_and_each_request_extends_it(app, web, clock) -> None:
    web.login("sonv.motcua")
    for _ in range(3):
        clock.moment += timedelta(minutes=29)
        assert signed_in(web)
    thief = browser_with(app, cookie_of(web))
    clock.moment += timedelta(minutes=30)
    assert not signed_in(thief)
    assert not signed_in(web)
    page = web.get("/", follow_redirects=True).get_data(as_text=True)
    assert "Phiên làm việc đã hết hạn; vui lòng đăng nhập lại." in page


def test_a_session_ends_after_the_absolute_timeout_however_busy(app, web, clock) -> None:
    web.login("sonv.motcua")
    started = clock.moment
    while clock.moment - started < timedelta(hours=8) - timedelta(minutes=20):
        clock.moment += timedelta(minutes=20)
        assert signed_in(web), clock.moment - started
    clock.moment = started + timedelta(hours=8)
    assert not signed_in(web)
    web.login("sonv.motcua")
    assert signed_in(web)


def test_the_timeouts_are_settings(make_ctx, clock) -> None:
    app = create_app(
        ctx=make_ctx(session_idle_minutes=5, session_max_hours=1.0),
        test_config={**CONFIG, "MOTCUA_CLOCK": clock},
    )
    web = WebClient(app)
    web.login("sonv.motcua")
    clock.moment += timedelta(minutes=4)
    assert signed_in(web)
    clock.moment += timedelta(minutes=5)
    assert not signed_in(web)
    web.login("sonv.motcua")
    for _ in range(14):
        clock.moment += timedelta(minutes=4)
        assert signed_in(web)
    clock.moment += timedelta(minutes=4)
    assert not signed_in(web)


# ---------------------------------------------------------------------------
# where a form may send the browser next

OFF_SITE = [
    "https://evil.example/x",
    "//evil.example/x",
    "/\\evil.example/x",
    "/\t/evil.example/x",
    "javascript:alert(1)",
    "evil.example/x",
]


@pytest.mark.parametrize("target", OFF_SITE)
def test_claiming_never_redirects_off_the_site(web, target: str) -> None:
    web.login("sonv.chuyenvien1")
    response = web.post("/viec/999999/nhan", {"next": target}, page="/")
    assert response.status_code == 302
    assert response.location == "/viec/999999"


@pytest.mark.parametrize("target", OFF_SITE)
def test_marking_notifications_read_never_redirects_off_the_site(web, target: str) -> None:
    web.login("sonv.chuyenvien1")
    response = web.post("/thong-bao/da-doc", {"next": target}, page="/")
    assert response.status_code == 302
    assert response.location == "/thong-bao"


@pytest.mark.parametrize("target", OFF_SITE)
def test_signing_in_never_redirects_off_the_site(web, target: str) -> None:
    response = web.http.post(
        "/dang-nhap",
        query_string={"next": target},
        data={"csrf_token": web.csrf(), "username": "sonv.motcua", "password": "motcua-demo"},
    )
    assert response.status_code == 302
    assert response.location == "/"


def test_a_next_page_on_the_site_is_followed(web) -> None:
    web.login("sonv.chuyenvien1")
    response = web.post("/thong-bao/da-doc", {"next": "/ho-so/?q=1"}, page="/")
    assert response.location == "/ho-so/?q=1"
