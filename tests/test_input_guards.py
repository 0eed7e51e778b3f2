"""Input the database would choke on, and actions by the wrong agency, are refused before any write."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.errors import Conflict, Forbidden, InvalidInput
from engine.runtime import dossiers as svc
from models import Dossier
from tests.conftest import at, open_items


def receive(ctx, officers, **kw):
    applicant = kw.pop("applicant", svc.Applicant(name="Lê Văn Minh", phone="0912000111"))
    return svc.receive_dossier(
        ctx,
        procedure_code="1.001806",
        applicant=applicant,
        channel="in_person",
        officer_id=officers["sonv.motcua"],
        now=at("2026-11-23 08:00"),
        **kw,
    )


def count(ctx) -> int:
    with ctx.uow() as uow:
        return uow.session.scalar(select(func.count(Dossier.id)))


@pytest.mark.parametrize(
    ("applicant", "field"),
    [
        (svc.Applicant(name="Lê\x00Minh"), "applicant_name"),
        (svc.Applicant(name="x" * 256), "applicant_name"),
        (svc.Applicant(name="Lê Minh", email="a" * 260 + "@b.vn"), "applicant_email"),
        (svc.Applicant(name="Lê Minh", address="\x07chuông"), "applicant_address"),
    ],
)
def test_applicant_text_the_database_cannot_hold_is_refused(ctx, officers, applicant, field) -> None:
    with pytest.raises(InvalidInput) as caught:
        receive(ctx, officers, applicant=applicant)
    assert caught.value.field == field
    assert count(ctx) == 0


@pytest.mark.parametrize(
    "data", [{"nested": {"typename": "BpmnWorkflow"}}, {"typename": "x"}, {"bad key": 1}, {"x": [1, 2]}]
)
def test_step_data_must_stay_flat(ctx, officers, data) -> None:
    with pytest.raises(InvalidInput, match=r"dữ liệu|Khóa|Giá trị"):
        receive(ctx, officers, data=data)
    assert count(ctx) == 0


def test_resume_by_another_agency_is_forbidden_before_revealing_the_state(ctx, officers) -> None:
    receipt = receive(ctx, officers)
    with pytest.raises(Forbidden):
        svc.resume(ctx, receipt.code, officers["xa.motcua"], at("2026-11-23 09:00"))


def test_return_by_another_agency_is_forbidden_before_naming_the_step(ctx, officers) -> None:
    receipt = receive(ctx, officers)
    item = open_items(ctx, receipt.dossier_id)[0]
    with pytest.raises(Forbidden):
        svc.return_result(ctx, item.id, officers["xa.motcua"], collected_by="X", now=at("2026-11-23 09:00"))


def test_a_submission_key_of_another_agency_is_not_answered_with_its_dossier(ctx, officers) -> None:
    receive(ctx, officers, submission_key="k-1")
    with pytest.raises(Conflict):
        svc.receive_dossier(
            ctx,
            procedure_code="1.001193",
            applicant=svc.Applicant(name="Hà"),
            channel="in_person",
            officer_id=officers["xa.motcua"],
            now=at("2026-11-23 08:00"),
            submission_key="k-1",
        )
