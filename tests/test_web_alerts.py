"""The watcher's results in the web app: notifications, the apology letter pages, the overdue list."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from engine.deadlines.watcher import tick
from models import ApologyLetter, Dossier
from tests.conftest import at
from tests.test_web import ctx_of, receive


def overdue_dossier(web, app, clock):
    """A dossier received on 23/11 (due 08/12 08:00) still at its first step on 08/12; the watcher has ticked."""
    code = receive(web)
    clock.moment = at("2026-12-08 10:00")
    tick(ctx_of(app), clock.moment)
    return code


def letter_id(app, code: str) -> int:
    with ctx_of(app).uow() as uow:
        dossier_id = uow.session.scalar(select(Dossier.id).where(Dossier.code == code))
        return uow.session.scalar(select(ApologyLetter.id).where(ApologyLetter.dossier_id == dossier_id))


def test_alerts_reach_the_officers_notification_list_with_an_unread_count(web, app, clock) -> None:
    code = overdue_dossier(web, app, clock)
    web.login("sonv.lanhdao")
    page = web.get("/").get_data(as_text=True)
    assert 'id="unread-count"' in page
    listing = web.get("/thong-bao").get_data(as_text=True)
    assert code in listing
    web.post("/thong-bao/da-doc", {}, page="/thong-bao")
    assert 'id="unread-count"' not in web.get("/").get_data(as_text=True)


def test_leader_edits_and_issues_the_apology_and_the_appointment_moves_once(web, app, clock) -> None:
    code = overdue_dossier(web, app, clock)
    letter = letter_id(app, code)
    assert letter is not None
    web.login("sonv.lanhdao")
    assert code in web.get("/xin-loi").get_data(as_text=True)
    edited = web.post(
        f"/xin-loi/{letter}",
        {"reason": "Chờ ý kiến của cơ quan phối hợp", "new_due_date": "2026-12-15", "new_due_time": "16:00"},
        page=f"/xin-loi/{letter}",
    )
    assert edited.status_code == 302
    issued = web.post(f"/xin-loi/{letter}/ky", {}, page=f"/xin-loi/{letter}")
    assert issued.location.endswith(f"/xin-loi/{letter}/in")
    form = web.get(issued.location).get_data(as_text=True)
    assert "VĂN BẢN XIN LỖI VÀ ĐỀ NGHỊ GIA HẠN THỜI GIAN GIẢI QUYẾT" in form
    assert "Chờ ý kiến của cơ quan phối hợp" in form
    assert "16 giờ 00 phút, ngày 15/12/2026" in form
    assert "DỰ THẢO" not in form
    page = web.get(f"/ho-so/{code}").get_data(as_text=True)
    assert "Đã ký phát hành" in page
    # The dossier page shows both times: the legal due time stays, the appointment moved.
    legal = page.split('id="legal-due"')[1].split("</dd>")[0]
    appointment = page.split('id="appointment"')[1].split("</dd>")[0]
    assert "08/12/2026 08:00" in legal and "15/12/2026 16:00" in appointment
    assert "Trễ hạn từ 08/12/2026 08:00, đã có phiếu xin lỗi" in legal
    assert code not in web.get("/xin-loi").get_data(as_text=True)
    again = web.post(
        f"/xin-loi/{letter}", {"reason": "x", "new_due_date": "2026-12-20"}, page=f"/xin-loi/{letter}"
    )
    assert again.status_code == 409


def test_apology_issued_by_someone_without_the_role_changes_nothing(web, app, clock) -> None:
    code = overdue_dossier(web, app, clock)
    letter = letter_id(app, code)
    web.login("sonv.chuyenvien1")
    web.post(f"/xin-loi/{letter}/ky", {}, page="/")
    page = web.get(f"/xin-loi/{letter}").get_data(as_text=True)
    assert 'id="letter-status">Dự thảo' in page
    with ctx_of(app).uow() as uow:
        assert uow.session.scalar(select(Dossier.appointment_moved_at).where(Dossier.code == code)) is None


def test_new_appointment_earlier_than_the_old_one_is_refused(web, app, clock) -> None:
    code = overdue_dossier(web, app, clock)
    letter = letter_id(app, code)
    web.login("sonv.lanhdao")
    response = web.post(
        f"/xin-loi/{letter}", {"reason": "x", "new_due_date": "2026-12-01", "new_due_time": "08:00"}, page="/"
    )
    assert response.status_code == 422
    with ctx_of(app).uow() as uow:
        assert uow.session.get(ApologyLetter, letter).new_due_at > at("2026-12-08 10:00")


def test_other_agencies_cannot_open_the_letter(web, app, clock) -> None:
    code = overdue_dossier(web, app, clock)
    letter = letter_id(app, code)
    web.login("xa.lanhdao")
    assert web.get(f"/xin-loi/{letter}").status_code == 403
    assert web.get(f"/xin-loi/{letter}/in").status_code == 403


def test_stale_scheduler_is_shown_and_a_fresh_one_is_not(web, app, clock) -> None:
    web.login("sonv.motcua")
    assert 'id="stale-scheduler"' in web.get("/").get_data(as_text=True)
    # The heartbeat records the wall-clock time of the tick, so the page is read at that time too.
    clock.moment = datetime.now(UTC)
    tick(ctx_of(app), clock.moment)
    assert 'id="stale-scheduler"' not in web.get("/").get_data(as_text=True)


def test_failed_messages_are_for_the_administrator_only(web) -> None:
    web.login("sonv.motcua")
    assert web.get("/quan-tri/thong-bao-loi").status_code == 403
