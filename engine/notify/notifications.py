"""Notifications: the outbox, Vietnamese message templates, officers' in-app list and the dispatcher.

Every message is one outbox row per recipient and channel, written in the transaction of
the use case that causes it, under a unique dedupe key: a repeated use case, a repeated tick
or a second scheduler can never queue it twice. In-app rows are delivered by being stored;
e-mail and SMS rows are sent by `dispatch`, which claims rows atomically (so two dispatchers
never send one row twice), retries failures with exponential backoff and finally marks them
failed for the administrator.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BindParameter, Select, and_, func, select, update
from sqlalchemy.orm import Session

from engine.context import Context
from engine.formatting import local_time, short_time
from engine.notify.channels import Channel, ChannelError, channels_from_settings

# The outbox itself lives in the kernel, below every domain; re-exported here for the callers.
from engine.outbox import Message as Message
from engine.outbox import enqueue as enqueue
from engine.outbox import enqueue_many as enqueue_many
from engine.outbox import notify_officers as notify_officers
from engine.outbox import officer_rows as officer_rows
from models import Agency, Dossier, Notification, Procedure

LOG = logging.getLogger("motcua.notifications")
# A dispatcher that claimed a row and did not finish within this time has died while sending.
CLAIM_SECONDS = 600
# The header shows "99+" beyond this; counting stops there so it never walks a long history.
UNREAD_CAP = 100
SMS_MAX = 320


# ---------------------------------------------------------------------------
# formatting (times and numbers: engine.formatting)


def plain(text: str) -> str:
    """Vietnamese without diacritics: SMS in plain GSM characters fit 160 per part, not 70."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _sms(text: str) -> str:
    text = plain(" ".join(text.split()))
    return text if len(text) <= SMS_MAX else text[: SMS_MAX - 3].rstrip() + "..."


# ---------------------------------------------------------------------------
# templates: what the applicant receives


def applicant_message(
    event: str,
    *,
    tz: ZoneInfo,
    code: str,
    applicant: str,
    agency: str,
    procedure: str,
    due: datetime | None = None,
    new_due: datetime | None = None,
    fault_agency: str | None = None,
    reason: str | None = None,
    missing: Iterable[str] = (),
) -> Message:
    """The message to the applicant for a dossier event; `agency` is the receiving office."""
    greeting = f"Kính gửi Ông/Bà {applicant},\n\n"
    sign = f"\n\n{agency} - Bộ phận Một cửa"
    if event == "received":
        return Message(
            f"Đã tiếp nhận hồ sơ {code}",
            greeting + f"{agency} đã tiếp nhận hồ sơ {code} về thủ tục «{procedure}».\n"
            f"Thời gian hẹn trả kết quả: {local_time(due, tz)}.\n"
            "Ông/Bà có thể tra cứu tình trạng hồ sơ bằng mã hồ sơ trên." + sign,
            _sms(f"{agency}: da tiep nhan ho so {code}. Hen tra ket qua {short_time(due, tz)}."),
        )
    if event == "supplement":
        items = "\n".join(f"- {m}" for m in missing)
        return Message(
            f"Yêu cầu bổ sung hồ sơ {code}",
            greeting + f"Hồ sơ {code} về thủ tục «{procedure}» cần được bổ sung, hoàn thiện.\n"
            f"Lý do: {reason or ''}\n"
            f"Giấy tờ cần bổ sung:\n{items}\n"
            f"Xin Ông/Bà nộp bổ sung tại Bộ phận Một cửa {agency}. Thời gian giải quyết được tính "
            "khi nhận đủ hồ sơ." + sign,
            _sms(f"{agency}: ho so {code} can bo sung giay to. Xin lien he Bo phan Mot cua {agency}."),
        )
    if event == "apology":
        fault = fault_agency or agency
        return Message(
            f"Xin lỗi và hẹn lại ngày trả kết quả hồ sơ {code}",
            greeting + f"Hồ sơ {code} về thủ tục «{procedure}» hẹn trả kết quả {local_time(due, tz)} "
            "chưa được giải quyết xong đúng hẹn.\n"
            f"Lý do: {reason or ''}\n"
            f"{fault} xin lỗi Ông/Bà vì sự chậm trễ này và hẹn trả kết quả vào "
            f"{local_time(new_due, tz)}, tại Bộ phận Một cửa {agency}." + sign,
            _sms(
                f"{fault} xin loi vi ho so {code} cham tre. Hen tra ket qua moi "
                f"{short_time(new_due, tz)} tai Bo phan Mot cua {agency}."
            ),
        )
    if event == "supplement_received":
        return Message(
            f"Đã nhận đủ hồ sơ bổ sung {code}",
            greeting + f"{agency} đã nhận đủ hồ sơ bổ sung của hồ sơ {code} về thủ tục «{procedure}».\n"
            f"Thời gian giải quyết được tính lại; thời gian hẹn trả kết quả mới: {local_time(new_due, tz)}."
            + sign,
            _sms(
                f"{agency}: da nhan du ho so bo sung {code}. Hen tra ket qua moi {short_time(new_due, tz)}."
            ),
        )
    if event == "refused":
        refusing = fault_agency or agency
        return Message(
            f"Hồ sơ {code} không được giải quyết",
            greeting + f"{refusing} từ chối giải quyết hồ sơ {code} về thủ tục «{procedure}».\n"
            f"Lý do: {reason or ''}\n"
            f"Mời Ông/Bà đến Bộ phận Một cửa {agency} để nhận văn bản từ chối và hồ sơ đã nộp." + sign,
            _sms(
                f"{refusing}: tu choi giai quyet ho so {code}. Xin den Bo phan Mot cua {agency} de nhan "
                "van ban tu choi."
            ),
        )
    if event == "result_ready":
        return Message(
            f"Hồ sơ {code} đã có kết quả",
            greeting + f"Hồ sơ {code} về thủ tục «{procedure}» đã có kết quả giải quyết.\n"
            f"Mời Ông/Bà đến Bộ phận Một cửa {agency} để nhận kết quả, mang theo giấy tiếp nhận "
            "hồ sơ và giấy tờ tùy thân." + sign,
            _sms(f"{agency}: ho so {code} da co ket qua. Moi Ong/Ba den Bo phan Mot cua {agency} de nhan."),
        )
    raise ValueError(f"no applicant template for {event!r}")


def notify_applicant(
    ctx: Context,
    session: Session,
    dossier: Dossier,
    event: str,
    now: datetime,
    *,
    key: str | None = None,
    **details: Any,
) -> int:
    """SMS and e-mail to the applicant (per the contacts they gave) about a dossier event."""
    if not dossier.applicant_phone and not dossier.applicant_email:
        return 0
    agency = session.get_one(Agency, dossier.agency_id)
    procedure = session.get_one(Procedure, dossier.procedure_id)
    message = applicant_message(
        event,
        tz=ctx.calendar.tz,
        code=dossier.code,
        applicant=dossier.applicant_name,
        agency=agency.name,
        procedure=procedure.name,
        due=details.pop("due", dossier.appointment_at or dossier.due_at),
        **details,
    )
    base = f"dossier:{dossier.id}:{event}" + (f":{key}" if key else "")
    queued = 0
    if dossier.applicant_phone and enqueue(
        session,
        dedupe_key=f"{base}:sms",
        channel="sms",
        kind=f"applicant_{event}",
        subject=message.subject,
        body=message.sms,
        now=now,
        address=dossier.applicant_phone.replace(" ", ""),
        dossier_id=dossier.id,
    ):
        queued += 1
    if dossier.applicant_email and enqueue(
        session,
        dedupe_key=f"{base}:email",
        channel="email",
        kind=f"applicant_{event}",
        subject=message.subject,
        body=message.body,
        now=now,
        address=dossier.applicant_email,
        dossier_id=dossier.id,
    ):
        queued += 1
    return queued


# ---------------------------------------------------------------------------
# officers' in-app notifications


@dataclass(frozen=True)
class OfficerNotification:
    """One line of an officer's notification list."""

    id: int
    kind: str
    subject: str
    body: str
    dossier_id: int | None
    dossier_code: str | None
    created_at: datetime
    read_at: datetime | None

    @property
    def unread(self) -> bool:
        """Whether the officer has not read it yet."""
        return self.read_at is None


def unread_count_query(officer_id: int | BindParameter[int]) -> Select[int]:
    """The statement of `unread_count` (the page header reads it with other rows)."""
    capped = (
        select(Notification.id)
        .where(
            Notification.officer_id == officer_id,
            Notification.channel == "in_app",
            Notification.read_at.is_(None),
        )
        .limit(UNREAD_CAP)
        .subquery()
    )
    return select(func.count()).select_from(capped)


def unread_count(session: Session, officer_id: int) -> int:
    """Unread in-app notifications of an officer, counted up to UNREAD_CAP."""
    return session.scalar(unread_count_query(officer_id)) or 0


def officer_notifications(
    session: Session, officer_id: int, limit: int = 50, *, unread_only: bool = False
) -> list[OfficerNotification]:
    """An officer's newest in-app notifications, newest first."""
    stmt = (
        select(Notification, Dossier.code)
        .outerjoin(Dossier, Dossier.id == Notification.dossier_id)
        .where(Notification.officer_id == officer_id, Notification.channel == "in_app")
        .order_by(Notification.id.desc())
        .limit(max(1, min(limit, 500)))
    )
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    return [
        OfficerNotification(
            id=n.id,
            kind=n.kind,
            subject=n.subject,
            body=n.body,
            dossier_id=n.dossier_id,
            dossier_code=code,
            created_at=n.created_at,
            read_at=n.read_at,
        )
        for n, code in session.execute(stmt)
    ]


def mark_read(ctx: Context, officer_id: int, ids: Iterable[int] | None, now: datetime) -> int:
    """Mark the officer's own notifications read (all unread ones when ids is None); returns how many."""
    with ctx.uow() as uow:
        conditions = [
            Notification.officer_id == officer_id,
            Notification.channel == "in_app",
            Notification.read_at.is_(None),
        ]
        if ids is not None:
            wanted = [int(i) for i in ids]
            if not wanted:
                return 0
            conditions.append(Notification.id.in_(wanted))
        count = uow.session.execute(  # type: ignore[attr-defined]
            update(Notification)
            .where(and_(*conditions))
            .values(read_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        uow.commit()
    return count


# ---------------------------------------------------------------------------
# dispatch


@dataclass
class DispatchReport:
    """What one dispatch run did."""

    sent: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    interrupted: list[int] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Rows this run touched."""
        return len(self.sent) + len(self.retried) + len(self.failed) + len(self.interrupted)

    def summary(self) -> str:
        """One line for the CLI and the scheduler's log."""
        return (
            f"sent {len(self.sent)}, retry later {len(self.retried)}, failed {len(self.failed)}, "
            f"interrupted {len(self.interrupted)}"
        )


@dataclass(frozen=True)
class ClaimedMessage:
    id: int
    channel: str
    address: str | None
    subject: str
    body: str
    attempts: int


def backoff_delay(ctx: Context, attempts: int) -> timedelta:
    """Wait before the next attempt after `attempts` failed ones: base x 2**(attempts-1)."""
    return timedelta(seconds=ctx.settings.dispatch_backoff_seconds * 2 ** max(0, attempts - 1))


def claim_batch(ctx: Context, now: datetime, limit: int) -> tuple[list[ClaimedMessage], list[int]]:
    """Atomically move due pending rows to `sending`; a row is claimed by one dispatcher only."""
    with ctx.uow() as uow:
        session = uow.session
        pg = session.get_bind().dialect.name == "postgresql"
        # A dispatcher died while sending these: the message may have left, so never resend it.
        interrupted = list(
            session.scalars(
                update(Notification)
                .where(Notification.status == "sending", Notification.claimed_until < now)
                .values(
                    status="failed",
                    last_error="Bộ gửi dừng giữa chừng; không rõ tin đã được gửi hay chưa",
                )
                .returning(Notification.id)
                .execution_options(synchronize_session=False)
            )
        )
        due = (
            select(Notification.id)
            .where(Notification.status == "pending", Notification.next_attempt_at <= now)
            .order_by(Notification.next_attempt_at, Notification.id)
            .limit(limit)
        )
        if pg:
            # A CTE is evaluated once: as an IN (subquery) the LIMIT ... FOR UPDATE SKIP LOCKED may
            # be run again per row by the planner, claiming more rows than it returns.
            chosen = due.with_for_update(skip_locked=True).cte("due")
            picked = Notification.id.in_(select(chosen.c.id))
        else:
            picked = Notification.id.in_(due.scalar_subquery())
        rows = session.execute(
            update(Notification)
            # status is checked again, so a row another dispatcher claimed first is left alone.
            .where(picked, Notification.status == "pending")
            .values(
                status="sending",
                attempts=Notification.attempts + 1,
                claimed_until=now + timedelta(seconds=CLAIM_SECONDS),
            )
            .returning(
                Notification.id,
                Notification.channel,
                Notification.address,
                Notification.subject,
                Notification.body,
                Notification.attempts,
            )
            .execution_options(synchronize_session=False)
        ).all()
        uow.commit()
    claimed = [ClaimedMessage(*row) for row in rows]
    claimed.sort(key=lambda c: c.id)
    return claimed, interrupted


def dispatch(
    ctx: Context,
    now: datetime,
    *,
    limit: int = 100,
    channels: Mapping[str, Channel] | None = None,
) -> DispatchReport:
    """Send the due e-mail and SMS rows; failures are retried with backoff, then marked failed."""
    channels = channels if channels is not None else channels_from_settings(ctx.settings)
    report = DispatchReport(interrupted=[])
    # One row claimed at a time: if this process dies, only the message in flight is in doubt;
    # the others are still pending and the next dispatcher sends them.
    for _ in range(max(1, limit)):
        claimed, interrupted = claim_batch(ctx, now, 1)
        report.interrupted.extend(interrupted)
        if not claimed:
            break
        row = claimed[0]
        channel = channels.get(row.channel)
        error: str | None = None
        try:
            if channel is None:
                raise ChannelError(f"no channel {row.channel!r} is configured")
            channel.send(row.address, row.subject, row.body)
        except ChannelError as exc:
            error = str(exc)
        except Exception as exc:  # a broken channel must not stop the other rows
            LOG.exception("notification %s: channel %s crashed", row.id, row.channel)
            error = f"{type(exc).__name__}: {exc}"
        with ctx.uow() as uow:
            values: dict[str, object]
            if error is None:
                values = {"status": "sent", "sent_at": now, "claimed_until": None, "last_error": None}
                report.sent.append(row.id)
            elif row.attempts >= ctx.settings.dispatch_max_attempts:
                values = {"status": "failed", "claimed_until": None, "last_error": error[:2000]}
                report.failed.append(row.id)
            else:
                values = {
                    "status": "pending",
                    "claimed_until": None,
                    "next_attempt_at": now + backoff_delay(ctx, row.attempts),
                    "last_error": error[:2000],
                }
                report.retried.append(row.id)
            uow.session.execute(
                update(Notification)
                .where(Notification.id == row.id, Notification.status == "sending")
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            uow.commit()
    return report


@dataclass(frozen=True)
class FailedNotification:
    """A message the dispatcher gave up on, for the administrator."""

    id: int
    channel: str
    kind: str
    address: str | None
    officer_id: int | None
    dossier_code: str | None
    subject: str
    attempts: int
    last_error: str | None
    created_at: datetime


def failed_notifications(session: Session, limit: int = 200) -> list[FailedNotification]:
    """Messages that could not be delivered, newest first."""
    stmt = (
        select(Notification, Dossier.code)
        .outerjoin(Dossier, Dossier.id == Notification.dossier_id)
        .where(Notification.status == "failed")
        .order_by(Notification.id.desc())
        .limit(limit)
    )
    return [
        FailedNotification(
            id=n.id,
            channel=n.channel,
            kind=n.kind,
            address=n.address,
            officer_id=n.officer_id,
            dossier_code=code,
            subject=n.subject,
            attempts=n.attempts,
            last_error=n.last_error,
            created_at=n.created_at,
        )
        for n, code in session.execute(stmt)
    ]


def retry_failed(ctx: Context, ids: Iterable[int], now: datetime) -> int:
    """The administrator sends failed messages again (e.g. after fixing the SMTP settings)."""
    wanted = [int(i) for i in ids]
    if not wanted:
        return 0
    with ctx.uow() as uow:
        count = uow.session.execute(  # type: ignore[attr-defined]
            update(Notification)
            .where(Notification.id.in_(wanted), Notification.status == "failed")
            .values(status="pending", attempts=0, next_attempt_at=now, claimed_until=None)
            .execution_options(synchronize_session=False)
        ).rowcount
        uow.commit()
    return count
