"""The public side of citizens' feedback: the form's checks, submission and the follow-up page.

A feedback is received as a dossier of the feedback procedure at its owner agency (no desk officer:
it comes from the public form, like a dossier the national portal pushes); its tracking code is that
dossier's code. The citizen follows it by code; what they wrote and the answer not published are
shown only with the phone or e-mail they gave (the second factor, as the dossier lookup asks for).
"""

from __future__ import annotations

import dataclasses
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from config import Settings
from engine.context import Context
from engine.errors import InvalidFields, InvalidInput, NoActiveVersion, NotFound
from engine.feedback.scope import FEEDBACK_KIND
from engine.feedback.steps import sms_text
from engine.formatting import local_time
from engine.outbox import enqueue
from engine.runtime.attachments import Upload, check_upload, store_all
from engine.runtime.dossiers import EMAIL, PHONE, Applicant, check_text, receive_in, unsafe_character
from engine.usecase import reading, require_aware, use_case
from models import Agency, Dossier, Feedback, Procedure, UnitOfWork, WorkItem

FEEDBACK_TYPES = "pdf,jpg,jpeg,png"
MAX_FILES = 3
# A dossier code as the desk prints it (letters, digits, dots and dashes); never looked up.
DOSSIER_CODE = re.compile(r"^[0-9A-Za-z.\-]{1,40}$")
NOT_FOUND = "Không tìm thấy phản ánh, kiến nghị với mã đã nhập. Vui lòng kiểm tra lại mã theo dõi."
CONTACT_MISMATCH = (
    "Số điện thoại hoặc thư điện tử không khớp với thông tin đã gửi kèm phản ánh; "
    "chỉ người gửi mới xem được nội dung và thông tin cá nhân."
)
# The state of a feedback in the citizen's words, from its dossier's status and its open step.
STATE_LABELS = {
    "received": "Đã tiếp nhận, đang phân loại",
    "processing": "Đang được cơ quan có thẩm quyền xem xét, xử lý",
    "answered": "Đã trả lời",
    "closed": "Đã kết thúc",
}


@dataclass(frozen=True)
class FeedbackInput:
    """What the public form or the API gives."""

    name: str
    content: str
    phone: str | None = None
    email: str | None = None
    procedure_code: str | None = None
    dossier_code: str | None = None
    consent_publish: bool = False


@dataclass(frozen=True)
class FeedbackReceipt:
    """What the citizen is shown after sending: the tracking code and when an answer is due."""

    code: str
    submitted_at: datetime
    due_at: datetime


@dataclass(frozen=True)
class FeedbackStatus:
    """A feedback as the citizen follows it; the personal part only with the second factor."""

    code: str
    state: str
    state_label: str
    submitted_at: datetime
    due_at: datetime | None
    answered_at: datetime | None
    published: bool
    answer: str | None  # the published answer; with the second factor, the answer once sent
    verified: bool = False
    name: str | None = None
    content: str | None = None
    procedure: str | None = None
    dossier_code: str | None = None
    consent_publish: bool | None = None


def _blank(value: str | None) -> str | None:
    return (value or "").strip() or None


def normalised(data: FeedbackInput) -> FeedbackInput:
    """The input with surrounding spaces removed and empty fields as None."""
    return dataclasses.replace(
        data,
        name=(data.name or "").strip(),
        content=(data.content or "").strip(),
        phone=_blank(data.phone),
        email=_blank(data.email),
        procedure_code=_blank(data.procedure_code),
        dossier_code=_blank(data.dossier_code),
    )


def feedback_problems(ctx: Context, data: FeedbackInput) -> dict[str, str]:
    """Every bad field of the form, by field, each with its message (no database needed)."""
    problems: dict[str, str] = {}
    limits = {"name": 255, "phone": 20, "email": 255, "procedure_code": 40, "dossier_code": 40}
    for field_name in ("name", "phone", "email", "procedure_code", "dossier_code", "content"):
        value = getattr(data, field_name)
        if value is None:
            continue
        unsafe = unsafe_character(value)
        if unsafe is not None:
            problems[field_name] = f"Nội dung có {unsafe} không hợp lệ"
        elif field_name in limits and len(value) > limits[field_name]:
            problems[field_name] = f"Nội dung dài quá {limits[field_name]} ký tự"
    if "name" not in problems and not data.name:
        problems["name"] = "Chưa nhập họ tên người phản ánh"
    if "phone" not in problems and data.phone and not PHONE.match(data.phone.replace(" ", "")):
        problems["phone"] = "Số điện thoại không hợp lệ (10–11 chữ số, bắt đầu bằng 0 hoặc +84)"
    if "email" not in problems and data.email and not EMAIL.match(data.email):
        problems["email"] = "Địa chỉ thư điện tử không hợp lệ"
    if not data.phone and not data.email and "phone" not in problems:
        problems["contact"] = "Cần số điện thoại hoặc thư điện tử để nhận trả lời và theo dõi phản ánh"
    if "dossier_code" not in problems and data.dossier_code and not DOSSIER_CODE.match(data.dossier_code):
        problems["dossier_code"] = "Mã hồ sơ chỉ gồm chữ, số, dấu chấm và dấu gạch ngang"
    if "content" not in problems:
        cap = ctx.settings.feedback_max_chars
        if not data.content:
            problems["content"] = "Chưa nhập nội dung phản ánh, kiến nghị"
        elif len(data.content) > cap:
            problems["content"] = f"Nội dung phản ánh dài quá {cap} ký tự (hiện có {len(data.content)} ký tự)"
    return problems


def check_uploads(ctx: Context, uploads: Sequence[Upload]) -> None:
    """At most three files, each a PDF, JPEG or PNG (by name and by content) under the feedback cap."""
    if len(uploads) > MAX_FILES:
        raise InvalidInput(f"Chỉ được gửi kèm tối đa {MAX_FILES} tệp.", "files")
    settings = feedback_upload_settings(ctx)
    for upload in uploads:
        check_upload(settings, upload)


def feedback_upload_settings(ctx: Context) -> Settings:
    """The settings attachments are checked and stored with: the feedback's types and size cap."""
    return ctx.settings.with_overrides(
        upload_types=FEEDBACK_TYPES, upload_max_bytes=ctx.settings.feedback_upload_max_bytes
    )


def procedure_choices(ctx: Context, *, uow: UnitOfWork | None = None) -> list[tuple[str, str]]:
    """The administrative procedures a feedback may be about, as (code, name)."""
    with reading(ctx, uow) as session:
        rows = session.execute(
            select(Procedure.code, Procedure.name)
            .where(Procedure.kind != FEEDBACK_KIND)
            .order_by(Procedure.code)
        )
        return [(code, name) for code, name in rows]


def feedback_procedure(session: Session) -> Procedure:
    """The catalogue's feedback procedure (the first by code when several are listed)."""
    procedure = session.scalars(
        select(Procedure).where(Procedure.kind == FEEDBACK_KIND).order_by(Procedure.code).limit(1)
    ).one_or_none()
    if procedure is None:
        raise NoActiveVersion(
            "Hệ thống chưa có quy trình tiếp nhận, xử lý phản ánh, kiến nghị; vui lòng liên hệ cơ quan "
            "qua đường dây nóng"
        )
    return procedure


def submit_feedback(
    ctx: Context, data: FeedbackInput, *, now: datetime, uploads: Sequence[Upload] = ()
) -> FeedbackReceipt:
    """Receive a feedback from the public form or the API: checked whole, then stored with its dossier
    of the feedback procedure in one transaction (anything wrong: nothing stored)."""
    require_aware(now)
    data = normalised(data)
    problems = feedback_problems(ctx, data)
    if problems:
        raise InvalidFields(problems)
    check_uploads(ctx, uploads)
    with use_case(ctx, "Tiếp nhận phản ánh, kiến nghị") as uow:
        session = uow.session
        about: Procedure | None = None
        if data.procedure_code:
            about = session.scalars(
                select(Procedure).where(
                    Procedure.code == data.procedure_code, Procedure.kind != FEEDBACK_KIND
                )
            ).one_or_none()
            if about is None:
                raise InvalidInput(
                    f"Không tìm thấy thủ tục hành chính mã {data.procedure_code}", "procedure_code"
                )
        procedure = feedback_procedure(session)
        agency = session.get_one(Agency, procedure.owner_agency_id)
        dossier, _, _ = receive_in(
            ctx,
            session,
            procedure=procedure,
            agency=agency,
            received_by_id=None,
            applicant=Applicant(name=data.name, phone=data.phone, email=data.email),
            channel="online",
            now=now,
            data=None,
            documents=None,
            uploads=(),
            submission_key=None,
            received_note={"feedback": True},
        )
        store_all(feedback_upload_settings(ctx), session, dossier.id, "input", uploads, None, now)
        session.add(
            Feedback(
                dossier_id=dossier.id,
                procedure_id=about.id if about is not None else None,
                about_dossier_code=data.dossier_code,
                name=data.name,
                phone=data.phone,
                email=data.email,
                content=data.content,
                consent_publish=data.consent_publish,
                submitted_at=now,
            )
        )
        assert dossier.due_at is not None
        receipt = FeedbackReceipt(dossier.code, now, dossier.due_at)
        _tell_received(ctx, session, dossier, agency, data, now)
        uow.commit()
    return receipt


def _tell_received(
    ctx: Context, session: Session, dossier: Dossier, agency: Agency, data: FeedbackInput, now: datetime
) -> None:
    """The sender's acknowledgement, with the tracking code and where to follow it."""
    link = f"{ctx.settings.public_base_url.rstrip('/')}/phan-anh/{dossier.code}"
    body = (
        f"Kính gửi Ông/Bà {data.name},\n\n{agency.name} đã tiếp nhận phản ánh, kiến nghị của Ông/Bà.\n"
        f"Mã theo dõi: {dossier.code}. Hạn trả lời: {local_time(dossier.due_at, ctx.calendar.tz)}.\n"
        f"Theo dõi tại {link} (cùng số điện thoại hoặc thư điện tử đã gửi)."
    )
    sms = sms_text(f"{agency.name}: đã tiếp nhận phản ánh, mã theo dõi {dossier.code}. Theo dõi tại {link}")
    for channel, address, text in (("sms", data.phone, sms), ("email", data.email, body)):
        if address:
            enqueue(
                session,
                dedupe_key=f"dossier:{dossier.id}:feedback_received:{channel}",
                channel=channel,
                kind="applicant_feedback_received",
                subject=f"Đã tiếp nhận phản ánh, kiến nghị {dossier.code}",
                body=text,
                now=now,
                address=address.replace(" ", "") if channel == "sms" else address,
                dossier_id=dossier.id,
            )


def _same_contact(given: str, stored: str | None, phone: bool) -> bool:
    if not stored or not given:
        return False
    if phone:
        a, b = (re.sub(r"[\s.\-]", "", v).replace("+84", "0", 1) for v in (given, stored))
    else:
        a, b = given.strip().lower(), stored.strip().lower()
    return hmac.compare_digest(a.encode(), b.encode())


def contact_matches(feedback: Feedback, contact: str | None) -> bool:
    """Whether `contact` is the phone or the e-mail given with the feedback."""
    contact = (contact or "").strip()
    return _same_contact(contact, feedback.phone, True) or _same_contact(contact, feedback.email, False)


def _state(session: Session, dossier: Dossier, feedback: Feedback) -> str:
    if feedback.sent_at is not None:
        return "answered"
    if dossier.status not in ("processing", "supplement", "result_ready"):
        return "closed"
    classifying = session.scalar(
        select(WorkItem.id).where(
            WorkItem.dossier_id == dossier.id,
            WorkItem.completed_at.is_(None),
            WorkItem.agency_id == dossier.agency_id,
        )
    )
    return "received" if feedback.competent_agency_id is None and classifying else "processing"


def feedback_status(
    ctx: Context, code: str, contact: str | None = None, *, uow: UnitOfWork | None = None
) -> FeedbackStatus:
    """A feedback's state by its tracking code; with the matching contact, what was written and the
    answer; a contact given that does not match is refused (InvalidInput "contact")."""
    check_text(code, "dossier_code")
    with reading(ctx, uow) as session:
        typed = (code or "").strip()
        row = session.execute(
            select(Feedback, Dossier)
            .join(Dossier, Dossier.id == Feedback.dossier_id)
            .where(Dossier.code.in_({typed, typed.upper()}))
            .limit(1)
        ).one_or_none()
        if row is None:
            raise NotFound(NOT_FOUND)
        feedback, dossier = row
        verified = False
        if contact and contact.strip():
            if not contact_matches(feedback, contact):
                raise InvalidInput(CONTACT_MISMATCH, "contact")
            verified = True
        state = _state(session, dossier, feedback)
        procedure = session.get(Procedure, feedback.procedure_id) if feedback.procedure_id else None
        sent = feedback.sent_at is not None
        return FeedbackStatus(
            code=dossier.code,
            state=state,
            state_label=STATE_LABELS[state],
            submitted_at=feedback.submitted_at,
            due_at=dossier.appointment_at or dossier.due_at,
            answered_at=feedback.sent_at,
            published=feedback.published,
            answer=feedback.answer if (feedback.published or (verified and sent)) else None,
            verified=verified,
            name=feedback.name if verified else None,
            content=feedback.content if verified else None,
            procedure=f"{procedure.code} – {procedure.name}" if verified and procedure else None,
            dossier_code=feedback.about_dossier_code if verified else None,
            consent_publish=feedback.consent_publish if verified else None,
        )
