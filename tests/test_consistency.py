"""The consistency checker and the repair of one dossier, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from engine.context import Context
from engine.runtime import dossiers as svc
from engine.runtime.consistency import check_all, check_dossier, repair_dossier
from models import Dossier, DossierEvent, Suspension, WorkItem
from tests.conftest import Officers, at, open_items

APPLICANT = svc.Applicant(name="Nguyễn Văn An", id_number="001203004005", phone="0912345678")
APPROVAL_PATH = [
    ("sonv.motcua", None),
    ("sonv.truongphong", None),
    ("sonv.chuyenvien1", "forward"),
    ("sonv.truongphong", "submit"),
    ("sonv.lanhdao", "approve"),
    ("sonv.vanthu", None),
]


def receive(ctx: Context, officers: Officers, when: str = "2026-11-23 08:00") -> svc.Receipt:
    return svc.receive_dossier(
        ctx,
        procedure_code="1.001806",
        applicant=APPLICANT,
        channel="in_person",
        officer_id=officers["sonv.motcua"],
        now=at(when),
    )


def work(ctx: Context, officers: Officers, dossier_id: int, who: str, when: datetime, **kw) -> None:
    (item,) = open_items(ctx, dossier_id)
    svc.complete(ctx, item.id, officers[who], now=when, **kw)


def to_specialist(ctx: Context, officers: Officers, receipt: svc.Receipt) -> WorkItem:
    work(ctx, officers, receipt.dossier_id, "sonv.motcua", at("2026-11-23 09:00"))
    work(ctx, officers, receipt.dossier_id, "sonv.truongphong", at("2026-11-23 10:00"))
    (item,) = open_items(ctx, receipt.dossier_id)
    return item


def every_path(ctx: Context, officers: Officers) -> dict[str, svc.Receipt]:
    """Dossiers left at each place a dossier can stand: open, waiting, finished four ways."""
    made = {name: receive(ctx, officers) for name in ("open", "supplement", "resumed", "refused", "returned")}
    made["withdrawn"] = receive(ctx, officers)
    svc.withdraw(
        ctx, made["withdrawn"].code, officers["sonv.motcua"], reason="Xin rút", now=at("2026-11-23 09:00")
    )
    for name in ("supplement", "resumed"):
        item = to_specialist(ctx, officers, made[name])
        svc.request_supplement(
            ctx,
            item.id,
            officers["sonv.chuyenvien1"],
            missing=["Bản sao"],
            reason="Thiếu",
            now=at("2026-11-23 14:00"),
        )
    svc.resume(ctx, made["resumed"].code, officers["sonv.motcua"], at("2026-11-25 09:00"))
    item = to_specialist(ctx, officers, made["refused"])
    svc.refuse(
        ctx, item.id, officers["sonv.chuyenvien1"], reason="Không đủ điều kiện", now=at("2026-11-23 14:00")
    )
    (ret,) = open_items(ctx, made["refused"].dossier_id)
    svc.return_result(ctx, ret.id, officers["sonv.motcua"], collected_by="An", now=at("2026-11-23 15:00"))
    now = at("2026-11-23 08:00")
    for who, outcome in APPROVAL_PATH:
        now += timedelta(hours=1)
        work(ctx, officers, made["returned"].dossier_id, who, now, outcome=outcome)
    (ret,) = open_items(ctx, made["returned"].dossier_id)
    svc.return_result(ctx, ret.id, officers["sonv.motcua"], collected_by="An", now=now + timedelta(hours=1))
    return made


def status_of(ctx: Context, dossier_id: int) -> str:
    with ctx.uow() as uow:
        return uow.session.get(Dossier, dossier_id).status


def test_dossiers_that_went_every_path_are_consistent(ctx, officers):
    made = every_path(ctx, officers)
    assert [status_of(ctx, r.dossier_id) for r in made.values()] == [
        "processing",
        "supplement",
        "processing",
        "refused",
        "returned",
        "withdrawn",
    ]
    report = check_all(ctx, batch=2)
    assert (report.checked, report.broken) == (6, {})
    assert check_all(ctx, open_only=True).checked == 3
    assert check_all(ctx, limit=4, batch=3).checked == 4


@pytest.mark.corrupts
def test_each_corruption_is_reported_with_its_reason(ctx, officers):
    deleted, closed, stray, suspended, reordered = (receive(ctx, officers) for _ in range(5))
    finished = receive(ctx, officers)
    svc.withdraw(ctx, finished.code, officers["sonv.motcua"], reason="Xin rút", now=at("2026-11-23 09:00"))
    with ctx.uow() as uow:
        s = uow.session
        s.delete(s.scalars(select(WorkItem).where(WorkItem.dossier_id == deleted.dossier_id)).one())
        item = s.scalars(select(WorkItem).where(WorkItem.dossier_id == closed.dossier_id)).one()
        item.completed_at, item.outcome = at("2026-11-23 07:00"), "done"
        (item,) = s.scalars(select(WorkItem).where(WorkItem.dossier_id == finished.dossier_id))
        item.completed_at, item.outcome = None, None
        s.add(
            Suspension(
                dossier_id=suspended.dossier_id,
                kind="supplement",
                reason="x",
                details=[],
                started_at=at("2026-11-23 10:00"),
            )
        )
        s.add(
            DossierEvent(
                dossier_id=reordered.dossier_id, at=at("2026-11-20 08:00"), kind="claimed", payload={}
            )
        )
        uow.commit()
    del stray  # a clean dossier among the broken ones
    broken = check_all(ctx).broken
    assert set(broken) == {deleted.code, closed.code, finished.code, suspended.code, reordered.code}
    assert broken[deleted.code] == [
        "Quy trình đang chờ bước “Tiếp nhận, số hóa, ký số và chuyển hồ sơ” nhưng không có bước xử lý nào đang mở"
    ]
    assert any(
        "hoàn thành lúc 23/11/2026 07:00, trước khi được mở lúc 23/11/2026 08:00" in r
        for r in broken[closed.code]
    )
    assert any("không có bước xử lý nào đang mở" in r for r in broken[closed.code])
    assert any(
        r.startswith("Hồ sơ đã kết thúc (“Dừng giải quyết (rút hồ sơ)”) nhưng bước")
        for r in broken[finished.code]
    )
    assert broken[suspended.code] == [
        "Hồ sơ “Đang giải quyết” nhưng còn lần tạm dừng đang mở từ 23/11/2026 10:00"
    ]
    assert (
        broken[reordered.code]
        == [
            "Sự kiện “note” (số 5) ghi lúc 20/11/2026 08:00, sớm hơn sự kiện trước nó “step_opened” lúc 23/11/2026 08:00"
        ]
        or "sớm hơn sự kiện trước nó" in broken[reordered.code][0]
    )


@pytest.mark.corrupts
def test_an_item_the_workflow_no_longer_waits_for_is_reported(ctx, officers):
    receipt = receive(ctx, officers)
    with ctx.uow() as uow:
        uow.session.add(
            WorkItem(
                dossier_id=receipt.dossier_id,
                task_uuid="00000000-0000-0000-0000-000000000001",
                task_id="Task_Assign",
                task_name="Phân công xử lý",
                role="head",
                agency_id=uow.session.get(Dossier, receipt.dossier_id).agency_id,
                created_at=at("2026-11-23 08:00"),
                allotted_hours=4.0,
            )
        )
        uow.commit()
        dossier = uow.session.get(Dossier, receipt.dossier_id)
    with ctx.uow() as uow:
        found = check_dossier(ctx, uow.session, uow.session.get(Dossier, dossier.id))
    assert found == ["Bước “Phân công xử lý” (số 2) đang mở nhưng quy trình không chờ bước này"]


def test_repair_reprojects_items_closes_strays_and_is_audited(ctx, officers):
    deleted, closed, suspended = (receive(ctx, officers) for _ in range(3))
    finished = receive(ctx, officers)
    svc.withdraw(ctx, finished.code, officers["sonv.motcua"], reason="Xin rút", now=at("2026-11-23 09:00"))
    with ctx.uow() as uow:
        s = uow.session
        s.delete(s.scalars(select(WorkItem).where(WorkItem.dossier_id == deleted.dossier_id)).one())
        item = s.scalars(select(WorkItem).where(WorkItem.dossier_id == closed.dossier_id)).one()
        item.completed_at, item.outcome = at("2026-11-23 08:30"), "done"
        (item,) = s.scalars(select(WorkItem).where(WorkItem.dossier_id == finished.dossier_id))
        item.completed_at, item.outcome = None, None
        s.get(Dossier, finished.dossier_id).finished_at = None
        s.add(
            Suspension(
                dossier_id=suspended.dossier_id,
                kind="supplement",
                reason="x",
                details=[],
                started_at=at("2026-11-23 10:00"),
            )
        )
        uow.commit()
    assert len(check_all(ctx).broken) == 4
    now = at("2026-11-24 08:00")
    desk = officers["sonv.motcua"]
    report = repair_dossier(ctx, deleted.code, desk, now)
    assert report.remaining == []
    (item,) = open_items(ctx, deleted.dossier_id)
    assert report.changes == [
        f"Mở bước “Tiếp nhận, số hóa, ký số và chuyển hồ sơ” (số {item.id}) mà quy trình đang chờ"
    ]
    assert (item.task_id, item.created_at) == ("Task_Receive", now)
    assert item.due_at == ctx.calendar.add_working_hours(now, 4.0)
    for receipt in (closed, suspended, finished):
        assert repair_dossier(ctx, receipt.code, desk, now).remaining == []
    with ctx.uow() as uow:
        item = uow.session.scalars(select(WorkItem).where(WorkItem.dossier_id == finished.dossier_id)).one()
        assert (item.outcome, item.completed_at) == ("repaired", now)
        d = uow.session.get(Dossier, finished.dossier_id)
        assert d.finished_at == at("2026-11-23 09:00")  # the time of the withdrawal event
        event = uow.session.scalars(
            select(DossierEvent)
            .where(DossierEvent.dossier_id == finished.dossier_id)
            .order_by(DossierEvent.id.desc())
        ).first()
        assert (event.kind, event.officer_id) == ("repaired", desk)
        assert event.payload["closed_work_item_ids"] == [item.id]
    assert check_all(ctx).broken == {}
    again = repair_dossier(ctx, deleted.code, None, now)
    assert (again.changes, again.lines()) == ([], [f"{deleted.code}: không có gì cần sửa"])


def test_check_and_repair_commands_exit_non_zero_while_a_dossier_is_broken(make_ctx, monkeypatch):
    from engine.cli import main

    ctx = make_ctx()
    officers = Officers(ctx)
    monkeypatch.setenv("MOTCUA_DATABASE_URL", ctx.settings.database_url)
    receipt = receive(ctx, officers, when="2026-03-02 08:00")  # before the wall clock the command repairs at
    runner = CliRunner()
    result = runner.invoke(main, ["check"])
    assert (result.exit_code, result.output) == (
        0,
        "Đã kiểm tra 1 hồ sơ, 0 hồ sơ không nhất quán\nĐã kiểm tra 0 tài liệu, 0 tài liệu lỗi\n",
    )
    with ctx.uow() as uow:
        uow.session.delete(
            uow.session.scalars(select(WorkItem).where(WorkItem.dossier_id == receipt.dossier_id)).one()
        )
        uow.commit()
    result = runner.invoke(main, ["check", "--open-only"])
    assert result.exit_code == 1
    assert f"{receipt.code}: Quy trình đang chờ bước" in result.output
    result = runner.invoke(main, ["repair", receipt.code, "--officer", "sonv.motcua"])
    assert result.exit_code == 0, result.output
    assert f"{receipt.code}: đã sửa" in result.output
    assert runner.invoke(main, ["check"]).exit_code == 0
    result = runner.invoke(main, ["repair", "KHONG-CO"])
    assert (result.exit_code, "Không tìm thấy hồ sơ KHONG-CO" in result.output) == (1, True)
