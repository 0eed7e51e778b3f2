"""The inbox in one statement: own and pool items merged by due time, paged, counted and filtered;
the page reads the signed-in officer with its header in one statement and the inbox in another."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, select

from engine.runtime import dossiers as svc
from engine.runtime.inbox import URGENCIES, officer_inbox
from models import Officer, WorkItem
from tests.conftest import at
from tests.test_web import receive as receive_on_the_web
from web.inbox import page_links

APPLICANT = svc.Applicant(name="Lê Văn Cường", phone="0912345678")
NOW = at("2026-11-23 14:00")


def _inbox_with_both_parts(ctx, officers) -> tuple[int, list[int]]:
    """Five dossiers received at the commune desk, two of their items claimed by the desk officer:
    the officer and the ids of its open items (own and pool) in the inbox's order."""
    desk = officers["xa.motcua"]
    for code, when in [
        ("1.001193", "2026-11-23 07:45"),
        ("NA.3854", "2026-11-23 08:15"),
        ("1.001193", "2026-11-23 09:00"),
        ("NA.3854", "2026-11-23 10:00"),
        ("1.001193", "2026-11-23 10:45"),
    ]:
        svc.receive_dossier(
            ctx, procedure_code=code, applicant=APPLICANT, channel="in_person", officer_id=desk, now=at(when)
        )
    with ctx.uow() as uow:
        officer = uow.session.get_one(Officer, desk)
        own = WorkItem.assignee_id == desk
        pool = (
            (WorkItem.agency_id == officer.agency_id)
            & WorkItem.role.in_(officer.roles)
            & WorkItem.assignee_id.is_(None)
        )
        pooled = list(
            uow.session.scalars(
                select(WorkItem.id).where(WorkItem.completed_at.is_(None), own | pool).order_by(WorkItem.id)
            )
        )
    for item_id in pooled[1:5:2]:  # the second and the fourth become the officer's own
        svc.claim(ctx, item_id, desk, at("2026-11-23 11:00"))
    with ctx.uow() as uow:
        items = uow.session.execute(
            select(WorkItem.id, WorkItem.due_at).where(WorkItem.completed_at.is_(None), own | pool)
        ).all()
    items.sort(key=lambda item: (item.due_at is None, item.due_at or NOW, item.id))
    return desk, [item.id for item in items]


def test_pages_merge_own_and_pool_items_by_due_time_and_keep_their_counts(ctx, officers) -> None:
    desk, expected = _inbox_with_both_parts(ctx, officers)
    assert len(expected) == 5
    whole = officer_inbox(ctx, desk, now=NOW, limit=50)
    assert [row.work_item_id for row in whole.rows] == expected
    assert whole.total == 5
    assert (whole.counts["mine"], whole.counts["pool"], whole.counts["all"]) == (2, 3, 5)
    assert sum(1 for row in whole.rows if row.assignee_id == desk) == 2

    paged = []
    for offset in range(0, 6, 2):
        page = officer_inbox(ctx, desk, now=NOW, limit=2, offset=offset)
        assert page.total == 5 and page.counts == whole.counts
        paged += [row.work_item_id for row in page.rows]
    assert paged == expected
    assert [r.work_item_id for r in officer_inbox(ctx, desk, now=NOW, scope="mine").rows] == [
        row.work_item_id for row in whole.rows if row.assignee_id == desk
    ]


def test_a_page_past_the_end_has_no_row_but_the_counts(ctx, officers) -> None:
    desk, _ = _inbox_with_both_parts(ctx, officers)
    page = officer_inbox(ctx, desk, now=NOW, limit=2, offset=10)
    assert page.rows == []
    assert page.total == 5
    assert (page.counts["mine"], page.counts["pool"]) == (2, 3)
    assert [code for _, code, _ in page.procedures] == ["1.001193", "NA.3854"]


def test_filters_count_and_list_the_same_items_as_the_whole_inbox(ctx, officers) -> None:
    desk, _ = _inbox_with_both_parts(ctx, officers)
    whole = officer_inbox(ctx, desk, now=NOW, limit=50)
    for status in URGENCIES:
        wanted = [
            row.work_item_id
            for row in whole.rows
            if row.urgency == status or (status == "ok" and row.urgency == "paused")
        ]
        page = officer_inbox(ctx, desk, now=NOW, status=status)
        assert [row.work_item_id for row in page.rows] == wanted, status
        assert page.total == len(wanted), status
        assert page.counts == whole.counts
    assert whole.counts["overdue"] == sum(1 for row in whole.rows if row.urgency == "overdue")
    assert whole.counts["soon"] == sum(1 for row in whole.rows if row.urgency == "soon")
    page = officer_inbox(ctx, desk, now=NOW, procedure_code="NA.3854", limit=1)
    assert page.total == 2
    assert [row.work_item_id for row in page.rows] == [
        row.work_item_id for row in whole.rows if row.procedure_code == "NA.3854"
    ][:1]


@contextmanager
def statements(ctx) -> Iterator[list[str]]:
    """The SQL statements run while the block runs (not the transaction's own BEGIN)."""
    seen: list[str] = []

    def on_execute(_conn, _cursor, statement, _parameters, _context, _many) -> None:
        if not statement.lstrip().upper().startswith("BEGIN"):
            seen.append(statement)

    event.listen(ctx.db, "before_cursor_execute", on_execute)
    try:
        yield seen
    finally:
        event.remove(ctx.db, "before_cursor_execute", on_execute)


def test_the_inbox_page_is_two_statements_whatever_its_rows(web, app) -> None:
    ctx = app.extensions["motcua"]
    for key in ("a", "b", "c"):
        receive_on_the_web(web, key=key)  # signed in as sonv.motcua, whose inbox lists them
    assert web.get("/").status_code == 200  # the first view also reads the filter's procedures
    with statements(ctx) as seen:
        page = web.get("/")
    assert page.status_code == 200
    assert page.get_data(as_text=True).count('href="/viec/') == 2 * 3
    # The officer with the page header, then the counts with the page of items.
    assert len(seen) == 2, seen


def test_the_pager_links_the_first_the_last_and_the_current_pages() -> None:
    assert page_links(1, 1) == []
    assert page_links(1, 4) == [1, 2, 3, 4]
    assert page_links(1, 20) == [1, 2, 3, 19, 20]
    assert page_links(10, 20) == [1, 2, 3, 9, 10, 11, 19, 20]
    assert page_links(20, 20) == [1, 2, 3, 19, 20]
    assert page_links(25, 20) == [1, 2, 3, 19, 20]


def test_a_page_that_only_read_commits_its_transaction(web, app) -> None:
    """A commit, not a rollback, ends a read: psycopg keeps its prepared statements over a commit."""
    ctx = app.extensions["motcua"]
    receive_on_the_web(web)
    ended: list[str] = []

    def on_commit(_conn) -> None:
        ended.append("commit")

    def on_rollback(_conn) -> None:
        ended.append("rollback")

    event.listen(ctx.db, "commit", on_commit)
    event.listen(ctx.db, "rollback", on_rollback)
    try:
        assert web.get("/").status_code == 200
    finally:
        event.remove(ctx.db, "commit", on_commit)
        event.remove(ctx.db, "rollback", on_rollback)
    assert ended == ["commit"]
