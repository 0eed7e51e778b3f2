"""What officers read of the apology letters (form 04): one letter with its dossier, and the agency's
overdue dossiers still without an issued apology. Each read checks who may see it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engine.context import Context
from engine.errors import Forbidden, NotFound
from engine.runtime import apology
from engine.runtime.access import require_view
from engine.runtime.apology import ApologyForm, OverdueDossier
from engine.usecase import active_officer, reading
from models import ApologyLetter, Dossier, UnitOfWork

# Who follows the agency's late dossiers: its leaders, heads of division, supervisors and the desk.
OVERDUE_READERS = ("leader", "desk", "head", "supervisor")


@dataclass(frozen=True)
class LetterPage:
    """A letter's form 04 and the dossier it is about."""

    form: ApologyForm
    dossier: Dossier


def letter_page(
    ctx: Context, officer_id: int, letter_id: int, *, uow: UnitOfWork | None = None
) -> LetterPage:
    """A letter, for officers of an agency that received or handled its dossier."""
    with reading(ctx, uow) as session:
        officer = active_officer(session, officer_id)
        letter = session.get(ApologyLetter, letter_id)
        if letter is None:
            raise NotFound(f"Không tìm thấy phiếu xin lỗi số {letter_id}")
        dossier = session.get_one(Dossier, letter.dossier_id)
        require_view(session, officer, dossier)
        return LetterPage(apology.letter_form(session, letter_id, ctx.calendar.tz), dossier)


def overdue_list(
    ctx: Context, officer_id: int, now: datetime, *, uow: UnitOfWork | None = None
) -> list[OverdueDossier]:
    """Overdue dossiers the officer's agency received or holds, without an issued apology."""
    with reading(ctx, uow) as session:
        officer = active_officer(session, officer_id)
        if not any(officer.has_role(role) for role in OVERDUE_READERS):
            raise Forbidden("Danh sách hồ sơ quá hạn dành cho lãnh đạo, giám sát và Bộ phận Một cửa")
        return apology.overdue_without_apology(session, officer.agency_id, now, calendar=ctx.calendar)


def late_again_list(
    ctx: Context, officer_id: int, now: datetime, *, uow: UnitOfWork | None = None
) -> list[apology.LateAgainDossier]:
    """Dossiers the officer's agency received or holds, unresolved after their moved appointment."""
    with reading(ctx, uow) as session:
        officer = active_officer(session, officer_id)
        if not any(officer.has_role(role) for role in OVERDUE_READERS):
            raise Forbidden("Danh sách hồ sơ quá hạn dành cho lãnh đạo, giám sát và Bộ phận Một cửa")
        return apology.unresolved_after_appointment(session, officer.agency_id, now)
