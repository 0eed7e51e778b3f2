"""Worklists (Điều hành): what waits for the agency's leader, its supervisor and the approvers.

- The leader: the agency's open steps and dossiers that are overdue or due soon (engine.urgency's
  one definition), the apology letters (form 04) waiting for the leader's signature, and, when
  the leader also approves, the process versions submitted for approval.
- The supervisor: the agency's open work by officer (open, overdue, due soon) and the pool of
  each role, each officer's items listed with the officers who may take them over.
- The approver: the process versions submitted for approval.

Steps are read through the partial index on open items (agency, role, due): the agency, and the
due time for the late and due-soon lists, bound the range (the lanes of a diagram belong to the
step roles only, which are listed so the planner may also seek by role). Dossiers are read
through (status, due). Each list is capped at LIST_LIMIT rows; the counts are not.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, case, exists, func, select
from sqlalchemy.orm import Session

from engine.catalogue.procedure_model import ROLE_LABELS, STEP_ROLES
from engine.catalogue.versions import AwaitingApproval, awaiting_approval
from engine.context import Context
from engine.errors import Forbidden
from engine.runtime.inbox import remaining_hours
from engine.urgency import DueWindow, overdue_sql, window_of
from engine.usecase import active_officer, reading, require_aware
from models import Agency, ApologyLetter, Dossier, Officer, Procedure, ProcessVersion, UnitOfWork, WorkItem

# Who has a worklist; anyone else is refused.
WORKLIST_ROLES = ("leader", "supervisor", "approver")
LIST_LIMIT = 100
ITEMS_PER_GROUP = 50
_STEP_ROLES = list(STEP_ROLES)


@dataclass(frozen=True)
class StepRow:
    """One open step: its dossier, procedure, who holds it, its due time and the time left."""

    work_item_id: int
    dossier_code: str
    procedure_code: str
    procedure_name: str
    step: str
    role: str
    assignee_id: int | None
    assignee_name: str | None
    due_at: datetime | None
    remaining_hours: float | None  # working hours; negative when overdue; None when paused
    urgency: str

    @property
    def role_label(self) -> str:
        """The role as officers read it."""
        return ROLE_LABELS.get(self.role, self.role)

    @property
    def holder(self) -> str:
        """The officer holding the step, or the pool of its role."""
        return self.assignee_name or f"Chưa phân công ({self.role_label})"


@dataclass(frozen=True)
class DossierRow:
    """One open dossier overdue or due soon: its current steps and who holds them."""

    dossier_id: int
    code: str
    applicant_name: str
    procedure_code: str
    procedure_name: str
    steps: tuple[str, ...]
    holders: tuple[str, ...]
    due_at: datetime
    remaining_hours: float
    urgency: str


@dataclass(frozen=True)
class LetterRow:
    """A draft apology letter the leader may sign."""

    letter_id: int
    dossier_code: str
    applicant_name: str
    procedure_name: str
    original_due_at: datetime
    new_due_at: datetime
    created_at: datetime


@dataclass(frozen=True)
class LeaderView:
    """The leader's section: late and due-soon steps and dossiers, letters to sign."""

    late_steps: list[StepRow]
    soon_steps: list[StepRow]
    late_dossiers: list[DossierRow]
    soon_dossiers: list[DossierRow]
    letters: list[LetterRow]
    counts: dict[str, int]


@dataclass(frozen=True)
class Candidate:
    """An officer who may take over an item of a role."""

    id: int
    name: str


@dataclass(frozen=True)
class Load:
    """The open work of one officer, or the pool of one role (officer_id None)."""

    officer_id: int | None
    name: str
    roles: tuple[str, ...]
    active: bool
    open: int
    overdue: int
    soon: int
    items: list[StepRow] = field(default_factory=list)

    @property
    def roles_label(self) -> str:
        """The roles as officers read them."""
        return ", ".join(ROLE_LABELS.get(r, r) for r in self.roles)

    @property
    def shown_all(self) -> bool:
        """Whether every open item is listed (the list is capped per officer and role)."""
        return len(self.items) >= self.open


@dataclass(frozen=True)
class SupervisorView:
    """The supervisor's section: open work by officer and the pools, with who may take each item."""

    officers: list[Load]
    pools: list[Load]
    candidates: dict[str, list[Candidate]]
    totals: dict[str, int]

    def candidates_for(self, item: StepRow) -> list[Candidate]:
        """Active officers of the agency with the item's role, other than its holder."""
        return [c for c in self.candidates.get(item.role, []) if c.id != item.assignee_id]


@dataclass(frozen=True)
class WorklistPage:
    """The worklist of one officer: the sections of the roles they hold."""

    agency_name: str
    leader: LeaderView | None
    supervisor: SupervisorView | None
    versions: list[AwaitingApproval] | None

    @property
    def waiting(self) -> int:
        """What waits for the officer: overdue steps, letters to sign, versions to approve."""
        return _waiting(
            self.leader.counts["late_steps"] if self.leader else None,
            self.supervisor.totals["overdue"] if self.supervisor else None,
            len(self.leader.letters) if self.leader else 0,
            len(self.versions or []),
        )


def _waiting(leader_late: int | None, supervisor_late: int | None, letters: int, versions: int) -> int:
    late = leader_late if leader_late is not None else (supervisor_late or 0)
    return late + letters + versions


def _open_in(agency_id: int) -> list[ColumnElement[bool]]:
    """Open items of the agency, in the (agency, role, due) partial index of open items."""
    return [
        WorkItem.completed_at.is_(None),
        WorkItem.agency_id == agency_id,
        WorkItem.role.in_(_STEP_ROLES),
    ]


def _step_rows(ctx: Context, session: Session, window: DueWindow, ids: list[int]) -> dict[int, StepRow]:
    if not ids:
        return {}
    rows = session.execute(
        select(
            WorkItem.id,
            Dossier.code,
            Procedure.code,
            Procedure.name,
            WorkItem.task_name,
            WorkItem.role,
            WorkItem.assignee_id,
            Officer.full_name,
            WorkItem.due_at,
        )
        .join(Dossier, Dossier.id == WorkItem.dossier_id)
        .join(Procedure, Procedure.id == Dossier.procedure_id)
        .outerjoin(Officer, Officer.id == WorkItem.assignee_id)
        .where(WorkItem.id.in_(ids))
    )
    found = {}
    for item_id, code, p_code, p_name, step, role, assignee_id, assignee, due in rows:
        left = remaining_hours(ctx.calendar, due, window.now)
        found[item_id] = StepRow(
            work_item_id=item_id,
            dossier_code=code,
            procedure_code=p_code,
            procedure_name=p_name,
            step=step,
            role=role,
            assignee_id=assignee_id,
            assignee_name=assignee,
            due_at=due,
            remaining_hours=None if left is None else round(left, 2),
            urgency=window.urgency(due).value,
        )
    return found


def _steps(
    ctx: Context, session: Session, window: DueWindow, agency_id: int, condition: ColumnElement[bool]
) -> list[StepRow]:
    ids = list(
        session.scalars(
            select(WorkItem.id)
            .where(*_open_in(agency_id), condition)
            .order_by(WorkItem.due_at, WorkItem.id)
            .limit(LIST_LIMIT)
        )
    )
    rows = _step_rows(ctx, session, window, ids)
    return [rows[i] for i in ids]


def _dossiers(
    ctx: Context, session: Session, window: DueWindow, agency_id: int, condition: ColumnElement[bool]
) -> list[DossierRow]:
    """Processing dossiers the agency received or holds, in the window's range, soonest due first."""
    holds = exists().where(
        WorkItem.dossier_id == Dossier.id,
        WorkItem.completed_at.is_(None),
        WorkItem.agency_id == agency_id,
    )
    rows = session.execute(
        select(
            Dossier.id, Dossier.code, Dossier.applicant_name, Procedure.code, Procedure.name, Dossier.due_at
        )
        .join(Procedure, Procedure.id == Dossier.procedure_id)
        .where(Dossier.status == "processing", condition, (Dossier.agency_id == agency_id) | holds)
        .order_by(Dossier.due_at, Dossier.id)
        .limit(LIST_LIMIT)
    ).all()
    if not rows:
        return []
    steps: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for dossier_id, step, role, assignee, holder_agency_id, holder_agency in session.execute(
        select(
            WorkItem.dossier_id,
            WorkItem.task_name,
            WorkItem.role,
            Officer.full_name,
            WorkItem.agency_id,
            Agency.name,
        )
        .join(Agency, Agency.id == WorkItem.agency_id)
        .outerjoin(Officer, Officer.id == WorkItem.assignee_id)
        .where(WorkItem.dossier_id.in_([r[0] for r in rows]), WorkItem.completed_at.is_(None))
        .order_by(WorkItem.id)
    ):
        holder = assignee or f"Chưa phân công ({ROLE_LABELS.get(role, role)})"
        if holder_agency_id != agency_id:
            holder = f"{holder} · {holder_agency}"
        steps[dossier_id].append((step, holder))
    result = []
    for dossier_id, code, applicant, p_code, p_name, due in rows:
        if due is None:  # excluded by the window's range; kept for the type checker
            continue
        left = remaining_hours(ctx.calendar, due, window.now) or 0.0
        result.append(
            DossierRow(
                dossier_id=dossier_id,
                code=code,
                applicant_name=applicant,
                procedure_code=p_code,
                procedure_name=p_name,
                steps=tuple(s for s, _ in steps[dossier_id]),
                holders=tuple(h for _, h in steps[dossier_id]),
                due_at=due,
                remaining_hours=round(left, 2),
                urgency=window.urgency(due).value,
            )
        )
    return result


def _letters(session: Session, agency_id: int) -> list[LetterRow]:
    """Draft letters of the agency at fault (whose leader signs them) for dossiers still open."""
    rows = session.execute(
        select(
            ApologyLetter.id,
            Dossier.code,
            Dossier.applicant_name,
            Procedure.name,
            ApologyLetter.original_due_at,
            ApologyLetter.new_due_at,
            ApologyLetter.created_at,
        )
        .join(Dossier, Dossier.id == ApologyLetter.dossier_id)
        .join(Procedure, Procedure.id == Dossier.procedure_id)
        .where(
            ApologyLetter.agency_id == agency_id,
            ApologyLetter.status == "draft",
            Dossier.status.in_(("processing", "supplement")),
        )
        .order_by(ApologyLetter.created_at, ApologyLetter.id)
        .limit(LIST_LIMIT)
    )
    return [LetterRow(*row) for row in rows]


def _step_counts(session: Session, window: DueWindow, agency_id: int) -> tuple[int, int]:
    """The agency's overdue and due-soon open steps, counted in the index range up to the window's end."""
    row = session.execute(
        select(
            func.sum(case((window.overdue_sql(WorkItem.due_at), 1), else_=0)),
            func.sum(case((window.due_soon_sql(WorkItem.due_at), 1), else_=0)),
        ).where(*_open_in(agency_id), WorkItem.due_at <= window.soon_end)
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


def leader_view(ctx: Context, session: Session, window: DueWindow, agency_id: int) -> LeaderView:
    """What the agency's leader follows: late and due-soon work, and letters to sign."""
    late, soon = _step_counts(session, window, agency_id)
    letters = _letters(session, agency_id)
    late_dossiers = _dossiers(ctx, session, window, agency_id, window.overdue_sql(Dossier.due_at))
    soon_dossiers = _dossiers(ctx, session, window, agency_id, window.due_soon_sql(Dossier.due_at))
    return LeaderView(
        late_steps=_steps(ctx, session, window, agency_id, window.overdue_sql(WorkItem.due_at)),
        soon_steps=_steps(ctx, session, window, agency_id, window.due_soon_sql(WorkItem.due_at)),
        late_dossiers=late_dossiers,
        soon_dossiers=soon_dossiers,
        letters=letters,
        counts={"late_steps": late, "soon_steps": soon, "letters": len(letters)},
    )


def supervisor_view(ctx: Context, session: Session, window: DueWindow, agency_id: int) -> SupervisorView:
    """The agency's open work by officer and by pool, each with its most urgent items."""
    counts: dict[tuple[int | None, str], tuple[int, int, int]] = {}
    for assignee_id, role, total, overdue, soon in session.execute(
        select(
            WorkItem.assignee_id,
            WorkItem.role,
            func.count(),
            func.sum(case((window.overdue_sql(WorkItem.due_at), 1), else_=0)),
            func.sum(case((window.due_soon_sql(WorkItem.due_at), 1), else_=0)),
        )
        .where(*_open_in(agency_id))
        .group_by(WorkItem.assignee_id, WorkItem.role)
    ):
        counts[(assignee_id, role)] = (int(total), int(overdue or 0), int(soon or 0))
    ranked = (
        select(
            WorkItem.id.label("id"),
            func.row_number()
            .over(
                partition_by=(WorkItem.assignee_id, WorkItem.role),
                order_by=(WorkItem.due_at.asc().nulls_last(), WorkItem.id),
            )
            .label("rank"),
        )
        .where(*_open_in(agency_id))
        .subquery()
    )
    ids = list(session.scalars(select(ranked.c.id).where(ranked.c.rank <= ITEMS_PER_GROUP)))
    rows = _step_rows(ctx, session, window, ids)
    far = datetime.max.replace(tzinfo=window.now.tzinfo)

    def ordered(items: list[StepRow]) -> list[StepRow]:
        return sorted(items, key=lambda r: (r.due_at is None, r.due_at or far, r.work_item_id))

    by_group: dict[tuple[int | None, str], list[StepRow]] = defaultdict(list)
    for row in rows.values():
        by_group[(row.assignee_id, row.role)].append(row)

    staff = list(
        session.scalars(select(Officer).where(Officer.agency_id == agency_id).order_by(Officer.full_name))
    )
    holding = {assignee for assignee, _ in counts if assignee is not None}
    officers: list[Load] = []
    for officer in staff:
        roles = tuple(r for r in officer.roles or [] if r in STEP_ROLES)
        if not roles and officer.id not in holding:
            continue
        if not officer.active and officer.id not in holding:
            continue
        mine = [key for key in counts if key[0] == officer.id]
        officers.append(
            Load(
                officer_id=officer.id,
                name=officer.full_name,
                roles=roles,
                active=officer.active,
                open=sum(counts[k][0] for k in mine),
                overdue=sum(counts[k][1] for k in mine),
                soon=sum(counts[k][2] for k in mine),
                items=ordered([row for k in mine for row in by_group[k]]),
            )
        )
    officers.sort(key=lambda o: (-o.overdue, -o.open, o.name))
    pools = [
        Load(
            officer_id=None,
            name=f"Chưa phân công · {ROLE_LABELS.get(role, role)}",
            roles=(role,),
            active=True,
            open=total,
            overdue=overdue,
            soon=soon,
            items=ordered(by_group[(None, role)]),
        )
        for (assignee, role), (total, overdue, soon) in sorted(counts.items(), key=lambda kv: kv[0][1])
        if assignee is None
    ]
    candidates = {
        role: [Candidate(o.id, o.full_name) for o in staff if o.active and o.has_role(role)]
        for role in STEP_ROLES
    }
    totals = {
        "open": sum(c[0] for c in counts.values()),
        "overdue": sum(c[1] for c in counts.values()),
        "soon": sum(c[2] for c in counts.values()),
    }
    return SupervisorView(officers=officers, pools=pools, candidates=candidates, totals=totals)


def _worklist_officer(session: Session, officer_id: int) -> Officer:
    officer = active_officer(session, officer_id)
    if not any(officer.has_role(role) for role in WORKLIST_ROLES):
        raise Forbidden(
            "Trang Điều hành dành cho lãnh đạo cơ quan, cán bộ giám sát và người phê duyệt quy trình"
        )
    return officer


def worklist_page(
    ctx: Context, officer_id: int, now: datetime, *, uow: UnitOfWork | None = None
) -> WorklistPage:
    """Điều hành: the sections of the officer's roles, for their own agency only."""
    require_aware(now)
    window = window_of(ctx, now)
    with reading(ctx, uow) as session:
        officer = _worklist_officer(session, officer_id)
        agency = session.get_one(Agency, officer.agency_id)
        return WorklistPage(
            agency_name=agency.name,
            leader=leader_view(ctx, session, window, agency.id) if officer.has_role("leader") else None,
            supervisor=(
                supervisor_view(ctx, session, window, agency.id) if officer.has_role("supervisor") else None
            ),
            versions=awaiting_approval(session, limit=LIST_LIMIT) if officer.has_role("approver") else None,
        )


def worklist_waiting(ctx: Context, officer_id: int, now: datetime, *, uow: UnitOfWork | None = None) -> int:
    """The menu's count of what waits (0 for officers without a worklist), from counts only."""
    require_aware(now)
    with reading(ctx, uow) as session:
        officer = session.get(Officer, officer_id)
        if officer is None or not officer.active:
            return 0
        leads, supervises, approves = (officer.has_role(r) for r in WORKLIST_ROLES)
        late = letters = versions = 0
        if leads or supervises:
            late = (
                session.scalar(
                    select(func.count()).where(
                        *_open_in(officer.agency_id), overdue_sql(WorkItem.due_at, now)
                    )
                )
                or 0
            )
        if leads:
            letters = (
                session.scalar(
                    select(func.count())
                    .select_from(ApologyLetter)
                    .join(Dossier, Dossier.id == ApologyLetter.dossier_id)
                    .where(
                        ApologyLetter.agency_id == officer.agency_id,
                        ApologyLetter.status == "draft",
                        Dossier.status.in_(("processing", "supplement")),
                    )
                )
                or 0
            )
        if approves:
            versions = session.scalar(select(func.count()).where(ProcessVersion.status == "submitted")) or 0
        return late + letters + versions


__all__ = [
    "WORKLIST_ROLES",
    "Candidate",
    "DossierRow",
    "LeaderView",
    "LetterRow",
    "Load",
    "StepRow",
    "SupervisorView",
    "WorklistPage",
    "supervisor_view",
    "worklist_page",
    "worklist_waiting",
]
