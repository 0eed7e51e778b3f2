"""Migrations on a live PostgreSQL: one migrator at a time, lock timeouts retried, nothing lost.

The database is taken back to an old revision (before the report index of 0005) with dossiers in it,
then upgraded while threads keep receiving and completing dossiers through the engine, while an
older version's transaction holds a dossier row (so a migration cannot get its lock at first) and
while a second upgrade starts. PostgreSQL only: SQLite's single writer already serialises all this. The `motcua db` commands are
tried on SQLite.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url

from config import Settings
from engine.catalogue.loader import load_all
from engine.cli import main
from engine.context import Context
from engine.runtime import dossiers as svc
from models import Dossier, create_db_engine
from models.migrate import (
    MIGRATION_LOCK_KEY,
    MigrationLockTimeout,
    current_revision,
    downgrade,
    head_revision,
    upgrade,
)
from tests.conftest import LOADED_AT, PG_URL, Officers, at, open_items

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = "migration_live"
OLD = "0004"
APPLICANT = svc.Applicant(name="Trần Thị Bình", id_number="001203004006")

postgresql_only = pytest.mark.skipif(not PG_URL, reason="PostgreSQL only (MOTCUA_TEST_DATABASE_URL)")


def _url() -> str:
    url = make_url(PG_URL)
    return url.update_query_dict({"options": f"-csearch_path={SCHEMA}"}).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def live() -> Iterator[Context]:
    """A context on a scratch schema of the test database, at head, with the demo catalogue (each test
    takes it down to OLD and back up to head)."""
    admin = create_db_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    ctx = Context.from_settings(Settings().with_overrides(database_url=_url()))
    try:
        upgrade(ctx.db)
        load_all(ctx, LOADED_AT)
        yield ctx
    finally:
        ctx.db.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        admin.dispose()


def _dossiers(ctx: Context) -> int:
    with ctx.uow() as uow:
        return uow.session.scalar(select(func.count()).select_from(Dossier)) or 0


class Load:
    """Threads receiving a dossier and completing its first step, again and again, through the engine.

    While the schema is behind the code a use case fails (and changes nothing); the thread tries
    again. Every receipt the engine acknowledged is counted.
    """

    def __init__(self, ctx: Context, threads: int) -> None:
        self.ctx = ctx
        self.officer = Officers(ctx)["sonv.motcua"]
        self.received = 0
        self.completed = 0
        self.failures = 0
        self.stop = threading.Event()
        self._count = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(threads)]

    def _run(self, n: int) -> None:
        moment = at("2026-11-23 08:00") + timedelta(minutes=n)
        while not self.stop.is_set():
            try:
                receipt = svc.receive_dossier(
                    self.ctx,
                    procedure_code="1.001806",
                    applicant=APPLICANT,
                    channel="in_person",
                    officer_id=self.officer,
                    now=moment,
                )
            except Exception:  # the schema is behind the code: nothing changed, try again
                with self._count:
                    self.failures += 1
                time.sleep(0.05)
                continue
            with self._count:
                self.received += 1
            try:
                item = open_items(self.ctx, receipt.dossier_id)[0]
                svc.complete(self.ctx, item.id, self.officer, now=moment + timedelta(minutes=5))
            except Exception:
                with self._count:
                    self.failures += 1
                continue
            with self._count:
                self.completed += 1

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)


def _in_thread(fn: Callable[[], None]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:  # asserted by the caller
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def _hold_a_dossier_row(engine: Engine, release: Callable[[], None]) -> threading.Thread:
    """An older version's slow transaction: it changed a dossier row and commits after `release()`."""
    started = threading.Event()

    def hold() -> None:
        with engine.connect() as conn:
            conn.execute(text("UPDATE dossier SET status = status WHERE id = (SELECT min(id) FROM dossier)"))
            started.set()
            release()
            conn.commit()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    started.wait(10)
    return thread


def _migrator_lock_held(engine: Engine) -> bool:
    """Whether a session holds the migrator's advisory lock in this database (a bigint key: high and
    low halves; other databases of the server have their own)."""
    with engine.connect() as conn:
        return bool(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND classid = :high AND objid = :low AND objsubid = 1 "
                    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                ),
                {"high": MIGRATION_LOCK_KEY >> 32, "low": MIGRATION_LOCK_KEY & 0xFFFFFFFF},
            ).scalar()
        )


@postgresql_only
@pytest.mark.serial
def test_two_upgrades_under_load_both_finish_one_after_the_other_and_lose_nothing(live: Context) -> None:
    load = Load(live, threads=2)
    before = _dossiers(live)
    for _ in range(3):
        svc.receive_dossier(
            live,
            procedure_code="1.001806",
            applicant=APPLICANT,
            channel="in_person",
            officer_id=load.officer,
            now=at("2026-11-22 08:00"),
        )
    downgrade(live.db, OLD)
    assert current_revision(live.db) == OLD and _dossiers(live) == before + 3

    lines: list[str] = []
    other_has_the_lock = threading.Event()
    with load:
        # The old version's transaction holds a dossier row until a second after the first migrator
        # (another host: `motcua db upgrade` in a process of its own) has the lock.
        holder = _hold_a_dossier_row(live.db, lambda: (other_has_the_lock.wait(30), time.sleep(1.0)))
        other = subprocess.Popen(
            [sys.executable, "-m", "engine.cli", "db", "upgrade", "--lock-timeout", "0.5", "--pause", "0.2"],
            cwd=ROOT,
            env=dict(os.environ, MOTCUA_DATABASE_URL=_url(), PYTHONUNBUFFERED="1"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            while not _migrator_lock_held(live.db) and other.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            other_has_the_lock.set()
            # This host starts its upgrade while the other one runs.
            first, errors = _in_thread(
                lambda: upgrade(live.db, lock_timeout=0.5, attempts=10, pause=0.2, echo=lines.append)
            )
            output, _ = other.communicate(timeout=60)
        finally:
            if other.poll() is None:
                other.kill()
        first.join(60)
        holder.join(10)
        assert other.returncode == 0 and errors == [], (output, errors, lines)
        assert current_revision(live.db) == head_revision()
        # Once the schema is current, the load goes on: a few more rounds each.
        done = load.completed
        deadline = time.monotonic() + 20
        while load.completed < done + 4 and time.monotonic() < deadline:
            time.sleep(0.05)
    # This upgrade waited for the other host's, whose first try at 0005 found the row held and retried.
    assert lines[0] == "another migration is running; waiting for it to finish", lines
    assert "migration from revision 0004: no lock within 0.5 s (attempt 1 of 5)" in output, output
    assert f"database at revision {head_revision()}" in output, output
    assert load.completed >= done + 4, (load.completed, load.failures)
    # Nothing lost: every dossier there was, and every receipt the engine acknowledged.
    assert _dossiers(live) == before + 3 + load.received
    print(f"load: {load.received} receipts, {load.completed} completions, {load.failures} failed tries")


@postgresql_only
def test_a_migration_that_never_gets_its_lock_gives_up_with_a_clear_message(live: Context) -> None:
    downgrade(live.db, OLD)
    holder = _hold_a_dossier_row(live.db, lambda: time.sleep(2.0))
    try:
        with pytest.raises(MigrationLockTimeout, match=r"could not get a lock on the database within 0\.2 s"):
            upgrade(live.db, lock_timeout=0.2, attempts=2, pause=0.1)
    finally:
        holder.join(10)
    # Every migration before the one that gave up stays applied; the next run finishes the job.
    assert current_revision(live.db) == OLD
    upgrade(live.db, lock_timeout=1, attempts=3, pause=0.1)
    assert current_revision(live.db) == head_revision()


def test_the_db_commands_go_up_and_down_and_say_where_the_database_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTCUA_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    head = head_revision()
    run = CliRunner().invoke
    assert (
        run(main, ["db", "current"]).output == f"empty (no revision) (behind: the code's newest is {head})\n"
    )
    assert run(main, ["db", "upgrade", "0010"]).output == "database at revision 0010\n"
    history = run(main, ["db", "history"]).output.splitlines()
    assert f" -> {head}: " in history[0]  # newest first
    assert any(line.startswith("0009 -> 0010 (current): session version") for line in history)
    assert run(main, ["db", "upgrade"]).output == f"database at revision {head}\n"
    assert run(main, ["db", "current"]).output == f"{head} (head)\n"
    assert run(main, ["db", "downgrade", "0021"]).output == "database at revision 0021\n"
    wrong = run(main, ["db", "upgrade", "nosuch"])
    assert wrong.exit_code == 1 and "revision 'nosuch'" in wrong.output
    assert run(main, ["db", "downgrade"]).exit_code == 2  # the revision is required
