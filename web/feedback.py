"""Citizens' feedback (phản ánh, kiến nghị): the public form at /phan-anh and the follow-up page, no
sign-in; the same as a JSON API without a token under /api/v1/public/feedback. Every submission is
rate-limited per client address (MOTCUA_FEEDBACK_RATE_LIMIT); the follow-up shares the dossier
lookup's budget since both check a code against its second factor."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask_limiter.errors import RateLimitExceeded
from spectree import Tag

from engine.errors import DomainError, InvalidFields, InvalidInput, TooLarge
from engine.feedback.service import (
    MAX_FILES,
    FeedbackInput,
    feedback_status,
    procedure_choices,
    submit_feedback,
)
from engine.runtime.attachments import Upload
from web import feedback_schemas as schema
from web.api_spec import PREFIX, operation
from web.errors import error_response
from web.extensions import limiter
from web.helpers import decoded_uploads, engine_ctx, now, request_uow
from web.public import lookup_budget

bp = Blueprint("feedback", __name__, url_prefix="/phan-anh")
api_bp = Blueprint("feedback_api", __name__, url_prefix=f"{PREFIX}/public/feedback")
FEEDBACK = Tag(
    name="feedback", description="Phản ánh, kiến nghị của người dân, doanh nghiệp (không cần mã truy cập)"
)
FLOOD = (
    "Địa chỉ của ông/bà đã gửi quá nhiều phản ánh trong thời gian ngắn; vui lòng thử lại sau "
    "hoặc liên hệ đường dây nóng của cơ quan."
)
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _feedback_limit() -> str:
    return engine_ctx().settings.feedback_rate_limit


submission_budget = limiter.shared_limit(_feedback_limit, scope="feedback", methods=["POST"])
# The API's follow-up is a GET that checks the second factor: it spends the lookup's budget too.
api_lookup_budget = limiter.shared_limit(lambda: engine_ctx().settings.lookup_rate_limit, scope="lookup")


def _refuse_oversized() -> None:
    """A body larger than three attachments at the cap (base64 included) and the text is refused
    before it is read (413), whatever the app-wide cap."""
    settings = engine_ctx().settings
    cap = (
        settings.feedback_upload_max_bytes * MAX_FILES * 4 // 3 + 64 * 1024 + settings.feedback_max_chars * 4
    )
    if request.content_length is not None and request.content_length > cap:
        raise TooLarge(f"Nội dung gửi vượt quá dung lượng cho phép ({cap / (1024 * 1024):.1f} MB).")


bp.before_request(_refuse_oversized)
api_bp.before_request(_refuse_oversized)


def _flooded(exc: RateLimitExceeded):
    body, status = error_response(429, "rate_limited", FLOOD)
    return body, status, [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]


bp.register_error_handler(RateLimitExceeded, _flooded)
api_bp.register_error_handler(RateLimitExceeded, _flooded)


def _form_input() -> FeedbackInput:
    form = request.form
    return FeedbackInput(
        name=form.get("name", ""),
        phone=form.get("phone"),
        email=form.get("email"),
        procedure_code=form.get("procedure_code"),
        dossier_code=form.get("dossier_code"),
        content=form.get("content", ""),
        consent_publish=form.get("consent_publish") == "yes",
    )


def _form_page(values: dict[str, Any], errors: dict[str, str], status: int = 200):
    html = render_template(
        "feedback_form.html",
        values=values,
        errors=errors,
        procedures=procedure_choices(engine_ctx(), uow=request_uow()),
        max_chars=engine_ctx().settings.feedback_max_chars,
        max_mb=engine_ctx().settings.feedback_upload_max_bytes / (1024 * 1024),
    )
    return html, status, NO_STORE


@bp.get("")
def form():
    """The feedback form."""
    return _form_page({"procedure_code": request.args.get("thu-tuc", "")}, {})


@bp.post("")
@submission_budget
def submit():
    """Send a feedback: on success the tracking code is shown; any problem shows the form again."""
    data = _form_input()
    uploads = [Upload(f.filename or "", f.read()) for f in request.files.getlist("files") if f and f.filename]
    try:
        receipt = submit_feedback(engine_ctx(), data, now=now(), uploads=uploads)
    except DomainError as exc:
        errors = (
            exc.fields
            if isinstance(exc, InvalidFields)
            else {getattr(exc, "field", None) or "form": exc.message}
        )
        return _form_page(dict(request.form), errors, exc.http_status)
    return redirect(url_for("feedback.follow", code=receipt.code, moi=1))


@bp.route("/<code>", methods=["GET", "POST"])
@lookup_budget
def follow(code: str):
    """The state of a feedback by its code; with the phone or e-mail given, its content and answer."""
    contact = (request.form.get("contact") or "").strip() if request.method == "POST" else ""
    error = None
    try:
        found = feedback_status(engine_ctx(), code, contact or None, uow=request_uow())
    except InvalidInput as exc:
        if exc.field != "contact":
            raise
        found, error = feedback_status(engine_ctx(), code, uow=request_uow()), exc.message
    html = render_template(
        "feedback_status.html", found=found, error=error, new=request.args.get("moi") == "1"
    )
    return html, 422 if error else 200, NO_STORE


# ---------------------------------------------------------------------------
# the API, without a token


def _time(moment: datetime | None) -> str | None:
    return moment.astimezone(engine_ctx().calendar.tz).isoformat() if moment else None


@api_bp.post("")
@submission_budget
@operation(
    "submitFeedback",
    FEEDBACK,
    {201: (schema.FeedbackReceipt, "Received; follow it with the code and the contact given.")},
    429,
    public=True,
)
def submit_api(json: schema.FeedbackIn) -> Any:
    """Send a feedback or recommendation about a procedure or a dossier (no token). Every field problem
    comes in one 422 answer under `fields`; a wrong attachment type is refused; nothing is stored then.
    Rate-limited per client address (429)."""
    data = FeedbackInput(
        name=json.name,
        phone=json.phone,
        email=json.email,
        procedure_code=json.procedure_code,
        dossier_code=json.dossier_code,
        content=json.content,
        consent_publish=json.consent_publish,
    )
    receipt = submit_feedback(engine_ctx(), data, now=now(), uploads=decoded_uploads(json.files))
    answer = schema.FeedbackReceipt(
        code=receipt.code, submitted_at=_time(receipt.submitted_at) or "", due_at=_time(receipt.due_at) or ""
    )
    return answer, 201


@api_bp.get("/<code>")
@api_lookup_budget
@operation(
    "getFeedback",
    FEEDBACK,
    {200: (schema.FeedbackStatus, "The state, and the answer when published.")},
    404,
    429,
    public=True,
)
def status_api(code: str, headers: schema.FeedbackHeaders) -> schema.FeedbackStatus:
    """A feedback's state by its code and, if published, the answer; with the phone or e-mail given in
    `X-Feedback-Contact`, also what was written and the answer once sent (422 when it does not match)."""
    found = feedback_status(engine_ctx(), code, headers.contact, uow=request_uow())
    return schema.FeedbackStatus(
        code=found.code,
        state=found.state,
        state_label=found.state_label,
        submitted_at=_time(found.submitted_at) or "",
        due_at=_time(found.due_at),
        answered_at=_time(found.answered_at),
        published=found.published,
        answer=found.answer,
        verified=found.verified,
        name=found.name,
        content=found.content,
        procedure=found.procedure,
        dossier_code=found.dossier_code,
    )


@api_bp.after_request
def api_headers(response):  # type: ignore[no-untyped-def]
    """Personal data: never cached."""
    response.headers["Cache-Control"] = "no-store"
    return response
