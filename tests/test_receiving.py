"""Receiving by competence and in one step: who may receive which procedure, every field problem at
once, the appointment before saving, receive-and-forward in one transaction, and legal times as
the law states them; through the engine, the desk pages and the JSON API, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.catalogue.competence import may_receive
from engine.catalogue.loader import load_all
from engine.catalogue.procedures import procedure_by_code
from engine.errors import Conflict, Forbidden, InvalidFields, InvalidInput
from engine.formatting import legal_time
from engine.runtime import dossiers as svc
from engine.runtime.desk import appointment_preview
from engine.runtime.lookup import public_status
from models import Agency, Dossier, DossierEvent, WorkItem
from tests.conftest import at, open_items
from tests.test_api import Api

SO = "000.00.12.H40"  # Sở Nội vụ, a department of the province
XA = "000.01.25.H40"  # Ủy ban nhân dân xã Demo
VP = "000.00.01.H40"  # Văn phòng UBND tỉnh, a department that receives nothing of the samples
APPLICANT = svc.Applicant(name="Nguyễn Văn An", id_number="001203004005", phone="0912345678")
WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"


def documents_of(ctx, code: str) -> list[str]:
    with ctx.uow() as uow:
        return list(procedure_by_code(uow.session, code).required_documents)


def receive(ctx, officers, code="1.001806", desk="sonv.motcua", when="2026-11-23 08:00", **kw):
    kw.setdefault("applicant", APPLICANT)
    return svc.receive_dossier(
        ctx, procedure_code=code, channel="in_person", officer_id=officers[desk], now=at(when), **kw
    )


def dossier_count(ctx) -> int:
    with ctx.uow() as uow:
        return uow.session.scalar(select(func.count(Dossier.id)))


# ---------------------------------------------------------------------------
# competence, in the catalogue and in the engine


def test_the_catalogue_says_who_receives_each_procedure(ctx) -> None:
    with ctx.uow() as uow:
        found = {
            code: (p.receiving_level, p.receiving_agencies)
            for code in ("1.001806", "NA.3854", "1.001193")
            for p in [procedure_by_code(uow.session, code)]
        }
    assert found == {
        "1.001806": ("province", [SO]),  # restricted to the Sở Nội vụ
        "NA.3854": ("commune", []),  # inter-agency: received where it begins, at the commune
        "1.001193": ("commune", []),  # default: its own level
    }


def test_each_desk_may_receive_only_the_procedures_of_its_level_and_agency(ctx) -> None:
    with ctx.uow() as uow:
        agencies = {a.code: a for a in uow.session.scalars(select(Agency))}
        allowed = {
            agency: sorted(
                code
                for code in ("1.001806", "NA.3854", "1.001193")
                if may_receive(procedure_by_code(uow.session, code), agencies[agency])
            )
            for agency in (SO, XA, VP)
        }
    assert allowed == {SO: ["1.001806"], XA: ["1.001193", "NA.3854"], VP: []}


def test_the_so_desk_cannot_receive_the_communes_birth_registration(ctx, officers) -> None:
    with pytest.raises(
        Forbidden, match=re.escape("Thủ tục 1.001193 không thuộc thẩm quyền tiếp nhận của Sở Nội vụ")
    ):
        receive(ctx, officers, code="1.001193")
    with pytest.raises(Forbidden, match=re.escape("NA.3854 không thuộc thẩm quyền tiếp nhận của Sở Nội vụ")):
        receive(ctx, officers, code="NA.3854")
    assert dossier_count(ctx) == 0


def test_the_commune_desk_receives_the_allowance_and_birth_registration_but_not_1_001806(
    ctx, officers
) -> None:
    allowance = receive(ctx, officers, code="NA.3854", desk="xa.motcua")
    birth = receive(ctx, officers, code="1.001193", desk="xa.motcua")
    assert allowance.code.startswith(XA) and birth.code.startswith(XA)
    with pytest.raises(
        Forbidden, match=re.escape("1.001806 không thuộc thẩm quyền tiếp nhận của Ủy ban nhân dân xã Demo")
    ):
        receive(ctx, officers, code="1.001806", desk="xa.motcua")
    assert dossier_count(ctx) == 2


def _catalogue_copy(tmp_path: Path, old: str, new: str) -> Path:
    folder = tmp_path / "workflows"
    shutil.copytree(WORKFLOWS, folder)
    catalogue = folder / "bpmn" / "catalogue.toml"
    text = catalogue.read_text(encoding="utf-8")
    assert old in text
    catalogue.write_text(text.replace(old, new, 1), encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'receiving_agencies = ["000.00.12.H40"]',
            'receiving_agencies = ["000.00.99.H40"]',
            "thủ tục 1.001806: cơ quan tiếp nhận 000.00.99.H40 không có trong danh sách cơ quan",
        ),
        (
            'receiving_level = "commune"',
            'receiving_level = "village"',
            "thủ tục NA.3854: cấp tiếp nhận (receiving_level) 'village' không hợp lệ",
        ),
        (
            'receiving_agencies = ["000.00.12.H40"]',
            'receiving_agencies = ["000.01.25.H40"]',
            "thủ tục 1.001806: cơ quan tiếp nhận 000.01.25.H40 (Ủy ban nhân dân xã Demo) không thuộc cấp",
        ),
    ],
)
def test_a_catalogue_naming_an_unknown_agency_or_level_is_refused_by_entry(
    ctx, tmp_path, old, new, message
) -> None:
    folder = _catalogue_copy(tmp_path, old, new)
    with pytest.raises(InvalidInput, match=re.compile(re.escape(message), re.IGNORECASE)):
        load_all(ctx, at("2026-11-20 08:00"), workflows_dir=folder)


# ---------------------------------------------------------------------------
# every field problem at once


def test_no_document_and_no_contact_are_both_refused_at_once_and_nothing_is_created(ctx, officers) -> None:
    with pytest.raises(InvalidFields) as caught:
        receive(ctx, officers, applicant=svc.Applicant(name="Lê Văn Minh"), documents=[])
    assert set(caught.value.fields) == {"contact", "documents"}
    assert "số điện thoại hoặc số định danh" in caught.value.fields["contact"]
    assert "Chưa đánh dấu thành phần hồ sơ" in caught.value.fields["documents"]
    assert dossier_count(ctx) == 0


def test_field_problems_of_the_applicant_come_together_with_the_checklist(ctx, officers) -> None:
    with pytest.raises(InvalidFields) as caught:
        receive(
            ctx,
            officers,
            applicant=svc.Applicant(name=" ", id_number="123", email="not-an-email"),
            documents=["Một giấy tờ không có trong danh mục"],
        )
    assert list(caught.value.fields) == [
        "applicant_name",
        "applicant_id_number",
        "applicant_email",
        "documents",
    ]
    assert caught.value.field == "applicant_name"  # the first, for callers that read one field
    assert dossier_count(ctx) == 0


def test_no_contact_is_accepted_and_the_code_alone_finds_the_dossier(ctx, officers) -> None:
    receipt = receive(
        ctx,
        officers,
        applicant=svc.Applicant(name="Lê Văn Minh"),
        documents=documents_of(ctx, "1.001806")[:1],
        no_contact=True,
    )
    with ctx.uow() as uow:
        assert public_status(uow.session, receipt.code, "0000").code == receipt.code


# ---------------------------------------------------------------------------
# the appointment before saving


def test_the_preview_is_the_appointment_receiving_gives_with_the_cut_off(ctx, officers) -> None:
    morning = appointment_preview(ctx, officers["sonv.motcua"], "1.001806", at("2026-11-23 08:00"))
    assert morning is not None and morning.legal_time == "10 ngày làm việc"
    assert morning.appointment_at == receive(ctx, officers).due_at == at("2026-12-08 08:00")
    late = appointment_preview(ctx, officers["sonv.motcua"], "1.001806", at("2026-11-23 15:30"))
    assert late is not None and late.counting_from == at("2026-11-25 07:30")  # 24/11 is a holiday
    assert appointment_preview(ctx, officers["sonv.motcua"], "1.001193", at("2026-11-23 08:00")) is None


# ---------------------------------------------------------------------------
# receive and forward in one transaction


def test_receive_and_forward_completes_the_desk_step_and_opens_the_next(ctx, officers) -> None:
    receipt = receive(ctx, officers, forward=True, documents=documents_of(ctx, "1.001806"))
    assert receipt.forwarded and receipt.next_steps
    with ctx.uow() as uow:
        items = list(
            uow.session.scalars(
                select(WorkItem).where(WorkItem.dossier_id == receipt.dossier_id).order_by(WorkItem.id)
            )
        )
        kinds = list(
            uow.session.scalars(
                select(DossierEvent.kind)
                .where(DossierEvent.dossier_id == receipt.dossier_id)
                .order_by(DossierEvent.id)
            )
        )
    desk, following = items[0], items[1:]
    # The desk step of 1.001806 has one way on (no outcome to choose): completed with none.
    assert (desk.role, desk.outcome, desk.completed_at) == ("desk", None, at("2026-11-23 08:00"))
    assert desk.completed_by_id == officers["sonv.motcua"]
    assert [i.id for i in open_items(ctx, receipt.dossier_id)] == receipt.work_item_ids
    assert [i.role for i in following] == ["head"]
    assert kinds[:4] == ["received", "step_opened", "step_completed", "step_opened"]


def test_a_forward_that_fails_leaves_no_dossier(ctx, officers, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise Conflict("Bước xử lý này đã hoàn thành")

    monkeypatch.setattr(svc, "_complete_in", broken)
    with pytest.raises(Conflict):
        receive(ctx, officers, forward=True)
    assert dossier_count(ctx) == 0


def test_the_allowance_is_forwarded_to_the_communes_head(ctx, officers) -> None:
    receipt = receive(ctx, officers, code="NA.3854", desk="xa.motcua", forward=True)
    items = open_items(ctx, receipt.dossier_id)
    with ctx.uow() as uow:
        agency = uow.session.get_one(Agency, items[0].agency_id).code
        desk = uow.session.scalars(
            select(WorkItem).where(WorkItem.dossier_id == receipt.dossier_id, WorkItem.role == "desk")
        ).one()
    assert desk.completed_by_id == officers["xa.motcua"]
    assert [(i.role, agency) for i in items] == [("head", XA)]


# ---------------------------------------------------------------------------
# legal times as the law states them


@pytest.mark.parametrize(
    ("value", "unit", "phrase"),
    [
        (0, "days", "Trong ngày"),
        (10, "days", "10 ngày làm việc"),
        (0.5, "days", "0,5 ngày làm việc"),
        (96, "hours", "12 ngày làm việc (96 giờ làm việc)"),
        (4, "hours", "4 giờ làm việc"),
        (12, "hours", "12 giờ làm việc"),
    ],
)
def test_legal_times_read_as_the_law_states_them(value, unit, phrase) -> None:
    assert legal_time(value, unit, 8) == phrase


# ---------------------------------------------------------------------------
# the desk pages


def desk_form(ctx, **overrides) -> dict:
    form = {
        "procedure_code": "1.001806",
        "applicant_name": "Nguyễn Thị Lan",
        "applicant_phone": "0912345678",
        "applicant_address": "Số 1 Lê Lợi, TP Vinh",
        "channel": "in_person",
        "documents": documents_of(ctx, overrides.get("procedure_code", "1.001806"))[:2],
        "submission_key": "key-receiving",
    }
    form.update(overrides)
    return form


def post_receive(web, ctx, username: str, **overrides):
    web.login(username)
    return web.post("/mot-cua/tiep-nhan", desk_form(ctx, **overrides), page="/mot-cua/tiep-nhan")


def options(html: str) -> set[str]:
    return set(
        re.findall(r'<option value="([^"]+)"', html.split('id="procedure_code"', 1)[1].split("</select>")[0])
    )


def test_each_desk_page_lists_only_what_its_desk_may_receive(web, app) -> None:
    web.login("sonv.motcua")
    assert options(web.get("/mot-cua/tiep-nhan").get_data(as_text=True)) == {"1.001806"}
    # Another desk's procedure gets no checklist and no appointment.
    assert "Tờ khai đăng ký khai sinh" not in web.get(
        "/mot-cua/thanh-phan-ho-so?procedure_code=1.001193"
    ).get_data(as_text=True)
    web.login("xa.motcua")
    commune = {"NA.3854", "1.001193", "2.000635"}
    assert options(web.get("/mot-cua/tiep-nhan").get_data(as_text=True)) == commune
    assert (
        options(web.get("/mot-cua/").get_data(as_text=True).replace("slip-procedure_code", "procedure_code"))
        == commune
    )


def test_the_so_desk_is_refused_the_birth_registration_with_403_and_nothing_created(web, app) -> None:
    ctx = app.extensions["motcua"]
    response = post_receive(
        web, ctx, "sonv.motcua", procedure_code="1.001193", documents=documents_of(ctx, "1.001193")[:1]
    )
    assert response.status_code == 403
    assert "Thủ tục 1.001193 không thuộc thẩm quyền tiếp nhận của Sở Nội vụ" in response.get_data(
        as_text=True
    )
    assert dossier_count(ctx) == 0


def test_the_form_shows_every_problem_at_its_field_and_keeps_what_was_typed(web, app) -> None:
    ctx = app.extensions["motcua"]
    response = post_receive(web, ctx, "sonv.motcua", applicant_phone="", documents=[])
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert re.search(r'id="documents-error">Chưa đánh dấu thành phần hồ sơ', page)
    assert re.search(r'id="contact-error">Cần số điện thoại hoặc số định danh', page)
    assert 'value="Nguyễn Thị Lan"' in page and 'value="Số 1 Lê Lợi, TP Vinh"' in page
    assert re.search(r'<option value="1.001806" selected', page)
    assert dossier_count(ctx) == 0


def test_the_appointment_is_previewed_for_the_chosen_procedure(web, app, clock) -> None:
    web.login("sonv.motcua")
    html = web.get("/mot-cua/hen-tra?procedure_code=1.001806").get_data(as_text=True)
    assert re.search(r"Hẹn trả kết quả: <span[^>]*>08:00 ngày 08/12/2026", html)
    assert "10 ngày làm việc" in html
    clock.moment = at("2026-11-23 15:30")  # after the cut-off the clock starts on the next working day
    html = web.get("/mot-cua/hen-tra?procedure_code=1.001806").get_data(as_text=True)
    assert "tính từ 07:30 ngày 25/11/2026" in html
    clock.moment = at("2026-11-23 08:00")
    web.login("xa.motcua")
    html = web.get("/mot-cua/hen-tra?procedure_code=1.001193").get_data(as_text=True)
    assert re.search(r"Hẹn trả kết quả: <span[^>]*>17:00 ngày 23/11/2026", html) and "Trong ngày" in html


def test_receive_and_forward_from_the_page_lands_in_the_heads_inbox(web, app) -> None:
    ctx = app.extensions["motcua"]
    response = post_receive(web, ctx, "sonv.motcua", action="forward")
    assert response.status_code == 302
    code = re.search(r"/ho-so/([^/]+)/in/01", response.location).group(1)
    page = web.get(response.location).get_data(as_text=True)
    assert f"Đã tiếp nhận hồ sơ {code} và chuyển xử lý" in page
    with ctx.uow() as uow:
        dossier_id = uow.session.scalar(select(Dossier.id).where(Dossier.code == code))
    assert [i.role for i in open_items(ctx, dossier_id)] == ["head"]
    web.login("sonv.truongphong")
    assert code in web.get("/").get_data(as_text=True)


def test_no_contact_prints_the_code_only_lookup_on_the_receipt(web, app) -> None:
    ctx = app.extensions["motcua"]
    response = post_receive(web, ctx, "sonv.motcua", applicant_phone="", no_contact="1")
    assert response.status_code == 302
    receipt = web.get(response.location).get_data(as_text=True)
    assert "Công dân không cung cấp liên lạc: tra cứu" in receipt and "chỉ bằng mã hồ sơ" in receipt


@pytest.mark.parametrize(
    ("username", "code", "phrase"),
    [
        ("sonv.motcua", "1.001806", "3. Thời gian giải quyết hồ sơ theo quy định là: 10 ngày làm việc<"),
        ("xa.motcua", "NA.3854", "là: 12 ngày làm việc (96 giờ làm việc)<"),
        ("xa.motcua", "1.001193", "là: Trong ngày<"),
    ],
)
def test_the_receipt_states_the_legal_time_as_the_law_does(web, app, username, code, phrase) -> None:
    ctx = app.extensions["motcua"]
    response = post_receive(web, ctx, username, procedure_code=code)
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    assert phrase in web.get(response.location).get_data(as_text=True)


# ---------------------------------------------------------------------------
# the JSON API


@pytest.fixture
def api(app) -> Api:
    return Api(app)


def test_the_api_lists_only_what_the_callers_desk_may_receive(api) -> None:
    def listed(who: str) -> set[str]:
        return {p["code"] for p in api.get("/procedures", who).get_json()["procedures"]}

    assert listed("sonv.motcua") == {"1.001806"}
    assert listed("xa.motcua") == {"NA.3854", "1.001193", "2.000635"}
    assert listed("vp.chuyenvien") == set()
    listed_so = api.get("/procedures", "sonv.motcua").get_json()["procedures"]
    assert [(p["receiving_level"], p["receiving_agencies"]) for p in listed_so] == [("province", [SO])]


def test_the_api_refuses_another_desks_procedure_with_403(api) -> None:
    response = api.post(
        "/dossiers", json={"procedure_code": "1.001193", "applicant": {"name": "Hà", "phone": "0912345678"}}
    )
    assert response.status_code == 403
    assert response.get_json()["message"].startswith("Thủ tục 1.001193 không thuộc thẩm quyền tiếp nhận")
    assert dossier_count(api.ctx) == 0


def test_the_api_answers_every_field_problem_at_once(api) -> None:
    response = api.post(
        "/dossiers", json={"procedure_code": "1.001806", "applicant": {"name": "Hà"}, "documents": []}
    )
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "invalid"
    assert set(body["fields"]) == {"contact", "documents"}
    assert dossier_count(api.ctx) == 0
    malformed = api.post(
        "/dossiers",
        json={"procedure_code": "1.001806", "applicant": {"name": "Hà", "phone": "12", "id_number": "34"}},
    ).get_json()
    assert set(malformed["fields"]) == {"applicant.id_number", "applicant.phone"}


def test_the_api_receives_without_contact_and_forwards(api) -> None:
    body = api.post(
        "/dossiers",
        json={
            "procedure_code": "1.001806",
            "applicant": {"name": "Hà"},
            "no_contact": True,
            "forward": True,
        },
    ).get_json()
    assert [(i["role"], i["open"], i["outcome"]) for i in body["work_items"]] == [
        ("desk", False, None),
        ("head", True, None),
    ]
