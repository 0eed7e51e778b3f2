"""Legal time that cannot lie: one legal due time, an appointment moved once, lateness that never disappears.

The rules are in DOMAIN.md, "Legal time, the appointment, and lateness". The procedure 1.001806
has 80 working hours: reception 4, assignment 4, appraisal 56, review 4, approval 8, issue 4, and
the hand-over of the result, not counted. Received Monday 23/11/2026 08:00, it is legally due
Tuesday 8/12/2026 08:00 (Tuesday 24/11 is a day off).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.context import Context
from engine.deadlines.watcher import tick
from engine.errors import InvalidInput
from engine.runtime import dossiers as svc
from engine.runtime.apology import (
    create_draft_apology,
    edit_apology,
    issue_apology,
    letters_for_dossier,
    unresolved_after_appointment,
)
from engine.runtime.control_sheet import control_sheet
from models import ApologyLetter, Dossier, DossierEvent, Notification, Suspension, WorkItem
from tests.conftest import Officers, at, open_items

APPLICANT = svc.Applicant(name="Trần Thị Bình", phone="0912345678", email="binh@example.vn")
DUE = at("2026-12-08 08:00")


def receive(ctx: Context, officers: Officers, when: str = "2026-11-23 08:00") -> int:
    return svc.receive_dossier(
        ctx,
        procedure_code="1.001806",
        applicant=APPLICANT,
        channel="in_person",
        officer_id=officers["sonv.motcua"],
        now=at(when),
    ).dossier_id


def step(ctx: Context, officers: Officers, dossier_id: int, who: str, when: str, outcome: str | None = None):
    (item,) = open_items(ctx, dossier_id)
    svc.complete(ctx, item.id, officers[who], now=at(when), outcome=outcome)
    return item


def to_appraisal(ctx: Context, officers: Officers, dossier_id: int) -> None:
    step(ctx, officers, dossier_id, "sonv.motcua", "2026-11-23 09:00")
    step(ctx, officers, dossier_id, "sonv.truongphong", "2026-11-23 09:30")


def after_appraisal(ctx: Context, officers: Officers, dossier_id: int, day: str) -> None:
    """Review, approval and issue on one day; the result is then ready at the desk."""
    step(ctx, officers, dossier_id, "sonv.truongphong", f"{day} 08:00", "submit")
    step(ctx, officers, dossier_id, "sonv.lanhdao", f"{day} 09:00", "approve")
    step(ctx, officers, dossier_id, "sonv.vanthu", f"{day} 10:00")


def dossier(ctx: Context, dossier_id: int) -> Dossier:
    with ctx.uow() as uow:
        return uow.session.get(Dossier, dossier_id)


def applicant_subjects(ctx: Context, dossier_id: int) -> list[str]:
    with ctx.uow() as uow:
        return list(
            uow.session.scalars(
                select(Notification.subject)
                .where(Notification.dossier_id == dossier_id, Notification.channel == "email")
                .order_by(Notification.id)
            )
        )


def test_a_letter_moves_the_appointment_never_the_legal_due_time_and_a_late_result_stays_late(ctx, officers):
    dossier_id = receive(ctx, officers)
    to_appraisal(ctx, officers, dossier_id)
    tick(ctx, at("2026-12-09 09:00"))  # overdue: the draft letter is raised
    (draft,) = letters_for_dossier_(ctx, dossier_id)
    edit_apology(
        ctx,
        draft.id,
        officers["sonv.truongphong"],
        reason="Cần xác minh tại cơ sở sản xuất",
        new_due=at("2026-12-15 17:00"),
        now=at("2026-12-09 09:30"),
    )
    issue_apology(ctx, draft.id, officers["sonv.lanhdao"], at("2026-12-09 10:00"))
    moved = dossier(ctx, dossier_id)
    assert (moved.due_at, moved.appointment_at, moved.late_at) == (DUE, at("2026-12-15 17:00"), DUE)
    step(ctx, officers, dossier_id, "sonv.chuyenvien1", "2026-12-10 08:00", "forward")
    after_appraisal(ctx, officers, dossier_id, "2026-12-11")
    judged = dossier(ctx, dossier_id)
    # Ready three working days before the new appointment, yet late: it was due on 8/12.
    assert (judged.status, judged.result_class, judged.judged_at) == (
        "result_ready",
        "late",
        at("2026-12-11 10:00"),
    )
    (letter,) = letters_for_dossier_(ctx, dossier_id)
    with ctx.uow() as uow:
        row = uow.session.get(ApologyLetter, letter.id)
        # Issued after the legal due time: allowed, and marked late.
        assert (row.status, row.issued_late, row.original_due_at) == ("issued", True, DUE)


def letters_for_dossier_(ctx: Context, dossier_id: int):
    with ctx.uow() as uow:
        return letters_for_dossier(uow.session, dossier_id)


def test_a_letter_issued_a_working_day_ahead_is_on_time_and_the_result_within_the_legal_time_is_on_time(
    ctx, officers
):
    dossier_id = receive(ctx, officers)
    to_appraisal(ctx, officers, dossier_id)
    # The appraisal is due Thursday 3/12 09:30; the 16 hours after it fit before 8/12 08:00 only
    # while it ends by Friday 4/12 08:00: the letter is drafted just after that, days ahead.
    assert dossier(ctx, dossier_id).projected_late_at == at("2026-12-04 08:00")
    assert tick(ctx, at("2026-12-04 08:00")).letters_drafted == []
    assert len(tick(ctx, at("2026-12-04 08:30")).letters_drafted) == 1
    (draft,) = letters_for_dossier_(ctx, dossier_id)
    # Issued 15 working hours before the legal due time: at least one working day ahead.
    issue_apology(ctx, draft.id, officers["sonv.lanhdao"], at("2026-12-04 09:00"))
    with ctx.uow() as uow:
        assert uow.session.get(ApologyLetter, draft.id).issued_late is False
    step(ctx, officers, dossier_id, "sonv.chuyenvien1", "2026-12-04 10:00", "forward")
    after_appraisal(ctx, officers, dossier_id, "2026-12-07")
    finished = dossier(ctx, dossier_id)
    assert (finished.result_class, finished.late_at) == ("early", None)


def test_a_supplement_requested_after_the_due_time_keeps_the_lateness_and_needs_a_reason(ctx, officers):
    dossier_id = receive(ctx, officers)
    to_appraisal(ctx, officers, dossier_id)
    (item,) = open_items(ctx, dossier_id)
    with pytest.raises(InvalidInput, match="sau 3 ngày làm việc kể từ khi tiếp nhận") as refused:
        svc.request_supplement(
            ctx,
            item.id,
            officers["sonv.chuyenvien1"],
            missing=["Bản sao hợp đồng lao động"],
            reason="Thiếu hợp đồng",
            now=at("2026-12-09 09:00"),
        )
    assert refused.value.field == "late_reason"
    unchanged = dossier(ctx, dossier_id)
    assert (unchanged.status, unchanged.late_at) == ("processing", None)
    with ctx.uow() as uow:
        assert uow.session.scalars(select(Suspension)).all() == []
    svc.request_supplement(
        ctx,
        item.id,
        officers["sonv.chuyenvien1"],
        missing=["Bản sao hợp đồng lao động"],
        reason="Thiếu hợp đồng",
        late_reason="Phát hiện khi đối chiếu danh sách người lao động",
        now=at("2026-12-09 09:00"),
    )
    waiting = dossier(ctx, dossier_id)
    assert (waiting.status, waiting.late_at) == ("supplement", DUE)
    with ctx.uow() as uow:
        (suspension,) = uow.session.scalars(select(Suspension)).all()
        assert (suspension.late, suspension.late_reason) == (
            True,
            "Phát hiện khi đối chiếu danh sách người lao động",
        )
    with ctx.uow() as uow:
        sheet = control_sheet(uow.session, uow.session.get(Dossier, dossier_id))
    assert [r.note for r in sheet if r.note] == [
        "Yêu cầu bổ sung trễ hạn: Phát hiện khi đối chiếu danh sách người lao động"
    ]
    svc.resume(ctx, waiting.code, officers["sonv.motcua"], at("2026-12-10 08:00"))
    restarted = dossier(ctx, dossier_id)
    # The clock restarts from the complete supplement: a new legal due time and appointment...
    assert restarted.due_at == restarted.appointment_at == at("2026-12-24 08:00")
    # ...which the applicant is told.
    assert "Đã nhận đủ hồ sơ bổ sung " + restarted.code in applicant_subjects(ctx, dossier_id)
    step(ctx, officers, dossier_id, "sonv.chuyenvien1", "2026-12-10 09:00", "forward")
    after_appraisal(ctx, officers, dossier_id, "2026-12-11")
    # Two weeks before the new due time, and still late: the lateness was recorded before.
    finished = dossier(ctx, dossier_id)
    assert (finished.result_class, finished.late_at) == ("late", DUE)


def test_a_supplement_requested_within_three_working_days_is_not_late(ctx, officers):
    dossier_id = receive(ctx, officers)
    to_appraisal(ctx, officers, dossier_id)
    (item,) = open_items(ctx, dossier_id)
    # 23/11 08:00 + 24 working hours (24/11 is a day off) is Friday 27/11 08:00.
    svc.request_supplement(
        ctx,
        item.id,
        officers["sonv.chuyenvien1"],
        missing=["Bản sao hợp đồng lao động"],
        reason="Thiếu hợp đồng",
        now=at("2026-11-27 08:00"),
    )
    with ctx.uow() as uow:
        (suspension,) = uow.session.scalars(select(Suspension)).all()
        assert (suspension.late, suspension.late_reason) == (False, None)
    with pytest.raises(InvalidInput, match="yêu cầu trễ"):
        second = receive(ctx, officers)
        to_appraisal(ctx, officers, second)
        (later,) = open_items(ctx, second)
        svc.request_supplement(
            ctx,
            later.id,
            officers["sonv.chuyenvien1"],
            missing=["Bản sao hợp đồng lao động"],
            reason="Thiếu hợp đồng",
            now=at("2026-11-27 08:01"),
        )


def test_refusal_is_accepted_only_on_a_step_whose_decision_has_a_refusal_branch(ctx, officers):
    dossier_id = receive(ctx, officers)
    (reception,) = open_items(ctx, dossier_id)
    with pytest.raises(InvalidInput, match="không có nhánh từ chối") as refused:
        svc.refuse(
            ctx,
            reception.id,
            officers["sonv.motcua"],
            reason="Không đủ điều kiện",
            now=at("2026-11-23 09:00"),
        )
    assert refused.value.field == "outcome"
    unchanged = dossier(ctx, dossier_id)
    assert (unchanged.status, unchanged.refusal_reason) == ("processing", None)
    assert [i.id for i in open_items(ctx, dossier_id)] == [reception.id]
    with ctx.uow() as uow:
        kinds = uow.session.scalars(select(DossierEvent.kind).where(DossierEvent.dossier_id == dossier_id))
        assert "refused" not in list(kinds)
    to_appraisal(ctx, officers, dossier_id)
    (appraisal,) = open_items(ctx, dossier_id)
    svc.refuse(
        ctx,
        appraisal.id,
        officers["sonv.chuyenvien1"],
        reason="Tỷ lệ lao động là người khuyết tật dưới 30%",
        now=at("2026-11-30 09:00"),
    )
    refused_dossier = dossier(ctx, dossier_id)
    assert refused_dossier.status == "result_ready"
    with ctx.uow() as uow:
        body = uow.session.scalars(
            select(Notification.body).where(
                Notification.dossier_id == dossier_id,
                Notification.kind == "applicant_refused",
                Notification.channel == "email",
            )
        ).first()
    assert "Sở Nội vụ từ chối giải quyết hồ sơ" in body
    assert "Lý do: Tỷ lệ lao động là người khuyết tật dưới 30%" in body
    (hand_over,) = open_items(ctx, dossier_id)
    with pytest.raises(InvalidInput, match="không có nhánh từ chối"):
        svc.refuse(ctx, hand_over.id, officers["sonv.motcua"], reason="Lần nữa", now=at("2026-11-30 10:00"))


def test_a_result_is_judged_when_ready_and_the_hand_over_is_classed_against_the_appointment(ctx, officers):
    dossier_id = receive(ctx, officers)
    to_appraisal(ctx, officers, dossier_id)
    step(ctx, officers, dossier_id, "sonv.chuyenvien1", "2026-11-30 09:00", "forward")
    step(ctx, officers, dossier_id, "sonv.truongphong", "2026-11-30 10:00", "submit")  # due 14:30
    step(ctx, officers, dossier_id, "sonv.lanhdao", "2026-11-30 11:00", "approve")  # due 1/12 10:00
    step(ctx, officers, dossier_id, "sonv.vanthu", "2026-11-30 14:00")  # due 15:30
    (hand_over,) = open_items(ctx, dossier_id)
    # Handed over a day after the appointment: the dossier stays early (judged when ready); the
    # hand-over step, not counted in the legal time, is late against the appointment.
    svc.return_result(
        ctx, hand_over.id, officers["sonv.motcua"], collected_by="Trần Thị Bình", now=at("2026-12-09 08:00")
    )
    returned = dossier(ctx, dossier_id)
    assert (returned.status, returned.result_class, returned.judged_at) == (
        "returned",
        "early",
        at("2026-11-30 14:00"),
    )
    with ctx.uow() as uow:
        classes = dict(
            uow.session.execute(
                select(WorkItem.task_id, WorkItem.result_class).where(WorkItem.dossier_id == dossier_id)
            ).all()
        )
    assert classes == {
        "Task_Receive": "on_time",
        "Task_Assign": "on_time",
        "Task_Process": "early",
        "Task_Review": "on_time",
        "Task_Approve": "early",
        "Task_Issue": "on_time",
        "Task_Return": "late",
    }


def test_an_apology_for_a_dossier_neither_late_nor_projected_late_is_refused(ctx, officers):
    dossier_id = receive(ctx, officers)
    with pytest.raises(InvalidInput, match="chưa cần phiếu xin lỗi"):
        create_draft_apology(
            ctx, dossier(ctx, dossier_id).code, officers["sonv.lanhdao"], at("2026-11-23 09:00")
        )
    assert letters_for_dossier_(ctx, dossier_id) == []


def test_a_dossier_unresolved_after_its_moved_appointment_is_late_again_daily_and_listed(ctx, officers):
    dossier_id = receive(ctx, officers)
    to_appraisal(ctx, officers, dossier_id)
    tick(ctx, at("2026-12-07 09:00"))
    (draft,) = letters_for_dossier_(ctx, dossier_id)
    edit_apology(
        ctx,
        draft.id,
        officers["sonv.truongphong"],
        reason="Chờ ý kiến của cơ quan liên quan",
        new_due=at("2026-12-10 17:00"),
        now=at("2026-12-07 09:10"),
    )
    issue_apology(ctx, draft.id, officers["sonv.lanhdao"], at("2026-12-07 09:30"))
    assert [a.kind for a in tick(ctx, at("2026-12-10 16:59")).raised] == []
    assert [(a.kind, a.round) for a in tick(ctx, at("2026-12-10 17:00")).raised] == [("late_again", 1)]
    # Thursday 17:00 + 24 hours is Friday's close: the reminder waits for Monday's opening.
    assert [a.kind for a in tick(ctx, at("2026-12-11 16:59")).raised] == []
    assert [(a.kind, a.round) for a in tick(ctx, at("2026-12-14 07:30")).raised] == [("late_again", 2)]
    with ctx.uow() as uow:
        office = uow.session.get(Dossier, dossier_id).agency_id
        listed = unresolved_after_appointment(uow.session, office, at("2026-12-14 07:30"))
    assert [(d.dossier_id, d.appointment_at) for d in listed] == [(dossier_id, at("2026-12-10 17:00"))]
    step(ctx, officers, dossier_id, "sonv.chuyenvien1", "2026-12-14 08:00", "forward")
    after_appraisal(ctx, officers, dossier_id, "2026-12-14")
    # Resolved: no more reminders (the hand-over step has only its own overdue alert).
    assert [a.kind for a in tick(ctx, at("2026-12-15 17:00")).raised] == ["overdue"]
    with ctx.uow() as uow:
        assert unresolved_after_appointment(uow.session, office, at("2026-12-15 17:00")) == []


def test_the_projected_lateness_is_at_once_when_a_step_opens_already_too_late(ctx, officers):
    dossier_id = receive(ctx, officers)
    # The reception runs two working days over: the assignment opens when the 76 hours after
    # the reception no longer fit, so the dossier is projected late from that very moment.
    step(ctx, officers, dossier_id, "sonv.motcua", "2026-11-26 08:00")
    assert dossier(ctx, dossier_id).projected_late_at == at("2026-11-26 08:00")
    report = tick(ctx, at("2026-11-26 08:01"))
    assert [a.kind for a in report.raised if a.kind == "apology_required"] == ["apology_required"]
