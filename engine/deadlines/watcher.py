"""The SLA watcher: `tick(ctx, now)` raises every alert that became due since the previous tick.

Alerts:
- due_soon: an open step will be due within `warning_hours` working hours (steps whose whole
  allotment fits in that window are not warned; the inbox orders them by due time);
- overdue: an open step is past its due time (assignee or pool, and the agency's leaders);
- apology_required: a dossier due within `apology_window_hours` working hours whose remaining
  steps cannot finish in time at their allotments, or that is already overdue: drafts the
  apology letter for the agency holding it and alerts its holder, its leaders and the desk;
- late_unapologised: an overdue dossier without an issued apology, raised when it goes overdue
  and again every `realert_hours` (at the next office moment) until one is issued or the
  dossier leaves processing;
- late_again: a dossier still unresolved after the appointment its issued letter moved, raised
  when that appointment passes and again every `realert_hours` until it is resolved.

Lateness is judged against the legal due time (`Dossier.due_at`), never the appointment: when a
running dossier's legal due time passes, the tick records `late_at` (once late, always late). The
apology letter is drafted as soon as the allotments left on the longest remaining path no longer
fit before the legal due time: the runtime keeps that moment in `Dossier.projected_late_at`
whenever steps open, and the tick scans it by range, besides the last-day window.

Cost: only index range queries over what entered a window since the last tick (the heartbeat
row keeps that tick's `now` as the watermark), never a scan of all dossiers or work items and
never a workflow load. Each alert has a unique key (subject, kind, deadline version, round)
and is inserted with ON CONFLICT DO NOTHING, so repeated ticks, a restart or a second scheduler
never raise one twice, and a tick after a long downtime raises each missed alert once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, defer

from engine.context import Context
from engine.formatting import hours, local_time
from engine.notify.notifications import Message, enqueue_many, officer_rows
from engine.runtime.apology import RemainingPlan, agency_at_fault, draft_in, needs_apology, remaining_plan
from engine.runtime.dossiers import open_items
from engine.urgency import due_window, is_overdue, late_since_sql, overdue_since_sql
from engine.usecase import require_aware, use_case
from models import (
    Agency,
    ApologyLetter,
    Dossier,
    Officer,
    Procedure,
    SchedulerHeartbeat,
    SchedulerLease,
    SlaAlert,
    WorkItem,
)
from models.vocabulary import AlertKind

HEARTBEAT = "sla"
# The scheduler's leader lease row (engine.deadlines.scheduler takes and renews it).
LEASE = "scheduler"
KEY_COLUMNS = ["subject_kind", "subject_id", "kind", "deadline_version", "round"]
# Rows committed a little after a tick read its snapshot (their transaction began before it)
# are picked up by the next tick, which re-reads this much before its watermark.
MIN_OVERLAP = timedelta(minutes=1)
REMINDER_BATCH = 1000
# The watcher reads dossiers' deadlines, never their workflow state.
_NO_STATE = defer(Dossier.workflow_state)


@dataclass(frozen=True)
class RaisedAlert:
    """One alert a tick raised."""

    id: int
    kind: str
    dossier_id: int
    dossier_code: str
    work_item_id: int | None
    step_name: str | None
    agency_id: int
    due_at: datetime
    round: int
    recipients: int
    letter_id: int | None = None

    def describe(self, tz: ZoneInfo) -> str:
        """One line for the CLI."""
        step = f" «{self.step_name}»" if self.step_name else ""
        extra = f" lần {self.round}" if self.round > 1 else ""
        letter = f", dự thảo phiếu xin lỗi #{self.letter_id}" if self.letter_id else ""
        return (
            f"{self.kind}{extra}: {self.dossier_code}{step}, hạn {local_time(self.due_at, tz)}, "
            f"{self.recipients} người nhận{letter}"
        )


@dataclass
class TickReport:
    """What one tick did."""

    now: datetime
    previous: datetime | None
    raised: list[RaisedAlert] = field(default_factory=list)
    letters_drafted: list[int] = field(default_factory=list)
    notifications: int = 0
    duration_ms: float = 0.0

    def count(self, kind: str) -> int:
        """How many alerts of a kind this tick raised."""
        return sum(1 for a in self.raised if a.kind == kind)

    def lines(self, tz: ZoneInfo) -> list[str]:
        """The report as printed by `motcua sla tick`."""
        head = (
            f"tick {local_time(self.now, tz)}: {len(self.raised)} alert(s), "
            f"{len(self.letters_drafted)} draft letter(s), {self.notifications} notification(s), "
            f"{self.duration_ms:.1f} ms"
        )
        return [head, *(f"  {a.describe(tz)}" for a in self.raised)]


@dataclass
class _Pending:
    """An alert about to be inserted, with who gets it and how its message reads."""

    values: dict[str, object]
    dossier: Dossier
    recipients: list[Officer]
    message: Callable[[ApologyLetter | None], Message]
    item: WorkItem | None = None
    plan: RemainingPlan | None = None

    @property
    def key(self) -> tuple:
        return tuple(self.values[c] for c in KEY_COLUMNS)


class _Watch:
    """One tick's state: the session, the moment and small per-tick caches."""

    def __init__(self, ctx: Context, session: Session, now: datetime) -> None:
        self.ctx = ctx
        self.session = session
        self.now = now
        self.cal = ctx.calendar
        self.tz = ctx.calendar.tz
        self.pending: list[_Pending] = []
        self.keys: set[tuple] = set()
        self._officers: dict[int, list[Officer]] = {}
        self._names: dict[tuple[str, int], str] = {}

    # ----- lookups ------------------------------------------------------------------------

    def officers(self, agency_id: int) -> list[Officer]:
        found = self._officers.get(agency_id)
        if found is None:
            found = list(
                self.session.scalars(
                    select(Officer)
                    .where(Officer.agency_id == agency_id, Officer.active.is_(True))
                    .order_by(Officer.id)
                )
            )
            self._officers[agency_id] = found
        return found

    def with_role(self, agency_id: int, role: str) -> list[Officer]:
        return [o for o in self.officers(agency_id) if o.has_role(role)]

    def holders_of(self, item: WorkItem) -> list[Officer]:
        """The officer who claimed the step, or everyone in its pool (agency and role)."""
        if item.assignee_id is not None:
            return [o for o in self.officers(item.agency_id) if o.id == item.assignee_id] or [
                o for o in [self.session.get(Officer, item.assignee_id)] if o is not None and o.active
            ]
        return self.with_role(item.agency_id, item.role)

    def name(self, model: type, ident: int) -> str:
        key = (model.__name__, ident)
        if key not in self._names:
            self._names[key] = self.session.get(model, ident).name  # type: ignore[attr-defined]
        return self._names[key]

    def add(self, pending: _Pending) -> None:
        if pending.key not in self.keys:
            self.keys.add(pending.key)
            self.pending.append(pending)

    # ----- work items ---------------------------------------------------------------------

    def raised_before(self, subject_kind: str, kind: str, subjects: dict[int, int]) -> set[int]:
        """Which subjects (id -> deadline version) already have this alert.

        A keyed lookup on the alert key's index rather than an anti-join in the range query:
        the plan stays an index probe per candidate whatever the table statistics say.
        """
        found: set[int] = set()
        for chunk in _chunks(sorted(subjects), 1000):
            for subject_id, version in self.session.execute(
                select(SlaAlert.subject_id, SlaAlert.deadline_version).where(
                    SlaAlert.subject_kind == subject_kind,
                    SlaAlert.subject_id.in_(chunk),
                    SlaAlert.kind == kind,
                )
            ):
                if version == subjects[subject_id]:
                    found.add(subject_id)
        return found

    def dossiers_by_id(self, ids: set[int]) -> dict[int, Dossier]:
        """Dossiers by primary key, without their workflow state (the watcher never reads it)."""
        result: dict[int, Dossier] = {}
        for chunk in _chunks(sorted(ids), 1000):
            for dossier in self.session.scalars(
                select(Dossier).options(_NO_STATE).where(Dossier.id.in_(chunk))
            ):
                result[dossier.id] = dossier
        return result

    def _items(self, kind: str, conditions: list) -> list[tuple[WorkItem, Dossier]]:
        items = list(
            self.session.scalars(select(WorkItem).where(*conditions).order_by(WorkItem.due_at, WorkItem.id))
        )
        done = self.raised_before("work_item", kind, {i.id: 0 for i in items})
        items = [i for i in items if i.id not in done]
        dossiers = self.dossiers_by_id({i.dossier_id for i in items})
        return [(i, dossiers[i.dossier_id]) for i in items]

    def items_overdue(self, low: datetime | None) -> list[WorkItem]:
        conditions = [WorkItem.completed_at.is_(None), *overdue_since_sql(WorkItem.due_at, low, self.now)]
        rows = self._items(AlertKind.OVERDUE, conditions)
        for item, dossier in rows:
            recipients = self.holders_of(item) + self.with_role(item.agency_id, "leader")
            self.add(
                _Pending(
                    self._values(
                        "work_item",
                        item.id,
                        AlertKind.OVERDUE,
                        0,
                        0,
                        dossier,
                        item.agency_id,
                        item.due_at,
                        item,
                    ),
                    dossier,
                    recipients,
                    self._overdue_message(item, dossier),
                    item=item,
                )
            )
        return [item for item, _ in rows]

    def items_due_soon(self, low: datetime | None) -> None:
        warning = self.ctx.settings.warning_hours
        if warning <= 0:
            return
        window = due_window(self.cal, self.now, warning)
        conditions = [
            WorkItem.completed_at.is_(None),
            window.due_soon_sql(WorkItem.due_at),
            WorkItem.allotted_hours > warning,
        ]
        if low is not None:
            # Entered the window since the last tick: beyond it as seen from `low`.
            conditions.append(WorkItem.due_at > due_window(self.cal, low, warning).soon_end)
        for item, dossier in self._items(AlertKind.DUE_SOON, conditions):
            self.add(
                _Pending(
                    self._values(
                        "work_item",
                        item.id,
                        AlertKind.DUE_SOON,
                        0,
                        0,
                        dossier,
                        item.agency_id,
                        item.due_at,
                        item,
                    ),
                    dossier,
                    self.holders_of(item),
                    self._due_soon_message(item, dossier),
                    item=item,
                )
            )

    def new_item_dossiers(self, low: datetime | None) -> set[int]:
        if low is None:
            return set()
        return set(
            self.session.scalars(
                select(WorkItem.dossier_id)
                .where(
                    WorkItem.completed_at.is_(None),
                    WorkItem.created_at > low,
                    WorkItem.created_at <= self.now,
                )
                .distinct()
            )
        )

    # ----- dossiers -----------------------------------------------------------------------

    def _open_dossiers(self, kind: str, conditions: list, *, moved: bool = False) -> list[Dossier]:
        """Processing dossiers in a range (appointment moved or not), minus those already alerted."""
        appointment = (
            Dossier.appointment_moved_at.is_not(None) if moved else Dossier.appointment_moved_at.is_(None)
        )
        found = list(
            self.session.scalars(
                select(Dossier)
                .options(_NO_STATE)
                .where(Dossier.status == "processing", appointment, *conditions)
                .order_by(Dossier.due_at, Dossier.id)
            )
        )
        done = self.raised_before("dossier", kind, {d.id: d.deadline_version for d in found})
        return [d for d in found if d.id not in done]

    def dossiers(self, low: datetime | None, touched: set[int]) -> None:
        window = self.ctx.settings.apology_window_hours
        high = self.cal.add_working_hours(self.now, window)
        # 1. Dossiers that just entered the apology window, and those that just went overdue
        #    (inside the window since earlier ticks, which found they could still finish in time).
        if low is None:
            ranges = [[Dossier.due_at <= high]]
        else:
            ranges = [
                [Dossier.due_at > self.cal.add_working_hours(low, window), Dossier.due_at <= high],
                overdue_since_sql(Dossier.due_at, low, self.now),
            ]
        # 1b. Dossiers whose remaining allotments just stopped fitting before the legal due time.
        projected = [Dossier.projected_late_at <= self.now]
        if low is not None:
            projected.append(Dossier.projected_late_at > low)
        ranges.append(projected)
        candidates = {d.id: d for r in ranges for d in self._open_dossiers(AlertKind.APOLOGY_REQUIRED, r)}
        # 2. Dossiers inside the window whose steps changed (new steps, a step gone overdue):
        #    a rework loop or a late step can make them unable to finish from one tick to the next.
        others = touched - candidates.keys()
        for chunk in _chunks(sorted(others), 1000):
            for d in self._open_dossiers(
                AlertKind.APOLOGY_REQUIRED, [Dossier.id.in_(chunk), Dossier.due_at <= high]
            ):
                candidates[d.id] = d
        for dossier in candidates.values():
            plan = remaining_plan(self.ctx, self.session, dossier, self.now)
            # At the projected moment itself the remaining hours still exactly fit; the next tick
            # re-reads that moment (the overlap below its watermark) and finds they no longer do.
            if needs_apology(dossier, plan, self.now):
                self._apology_required(dossier, plan)
        # 3. Dossiers that just went overdue without an issued apology: the first reminder.
        overdue = overdue_since_sql(Dossier.due_at, low, self.now)
        for dossier in self._open_dossiers(AlertKind.LATE_UNAPOLOGISED, overdue):
            self._late_unapologised(dossier, 1)
        # 4. Dossiers still unresolved after the appointment their letter moved: late again.
        again = overdue_since_sql(Dossier.appointment_at, low, self.now)
        for dossier in self._open_dossiers(AlertKind.LATE_AGAIN, again, moved=True):
            self._late_again(dossier, 1)

    def record_lateness(self, low: datetime | None) -> None:
        """Once late, always late: the running dossiers whose legal due time passed get `late_at`.

        One UPDATE by index range; it leaves the version column alone, so an officer completing a
        step of the same dossier at this moment is not made to retry.
        """
        conditions = [
            Dossier.status == "processing",
            Dossier.late_at.is_(None),
            *late_since_sql(Dossier.due_at, low, self.now),
        ]
        self.session.execute(
            update(Dossier)
            .where(*conditions)
            .values(late_at=Dossier.due_at)
            .execution_options(synchronize_session=False)
        )

    def _late_again(self, dossier: Dossier, round_: int) -> None:
        holders = [i.agency_id for i in open_items(self.session, dossier)] or [dossier.agency_id]
        recipients: list[Officer] = []
        for agency_id in dict.fromkeys([*holders, dossier.agency_id]):
            recipients += self.with_role(agency_id, "leader")
        recipients += self.with_role(dossier.agency_id, "desk")
        values = self._values(
            "dossier",
            dossier.id,
            AlertKind.LATE_AGAIN,
            dossier.deadline_version,
            round_,
            dossier,
            holders[0],
            dossier.appointment_at or dossier.due_at,
        )
        values["next_at"] = self.next_reminder()
        self.add(_Pending(values, dossier, recipients, self._late_again_message(dossier, holders[0], round_)))

    def _apology_required(self, dossier: Dossier, plan: RemainingPlan) -> None:
        holder = plan.holder_agency_id
        fault = agency_at_fault(self.cal, self.session, dossier, self.now, holder)
        recipients: list[Officer] = []
        for item in plan.holder_items:
            recipients += self.holders_of(item)
        # The leader of the agency at fault signs the letter; the holder's leader is told as well.
        recipients += self.with_role(fault, "leader")
        if holder != fault:
            recipients += self.with_role(holder, "leader")
        recipients += self.with_role(dossier.agency_id, "desk")
        self.add(
            _Pending(
                self._values(
                    "dossier",
                    dossier.id,
                    AlertKind.APOLOGY_REQUIRED,
                    dossier.deadline_version,
                    0,
                    dossier,
                    fault,
                    dossier.due_at,
                ),
                dossier,
                recipients,
                self._apology_message(dossier, plan),
                plan=plan,
            )
        )

    def _late_unapologised(self, dossier: Dossier, round_: int) -> None:
        holders = [i.agency_id for i in open_items(self.session, dossier)] or [dossier.agency_id]
        recipients: list[Officer] = []
        for agency_id in dict.fromkeys(holders):
            recipients += self.with_role(agency_id, "leader")
        recipients += self.with_role(dossier.agency_id, "desk")
        values = self._values(
            "dossier",
            dossier.id,
            AlertKind.LATE_UNAPOLOGISED,
            dossier.deadline_version,
            round_,
            dossier,
            holders[0],
            dossier.due_at,
        )
        values["next_at"] = self.next_reminder()
        self.add(_Pending(values, dossier, recipients, self._late_message(dossier, holders[0], round_)))

    def next_reminder(self) -> datetime | None:
        hours = self.ctx.settings.realert_hours
        if hours <= 0:
            return None
        # Wall-clock interval, moved to the next office moment: no reminders on days off.
        return self.cal.next_open(self.now + timedelta(hours=hours))

    def reminders(self) -> None:
        due = list(
            self.session.scalars(
                select(SlaAlert)
                .where(SlaAlert.next_at.is_not(None), SlaAlert.next_at <= self.now)
                .order_by(SlaAlert.next_at, SlaAlert.id)
                .limit(REMINDER_BATCH)
            )
        )
        for alert in due:
            # Clear the wake-up first: the chain continues only through the next round's row.
            self.session.execute(
                update(SlaAlert)
                .where(SlaAlert.id == alert.id)
                .values(next_at=None)
                .execution_options(synchronize_session=False)
            )
            dossier = self.session.get_one(Dossier, alert.dossier_id, options=[_NO_STATE])
            if alert.kind == AlertKind.LATE_AGAIN:
                if (
                    dossier.status == "processing"
                    and dossier.deadline_version == alert.deadline_version
                    and is_overdue(dossier.appointment_at, self.now)
                ):
                    self._late_again(dossier, alert.round + 1)
                continue
            still_late = (
                dossier.status == "processing"
                and dossier.appointment_moved_at is None
                and dossier.deadline_version == alert.deadline_version
                and is_overdue(dossier.due_at, self.now)
            )
            if still_late:
                self._late_unapologised(dossier, alert.round + 1)

    # ----- rows and messages --------------------------------------------------------------

    def _values(
        self,
        subject_kind: str,
        subject_id: int,
        kind: str,
        version: int,
        round_: int,
        dossier: Dossier,
        agency_id: int,
        due_at: datetime | None,
        item: WorkItem | None = None,
    ) -> dict[str, object]:
        return {
            "subject_kind": subject_kind,
            "subject_id": subject_id,
            "kind": kind,
            "deadline_version": version,
            "round": round_,
            "dossier_id": dossier.id,
            "work_item_id": item.id if item is not None else None,
            "agency_id": agency_id,
            "due_at": due_at,
            "raised_at": self.now,
            "next_at": None,
            "recipients": 0,
        }

    def _procedure(self, dossier: Dossier) -> str:
        return self.name(Procedure, dossier.procedure_id)

    def _due_soon_message(
        self, item: WorkItem, dossier: Dossier
    ) -> Callable[[ApologyLetter | None], Message]:
        left = self.cal.working_hours_between(self.now, item.due_at)  # type: ignore[arg-type]
        text = Message(
            f"Sắp đến hạn: «{item.task_name}» - hồ sơ {dossier.code}",
            f"Bước «{item.task_name}» của hồ sơ {dossier.code} ({self._procedure(dossier)}) đến hạn lúc "
            f"{local_time(item.due_at, self.tz)}; còn {hours(left)} giờ làm việc. "
            "Nếu đã làm xong, xin hoàn thành bước này trên hệ thống để hồ sơ không bị tính trễ hạn.",
        )
        return lambda _letter: text

    def _overdue_message(self, item: WorkItem, dossier: Dossier) -> Callable[[ApologyLetter | None], Message]:
        who = (
            self.session.get(Officer, item.assignee_id).full_name  # type: ignore[union-attr]
            if item.assignee_id
            else "chưa có người nhận"
        )
        text = Message(
            f"Quá hạn: «{item.task_name}» - hồ sơ {dossier.code}",
            f"Bước «{item.task_name}» của hồ sơ {dossier.code} ({self._procedure(dossier)}) tại "
            f"{self.name(Agency, item.agency_id)} đã quá hạn từ {local_time(item.due_at, self.tz)}. "
            f"Người xử lý: {who}.",
        )
        return lambda _letter: text

    def _apology_message(
        self, dossier: Dossier, plan: RemainingPlan
    ) -> Callable[[ApologyLetter | None], Message]:
        holder = self.name(Agency, plan.holder_agency_id)
        desk = self.name(Agency, dossier.agency_id)
        if is_overdue(dossier.due_at, self.now):
            state = f"đã quá hạn từ {local_time(dossier.due_at, self.tz)}"
        else:
            state = (
                f"hẹn trả {local_time(dossier.due_at, self.tz)} sẽ trễ hạn: các bước còn lại cần "
                f"{hours(plan.hours)} giờ làm việc theo quy trình, chỉ còn {hours(plan.available)} giờ"
            )

        def build(letter: ApologyLetter | None) -> Message:
            proposed = letter.new_due_at if letter is not None else plan.proposed_due
            return Message(
                f"Cần phiếu xin lỗi: hồ sơ {dossier.code}",
                f"Hồ sơ {dossier.code} ({self._procedure(dossier)}) {state}. Đã lập dự thảo phiếu xin lỗi "
                f"và hẹn lại ngày trả kết quả cho {holder}, đề xuất hẹn lại {local_time(proposed, self.tz)}. "
                f"Lãnh đạo {holder} cần ký phát hành phiếu và gửi Bộ phận Một cửa {desk}.",
            )

        return build

    def _late_message(
        self, dossier: Dossier, holder_id: int, round_: int
    ) -> Callable[[ApologyLetter | None], Message]:
        again = f"Nhắc lại lần {round_}: " if round_ > 1 else ""
        text = Message(
            f"{again}Hồ sơ {dossier.code} quá hạn, chưa có phiếu xin lỗi",
            f"Hồ sơ {dossier.code} ({self._procedure(dossier)}) đã quá hạn từ "
            f"{local_time(dossier.due_at, self.tz)}, đang ở {self.name(Agency, holder_id)}, và chưa có "
            "phiếu xin lỗi được ký phát hành. Cơ quan giải quyết phải gửi phiếu xin lỗi và hẹn lại ngày "
            "trả kết quả cho người nộp hồ sơ.",
        )
        return lambda _letter: text

    def _late_again_message(
        self, dossier: Dossier, holder_id: int, round_: int
    ) -> Callable[[ApologyLetter | None], Message]:
        again = f"Nhắc lại lần {round_}: " if round_ > 1 else ""
        text = Message(
            f"{again}Hồ sơ {dossier.code} trễ hẹn lần hai",
            f"Hồ sơ {dossier.code} ({self._procedure(dossier)}) đã quá hạn giải quyết từ "
            f"{local_time(dossier.due_at, self.tz)} và nay quá cả ngày hẹn lại "
            f"{local_time(dossier.appointment_at, self.tz)} đã ghi trong phiếu xin lỗi; hồ sơ đang ở "
            f"{self.name(Agency, holder_id)}. Ngày hẹn chỉ được dời một lần: cần giải quyết ngay và "
            "báo cáo lãnh đạo.",
        )
        return lambda _letter: text

    # ----- writing ------------------------------------------------------------------------

    def flush(self, report: TickReport) -> None:
        """Insert the pending alerts; the ones that were new get their letter and notifications."""
        if not self.pending:
            return
        insert = postgresql.insert if self.session.get_bind().dialect.name == "postgresql" else sqlite.insert
        for p in self.pending:
            p.values["recipients"] = len({o.id for o in p.recipients})
        inserted: dict[tuple, int] = {}
        for chunk in _chunks(self.pending, 500):
            rows = self.session.execute(
                insert(SlaAlert)
                .on_conflict_do_nothing(index_elements=KEY_COLUMNS)
                .returning(SlaAlert.id, *(getattr(SlaAlert, c) for c in KEY_COLUMNS)),
                [p.values for p in chunk],
            ).all()
            inserted.update({tuple(r[1:]): r[0] for r in rows})
        outbox: list[dict[str, object]] = []
        for p in self.pending:
            alert_id = inserted.get(p.key)
            if alert_id is None:
                continue  # raised by someone else meanwhile
            letter = None
            if p.plan is not None:
                letter, created = draft_in(self.ctx, self.session, p.dossier, self.now, plan=p.plan)
                if created:
                    report.letters_drafted.append(letter.id)
            key = "alert:" + ":".join(str(v) for v in p.key)
            outbox += officer_rows(
                p.recipients,
                key=key,
                kind=str(p.values["kind"]),
                message=p.message(letter),
                now=self.now,
                dossier_id=p.dossier.id,
            )
            report.raised.append(
                RaisedAlert(
                    id=alert_id,
                    kind=str(p.values["kind"]),
                    dossier_id=p.dossier.id,
                    dossier_code=p.dossier.code,
                    work_item_id=p.item.id if p.item is not None else None,
                    step_name=p.item.task_name if p.item is not None else None,
                    agency_id=int(p.values["agency_id"]),  # type: ignore[call-overload]
                    due_at=p.values["due_at"],  # type: ignore[arg-type]
                    round=int(p.values["round"]),  # type: ignore[call-overload]
                    recipients=int(p.values["recipients"]),  # type: ignore[call-overload]
                    letter_id=letter.id if letter is not None else None,
                )
            )
        for chunk in _chunks(outbox, 1000):
            report.notifications += enqueue_many(self.session, chunk)


def _chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def tick(
    ctx: Context,
    now: datetime,
    *,
    holder: str = "cli",
    fence: Callable[[Session], None] | None = None,
) -> TickReport:
    """Raise every SLA alert due at `now` that was not raised before; one transaction.

    `fence` (the scheduler's lease check) runs first inside the transaction and raises to abort it.
    """
    require_aware(now)
    started = time.perf_counter()
    interval = timedelta(seconds=ctx.settings.scheduler_interval_seconds)
    with use_case(ctx, "SLA tick") as uow:
        session = uow.session
        if fence is not None:
            fence(session)
        beat = _locked_beat(session, now, holder)
        previous = beat.last_now if beat.ticks else None
        low = previous - max(MIN_OVERLAP, 2 * interval) if previous is not None else None
        report = TickReport(now=now, previous=previous)
        watch = _Watch(ctx, session, now)
        watch.record_lateness(low)
        gone_overdue = watch.items_overdue(low)
        watch.items_due_soon(low)
        touched = {i.dossier_id for i in gone_overdue} | watch.new_item_dossiers(low)
        watch.dossiers(low, touched)
        watch.reminders()
        watch.flush(report)
        report.duration_ms = (time.perf_counter() - started) * 1000
        _beat(session, beat, previous, now, holder, report)
        uow.commit()
    return report


def _locked_beat(session: Session, now: datetime, holder: str) -> SchedulerHeartbeat:
    """The heartbeat row, created if missing (ticks = 0 means: never ran) and locked for this tick.

    The row lock serialises concurrent ticks on PostgreSQL (SQLite's write lock already does):
    a second tick waits, then starts from the first one's watermark and sees its alerts.
    """
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(
        insert(SchedulerHeartbeat)
        .values(name=HEARTBEAT, last_now=now, ran_at=now, holder=holder[:120], ticks=0, raised=0)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    return session.scalars(
        select(SchedulerHeartbeat)
        .where(SchedulerHeartbeat.name == HEARTBEAT)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def _beat(
    session: Session,
    beat: SchedulerHeartbeat,
    previous: datetime | None,
    now: datetime,
    holder: str,
    report: TickReport,
) -> None:
    """Record the tick: the watermark only moves forward, a tick at an earlier moment keeps it."""
    ran_at = datetime.now(now.tzinfo)
    beat.last_now = max(previous, now) if previous is not None else now
    beat.ran_at = ran_at
    beat.holder = holder[:120]
    beat.ticks = (beat.ticks or 0) + 1
    beat.raised = len(report.raised)
    beat.duration_ms = report.duration_ms


@dataclass(frozen=True)
class Heartbeat:
    """When the watcher last ran, for the web app's warning and the health probe."""

    ran_at: datetime | None
    last_now: datetime | None
    holder: str | None
    ticks: int
    stale: bool
    # The interval and lease the staleness was judged by (the leader's own when it recorded them).
    interval_seconds: int = 0
    lease_seconds: int = 0


def heartbeat(session: Session, now: datetime, *, interval_seconds: int, lease_seconds: int) -> Heartbeat:
    """The heartbeat; stale when no tick ran within three intervals (and at least one lease).

    The leader records its own interval and lease on the lease row, and those judge it: a web process
    configured otherwise than the scheduler process still reads the heartbeat right. The given
    values serve until a leader has recorded its own.
    """
    return heartbeat_of(
        session.get(SchedulerLease, LEASE),
        session.get(SchedulerHeartbeat, HEARTBEAT),
        now,
        interval_seconds=interval_seconds,
        lease_seconds=lease_seconds,
    )


def heartbeat_of(
    lease: SchedulerLease | None,
    beat: SchedulerHeartbeat | None,
    now: datetime,
    *,
    interval_seconds: int,
    lease_seconds: int,
) -> Heartbeat:
    """`heartbeat` from the lease and heartbeat rows already read (None when there is none)."""
    if lease is not None and lease.interval_seconds and lease.renewed_at is not None:
        interval_seconds = lease.interval_seconds
        lease_seconds = max(1, round((lease.expires_at - lease.renewed_at).total_seconds()))
    if beat is None or not beat.ticks:
        return Heartbeat(None, None, None, 0, True, interval_seconds, lease_seconds)
    limit = timedelta(seconds=max(3 * interval_seconds, lease_seconds))
    return Heartbeat(
        beat.ran_at,
        beat.last_now,
        beat.holder,
        beat.ticks,
        now - beat.ran_at > limit,
        interval_seconds,
        lease_seconds,
    )


def alerts_for_dossier(session: Session, dossier_id: int) -> list[SlaAlert]:
    """Every alert raised about a dossier or its steps, oldest first."""
    return list(
        session.scalars(
            select(SlaAlert)
            .where(SlaAlert.dossier_id == dossier_id)
            .order_by(SlaAlert.raised_at, SlaAlert.id)
        )
    )


__all__ = ["Heartbeat", "RaisedAlert", "TickReport", "alerts_for_dossier", "heartbeat", "tick"]
