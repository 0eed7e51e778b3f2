"""The SLA watcher, driven by an injected clock across weekends, Tết 2027 and the 22/8/2026 working Saturday."""

from __future__ import annotations

import threading
from datetime import datetime

from sqlalchemy import func, select

from engine.context import Context
from engine.deadlines.watcher import alerts_for_dossier, heartbeat, tick
from engine.notify.notifications import officer_notifications, unread_count
from engine.runtime import dossiers as svc
from engine.runtime.apology import letters_for_dossier
from models import Notification, SlaAlert, WorkItem
from tests.conftest import Officers, at, open_items

APPLICANT = svc.Applicant(name="Trần Thị Bích", phone="0987654321", email="bich@example.vn")


def receive(ctx: Context, officers: Officers, when: str, code: str = "1.001806") -> int:
    return svc.receive_dossier(
        ctx,
        procedure_code=code,
        applicant=APPLICANT,
        channel="in_person",
        officer_id=officers["sonv.motcua"],
        now=at(when),
    ).dossier_id


def step(ctx: Context, officers: Officers, dossier_id: int, who: str, when: str, outcome: str | None = None):
    (item,) = open_items(ctx, dossier_id)
    reason = "Cần thẩm định lại" if outcome == "rework" else None  # a send-back needs its reason
    svc.complete(ctx, item.id, officers[who], now=at(when), outcome=outcome, comment=reason)
    return item


def raised(ctx: Context, when: str) -> list[tuple[str, str | None, int]]:
    """Tick at a moment; what it raised as (kind, step id or None, round)."""
    report = tick(ctx, at(when))
    steps = {}
    with ctx.uow() as uow:
        for alert in report.raised:
            if alert.work_item_id:
                steps[alert.id] = uow.session.get(WorkItem, alert.work_item_id).task_id
    return sorted((a.kind, steps.get(a.id), a.round) for a in report.raised)


def alert_rows(ctx: Context, dossier_id: int) -> list[tuple[str, int, datetime]]:
    with ctx.uow() as uow:
        return [(a.kind, a.round, a.raised_at) for a in alerts_for_dossier(uow.session, dossier_id)]


def subjects(ctx: Context, officer_id: int) -> list[str]:
    with ctx.uow() as uow:
        return [n.subject for n in officer_notifications(uow.session, officer_id)]


def test_an_overdue_step_alerts_its_pool_and_the_leader_exactly_at_the_due_time_and_once(ctx, officers):
    dossier_id = receive(ctx, officers, "2026-11-23 08:00")
    (item,) = open_items(ctx, dossier_id)
    assert item.due_at == at("2026-11-23 13:30")
    assert raised(ctx, "2026-11-23 13:29") == []
    assert raised(ctx, "2026-11-23 13:30") == [("overdue", "Task_Receive", 0)]
    # The steps after it are allotted the whole rest of the legal time: one minute late, they no
    # longer fit, and the apology letter is drafted at once (not in the last working day).
    assert raised(ctx, "2026-11-23 13:31") == [("apology_required", None, 0)]
    assert raised(ctx, "2026-11-23 13:30") == []
    assert raised(ctx, "2026-11-23 13:32") == []
    expected = "Quá hạn: «Tiếp nhận, số hóa, ký số và chuyển hồ sơ» - hồ sơ 000.00.12.H40-261123-0001"
    apology = "Cần phiếu xin lỗi: hồ sơ 000.00.12.H40-261123-0001"
    assert subjects(ctx, officers["sonv.motcua"]) == [apology, expected]
    assert subjects(ctx, officers["sonv.lanhdao"]) == [apology, expected]
    assert subjects(ctx, officers["sonv.chuyenvien1"]) == []
    with ctx.uow() as uow:
        assert unread_count(uow.session, officers["sonv.lanhdao"]) == 2


def test_due_soon_warns_four_working_hours_before_a_due_time_just_after_tet_2027(ctx, officers):
    dossier_id = receive(ctx, officers, "2027-01-26 08:00")
    step(ctx, officers, dossier_id, "sonv.motcua", "2027-01-26 09:00")
    step(ctx, officers, dossier_id, "sonv.truongphong", "2027-01-26 09:30")
    (process,) = open_items(ctx, dossier_id)
    # 56 working hours from Tuesday 26/1 09:30; Tết closes the office from Thursday 4/2 to Wednesday 10/2.
    assert (process.task_id, process.due_at) == ("Task_Process", at("2027-02-11 09:30"))
    assert raised(ctx, "2027-02-03 14:59") == []
    # Four working hours before: 2 on Wednesday 3/2 afternoon, 2 on Thursday 11/2 morning.
    assert raised(ctx, "2027-02-03 15:00") == [("due_soon", "Task_Process", 0)]
    for moment in ("2027-02-03 16:00", "2027-02-06 10:00", "2027-02-09 09:00", "2027-02-11 09:29"):
        assert raised(ctx, moment) == []
    assert raised(ctx, "2027-02-11 09:30") == [("overdue", "Task_Process", 0)]
    # The pool was warned (nobody had claimed the step); the overdue alert adds the leader.
    warned = "Sắp đến hạn: «Thẩm định hồ sơ» - hồ sơ 000.00.12.H40-270126-0001"
    late = "Quá hạn: «Thẩm định hồ sơ» - hồ sơ 000.00.12.H40-270126-0001"
    assert subjects(ctx, officers["sonv.chuyenvien1"]) == [late, warned]
    assert subjects(ctx, officers["sonv.chuyenvien2"]) == [late, warned]
    assert subjects(ctx, officers["sonv.lanhdao"]) == [late]


def test_a_claimed_step_warns_only_its_assignee(ctx, officers):
    dossier_id = receive(ctx, officers, "2026-11-23 08:00")
    step(ctx, officers, dossier_id, "sonv.motcua", "2026-11-23 08:30")
    step(ctx, officers, dossier_id, "sonv.truongphong", "2026-11-23 09:00")
    (process,) = open_items(ctx, dossier_id)
    svc.claim(ctx, process.id, officers["sonv.chuyenvien2"], at("2026-11-23 09:10"))
    # Due Thursday 3/12 09:00 (Tuesday 24/11 is a holiday); warned 4 working hours before:
    # 1.5 h on Thursday morning and 2.5 h on Wednesday afternoon.
    assert process.due_at == at("2026-12-03 09:00")
    assert raised(ctx, "2026-12-02 14:29") == []
    assert raised(ctx, "2026-12-02 14:30") == [("due_soon", "Task_Process", 0)]
    assert len(subjects(ctx, officers["sonv.chuyenvien2"])) == 1
    assert subjects(ctx, officers["sonv.chuyenvien1"]) == []


def test_a_late_dossier_walks_through_the_working_saturday_and_the_national_day_holidays(ctx, officers):
    # Received Friday 21/8/2026 after the cut-off: the time counts from Saturday 22/8, a working day.
    dossier_id = receive(ctx, officers, "2026-08-21 15:30")
    (item,) = open_items(ctx, dossier_id)
    assert item.due_at == at("2026-08-22 10:00")
    assert raised(ctx, "2026-08-22 09:59") == []
    assert raised(ctx, "2026-08-22 10:00") == [("overdue", "Task_Receive", 0)]
    # 80 working hours from Saturday 22/8 07:30; Monday 31/8 and 1-2/9 are days off.
    with ctx.uow() as uow:
        due = uow.session.get(svc.Dossier, dossier_id).due_at
    assert due == at("2026-09-08 17:00")
    # The 76 allotted hours after the reception step fill the time left exactly until the end of
    # Saturday morning (80 - 4); past it, in the afternoon, they no longer fit: the letter is
    # drafted then, days before the last working day.
    assert raised(ctx, "2026-08-22 11:30") == []
    assert raised(ctx, "2026-08-22 12:59") == []
    assert raised(ctx, "2026-08-22 13:01") == [("apology_required", None, 0)]
    for moment in ("2026-08-31 09:00", "2026-09-02 09:00", "2026-09-07 16:59", "2026-09-07 17:00"):
        assert raised(ctx, moment) == []
    assert raised(ctx, "2026-09-08 16:59") == []
    (letter,) = letters_for_(ctx, dossier_id)
    assert (letter.status, letter.agency_name) == ("draft", "Sở Nội vụ")
    assert letter.original_due_at == due
    # Saturday 22/8 13:01 plus 76 working hours (31/8, 1/9 and 2/9 are days off): Wednesday 9/9 07:31.
    assert letter.proposed_due_at == at("2026-09-09 07:31")
    assert raised(ctx, "2026-09-08 17:00") == [("late_unapologised", None, 1)]
    # Daily reminders, at the next office moment after each 24 hours, until a letter is issued.
    assert raised(ctx, "2026-09-10 07:29") == []
    assert raised(ctx, "2026-09-10 07:30") == [("late_unapologised", None, 2)]
    assert raised(ctx, "2026-09-11 07:29") == []
    assert raised(ctx, "2026-09-11 07:30") == [("late_unapologised", None, 3)]
    # Friday 07:30 + 24 h falls on Saturday: the next reminder waits for Monday's opening.
    assert raised(ctx, "2026-09-12 08:00") == []
    assert raised(ctx, "2026-09-14 07:30") == [("late_unapologised", None, 4)]
    leader = subjects(ctx, officers["sonv.lanhdao"])
    assert leader[0] == "Nhắc lại lần 4: Hồ sơ 000.00.12.H40-260821-0001 quá hạn, chưa có phiếu xin lỗi"
    assert "Cần phiếu xin lỗi: hồ sơ 000.00.12.H40-260821-0001" in leader


def letters_for_(ctx: Context, dossier_id: int):
    with ctx.uow() as uow:
        return letters_for_dossier(uow.session, dossier_id)


def test_reminders_stop_once_the_apology_is_issued(ctx, officers):
    from engine.runtime.apology import issue_apology

    dossier_id = receive(ctx, officers, "2026-11-23 08:00")
    raised(ctx, "2026-12-08 08:00")  # overdue: apology required and the first reminder
    (letter,) = letters_for_(ctx, dossier_id)
    issue_apology(ctx, letter.id, officers["sonv.lanhdao"], at("2026-12-08 09:00"))
    assert raised(ctx, "2026-12-09 09:00") == []
    assert raised(ctx, "2026-12-15 09:00") == []
    with ctx.uow() as uow:
        pending = uow.session.scalar(
            select(func.count()).select_from(SlaAlert).where(SlaAlert.next_at.is_not(None))
        )
    assert pending == 0


def test_a_tick_after_a_long_downtime_raises_each_missed_alert_once(ctx, officers):
    first = receive(ctx, officers, "2026-11-23 08:00")
    second = receive(ctx, officers, "2026-11-23 09:00")
    tick(ctx, at("2026-11-23 09:30"))
    # Nothing ran for two weeks: steps and dossiers went overdue meanwhile.
    caught_up = raised(ctx, "2026-12-10 10:00")
    assert caught_up == sorted(
        [("overdue", "Task_Receive", 0)] * 2
        + [("apology_required", None, 0)] * 2
        + [("late_unapologised", None, 1)] * 2
    )
    assert raised(ctx, "2026-12-10 10:00") == []
    assert raised(ctx, "2026-12-10 10:05") == []
    assert [k for k, *_ in alert_rows(ctx, first)] == ["overdue", "apology_required", "late_unapologised"]
    assert len(letters_for_(ctx, second)) == 1


def test_a_dossier_that_can_still_finish_gets_no_apology_until_a_rework_makes_it_late(ctx, officers):
    dossier_id = receive(ctx, officers, "2026-11-23 08:00")  # due Tuesday 8/12 08:00
    step(ctx, officers, dossier_id, "sonv.motcua", "2026-11-23 08:30")
    step(ctx, officers, dossier_id, "sonv.truongphong", "2026-11-23 09:00")
    step(ctx, officers, dossier_id, "sonv.chuyenvien1", "2026-12-02 10:00", outcome="forward")
    step(ctx, officers, dossier_id, "sonv.truongphong", "2026-12-04 13:00", outcome="submit")
    tick(ctx, at("2026-12-04 16:00"))
    # Monday 7/12 07:30: inside the last working day; approval (4 h left) and issue (4 h) fit in
    # the 8.5 h left, so the leader is only reminded of the approval, and no apology is raised.
    assert raised(ctx, "2026-12-07 07:30") == [("due_soon", "Task_Approve", 0)]
    step(ctx, officers, dossier_id, "sonv.lanhdao", "2026-12-07 09:00", outcome="rework")
    # Back to appraisal (56 h) with less than a day left: the next tick raises it at once.
    assert raised(ctx, "2026-12-07 09:01") == [("apology_required", None, 0)]
    (letter,) = letters_for_(ctx, dossier_id)
    # The new appraisal's 56 h from 09:00, then review 4, approval 8 and issue 4: 72 working hours.
    assert letter.proposed_due_at == at("2026-12-18 09:00")


def test_a_supplement_stops_the_watch_on_the_dossier(ctx, officers):
    dossier_id = receive(ctx, officers, "2026-11-23 08:00")
    step(ctx, officers, dossier_id, "sonv.motcua", "2026-11-23 08:30")
    step(ctx, officers, dossier_id, "sonv.truongphong", "2026-11-23 09:00")
    (process,) = open_items(ctx, dossier_id)
    svc.request_supplement(
        ctx,
        process.id,
        officers["sonv.chuyenvien1"],
        missing=["Danh sách người lao động khuyết tật"],
        reason="Thiếu danh sách",
        now=at("2026-11-25 09:00"),
    )
    # The dossier waits for the applicant: its clock is stopped, so it is never late meanwhile.
    assert raised(ctx, "2026-12-10 09:00") == []


def test_two_ticks_at_the_same_moment_raise_each_alert_once(make_ctx, officers):
    first_ctx = make_ctx()
    second_ctx = make_ctx()
    receive(first_ctx, officers, "2026-11-23 08:00")
    receive(first_ctx, officers, "2026-11-23 08:10")
    reports = []
    barrier = threading.Barrier(2)

    def run(context: Context) -> None:
        barrier.wait()
        reports.append(tick(context, at("2026-12-10 10:00"), holder=str(id(context))))

    threads = [threading.Thread(target=run, args=(c,)) for c in (first_ctx, second_ctx)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(len(r.raised) for r in reports) == 6
    with first_ctx.uow() as uow:
        s = uow.session
        assert s.scalar(select(func.count()).select_from(SlaAlert)) == 6
        keys = s.scalars(select(Notification.dedupe_key).where(Notification.kind == "overdue")).all()
    assert len(keys) == len(set(keys)) == 4  # two items x (desk pool + leader)


def test_the_heartbeat_shows_when_the_watcher_last_ran(ctx):
    with ctx.uow() as uow:
        assert heartbeat(uow.session, at("2026-12-01 09:00"), interval_seconds=60, lease_seconds=180).stale
    tick(ctx, at("2026-12-01 09:00"), holder="test")
    with ctx.uow() as uow:
        beat = heartbeat(
            uow.session, datetime.now(at("2026-12-01 09:00").tzinfo), interval_seconds=60, lease_seconds=180
        )
    assert (beat.stale, beat.holder, beat.ticks, beat.last_now) == (False, "test", 1, at("2026-12-01 09:00"))
