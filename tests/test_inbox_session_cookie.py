"""The inbox's requests and the session cookie: the last request's time is written into the cookie
(signed again and sent back) once it has moved by a second, not at every request."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import WebClient
from web import create_app
from web.auth import LAST_SEEN_AT, SEEN_AT_STEP

CONFIG = {"TESTING": True, "SECRET_KEY": "test-secret", "RATELIMIT_ENABLED": False}


@pytest.fixture
def web(make_ctx, clock, tmp_path) -> WebClient:
    ctx = make_ctx(attachments_dir=str(tmp_path / "attachments"))
    return WebClient(create_app(ctx=ctx, test_config={**CONFIG, "MOTCUA_CLOCK": clock}))


def seen_at(web: WebClient) -> float:
    with web.http.session_transaction() as session:
        return session[LAST_SEEN_AT]


def test_the_last_seen_time_is_written_once_it_moved_by_a_second(web, clock) -> None:
    web.login("sonv.motcua")
    first = seen_at(web)
    assert web.get("/").status_code == 200  # shows (and so takes out of the cookie) the sign-in's message
    response = web.get("/")
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers  # the same moment: the cookie stays as it is
    clock.moment += SEEN_AT_STEP / 2
    assert "Set-Cookie" not in web.get("/").headers
    assert seen_at(web) == first
    clock.moment += SEEN_AT_STEP
    response = web.get("/")
    assert response.status_code == 200 and "session=" in response.headers["Set-Cookie"]
    assert seen_at(web) == pytest.approx(first + 1.5 * SEEN_AT_STEP.total_seconds())


def test_the_idle_timeout_still_counts_from_the_last_written_time(web, clock) -> None:
    web.login("sonv.motcua")
    clock.moment += timedelta(minutes=10)
    assert web.get("/").status_code == 200
    assert seen_at(web) == pytest.approx(clock.moment.timestamp())
