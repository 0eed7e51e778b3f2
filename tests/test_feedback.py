"""Citizens' feedback (phản ánh, kiến nghị): received through its own BPMN procedure, classified to the
competent agency, answered, sent and published; late like any dossier; never in the reports."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.context import Context
from engine.deadlines.watcher import tick
from engine.errors import InvalidFields, InvalidInput, NotFound
from engine.feedback import published_answers
from engine.feedback.handling import feedback_panel
from engine.feedback.indicators import feedback_timeliness
from engine.feedback.service import FeedbackInput, feedback_status, submit_feedback
from engine.runtime import dossiers as svc
from engine.runtime.attachments import Upload
from engine.runtime.lookup import public_status
from engine.statistics.periods import parse_period
from engine.statistics.register import agency_register
from engine.statistics.reports import statistics_report
from models import Agency, Attachment, Dossier, Feedback, Notification, SlaAlert
from tests.conftest import Officers, at, open_items

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF"
SENT = at("2026-11-23 09:00")  # a working Monday
FORM = FeedbackInput(
    name="Trần Thị Bình",
    phone="0912 345 678",
    procedure_code="1.001806",
    dossier_code="000.00.12.H40-261120-0001",
    content="Hồ sơ nộp đã lâu chưa được trả lời <script>alert(1)</script>",
    consent_publish=True,
)


def _complete(ctx: Context, officers: Officers, dossier_id: int, who: str, when, **kwargs) -> None:
    (item,) = open_items(ctx, dossier_id)
    svc.complete(ctx, item.id, officers[who], now=when, **kwargs)


def _dossier_id(ctx: Context, code: str) -> int:
    with ctx.uow() as uow:
        return uow.session.scalars(select(Dossier.id).where(Dossier.code == code)).one()


def test_feedback_goes_through_its_procedure_to_a_published_answer(ctx: Context, officers: Officers) -> None:
    receipt = submit_feedback(ctx, FORM, now=SENT, uploads=[Upload("anh.pdf", PDF)])
    dossier_id = _dossier_id(ctx, receipt.code)
    assert receipt.code.startswith("000.00.01.H40-261123-")  # a code like a dossier's, at the office
    assert feedback_status(ctx, receipt.code).state == "received"

    # Classification at the office: the competent agency is chosen; without one nothing moves.
    (classify,) = open_items(ctx, dossier_id)
    panel = feedback_panel(ctx, officers["vp.chuyenvien"], classify.id)
    assert panel is not None and panel.fields == ("competent_agency",)
    assert panel.default_agency == "000.00.12.H40"  # the owner agency of the procedure named
    with pytest.raises(InvalidInput) as missing:
        _complete(ctx, officers, dossier_id, "vp.chuyenvien", SENT)
    assert missing.value.field == "competent_agency"
    with pytest.raises(InvalidInput):
        _complete(ctx, officers, dossier_id, "vp.chuyenvien", SENT, data={"competent_agency": "999.XX"})
    assert [i.task_id for i in open_items(ctx, dossier_id)] == ["Task_Classify"]
    _complete(
        ctx,
        officers,
        dossier_id,
        "vp.chuyenvien",
        at("2026-11-23 10:00"),
        data={"competent_agency": "000.00.12.H40"},
    )

    # The next steps land in the competent agency's inbox (Sở Nội vụ), not the office's.
    (assign,) = open_items(ctx, dossier_id)
    with ctx.uow() as uow:
        home = uow.session.scalars(select(Agency.id).where(Agency.code == "000.00.12.H40")).one()
    assert (assign.task_id, assign.agency_id) == ("Task_Assign", home)
    assert feedback_status(ctx, receipt.code).state == "processing"
    _complete(ctx, officers, dossier_id, "sonv.truongphong", at("2026-11-23 11:00"))
    _complete(
        ctx, officers, dossier_id, "sonv.chuyenvien1", at("2026-11-24 09:00"), data={"answer": "Bản nháp"}
    )
    _complete(
        ctx,
        officers,
        dossier_id,
        "sonv.lanhdao",
        at("2026-11-24 10:00"),
        outcome="redraft",
        comment="Viết rõ hơn",
    )
    answer = "Hồ sơ của bà đã được giải quyết ngày 24/11/2026; xin lỗi bà vì sự chậm trễ."
    _complete(ctx, officers, dossier_id, "sonv.chuyenvien1", at("2026-11-24 14:00"), data={"answer": answer})
    _complete(ctx, officers, dossier_id, "sonv.lanhdao", at("2026-11-24 15:00"), outcome="approve")
    # Not sent nor published before the office sends it.
    assert published_answers_of(ctx) == []
    _complete(ctx, officers, dossier_id, "vp.vanthu", at("2026-11-25 08:00"))

    with ctx.uow() as uow:
        s = uow.session
        feedback = s.scalars(select(Feedback).where(Feedback.dossier_id == dossier_id)).one()
        dossier = s.get_one(Dossier, dossier_id)
        assert (dossier.status, dossier.result_class) == ("returned", "early")
        assert feedback.answer == answer and feedback.published and feedback.sent_at is not None
        sent = s.scalars(select(Notification).where(Notification.kind == "applicant_feedback_answer")).all()
        assert [n.channel for n in sent] == ["sms"] and sent[0].address == "0912345678"
        assert sent[0].body.isascii() and receipt.code in sent[0].body
        received = s.scalars(select(Notification).where(Notification.dossier_id == dossier_id)).all()
        assert {n.kind for n in received} == {"applicant_feedback_received", "applicant_feedback_answer"}
        assert (
            s.scalars(select(Attachment).where(Attachment.dossier_id == dossier_id)).one().file_name
            == "anh.pdf"
        )
    with ctx.uow() as uow:
        timeliness = feedback_timeliness(uow.session, parse_period("2026-11"), now=at("2026-11-30 16:00"))
    assert (timeliness.answered, timeliness.on_time, timeliness.open_overdue) == (1, 1, 0)
    (published,) = published_answers_of(ctx)
    assert published.answer == answer and published.agency == "Sở Nội vụ"
    assert "<script>" in published.content  # stored as text; templates escape it

    # Following it: the state and the published answer by code; personal data only with the contact.
    public = feedback_status(ctx, receipt.code)
    assert (public.state, public.answer, public.name, public.content) == ("answered", answer, None, None)
    mine = feedback_status(ctx, receipt.code, "0912345678")
    assert mine.verified and mine.name == "Trần Thị Bình" and mine.dossier_code == FORM.dossier_code
    with pytest.raises(InvalidInput):
        feedback_status(ctx, receipt.code, "0987654321")
    with pytest.raises(NotFound):
        feedback_status(ctx, "000.00.01.H40-261123-9999")
    # The dossier lookup (/tra-cuu) does not answer for a feedback.
    with ctx.uow() as uow, pytest.raises(NotFound):
        public_status(uow.session, receipt.code, "5678")


def published_answers_of(ctx: Context) -> list:
    with ctx.uow() as uow:
        return published_answers(uow.session, "1.001806")


def test_bad_feedback_is_refused_and_nothing_is_stored(ctx: Context) -> None:
    with pytest.raises(InvalidFields) as bad:
        submit_feedback(ctx, FeedbackInput(name=" ", content="x" * 4001, phone="12"), now=SENT)
    assert set(bad.value.fields) == {"name", "content", "phone"}
    with pytest.raises(InvalidFields) as no_contact:
        submit_feedback(ctx, FeedbackInput(name="A", content="Nội dung"), now=SENT)
    assert "contact" in no_contact.value.fields
    with pytest.raises(InvalidInput) as wrong_type:
        submit_feedback(
            ctx,
            FeedbackInput(name="A", content="B", email="a@b.vn"),
            now=SENT,
            uploads=[Upload("x.docx", b"PK\x03\x04")],
        )
    assert wrong_type.value.field == "files"
    with pytest.raises(InvalidInput):  # a PNG by name that is a script by content
        submit_feedback(
            ctx,
            FeedbackInput(name="A", content="B", email="a@b.vn"),
            now=SENT,
            uploads=[Upload("x.png", b"<script>")],
        )
    with pytest.raises(InvalidInput) as unknown:
        submit_feedback(
            ctx, FeedbackInput(name="A", content="B", email="a@b.vn", procedure_code="9.99"), now=SENT
        )
    assert unknown.value.field == "procedure_code"
    with ctx.uow() as uow:
        assert uow.session.scalars(select(Feedback)).all() == []
        assert uow.session.scalars(select(Dossier)).all() == []


def test_late_feedback_raises_the_overdue_alert_and_stays_out_of_the_reports(
    ctx: Context, officers: Officers
) -> None:
    receipt = submit_feedback(ctx, FORM, now=SENT)
    dossier_id = _dossier_id(ctx, receipt.code)
    tick(ctx, at("2026-11-23 16:00"))  # the 4-hour classification step is overdue
    with ctx.uow() as uow:
        kinds = set(
            uow.session.scalars(select(SlaAlert.kind).where(SlaAlert.subject_kind == "work_item")).all()
        )
    assert "overdue" in kinds

    svc.receive_dossier(
        ctx,
        procedure_code="1.001806",
        applicant=svc.Applicant(name="Lê Văn Cường", phone="0912345679"),
        channel="in_person",
        officer_id=officers["sonv.motcua"],
        now=SENT,
    )
    period = parse_period("2026-11")
    with ctx.uow() as uow:
        report = statistics_report(uow.session, period, now=at("2026-11-30 16:00"))
        assert (report.total["received_total"], report.total["in_progress_total"]) == (1, 1)
        office = uow.session.scalars(select(Agency).where(Agency.code == "000.00.01.H40")).one()
        dossier = uow.session.get_one(Dossier, dossier_id)
        assert dossier.agency_id == office.id
    register = agency_register(
        ctx, agency_code="000.00.01.H40", period=period, officer_id=None, now=at("2026-11-30 16:00")
    )
    assert register.lines == ()
    with ctx.uow() as uow:  # late: counted by TT 01/2018's feedback indicator instead
        late = feedback_timeliness(uow.session, parse_period("2026-12"), now=at("2026-12-09 10:00"))
        assert (late.answered, late.open_overdue) == (0, 1)


def answer_through(ctx: Context, officers: Officers, code: str, answer: str) -> None:
    """Take a feedback through its five steps to the sent (and, with consent, published) answer."""
    dossier_id = _dossier_id(ctx, code)
    moments = iter(at(f"2026-11-2{day} {hour}") for day, hour in [(3, "10:00"), (3, "11:00"), (4, "09:00")])
    _complete(
        ctx, officers, dossier_id, "vp.chuyenvien", next(moments), data={"competent_agency": "000.00.12.H40"}
    )
    _complete(ctx, officers, dossier_id, "sonv.truongphong", next(moments))
    _complete(ctx, officers, dossier_id, "sonv.chuyenvien1", next(moments), data={"answer": answer})
    _complete(ctx, officers, dossier_id, "sonv.lanhdao", at("2026-11-24 10:00"), outcome="approve")
    _complete(ctx, officers, dossier_id, "vp.vanthu", at("2026-11-24 11:00"))
