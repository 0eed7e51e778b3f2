"""The citizen's lookup (tra cứu): a dossier's progress shown only with a second factor, the last
four digits of the applicant's phone or ID number; and the citizen's rating after the return."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.context import Context
from engine.errors import Conflict, InvalidInput, NotFound
from engine.runtime.dossiers import record_event
from engine.runtime.postal import PublicPostal, public_items
from models import Agency, Dossier, Procedure, Rating, WorkItem
from models.dossier import STATUS_LABELS

# The same words whatever was wrong, so the lookup cannot tell which codes exist.
NOT_FOUND = "Không tìm thấy hồ sơ với mã và 4 số cuối đã nhập. Vui lòng kiểm tra lại giấy tiếp nhận."

PLAIN_STATUS = {
    "processing": "Hồ sơ đang được giải quyết.",
    "supplement": "Hồ sơ cần bổ sung giấy tờ; vui lòng xem phiếu yêu cầu bổ sung và nộp lại tại {desk}.",
    "result_ready": "Đã có kết quả; mời ông/bà đến {desk} để nhận kết quả.",
    "returned": "Đã trả kết quả.",
    "refused": "Hồ sơ không được giải quyết; mời ông/bà nhận văn bản trả lời tại {desk}.",
    "withdrawn": "Hồ sơ đã dừng giải quyết theo đề nghị rút hồ sơ.",
}

# The result (or the refusal) goes back by post (engine/runtime/postal.py).
POSTAL_STATUS = {
    "result_ready": "Đã có kết quả; kết quả sẽ được gửi qua bưu chính đến địa chỉ ông/bà đã đăng ký.",
    "returned": "Đã trả kết quả qua bưu chính.",
    "refused": "Hồ sơ không được giải quyết; văn bản trả lời được gửi qua bưu chính.",
}


@dataclass(frozen=True)
class PublicStatus:
    """What a citizen sees: no names, no documents, no officers."""

    code: str
    procedure: str
    agency: str
    status: str
    status_label: str
    plain: str
    current_step: str | None
    received_at: datetime
    due_at: datetime | None
    original_due_at: datetime | None
    moved: bool
    finished_at: datetime | None
    can_rate: bool
    rated: bool
    # The items the dossier came and its result goes back under: number, carrier, state, dates only.
    postal: tuple[PublicPostal, ...] = ()


def _matches(dossier: Dossier, last4: str) -> bool:
    if not (dossier.applicant_phone or dossier.applicant_id_number):
        # Received with "Công dân không cung cấp liên lạc": the receipt says the code alone finds it.
        return True
    last4 = (last4 or "").strip()
    if len(last4) != 4 or not last4.isdigit():
        return False
    candidates = [dossier.applicant_phone or "", dossier.applicant_id_number or ""]
    return any(len(c) >= 4 and hmac.compare_digest(c[-4:], last4) for c in candidates)


def normalise_code(code: str | None) -> str:
    """A code as typed by a citizen, in the form codes are issued: no surrounding spaces, upper case."""
    return (code or "").strip().upper()


def _verified(session: Session, code: str, last4: str) -> Dossier:
    typed = (code or "").strip()
    # Codes are issued in upper case; the code as typed is tried too, so both stay index lookups.
    dossier = session.scalars(
        select(Dossier).where(Dossier.code.in_({typed, normalise_code(typed)})).order_by(Dossier.id).limit(1)
    ).one_or_none()
    if dossier is None or not _matches(dossier, last4):
        raise NotFound(NOT_FOUND)
    if session.get_one(Procedure, dossier.procedure_id).kind == "feedback":
        raise NotFound(NOT_FOUND)  # a feedback is followed at /phan-anh, with its own second factor
    return dossier


def verified_dossier(session: Session, code: str, last4: str) -> Dossier:
    """The dossier with that code when the second factor matches; NotFound in the same words otherwise."""
    return _verified(session, code, last4)


def public_status(session: Session, code: str, last4: str) -> PublicStatus:
    """The dossier's progress in plain words, only when the second factor matches."""
    dossier = _verified(session, code, last4)
    agency = session.get_one(Agency, dossier.agency_id)
    procedure = session.get_one(Procedure, dossier.procedure_id)
    step = session.scalar(
        select(WorkItem.task_name)
        .where(WorkItem.dossier_id == dossier.id, WorkItem.completed_at.is_(None))
        .order_by(WorkItem.id)
        .limit(1)
    )
    rated = session.scalar(select(Rating.id).where(Rating.dossier_id == dossier.id)) is not None
    posted = tuple(public_items(session, dossier.id))
    plain = PLAIN_STATUS[dossier.status]
    if dossier.status in POSTAL_STATUS and any(p.direction == "outbound" for p in posted):
        plain = POSTAL_STATUS[dossier.status]
    return PublicStatus(
        code=dossier.code,
        procedure=procedure.name,
        agency=agency.name,
        status=dossier.status,
        status_label=STATUS_LABELS[dossier.status],
        plain=plain.format(desk=f"Bộ phận Một cửa – {agency.name}"),
        current_step=step if dossier.status == "processing" else None,
        received_at=dossier.received_at,
        # The citizen is told the appointment; when a letter moved it, the one it replaced.
        due_at=dossier.appointment_at or dossier.due_at,
        original_due_at=(
            dossier.due_at if dossier.appointment_moved_at is not None else dossier.original_due_at
        ),
        moved=dossier.appointment_moved_at is not None,
        finished_at=dossier.finished_at,
        can_rate=dossier.status in ("returned", "refused") and not rated,
        rated=rated,
        postal=posted,
    )


def rate(ctx: Context, code: str, last4: str, *, satisfied: bool, reason: str | None, now: datetime) -> None:
    """Đánh giá: the citizen rates a finished dossier once; dissatisfaction needs a reason."""
    reason = (reason or "").strip() or None
    if not satisfied and not reason:
        raise InvalidInput("Vui lòng cho biết lý do chưa hài lòng.", "reason")
    if reason and len(reason) > 2000:
        raise InvalidInput("Lý do quá dài (tối đa 2000 ký tự).", "reason")
    try:
        with ctx.uow() as uow:
            dossier = _verified(uow.session, code, last4)
            if dossier.status not in ("returned", "refused"):
                raise Conflict("Chỉ đánh giá được hồ sơ đã trả kết quả.")
            if uow.session.scalar(select(Rating.id).where(Rating.dossier_id == dossier.id)) is not None:
                raise Conflict("Hồ sơ này đã được đánh giá; cảm ơn ông/bà.")
            uow.session.add(Rating(dossier_id=dossier.id, satisfied=satisfied, reason=reason, rated_at=now))
            record_event(uow.session, dossier, "rated", None, now, satisfied=satisfied)
            uow.commit()
    except IntegrityError as exc:
        raise Conflict("Hồ sơ này đã được đánh giá; cảm ơn ông/bà.") from exc
