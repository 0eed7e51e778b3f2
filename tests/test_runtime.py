"""The dossier runtime through its service functions, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from engine.context import Context
from engine.errors import Conflict, Forbidden, InvalidInput, NoActiveVersion, NotFound
from engine.runtime import dossiers as svc
from engine.runtime.control_sheet import control_sheet
from models import Dossier, DossierEvent, DossierSequence, ProcessVersion, Suspension, WorkItem
from tests.conftest import Officers, at, open_items

APPLICANT = svc.Applicant(name="Nguyễn Văn An", id_number="001203004005", phone="0912345678")


def receive(ctx: Context, officers: Officers, code: str = "1.001806", when: str = "2026-11-23 08:00", **kw):
    desk = kw.pop("desk", "sonv.motcua")
    return svc.receive_dossier(
        ctx,
        procedure_code=code,
        applicant=kw.pop("applicant", APPLICANT),
        channel=kw.pop("channel", "in_person"),
        officer_id=officers[desk],
        now=at(when),
    )


def dossier(ctx: Context, dossier_id: int) -> Dossier:
    with ctx.uow() as uow:
        return uow.session.get(Dossier, dossier_id)


def counts(ctx: Context) -> tuple[int, int, int, int]:
    with ctx.uow() as uow:
        s = uow.session
        return (
            s.scalar(select(func.count()).select_from(Dossier)),
            s.scalar(select(func.count()).select_from(WorkItem)),
            s.scalar(select(func.count()).select_from(DossierEvent)),
            s.scalar(select(func.coalesce(func.sum(DossierSequence.last_number), 0))),
        )


def work(ctx: Context, officers: Officers, dossier_id: int, who: str, when: datetime, **kw):
    """Complete the dossier's single open item as `who`."""
    (item,) = open_items(ctx, dossier_id)
    return svc.complete(ctx, item.id, officers[who], now=when, **kw), item


# --- receiving ---------------------------------------------------------------------------


def test_receiving_gives_a_code_a_legal_due_time_and_the_first_step(ctx, officers):
    receipt = receive(ctx, officers, when="2026-11-23 08:00")
    assert receipt.code == "000.00.12.H40-261123-0001"
    # 10 working days = 80 h from Monday 23/11 08:00; Tuesday 24/11 is Vietnam Cultural Day.
    assert receipt.due_at == at("2026-12-08 08:00")
    (item,) = open_items(ctx, receipt.dossier_id)
    assert (item.task_id, item.role, item.kind) == ("Task_Receive", "desk", None)
    assert item.due_at == at("2026-11-23 13:30")  # 4 h: 3.5 h in the morning, 0.5 after lunch
    d = dossier(ctx, receipt.dossier_id)
    assert (d.status, d.original_due_at, d.channel) == ("processing", receipt.due_at, "in_person")
    assert '"spec"' not in d.workflow_state


def test_dossier_codes_count_per_agency_and_day(ctx, officers):
    first = receive(ctx, officers, when="2026-11-23 08:00")
    second = receive(ctx, officers, when="2026-11-23 09:00")
    commune = receive(ctx, officers, code="1.001193", when="2026-11-23 09:30", desk="xa.motcua")
    next_day = receive(ctx, officers, when="2026-11-25 08:00")
    assert [first.code, second.code, commune.code, next_day.code] == [
        "000.00.12.H40-261123-0001",
        "000.00.12.H40-261123-0002",
        "000.01.25.H40-261123-0001",
        "000.00.12.H40-261125-0001",
    ]


def test_received_after_cutoff_counts_from_next_working_day(ctx, officers):
    receipt = receive(ctx, officers, code="1.001193", when="2026-11-23 15:30", desk="xa.motcua")
    # Same-day procedure after 15:00: due at the close of the next working day (24/11 is a holiday).
    assert receipt.due_at == at("2026-11-25 17:00")


@pytest.mark.parametrize(
    ("applicant", "field"),
    [
        (svc.Applicant(name=""), "applicant_name"),
        (svc.Applicant(name="A", id_number="12345"), "applicant_id_number"),
        (svc.Applicant(name="A", phone="12ab"), "applicant_phone"),
        (svc.Applicant(name="A", email="not-an-email"), "applicant_email"),
    ],
)
def test_bad_applicant_details_name_the_field_and_write_nothing(ctx, officers, applicant, field):
    before = counts(ctx)
    with pytest.raises(InvalidInput) as err:
        receive(ctx, officers, applicant=applicant)
    assert err.value.field == field
    assert counts(ctx) == before


def test_receiving_refuses_unknown_procedure_naive_time_and_non_desk_officer(ctx, officers):
    before = counts(ctx)
    with pytest.raises(NotFound, match=r"Thủ tục 9\.999999 không có trong danh mục"):
        receive(ctx, officers, code="9.999999")
    with pytest.raises(InvalidInput, match="phải kèm múi giờ"):
        svc.receive_dossier(
            ctx,
            procedure_code="1.001806",
            applicant=APPLICANT,
            channel="online",
            officer_id=officers["sonv.motcua"],
            now=datetime(2026, 11, 23, 8, 0),
        )
    with pytest.raises(Forbidden, match="Chỉ cán bộ Bộ phận Một cửa mới được tiếp nhận"):
        receive(ctx, officers, desk="sonv.chuyenvien1")
    with pytest.raises(InvalidInput, match=r"Kênh tiếp nhận không hợp lệ.*Trực tuyến"):
        receive(ctx, officers, channel="fax")
    assert counts(ctx) == before


def test_receiving_without_an_active_version_is_refused_and_writes_nothing(ctx, officers):
    with ctx.uow() as uow:
        version = uow.session.scalars(select(ProcessVersion).where(ProcessVersion.status == "active")).first()
        version.status = "retired"
        code = version.procedure.code
        uow.commit()
    before = counts(ctx)
    with pytest.raises(NoActiveVersion, match=f"Thủ tục {re.escape(code)} chưa có quy trình nội bộ"):
        receive(ctx, officers, code=code, desk="xa.motcua" if code == "1.001193" else "sonv.motcua")
    assert counts(ctx) == before


# --- working the steps -------------------------------------------------------------------


def run_to_return(ctx, officers, receipt, start: datetime) -> datetime:
    """Work 1.001806 along its approval path up to the hand-over; returns the clock."""
    now = start
    steps = [
        ("sonv.motcua", None),
        ("sonv.truongphong", None),
        ("sonv.chuyenvien1", "forward"),
        ("sonv.truongphong", "submit"),
        ("sonv.lanhdao", "approve"),
        ("sonv.vanthu", None),
    ]
    for who, outcome in steps:
        now += timedelta(hours=1)
        work(ctx, officers, receipt.dossier_id, who, now, outcome=outcome)
    return now


def test_approval_path_reaches_the_desk_and_is_returned_early(ctx, officers):
    receipt = receive(ctx, officers, when="2026-11-23 08:00")
    now = run_to_return(ctx, officers, receipt, at("2026-11-23 08:00"))
    (item,) = open_items(ctx, receipt.dossier_id)
    assert (item.task_id, item.kind, item.counted) == ("Task_Return", "return", False)
    d = dossier(ctx, receipt.dossier_id)
    assert (d.status, d.result_class) == ("result_ready", "early")
    svc.return_result(ctx, item.id, officers["sonv.motcua"], collected_by="Nguyễn Văn An", now=now)
    d = dossier(ctx, receipt.dossier_id)
    assert (d.status, d.returned_to, d.result_class) == ("returned", "Nguyễn Văn An", "early")
    assert open_items(ctx, receipt.dossier_id) == []
    with ctx.uow() as uow:
        sheet = control_sheet(uow.session, uow.session.get(Dossier, receipt.dossier_id))
    assert [r.step for r in sheet][:3] == [
        "Tiếp nhận, số hóa, ký số và chuyển hồ sơ",
        "Phân công xử lý",
        "Thẩm định hồ sơ",
    ]
    assert sheet[0].used_hours == 1.0 and sheet[0].result_class == "on_time"
    assert sheet[1].from_officer == sheet[0].to_officer


def test_late_finish_is_classified_late(ctx, officers):
    receipt = receive(ctx, officers, when="2026-11-23 08:00")
    run_to_return(ctx, officers, receipt, at("2026-12-08 09:00"))  # past the 08:00 appointment
    assert dossier(ctx, receipt.dossier_id).result_class == "late"


def test_missing_or_wrong_outcome_is_refused_and_changes_nothing(ctx, officers):
    receipt = receive(ctx, officers)
    work(ctx, officers, receipt.dossier_id, "sonv.motcua", at("2026-11-23 09:00"))
    work(ctx, officers, receipt.dossier_id, "sonv.truongphong", at("2026-11-23 10:00"))
    before = counts(ctx), dossier(ctx, receipt.dossier_id).version
    with pytest.raises(InvalidInput, match='cần chọn kết quả xử lý: "Đạt, trình trưởng phòng"'):
        work(ctx, officers, receipt.dossier_id, "sonv.chuyenvien1", at("2026-11-23 11:00"))
    with pytest.raises(InvalidInput, match='Kết quả xử lý "approve" không áp dụng'):
        work(ctx, officers, receipt.dossier_id, "sonv.chuyenvien1", at("2026-11-23 11:00"), outcome="approve")
    assert (counts(ctx), dossier(ctx, receipt.dossier_id).version) == before
    assert open_items(ctx, receipt.dossier_id)[0].task_id == "Task_Process"


def test_only_the_lane_role_in_the_right_agency_may_complete(ctx, officers):
    receipt = receive(ctx, officers)
    (item,) = open_items(ctx, receipt.dossier_id)
    with pytest.raises(Forbidden, match='vai trò "Bộ phận Một cửa"'):
        svc.complete(ctx, item.id, officers["sonv.chuyenvien1"], now=at("2026-11-23 09:00"))
    with pytest.raises(Forbidden, match="thuộc cơ quan khác"):
        svc.complete(ctx, item.id, officers["xa.motcua"], now=at("2026-11-23 09:00"))
    work(ctx, officers, receipt.dossier_id, "sonv.motcua", at("2026-11-23 09:00"))
    work(ctx, officers, receipt.dossier_id, "sonv.truongphong", at("2026-11-23 10:00"))
    work(ctx, officers, receipt.dossier_id, "sonv.chuyenvien1", at("2026-11-23 11:00"), outcome="forward")
    work(ctx, officers, receipt.dossier_id, "sonv.truongphong", at("2026-11-23 13:00"), outcome="submit")
    (approve,) = open_items(ctx, receipt.dossier_id)
    with pytest.raises(Forbidden, match='vai trò "Lãnh đạo cơ quan"'):
        svc.complete(
            ctx, approve.id, officers["sonv.chuyenvien1"], now=at("2026-11-23 14:00"), outcome="approve"
        )


def test_completing_a_finished_step_is_a_conflict(ctx, officers):
    receipt = receive(ctx, officers)
    _, item = work(ctx, officers, receipt.dossier_id, "sonv.motcua", at("2026-11-23 09:00"))
    with pytest.raises(Conflict, match="đã hoàn thành"):
        svc.complete(ctx, item.id, officers["sonv.motcua"], now=at("2026-11-23 09:05"))


def test_claim_release_and_supervisor_reassignment(ctx, officers):
    receipt = receive(ctx, officers)
    work(ctx, officers, receipt.dossier_id, "sonv.motcua", at("2026-11-23 09:00"))
    work(ctx, officers, receipt.dossier_id, "sonv.truongphong", at("2026-11-23 10:00"))
    (item,) = open_items(ctx, receipt.dossier_id)
    svc.claim(ctx, item.id, officers["sonv.chuyenvien1"], at("2026-11-23 10:05"))
    with pytest.raises(Conflict, match="đã được cán bộ khác nhận xử lý"):
        svc.claim(ctx, item.id, officers["sonv.chuyenvien2"], at("2026-11-23 10:06"))
    with pytest.raises(Forbidden, match="đang do cán bộ khác xử lý"):
        svc.complete(
            ctx, item.id, officers["sonv.chuyenvien2"], now=at("2026-11-23 10:07"), outcome="forward"
        )
    with pytest.raises(Forbidden, match="Chỉ cán bộ giám sát"):
        svc.reassign(
            ctx, item.id, officers["sonv.truongphong"], officers["sonv.chuyenvien2"], at("2026-11-23 10:08")
        )
    with pytest.raises(Forbidden, match="Chỉ cán bộ giám sát"):
        svc.reassign(
            ctx, item.id, officers["xa.giamsat"], officers["sonv.chuyenvien2"], at("2026-11-23 10:08")
        )
    svc.reassign(ctx, item.id, officers["sonv.giamsat"], officers["sonv.chuyenvien2"], at("2026-11-23 10:09"))
    (item,) = open_items(ctx, receipt.dossier_id)
    assert item.assignee_id == officers["sonv.chuyenvien2"]
    with pytest.raises(Forbidden, match="Chỉ cán bộ đã nhận bước xử lý này"):
        svc.unclaim(ctx, item.id, officers["sonv.chuyenvien1"], at("2026-11-23 10:10"))
    svc.unclaim(ctx, item.id, officers["sonv.chuyenvien2"], at("2026-11-23 10:11"))
    assert open_items(ctx, receipt.dossier_id)[0].assignee_id is None
    with ctx.uow() as uow:
        kinds = list(
            uow.session.scalars(
                select(DossierEvent.kind)
                .where(DossierEvent.dossier_id == receipt.dossier_id)
                .order_by(DossierEvent.id)
            )
        )
    assert kinds.count("claimed") == 1 and "reassigned" in kinds and "released" in kinds


# --- side roads -----------------------------------------------------------------------


def to_specialist(ctx, officers, receipt):
    work(ctx, officers, receipt.dossier_id, "sonv.motcua", at("2026-11-23 09:00"))
    work(ctx, officers, receipt.dossier_id, "sonv.truongphong", at("2026-11-23 10:00"))
    (item,) = open_items(ctx, receipt.dossier_id)
    return item


def test_supplement_request_stops_the_clock_and_restarts_it_on_arrival(ctx, officers):
    receipt = receive(ctx, officers, when="2026-11-23 08:00")
    item = to_specialist(ctx, officers, receipt)
    svc.request_supplement(
        ctx,
        item.id,
        officers["sonv.chuyenvien1"],
        missing=["Danh sách người lao động", "Bản sao hợp đồng"],
        reason="Thiếu giấy tờ",
        now=at("2026-11-23 14:00"),
    )
    (wait,) = open_items(ctx, receipt.dossier_id)
    assert (wait.kind, wait.due_at) == ("supplement", None)
    d = dossier(ctx, receipt.dossier_id)
    assert d.status == "supplement"
    with ctx.uow() as uow:
        (susp,) = uow.session.scalars(select(Suspension).where(Suspension.dossier_id == d.id))
    assert (susp.kind, susp.details, susp.ended_at) == (
        "supplement",
        ["Danh sách người lao động", "Bản sao hợp đồng"],
        None,
    )
    svc.resume(ctx, receipt.code, officers["sonv.motcua"], at("2026-11-27 09:00"))
    d = dossier(ctx, receipt.dossier_id)
    # Restarted from zero: 80 working hours from Friday 27/11 09:00.
    assert d.status == "processing"
    assert d.due_at == at("2026-12-11 09:00")
    assert d.original_due_at == receipt.due_at
    (again,) = open_items(ctx, receipt.dossier_id)
    assert again.task_id == "Task_Process"
    with ctx.uow() as uow:
        (susp,) = uow.session.scalars(select(Suspension).where(Suspension.dossier_id == d.id))
    assert susp.ended_at == at("2026-11-27 09:00") and susp.paused_hours == 20.5


def test_supplement_in_pause_mode_shifts_the_due_time_by_the_paused_time(make_ctx):
    ctx = make_ctx(supplement_mode="pause")
    officers = Officers(ctx)
    receipt = receive(ctx, officers, when="2026-11-23 08:00")
    item = to_specialist(ctx, officers, receipt)
    svc.request_supplement(
        ctx,
        item.id,
        officers["sonv.chuyenvien1"],
        missing=["Bản sao hợp đồng"],
        reason="Thiếu",
        now=at("2026-11-23 14:00"),
    )
    svc.resume(ctx, receipt.code, officers["sonv.motcua"], at("2026-11-25 14:00"))
    # Paused 8 working hours (Tuesday 24/11 is a holiday), so the 8/12 08:00 appointment moves to 9/12 08:00.
    assert dossier(ctx, receipt.dossier_id).due_at == at("2026-12-09 08:00")


def test_supplement_requires_the_missing_documents(ctx, officers):
    receipt = receive(ctx, officers)
    item = to_specialist(ctx, officers, receipt)
    with pytest.raises(InvalidInput, match="đầy đủ một lần"):
        svc.request_supplement(
            ctx, item.id, officers["sonv.chuyenvien1"], missing=[" "], reason="x", now=at("2026-11-23 14:00")
        )
    with pytest.raises(Conflict, match="không ở trạng thái chờ bổ sung"):
        svc.resume(ctx, receipt.code, officers["sonv.motcua"], at("2026-11-23 15:00"))


def test_refusal_goes_back_through_the_desk_and_ends_refused(ctx, officers):
    receipt = receive(ctx, officers)
    item = to_specialist(ctx, officers, receipt)
    with pytest.raises(InvalidInput, match="phải nêu rõ lý do"):
        svc.refuse(ctx, item.id, officers["sonv.chuyenvien1"], reason="", now=at("2026-11-23 14:00"))
    svc.refuse(
        ctx,
        item.id,
        officers["sonv.chuyenvien1"],
        reason="Không đủ 30% lao động khuyết tật",
        now=at("2026-11-23 14:00"),
    )
    (ret,) = open_items(ctx, receipt.dossier_id)
    assert ret.task_id == "Task_ReturnRefusal"
    svc.return_result(
        ctx, ret.id, officers["sonv.motcua"], collected_by="Nguyễn Văn An", now=at("2026-11-23 15:00")
    )
    d = dossier(ctx, receipt.dossier_id)
    assert (d.status, d.result_class, d.refusal_reason) == (
        "refused",
        None,
        "Không đủ 30% lao động khuyết tật",
    )


def test_withdrawal_cancels_the_workflow_and_closes_open_steps(ctx, officers):
    receipt = receive(ctx, officers)
    with pytest.raises(Forbidden, match="Bộ phận Một cửa ghi nhận"):
        svc.withdraw(
            ctx, receipt.code, officers["sonv.chuyenvien1"], reason="Rút", now=at("2026-11-23 09:00")
        )
    svc.withdraw(
        ctx, receipt.code, officers["sonv.motcua"], reason="Công dân xin rút", now=at("2026-11-23 09:00")
    )
    d = dossier(ctx, receipt.dossier_id)
    assert (d.status, d.withdrawal_reason) == ("withdrawn", "Công dân xin rút")
    assert open_items(ctx, receipt.dossier_id) == []
    with pytest.raises(Conflict, match=re.escape('trạng thái "Dừng giải quyết (rút hồ sơ)", không thể rút')):
        svc.withdraw(ctx, receipt.code, officers["sonv.motcua"], reason="again", now=at("2026-11-23 09:30"))


def test_the_appointment_moves_only_once(ctx, officers):
    receipt = receive(ctx, officers, when="2026-11-23 08:00")
    with pytest.raises(Forbidden, match="cơ quan đang giải quyết hồ sơ"):
        svc.move_appointment(
            ctx,
            receipt.code,
            officers["xa.lanhdao"],
            new_due=at("2026-12-15 17:00"),
            reason="Chờ xác minh",
            now=at("2026-12-04 08:00"),
        )
    with pytest.raises(InvalidInput, match="Ngày hẹn trả kết quả mới phải sau"):
        svc.move_appointment(
            ctx,
            receipt.code,
            officers["sonv.lanhdao"],
            new_due=at("2026-12-01 08:00"),
            reason="Chờ xác minh",
            now=at("2026-12-04 08:00"),
        )
    svc.move_appointment(
        ctx,
        receipt.code,
        officers["sonv.lanhdao"],
        new_due=at("2026-12-15 17:00"),
        reason="Chờ xác minh",
        now=at("2026-12-04 08:00"),
    )
    d = dossier(ctx, receipt.dossier_id)
    # The appointment moves; the legal due time, which judges lateness, does not.
    assert (d.appointment_at, d.due_at, d.original_due_at, d.deadline_version) == (
        at("2026-12-15 17:00"),
        receipt.due_at,
        receipt.due_at,
        2,
    )
    with pytest.raises(Conflict, match="vào ngày 04/12/2026; mỗi hồ sơ chỉ được hẹn lại một lần"):
        svc.move_appointment(
            ctx,
            receipt.code,
            officers["sonv.lanhdao"],
            new_due=at("2026-12-20 17:00"),
            reason="Lần hai",
            now=at("2026-12-05 08:00"),
        )
    assert dossier(ctx, receipt.dossier_id).appointment_at == at("2026-12-15 17:00")


def test_inter_agency_steps_go_to_the_agency_their_lane_names(ctx, officers):
    receipt = receive(ctx, officers, code="NA.3854", desk="xa.motcua", when="2026-11-23 08:00")
    assert receipt.code.startswith("000.01.25.H40-")
    now = at("2026-11-23 08:00")
    for who, outcome in [
        ("xa.motcua", None),
        ("xa.truongphong", None),
        ("xa.chuyenvien", "forward"),
        ("xa.truongphong", None),
        ("xa.lanhdao", None),
        ("xa.vanthu", None),
    ]:
        now += timedelta(hours=1)
        work(ctx, officers, receipt.dossier_id, who, now, outcome=outcome)
    (item,) = open_items(ctx, receipt.dossier_id)
    assert item.task_id == "Task_ProvinceReceive"
    with pytest.raises(Forbidden, match="thuộc cơ quan khác"):
        svc.complete(ctx, item.id, officers["xa.motcua"], now=now)
    for who, outcome in [("sonv.motcua", None), ("sonv.truongphong", None), ("sonv.chuyenvien1", "forward")]:
        now += timedelta(hours=1)
        work(ctx, officers, receipt.dossier_id, who, now, outcome=outcome)
    (opinion,) = open_items(ctx, receipt.dossier_id)
    assert opinion.task_id == "Task_Opinion"
    with pytest.raises(Forbidden, match="thuộc cơ quan khác"):
        svc.complete(ctx, opinion.id, officers["sonv.chuyenvien1"], now=now)
    work(ctx, officers, receipt.dossier_id, "vp.chuyenvien", now + timedelta(hours=1))
    assert open_items(ctx, receipt.dossier_id)[0].task_id == "Task_Redraft"


def test_every_use_case_writes_an_audit_event(ctx, officers):
    receipt = receive(ctx, officers)
    run_to_return(ctx, officers, receipt, at("2026-11-23 08:00"))
    with ctx.uow() as uow:
        kinds = list(
            uow.session.scalars(
                select(DossierEvent.kind)
                .where(DossierEvent.dossier_id == receipt.dossier_id)
                .order_by(DossierEvent.id)
            )
        )
    assert kinds[0] == "received"
    assert kinds.count("step_completed") == 6
    assert kinds.count("step_opened") == 7
