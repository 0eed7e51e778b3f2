"""Behind the reverse proxy: each client keeps its own sign-in and lookup budget, forged
X-Forwarded-For headers count for nothing, and /metrics is never public; the citizen's rating
spends the lookup's budget and answers a wrong code and a wrong factor alike."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import CSRF_FIELD, WebClient
from tests.test_web import receive
from web import create_app
from web.extensions import limiter
from web.proxies import TrustedNetworks

PROXY = "127.0.0.1"


@pytest.fixture
def limited(make_ctx, clock) -> Iterator:
    """Build apps with rate limits on and small budgets, on the test's database."""
    config = {"TESTING": True, "SECRET_KEY": "t", "MOTCUA_CLOCK": clock, "RATELIMIT_ENABLED": True}

    def build(**overrides: object):
        settings = {"login_rate_limit": "3 per minute", "lookup_rate_limit": "3 per minute", **overrides}
        app = create_app(ctx=make_ctx(**settings), test_config=config)
        limiter.reset()  # one limiter object serves every app of the process
        return app

    yield build
    limiter.reset()


def sign_in_attempts(app, count: int, remote: str, forwarded_for: str | None = None) -> list[int]:
    """The statuses of `count` wrong sign-ins from one browser at this address."""
    environ = {"REMOTE_ADDR": remote}
    if forwarded_for is not None:
        environ["HTTP_X_FORWARDED_FOR"] = forwarded_for
    http = app.test_client()
    token = CSRF_FIELD.search(http.get("/dang-nhap", environ_base=environ).get_data(as_text=True))
    assert token
    return [
        http.post(
            "/dang-nhap",
            data={"csrf_token": token.group(1), "username": "sonv.motcua", "password": "wrong-password"},
            environ_base=environ,
        ).status_code
        for _ in range(count)
    ]


def test_two_clients_behind_the_proxy_have_their_own_sign_in_budget(limited) -> None:
    app = limited(trusted_proxies=1)
    assert sign_in_attempts(app, 4, PROXY, "203.0.113.5") == [401, 401, 401, 429]
    assert sign_in_attempts(app, 3, PROXY, "203.0.113.6") == [401, 401, 401]


def test_a_client_cannot_escape_its_budget_by_forging_the_header_through_the_proxy(limited) -> None:
    app = limited(trusted_proxies=1)
    # The proxy appends the address it saw; what the client wrote before it is not believed.
    statuses = [sign_in_attempts(app, 1, PROXY, f"10.9.9.{n}, 203.0.113.5")[0] for n in range(4)]
    assert statuses == [401, 401, 401, 429]


def test_a_forged_forwarded_for_without_a_configured_proxy_is_ignored(limited) -> None:
    app = limited()
    statuses = [sign_in_attempts(app, 1, "198.51.100.7", f"203.0.113.{n}")[0] for n in range(4)]
    assert statuses == [401, 401, 401, 429]


def test_trusted_networks_believe_the_header_only_from_a_proxy(limited) -> None:
    app = limited(trusted_proxies=("10.0.0.0/8",))
    assert sign_in_attempts(app, 3, "10.0.0.2", "203.0.113.5, 10.0.0.7") == [401, 401, 401]
    assert sign_in_attempts(app, 1, "10.0.0.3", "203.0.113.5")[0] == 429
    assert sign_in_attempts(app, 1, "10.0.0.3", "203.0.113.6")[0] == 401
    # Not from a proxy: the header is the client's own invention.
    assert sign_in_attempts(app, 3, "198.51.100.7", "203.0.113.8") == [401, 401, 401]
    assert sign_in_attempts(app, 1, "198.51.100.7", "203.0.113.9")[0] == 429


@pytest.mark.parametrize(
    ("remote", "forwarded_for", "client"),
    [
        ("10.0.0.2", "203.0.113.5", "203.0.113.5"),
        ("10.0.0.2", "1.2.3.4, 203.0.113.5, 10.0.0.9", "203.0.113.5"),
        ("10.0.0.2", "", "10.0.0.2"),
        ("10.0.0.2", "10.0.0.8, 10.0.0.9", "10.0.0.8"),
        ("198.51.100.7", "203.0.113.5", "198.51.100.7"),
        ("10.0.0.2", "not-an-address", "not-an-address"),
    ],
)
def test_the_client_is_the_first_untrusted_address_from_the_right(
    remote: str, forwarded_for: str, client: str
) -> None:
    seen: dict = {}

    def echo(environ, start_response):
        seen.update(environ)
        start_response("200 OK", [])
        return [b""]

    TrustedNetworks(echo, ["10.0.0.0/8"])(
        {"REMOTE_ADDR": remote, "HTTP_X_FORWARDED_FOR": forwarded_for}, lambda *_: None
    )
    assert seen["REMOTE_ADDR"] == client


def test_metrics_through_the_proxy_need_the_token(limited) -> None:
    open_app = limited(trusted_proxies=1)
    http = open_app.test_client()
    outside = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": "198.51.100.7"}
    assert http.get("/metrics", environ_base=outside).status_code == 403
    forged = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": "127.0.0.1"}
    assert http.get("/metrics", environ_base=forged).status_code == 403
    assert http.get("/metrics", environ_base={"REMOTE_ADDR": PROXY}).status_code == 403
    guarded = limited(trusted_proxies=1, metrics_token="s3cret").test_client()
    assert guarded.get("/metrics", environ_base=outside).status_code == 401
    scrape = guarded.get("/metrics", environ_base=outside, headers={"Authorization": "Bearer s3cret"})
    assert scrape.status_code == 200 and "motcua_open_dossiers" in scrape.get_data(as_text=True)


def test_a_copied_cookie_from_another_client_is_refused_even_with_the_victims_address_forged(
    limited,
) -> None:
    app = limited(trusted_proxies=1)
    victim_env = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": "203.0.113.5"}
    victim = app.test_client()
    token = CSRF_FIELD.search(victim.get("/dang-nhap", environ_base=victim_env).get_data(as_text=True))
    assert token
    signed_in = victim.post(
        "/dang-nhap",
        data={"csrf_token": token.group(1), "username": "sonv.motcua", "password": "motcua-demo"},
        environ_base=victim_env,
    )
    assert signed_in.status_code == 302
    cookie = victim.get_cookie("session")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("session", cookie.value)
    # The thief writes the victim's address first; the proxy appends the thief's real one.
    forged = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": "203.0.113.5, 198.51.100.7"}
    assert thief.get("/", environ_base=forged).status_code == 302
    assert victim.get("/", environ_base=victim_env).status_code == 200


# ---------------------------------------------------------------------------
# the citizen's lookup and rating


def test_the_rating_spends_the_lookups_budget(limited) -> None:
    app = limited()
    citizen = WebClient(app)
    code = "000.00.12.H40-261123-9999"
    for _ in range(3):
        assert citizen.post("/tra-cuu", {"code": code, "last4": "1234"}).status_code == 404
    guess = citizen.post("/tra-cuu/danh-gia", {"code": code, "last4": "1235", "satisfied": "yes"})
    assert guess.status_code == 429


def test_the_lookup_refuses_once_the_rating_has_spent_the_budget(limited) -> None:
    app = limited()
    citizen = WebClient(app)
    code = "000.00.12.H40-261123-9999"
    for last4 in ("1111", "2222", "3333"):
        rating = citizen.post("/tra-cuu/danh-gia", {"code": code, "last4": last4, "satisfied": "yes"})
        assert rating.status_code == 404
    assert citizen.post("/tra-cuu", {"code": code, "last4": "4444"}).status_code == 429


def test_the_rating_answers_a_wrong_code_and_a_wrong_factor_alike(app, web) -> None:
    code = receive(web)  # applicant phone 0912345678, ID 001190012345
    citizen = WebClient(app)
    answers = []
    for guess_code, last4 in ((code, "9999"), (code[:-4] + "9999", "5678"), ("khong-co", "5678")):
        response = citizen.post("/tra-cuu/danh-gia", {"code": guess_code, "last4": last4, "satisfied": "yes"})
        page = response.get_data(as_text=True)
        assert "Không tìm thấy hồ sơ với mã và 4 số cuối đã nhập" in page
        # The CSRF token carries a timestamp: requests a second apart get different tokens.
        page = CSRF_FIELD.sub("csrf_token", page.replace(guess_code, "CODE"))
        answers.append((response.status_code, page))
    assert answers[0] == answers[1] == answers[2]
