"""What the officer working a feedback's step reads beside the task page: the feedback itself, the
agencies to choose the competent one from (classification) and the answer being drafted.

Which fields a step asks for is declared in the BPMN: `<mc:data name="competent_agency"/>` or
`<mc:data name="answer"/>` in the task's extension elements (workflows/bpmn/feedback.bpmn).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from engine.catalogue.bpmn_xml import MC_NS, parse_bpmn_xml
from engine.context import Context
from engine.feedback.steps import AGENCY_KEY, ANSWER_KEY, feedback_of
from engine.runtime.access import require_view_item
from engine.usecase import active_officer, reading
from models import Agency, Dossier, Procedure, ProcessVersion, UnitOfWork, WorkItem

FIELDS = (AGENCY_KEY, ANSWER_KEY)


@dataclass(frozen=True)
class FeedbackPanel:
    """The feedback behind a step, and the fields the step asks for."""

    content: str
    submitted_at: datetime
    procedure: str | None  # "code – name" of the procedure it is about
    dossier_code: str | None  # the dossier code the citizen named, as typed
    consent_publish: bool
    fields: tuple[str, ...]  # of FIELDS, those this step declares
    agencies: list[tuple[str, str]]  # (code, name) to choose the competent agency from
    default_agency: str | None  # the code proposed: the competent agency chosen, else the owner's
    answer: str | None


@functools.lru_cache(maxsize=64)
def _declared(sha256: str, xml: str) -> dict[str, tuple[str, ...]]:
    """The data names each task of a BPMN declares, by task id."""
    root = parse_bpmn_xml(xml)
    found: dict[str, tuple[str, ...]] = {}
    for task in root.iter():
        task_id = task.get("id")
        if not task_id or not isinstance(task.tag, str) or not task.tag.endswith("userTask"):
            continue
        names = [d.get("name", "") for d in task.iter(f"{{{MC_NS}}}data")]
        found[task_id] = tuple(n for n in names if n in FIELDS)
    return found


def step_fields(version: ProcessVersion, task_id: str) -> tuple[str, ...]:
    """The feedback fields a step of this process version declares."""
    return _declared(version.sha256, version.bpmn_xml).get(task_id, ())


def feedback_data(form: Mapping[str, str]) -> dict[str, str] | None:
    """The feedback fields a completion form sent (None when it sent none): the step's data."""
    data = {key: form[key].strip() for key in FIELDS if key in form}
    return data or None


def feedback_panel(
    ctx: Context, officer_id: int, work_item_id: int, *, uow: UnitOfWork | None = None
) -> FeedbackPanel | None:
    """The feedback panel of a step (None when the step's dossier handles no feedback)."""
    with reading(ctx, uow) as session:
        officer = active_officer(session, officer_id)
        item = session.get(WorkItem, work_item_id)
        if item is None:
            return None
        require_view_item(officer, item)
        dossier = session.get_one(Dossier, item.dossier_id)
        feedback = feedback_of(session, dossier)
        if feedback is None:
            return None
        version = session.get_one(ProcessVersion, dossier.process_version_id)
        fields = step_fields(version, item.task_id) if item.is_open else ()
        about = session.get(Procedure, feedback.procedure_id) if feedback.procedure_id else None
        agencies = [(a.code, a.name) for a in session.scalars(select(Agency).order_by(Agency.code))]
        default = None
        if feedback.competent_agency_id is not None:
            default = session.get_one(Agency, feedback.competent_agency_id).code
        elif about is not None:
            default = session.get_one(Agency, about.owner_agency_id).code
        return FeedbackPanel(
            content=feedback.content,
            submitted_at=feedback.submitted_at,
            procedure=f"{about.code} – {about.name}" if about else None,
            dossier_code=feedback.about_dossier_code,
            consent_publish=feedback.consent_publish,
            fields=fields,
            agencies=agencies if AGENCY_KEY in fields else [],
            default_agency=default,
            answer=feedback.answer,
        )
