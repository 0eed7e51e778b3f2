"""Feedback is handled as a dossier but is no administrative dossier: the condition reports add."""

from __future__ import annotations

from sqlalchemy import ColumnElement, select

from models import Dossier, Procedure

FEEDBACK_KIND = "feedback"


def administrative_only() -> ColumnElement[bool]:
    """Dossiers of administrative procedures only: Biểu 06, the register (form 07) and the QĐ 766
    score leave out the dossiers that handle citizens' feedback (docs/feedback.md)."""
    feedback_procedures = select(Procedure.id).where(Procedure.kind == FEEDBACK_KIND).scalar_subquery()
    return Dossier.procedure_id.not_in(feedback_procedures)


def feedback_only() -> ColumnElement[bool]:
    """Dossiers that handle citizens' feedback."""
    feedback_procedures = select(Procedure.id).where(Procedure.kind == FEEDBACK_KIND).scalar_subquery()
    return Dossier.procedure_id.in_(feedback_procedures)
