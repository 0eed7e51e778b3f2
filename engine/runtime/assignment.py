"""Who may assign a step to whom, and whom a head can choose from with the open load of each.

A head of division or a supervisor assigns an open step of their agency to an active officer of
the same agency who holds the step's role; roles without a head keep working from the shared pool.
The use cases that assign (assign, reassign, complete with `assign_to`) are in
engine/runtime/dossiers.py; this module holds the rules and the reads they share with the pages.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.catalogue.procedure_model import ROLE_LABELS
from engine.context import Context
from engine.errors import Forbidden, InvalidInput, NotFound
from engine.usecase import active_officer, reading
from models import Officer, UnitOfWork, WorkItem

# The roles that hand work to named officers of their agency.
ASSIGNING_ROLES = ("head", "supervisor")


@dataclass(frozen=True)
class Candidate:
    """An officer a step can be assigned to, with the number of open steps already assigned to them."""

    officer_id: int
    name: str
    username: str
    roles: tuple[str, ...]
    open_items: int

    @property
    def label(self) -> str:
        """The name with the open load, as the select shows it."""
        return f"{self.name} ({self.open_items} việc đang xử lý)"


def may_assign(officer: Officer, agency_id: int) -> bool:
    """Whether the officer is a head or supervisor of that agency."""
    return officer.active and officer.agency_id == agency_id and any(map(officer.has_role, ASSIGNING_ROLES))


def require_assigner(officer: Officer, item: WorkItem) -> None:
    """Forbidden unless the officer may assign the item (head or supervisor of the item's agency)."""
    if not may_assign(officer, item.agency_id):
        raise Forbidden(
            "Chỉ lãnh đạo phòng hoặc cán bộ giám sát của cơ quan đang giữ bước xử lý này mới được phân công"
        )


def check_target(item: WorkItem, target: Officer, field: str = "officer") -> None:
    """InvalidInput naming `field` unless the target is an active officer of the item's agency and role."""
    if target.agency_id != item.agency_id:
        raise InvalidInput(f"Cán bộ {target.full_name} không thuộc cơ quan đang giữ bước này", field)
    if not target.active:
        raise InvalidInput(f"Tài khoản của cán bộ {target.full_name} đã bị khóa, không thể phân công", field)
    if not target.has_role(item.role):
        role = ROLE_LABELS.get(item.role, item.role)
        raise InvalidInput(
            f'Cán bộ {target.full_name} không có vai trò "{role}" của bước "{item.task_name}"', field
        )


def target_officer(session: Session, officer: int | str) -> Officer:
    """The officer a step is assigned to, by id or by user name (as the API names them), or NotFound."""
    if isinstance(officer, str):
        found = session.scalars(select(Officer).where(Officer.username == officer)).one_or_none()
        if found is None:
            raise NotFound(f"Không tìm thấy cán bộ có tên đăng nhập “{officer}”")
        return found
    by_id = session.get(Officer, officer)
    if by_id is None:
        raise NotFound(f"Không tìm thấy cán bộ có mã {officer}")
    return by_id


def candidates(session: Session, agency_id: int, roles: Iterable[str]) -> list[Candidate]:
    """Active officers of the agency holding any of the roles, by name, with their open assigned steps.

    The load is one grouped count over the open items of these officers (the partial index on
    open items by assignee), whatever the number of candidates.
    """
    wanted = set(roles)
    officers = [
        o
        for o in session.scalars(
            select(Officer)
            .where(Officer.agency_id == agency_id, Officer.active.is_(True))
            .order_by(Officer.full_name, Officer.id)
        )
        if wanted & set(o.roles or [])
    ]
    if not officers:
        return []
    rows = session.execute(
        select(WorkItem.assignee_id, func.count())
        .where(WorkItem.assignee_id.in_([o.id for o in officers]), WorkItem.completed_at.is_(None))
        .group_by(WorkItem.assignee_id)
    )
    loads = {officer_id: count for officer_id, count in rows}
    return [
        Candidate(o.id, o.full_name, o.username, tuple(o.roles or []), int(loads.get(o.id, 0)))
        for o in officers
    ]


def assignment_candidates(
    ctx: Context, officer_id: int, work_item_id: int, *, uow: UnitOfWork | None = None
) -> list[Candidate]:
    """Whom a head or supervisor of the step's agency may assign it to, with each one's open load."""
    with reading(ctx, uow) as session:
        actor = active_officer(session, officer_id)
        item = session.get(WorkItem, work_item_id)
        if item is None:
            raise NotFound(f"Không tìm thấy bước xử lý số {work_item_id}")
        require_assigner(actor, item)
        return candidates(session, item.agency_id, [item.role])


__all__ = [
    "ASSIGNING_ROLES",
    "Candidate",
    "assignment_candidates",
    "candidates",
    "check_target",
    "may_assign",
    "require_assigner",
    "target_officer",
]
