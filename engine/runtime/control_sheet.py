"""Phiếu kiểm soát quá trình giải quyết hồ sơ (the control sheet, form 06 under TT 03/2025)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.catalogue.procedure_model import ROLE_LABELS
from engine.formatting import in_zone, number
from models import Agency, Dossier, Officer, Suspension, WorkItem
from models.vocabulary import DossierStatus, ResultClass


@dataclass(frozen=True)
class HandOver:
    """One row of the control sheet: a step handed from one officer to the next."""

    step: str
    agency: str
    from_officer: str
    to_officer: str
    received_at: datetime
    completed_at: datetime | None
    allotted_hours: float
    used_hours: float | None
    result_class: str | None
    outcome: str | None
    # A request to supplement made on this step after the window from receipt, with its reason.
    note: str | None = None
    # The BPMN element of the step, so the page can point at it in the diagram.
    step_id: str = ""
    # When the step falls due (working time from when it opened), for the steps still waiting.
    due_at: datetime | None = None

    @property
    def current(self) -> bool:
        """The step is waiting now."""
        return self.completed_at is None


def control_sheet(session: Session, dossier: Dossier) -> list[HandOver]:
    """The dossier's hand-overs in order, with allotted and used working time per step."""
    items = list(
        session.scalars(select(WorkItem).where(WorkItem.dossier_id == dossier.id).order_by(WorkItem.id))
    )
    officer_ids = (
        {i.completed_by_id for i in items} | {i.assignee_id for i in items} | {dossier.received_by_id}
    )
    officers: dict[int | None, str] = {
        o.id: o.full_name for o in session.scalars(select(Officer).where(Officer.id.in_(officer_ids)))
    }
    agency_ids = {i.agency_id for i in items}
    agencies = {a.id: a.name for a in session.scalars(select(Agency).where(Agency.id.in_(agency_ids)))}
    late_requests = {
        s.started_at: s.late_reason
        for s in session.scalars(
            select(Suspension).where(Suspension.dossier_id == dossier.id, Suspension.late.is_(True))
        )
    }
    rows: list[HandOver] = []
    previous = officers.get(dossier.received_by_id, "Bộ phận Một cửa")
    for item in items:
        if item.outcome == "cancelled":
            continue
        worker = item.completed_by_id or item.assignee_id
        to_name = officers.get(worker, f"({item.lane or ROLE_LABELS.get(item.role, item.role)})")
        rows.append(
            HandOver(
                step=item.task_name,
                agency=agencies.get(item.agency_id, ""),
                from_officer=previous,
                to_officer=to_name,
                received_at=item.created_at,
                completed_at=item.completed_at,
                allotted_hours=float(item.allotted_hours),
                used_hours=item.used_hours,
                result_class=item.result_class,
                outcome=item.outcome,
                note=(
                    f"Yêu cầu bổ sung trễ hạn: {late_requests[item.completed_at]}"
                    if item.outcome == "supplement" and item.completed_at in late_requests
                    else None
                ),
                step_id=item.task_id,
                due_at=item.due_at,
            )
        )
        if item.completed_at is not None:
            previous = to_name
    return rows


def format_control_sheet(dossier: Dossier, rows: list[HandOver], tz: tzinfo) -> str:
    """Plain-text control sheet for the terminal."""

    def when(moment: datetime | None) -> str:
        return in_zone(moment, tz, missing="—")

    lines = [
        f"PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ — Mã hồ sơ: {dossier.code}",
        f"Người nộp: {dossier.applicant_name} | Nhận lúc: {when(dossier.received_at)} | "
        f"Hẹn trả: {when(dossier.due_at)} | Trạng thái: {DossierStatus.label_of(dossier.status)}",
        "",
        f"{'Bước':38} {'Giao':22} {'Nhận':22} {'Nhận lúc':16} {'Xong lúc':16} "
        f"{'Giao/Dùng (giờ)':>15} Kết quả",
    ]
    for r in rows:
        used = number(r.used_hours, 2) if r.used_hours is not None else "—"
        lines.append(
            f"{r.step[:38]:38} {r.from_officer[:22]:22} {r.to_officer[:22]:22} "
            f"{when(r.received_at):16} {when(r.completed_at):16} {number(r.allotted_hours, 2):>7}/{used:>7} "
            f"{ResultClass.label_of(r.result_class)}"
        )
    return "\n".join(lines)
