"""Data generator: dossiers over years, with the rows the service functions would write, in bulk.

    .venv/bin/python -m bench.generate --count 1000000 --years 3 --db URL [--seed 2026] [--jobs N]
        [--no-baseline]

Each dossier is first *planned*: a procedure, a receiving desk, a channel, a receipt time and the
list of actions officers take on it (complete a step with an outcome, request a supplement, the
supplement arriving, refuse, hand the result over, withdraw, move the appointment), with a time
for each. Actions later than the end of the generated range are dropped, so the most recent
dossiers are still open. A plan can be replayed through the real service functions of
`engine.runtime.dossiers` (`replay`), and that is how the test proves the bulk path right: the same plan
written by `BulkWriter` and replayed through the services gives the same rows.

The bulk path does not run SpiffWorkflow per dossier. For each procedure and each path through
its BPMN model (normal, supplement, refusal at each step that can refuse, rework), the workflow
is run once with the real engine (`engine.catalogue.workflow_state`) and the serialized state after every
action is kept as a template; a dossier's state is its template with fresh task ids, its code and
its channel put in. Work items, due times, used hours, classes, suspensions and audit events are
computed exactly as `engine/runtime/dossiers.py` computes them, with the same working-time calendar, and
written with COPY (binary format) on PostgreSQL or executemany on SQLite (bench/bulk.py). Event payloads
are written as the text json.dumps gives (constant parts made once per step). Each dossier also gets
its payments, postal items and digitised documents as it is written (bench/payments.py,
bench/postal.py, bench/digitisation.py).

On PostgreSQL `--jobs` processes (default: one per CPU) write contiguous slices of the days, taking
ids in blocks from shared counters, each with a thread writing one batch while the next is made, and
Python's garbage collector mostly idle meanwhile (`fewer_collections`). A large load drops the plain
secondary indexes of the dossier tables first and builds them again from their definitions once the
dossiers are in. Afterwards the command times a plain COPY of the same rows into empty tables with
the same indexes, treated the same way (built after the COPY when the load built them after its
rows), and prints the ratio generator / COPY and whether the goal (5,000 dossiers a second,
1,000,000 in under 4 minutes) is met. The working-time arithmetic runs on integers (`WorkingTime`,
the calendar's results exactly).

The mix follows DOMAIN.md and the demo organisation: commune birth registrations dominate, then
the department's and the two-level procedures; about 30 % online and 5 % by post; about 6 %
supplements, 2 % refusals, 1 % withdrawals, 3 % rework loops, and a few percent late, half of
which get an apology letter (a moved appointment) first.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import multiprocessing
import os
import random
import re
import signal
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url

from bench.bulk import (
    JsonText,
    binary_format,
    build_indexes,
    bulk_transaction,
    copy_binary,
    defer_indexes,
    renamed_index,
    restore_indexes,
    table_indexes,
)
from bench.digitisation import Digitiser
from bench.payments import dossier_payments, procedure_dues, settle_before_handover
from bench.postal import dossier_postal_items
from config import Settings
from engine.catalogue import workflow_state as wf
from engine.catalogue.loader import load_all
from engine.context import Context
from engine.demo import desk_for, officers_by_role
from engine.runtime import dossiers as svc
from engine.search_text import SEPARATOR, normalise, search_text_of
from models import (
    Agency,
    Attachment,
    Dossier,
    DossierEvent,
    DossierSequence,
    Payment,
    PostalItem,
    Procedure,
    ProcessVersion,
    Suspension,
    WorkItem,
)
from models.migrate import upgrade

DEFAULT_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/motcua_bench_report"
DEFAULT_END = date(2026, 12, 31)
# Share of dossiers per procedure (birth registrations at the commune dominate, as in the seeds).
# Copies of civil-status extracts (2.000635, the sample with a fee) are asked for about half as often as
# birth registrations.
PROCEDURE_MIX = {"1.001193": 0.45, "2.000635": 0.20, "1.001806": 0.22, "NA.3854": 0.13}
CHANNEL_MIX = {"in_person": 0.65, "online": 0.30, "postal": 0.05}
P_SUPPLEMENT = 0.06
P_REFUSE = 0.02
P_REWORK = 0.03
P_WITHDRAW = 0.01
P_SLOW = 0.06  # one step takes far longer than allotted: the dossier will likely be late
P_APOLOGY = 0.5  # of the slow ones, those whose agency issues an apology first
SUPPLEMENT_REASON = "Hồ sơ còn thiếu giấy tờ theo quy định"
SUPPLEMENT_MISSING = ["Bản sao giấy tờ chứng minh"]
SUPPLEMENT_NOTE = "Công dân đã nộp bổ sung"
REFUSAL_REASON = "Không đủ điều kiện theo quy định"
WITHDRAWAL_REASON = "Công dân xin rút hồ sơ"
APOLOGY_REASON = "Cần xác minh thêm thông tin với cơ quan liên quan"
REWORK_REASON = "Cần làm rõ kết quả thẩm định"
LATE_SUPPLEMENT_REASON = "Phát hiện thiếu giấy tờ khi thẩm định chuyên sâu"
FAMILY_NAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ"]
MIDDLE_NAMES = ["Văn", "Thị", "Minh", "Thu", "Quốc", "Hoàng", "Ngọc", "Đức"]
GIVEN_NAMES = [
    "An",
    "Bình",
    "Cường",
    "Dung",
    "Hà",
    "Hải",
    "Hương",
    "Khánh",
    "Lan",
    "Long",
    "Mai",
    "Nam",
    "Tâm",
]
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CODE_MARK = "@@DOSSIER_CODE@@"
CHANNEL_MARK = "@@CHANNEL@@"
# Constant event payloads, as json.dumps writes them.
SUPPLEMENT_REQUESTED = {
    late: json.dumps(
        {
            "missing": SUPPLEMENT_MISSING,
            "reason": SUPPLEMENT_REASON,
            "late": late,
            "late_reason": LATE_SUPPLEMENT_REASON if late else None,
        }
    )
    for late in (False, True)
}
REFUSED_TEXT = json.dumps({"reason": REFUSAL_REASON})
WITHDRAWN_TEXT = json.dumps({"reason": WITHDRAWAL_REASON})
SENT_BACK = ', "sent_back": true'


# ---------------------------------------------------------------------------
# templates: paths through a procedure's BPMN, run once with the real workflow engine


@dataclass(frozen=True)
class StepInfo:
    """What a work item of this step carries, from the procedure's BPMN model."""

    id: str
    name: str
    lane: str | None
    role: str
    kind: str | None
    agency_code: str | None
    hours: float
    counted: bool


class StateText:
    """A serialized workflow state with its task ids, code and channel as holes."""

    def __init__(self, state: str, uuid_index: dict[str, int]) -> None:
        # A format string: {n} the n-th task id of the template, {code} and {channel}.
        parts: list[str] = []
        position = 0
        for match in _UUID.finditer(state):
            parts.append(_braces(state[position : match.start()]))
            parts.append(f"{{{uuid_index.setdefault(match.group(0), len(uuid_index))}}}")
            position = match.end()
        parts.append(_braces(state[position:]))
        self.format = "".join(parts).replace(CODE_MARK, "{code}").replace(CHANNEL_MARK, "{channel}").format

    def fill(self, uuids: list[str], code: str, channel: str) -> str:
        """The state of one dossier."""
        return self.format(*uuids, code=code, channel=channel)


def _braces(text_: str) -> str:
    return text_.replace("{", "{{").replace("}", "}}")


@dataclass
class Template:
    """One path through a procedure: the items in order, with the outcome that ends each."""

    procedure_code: str
    name: str
    steps: list[StepInfo]  # item k is the k-th work item of the dossier
    outcomes: list[str | None]  # how item k is ended
    states: list[StateText]  # state after action k (0: after receipt)
    item_uuid: list[int]  # index of item k's task id in the template's id list
    withdrawn_states: dict[int, StateText] = field(default_factory=dict)
    uuid_index: dict[str, int] = field(default_factory=dict)
    compiled: Any = None
    raw_states: list[str] = field(default_factory=list)

    def withdrawn_state(self, actions_done: int) -> StateText:
        """The state after withdrawing when `actions_done` actions were taken (computed once)."""
        found = self.withdrawn_states.get(actions_done)
        if found is None:
            workflow = wf.load_state(self.raw_states[actions_done], self.compiled)
            wf.cancel(workflow)
            found = StateText(wf.dump_state(workflow), self.uuid_index)
            self.withdrawn_states[actions_done] = found
        return found


def _step_info(step: Any) -> StepInfo:
    return StepInfo(
        step.id,
        step.name,
        step.lane,
        step.role or "",
        step.kind,
        step.agency_code,
        step.hours or 0.0,
        step.counted,
    )


def send_back_reason(model: Any, step_id: str, outcome: str | None) -> str | None:
    """The reason a send-back for rework carries (the engine requires one), None for other outcomes."""
    chosen = model.outcome_of(step_id, outcome)
    return REWORK_REASON if chosen is not None and chosen.returns else None


def build_template(procedure_code: str, name: str, compiled: Any, choices: dict[str, list[str]]) -> Template:
    """Run the procedure's workflow once, taking `choices[step]` outcomes in turn, defaults otherwise."""
    model = compiled.model
    workflow = wf.new_workflow(compiled, {"dossier_code": CODE_MARK, "channel": CHANNEL_MARK})
    raw = [wf.dump_state(workflow)]
    steps: list[StepInfo] = []
    outcomes: list[str | None] = []
    uuids: list[str] = []
    visits: dict[str, int] = defaultdict(int)
    for _ in range(100):
        ready = wf.ready_user_tasks(workflow)
        if not ready:
            break
        if len(ready) != 1:
            raise RuntimeError(f"{procedure_code}: the generator handles sequential procedures only")
        task = ready[0]
        step = model.steps[task.task_spec.bpmn_id]
        scripted = choices.get(step.id, [])
        outcome = scripted[visits[step.id]] if visits[step.id] < len(scripted) else None
        visits[step.id] += 1
        if outcome is None and step.outcomes:
            outcome = next(v for v in step.outcome_values() if v not in ("supplement", "refuse", "rework"))
        steps.append(_step_info(step))
        outcomes.append(outcome)
        uuids.append(str(task.id))
        wf.run_user_task(workflow, str(task.id), {"outcome": outcome or ""})
        raw.append(wf.dump_state(workflow))
    if not workflow.is_completed():
        raise RuntimeError(f"{procedure_code}/{name}: the path does not end")
    template = Template(procedure_code, name, steps, outcomes, [], [], compiled=compiled, raw_states=raw)
    template.states = [StateText(s, template.uuid_index) for s in raw]
    template.item_uuid = [template.uuid_index[u] for u in uuids]
    return template


def templates_for(procedure_code: str, compiled: Any) -> dict[str, Template]:
    """The paths the generator uses: normal, supplement, refusal at each step, rework at each step."""
    result = {"normal": build_template(procedure_code, "normal", compiled, {})}
    for step in compiled.model.steps.values():
        values = step.outcome_values()
        default = next((v for v in values if v not in ("supplement", "refuse", "rework")), None)
        if "supplement" in values:
            result[f"supplement:{step.id}"] = build_template(
                procedure_code, f"supplement:{step.id}", compiled, {step.id: ["supplement", default]}
            )
        if "refuse" in values:
            result[f"refuse:{step.id}"] = build_template(
                procedure_code, f"refuse:{step.id}", compiled, {step.id: ["refuse"]}
            )
        if "rework" in values:
            result[f"rework:{step.id}"] = build_template(
                procedure_code, f"rework:{step.id}", compiled, {step.id: ["rework", default]}
            )
    return result


# ---------------------------------------------------------------------------
# working time on integers


_US = timedelta(microseconds=1)
_DAY_US = 86_400_000_000
_HOUR_US = 3_600_000_000


class WorkingTime:
    """The calendar's arithmetic, with the same results, on integer working-time coordinates.

    A moment's coordinate is the office time from the first day of the table to it: working days
    before its day times a day's office time, plus the office time of its own day up to it. Adding
    working hours is then the earliest moment with the coordinate plus the hours, subtracting the
    latest with the coordinate minus them, the working time between two moments the difference;
    exactly what `engine.calendar.WorkingCalendar` computes walking day by day, which it still does
    for anything outside the table (years `first`..`last`), for a time zone whose offset changes in
    them, or for the "days" due convention. `tests/test_generate.py` compares the two.
    """

    def __init__(self, calendar: Any, first: int = 2015, last: int = 2040) -> None:
        self.calendar = calendar
        self.tz = calendar.tz
        self.periods = [
            (
                (s.hour * 3600 + s.minute * 60 + s.second) * 1_000_000 + s.microsecond,
                (e.hour * 3600 + e.minute * 60 + e.second) * 1_000_000 + e.microsecond,
            )
            for s, e in calendar.office_hours
        ]
        self.open = self.periods[0][0]
        self.close = self.periods[-1][1]
        self.day = sum(e - s for s, e in self.periods)
        c = calendar.cutoff
        self.cutoff = (c.hour * 3600 + c.minute * 60 + c.second) * 1_000_000 + c.microsecond
        self.hours_per_day = calendar.hours_per_day
        start, stop = date(first, 1, 1), date(last, 12, 31)
        self.epoch = datetime(first, 1, 1, tzinfo=self.tz)
        self.base = start.toordinal()
        self.size = stop.toordinal() - self.base + 1
        offsets = {
            datetime(y, m, 1, tzinfo=self.tz).utcoffset()
            for y in range(first, last + 1)
            for m in range(1, 13)
        }
        # A fixed offset (Vietnam's since 1975) keeps local time and elapsed time the same line.
        self.fast = len(offsets) == 1 and calendar.due_convention == "hours"
        self.coordinates: dict[int, int] = {}
        self.working: list[bool] = []
        self.rank: list[int] = []  # working days before each day of the table
        self.by_rank: list[int] = []  # day of the table of the n-th working day
        for n in range(self.size if self.fast else 0):
            self.rank.append(len(self.by_rank))
            working = calendar.is_working_day(date.fromordinal(self.base + n))
            self.working.append(working)
            if working:
                self.by_rank.append(n)

    # ----- coordinates -------------------------------------------------------------------------

    def _local(self, moment: datetime) -> int | None:
        """Local microseconds since the table's first day, None outside the table."""
        local = (moment - self.epoch) // _US
        return local if 0 <= local < self.size * _DAY_US else None

    def _coordinate(self, local: int) -> int:
        # The moments of a dossier come back several times (an action's time ends one item and opens
        # the next; due times are measured from again and again): kept, until there are many.
        found = self.coordinates.get(local)
        if found is not None:
            return found
        if len(self.coordinates) >= 1 << 20:
            self.coordinates.clear()
        found = self.coordinates[local] = self._compute_coordinate(local)
        return found

    def _compute_coordinate(self, local: int) -> int:
        n, us = divmod(local, _DAY_US)
        value = self.rank[n] * self.day
        if self.working[n]:
            for s, e in self.periods:
                if us > s:
                    value += (e if us > e else us) - s
        return value

    def _earliest(self, value: int) -> int | None:
        """The earliest local moment with the coordinate (a period's end rather than the next start)."""
        n, off = divmod(value, self.day)
        if off == 0:
            n, off = n - 1, self.day
        if not 0 <= n < len(self.by_rank):
            return None
        for s, e in self.periods:
            if off <= e - s:
                return self.by_rank[n] * _DAY_US + s + off
            off -= e - s
        raise AssertionError("offset beyond the working day")

    def _latest(self, value: int) -> int | None:
        """The latest local moment with the coordinate (a period's start rather than the last end)."""
        n, off = divmod(value, self.day)
        if not 0 <= n < len(self.by_rank):
            return None
        for s, e in self.periods:
            if off < e - s:
                return self.by_rank[n] * _DAY_US + s + off
            off -= e - s
        raise AssertionError("offset beyond the working day")

    def _moment(self, local: int) -> datetime:
        return self.epoch + timedelta(microseconds=local)

    # ----- the calendar's operations -----------------------------------------------------------

    def is_working_day(self, day: date) -> bool:
        return bool(self.calendar.is_working_day(day))

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """As WorkingCalendar.add_working_hours."""
        if hours == 0:
            return start.astimezone(self.tz)
        amount = round(hours * 3600) * 1_000_000 if 0 <= hours < math.inf else -1
        local = self._local(start) if self.fast and amount > 0 else None
        if local is not None:
            found = self._earliest(self._coordinate(local) + amount)
            if found is not None:
                return self._moment(found)
        return self.calendar.add_working_hours(start, hours)

    def subtract_working_hours(self, end: datetime, hours: float) -> datetime:
        """As WorkingCalendar.subtract_working_hours."""
        if hours == 0:
            return end.astimezone(self.tz)
        amount = round(hours * 3600) * 1_000_000 if 0 <= hours < math.inf else -1
        local = self._local(end) if self.fast and amount > 0 else None
        if local is not None:
            value = self._coordinate(local) - amount
            found = self._latest(value) if value >= 0 else None
            if found is not None:
                return self._moment(found)
        return self.calendar.subtract_working_hours(end, hours)

    def working_hours_between(self, a: datetime, b: datetime) -> float:
        """As WorkingCalendar.working_hours_between."""
        if self.fast:
            first, second = self._local(a), self._local(b)
            if first is not None and second is not None:
                if second <= first:
                    return 0.0
                return (self._coordinate(second) - self._coordinate(first)) / _HOUR_US
        return self.calendar.working_hours_between(a, b)

    def _counting_start(self, local: int) -> int | None:
        n, us = divmod(local, _DAY_US)
        if us < self.cutoff and self.working[n]:
            for s, e in self.periods:
                if us < e:
                    return n * _DAY_US + max(s, us)
        following = self.rank[n] + 1 if self.working[n] else self.rank[n]
        if following >= len(self.by_rank):
            return None
        return self.by_rank[following] * _DAY_US + self.open

    def counting_start(self, received: datetime) -> datetime:
        """As WorkingCalendar.counting_start."""
        local = self._local(received) if self.fast else None
        found = self._counting_start(local) if local is not None else None
        if found is None:
            return self.calendar.counting_start(received)
        return self._moment(found)

    def due_time(
        self, received: datetime, *, days: float | None = None, hours: float | None = None
    ) -> datetime:
        """As WorkingCalendar.due_time."""
        amount = -1
        if (days is None) != (hours is None):
            value = days * self.hours_per_day if days is not None else hours
            assert value is not None
            amount = round(value * 3600) * 1_000_000 if 0 <= value < math.inf else -1
        local = self._local(received) if self.fast and amount >= 0 else None
        start = self._counting_start(local) if local is not None else None
        if start is not None:
            if amount == 0:
                return self._moment(start - start % _DAY_US + self.close)
            found = self._earliest(self._coordinate(start) + amount)
            if found is not None:
                return self._moment(found)
        return self.calendar.due_time(received, days=days, hours=hours)


# ---------------------------------------------------------------------------
# the environment read from the database


@dataclass
class ProcedureInfo:
    """A procedure with what plans and rows need."""

    id: int
    code: str
    version_id: int
    version_number: int
    legal_value: float
    legal_unit: str
    desk_id: int
    agency_id: int  # the receiving agency of its desk
    templates: dict[str, Template]


class Environment:
    """Procedures, templates, agencies and officers of the loaded demo organisation."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.calendar = WorkingTime(ctx.calendar)
        self.officers = officers_by_role(ctx)
        self.procedures: dict[str, ProcedureInfo] = {}
        with ctx.uow() as uow:
            session = uow.session
            self.agency_ids = {a.code: a.id for a in session.scalars(select(Agency))}
            self.agency_codes = {v: k for k, v in self.agency_ids.items()}
            # What the dossiers' payments, postal items and digitised documents need.
            self.dues = procedure_dues(session)
            self.documents, self.agency_names = Digitiser.catalogue(session)
            # No desk receives citizens' feedback (docs/feedback.md).
            administrative = select(Procedure).where(Procedure.kind != "feedback")
            for procedure in session.scalars(administrative.order_by(Procedure.code)):
                version = svc.active_version(session, procedure)
                compiled = svc.compiled_process(ctx, session, version.id)
                desk_id = desk_for(ctx, session, procedure)
                desk_agency = next(
                    a for (a, role), ids in self.officers.items() if role == "desk" and desk_id in ids
                )
                self.procedures[procedure.code] = ProcedureInfo(
                    procedure.id,
                    procedure.code,
                    version.id,
                    version.number,
                    float(procedure.legal_time_value),
                    procedure.legal_time_unit,
                    desk_id,
                    desk_agency,
                    templates_for(procedure.code, compiled),
                )

    def legal_due(self, procedure: ProcedureInfo, start: datetime) -> datetime:
        """As engine.runtime.dossiers.legal_due."""
        if procedure.legal_unit == "hours":
            return self.calendar.due_time(start, hours=procedure.legal_value)
        return self.calendar.due_time(start, days=procedure.legal_value)

    def step_agency(self, step: StepInfo, receiving_agency: int) -> int:
        """The agency holding the step: its lane's agency, or the receiving one."""
        return self.agency_ids[step.agency_code] if step.agency_code else receiving_agency

    def officer(self, agency_id: int, role: str, rng: random.Random) -> int:
        """An officer of the agency with the role."""
        return rng.choice(self.officers[(agency_id, role)])


# ---------------------------------------------------------------------------
# plans


@dataclass
class Action:
    """One thing an officer does to the dossier."""

    kind: str  # complete | supplement | resume | refuse | return | withdraw | move
    at: datetime
    officer_id: int
    outcome: str | None = None
    new_due: datetime | None = None


@dataclass
class Plan:
    """A dossier's receipt and the actions taken on it, in time order."""

    procedure_code: str
    template: str
    channel: str
    received_at: datetime
    applicant: svc.Applicant
    actions: list[Action]


def _applicant(rng: random.Random) -> svc.Applicant:
    name = f"{rng.choice(FAMILY_NAMES)} {rng.choice(MIDDLE_NAMES)} {rng.choice(GIVEN_NAMES)}"
    id_number = f"{rng.randrange(10**11, 10**12):012d}"
    phone = f"09{rng.randrange(10**8):08d}"
    return svc.Applicant(name=name, id_number=id_number, phone=phone)


def _pick(rng: random.Random, mix: dict[str, float]) -> str:
    return rng.choices(list(mix), weights=list(mix.values()))[0]


def _choose_template(rng: random.Random, templates: dict[str, Template]) -> str:
    roll = rng.random()
    for prefix, share in (("supplement:", P_SUPPLEMENT), ("refuse:", P_REFUSE), ("rework:", P_REWORK)):
        names = [n for n in templates if n.startswith(prefix)]
        if names and roll < share:
            return rng.choice(names)
        roll -= share
    return "normal"


def plan_dossier(
    env: Environment,
    rng: random.Random,
    procedure_code: str,
    received_at: datetime,
    channel: str,
    until: datetime,
    *,
    template_name: str | None = None,
    slow: bool | None = None,
    apology: bool | None = None,
    withdraw: bool | None = None,
) -> Plan:
    """Plan one dossier: the actions officers take and when; nothing after `until`.

    The keyword arguments force what is otherwise drawn at random (the tests use them).
    """
    cal = env.calendar
    procedure = env.procedures[procedure_code]
    name = template_name or _choose_template(rng, procedure.templates)
    template = procedure.templates[name]
    agency = procedure.agency_id
    steps = template.steps
    slow_index = -1
    if slow if slow is not None else rng.random() < P_SLOW:
        counted = [k for k, s in enumerate(steps) if s.counted]
        slow_index = rng.choice(counted)
    withdraw_at = -1
    if withdraw if withdraw is not None else rng.random() < P_WITHDRAW:
        first_return = next((k for k, s in enumerate(steps) if s.kind == "return"), len(steps))
        withdraw_at = rng.randrange(first_return)
    p_apology = P_APOLOGY if apology is None else float(apology)

    def scale_from(k: int, start: datetime) -> float:
        """Shrink step times so the remaining counted steps fit in the time left before the due time."""
        due = env.legal_due(procedure, start)
        need = sum(s.hours for s in steps[k:] if s.counted and s.kind != "return")
        available = cal.working_hours_between(start, due)
        return min(1.0, available / need) if need else 1.0

    actions: list[Action] = []
    now = received_at
    scale = scale_from(0, received_at)
    due = env.legal_due(procedure, received_at)
    moved = False
    for k, step in enumerate(steps):
        holder = env.step_agency(step, agency)
        if k == withdraw_at:
            at = cal.add_working_hours(now, rng.uniform(0.5, 16))
            actions.append(Action("withdraw", at, procedure.desk_id))
            break
        if step.kind == "supplement":
            spent = rng.uniform(4, 80)
        elif step.kind == "return":
            spent = rng.uniform(0.25, 24)
        else:
            factor = rng.uniform(1.6, 3.0) if k == slow_index else rng.uniform(0.1, 0.85)
            spent = max(step.hours * factor * (scale if k != slow_index else 1.0), 0.05)
        at = cal.add_working_hours(now, spent)
        if k == slow_index and not moved and rng.random() < p_apology:
            # The agency sees it will be late and sends the apology with a new appointment.
            warn = cal.add_working_hours(now, min(spent / 3, 4))
            new_due = cal.add_working_hours(max(at, due), 8)
            if warn < due and warn < at:
                actions.append(Action("move", warn, procedure.desk_id, new_due=new_due))
                due = new_due
                moved = True
        outcome = template.outcomes[k]
        officer = env.officer(holder, step.role, rng)
        if step.kind == "supplement":
            actions.append(Action("resume", at, officer))
            scale = scale_from(k + 1, at)
            due = env.legal_due(procedure, at) if env.ctx.settings.supplement_mode == "restart" else due
        elif step.kind == "return":
            actions.append(Action("return", at, officer))
        elif outcome == "supplement":
            actions.append(Action("supplement", at, officer, outcome))
        elif outcome == "refuse":
            actions.append(Action("refuse", at, officer, outcome))
        else:
            actions.append(Action("complete", at, officer, outcome))
        now = at
    actions = [a for a in actions if a.at <= until]
    return Plan(procedure_code, name, channel, received_at, _applicant(rng), actions)


def day_counts(rng: random.Random, count: int, first: date, last: date, cal: Any) -> list[tuple[date, int]]:
    """How many of `count` dossiers each day from `first` to `last` receives (working days far more)."""
    days = []
    day = first
    while day <= last:
        days.append(day)
        day += timedelta(days=1)
    weights = [1.0 if cal.is_working_day(d) else 0.04 for d in days]
    per_day: dict[date, int] = defaultdict(int)
    for d in rng.choices(days, weights=weights, k=count):
        per_day[d] += 1
    return [(d, per_day.get(d, 0)) for d in days]


def receipt_times(
    rng: random.Random, count: int, first: date, last: date, cal: Any
) -> Iterator[tuple[datetime, str]]:
    """`count` receipt moments over the working days (online also at night and at weekends), in order."""
    return moments_of(rng, day_counts(rng, count, first, last, cal), cal)


def moments_of(
    rng: random.Random, counts: list[tuple[date, int]], cal: Any
) -> Iterator[tuple[datetime, str]]:
    """The receipt moments and channels of the days' counts, in order."""
    tz = cal.tz
    for d, n in counts:
        moments = []
        for _ in range(n):
            channel = _pick(rng, CHANNEL_MIX)
            if channel == "online" or not cal.is_working_day(d):
                channel = "online"
                minute = rng.randrange(6 * 60, 23 * 60)
            else:
                # The desk is open 07:30-11:30 and 13:00-17:00.
                minute = rng.choice((rng.randrange(450, 690), rng.randrange(780, 1020)))
            moment = datetime(d.year, d.month, d.day, minute // 60, minute % 60, rng.randrange(60), tzinfo=tz)
            moments.append((moment, channel))
        moments.sort()
        yield from moments


def plan_many(
    env: Environment, rng: random.Random, count: int, first: date, last: date, until: datetime
) -> Iterator[Plan]:
    """Plans for `count` dossiers received between `first` and `last`, in receipt order."""
    return plan_days(env, rng, day_counts(rng, count, first, last, env.calendar), until)


def plan_days(
    env: Environment, rng: random.Random, counts: list[tuple[date, int]], until: datetime
) -> Iterator[Plan]:
    """Plans for the dossiers of the days' counts, in receipt order."""
    codes = list(PROCEDURE_MIX)
    weights = list(PROCEDURE_MIX.values())
    for moment, channel in moments_of(rng, counts, env.calendar):
        procedure = rng.choices(codes, weights=weights)[0]
        yield plan_dossier(env, rng, procedure, moment, channel, until)


# ---------------------------------------------------------------------------
# the bulk path


# The variant digit of a version-4 UUID (10xx) made from a random hex digit.
_VARIANT = {f"{d:x}": f"{(d & 3) | 8:x}" for d in range(16)}


def _uuid4s(rng: random.Random, count: int) -> list[str]:
    """`count` version-4 UUIDs as text, each `str(uuid.UUID(int=bits, version=4))` of 128 random bits,
    without making the objects."""
    h = f"{rng.getrandbits(128 * count) if count else 0:0{32 * count}x}"
    return [
        f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-4{h[i + 13 : i + 16]}-{_VARIANT[h[i + 16]]}{h[i + 17 : i + 20]}-"
        f"{h[i + 20 : i + 32]}"
        for i in range(0, 32 * count, 32)
    ]


def _utc(moment: datetime | None) -> datetime | None:
    return moment.astimezone(UTC) if moment is not None else None


class BulkWriter:
    """Writes planned dossiers with the rows the service functions would write, in batches."""

    TABLES = ("dossier", "work_item", "suspension", "dossier_event", "attachment", "payment", "postal_item")

    def __init__(
        self,
        env: Environment,
        rng: random.Random,
        batch: int = 2000,
        ids: IdBlocks | None = None,
        until: datetime | None = None,
    ) -> None:
        """With `until` (the end of the range) each dossier also gets its payments, postal items and
        digitised documents (bench/payments.py, bench/postal.py, bench/digitisation.py), drawn from a
        random stream of their own."""
        self.env = env
        self.cal = env.calendar
        self.rng = rng
        self.batch = batch
        self.db: Engine = env.ctx.db
        self.postgres = self.db.dialect.name == "postgresql"
        self.rows: dict[str, list[dict[str, Any]]] = {t: [] for t in self.TABLES}
        self.pending = 0
        with self.db.connect() as conn:
            self.next_id = {
                t: (conn.execute(text(f"SELECT max(id) FROM {t}")).scalar() or 0) + 1 for t in self.TABLES
            }
            self.sequences: dict[tuple[int, str], int] = {
                (a, d): n
                for a, d, n in conn.execute(
                    select(DossierSequence.agency_id, DossierSequence.day, DossierSequence.last_number)
                )
            }
        self.touched_days: set[tuple[int, str]] = set()
        self.columns = {t: [c.name for c in _TABLES[t].columns] for t in self.TABLES}
        # COPY in binary format: the column types and the rows' values per table (`binary_format`).
        self.binary: dict[str, tuple[list[int], Callable[[dict[str, Any]], Sequence[Any]]]] = {}
        self.send_backs: dict[tuple[int, str, str | None], str | None] = {}
        self.pool: ThreadPoolExecutor | None = None
        self.writing: Future[None] | None = None
        self.names: dict[str, str] = {}
        # With several writers the ids come in blocks from counters they share; alone, from max(id).
        self.ids = ids
        self.id_limit = {t: 0 if ids else sys.maxsize for t in self.TABLES}
        self.until = until
        self.json_texts: dict[str | None, str] = {}
        self.received_texts: dict[str, str] = {}
        self.step_payloads: dict[tuple[StepInfo, int], tuple[str, str]] = {}
        self.extra_rng = random.Random(rng.getrandbits(64)) if until is not None else rng
        self.digitiser = Digitiser(env.documents, env.agency_names, lambda: self._id("attachment"))

    def _id(self, table: str) -> int:
        value = self.next_id[table]
        if value > self.id_limit[table]:
            assert self.ids is not None
            value = self.ids.take(table)
            self.id_limit[table] = value + self.ids.size - 1
        self.next_id[table] = value + 1
        return value

    def _event_text(
        self, dossier: dict, kind: str, officer_id: int | None, at: datetime, payload: str
    ) -> None:
        """An event whose payload is given as its JSON text (what json.dumps gives for the dict)."""
        self.rows["dossier_event"].append(
            {
                "id": self._id("dossier_event"),
                "dossier_id": dossier["id"],
                "at": at,
                "officer_id": officer_id,
                "kind": kind,
                "payload": JsonText(payload),
            }
        )

    def _json(self, value: str | None) -> str:
        """json.dumps of a string or None, computed once per value."""
        found = self.json_texts.get(value)
        if found is None:
            found = self.json_texts[value] = json.dumps(value)
        return found

    def _received_text(self, procedure: ProcedureInfo) -> str:
        """The start of a receipt's payload, up to the channel's value."""
        found = self.received_texts.get(procedure.code)
        if found is None:
            found = self.received_texts[procedure.code] = (
                f'{{"procedure": {json.dumps(procedure.code)}, '
                f'"process_version": {json.dumps(procedure.version_number)}, "channel": '
            )
        return found

    def _step_texts(self, step: StepInfo, agency_id: int) -> tuple[str, str]:
        """The middles of the payloads of a step's opening (up to its due time's value) and of its
        completion (up to its outcome's value), made once per step and agency."""
        key = (step, agency_id)
        found = self.step_payloads.get(key)
        if found is None:
            js = self._json
            named = f'"step": {js(step.id)}, "name": {js(step.name)}, '
            found = (
                f'{named}"role": {js(step.role)}, "agency_id": {json.dumps(agency_id)}, "due_at": ',
                f'{named}"outcome": ',
            )
            self.step_payloads[key] = found
        return found

    def _send_back(self, model: Any, step_id: str, outcome: str | None) -> str | None:
        """send_back_reason, looked up once per step and outcome."""
        key = (id(model), step_id, outcome)
        if key not in self.send_backs:
            self.send_backs[key] = send_back_reason(model, step_id, outcome)
        return self.send_backs[key]

    def _search_text(self, code: str, applicant: svc.Applicant) -> str:
        """search_text_of the code and the applicant; the name's normal form is computed once per name."""
        phone, id_number = applicant.phone, applicant.id_number
        if applicant.email or not (phone and phone.isdigit() and id_number and id_number.isdigit()):
            return search_text_of(code, applicant.name, phone, id_number, applicant.email)
        # Digits are their own normal form.
        name = self.names.get(applicant.name or "")
        if name is None:
            name = self.names[applicant.name or ""] = normalise(applicant.name)
        return SEPARATOR.join(p for p in (normalise(code), name, phone, id_number) if p)

    def _classify(self, finished: datetime, due: datetime | None) -> str | None:
        return svc.classify(finished, due, self.env.ctx)

    def add(self, plan: Plan) -> str:
        """Turn one plan into rows; returns the dossier code."""
        env, cal = self.env, self.cal
        procedure = env.procedures[plan.procedure_code]
        template = procedure.templates[plan.template]
        model = template.compiled.model
        now = plan.received_at
        day = now.astimezone(cal.tz).strftime("%y%m%d")
        key = (procedure.agency_id, day)
        number = self.sequences.get(key, 0) + 1
        self.sequences[key] = number
        self.touched_days.add(key)
        code = f"{env.agency_codes[procedure.agency_id]}-{day}-{number:04d}"
        due = env.legal_due(procedure, now)
        dossier: dict[str, Any] = {
            "id": self._id("dossier"),
            "code": code,
            "procedure_id": procedure.id,
            "process_version_id": procedure.version_id,
            "agency_id": procedure.agency_id,
            "applicant_name": plan.applicant.name,
            "applicant_id_number": plan.applicant.id_number,
            "applicant_phone": plan.applicant.phone,
            "applicant_email": plan.applicant.email,
            "applicant_address": plan.applicant.address,
            "search_text": self._search_text(code, plan.applicant),
            "channel": plan.channel,
            "received_at": now,
            "received_by_id": procedure.desk_id,
            "clock_started_at": cal.counting_start(now),
            "due_at": due,
            "original_due_at": due,
            "appointment_at": due,
            "appointment_moved_at": None,
            "late_at": None,
            "judged_at": None,
            "projected_late_at": None,
            "deadline_version": 1,
            "status": "processing",
            "workflow_state": "",
            "version": 2,  # inserted, then updated with the workflow state in the same receipt
            "finished_at": None,
            "returned_at": None,
            "returned_to": None,
            "result_class": None,
            "refusal_reason": None,
            "withdrawal_reason": None,
            "submission_key": None,
        }
        self.rows["dossier"].append(dossier)
        uuids = _uuid4s(self.rng, len(template.uuid_index))
        items: list[dict[str, Any]] = []
        suspension: dict[str, Any] | None = None
        # Event payloads are written as json.dumps writes the service functions' dicts (`_json`).
        js = self._json
        self._event_text(
            dossier,
            "received",
            procedure.desk_id,
            now,
            f"{self._received_text(procedure)}{js(plan.channel)}, "
            f'"due_at": "{due.isoformat()}", "documents": []}}',
        )
        step_texts: list[tuple[str, str]] = []

        def open_item(k: int, at: datetime, officer_id: int) -> dict[str, Any]:
            step = template.steps[k]
            paused = step.kind == "supplement"
            item = {
                "id": self._id("work_item"),
                "dossier_id": dossier["id"],
                "task_uuid": uuids[template.item_uuid[k]],
                "task_id": step.id,
                "task_name": step.name,
                "lane": step.lane,
                "role": step.role,
                "kind": step.kind,
                "agency_id": env.step_agency(step, procedure.agency_id),
                "assignee_id": None,
                "created_at": at,
                "claimed_at": None,
                "due_at": None if paused else cal.add_working_hours(at, step.hours),
                "allotted_hours": step.hours,
                "counted": step.counted,
                "completed_at": None,
                "completed_by_id": None,
                "outcome": None,
                "comment": None,
                "used_hours": None,
                "result_class": None,
            }
            items.append(item)
            self.rows["work_item"].append(item)
            if step.kind == "return" and dossier["status"] == "processing":
                # The applicant's notification looks rows up, which flushes the changed dossier once more.
                dossier["version"] += 1
                dossier["status"] = "result_ready"
                dossier["finished_at"] = at
                if dossier["refusal_reason"] is None:
                    if not step.counted:
                        judge(at)
                else:
                    record_lateness(at)
            if paused and dossier["status"] != "supplement":
                dossier["status"] = "supplement"
            texts = self._step_texts(step, item["agency_id"])
            step_texts.append(texts)
            due_text = f'"{item["due_at"].isoformat()}"' if item["due_at"] else "null"
            self._event_text(
                dossier,
                "step_opened",
                officer_id,
                at,
                f'{{"work_item_id": {item["id"]}, {texts[0]}{due_text}}}',
            )
            return item

        def complete_item(
            k: int, at: datetime, officer_id: int, outcome: str | None, comment: str | None
        ) -> None:
            item = items[k]
            if dossier["status"] == "processing":
                record_lateness(at)  # as note_running_lateness
            item["completed_at"] = at
            item["completed_by_id"] = officer_id
            item["assignee_id"] = item["assignee_id"] or officer_id
            item["claimed_at"] = item["claimed_at"] or at
            item["outcome"] = outcome
            item["comment"] = comment
            item["used_hours"] = round(cal.working_hours_between(item["created_at"], at), 2)
            if item["kind"] == "supplement":
                item["result_class"] = None
            elif item["kind"] == "return" and not item["counted"]:
                item["result_class"] = self._classify(at, dossier["appointment_at"])
            else:
                item["result_class"] = self._classify(at, item["due_at"])
            sent_back = SENT_BACK if self._send_back(model, item["task_id"], outcome) else ""
            self._event_text(
                dossier,
                "step_completed",
                officer_id,
                at,
                f'{{"work_item_id": {item["id"]}, {step_texts[k][1]}{js(outcome)}, '
                f'"comment": {js(comment)}, "used_hours": {item["used_hours"]!r}, '
                f'"result_class": {js(item["result_class"])}{sent_back}}}',
            )
            if k + 1 < len(template.steps):
                open_item(k + 1, at, officer_id)
            else:
                dossier["status"] = "refused" if dossier["refusal_reason"] else "returned"
                dossier["finished_at"] = dossier["finished_at"] or at
                if dossier["status"] == "returned" and dossier["judged_at"] is None:
                    judge(at)
            project(at)

        def record_lateness(at: datetime) -> None:
            if dossier["late_at"] is None and at > dossier["due_at"]:
                dossier["late_at"] = dossier["due_at"]

        def judge(at: datetime) -> None:
            record_lateness(at)
            dossier["judged_at"] = at
            late = dossier["late_at"] is not None
            dossier["result_class"] = "late" if late else self._classify(at, dossier["due_at"])

        def project(at: datetime) -> None:
            """As engine.runtime.dossiers.projected_late_at, over the open items."""
            moments = []
            if dossier["status"] == "processing":
                for item in items:
                    if item["completed_at"] is not None or item["kind"] is not None or not item["counted"]:
                        continue
                    tail = template.compiled.model.hours_after.get(item["task_id"], 0.0)
                    latest = cal.subtract_working_hours(dossier["due_at"], tail)
                    moments.append(max(at, item["created_at"]) if item["due_at"] > latest else latest)
            dossier["projected_late_at"] = min(moments) if moments else None

        open_item(0, now, procedure.desk_id)
        project(now)
        done = 0  # workflow actions taken (item k is the open one after k of them)
        withdrawn = False
        for action in plan.actions:
            at, officer = action.at, action.officer_id
            k = done
            if action.kind == "complete":
                reason = self._send_back(model, items[k]["task_id"], action.outcome)
                complete_item(k, at, officer, action.outcome, reason)
                dossier["version"] += 1
            elif action.kind == "supplement":
                window = env.ctx.settings.supplement_window_days * env.ctx.settings.hours_per_day
                late = cal.working_hours_between(dossier["clock_started_at"], at) > window
                complete_item(k, at, officer, "supplement", SUPPLEMENT_REASON)
                record_lateness(at)
                suspension = {
                    "id": self._id("suspension"),
                    "dossier_id": dossier["id"],
                    "kind": "supplement",
                    "reason": SUPPLEMENT_REASON,
                    "details": list(SUPPLEMENT_MISSING),
                    "started_at": at,
                    "started_by_id": officer,
                    "ended_at": None,
                    "ended_by_id": None,
                    "paused_hours": None,
                    "late": late,
                    "late_reason": LATE_SUPPLEMENT_REASON if late else None,
                }
                self.rows["suspension"].append(suspension)
                self._event_text(dossier, "supplement_requested", officer, at, SUPPLEMENT_REQUESTED[late])
                dossier["version"] += 1
            elif action.kind == "resume":
                assert suspension is not None
                suspension["ended_at"] = at
                suspension["ended_by_id"] = officer
                suspension["paused_hours"] = round(cal.working_hours_between(suspension["started_at"], at), 2)
                if env.ctx.settings.supplement_mode == "pause":
                    remaining = cal.working_hours_between(suspension["started_at"], dossier["due_at"])
                    new_due = cal.add_working_hours(at, remaining)
                else:
                    new_due = env.legal_due(procedure, at)
                    dossier["clock_started_at"] = cal.counting_start(at)
                dossier["status"] = "processing"
                dossier["due_at"] = new_due
                dossier["deadline_version"] += 1
                moved = dossier["appointment_at"] if dossier["appointment_moved_at"] is not None else None
                dossier["appointment_at"] = max(new_due, moved) if moved is not None else new_due
                self._event_text(
                    dossier,
                    "supplement_received",
                    officer,
                    at,
                    f'{{"paused_hours": {suspension["paused_hours"]!r}, "due_at": "{new_due.isoformat()}", '
                    f'"mode": {js(env.ctx.settings.supplement_mode)}, "note": {js(SUPPLEMENT_NOTE)}}}',
                )
                complete_item(k, at, officer, None, SUPPLEMENT_NOTE)
                dossier["version"] += 1
            elif action.kind == "refuse":
                dossier["refusal_reason"] = REFUSAL_REASON
                complete_item(k, at, officer, "refuse", REFUSAL_REASON)
                self._event_text(dossier, "refused", officer, at, REFUSED_TEXT)
                # The refusal reason is set first, so looking up the next step's agency flushes it.
                following = template.steps[k + 1].agency_code if k + 1 < len(template.steps) else None
                dossier["version"] += 2 if following else 1
            elif action.kind == "return":
                dossier["returned_at"] = at
                dossier["returned_to"] = plan.applicant.name
                complete_item(k, at, officer, None, None)
                self._event_text(
                    dossier, "returned", officer, at, f'{{"collected_by": {js(plan.applicant.name)}}}'
                )
                dossier["version"] += 1
            elif action.kind == "withdraw":
                for item in items:
                    if item["completed_at"] is None:
                        item["completed_at"] = at
                        item["outcome"] = "withdrawn"
                if suspension is not None and suspension["ended_at"] is None:
                    suspension["ended_at"] = at
                    suspension["ended_by_id"] = officer
                dossier["status"] = "withdrawn"
                dossier["withdrawal_reason"] = WITHDRAWAL_REASON
                dossier["finished_at"] = at
                self._event_text(dossier, "withdrawn", officer, at, WITHDRAWN_TEXT)
                dossier["version"] += 1
                withdrawn = True
                continue
            elif action.kind == "move":
                previous = dossier["appointment_at"]
                dossier["appointment_at"] = action.new_due
                dossier["deadline_version"] += 1
                dossier["appointment_moved_at"] = at
                self._event_text(
                    dossier,
                    "appointment_moved",
                    officer,
                    at,
                    f'{{"previous_due_at": "{_utc(previous).isoformat()}", '
                    f'"due_at": "{action.new_due.isoformat()}", "reason": {js(APOLOGY_REASON)}}}',
                )
                dossier["version"] += 1
                continue
            else:
                raise ValueError(f"unknown action {action.kind}")
            done += 1
        state = template.withdrawn_state(done) if withdrawn else template.states[done]
        dossier["workflow_state"] = state.fill(uuids, code, plan.channel)
        if self.until is not None:
            last_at = max([now] + [a.at for a in plan.actions])
            self._extras(dossier, procedure, last_at, self.until)
        self.pending += 1
        if self.pending >= self.batch:
            self.flush(wait=False)
        return code

    def _extras(
        self, dossier: dict[str, Any], procedure: ProcedureInfo, last_at: datetime, until: datetime
    ) -> None:
        """The dossier's payments, postal items and digitised documents (bench/payments.py,
        bench/postal.py, bench/digitisation.py)."""
        rng, rows = self.extra_rng, self.rows
        did, status = dossier["id"], dossier["status"]
        due = self.env.dues.get(procedure.id)
        if due is not None and status not in ("refused", "withdrawn"):
            paid = dossier_payments(
                did,
                due,
                dossier["channel"],
                dossier["received_at"],
                dossier["received_by_id"],
                dossier["returned_at"],
                last_at,
                rng,
                until,
            )
            if paid is not None:
                for payment in paid[0]:
                    payment["id"] = self._id("payment")
                    rows["payment"].append(payment)
                paid[1]["id"] = self._id("dossier_event")
                rows["dossier_event"].append(paid[1])
        # Times as the passes read them back from PostgreSQL (UTC), for the same event payloads.
        items, event, returned_to = dossier_postal_items(
            did,
            dossier["channel"],
            status,
            dossier["received_at"],
            dossier["received_by_id"],
            _utc(dossier["returned_at"]),
            dossier["applicant_address"],
            rng,
            until,
        )
        for item in items:
            item["id"] = self._id("postal_item")
            rows["postal_item"].append(item)
        if event is not None:
            event["id"] = self._id("dossier_event")
            rows["dossier_event"].append(event)
        if returned_to is not None:
            dossier["returned_to"] = returned_to
        documents, details = self.digitiser.rows_of(
            did,
            dossier["code"],
            dossier["agency_id"],
            dossier["procedure_id"],
            dossier["channel"],
            status,
            dossier["received_at"],
            dossier["received_by_id"],
            dossier["judged_at"],
            dossier["finished_at"],
            dossier["refusal_reason"],
            (
                dossier["applicant_name"],
                dossier["applicant_id_number"],
                dossier["applicant_phone"],
                dossier["applicant_email"],
            ),
            rng,
            until,
        )
        rows["attachment"].extend(documents)
        if details is not None:
            del details["id"]
            dossier.update(details)

    # ----- writing -----------------------------------------------------------------------

    def flush(self, wait: bool = True) -> None:
        """Write the buffered rows in one transaction.

        On PostgreSQL a thread COPYs them (in binary format) while the caller computes the next rows
        (one batch at a time); with `wait` this returns once they are in.
        """
        if self.pending:
            days = self._touched_days()
            if self.postgres:
                self._wait()
                if self.pool is None:
                    self.pool = ThreadPoolExecutor(max_workers=1)
                self.writing = self.pool.submit(self._write, self.rows, days)
            else:
                for event in self.rows["dossier_event"]:
                    if type(event["payload"]) is JsonText:
                        event["payload"] = json.loads(event["payload"])
                with self.db.begin() as conn:
                    for table in self.TABLES:
                        if self.rows[table]:
                            conn.execute(_TABLES[table].insert(), self.rows[table])
                    self._sequences(conn, days)
            self.rows = {t: [] for t in self.TABLES}
            self.pending = 0
        if wait:
            self._wait()
            if self.pool is not None:
                self.pool.shutdown()
                self.pool = None

    def _wait(self) -> None:
        """Wait for the batch being written, raising what went wrong."""
        if self.writing is not None:
            writing, self.writing = self.writing, None
            writing.result()

    def _write(self, batch: dict[str, list[dict[str, Any]]], days: list[dict[str, Any]]) -> None:
        with self.db.begin() as conn:
            bulk_transaction(conn)
            for table, rows in batch.items():
                if rows:
                    if table not in self.binary:
                        self.binary[table] = binary_format(conn, table, self.columns[table])
                    types, values = self.binary[table]
                    copy_binary(conn, table, self.columns[table], types, values, rows)
            self._sequences(conn, days)

    def _touched_days(self) -> list[dict[str, Any]]:
        """The code sequences of the days written to since the last batch, and forget them."""
        days = [
            {"agency_id": a, "day": d, "last_number": self.sequences[(a, d)]} for a, d in self.touched_days
        ]
        self.touched_days.clear()
        return days

    def _sequences(self, conn: Any, values: list[dict[str, Any]]) -> None:
        if not values:
            return
        dialect = conn.dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        stmt = insert(DossierSequence).values(values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["agency_id", "day"],
            set_={"last_number": func.max(stmt.excluded.last_number, DossierSequence.last_number)}
            if dialect == "sqlite"
            else {"last_number": func.greatest(stmt.excluded.last_number, DossierSequence.last_number)},
        )
        conn.execute(stmt)

    def finish(self) -> None:
        """Write what is left, note the agencies handling others' dossiers, move the id sequences."""
        self.flush()
        settle(self.db)


class IdBlocks:
    """Ids handed out in blocks from counters shared by writer processes forked after it is made."""

    size = 4096

    def __init__(self, start: dict[str, int]) -> None:
        mp = multiprocessing.get_context("fork")
        self.lock = mp.Lock()
        self.counters = {t: mp.RawValue("q", v) for t, v in start.items()}

    def take(self, table: str) -> int:
        """The first id of a fresh block of `size` ids of the table."""
        with self.lock:
            counter = self.counters[table]
            value = int(counter.value)
            counter.value = value + self.size
        return value


def settle(db: Engine) -> None:
    """After the dossiers: note the agencies handling others' dossiers, move the id sequences."""
    with db.begin() as conn:
        # What engine.runtime.access.note_handler records when a step opens.
        conn.execute(
            text(
                "INSERT INTO dossier_handler (agency_id, dossier_id) "
                "SELECT DISTINCT w.agency_id, w.dossier_id FROM work_item w "
                "JOIN dossier d ON d.id = w.dossier_id WHERE w.agency_id <> d.agency_id "
                "AND NOT EXISTS (SELECT 1 FROM dossier_handler h "
                "WHERE h.agency_id = w.agency_id AND h.dossier_id = w.dossier_id)"
            )
        )
    if db.dialect.name == "postgresql":
        with db.begin() as conn:
            for table in BulkWriter.TABLES:
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT coalesce(max(id), 1) FROM {table}))"
                    )
                )


_TABLES = {
    "dossier": Dossier.__table__,
    "work_item": WorkItem.__table__,
    "suspension": Suspension.__table__,
    "dossier_event": DossierEvent.__table__,
    "attachment": Attachment.__table__,
    "payment": Payment.__table__,
    "postal_item": PostalItem.__table__,
}


# ---------------------------------------------------------------------------
# the same plan through the service functions


def replay(env: Environment, plan: Plan) -> str:
    """Run a plan through the real service functions; returns the dossier code."""
    ctx = env.ctx
    procedure = env.procedures[plan.procedure_code]
    receipt = svc.receive_dossier(
        ctx,
        procedure_code=plan.procedure_code,
        applicant=plan.applicant,
        channel=plan.channel,
        officer_id=procedure.desk_id,
        now=plan.received_at,
    )
    for action in plan.actions:
        if action.kind == "withdraw":
            svc.withdraw(ctx, receipt.code, action.officer_id, reason=WITHDRAWAL_REASON, now=action.at)
            continue
        if action.kind == "move":
            svc.move_appointment(
                ctx,
                receipt.code,
                action.officer_id,
                new_due=action.new_due,
                reason=APOLOGY_REASON,
                now=action.at,
            )
            continue
        if action.kind == "resume":
            svc.resume(ctx, receipt.code, action.officer_id, action.at, note=SUPPLEMENT_NOTE)
            continue
        with ctx.uow() as uow:
            item_id = uow.session.scalars(
                select(WorkItem.id).where(
                    WorkItem.dossier_id == receipt.dossier_id, WorkItem.completed_at.is_(None)
                )
            ).one()
        if action.kind == "complete":
            with ctx.uow() as uow:
                step_id = uow.session.get_one(WorkItem, item_id).task_id
            model = procedure.templates[plan.template].compiled.model
            reason = send_back_reason(model, step_id, action.outcome)
            svc.complete(
                ctx, item_id, action.officer_id, now=action.at, outcome=action.outcome, comment=reason
            )
        elif action.kind == "supplement":
            svc.request_supplement(
                ctx,
                item_id,
                action.officer_id,
                missing=SUPPLEMENT_MISSING,
                reason=SUPPLEMENT_REASON,
                now=action.at,
                late_reason=LATE_SUPPLEMENT_REASON,
            )
        elif action.kind == "refuse":
            svc.refuse(ctx, item_id, action.officer_id, reason=REFUSAL_REASON, now=action.at)
        elif action.kind == "return":
            settle_before_handover(ctx, receipt.code, action.officer_id, action.at)
            svc.return_result(
                ctx, item_id, action.officer_id, collected_by=plan.applicant.name, now=action.at
            )
    return receipt.code


# ---------------------------------------------------------------------------
# command line


def recreate_database(url: str) -> None:
    """Drop and create a PostgreSQL bench database (only one whose name says 'bench')."""
    from sqlalchemy import create_engine

    parsed = make_url(url)
    name = parsed.database or ""
    if "bench" not in name:
        raise SystemExit(f"refusing to drop and recreate {name!r}: the name must contain 'bench'")
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()


def prepare_database(url: str) -> Context:
    """Create the PostgreSQL database if missing, migrate, and load the demo organisation once."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        from sqlalchemy import create_engine

        admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}
            )
            if exists.scalar() is None:
                conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
        admin.dispose()
    ctx = Context.from_settings(Settings().with_overrides(database_url=url))
    upgrade(ctx.db)
    if ctx.db.dialect.name == "postgresql":
        restore_indexes(ctx.db)  # the indexes a generator killed midway had dropped
    with ctx.uow() as uow:
        loaded = uow.session.scalar(select(func.count()).select_from(ProcessVersion))
    if not loaded:
        load_all(ctx, datetime(2023, 12, 1, 8, 0, tzinfo=ctx.calendar.tz))
    return ctx


# A load of at least this many dossiers that at least doubles them builds the plain secondary indexes
# of the tables it writes afterwards (`generate`).
DEFER_AT = 20_000
DEFERRED_TABLES = ("dossier", "work_item", "suspension", "dossier_event")
COPIED_TABLES = (
    "dossier",
    "work_item",
    "suspension",
    "dossier_event",
    "attachment",
    "payment",
    "postal_item",
)


def generate(
    ctx: Context,
    count: int,
    years: int,
    seed: int,
    end: date = DEFAULT_END,
    progress: bool = True,
    jobs: int = 1,
    defer: bool | None = None,
    report: dict[str, Any] | None = None,
) -> tuple[int, float]:
    """Generate `count` dossiers received over `years` years up to `end`; returns (count, seconds).

    With `jobs` > 1 on PostgreSQL, that many processes write the days in contiguous slices, each with
    its own random stream: the same seed then gives other (equally distributed) dossiers than one job.
    With `defer` (default: on PostgreSQL, for a load of at least `DEFER_AT` dossiers that at least
    doubles the dossiers) the plain secondary indexes of the tables written are dropped first and
    built again from their definitions once the rows are in (`bench.bulk.defer_indexes`), also when
    the load fails. `report`, if given, receives the seconds of each phase and the deferred indexes.
    """
    from tqdm import tqdm

    rng = random.Random(seed)
    env = Environment(ctx)
    first = (
        date(end.year - years + 1, 1, 1)
        if end.month == 12 and end.day == 31
        else end - timedelta(days=365 * years)
    )
    until = datetime(end.year, end.month, end.day, 17, 0, tzinfo=env.calendar.tz)
    phases: dict[str, Any] = report if report is not None else {}
    started = time.perf_counter()
    counts = day_counts(rng, count, first, end, env.calendar)
    postgres = ctx.db.dialect.name == "postgresql"
    if postgres:
        restore_indexes(ctx.db)  # what a load killed midway left to build
    if defer is None:
        defer = postgres and count >= DEFER_AT and count >= existing_dossiers(ctx.db)
    deferred = defer_indexes(ctx.db, DEFERRED_TABLES) if defer and postgres else []
    phases["deferred"] = [name for name, _table, _definition in deferred]
    mark = time.perf_counter()
    try:
        if jobs > 1 and postgres:
            _write_in_parallel(env, counts, seed, until, jobs)
            settle(ctx.db)
        else:
            writer = BulkWriter(env, rng, until=until)
            plans: Iterable[Plan] = plan_days(env, rng, counts, until)
            with fewer_collections():
                for plan in tqdm(plans, total=count, unit="hồ sơ", disable=not progress, mininterval=1.0):
                    writer.add(plan)
            writer.finish()
        phases["dossiers"] = time.perf_counter() - mark
    finally:
        mark = time.perf_counter()
        if deferred:
            restore_indexes(ctx.db)
        phases["indexes"] = time.perf_counter() - mark
    return count, time.perf_counter() - started


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Python's cyclic garbage collector, rarely and only over new objects, while rows are made.

    The rows are plain dicts freed by reference counting, but the collector, at its default
    thresholds, walks them and every object already loaded (templates, the workflow engine, the ORM)
    again and again: a third of the processor time it takes to make a dossier's rows. The objects
    there are now are set apart (`gc.freeze`) and collections wait for 100,000 new objects; both are
    undone afterwards.
    """
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def existing_dossiers(db: Engine) -> int:
    """How many dossiers the database holds."""
    with db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Dossier)).scalar() or 0)


def _slices(counts: list[tuple[date, int]], jobs: int) -> list[list[tuple[date, int]]]:
    """The days cut into `jobs` contiguous slices of about the same number of dossiers."""
    total = sum(n for _, n in counts) or 1
    slices: list[list[tuple[date, int]]] = [[] for _ in range(jobs)]
    seen = 0
    for day, n in counts:
        slices[min(jobs - 1, seen * jobs // total)].append((day, n))
        seen += n
    return [s for s in slices if s]


def _write_in_parallel(
    env: Environment, counts: list[tuple[date, int]], seed: int, until: datetime, jobs: int
) -> None:
    """Fork `jobs` writers, one per slice of days (the per-day code sequences never overlap)."""
    with env.ctx.db.connect() as conn:
        start = {
            t: (conn.execute(text(f"SELECT max(id) FROM {t}")).scalar() or 0) + 1 for t in BulkWriter.TABLES
        }
    ids = IdBlocks(start)
    env.ctx.db.dispose()
    mp = multiprocessing.get_context("fork")
    workers = [
        mp.Process(target=_write_days, args=(env, part, f"{seed}:{index}", until, ids), daemon=True)
        for index, part in enumerate(_slices(counts, jobs))
    ]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    except BaseException:
        for worker in workers:  # stopped: stop the writers before their indexes are built again
            if worker.is_alive():
                worker.terminate()
                worker.join()
        raise
    failed = [w.exitcode for w in workers if w.exitcode]
    if failed:
        raise RuntimeError(f"{len(failed)} writer process(es) failed (exit codes {failed})")


def _write_days(
    env: Environment, counts: list[tuple[date, int]], seed: str, until: datetime, ids: IdBlocks
) -> None:
    """One writer process: plan and write the dossiers of its days."""
    env.ctx.db.dispose(close=False)  # the parent's pooled connections are not this process's
    rng = random.Random(seed)
    writer = BulkWriter(env, rng, ids=ids, until=until)
    with fewer_collections():
        for plan in plan_days(env, rng, counts, until):
            writer.add(plan)
    writer.flush()
    env.ctx.db.dispose()


def first_ids(db: Engine) -> dict[str, int]:
    """The id the next generated row of each table will have (max + 1), to find this run's rows."""
    with db.connect() as conn:
        return {t: (conn.execute(text(f"SELECT max(id) FROM {t}")).scalar() or 0) + 1 for t in COPIED_TABLES}


def copy_baseline(
    db: Engine, since: dict[str, int], deferred: Iterable[str] = ()
) -> tuple[int, float, float]:
    """Seconds PostgreSQL takes to COPY this run's rows into empty tables with the same indexes.

    The rows (ids from `since`) are first read out in COPY's binary format to a temporary file; only
    writing them back is timed, into `bench_copy_*` tables made LIKE the real ones (defaults, no
    foreign keys) with the real ones' indexes, built from their definitions, dropped afterwards. The
    indexes named in `deferred` (those the generator dropped and built again after its load) are
    built after the COPY, as the generator does. Returns (rows, COPY seconds, index build seconds).
    """
    later = set(deferred)
    after: list[str] = []
    raw = db.raw_connection()
    try:
        connection: Any = raw.driver_connection
        rows = 0
        with tempfile.TemporaryDirectory() as folder:
            for table in COPIED_TABLES:
                with open(os.path.join(folder, table), "wb") as out, connection.cursor() as cursor:
                    rows_of = f"SELECT * FROM {table} WHERE id >= {int(since[table])}"
                    query = f"COPY ({rows_of}) TO STDOUT (FORMAT BINARY)"
                    with cursor.copy(query) as copy:
                        for block in copy:
                            out.write(block)
                    rows += cursor.rowcount
                with db.connect() as conn:
                    indexes = table_indexes(conn, table)
                with connection.cursor() as cursor:
                    cursor.execute(f"DROP TABLE IF EXISTS bench_copy_{table}")
                    cursor.execute(f"CREATE TABLE bench_copy_{table} (LIKE {table} INCLUDING DEFAULTS)")
                    for name, definition in indexes:
                        copied = renamed_index(definition, "bench_copy_")
                        if name in later:
                            after.append(copied)
                        else:
                            cursor.execute(copied)
            connection.commit()
            started = time.perf_counter()
            for table in COPIED_TABLES:
                statement = f"COPY bench_copy_{table} FROM STDIN (FORMAT BINARY)"
                with (
                    open(os.path.join(folder, table), "rb") as source,
                    connection.cursor() as cursor,
                    cursor.copy(statement) as copy,
                ):
                    while block := source.read(1 << 20):
                        copy.write(block)
            connection.commit()
            seconds = time.perf_counter() - started
        started = time.perf_counter()
        build_indexes(db, after)
        building = time.perf_counter() - started
        with connection.cursor() as cursor:
            for table in COPIED_TABLES:
                cursor.execute(f"DROP TABLE bench_copy_{table}")
        connection.commit()
    finally:
        raw.close()
    return rows, seconds, building


GOAL_RATE = 5_000  # dossiers per second: 1,000,000 in under 4 minutes (200 s at that rate)
GOAL_MILLION_SECONDS = 240


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.generate", description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--db", default=DEFAULT_DB, help=f"database URL (default {DEFAULT_DB})")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--end", type=date.fromisoformat, default=DEFAULT_END, help="last day of receipts")
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="writer processes on PostgreSQL (default: CPUs)"
    )
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip timing a plain COPY of the same rows afterwards"
    )
    args = parser.parse_args(argv)
    if args.count < 1 or args.years < 1 or args.jobs < 1:
        parser.error("--count, --years and --jobs must be at least 1")
    ctx = prepare_database(args.db)
    signal.signal(signal.SIGTERM, _stop)  # so that a stopped load still builds its deferred indexes
    try:
        since = first_ids(ctx.db)
        phases: dict[str, Any] = {}
        count, seconds = generate(
            ctx, args.count, args.years, args.seed, args.end, jobs=args.jobs, report=phases
        )
        rate = count / seconds
        print(f"{count} dossiers in {seconds:.1f} s ({rate:.0f} per second)")
        print(
            "  phases: "
            + ", ".join(f"{k} {v:.1f} s" for k, v in phases.items() if isinstance(v, float))
            + f"; {len(phases['deferred'])} secondary indexes built after the load"
        )
        if ctx.db.dialect.name == "postgresql" and not args.no_baseline:
            rows, copy_seconds, building = copy_baseline(ctx.db, since, phases["deferred"])
            baseline = copy_seconds + building
            print(
                f"baseline: COPY of the same {rows} rows in {copy_seconds:.1f} s"
                + (
                    f" + building the same {len(phases['deferred'])} indexes in {building:.1f} s"
                    if building
                    else ""
                )
                + f" = {baseline:.1f} s ({count / baseline:.0f} dossiers per second); "
                f"generator / baseline = {seconds / baseline:.2f}"
            )
        million = 1_000_000 / rate
        met = rate >= GOAL_RATE and (count < 1_000_000 or seconds * 1_000_000 / count < GOAL_MILLION_SECONDS)
        print(
            f"goal: at least {GOAL_RATE} dossiers per second, 1,000,000 in under "
            f"{GOAL_MILLION_SECONDS // 60} minutes: {'met' if met else 'not met'} "
            f"({rate:.0f} per second, 1,000,000 in about {million:.0f} s)"
        )
    finally:
        ctx.db.dispose()
    return 0


def _stop(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
