"""The outbox: one row per recipient and channel, written in the transaction of the use case that
causes it, under a unique dedupe key.

It sits in the kernel, below every domain, so that any domain's use case can queue a message in
its own transaction: the catalogue (a version submitted for approval) cannot import
`engine.notify`, which sits above it. The templates, the officers' list and the dispatcher stay
in `engine.notify.notifications`, which re-exports what is here.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from models import Notification, Officer
from models.prepared import Prepared


@dataclass(frozen=True)
class Message:
    """One message in its three forms: e-mail subject and body (also in-app), and the short SMS."""

    subject: str
    body: str
    sms: str = ""


def outbox_row(
    *,
    dedupe_key: str,
    channel: str,
    kind: str,
    subject: str,
    body: str,
    now: datetime,
    officer_id: int | None = None,
    address: str | None = None,
    dossier_id: int | None = None,
) -> dict[str, object]:
    """The column values of one outbox row."""
    in_app = channel == "in_app"
    return {
        "dedupe_key": dedupe_key[:200],
        "channel": channel,
        "kind": kind,
        "officer_id": officer_id,
        "address": address,
        "dossier_id": dossier_id,
        "subject": subject[:255],
        "body": body,
        "created_at": now,
        # An in-app row is delivered by being stored.
        "status": "sent" if in_app else "pending",
        "attempts": 0,
        "next_attempt_at": None if in_app else now,
        "sent_at": now if in_app else None,
    }


def _insert(dialect: str, into: Any) -> postgresql.Insert | sqlite.Insert:
    """`INSERT ... ON CONFLICT (dedupe_key) DO NOTHING` into the outbox, in the dialect's own words."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(into).on_conflict_do_nothing(index_elements=["dedupe_key"])


def enqueue(session: Session, **fields: Any) -> int | None:
    """Queue one message; returns its id, or None when its dedupe key was already queued.

    Fields: dedupe_key, channel, kind, subject, body, now, and officer_id, address, dossier_id.
    """
    if session.autoflush:  # as the ORM's INSERT would: the dossier it names may still be pending
        session.flush()
    conn = session.connection()
    row = outbox_row(**fields)
    rows = _enqueue_statement(conn.dialect.name, tuple(row)).rows(conn, row)
    return rows[0][0] if rows else None


@functools.cache
def _enqueue_statement(dialect: str, keys: tuple[str, ...]) -> Prepared:
    """`INSERT ... ON CONFLICT (dedupe_key) DO NOTHING RETURNING id` of one outbox row with these
    columns, a prepared statement built once per process and dialect (the other columns take their
    defaults, as the ORM's INSERT gives them)."""
    table: Table = Notification.__table__  # type: ignore[assignment]
    values: dict[Any, Any] = {table.c[key]: bindparam(key) for key in keys}
    return Prepared(_insert(dialect, table).values(values).returning(table.c.id))


def enqueue_many(session: Session, rows: list[dict[str, object]]) -> int:
    """Queue many messages in one statement; rows whose dedupe key exists are skipped."""
    if rows:
        session.execute(_insert(session.get_bind().dialect.name, Notification), rows)
    return len(rows)


def officer_rows(
    officers: Iterable[Officer],
    *,
    key: str,
    kind: str,
    message: Message,
    now: datetime,
    dossier_id: int | None = None,
) -> list[dict[str, object]]:
    """Outbox rows for officers: in-app for each, and e-mail for those with an address."""
    rows = []
    seen: set[int] = set()
    for officer in officers:
        if officer.id in seen or not officer.active:
            continue
        seen.add(officer.id)
        common: dict[str, Any] = {"kind": kind, "subject": message.subject, "body": message.body, "now": now}
        rows.append(
            outbox_row(
                dedupe_key=f"{key}:officer:{officer.id}:in_app",
                channel="in_app",
                officer_id=officer.id,
                dossier_id=dossier_id,
                **common,
            )
        )
        if officer.email:
            rows.append(
                outbox_row(
                    dedupe_key=f"{key}:officer:{officer.id}:email",
                    channel="email",
                    officer_id=officer.id,
                    address=officer.email,
                    dossier_id=dossier_id,
                    **common,
                )
            )
    return rows


def notify_officers(
    session: Session,
    officers: Iterable[Officer],
    *,
    key: str,
    kind: str,
    message: Message,
    now: datetime,
    dossier_id: int | None = None,
) -> int:
    """In-app notification to each officer, and an e-mail to those with an address."""
    rows = officer_rows(officers, key=key, kind=kind, message=message, now=now, dossier_id=dossier_id)
    return enqueue_many(session, rows)


__all__ = ["Message", "enqueue", "enqueue_many", "notify_officers", "officer_rows", "outbox_row"]
