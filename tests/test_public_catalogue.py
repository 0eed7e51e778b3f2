"""The public procedure catalogue: search folding, completeness, the publicity score, the pages and the
public API (no token, cacheable, escaped), and the process owner's forms."""

from __future__ import annotations

import io
import random
from datetime import date, timedelta

from sqlalchemy import select

from engine.demo import desk_for, officers_by_role, run_one
from engine.publication.catalogue import public_procedure, search_procedures
from engine.publication.completeness import catalogue_missing, publicity_by_agency
from engine.publication.forms import add_form
from engine.publication.ontime import twelve_months
from engine.runtime.attachments import Upload
from engine.statistics import indicators as ind
from engine.statistics.periods import parse_period, period_of_days
from engine.statistics.reports import statistics_report
from models import Procedure
from tests.conftest import Officers, at
from web.extensions import limiter

PDF = b"%PDF-1.4\n% to khai\n"
NOW = at("2026-11-23 08:00")


def test_search_completeness_publicity_and_on_time_rate(ctx) -> None:
    for typed in ("đăng ký khai sinh", "DANG KY KHAI SINH", "Đăng Ký  khai sinh", "khai sinh 1.001193"):
        assert [r.code for r in search_procedures(ctx, typed).rows] == ["1.001193"], typed
    assert [r.code for r in search_procedures(ctx, field="ho tich").rows] == ["1.001193", "2.000635"]
    assert [r.code for r in search_procedures(ctx, "trich luc").rows] == ["2.000635"]
    assert "1.001806" not in [r.code for r in search_procedures(ctx, level="commune").rows]
    commune = [r.code for r in search_procedures(ctx, agency="000.01.25.H40").rows]
    assert "1.001193" in commune and "1.001806" not in commune
    first, second = search_procedures(ctx, per_page=1), search_procedures(ctx, page=2, per_page=1)
    assert first.total == second.total >= 3 and first.pages == first.total
    assert first.rows[0].code != second.rows[0].code
    assert search_procedures(ctx, "khai sinh lao dong").total == 0
    owner = Officers(ctx)["sonv.quytrinh"]
    with ctx.uow() as uow:
        missing = catalogue_missing(uow.session)
        procedure = uow.session.scalars(select(Procedure).where(Procedure.code == "NA.3854")).one()
        procedure.fee, procedure.fees = "", []
        uow.commit()
    assert missing["1.001806"] == ["forms"] and missing["NA.3854"] == ["forms"]
    add_form(ctx, owner, "1.001806", "Tờ khai", Upload("to-khai.pdf", PDF), NOW)
    with ctx.uow() as uow:
        missing = catalogue_missing(uow.session)
        scores = {s.agency_code: s for s in ind.qd766_scores(uow.session, parse_period("2026-11"), now=NOW)}
        by_agency = publicity_by_agency(uow.session)
    assert missing["1.001806"] == [] and missing["NA.3854"] == ["fees", "forms"]
    # Sở Nội vụ owns and receives 1.001806 and NA.3854; one of the two is complete.
    assert (by_agency["000.00.12.H40"].procedures, by_agency["000.00.12.H40"].complete) == (2, 1)
    province = by_agency[None]
    publicity = {g.key: g for g in scores[None].groups}["publicity"]
    assert province.complete == 1 and publicity.score == 18 / province.procedures
    assert f"= 18 × 1 / {province.procedures} = " in publicity.formula
    assert public_procedure(ctx, "1.001806", now=NOW).forms[0].title == "Tờ khai"
    assert public_procedure(ctx, "NA.3854", now=NOW).fee_text == "Không thu phí, lệ phí"
    # The on-time rate counts as Biểu 06 counts: the procedure's are the only dossiers of its field (Hộ tịch).
    rng, timings = random.Random(7), []
    with ctx.uow() as uow:
        procedure = uow.session.scalars(select(Procedure).where(Procedure.code == "1.001193")).one()
        desk = desk_for(ctx, uow.session, procedure)
    people = officers_by_role(ctx)
    for day in range(3):
        run_one(ctx, rng, "1.001193", at(f"2026-11-{16 + day % 5} 08:00"), desk, people, timings)
    rate = public_procedure(ctx, "1.001193", now=NOW + timedelta(days=1)).on_time
    first, last = twelve_months(date(2026, 11, 24))
    with ctx.uow() as uow:
        report = statistics_report(
            uow.session, period_of_days(first, last, ctx.calendar.tz), now=NOW + timedelta(days=1)
        )
    (row,) = [r for r in report.rows if r.key == "Hộ tịch"]
    assert rate is not None and rate.resolved == row["resolved_total"] > 0
    assert rate.on_time == row["resolved_early"] + row["resolved_on_time"]


def test_pages_and_api_are_public_cacheable_and_escaped(app, web) -> None:
    ctx = app.extensions["motcua"]
    with ctx.uow() as uow:
        procedure = uow.session.scalars(select(Procedure).where(Procedure.code == "1.001806")).one()
        procedure.name = "Cấp phép <script>alert(1)</script>"
        uow.commit()
    listing = web.get("/thu-tuc", query_string={"q": "CAP PHEP"})
    body = listing.get_data(as_text=True)
    assert listing.status_code == 200 and "public" in listing.headers["Cache-Control"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "<script>alert" not in body
    page = web.get("/thu-tuc/1.001806")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "<script>alert" not in text
    assert "Thời hạn giải quyết" in text and 'id="steps"' in text and "Quyết định số" in text
    assert web.get("/thu-tuc/1.001806", headers={"If-None-Match": page.headers["ETag"]}).status_code == 304
    assert web.get("/thu-tuc/KHONG-CO").status_code == 404
    assert web.get("/thu-tuc", query_string={"level": "x"}).status_code == 422
    diagram = web.get("/thu-tuc/1.001806/so-do.bpmn")
    assert diagram.status_code == 200 and b"extensionElements" not in diagram.data
    found = web.get("/api/v1/public/procedures", query_string={"q": "cap phep"}).get_json()
    assert [p["code"] for p in found["procedures"]] == ["1.001806"]
    one = web.get("/api/v1/public/procedures/1.001806")
    assert (
        one.status_code == 200
        and one.get_json()["process"]["steps"]
        and "public" in one.headers["Cache-Control"]
    )
    missing = web.get("/api/v1/public/procedures/KHONG-CO")
    assert missing.status_code == 404 and missing.get_json()["error"] == "not_found"
    assert web.get("/api/v1/public/procedures", query_string={"page": "0"}).status_code == 422
    paths = web.get("/api/v1/openapi.json").get_json()["paths"]
    assert "/public/procedures/{procedure_code}" in paths and "/public/procedures" in paths


def test_process_owner_publishes_a_form_and_sees_what_is_missing(app, web) -> None:
    web.login("sonv.quytrinh")
    listing = web.get("/quy-trinh/", query_string={"thieu": "forms"}).get_data(as_text=True)
    assert "Còn thiếu" in listing and "1.001806" in listing and "1.001193" in listing
    response = web.post(
        "/quy-trinh/1.001806/bieu-mau",
        {"title": "Tờ khai <b>", "file": (io.BytesIO(PDF), "to khai.pdf")},
        page="/quy-trinh/1.001806",
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    refused = web.post(
        "/quy-trinh/1.001806/bieu-mau",
        {"title": "Giả", "file": (io.BytesIO(b"MZ..."), "x.pdf")},
        page="/quy-trinh/1.001806",
        content_type="multipart/form-data",
    )
    assert refused.status_code == 302  # the reason is flashed; nothing stored
    other_agency = web.post(
        "/quy-trinh/1.001193/bieu-mau",
        {"title": "x", "file": (io.BytesIO(PDF), "x.pdf")},
        page="/quy-trinh/1.001806",
        content_type="multipart/form-data",
    )
    assert other_agency.status_code == 403
    signed_in = web.get("/thu-tuc/1.001806")
    assert signed_in.headers["Cache-Control"] == "private, no-store"  # the header names the officer
    page = signed_in.get_data(as_text=True)
    assert "Tờ khai &lt;b&gt;" in page and "Giả" not in page
    link = page.split('href="/thu-tuc/1.001806/bieu-mau/')[1].split('"')[0]
    download = web.get(f"/thu-tuc/1.001806/bieu-mau/{link}")
    assert download.data == PDF and download.headers["Content-Disposition"].startswith("attachment")
    assert "sandbox" in download.headers["Content-Security-Policy"]
    assert "1.001806" not in web.get("/quy-trinh/", query_string={"thieu": "forms"}).get_data(as_text=True)


def test_pages_and_api_share_one_rate_limit_per_client(make_ctx, clock) -> None:
    from web import create_app

    config = {"TESTING": True, "SECRET_KEY": "t", "MOTCUA_CLOCK": clock, "RATELIMIT_ENABLED": True}
    app = create_app(ctx=make_ctx(public_catalogue_rate_limit="2 per minute"), test_config=config)
    limiter.reset()  # one limiter object serves every app of the process
    try:
        http = app.test_client()
        urls = ("/thu-tuc", "/api/v1/public/procedures", "/api/v1/public/procedures/1.001806")
        statuses = [http.get(url).status_code for url in urls]
        other_client = http.get("/thu-tuc", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code
    finally:
        limiter.reset()
    assert statuses == [200, 200, 429] and other_client == 200
