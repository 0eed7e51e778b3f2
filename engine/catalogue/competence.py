"""Thẩm quyền tiếp nhận: which desk may receive which procedure.

The catalogue says it (workflows/bpmn/catalogue.toml, `receiving_level` and `receiving_agencies`);
`may_receive` is the one rule the desk page, its procedure filter, the API's catalogue and
receiving itself all apply.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import Forbidden
from models import Agency, Procedure
from models.catalogue import RECEIVING_AGENCY_LEVELS


def may_receive(procedure: Procedure, agency: Agency) -> bool:
    """Whether the desk of `agency` may receive dossiers of `procedure`.

    No desk receives the feedback procedure: feedback arrives through the public form (/phan-anh).
    """
    if procedure.kind == "feedback":
        return False
    if agency.level not in RECEIVING_AGENCY_LEVELS.get(procedure.receiving_level, ()):
        return False
    listed = procedure.receiving_agencies or []
    return not listed or agency.code in listed


def require_competence(procedure: Procedure, agency: Agency) -> None:
    """Forbidden unless the desk of `agency` may receive `procedure`."""
    if not may_receive(procedure, agency):
        raise Forbidden(
            f"Thủ tục {procedure.code} không thuộc thẩm quyền tiếp nhận của {agency.name}; "
            "hướng dẫn người nộp đến cơ quan có thẩm quyền tiếp nhận"
        )


def receivable_codes(session: Session, agency: Agency) -> set[str]:
    """The codes of the procedures the desk of `agency` may receive."""
    return {p.code for p in session.scalars(select(Procedure)) if may_receive(p, agency)}
