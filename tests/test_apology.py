"""Apology letters (form 04): drafted by the watcher or by hand, edited, issued once by the head of the agency at fault."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.context import Context
from engine.deadlines.watcher import tick
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from engine.notify.notifications import officer_notifications
from engine.runtime import dossiers as svc
from engine.runtime.apology import (
    create_draft_apology,
    edit_apology,
    issue_apology,
    letter_form,
    letters_for_dossier,
    overdue_without_apology,
)
from models import Agency, ApologyLetter, Dossier, DossierEvent, Notification
from tests.conftest import VN, Officers, at, open_items

APPLICANT = svc.Applicant(
    name="Lê Văn Cường", phone="0912 345 678", email="cuong@example.vn", address="Thôn 3, xã Demo"
)


def agency_id(ctx: Context, code: str) -> int:
    with ctx.uow() as uow:
        return uow.session.scalars(select(Agency.id).where(Agency.code == code)).one()


def step(
    ctx: Context, officers: Officers, dossier_id: int, who: str, when, outcome: str | None = None
) -> None:
    (item,) = open_items(ctx, dossier_id)
    svc.complete(
        ctx, item.id, officers[who], now=when if not isinstance(when, str) else at(when), outcome=outcome
    )


def dossier(ctx: Context, dossier_id: int) -> Dossier:
    with ctx.uow() as uow:
        return uow.session.get(Dossier, dossier_id)


def the_letter(ctx: Context, dossier_id: int):
    with ctx.uow() as uow:
        (letter,) = letters_for_dossier(uow.session, dossier_id)
    return letter


def late_dossier(ctx: Context, officers: Officers) -> tuple[int, object]:
    """A 1.001806 dossier left at its first step until one working day before its due time."""
    receipt = svc.receive_dossier(
        ctx,
        procedure_code="1.001806",
        applicant=APPLICANT,
        channel="in_person",
        officer_id=officers["sonv.motcua"],
        now=at("2026-11-23 08:00"),
    )
    tick(ctx, at("2026-12-07 09:00"))  # due Tuesday 8/12 08:00: apology required, draft raised
    return receipt.dossier_id, the_letter(ctx, receipt.dossier_id)


def test_an_inter_agency_dossier_late_at_the_department_is_apologised_for_by_the_department(ctx, officers):
    commune = agency_id(ctx, "000.01.25.H40")
    department = agency_id(ctx, "000.00.12.H40")
    office = agency_id(ctx, "000.00.01.H40")
    receipt = svc.receive_dossier(
        ctx,
        procedure_code="NA.3854",
        applicant=APPLICANT,
        channel="in_person",
        officer_id=officers["xa.motcua"],
        now=at("2026-11-23 08:00"),
    )
    dossier_id = receipt.dossier_id
    for who, when, outcome in [
        ("xa.motcua", "2026-11-23 08:30", None),
        ("xa.truongphong", "2026-11-23 09:00", None),
        ("xa.chuyenvien", "2026-11-23 09:30", "forward"),
        ("xa.truongphong", "2026-11-23 10:00", None),
        ("xa.lanhdao", "2026-11-23 10:30", None),
        ("xa.vanthu", "2026-11-23 11:00", None),
    ]:
        step(ctx, officers, dossier_id, who, when, outcome)
    (item,) = open_items(ctx, dossier_id)
    assert (item.task_id, item.agency_id) == ("Task_ProvinceReceive", department)
    due = receipt.due_at
    report = tick(ctx, due)
    assert sorted(a.kind for a in report.raised) == ["apology_required", "late_unapologised", "overdue"]

    # The draft is the department's, which holds the dossier; the commune's desk and the
    # department's leader are told, and both agencies see it in the list of unapologised dossiers.
    letter = the_letter(ctx, dossier_id)
    assert (letter.status, letter.agency_id, letter.agency_name) == ("draft", department, "Sở Nội vụ")
    with ctx.uow() as uow:
        s = uow.session
        for who in ("xa.motcua", "sonv.lanhdao"):
            assert f"Cần phiếu xin lỗi: hồ sơ {receipt.code}" in [
                n.subject for n in officer_notifications(s, officers[who])
            ]
        for agency in (commune, department):
            (line,) = overdue_without_apology(s, agency, due + timedelta(hours=1))
            assert (line.code, line.letter_status, line.holder_agency_names) == (
                receipt.code,
                "draft",
                ("Sở Nội vụ",),
            )
        assert overdue_without_apology(s, office, due + timedelta(hours=1)) == []

    # Only the head of the agency at fault signs: not the commune's leader.
    new_due = letter.proposed_due_at
    with pytest.raises(Forbidden, match="Chỉ lãnh đạo Sở Nội vụ"):
        issue_apology(ctx, letter.id, officers["xa.lanhdao"], due + timedelta(hours=1))
    issue_apology(ctx, letter.id, officers["sonv.lanhdao"], due + timedelta(hours=1))

    moved = dossier(ctx, dossier_id)
    assert (moved.appointment_at, moved.due_at, moved.original_due_at, moved.deadline_version) == (
        new_due,
        due,
        due,
        2,
    )
    assert moved.appointment_moved_at == due + timedelta(hours=1)
    with ctx.uow() as uow:
        s = uow.session
        assert overdue_without_apology(s, commune, due + timedelta(hours=2)) == []
        messages = {
            n.channel: n
            for n in s.scalars(select(Notification).where(Notification.kind == "applicant_apology"))
        }
        desk = [n.subject for n in officer_notifications(s, officers["xa.motcua"])]
    assert set(messages) == {"sms", "email"}
    assert messages["sms"].address == "0912345678"
    local_new = new_due.astimezone(VN)
    assert messages["sms"].body == (
        f"So Noi vu xin loi vi ho so {receipt.code} cham tre. Hen tra ket qua moi "
        f"{local_new:%H:%M %d/%m/%Y} tai Bo phan Mot cua Uy ban nhan dan xa Demo."
    )
    assert "Sở Nội vụ xin lỗi Ông/Bà" in messages["email"].body
    assert "tại Bộ phận Một cửa Ủy ban nhân dân xã Demo" in messages["email"].body
    assert f"Đã ký phiếu xin lỗi hồ sơ {receipt.code}" in desk

    with ctx.uow() as uow:
        form = letter_form(uow.session, letter.id, VN)
    assert form.is_issued
    assert (form.agency_name, form.parent_agency_name, form.receiving_agency_name) == (
        "Sở Nội vụ",
        "Ủy ban nhân dân tỉnh Demo",
        "Ủy ban nhân dân xã Demo",
    )
    assert (form.applicant_name, form.applicant_address, form.dossier_code) == (
        "Lê Văn Cường",
        "Thôn 3, xã Demo",
        receipt.code,
    )
    assert form.procedure_code == "NA.3854"
    assert form.procedure_name.startswith("Giải quyết chế độ trợ cấp một lần")
    assert form.received_at == at("2026-11-23 08:00")
    assert (form.original_due_at, form.new_due_at) == (due, new_due)
    assert form.reason.startswith(
        "Hồ sơ đang được giải quyết ở bước «Tiếp nhận hồ sơ từ cấp xã» tại Sở Nội vụ"
    )
    assert "Sở Nội vụ xin lỗi Ông/Bà" in form.apology_text
    assert (form.signer_name, form.signer_title) == ("Hoàng Minh Đức", "Thủ trưởng cơ quan")
    assert form.issue_date == (due + timedelta(hours=1)).astimezone(VN).date()


def test_the_full_flow_edit_then_issue_then_a_second_move_is_refused(ctx, officers):
    dossier_id, letter = late_dossier(ctx, officers)
    new_due = at("2026-12-22 16:00")
    edit_apology(
        ctx,
        letter.id,
        officers["sonv.truongphong"],
        reason="Hồ sơ cần xác minh thêm tại cơ sở sản xuất",
        new_due=new_due,
        now=at("2026-12-07 10:00"),
    )
    edited = the_letter(ctx, dossier_id)
    assert (edited.status, edited.new_due_at, edited.reason) == (
        "edited",
        new_due,
        "Hồ sơ cần xác minh thêm tại cơ sở sản xuất",
    )
    issue_apology(ctx, letter.id, officers["sonv.lanhdao"], at("2026-12-07 10:30"))
    assert dossier(ctx, dossier_id).appointment_at == new_due
    assert the_letter(ctx, dossier_id).status == "issued"

    # The appointment moves once only: a second move is refused with a clear message, nothing changes.
    with pytest.raises(Conflict, match="mỗi hồ sơ chỉ được hẹn lại một lần"):
        svc.move_appointment(
            ctx,
            dossier(ctx, dossier_id).code,
            officers["sonv.motcua"],
            new_due=at("2026-12-30 16:00"),
            reason="Chậm nữa",
            now=at("2026-12-08 09:00"),
        )
    with pytest.raises(Conflict):
        issue_apology(ctx, letter.id, officers["sonv.lanhdao"], at("2026-12-08 09:00"))
    assert dossier(ctx, dossier_id).appointment_at == new_due
    with ctx.uow() as uow:
        kinds = uow.session.scalars(
            select(DossierEvent.kind).where(DossierEvent.dossier_id == dossier_id).order_by(DossierEvent.id)
        ).all()
    assert [k for k in kinds if k.startswith("apology") or k == "appointment_moved"] == [
        "apology_drafted",
        "apology_edited",
        "appointment_moved",
        "apology_issued",
    ]


def test_a_letter_cannot_move_an_appointment_the_desk_already_moved(ctx, officers):
    dossier_id, letter = late_dossier(ctx, officers)
    code = dossier(ctx, dossier_id).code
    svc.move_appointment(
        ctx,
        code,
        officers["sonv.motcua"],
        new_due=at("2026-12-15 16:00"),
        reason="Chậm",
        now=at("2026-12-07 10:00"),
    )
    with pytest.raises(Conflict, match="mỗi hồ sơ chỉ được hẹn lại một lần"):
        issue_apology(ctx, letter.id, officers["sonv.lanhdao"], at("2026-12-07 11:00"))
    assert the_letter(ctx, dossier_id).status == "draft"
    assert dossier(ctx, dossier_id).appointment_at == at("2026-12-15 16:00")


def unchanged(ctx: Context, dossier_id: int):
    d = dossier(ctx, dossier_id)
    letter = the_letter(ctx, dossier_id)
    return (
        d.due_at,
        d.deadline_version,
        d.appointment_moved_at,
        letter.status,
        letter.new_due_at,
        letter.reason,
    )


def test_only_a_leader_of_the_agency_at_fault_can_issue(ctx, officers):
    dossier_id, letter = late_dossier(ctx, officers)
    before = unchanged(ctx, dossier_id)
    for who in ("sonv.truongphong", "sonv.chuyenvien1", "sonv.motcua", "vp.lanhdao", "xa.lanhdao"):
        with pytest.raises(Forbidden, match="Chỉ lãnh đạo Sở Nội vụ mới được ký phát hành phiếu xin lỗi này"):
            issue_apology(ctx, letter.id, officers[who], at("2026-12-07 10:00"))
    assert unchanged(ctx, dossier_id) == before


def test_a_new_appointment_not_after_now_and_the_old_one_is_refused(ctx, officers):
    dossier_id, letter = late_dossier(ctx, officers)
    before = unchanged(ctx, dossier_id)
    for new_due, message in [
        ("2026-12-07 09:30", "phải sau thời điểm hiện tại"),
        ("2026-12-08 08:00", "phải sau ngày hẹn hiện tại \\(08:00 ngày 08/12/2026\\)"),
    ]:
        with pytest.raises(InvalidInput, match=message) as caught:
            edit_apology(
                ctx,
                letter.id,
                officers["sonv.lanhdao"],
                reason="Lý do",
                new_due=at(new_due),
                now=at("2026-12-07 10:00"),
            )
        assert caught.value.field == "new_due"
    assert unchanged(ctx, dossier_id) == before


def test_a_draft_whose_appointment_has_passed_cannot_be_issued_as_is(ctx, officers):
    dossier_id, letter = late_dossier(ctx, officers)
    before = unchanged(ctx, dossier_id)
    with pytest.raises(InvalidInput, match="Ngày hẹn trả kết quả mới phải sau thời điểm hiện tại"):
        issue_apology(ctx, letter.id, officers["sonv.lanhdao"], letter.proposed_due_at + timedelta(hours=1))
    assert unchanged(ctx, dossier_id) == before


def test_an_issued_letter_cannot_be_edited(ctx, officers):
    dossier_id, letter = late_dossier(ctx, officers)
    issue_apology(ctx, letter.id, officers["sonv.lanhdao"], at("2026-12-07 10:00"))
    before = unchanged(ctx, dossier_id)
    with pytest.raises(Conflict, match="đã được ký phát hành, không thể sửa"):
        edit_apology(
            ctx,
            letter.id,
            officers["sonv.lanhdao"],
            reason="Sửa lại",
            new_due=at("2026-12-30 16:00"),
            now=at("2026-12-07 11:00"),
        )
    assert unchanged(ctx, dossier_id) == before


def test_editing_needs_a_reason_and_an_officer_of_the_agency_at_fault(ctx, officers):
    dossier_id, letter = late_dossier(ctx, officers)
    before = unchanged(ctx, dossier_id)
    with pytest.raises(InvalidInput, match="lý do") as caught:
        edit_apology(
            ctx,
            letter.id,
            officers["sonv.lanhdao"],
            reason="  ",
            new_due=at("2026-12-30 16:00"),
            now=at("2026-12-07 10:00"),
        )
    assert caught.value.field == "reason"
    with pytest.raises(Forbidden, match="Chỉ cán bộ của Sở Nội vụ"):
        edit_apology(
            ctx,
            letter.id,
            officers["xa.lanhdao"],
            reason="Lý do",
            new_due=at("2026-12-30 16:00"),
            now=at("2026-12-07 10:00"),
        )
    with pytest.raises(NotFound):
        edit_apology(
            ctx,
            9999,
            officers["sonv.lanhdao"],
            reason="Lý do",
            new_due=at("2026-12-30 16:00"),
            now=at("2026-12-07 10:00"),
        )
    assert unchanged(ctx, dossier_id) == before


def test_a_draft_can_be_raised_by_hand_before_the_watcher_and_is_then_reused(ctx, officers):
    receipt = svc.receive_dossier(
        ctx,
        procedure_code="1.001806",
        applicant=APPLICANT,
        channel="in_person",
        officer_id=officers["sonv.motcua"],
        now=at("2026-11-23 08:00"),
    )
    with pytest.raises(Forbidden):
        create_draft_apology(ctx, receipt.code, officers["vp.lanhdao"], at("2026-11-30 09:00"))
    letter_id = create_draft_apology(
        ctx, receipt.code, officers["sonv.motcua"], at("2026-11-30 09:00"), reason="Chờ xác minh"
    )
    assert (
        create_draft_apology(ctx, receipt.code, officers["sonv.lanhdao"], at("2026-11-30 10:00")) == letter_id
    )
    report = tick(ctx, at("2026-12-07 09:00"))
    (apology,) = [a for a in report.raised if a.kind == "apology_required"]
    assert apology.letter_id == letter_id
    assert report.letters_drafted == []
    with ctx.uow() as uow:
        letters = uow.session.scalars(select(ApologyLetter)).all()
    assert [(letter.id, letter.reason, letter.created_by_id) for letter in letters] == [
        (letter_id, "Chờ xác minh", officers["sonv.motcua"])
    ]
