"""Legal scenarios: a TOML file of dated events replayed on a fresh database, judged as the law judges.

`motcua scenario run FILE...` receives, works, supplements, refuses, apologises, ticks the watcher
and asks for reports through the same service functions as the web app, each at the moment the
file gives, then prints one JSON line per dossier and one per report, read back from the database.
An event the engine refuses (a DomainError) is recorded in its dossier's `errors` and the run goes
on; `--check` compares the lines with the file's `[expect.LABEL]` and `[[expect_report]]` tables.
The format is described in scenarios/README.md.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import tomllib
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import MetaData, select, text
from sqlalchemy.orm import Session

from config import Settings, load_settings
from engine.catalogue.loader import load_all
from engine.context import Context
from engine.deadlines.watcher import tick
from engine.errors import Conflict, DomainError, Forbidden, NotFound
from engine.runtime import apology, postal
from engine.runtime import dossiers as svc
from engine.statistics import reports
from engine.statistics.agreement import disagreements
from engine.statistics.periods import parse_period
from models import (
    Agency,
    ApologyLetter,
    Base,
    Dossier,
    Notification,
    Officer,
    Procedure,
    SlaAlert,
    Suspension,
    WorkItem,
    create_db_engine,
)
from models.migrate import upgrade

DEFAULT_APPLICANT = "Nguyễn Văn An"
DEFAULT_TEXTS = {
    "missing": "Giấy tờ còn thiếu theo danh mục của thủ tục",
    "supplement_reason": "Hồ sơ chưa đầy đủ thành phần theo quy định",
    "refuse_reason": "Hồ sơ không đủ điều kiện giải quyết theo quy định",
    "withdraw_reason": "Người nộp hồ sơ xin rút hồ sơ",
}

# The keys each kind of event takes, besides `at` and `do`: (required, optional).
_TARGET = ("dossier", "step")
EVENT_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "receive": (
        ("by",),
        (
            "dossier",
            "procedure",
            "applicant",
            "id_number",
            "phone",
            "email",
            "address",
            "channel",
            "postal_item",
            "delivery_address",
        ),
    ),
    "claim": (("by",), _TARGET),
    "complete": (("by",), (*_TARGET, "outcome", "comment")),
    "supplement": (("by",), (*_TARGET, "missing", "reason", "late_reason")),
    "resume": (("by",), ("dossier", "note")),
    "refuse": (("by",), (*_TARGET, "reason")),
    "apology": (("by",), ("dossier", "new_appointment", "reason")),
    "issue_apology": (("by",), ("dossier",)),
    "return": (("by",), (*_TARGET, "collected_by")),
    "withdraw": (("by",), ("dossier", "reason")),
    "post": (("by", "item_number"), ("dossier",)),
    "delivered": (("by", "item_number"), ("dossier", "status")),
    "tick": ((), ()),
    "report": (("period",), ("agency",)),
}
DOSSIER_FREE = ("tick", "report")
TOP_KEYS = ("title", "procedure", "settings", "event", "expect", "expect_report")
# Settings a scenario may not change: where things are stored, and secrets.
FIXED_SETTINGS = ("database_url", "attachments_dir", "workflows_dir", "secret_key", "extra")

# Report line key -> Biểu 06 column key.
REPORT_COLUMNS = {
    "received": "received_total",
    "received_online": "received_online",
    "received_in_person_post": "received_in_person",
    "carried_over": "received_carried",
    "resolved": "resolved_total",
    "resolved_early": "resolved_early",
    "resolved_on_time": "resolved_on_time",
    "resolved_late": "resolved_late",
    "resolved_late_with_letter": "resolved_late_letter",
    "in_progress": "in_progress_total",
    "in_progress_not_due": "in_progress_not_due",
    "in_progress_overdue": "in_progress_overdue",
    "supplement": "supplement",
    "refused": "refused",
    "withdrawn": "withdrawn",
}
REPORT_KEYS = ("event", "at", "period", "agency", "error", *REPORT_COLUMNS, "disagreements")
LIST_KEYS = ("letters", "supplement_requests", "alerts", "steps", "notices", "errors")
DOSSIER_KEYS = (
    "dossier",
    "code",
    "procedure",
    "status",
    "received_at",
    "legal_due",
    "original_legal_due",
    "appointment",
    "appointment_moved_at",
    "result_class",
    "late",
    "late_at",
    "judged_at",
    "finished_at",
    "returned_at",
    *LIST_KEYS,
)
# Derived keys an expectation may use: counts of the lists, and "contains" over kinds.
COUNT_KEYS = {f"{key}_count": key for key in LIST_KEYS}
CONTAINS_KEYS = {"alerts_kinds": ("alerts", "kind"), "notices_kinds": ("notices", None)}
EXPECT_KEYS = (*DOSSIER_KEYS, *COUNT_KEYS, *CONTAINS_KEYS, "step_classes")


class ScenarioError(Exception):
    """A scenario file that cannot be run: bad TOML, unknown event, bad time, missing key."""


# ---------------------------------------------------------------------------
# the file


@dataclass(frozen=True)
class Event:
    """One dated event of a scenario; `number` counts from 1 in file order."""

    number: int
    do: str
    at: datetime
    label: str | None
    values: dict[str, Any]

    def get(self, key: str, default: Any = None) -> Any:
        """A value of the event, or the default."""
        return self.values.get(key, default)


@dataclass(frozen=True)
class Scenario:
    """A parsed scenario file."""

    path: Path
    title: str
    settings: dict[str, Any]
    events: tuple[Event, ...]
    labels: tuple[str, ...]
    expect: dict[str, dict[str, Any]]
    expect_report: tuple[dict[str, Any], ...]

    @property
    def name(self) -> str:
        """The file's name, as printed in every line."""
        return self.path.name


def parse_moment(value: object, tz: tzinfo) -> datetime:
    """A moment from TOML: an ISO string or a TOML date-time; local time when it has no offset."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and len(value.strip()) > 10:
        moment = datetime.fromisoformat(value.strip())
    else:
        raise ValueError(f"not a date and time: {value!r} (write e.g. 2026-11-23T08:00)")
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def _settings(raw: object, where: str) -> dict[str, Any]:
    """Typed overrides from the `[settings]` table, parsed as the MOTCUA_* variables are."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: `settings` must be a table")
    names = {f.name for f in fields(Settings)} - set(FIXED_SETTINGS)
    unknown = sorted(set(raw) - names)
    if unknown:
        raise ScenarioError(f"{where}: settings: unknown or fixed setting `{unknown[0]}`")
    environ = {
        f"MOTCUA_{k.upper()}": str(v).lower() if isinstance(v, bool) else str(v) for k, v in raw.items()
    }
    try:
        parsed = load_settings(environ)
    except ValueError as exc:
        raise ScenarioError(f"{where}: settings: {exc}") from exc
    return {k: getattr(parsed, k) for k in raw}


def _event(number: int, raw: object, tz: tzinfo, usernames: Collection[str] | None) -> Event:
    where = f"event {number}"
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: must be a table ([[event]])")
    do = raw.get("do")
    if do is None:
        raise ScenarioError(f"{where}: missing key `do`")
    if do not in EVENT_KEYS:
        raise ScenarioError(f"{where}: unknown `do = {do!r}`; one of: {', '.join(EVENT_KEYS)}")
    where = f"event {number} ({do})"
    required, optional = EVENT_KEYS[do]
    for key in ("at", *required):
        if key not in raw:
            raise ScenarioError(f"{where}: missing key `{key}`")
    unknown = sorted(set(raw) - {"at", "do", *required, *optional})
    if unknown:
        allowed = ", ".join(("at", "do", *required, *optional))
        raise ScenarioError(f"{where}: unknown key `{unknown[0]}`; this event takes: {allowed}")
    try:
        at = parse_moment(raw["at"], tz)
    except ValueError as exc:
        raise ScenarioError(f"{where}: key `at`: {exc}") from exc
    values = {k: v for k, v in raw.items() if k not in ("at", "do", "dossier")}
    if "new_appointment" in values:
        try:
            values["new_appointment"] = parse_moment(values["new_appointment"], tz)
        except ValueError as exc:
            raise ScenarioError(f"{where}: key `new_appointment`: {exc}") from exc
    for key, value in values.items():
        if key == "missing" and isinstance(value, list) and all(isinstance(v, str) for v in value):
            continue
        if not isinstance(value, str) and key != "new_appointment":
            raise ScenarioError(f"{where}: key `{key}` must be a string")
    if usernames is not None and "by" in values and values["by"] not in usernames:
        raise ScenarioError(f"{where}: key `by`: no officer {values['by']!r} in the demo organisation")
    if do == "report":
        try:
            parse_period(values["period"], tz)
        except DomainError as exc:
            raise ScenarioError(f"{where}: key `period`: {exc.message}") from exc
    label = raw.get("dossier")
    if label is not None and not isinstance(label, str):
        raise ScenarioError(f'{where}: key `dossier` must be a string (a label such as "A")')
    return Event(number, do, at, label, values)


def _resolve_labels(events: list[Event], default_procedure: str | None, where: str) -> list[Event]:
    """Give every dossier event its label; check each label is received once, before it is used."""
    receives = [e for e in events if e.do == "receive"]
    single = (receives[0].label or "A") if len(receives) == 1 else None
    received: dict[str, int] = {}
    resolved: list[Event] = []
    for event in events:
        name = f"{where}: event {event.number} ({event.do})"
        label = event.label
        if event.do in DOSSIER_FREE:
            if label is not None:
                raise ScenarioError(f"{name}: unknown key `dossier`")
            resolved.append(event)
            continue
        if label is None:
            if single is None:
                raise ScenarioError(f"{name}: missing key `dossier` (the scenario has several dossiers)")
            label = single
        if event.do == "receive":
            if label in received:
                raise ScenarioError(
                    f"{name}: dossier {label!r} is already received at event {received[label]}"
                )
            if "procedure" not in event.values and default_procedure is None:
                raise ScenarioError(f"{name}: missing key `procedure` (and no `procedure` at the top)")
            received[label] = event.number
        elif label not in received:
            raise ScenarioError(f"{name}: dossier {label!r} is not received before this event")
        resolved.append(Event(event.number, event.do, event.at, label, event.values))
    return resolved


def _expectations(doc: dict[str, Any], labels: list[str], events: list[Event], where: str) -> tuple:
    expect = doc.get("expect", {})
    if not isinstance(expect, dict):
        raise ScenarioError(f"{where}: `expect` must be tables [expect.LABEL]")
    for label, table in expect.items():
        if label not in labels:
            raise ScenarioError(f"{where}: [expect.{label}]: no dossier {label!r} in the scenario")
        if not isinstance(table, dict):
            raise ScenarioError(f"{where}: [expect.{label}] must be a table")
        unknown = sorted(set(table) - set(EXPECT_KEYS))
        if unknown:
            raise ScenarioError(f"{where}: [expect.{label}]: unknown key `{unknown[0]}`")
    expect_report = doc.get("expect_report", [])
    if not isinstance(expect_report, list):
        raise ScenarioError(f"{where}: `expect_report` must be tables [[expect_report]]")
    report_events = {e.number for e in events if e.do == "report"}
    for index, table in enumerate(expect_report, start=1):
        name = f"{where}: expect_report {index}"
        if not isinstance(table, dict) or "event" not in table:
            raise ScenarioError(f"{name}: missing key `event` (the number of a report event)")
        if table["event"] not in report_events:
            raise ScenarioError(f"{name}: event {table['event']} is not a report event")
        unknown = sorted(set(table) - set(REPORT_KEYS))
        if unknown:
            raise ScenarioError(f"{name}: unknown key `{unknown[0]}`")
    return expect, tuple(expect_report)


def load_scenario(
    path: str | Path, *, tz: tzinfo | None = None, usernames: Collection[str] | None = None
) -> Scenario:
    """Read and check a scenario file; any problem is a ScenarioError naming the event and key."""
    path = Path(path)
    where = str(path)
    try:
        with path.open("rb") as handle:
            doc = tomllib.load(handle)
    except OSError as exc:
        raise ScenarioError(f"{where}: cannot read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{where}: not valid TOML: {exc}") from exc
    unknown = sorted(set(doc) - set(TOP_KEYS))
    if unknown:
        raise ScenarioError(f"{where}: unknown key `{unknown[0]}`; a scenario has: {', '.join(TOP_KEYS)}")
    settings = _settings(doc.get("settings"), where)
    zone = tz or ZoneInfo(settings.get("timezone", Settings().timezone))
    raw_events = doc.get("event", [])
    if not isinstance(raw_events, list) or not raw_events:
        raise ScenarioError(f"{where}: no events ([[event]] tables)")
    events: list[Event] = []
    for number, raw in enumerate(raw_events, start=1):
        try:
            event = _event(number, raw, zone, usernames)
        except ScenarioError as exc:
            raise ScenarioError(f"{where}: {exc}") from exc
        if events and event.at < events[-1].at:
            raise ScenarioError(
                f"{where}: event {number} ({event.do}): key `at`: {event.at.isoformat()} is before "
                f"event {number - 1}; events go forward in time"
            )
        events.append(event)
    procedure = doc.get("procedure")
    if procedure is not None and not isinstance(procedure, str):
        raise ScenarioError(f'{where}: `procedure` must be a string such as "1.001806"')
    events = _resolve_labels(events, procedure, where)
    labels = list(dict.fromkeys(e.label for e in events if e.do == "receive" and e.label))
    if procedure is not None:
        events = [
            Event(e.number, e.do, e.at, e.label, {"procedure": procedure, **e.values})
            if e.do == "receive"
            else e
            for e in events
        ]
    expect, expect_report = _expectations(doc, labels, events, where)
    return Scenario(
        path=path,
        title=str(doc.get("title", "")),
        settings=settings,
        events=tuple(events),
        labels=tuple(labels),
        expect=expect,
        expect_report=expect_report,
    )


def demo_usernames(workflows_dir: str | Path) -> set[str]:
    """The usernames of the demo organisation, which scenarios act as."""
    with (Path(workflows_dir) / "demo" / "organisation.toml").open("rb") as handle:
        return {o["username"] for o in tomllib.load(handle).get("officer", [])}


# ---------------------------------------------------------------------------
# the run


@dataclass
class Outcome:
    """What a run left: one line per dossier and per report, and the errors of dossier-free events."""

    scenario: Scenario
    dossiers: list[dict[str, Any]] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)
    other_errors: list[dict[str, Any]] = field(default_factory=list)

    def lines(self) -> list[dict[str, Any]]:
        """The JSON lines: dossiers, then reports, then errors of events without a dossier."""
        name = self.scenario.name
        return (
            [{"scenario": name, **d} for d in self.dossiers]
            + [{"scenario": name, "report": r} for r in self.reports]
            + [{"scenario": name, "error": e} for e in self.other_errors]
        )


def _iso(moment: datetime | None, tz: tzinfo) -> str | None:
    if moment is None:
        return None
    local = moment.astimezone(tz)
    return local.isoformat(timespec="minutes" if not (local.second or local.microsecond) else "seconds")


class _Run:
    """Replays the events of one scenario on a loaded database."""

    def __init__(self, ctx: Context, scenario: Scenario) -> None:
        self.ctx = ctx
        self.scenario = scenario
        self.tz = ctx.calendar.tz
        self.dossier_ids: dict[str, int] = {}
        self.errors: dict[str, list[dict[str, Any]]] = {label: [] for label in scenario.labels}
        self.outcome = Outcome(scenario)
        with ctx.uow() as uow:
            self.officers = {o.username: o for o in uow.session.scalars(select(Officer))}
            uow.session.expunge_all()

    def officer(self, event: Event) -> Officer:
        username = event.get("by")
        officer = self.officers.get(username)
        if officer is None:
            raise NotFound(f"Không tìm thấy cán bộ {username}")
        return officer

    def run(self) -> Outcome:
        for event in self.scenario.events:
            try:
                getattr(self, f"do_{event.do}")(event)
            except DomainError as exc:
                error = {"event": event.number, "status": exc.http_status, "message": exc.message}
                if event.label is not None:
                    self.errors[event.label].append(error)
                elif event.do == "report":
                    self.outcome.reports.append(self._report_head(event) | {"error": error})
                else:
                    self.outcome.other_errors.append({"do": event.do, **error})
            except Exception as exc:
                raise RuntimeError(
                    f"{self.scenario.path}: event {event.number} ({event.do}) failed unexpectedly: {exc!r}"
                ) from exc
        with self.ctx.uow() as uow:
            for label in self.scenario.labels:
                self.outcome.dossiers.append(self._dossier_line(uow.session, label))
        return self.outcome

    # -- finding what an event acts on

    def dossier(self, session: Session, event: Event) -> Dossier:
        ident = self.dossier_ids.get(event.label or "")
        found = session.get(Dossier, ident) if ident is not None else None
        if found is None:
            raise NotFound(f"Hồ sơ {event.label} chưa được tiếp nhận")
        return found

    def code(self, event: Event) -> str:
        with self.ctx.uow() as uow:
            return self.dossier(uow.session, event).code

    def item(self, event: Event, kinds: tuple[str | None, ...] | None) -> WorkItem:
        """The dossier's open step the event names, or the single one its officer can work."""
        officer = self.officer(event)
        step = event.get("step")
        with self.ctx.uow() as uow:
            dossier = self.dossier(uow.session, event)
            items = svc.open_items(uow.session, dossier)
            uow.session.expunge_all()
        if step is not None:
            found = [i for i in items if i.task_id == step]
            if not found:
                raise NotFound(f"Hồ sơ {dossier.code} không có bước «{step}» đang chờ xử lý")
            return found[0]
        if not items:
            raise Conflict(f"Hồ sơ {dossier.code} không còn bước nào chờ xử lý")
        candidates = [i for i in items if kinds is None or i.kind in kinds] or items
        mine = [i for i in candidates if i.agency_id == officer.agency_id and officer.has_role(i.role)]
        if len(mine) == 1:
            return mine[0]
        if not mine:
            if len(candidates) == 1:
                return candidates[0]  # the engine says why this officer cannot work it
            raise Forbidden(
                f"Cán bộ {officer.username} không có bước nào đang chờ xử lý của hồ sơ {dossier.code}"
            )
        names = ", ".join(i.task_id for i in mine)
        raise Conflict(
            f"Cán bộ {officer.username} có nhiều bước đang chờ xử lý của hồ sơ {dossier.code} ({names}); "
            "cần ghi rõ bước (step)"
        )

    def claimed(self, event: Event, kinds: tuple[str | None, ...] | None) -> tuple[WorkItem, int]:
        """The step, claimed for the event's officer when it waits in the pool and they may work it."""
        item = self.item(event, kinds)
        officer = self.officer(event)
        workable = item.agency_id == officer.agency_id and officer.has_role(item.role)
        if item.assignee_id is None and workable:
            svc.claim(self.ctx, item.id, officer.id, event.at)
        return item, officer.id

    def letter(self, event: Event) -> ApologyLetter | None:
        with self.ctx.uow() as uow:
            dossier = self.dossier(uow.session, event)
            letter = uow.session.scalars(
                select(ApologyLetter).where(ApologyLetter.dossier_id == dossier.id)
            ).one_or_none()
            uow.session.expunge_all()
        return letter

    # -- the events

    def do_receive(self, event: Event) -> None:
        receipt = svc.receive_dossier(
            self.ctx,
            procedure_code=event.get("procedure"),
            applicant=svc.Applicant(
                name=event.get("applicant", DEFAULT_APPLICANT),
                id_number=event.get("id_number"),
                phone=event.get("phone"),
                email=event.get("email"),
                address=event.get("address"),
            ),
            channel=event.get("channel", "in_person"),
            officer_id=self.officer(event).id,
            now=event.at,
            # A scenario's applicant left no phone or ID number unless the event names one.
            no_contact=not (event.get("phone") or event.get("id_number")),
            postal=postal.PostalIntake(
                item_number=event.get("postal_item"),
                result_by_post=bool(event.get("delivery_address")),
                delivery_address=event.get("delivery_address"),
            )
            if event.get("postal_item") or event.get("delivery_address")
            else None,
        )
        self.dossier_ids[event.label or ""] = receipt.dossier_id

    def do_claim(self, event: Event) -> None:
        item = self.item(event, None)
        svc.claim(self.ctx, item.id, self.officer(event).id, event.at)

    def do_complete(self, event: Event) -> None:
        item, officer_id = self.claimed(event, (None,))
        svc.complete(
            self.ctx,
            item.id,
            officer_id,
            now=event.at,
            outcome=event.get("outcome"),
            comment=event.get("comment"),
        )

    def do_supplement(self, event: Event) -> None:
        item, officer_id = self.claimed(event, (None,))
        missing = event.get("missing", DEFAULT_TEXTS["missing"])
        svc.request_supplement(
            self.ctx,
            item.id,
            officer_id,
            missing=[missing] if isinstance(missing, str) else list(missing),
            reason=event.get("reason", DEFAULT_TEXTS["supplement_reason"]),
            now=event.at,
            late_reason=event.get("late_reason"),
        )

    def do_resume(self, event: Event) -> None:
        svc.resume(self.ctx, self.code(event), self.officer(event).id, event.at, event.get("note"))

    def do_refuse(self, event: Event) -> None:
        item, officer_id = self.claimed(event, (None,))
        svc.refuse(
            self.ctx,
            item.id,
            officer_id,
            reason=event.get("reason", DEFAULT_TEXTS["refuse_reason"]),
            now=event.at,
        )

    def do_apology(self, event: Event) -> None:
        officer_id = self.officer(event).id
        letter = self.letter(event)
        if letter is None:
            letter_id = apology.create_draft_apology(self.ctx, self.code(event), officer_id, event.at)
            letter = self.letter(event)
        else:
            letter_id = letter.id
        if event.get("new_appointment") is None and event.get("reason") is None:
            return
        apology.edit_apology(
            self.ctx,
            letter_id,
            officer_id,
            reason=event.get("reason", letter.reason if letter else ""),
            new_due=event.get("new_appointment", letter.new_due_at if letter else None),
            now=event.at,
        )

    def do_issue_apology(self, event: Event) -> None:
        letter = self.letter(event)
        if letter is None:
            raise NotFound(f"Hồ sơ {self.code(event)} chưa có phiếu xin lỗi")
        apology.issue_apology(self.ctx, letter.id, self.officer(event).id, event.at)

    def do_return(self, event: Event) -> None:
        item, officer_id = self.claimed(event, ("return",))
        with self.ctx.uow() as uow:
            applicant = self.dossier(uow.session, event).applicant_name
        svc.return_result(
            self.ctx, item.id, officer_id, collected_by=event.get("collected_by", applicant), now=event.at
        )

    def do_post(self, event: Event) -> None:
        postal.hand_to_post(
            self.ctx,
            self.code(event),
            self.officer(event).id,
            item_number=event.get("item_number"),
            now=event.at,
        )

    def do_delivered(self, event: Event) -> None:
        postal.record_delivery(
            self.ctx,
            self.officer(event).id,
            event.get("item_number"),
            status=event.get("status", "delivered"),
            now=event.at,
        )

    def do_withdraw(self, event: Event) -> None:
        svc.withdraw(
            self.ctx,
            self.code(event),
            self.officer(event).id,
            reason=event.get("reason", DEFAULT_TEXTS["withdraw_reason"]),
            now=event.at,
        )

    def do_tick(self, event: Event) -> None:
        tick(self.ctx, event.at, holder="scenario")

    def _report_head(self, event: Event) -> dict[str, Any]:
        return {
            "event": event.number,
            "at": _iso(event.at, self.tz),
            "period": event.get("period"),
            "agency": event.get("agency"),
        }

    def do_report(self, event: Event) -> None:
        period = parse_period(event.get("period"), self.tz)
        with self.ctx.uow() as uow:
            views = reports.statistics_views(uow.session, period, event.get("agency"), now=event.at)
            differing = disagreements(uow.session, period, event.get("agency"), now=event.at)
        counts = views["field"].total.counts
        line = self._report_head(event)
        line.update({key: counts[column] for key, column in REPORT_COLUMNS.items()})
        # Biểu 06, the indicators and the dashboard must agree for every scenario.
        line["disagreements"] = differing
        self.outcome.reports.append(line)

    # -- reading back

    def _dossier_line(self, session: Session, label: str) -> dict[str, Any]:
        line: dict[str, Any] = dict.fromkeys(DOSSIER_KEYS)
        line.update({key: [] for key in LIST_KEYS})
        line["dossier"] = label
        line["late"] = False
        line["errors"] = self.errors[label]
        ident = self.dossier_ids.get(label)
        d = session.get(Dossier, ident) if ident is not None else None
        if d is None:
            return line
        iso = self.iso
        agencies = {a.id: a.code for a in session.scalars(select(Agency))}
        line.update(
            code=d.code,
            procedure=session.scalars(select(Procedure.code).where(Procedure.id == d.procedure_id)).one(),
            status=d.status,
            received_at=iso(d.received_at),
            legal_due=iso(d.due_at),
            original_legal_due=iso(d.original_due_at),
            appointment=iso(d.appointment_at),
            appointment_moved_at=iso(d.appointment_moved_at),
            result_class=d.result_class,
            late=d.late_at is not None,
            late_at=iso(d.late_at),
            judged_at=iso(d.judged_at),
            finished_at=iso(d.finished_at),
            returned_at=iso(d.returned_at),
        )
        line["letters"] = [
            {
                "state": letter.status,
                "agency": agencies.get(letter.agency_id),
                "holder": agencies.get(letter.holder_agency_id) if letter.holder_agency_id else None,
                "drafted_at": iso(letter.created_at),
                "issued_at": iso(letter.issued_at),
                "late": bool(letter.issued_late),
                "new_appointment": iso(letter.new_due_at),
            }
            for letter in session.scalars(
                select(ApologyLetter).where(ApologyLetter.dossier_id == d.id).order_by(ApologyLetter.id)
            )
        ]
        line["supplement_requests"] = [
            {"at": iso(s.started_at), "late": bool(s.late), "resumed_at": iso(s.ended_at)}
            for s in session.scalars(
                select(Suspension)
                .where(Suspension.dossier_id == d.id, Suspension.kind == "supplement")
                .order_by(Suspension.started_at, Suspension.id)
            )
        ]
        line["alerts"] = [
            {"kind": a.kind, "at": iso(a.raised_at)}
            for a in session.scalars(
                select(SlaAlert).where(SlaAlert.dossier_id == d.id).order_by(SlaAlert.raised_at, SlaAlert.id)
            )
        ]
        line["steps"] = [
            {
                "step": i.task_id,
                "agency": agencies.get(i.agency_id),
                "opened_at": iso(i.created_at),
                "completed_at": iso(i.completed_at),
                "outcome": i.outcome,
                "result_class": i.result_class,
            }
            for i in session.scalars(
                select(WorkItem).where(WorkItem.dossier_id == d.id).order_by(WorkItem.id)
            )
            if i.outcome != "cancelled"
        ]
        kinds = session.scalars(
            select(Notification.kind)
            .where(
                Notification.dossier_id == d.id, Notification.kind.startswith("applicant_", autoescape=True)
            )
            .order_by(Notification.id)
        )
        line["notices"] = list(dict.fromkeys(k.removeprefix("applicant_") for k in kinds))
        return line

    def iso(self, moment: datetime | None) -> str | None:
        return _iso(moment, self.tz)


def run_scenario(ctx: Context, scenario: Scenario) -> Outcome:
    """Replay a scenario on a database that holds the demo organisation and the sample procedures."""
    return _Run(ctx, scenario).run()


# ---------------------------------------------------------------------------
# expectations


NULL = "null"


def _show(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _as_moment(value: object, tz: tzinfo) -> datetime | None:
    if isinstance(value, date) and not isinstance(value, datetime):
        return None
    try:
        return parse_moment(value, tz)
    except (ValueError, TypeError):
        return None


def _diff(path: str, expected: object, actual: object, tz: tzinfo) -> Iterator[str]:
    """Each mismatch between an expected value and the actual one, as `path: expected X, got Y`."""
    if expected == NULL:
        # TOML has no null: the string "null" expects JSON null.
        if actual is not None:
            yield f"{path}: expected null, got {_show(actual)}"
        return
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key, value in expected.items():
            if key not in actual:
                yield f"{path}.{key}: expected {_show(value)}, but the line has no `{key}`"
            else:
                yield from _diff(f"{path}.{key}", value, actual[key], tz)
        return
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            yield f"{path}: expected {len(expected)} entries, got {len(actual)}: {_show(actual)}"
            return
        for index, (e, a) in enumerate(zip(expected, actual, strict=True)):
            yield from _diff(f"{path}[{index}]", e, a, tz)
        return
    if isinstance(actual, str) and (a_moment := _as_moment(actual, tz)) is not None:
        e_moment = _as_moment(expected, tz)
        if e_moment is None or e_moment != a_moment:
            yield f"{path}: expected {_show(expected)}, got {_show(actual)}"
        return
    if expected != actual or type(expected) is not type(actual):
        yield f"{path}: expected {_show(expected)}, got {_show(actual)}"


def _dossier_diffs(label: str, expected: dict[str, Any], line: dict[str, Any], tz: tzinfo) -> Iterator[str]:
    where = f"dossier {label}"
    for key, value in expected.items():
        if key in COUNT_KEYS:
            got = len(line[COUNT_KEYS[key]])
            if got != value:
                yield f"{where}: {key}: expected {_show(value)}, got {got}"
        elif key in CONTAINS_KEYS:
            source, attribute = CONTAINS_KEYS[key]
            present = [e[attribute] if attribute else e for e in line[source]]
            for kind in [value] if isinstance(value, str) else value:
                if kind not in present:
                    yield f"{where}: {key}: expected to contain {_show(kind)}, got {_show(present)}"
        elif key == "step_classes":
            classes = {s["step"]: s["result_class"] for s in line["steps"] if s["completed_at"]}
            for step, klass in value.items():
                if step not in classes:
                    yield f"{where}: step_classes.{step}: expected {_show(klass)}, but it is not completed"
                else:
                    yield from _diff(f"{where}: step_classes.{step}", klass, classes[step], tz)
        else:
            yield from _diff(f"{where}: {key}", value, line[key], tz)


def check_outcome(outcome: Outcome, tz: tzinfo) -> list[str]:
    """Every mismatch between the scenario's expectations and what the run left."""
    scenario = outcome.scenario
    lines = {d["dossier"]: d for d in outcome.dossiers}
    found = [m for label, e in scenario.expect.items() for m in _dossier_diffs(label, e, lines[label], tz)]
    by_event = {r["event"]: r for r in outcome.reports}
    for expected in scenario.expect_report:
        report = by_event[expected["event"]]
        where = f"report of event {expected['event']}"
        for key, value in expected.items():
            if key not in report:
                found.append(f"{where}: {key}: expected {_show(value)}, but the line has no `{key}`")
            else:
                found += _diff(f"{where}: {key}", value, report[key], tz)
    return [f"{scenario.path}: {m}" for m in found]


# ---------------------------------------------------------------------------
# fresh databases and the command


def _empty(ctx: Context) -> None:
    """Delete every row (the schema stays), so the next scenario starts from a fresh load."""
    tables = [t.name for t in Base.metadata.sorted_tables]
    with ctx.db.begin() as conn:
        if ctx.db.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(tables):
                conn.execute(text(f"DELETE FROM {table}"))


def recreate_schema(url: str) -> None:
    """Drop everything in the database and migrate it to the newest schema."""
    db = create_db_engine(url)
    try:
        with db.begin() as conn:
            if db.dialect.name == "postgresql":
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
            else:
                existing = MetaData()
                existing.reflect(conn)
                existing.drop_all(conn)
        upgrade(db)
    finally:
        db.dispose()


class FreshDatabases:
    """A loaded database per scenario: copies of a migrated SQLite template, or one emptied server."""

    def __init__(
        self, folder: Path, loaded_at: datetime, url: str | None = None, base: Settings | None = None
    ) -> None:
        self.folder = folder
        self.loaded_at = loaded_at  # when the organisation and the catalogue are loaded
        self.url = url
        self.base = base or Settings()
        self.count = 0
        self.template: Path | None = None
        self.recreated = False

    @contextmanager
    def context(self, overrides: dict[str, Any]) -> Iterator[Context]:
        """A context on a freshly loaded database, with the scenario's settings."""
        self.count += 1
        attachments = str(self.folder / f"attachments-{self.count}")
        if self.url is None:
            if self.template is None:
                self.template = self.folder / "template.db"
                ctx = Context.from_settings(self._settings(f"sqlite:///{self.template}", attachments, {}))
                upgrade(ctx.db)
                load_all(ctx, self.loaded_at)
                ctx.db.dispose()
            path = self.folder / f"scenario-{self.count}.db"
            shutil.copy(self.template, path)
            ctx = Context.from_settings(self._settings(f"sqlite:///{path}", attachments, overrides))
        else:
            if not self.recreated:
                recreate_schema(self.url)
                self.recreated = True
            ctx = Context.from_settings(self._settings(self.url, attachments, overrides))
            _empty(ctx)
            load_all(ctx, self.loaded_at)
        try:
            yield ctx
        finally:
            ctx.db.dispose()

    def _settings(self, url: str, attachments: str, overrides: dict[str, Any]) -> Settings:
        return self.base.with_overrides(database_url=url, attachments_dir=attachments, **overrides)


def scenario_files(names: Iterable[str | Path]) -> list[Path]:
    """The files named, a folder standing for its *.toml files in name order."""
    paths: list[Path] = []
    for name in names:
        path = Path(name)
        paths += sorted(path.glob("*.toml")) if path.is_dir() else [path]
    return paths


def run_files(
    names: Iterable[str | Path],
    *,
    database_url: str | None = None,
    check: bool = False,
    out: Callable[[str], None] = print,
    err: Callable[[str], None] = print,
) -> int:
    """Run scenario files; print their JSON lines. Exit status: 2 invalid file, 1 mismatch, else 0."""
    base = Settings()
    usernames = demo_usernames(base.workflows_dir)
    scenarios, problems = [], []
    for path in scenario_files(names):
        try:
            scenarios.append(load_scenario(path, usernames=usernames))
        except ScenarioError as exc:
            problems.append(str(exc))
    if problems or not scenarios:
        for problem in problems or ["no scenario files"]:
            err(problem)
        return 2
    mismatched = False
    with tempfile.TemporaryDirectory(prefix="motcua-scenario-") as folder:
        # The catalogue is loaded the day before the first event of all.
        loaded_at = min(s.events[0].at for s in scenarios) - timedelta(days=1)
        databases = FreshDatabases(Path(folder), loaded_at, database_url, base)
        for scenario in scenarios:
            with databases.context(scenario.settings) as ctx:
                outcome = run_scenario(ctx, scenario)
                tz = ctx.calendar.tz
            for line in outcome.lines():
                out(json.dumps(line, ensure_ascii=False))
            if check:
                mismatches = check_outcome(outcome, tz)
                for mismatch in mismatches:
                    err(mismatch)
                expectations = sum(len(e) for e in scenario.expect.values()) + len(scenario.expect_report)
                if not mismatches:
                    err(f"{scenario.path}: ok ({expectations} expectations)")
                mismatched = mismatched or bool(mismatches)
    return 1 if mismatched else 0


__all__ = [
    "Event",
    "FreshDatabases",
    "Outcome",
    "Scenario",
    "ScenarioError",
    "check_outcome",
    "load_scenario",
    "run_files",
    "run_scenario",
]
