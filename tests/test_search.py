"""The officers' dossier search takes what is typed literally: `%`, `_` and `\\` are not wildcards."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.runtime import dossiers as svc
from models import Officer
from tests.conftest import at


@pytest.fixture
def site(app, web):
    """Two receipts of the agency whose applicants differ by one character, sonv.motcua signed in."""
    ctx = app.extensions["motcua"]
    with ctx.uow() as uow:
        desk = uow.session.scalar(select(Officer.id).where(Officer.username == "sonv.motcua"))
    for name, phone in (("Công ty TNHH Minh_Long", "0912000001"), ("Công ty TNHH MinhXLong", "0912000002")):
        svc.receive_dossier(
            ctx,
            procedure_code="1.001806",
            applicant=svc.Applicant(name=name, id_number="001203004005", phone=phone),
            channel="in_person",
            officer_id=desk,
            now=at("2026-11-23 08:00"),
        )
    web.login("sonv.motcua")
    return web


def found(web, text: str) -> list[str]:
    """The applicants the search page lists for this text."""
    page = web.get("/ho-so/", query_string={"q": text}).get_data(as_text=True)
    return [name for name in ("Minh_Long", "MinhXLong") if name in page]


@pytest.mark.parametrize("text", ["%", "__", "%%", "\\", "Minh%Long", "Minh\\"])
def test_wildcards_typed_in_the_search_match_nothing_but_themselves(site, text: str) -> None:
    assert found(site, text) == []


def test_an_underscore_in_the_search_matches_an_underscore_only(site) -> None:
    assert found(site, "Minh_Long") == ["Minh_Long"]
    assert found(site, "_") == ["Minh_Long"]
    assert found(site, "minh") == ["Minh_Long", "MinhXLong"]
