"""The shapes of the public feedback API (/api/v1/public/feedback), declared as pydantic models."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from web.api_schemas import Input, Parameters, Shape, absent, text

MAX_FEEDBACK_FILES = 3
# The settings cap the content (MOTCUA_FEEDBACK_MAX_CHARS); this bound only stops absurd bodies early.
CONTENT_BOUND = 100_000


class FeedbackFile(Input):
    """A PDF, JPEG or PNG sent with the feedback, its content in base64."""

    name: text("file_name", min_length=1, examples=["anh-chup.jpg"])
    content_base64: Annotated[str, Field(json_schema_extra={"contentEncoding": "base64"})]


class FeedbackIn(Input):
    """A citizen's feedback or recommendation (phản ánh, kiến nghị): a phone or an e-mail is needed."""

    name: text(255, min_length=1, examples=["Trần Thị Bình"])
    phone: text(20, examples=["0912345678"]) = absent()
    email: text(255, examples=["binh@example.vn"]) = absent()
    procedure_code: text(40, description="The procedure concerned (mã thủ tục).") = absent()
    dossier_code: text(
        40, description="The dossier concerned, as printed on the receipt; never looked up for the caller."
    ) = absent()
    content: Annotated[str, Field(min_length=1, max_length=CONTENT_BOUND)]
    consent_publish: bool = Field(False, description="The citizen agrees to the answer being published.")
    files: list[FeedbackFile] = Field(default_factory=list, max_length=MAX_FEEDBACK_FILES)


class FeedbackReceipt(Shape):
    """The tracking code to follow the feedback with, and when the answer is due."""

    code: str
    submitted_at: str
    due_at: str


class FeedbackHeaders(Parameters):
    """The second factor, in a header so that it stays out of URLs and access logs."""

    contact: str = absent(
        alias="X-Feedback-Contact",
        max_length=255,
        description="The phone or e-mail given with the feedback: with it, what was written and the answer.",
    )


class FeedbackStatus(Shape):
    """A feedback as the citizen follows it; personal fields are null without the second factor."""

    code: str
    state: str = Field(description="received | processing | answered | closed")
    state_label: str
    submitted_at: str
    due_at: str | None
    answered_at: str | None
    published: bool
    answer: str | None
    verified: bool
    name: str | None
    content: str | None
    procedure: str | None
    dossier_code: str | None
