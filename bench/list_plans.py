"""The query plans of the dossier list on a bench database: EXPLAIN ANALYZE of every statement.

    .venv/bin/python -m bench.list_plans [--db URL] [--state processing] [--q "nguyen van an"]

Runs `engine.runtime.dossier_lists.dossier_list` once as the desk officer with the widest scope
(bench/http_inbox.py `widest_desk`), records the statements it sends to PostgreSQL, and prints
each one's time and plan (EXPLAIN (ANALYZE, BUFFERS)), so that the indexes used, the trigram
index of the search among them, can be read. Reads only.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime

from sqlalchemy import event, select

from bench.http_inbox import DEFAULT_DB, widest_desk
from config import Settings
from engine.context import Context
from engine.runtime.dossier_lists import ListQuery, dossier_list
from models import Officer


def plans(ctx: Context, officer_id: int, query: ListQuery) -> list[tuple[str, dict, float]]:
    """The statements of one list page with their parameters, and the page's time in ms."""
    seen: list[tuple[str, dict]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many) -> None:
        seen.append((statement, dict(parameters or {})))

    event.listen(ctx.db, "before_cursor_execute", record)
    try:
        started = time.perf_counter()
        dossier_list(ctx, officer_id, query, now=datetime.now(UTC), choices=False)
        elapsed = (time.perf_counter() - started) * 1000
    finally:
        event.remove(ctx.db, "before_cursor_execute", record)
    return [(s, p, elapsed) for s, p in seen]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.list_plans", description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=DEFAULT_DB)
    parser.add_argument("--state", default=None)
    parser.add_argument("--q", default="")
    parser.add_argument("--only", default="", help="print only statements containing this text")
    args = parser.parse_args(argv)
    ctx = Context.from_settings(Settings().with_overrides(database_url=args.db))
    desk, _, _ = widest_desk(ctx)
    with ctx.uow() as uow:
        officer_id = uow.session.scalar(select(Officer.id).where(Officer.username == desk))
    query = ListQuery(state=args.state, q=args.q)
    dossier_list(ctx, officer_id, query, now=datetime.now(UTC), choices=False)  # warm
    statements = plans(ctx, officer_id, query)
    print(f"{desk}: state={args.state!r} q={args.q!r}; page in {statements[0][2]:.1f} ms (warm)")
    with ctx.db.connect() as conn:
        raw = conn.connection.dbapi_connection
        for statement, parameters, _ in statements:
            if args.only and args.only not in statement:
                continue
            with raw.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                lines = [row[0] for row in cursor.fetchall()]
            print("\n" + " ".join(statement.split())[:300])
            print("\n".join(lines))
    ctx.db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
