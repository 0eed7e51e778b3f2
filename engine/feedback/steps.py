"""What a feedback's steps add to the engine's own step completion (engine/runtime/dossiers.py).

The feedback procedure is an ordinary BPMN run by the engine; its steps carry two data keys, declared
with `<mc:data>` on the task that sets them:
- `competent_agency`: the code of the agency the classifying officer found competent; the lanes with
  `agency-from="competent_agency"` open their steps in that agency's inbox;
- `answer`: the text of the answer, drafted (and redrafted) by the competent agency.
An approval needs an answer; when the workflow ends, the answer is sent to the citizen through the
notifications outbox and, when the citizen agreed, published on the procedure's public page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.context import Context
from engine.errors import InvalidInput
from engine.formatting import local_time
from engine.notify.notifications import SMS_MAX, plain
from engine.outbox import enqueue
from models import Agency, Dossier, Feedback, Procedure, WorkItem

AGENCY_KEY = "competent_agency"
ANSWER_KEY = "answer"
APPROVE_OUTCOME = "approve"
FEEDBACK_KIND = "feedback"


def sms_text(text: str) -> str:
    """An SMS without diacritics, within the length the applicant's messages keep to."""
    text = plain(" ".join(text.split()))
    return text if len(text) <= SMS_MAX else text[: SMS_MAX - 3].rstrip() + "..."


def is_feedback_procedure(procedure: Procedure | None) -> bool:
    """Whether the procedure is the handling of feedback rather than an administrative procedure."""
    return procedure is not None and procedure.kind == FEEDBACK_KIND


def feedback_of(session: Session, dossier: Dossier) -> Feedback | None:
    """The feedback a dossier handles (None for an administrative dossier)."""
    if not is_feedback_procedure(session.get(Procedure, dossier.procedure_id)):
        return None
    return session.scalars(select(Feedback).where(Feedback.dossier_id == dossier.id)).one_or_none()


def after_step(
    ctx: Context,
    session: Session,
    dossier: Dossier,
    item: WorkItem,
    outcome: str | None,
    data: dict[str, Any] | None,
    now: datetime,
) -> None:
    """Keep the feedback row in step with a completed step of its dossier (nothing for other dossiers).

    Runs in the completion's transaction after the next steps were opened: an error here undoes it.
    """
    feedback = feedback_of(session, dossier)
    if feedback is None:
        return
    data = data or {}
    code = data.get(AGENCY_KEY)
    if code:
        agency_id = session.scalars(select(Agency.id).where(Agency.code == str(code))).one_or_none()
        if agency_id is None:
            raise InvalidInput(f"Không có cơ quan mã {code} trong danh sách cơ quan", AGENCY_KEY)
        feedback.competent_agency_id = agency_id
    if ANSWER_KEY in data:
        answer = str(data[ANSWER_KEY] or "").strip()
        if not answer:
            raise InvalidInput("Chưa nhập nội dung văn bản trả lời", ANSWER_KEY)
        feedback.answer = answer
        feedback.answered_at = now
    if outcome == APPROVE_OUTCOME and not feedback.answer:
        raise InvalidInput("Chưa có dự thảo văn bản trả lời để phê duyệt", ANSWER_KEY)
    if dossier.status == "returned" and feedback.sent_at is None:
        _deliver(ctx, session, dossier, feedback, now)


def _deliver(ctx: Context, session: Session, dossier: Dossier, feedback: Feedback, now: datetime) -> None:
    """Send the answer to the citizen and, with their consent, publish it."""
    if not feedback.answer:
        raise InvalidInput("Chưa có văn bản trả lời được phê duyệt để gửi cho người phản ánh", ANSWER_KEY)
    agency = session.get_one(Agency, feedback.competent_agency_id or dossier.agency_id)
    subject = f"Trả lời phản ánh, kiến nghị {dossier.code}"
    body = (
        f"Kính gửi Ông/Bà {feedback.name},\n\n"
        f"{agency.name} trả lời phản ánh, kiến nghị {dossier.code} gửi ngày "
        f"{local_time(feedback.submitted_at, ctx.calendar.tz)}:\n\n{feedback.answer}\n\n"
        "Ông/Bà có thể xem lại nội dung trả lời tại trang Phản ánh, kiến nghị bằng mã trên."
    )
    sms = sms_text(f"{agency.name} đã trả lời phản ánh {dossier.code}. Xem tại trang Phản ánh, kiến nghị.")
    for channel, address, text in (("sms", feedback.phone, sms), ("email", feedback.email, body)):
        if address:
            enqueue(
                session,
                dedupe_key=f"feedback:{feedback.id}:answer:{channel}",
                channel=channel,
                kind="applicant_feedback_answer",
                subject=subject,
                body=text,
                now=now,
                address=address.replace(" ", "") if channel == "sms" else address,
                dossier_id=dossier.id,
            )
    feedback.sent_at = now
    if feedback.consent_publish:
        feedback.published = True
        feedback.published_at = now
