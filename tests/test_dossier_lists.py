"""The officer's dossier list: states with counts, filters, search, paging, sorting, export, API."""

from __future__ import annotations

import importlib.util
import io
from dataclasses import dataclass
from datetime import date, datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update

from engine.accounts import issue_token
from engine.context import Context
from engine.errors import InvalidInput
from engine.runtime import dossiers as svc
from engine.runtime.access import can_view_dossier
from engine.runtime.dossier_lists import EXPORT_HEADERS, STATES, ListQuery, dossier_list
from engine.search_text import normalise, query_words, search_text_of
from models import Dossier, Officer
from tests.conftest import LOADED_AT, Officers, at, open_items

LIST_AT = at("2026-11-23 16:00")


@dataclass
class Office:
    """The dossiers of the scenario by the state they end in, with their codes."""

    ctx: Context
    officers: Officers
    codes: dict[str, str]


def _receive(
    ctx, officers, name, phone, when, *, code="1.001806", desk="sonv.motcua", email=None, channel="in_person"
):
    return svc.receive_dossier(
        ctx,
        procedure_code=code,
        applicant=svc.Applicant(name=name, id_number="001203004005", phone=phone, email=email),
        channel=channel,
        officer_id=officers[desk],
        now=at(when),
    )


def _work(ctx, officers, receipt, who, when, outcome=None):
    (item,) = open_items(ctx, receipt.dossier_id)
    svc.complete(ctx, item.id, officers[who], now=when, outcome=outcome)
    return item


def _to_specialist(ctx, officers, receipt):
    _work(ctx, officers, receipt, "sonv.motcua", at("2026-11-23 09:00"))
    _work(ctx, officers, receipt, "sonv.truongphong", at("2026-11-23 10:00"))
    (item,) = open_items(ctx, receipt.dossier_id)
    return item


def _to_result(ctx, officers, receipt):
    _to_specialist(ctx, officers, receipt)
    _work(ctx, officers, receipt, "sonv.chuyenvien1", at("2026-11-23 11:00"), "forward")
    _work(ctx, officers, receipt, "sonv.truongphong", at("2026-11-23 13:00"), "submit")
    _work(ctx, officers, receipt, "sonv.lanhdao", at("2026-11-23 14:00"), "approve")
    _work(ctx, officers, receipt, "sonv.vanthu", at("2026-11-23 14:30"))
    (item,) = open_items(ctx, receipt.dossier_id)
    return item


@pytest.fixture
def office(ctx, officers) -> Office:
    """Seven dossiers of Sở Nội vụ, one in each status of the menu, and one of the commune."""
    codes = {}
    new = _receive(
        ctx, officers, "Nguyễn Thị Hòa Bình", "0912345678", "2026-11-23 08:00", email="hoa.binh@example.vn"
    )
    codes["new"] = new.code
    processing = _receive(ctx, officers, "Trần Văn Hoà", "0912000002", "2026-11-23 08:10", channel="online")
    _work(ctx, officers, processing, "sonv.motcua", at("2026-11-23 09:00"))
    codes["processing"] = processing.code
    supplement = _receive(ctx, officers, "Lê Thuỷ Tiên", "0912000003", "2026-11-23 08:20")
    svc.request_supplement(
        ctx,
        _to_specialist(ctx, officers, supplement).id,
        officers["sonv.chuyenvien1"],
        missing=["Bản sao hợp đồng"],
        reason="Thiếu giấy tờ",
        now=at("2026-11-23 11:00"),
    )
    codes["supplement"] = supplement.code
    ready = _receive(ctx, officers, "Phạm Đức Anh", "0912000004", "2026-11-23 08:30")
    _to_result(ctx, officers, ready)
    codes["result_ready"] = ready.code
    returned = _receive(ctx, officers, "Vũ Minh Châu", "0912000005", "2026-11-23 08:40")
    item = _to_result(ctx, officers, returned)
    svc.return_result(
        ctx, item.id, officers["sonv.motcua"], collected_by="Vũ Minh Châu", now=at("2026-11-23 15:00")
    )
    codes["returned"] = returned.code
    refused = _receive(ctx, officers, "Đặng Thu Hà", "0912000006", "2026-11-23 08:50")
    svc.refuse(
        ctx,
        _to_specialist(ctx, officers, refused).id,
        officers["sonv.chuyenvien1"],
        reason="Không đủ điều kiện",
        now=at("2026-11-23 11:30"),
    )
    (back,) = open_items(ctx, refused.dossier_id)
    svc.return_result(
        ctx, back.id, officers["sonv.motcua"], collected_by="Đặng Thu Hà", now=at("2026-11-23 15:10")
    )
    codes["refused"] = refused.code
    withdrawn = _receive(ctx, officers, "Bùi Quốc Dũng", "0912000007", "2026-11-23 09:00")
    svc.withdraw(
        ctx, withdrawn.code, officers["sonv.motcua"], reason="Công dân xin rút", now=at("2026-11-23 09:30")
    )
    codes["withdrawn"] = withdrawn.code
    commune = _receive(
        ctx, officers, "Hoàng Hòa Bình", "0912345678", "2026-11-23 09:10", code="1.001193", desk="xa.motcua"
    )
    codes["commune"] = commune.code
    return Office(ctx, officers, codes)


def listed(office: Office, who: str = "sonv.motcua", now: datetime = LIST_AT, **query) -> list[str]:
    """The codes the officer's list shows for the query (first page of 50)."""
    page = dossier_list(office.ctx, office.officers[who], ListQuery(**query), now=now)
    return [r.code for r in page.rows]


# ---------------------------------------------------------------------------
# the normaliser


def test_the_normaliser_ignores_case_diacritics_tone_placement_d_and_gaps_in_numbers() -> None:
    assert normalise("HÒA BÌNH") == normalise("hoa binh") == normalise("Hoà Bình") == "hoa binh"
    assert normalise("Thuỷ") == normalise("Thủy") == "thuy"
    assert normalise("Đặng  Đức") == "dang duc"
    assert normalise("0912 345 678") == normalise("0912.345.678") == normalise("0912-345-678") == "0912345678"
    assert query_words("+84 912 345 678") == ["0912345678"]
    stored = search_text_of(
        "000.00.12.H40-261123-0001", "Nguyễn Thị Hòa Bình", "+84912345678", None, "A@B.VN"
    )
    assert "nguyen thi hoa binh" in stored and "0912345678" in stored and "a@b.vn" in stored
    assert normalise("000.00.12.h40-261123-0001") in stored


# ---------------------------------------------------------------------------
# states and counts


def test_each_state_of_the_menu_lists_its_dossier_and_the_counts_match_the_rows(office) -> None:
    page = dossier_list(office.ctx, office.officers["sonv.motcua"], ListQuery(), now=LIST_AT)
    for state in ("new", "processing", "supplement", "result_ready", "returned", "refused", "withdrawn"):
        rows = listed(office, state=state)
        assert rows == [office.codes[state]], state
        assert page.counts[state] == len(rows) == 1, state
    assert page.total == 7 and office.codes["commune"] not in [r.code for r in page.rows]
    # "Mới tiếp nhận" and "Đang xử lý" split the running dossiers: forwarded or not by the desk.
    assert page.counts["late"] == page.counts["soon"] == 0


def test_late_and_due_soon_follow_the_legal_due_time_of_running_dossiers(office) -> None:
    # The running dossiers are due on 08/12 from 08:00 (10 working days); the others are not running.
    assert set(listed(office, state="soon", now=at("2026-12-07 16:00"))) == {
        office.codes["new"],
        office.codes["processing"],
    }
    assert listed(office, state="late", now=at("2026-12-07 16:00")) == []
    late = dossier_list(
        office.ctx, office.officers["sonv.motcua"], ListQuery(state="late"), now=at("2026-12-08 09:00")
    )
    assert {r.code for r in late.rows} == {office.codes["new"], office.codes["processing"]}
    assert late.counts["late"] == 2 and late.counts["soon"] == 0
    assert {r.urgency for r in late.rows} == {"overdue"} and all(r.remaining_hours <= 0 for r in late.rows)


def test_another_agency_sees_none_of_the_first_agencys_dossiers(office) -> None:
    page = dossier_list(office.ctx, office.officers["xa.motcua"], ListQuery(), now=LIST_AT)
    assert [r.code for r in page.rows] == [office.codes["commune"]]
    assert sum(page.counts[s] for s in list(STATES)[:7]) == 1
    assert listed(office, "xa.motcua", q="hoa binh") == [office.codes["commune"]]


def test_the_list_shows_exactly_the_dossiers_the_officer_may_open(office) -> None:
    visible: dict[str, set[str]] = {}
    with office.ctx.uow() as uow:
        for username in ("sonv.motcua", "sonv.chuyenvien1", "xa.motcua", "vp.lanhdao"):
            officer = uow.session.scalar(select(Officer).where(Officer.username == username))
            dossiers = uow.session.scalars(select(Dossier)).all()
            visible[username] = {d.code for d in dossiers if can_view_dossier(uow.session, officer, d)}
    for username, codes in visible.items():
        assert set(listed(office, username)) == codes, username


# ---------------------------------------------------------------------------
# filters, paging, sorting


def test_each_filter_narrows_the_list(office) -> None:
    with office.ctx.uow() as uow:
        procedure_id = uow.session.scalar(
            select(Dossier.procedure_id).where(Dossier.code == office.codes["new"])
        )
    assert len(listed(office, procedure_id=procedure_id)) == 7
    assert len(listed(office, procedure_code="1.001806")) == 7
    assert listed(office, procedure_code="1.001193") == []
    assert listed(office, channel="online") == [office.codes["processing"]]
    assert listed(office, received_from=date(2026, 11, 24)) == []
    assert len(listed(office, received_from=date(2026, 11, 23), received_to=date(2026, 11, 23))) == 7
    page = dossier_list(office.ctx, office.officers["sonv.motcua"], ListQuery(), now=LIST_AT)
    (field,) = {r.procedure_field for r in page.rows}
    assert len(listed(office, field=field)) == 7
    assert listed(office, field="Không có lĩnh vực này") == []


def test_pages_and_sorts_are_done_by_the_database(office) -> None:
    newest_first = listed(office)
    assert newest_first[0] == office.codes["withdrawn"] and newest_first[-1] == office.codes["new"]
    first = listed(office, per_page=3, page=1)
    second = listed(office, per_page=3, page=2)
    third = listed(office, per_page=3, page=3)
    assert first + second + third == newest_first and len(third) == 1
    assert listed(office, sort="code") == sorted(newest_first)
    assert listed(office, sort="-code") == sorted(newest_first, reverse=True)
    assert listed(office, sort="received") == newest_first[::-1]


BAD_QUERIES = [
    ({"sort": "applicant_name"}, "sort"),
    ({"sort": "received; drop table dossier"}, "sort"),
    ({"state": "archived"}, "state"),
    ({"page": 0}, "page"),
    ({"page": 10_000}, "page"),
    ({"per_page": 1000}, "per_page"),
    ({"channel": "fax"}, "channel"),
    ({"procedure_code": "9.999999"}, "procedure"),
    ({"received_from": date(2026, 12, 1), "received_to": date(2026, 11, 1)}, "received_from"),
]


def test_a_bad_parameter_is_refused_naming_it(office) -> None:
    for query, field in BAD_QUERIES:
        with pytest.raises(InvalidInput) as err:
            dossier_list(office.ctx, office.officers["sonv.motcua"], ListQuery(**query), now=LIST_AT)
        assert err.value.field == field, query


# ---------------------------------------------------------------------------
# search


SAME_DOSSIER = [
    "hoa binh",
    "HÒA BÌNH",
    "Hòa Bình",
    "hoà bình",
    "binh",
    "0912 345 678",
    "0912.345.678",
    "HOA.BINH@EXAMPLE.VN",
]


def test_search_ignores_case_diacritics_tone_placement_and_gaps_in_phone_numbers(office) -> None:
    for text in SAME_DOSSIER:
        assert listed(office, q=text) == [office.codes["new"]], text


def test_both_tone_placements_find_each_other(office) -> None:
    both = {office.codes["new"], office.codes["processing"]}  # "Hòa Bình" and "Hoà"
    assert set(listed(office, q="Hoà")) == both
    assert set(listed(office, q="Hòa")) == both
    assert listed(office, q="Thủy") == listed(office, q="thuỷ") == [office.codes["supplement"]]


def test_a_code_is_found_in_any_case_and_in_part(office) -> None:
    code = office.codes["refused"]
    assert listed(office, q=code.lower()) == [code]
    assert listed(office, q=code.split("-", 1)[1]) == [code]


def test_wildcards_and_unknown_words_match_nothing(office) -> None:
    for text in ("%", "_", "\\", "ho%", "zzz"):
        assert listed(office, q=text) == [], text


def test_the_counts_follow_the_search(office) -> None:
    page = dossier_list(office.ctx, office.officers["sonv.motcua"], ListQuery(q="hoa"), now=LIST_AT)
    assert page.counts["new"] == page.counts["processing"] == 1 and page.counts["returned"] == 0
    assert page.total == 2


def test_the_search_text_follows_a_corrected_applicant_name(office) -> None:
    with office.ctx.uow() as uow:
        dossier = uow.session.scalar(select(Dossier).where(Dossier.code == office.codes["returned"]))
        dossier.applicant_name = "Vũ Minh Khuê"
        uow.commit()
    assert listed(office, q="khue") == [office.codes["returned"]]
    assert listed(office, q="chau") == []


def test_the_migration_back_fills_the_search_text_as_the_engine_writes_it(office) -> None:
    path = "models/migrations/versions/0011_dossier_search_text.py"
    spec = importlib.util.spec_from_file_location("migration_0011", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    with office.ctx.uow() as uow:
        written = {i: text for i, text in uow.session.execute(select(Dossier.id, Dossier.search_text))}
    with office.ctx.db.begin() as conn:
        conn.execute(update(Dossier).values(search_text=None))
        migration._backfill(conn)
    with office.ctx.uow() as uow:
        assert {
            i: text for i, text in uow.session.execute(select(Dossier.id, Dossier.search_text))
        } == written
    assert all(written.values())


# ---------------------------------------------------------------------------
# the page, the export and the API


def test_the_page_shows_the_menu_with_counts_the_columns_and_the_state_chosen(
    office, app, web, clock
) -> None:
    clock.moment = LIST_AT
    web.login("sonv.motcua")
    html = web.get("/ho-so/").get_data(as_text=True)
    for label in STATES.values():
        assert label in html
    for heading in (
        "Mã hồ sơ",
        "Người nộp",
        "Thủ tục",
        "Tiếp nhận",
        "Hẹn trả",
        "Hạn giải quyết",
        "Bước hiện tại",
        "Đang giữ",
        "Còn lại",
    ):
        assert f">{heading}</th>" in html
    assert 'data-count="new">1<' in html and office.codes["commune"] not in html
    supplement = web.get("/ho-so/?state=supplement").get_data(as_text=True)
    assert office.codes["supplement"] in supplement and office.codes["new"] not in supplement
    found = web.get("/ho-so/", query_string={"q": "HÒA BÌNH"}).get_data(as_text=True)
    assert office.codes["new"] in found and office.codes["supplement"] not in found


def test_a_bad_sort_or_page_on_the_page_falls_back_with_a_message(office, web) -> None:
    web.login("sonv.motcua")
    response = web.get("/ho-so/?state=returned&sort=password", follow_redirects=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Không sắp xếp được theo “password”" in html
    assert office.codes["returned"] in html and office.codes["new"] not in html  # the state is kept
    response = web.get("/ho-so/?page=9999", follow_redirects=True)
    assert "Trang phải từ 1 đến" in response.get_data(as_text=True)
    response = web.get("/ho-so/?received_from=31-12-2026", follow_redirects=True)
    assert "Tiếp nhận từ ngày: ngày không hợp lệ" in response.get_data(as_text=True)


def test_the_export_opens_with_openpyxl_and_has_the_rows_and_vietnamese_headers(office, web, clock) -> None:
    clock.moment = LIST_AT
    web.login("sonv.motcua")
    response = web.get("/ho-so/xuat-excel?q=hoa")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith('attachment; filename="danh-sach-ho-so-')
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = [r for r in sheet.iter_rows(values_only=True)]
    header = rows.index(EXPORT_HEADERS)
    data = rows[header + 1 :]
    assert {r[1] for r in data} == {office.codes["new"], office.codes["processing"]}
    assert {r[2] for r in data} == {"Nguyễn Thị Hòa Bình", "Trần Văn Hoà"}
    assert {r[12] for r in data} == {"Đang giải quyết"}


def test_an_export_over_the_limit_asks_to_filter(office, web, monkeypatch) -> None:
    monkeypatch.setattr("engine.runtime.dossier_lists.EXPORT_LIMIT", 3)
    web.login("sonv.motcua")
    response = web.get("/ho-so/xuat-excel?state=returned")
    assert response.status_code == 200 and response.data[:2] == b"PK"
    response = web.get("/ho-so/xuat-excel", follow_redirects=True)
    assert "Danh sách có hơn 3 hồ sơ" in response.get_data(as_text=True)


def _api(app, path: str, who: str = "sonv.motcua", **params):
    token = issue_token(app.extensions["motcua"], who, "kiểm thử", LOADED_AT)
    return app.test_client().get(path, query_string=params, headers={"Authorization": f"Bearer {token}"})


def test_the_api_lists_dossiers_with_total_and_counts_per_state(office, app, clock) -> None:
    clock.moment = LIST_AT
    body = _api(app, "/api/v1/dossiers", per_page=2).get_json()
    assert set(body) == {"items", "total", "counts", "count_limit", "page", "per_page"}
    assert body["total"] == 7 and len(body["items"]) == 2
    assert set(body["counts"]) == set(STATES) and body["counts"]["returned"] == 1
    item = body["items"][0]
    assert item["code"] == office.codes["withdrawn"] and item["status"] == "withdrawn"
    assert {
        "applicant_name",
        "procedure_code",
        "received_at",
        "appointment_at",
        "legal_due_at",
        "current_steps",
        "holders",
        "remaining_hours",
        "urgency",
    } <= set(item)
    found = _api(app, "/api/v1/dossiers", q="hoa binh", state="new", procedure="1.001806").get_json()
    assert [i["code"] for i in found["items"]] == [office.codes["new"]]
    assert found["items"][0]["current_steps"] and found["items"][0]["urgency"] == "ok"
    other = _api(app, "/api/v1/dossiers", who="xa.motcua").get_json()
    assert [i["code"] for i in other["items"]] == [office.codes["commune"]]


def test_the_api_refuses_a_bad_parameter_with_422_naming_it(office, app) -> None:
    for params, field in [
        ({"state": "archived"}, "state"),
        ({"page": "0"}, "page"),
        ({"page": "x"}, "page"),
        ({"page": "999"}, "page"),
        ({"per_page": "500"}, "per_page"),
        ({"sort": "password"}, "sort"),
        ({"procedure": "9.999999"}, "procedure"),
    ]:
        response = _api(app, "/api/v1/dossiers", **params)
        assert response.status_code == 422, (params, response.get_json())
        assert response.get_json()["field"] == field, params


def test_a_dossier_another_agency_received_is_listed_once_its_step_reaches_the_agency(ctx, officers) -> None:
    receipt = _receive(
        ctx, officers, "Hồ Văn Nam", "0912000009", "2026-11-23 08:00", code="NA.3854", desk="xa.motcua"
    )
    department = dossier_list(ctx, officers["sonv.motcua"], ListQuery(), now=LIST_AT)
    assert receipt.code not in [r.code for r in department.rows]
    for who, when, outcome in [
        ("xa.motcua", "2026-11-23 08:30", None),
        ("xa.truongphong", "2026-11-23 09:00", None),
        ("xa.chuyenvien", "2026-11-23 09:30", "forward"),
        ("xa.truongphong", "2026-11-23 10:00", None),
        ("xa.lanhdao", "2026-11-23 10:30", None),
        ("xa.vanthu", "2026-11-23 11:00", None),
    ]:
        (item,) = open_items(ctx, receipt.dossier_id)
        svc.complete(ctx, item.id, officers[who], now=at(when), outcome=outcome)
    department = dossier_list(ctx, officers["sonv.motcua"], ListQuery(state="processing"), now=LIST_AT)
    (row,) = department.rows
    assert (row.code, row.holders, department.counts["processing"]) == (receipt.code, ["Sở Nội vụ"], 1)
    assert listed_codes(ctx, officers, "xa.motcua", q="ho van nam") == [receipt.code]
    assert listed_codes(ctx, officers, "sonv.motcua", q="ho van nam") == [receipt.code]
    assert listed_codes(ctx, officers, "vp.lanhdao", q="ho van nam") == []


def listed_codes(ctx, officers, who: str, **query) -> list[str]:
    """The codes of the first page of the officer's list."""
    return [r.code for r in dossier_list(ctx, officers[who], ListQuery(**query), now=LIST_AT).rows]
