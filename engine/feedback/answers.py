"""The published answers to citizens' feedback, for the public page of a procedure (/thu-tuc/<code>)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.context import Context
from engine.usecase import reading
from models import Agency, Dossier, Feedback, Procedure, UnitOfWork

PUBLISHED_LIMIT = 20


@dataclass(frozen=True)
class PublishedAnswer:
    """One feedback and its answer as everybody may read it: no name, no contact, no attachment."""

    code: str
    submitted_at: datetime
    content: str
    answer: str
    agency: str  # the agency that answered
    published_at: datetime


def published_answers(
    session: Session, procedure_code: str, *, limit: int = PUBLISHED_LIMIT
) -> list[PublishedAnswer]:
    """The answers published about a procedure, newest first (only those the citizen agreed to publish).

    Texts are plain text as the citizen and the officers typed them: render them escaped.
    """
    rows = session.execute(
        select(Feedback, Dossier.code, Agency.name)
        .join(Procedure, Procedure.id == Feedback.procedure_id)
        .join(Dossier, Dossier.id == Feedback.dossier_id)
        .join(Agency, Agency.id == Feedback.competent_agency_id, isouter=True)
        .where(Procedure.code == procedure_code, Feedback.published.is_(True))
        .order_by(Feedback.published_at.desc(), Feedback.id.desc())
        .limit(limit)
    )
    return [
        PublishedAnswer(
            code=code,
            submitted_at=feedback.submitted_at,
            content=feedback.content,
            answer=feedback.answer or "",
            agency=agency or "",
            published_at=feedback.published_at or feedback.submitted_at,
        )
        for feedback, code, agency in rows
    ]


def procedure_answers(
    ctx: Context, procedure_code: str, *, uow: UnitOfWork | None = None
) -> list[PublishedAnswer]:
    """`published_answers` as a read use case (in the web request's unit of work): public, no sign-in."""
    with reading(ctx, uow) as session:
        return published_answers(session, procedure_code)
