"""The `motcua` command: database, catalogue, BPMN checks, calendar and the demo."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

import click

from config import load_settings
from engine.errors import DomainError

if TYPE_CHECKING:
    from engine.context import Context


def _context() -> Context:
    from engine.context import Context

    return Context.from_settings(load_settings())


def _aware(text: str, tz: tzinfo) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO date-time: {text!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


@click.group()
def main() -> None:
    """motcua: the one-stop dossier engine."""


@main.group()
def db() -> None:
    """Database schema."""


def _migration_options(command: Callable[..., None]) -> Callable[..., None]:
    """The lock options of `db upgrade` and `db downgrade` (PostgreSQL; SQLite ignores them)."""
    command = click.option(
        "--lock-timeout",
        type=click.FloatRange(0.1, 600),
        default=5.0,
        show_default=True,
        help="Seconds a migration statement waits for its table lock before the attempt gives up.",
    )(command)
    command = click.option(
        "--attempts", type=click.IntRange(1, 100), default=5, show_default=True, help="Attempts in all."
    )(command)
    return click.option(
        "--pause",
        type=click.FloatRange(0, 600),
        default=5.0,
        show_default=True,
        help="Seconds between attempts.",
    )(command)


def _run_migration(step: str, revision: str, lock_timeout: float, attempts: int, pause: float) -> None:
    from alembic.util import CommandError

    from models import migrate

    ctx = _context()
    run = migrate.upgrade if step == "upgrade" else migrate.downgrade
    try:
        run(ctx.db, revision, lock_timeout=lock_timeout, attempts=attempts, pause=pause, echo=click.echo)
    except migrate.MigrationLockTimeout as exc:
        raise click.ClickException(str(exc)) from exc
    except CommandError as exc:
        raise click.ClickException(f"revision {revision!r}: {exc}") from exc
    click.echo(f"database at revision {migrate.current_revision(ctx.db)}")


@db.command("upgrade")
@click.argument("revision", default="head")
@_migration_options
def db_upgrade(revision: str, lock_timeout: float, attempts: int, pause: float) -> None:
    """Apply the migrations up to REVISION (default: head), one migrator at a time."""
    _run_migration("upgrade", revision, lock_timeout, attempts, pause)


@db.command("downgrade")
@click.argument("revision")
@_migration_options
def db_downgrade(revision: str, lock_timeout: float, attempts: int, pause: float) -> None:
    """Undo the migrations above REVISION (back up first: downgrades drop columns and tables)."""
    _run_migration("downgrade", revision, lock_timeout, attempts, pause)


@db.command("current")
def db_current() -> None:
    """The revision the database is at, and whether it is the code's newest."""
    from models.migrate import current_revision, head_revision

    current, head = current_revision(_context().db), head_revision()
    state = "head" if current == head else f"behind: the code's newest is {head}"
    click.echo(f"{current or 'empty (no revision)'} ({state})")


@db.command("history")
def db_history() -> None:
    """Every migration shipped with the code, newest first; the database's own is marked."""
    from models.migrate import current_revision, history

    current = current_revision(_context().db)
    for revision, down, title in history():
        mark = " (current)" if revision == current else ""
        click.echo(f"{down or '<base>'} -> {revision}{mark}: {title}")


@main.command("load")
def load() -> None:
    """Load the demo organisation, demo officers and the sample procedures (refused when the database
    holds a real organisation's officers)."""
    from engine.catalogue.loader import DEMO_PASSWORD, load_all
    from engine.demo_data import refuse_real_organisation

    ctx = _context()
    try:
        refuse_real_organisation(ctx)
        report = load_all(ctx, datetime.now(UTC))
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(
        f"agencies +{report.agencies}, officers +{report.officers}, procedures +{report.procedures}, "
        f"versions activated: {', '.join(report.versions_activated) or 'none (unchanged)'}"
    )
    click.echo(f"demo officers' password: {DEMO_PASSWORD}")


@main.group()
def organisation() -> None:
    """A real organisation's agencies and officers (the demo's come with `motcua load`)."""


@organisation.command("import")
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--passwords-out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the new officers' one-time passwords to this CSV (readable by its owner only) "
    "instead of printing them.",
)
def organisation_import(source: str, passwords_out: str | None) -> None:
    """Create or update agencies and officers from a TOML file shaped like workflows/demo/organisation.toml.

    Each new officer gets a one-time password of their own, replaced at their first sign-in;
    existing officers keep theirs. One transaction: a bad entry changes nothing.
    """
    import csv
    import os

    from engine.catalogue.loader import load_organisation

    ctx = _context()
    try:
        with ctx.uow() as uow:
            report = load_organisation(uow.session, Path(source), password=None)
            uow.commit()
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"agencies +{report.agencies}, officers +{report.officers}")
    if passwords_out and report.passwords:
        descriptor = os.open(passwords_out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["username", "one_time_password"])
            writer.writerows(sorted(report.passwords.items()))
        click.echo(f"one-time passwords of {len(report.passwords)} new officers written to {passwords_out}")
    else:
        for username, given in sorted(report.passwords.items()):
            click.echo(f"  {username}: {given}")
    if report.passwords:
        click.echo("each new officer must replace the one-time password at the first sign-in")


@main.group()
def dvcqg() -> None:
    """The national public service portal (Cổng Dịch vụ công quốc gia): sync, status, failures, mappings."""


@dvcqg.command("sync")
@click.option("--now", "now_text", default=None, help="ISO time to send as of (default: now).")
def dvcqg_sync(now_text: str | None) -> None:
    """Send what is due once; a line per message."""
    from engine.integrations.dvcqg.sync import sync

    ctx = _context()
    if not ctx.settings.dvcqg_url:
        raise click.ClickException("MOTCUA_DVCQG_URL is not set: the portal sync is off")
    now = _aware(now_text, ctx.calendar.tz) if now_text else datetime.now(UTC)
    report = sync(ctx, now)
    for line in report.lines:
        click.echo(line.line())
    if report.recovered:
        click.echo(
            f"{report.recovered} interrupted message(s) marked uncertain (looked up before sending again)"
        )
    click.echo(
        f"sent {report.count('sent')}, confirmed {report.count('confirmed')}, "
        f"retrying {report.count('retrying')}, failed {report.count('failed')}"
    )


@main.group()
def payment() -> None:
    """Fees paid online: reconcile the payments whose gateway callback never came."""


@payment.command("reconcile")
@click.option("--now", "now_text", default=None, help="ISO date-time of the run (default: now).")
def payment_reconcile(now_text: str | None) -> None:
    """Ask the gateway about every online payment still pending after MOTCUA_PAYMENT_PENDING_MINUTES."""
    from engine.payments.online import reconcile

    ctx = _context()
    if not ctx.settings.payment_gateway_url:
        raise click.ClickException("MOTCUA_PAYMENT_GATEWAY_URL is not set: online payment is off")
    now = _aware(now_text, ctx.calendar.tz) if now_text else datetime.now(UTC)
    report = reconcile(ctx, now)
    for reference, outcome in report.lines:
        click.echo(f"{reference} {outcome}")
    click.echo(
        f"asked {len(report.lines)}, paid {report.count('paid')}, failed {report.count('failed')}, "
        f"cancelled {report.count('cancelled')}, still pending {report.count('unchanged')}, "
        f"errors {report.count('error') + report.count('refused')}"
    )


@dvcqg.command("status")
def dvcqg_status() -> None:
    """Queued, sending, uncertain, retrying, failed and sent counts, and the failures' reasons."""
    from engine.integrations.dvcqg.sync import failed_messages, queue_status

    ctx = _context()
    status = queue_status(ctx)
    click.echo(", ".join(f"{name} {count}" for name, count in status.counts.items()))
    if status.oldest_unsent is not None:
        click.echo(f"oldest unsent since {status.oldest_unsent.isoformat()}")
    for failed in failed_messages(ctx):
        click.echo(f"failed #{failed.id} {failed.stream} #{failed.seq} {failed.service}: {failed.last_error}")


@dvcqg.command("requeue")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all-failed", is_flag=True, help="Re-queue every failed message.")
def dvcqg_requeue(ids: tuple[int, ...], all_failed: bool) -> None:
    """Re-queue failed messages once their cause is fixed; each dossier's later messages follow."""
    from engine.integrations.dvcqg.sync import failed_messages, requeue

    ctx = _context()
    wanted = [f.id for f in failed_messages(ctx, limit=100_000)] if all_failed else list(ids)
    if not wanted:
        raise click.UsageError("name the failed messages' ids, or --all-failed")
    click.echo(f"{requeue(ctx, wanted, datetime.now(UTC))} message(s) queued again")


@dvcqg.command("ratings")
@click.option("--month", "month_text", default=None, help="YYYY-MM (default: last month).")
def dvcqg_ratings(month_text: str | None) -> None:
    """Queue a month's satisfaction ratings (DongBoDanhGia) per agency; a month is queued once."""
    from datetime import date

    from engine.integrations.dvcqg.ratings import previous_month, queue_month_ratings

    ctx = _context()
    now = datetime.now(UTC)
    try:
        month = date.fromisoformat(f"{month_text}-01") if month_text else previous_month(now, ctx.calendar.tz)
    except ValueError as exc:
        raise click.BadParameter(f"not a month YYYY-MM: {month_text!r}") from exc
    result = queue_month_ratings(ctx, month, now)
    click.echo(
        f"ratings of {result.month}: queued for {', '.join(result.queued) or 'no agency'}"
        + (f"; already queued for {', '.join(result.already)}" if result.already else "")
    )


@dvcqg.command("mapping")
@click.argument("kind", required=False)
@click.argument("local", required=False)
@click.argument("portal_value", required=False)
def dvcqg_mapping(kind: str | None, local: str | None, portal_value: str | None) -> None:
    """List the mappings, or set one: `motcua dvcqg mapping status processing 4`."""
    from engine.integrations.dvcqg.mappings import mapping_rows, set_mapping

    ctx = _context()
    if kind is not None:
        if local is None or portal_value is None:
            raise click.UsageError("give KIND LOCAL PORTAL_VALUE to set a mapping")
        try:
            set_mapping(ctx, kind, local, portal_value)
        except DomainError as exc:
            raise click.ClickException(exc.message) from exc
    for row in mapping_rows(ctx):
        click.echo(f"{row.kind:<15} {row.local:<30} {row.portal}{'  (default)' if row.default else ''}")


@main.group()
def bpmn() -> None:
    """Internal procedures as BPMN."""


@bpmn.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--legal-hours", type=float, default=None, help="Cap on the counted hours (default: catalogue)."
)
@click.option(
    "--procedure",
    "procedure_code",
    default=None,
    help="Procedure code: its legal time and the agency table are read from the database.",
)
def bpmn_check(files: tuple[str, ...], legal_hours: float | None, procedure_code: str | None) -> None:
    """Validate BPMN files; print each problem as file:line: name (id): message, on one line each.

    Without --procedure the database is not read: the legal time comes from the catalogue file
    by file name, and the lanes' agency codes are said to be unverified.
    """
    from engine.catalogue.bpmn_check import check_bpmn
    from engine.catalogue.catalogue_file import catalogue_budgets, catalogue_path
    from engine.catalogue.versions import check_facts

    settings = load_settings()
    budgets = catalogue_budgets(catalogue_path(settings.workflows_dir), settings.hours_per_day)
    agencies: frozenset[str] | None = None
    if procedure_code:
        try:
            facts = check_facts(_context(), procedure_code)
        except DomainError as exc:
            raise click.ClickException(exc.message) from exc
        agencies = facts.agencies
        legal_hours = legal_hours if legal_hours is not None else facts.legal_hours
    failed = False
    for name in files:
        path = Path(name)
        try:
            data = path.read_bytes()
        except OSError as exc:
            click.echo(f"{name}:0: document: cannot read: {exc.strerror}")
            failed = True
            continue
        budget = legal_hours if legal_hours is not None else budgets.get(path.name)
        result = check_bpmn(
            data, filename=name, legal_hours=budget, max_bytes=settings.bpmn_max_bytes, agencies=agencies
        )
        for problem in result.problems:
            click.echo(str(problem))
        for note in result.notes:
            click.echo(f"{name}: {' '.join(note.split())}")
        if result.ok:
            model = result.model
            assert model is not None  # a BPMN that passed the check has its model
            limit = f" of {budget:g}" if budget is not None else ""
            click.echo(
                f"{name}: ok, {len(model.steps)} steps, {model.longest_counted_hours:g}{limit} counted hours"
            )
        failed = failed or not result.ok
    sys.exit(1 if failed else 0)


@bpmn.command("export")
@click.option(
    "--dir", "directory", type=click.Path(file_okay=False), default=None, help="Default: workflows/bpmn."
)
def bpmn_export(directory: str | None) -> None:
    """Write each procedure's active version to its BPMN file, named as in the catalogue."""
    from engine.catalogue.versions import export_active_versions

    ctx = _context()
    target = Path(directory) if directory else Path(ctx.settings.workflows_dir) / "bpmn"
    try:
        exported = export_active_versions(ctx, target)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    for item in exported:
        state = "written" if item.changed else "unchanged"
        click.echo(f"{item.path}: {item.procedure_code} version {item.number}, {state}, sha256 {item.sha256}")


@bpmn.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True))
@click.option(
    "--procedure", "procedure_code", default=None, help="Procedure code (default: from the file name)."
)
@click.option("--approve", is_flag=True, help="Load as approved and active instead of as a draft.")
@click.option(
    "--decision", "decision_number", default=None, help="Approval decision number (with --approve)."
)
@click.option("--decision-date", default=None, help="Approval decision date, YYYY-MM-DD (with --approve).")
def bpmn_import(
    files: tuple[str, ...],
    procedure_code: str | None,
    approve: bool,
    decision_number: str | None,
    decision_date: str | None,
) -> None:
    """Load BPMN files as drafts, or as approved and active versions with --approve."""
    from datetime import date

    from engine.catalogue.catalogue_file import catalogue_file_names, catalogue_path
    from engine.catalogue.versions import import_version, procedure_for_file

    if not approve and (decision_number or decision_date):
        raise click.UsageError("--decision and --decision-date go with --approve")
    day = None
    if decision_date:
        try:
            day = date.fromisoformat(decision_date)
        except ValueError as exc:
            raise click.BadParameter(f"not a YYYY-MM-DD date: {decision_date!r}") from exc
    ctx = _context()
    names = catalogue_file_names(catalogue_path(ctx.settings.workflows_dir))
    failed = False
    for name in files:
        path = Path(name)
        try:
            with ctx.uow() as uow:
                code = procedure_code or procedure_for_file(uow.session, path, names)
            result = import_version(
                ctx,
                path.read_bytes(),
                procedure_code=code,
                filename=name,
                now=datetime.now(UTC),
                approve=approve,
                decision_number=decision_number,
                decision_date=day,
            )
        except DomainError as exc:
            click.echo(exc.message)
            failed = True
            continue
        for problem in result.problems:
            click.echo(str(problem))
        for note in result.notes:
            click.echo(f"{name}: {note}")
        if not result.changed:
            click.echo(f"{name}: {code} version {result.number} is already active, unchanged")
        else:
            click.echo(f"{name}: {code} version {result.number} {result.status}, sha256 {result.sha256}")
        failed = failed or bool(result.problems)
    sys.exit(1 if failed else 0)


@main.group()
def procedure() -> None:
    """The procedure catalogue (import, export) and internal procedures drawn from step tables."""


@procedure.command("from-table")
@click.argument("source", type=click.Path(exists=True))
@click.option("--code", "procedure_code", default=None, help="Procedure code (a single table).")
@click.option(
    "--codes-from-filenames",
    is_flag=True,
    help="SOURCE is a folder: each CSV/XLSX table becomes a draft of the procedure its file name starts "
    "with (1.001193.csv, '1.001193 Khai sinh.xlsx').",
)
@click.option(
    "--out", "out_file", type=click.Path(dir_okay=False), default=None, help="Also write the BPMN here."
)
def procedure_from_table(
    source: str, procedure_code: str | None, codes_from_filenames: bool, out_file: str | None
) -> None:
    """Turn a step table (or a folder of them) into a draft version of its procedure."""
    from engine.catalogue.table_drafts import draft_from_table, drafts_from_folder
    from engine.catalogue.versions import version_xml
    from engine.errors import InvalidStepTable

    path = Path(source)
    ctx = _context()
    if path.is_dir():
        if not codes_from_filenames or procedure_code or out_file:
            raise click.UsageError("a folder goes with --codes-from-filenames (and neither --code nor --out)")
        entries = drafts_from_folder(ctx, path, datetime.now(UTC))
        for entry in entries:
            if entry.ok:
                click.echo(f"{entry.filename}: {entry.procedure_code} version {entry.version_number} draft")
            else:
                click.echo(f"{entry.filename}: {entry.procedure_code} not stored")
            for message in entry.messages:
                click.echo(f"  {message}")
        stored = sum(1 for e in entries if e.ok)
        click.echo(f"{stored} of {len(entries)} tables stored as drafts")
        sys.exit(0 if stored == len(entries) else 1)
    if not procedure_code:
        raise click.UsageError("give the procedure with --code CODE (a folder: --codes-from-filenames)")
    try:
        draft = draft_from_table(ctx, procedure_code, path.read_bytes(), path.name, datetime.now(UTC))
    except InvalidStepTable as exc:
        click.echo(exc.message)
        sys.exit(1)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    for problem in draft.problems:
        click.echo(str(problem))
    if out_file:
        with ctx.uow() as uow:
            text = version_xml(uow.session, draft.version_id).text
        Path(out_file).write_text(text, encoding="utf-8")
    click.echo(
        f"{path.name}: {draft.procedure_code} version {draft.number} draft, "
        f"{draft.counted_hours or 0:g} of {draft.legal_hours:g} counted hours"
        + (f", written to {out_file}" if out_file else "")
    )
    sys.exit(1 if draft.problems else 0)


@procedure.command("import")
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check every row and report, write nothing.")
def procedure_import(source: str, dry_run: bool) -> None:
    """Import the province's catalogue (XLSX or CSV, Vietnamese or English headers); a report per row.

    Idempotent: a row equal to the stored procedure is unchanged. A bad row is reported and skipped;
    the exit status is 1 when any row failed. New procedures have no internal procedure yet.
    """
    from engine.catalogue.catalogue_sheet import import_catalogue

    path = Path(source)
    try:
        report = import_catalogue(
            _context(), path.read_bytes(), path.name, datetime.now(UTC), dry_run=dry_run
        )
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    for line in report.lines():
        click.echo(line)
    sys.exit(0 if report.ok else 1)


@procedure.command("export")
@click.argument("target", type=click.Path(dir_okay=False))
def procedure_export(target: str) -> None:
    """Write the catalogue to an XLSX file with the headers `procedure import` reads."""
    from engine.catalogue.catalogue_sheet import export_catalogue

    Path(target).write_bytes(export_catalogue(_context()))
    click.echo(f"catalogue written to {target}")


@main.group()
def calendar() -> None:
    """The working-time calendar."""


@calendar.command("due")
@click.option("--received", required=True, help="ISO date-time of receipt (local time if no offset).")
@click.option("--days", type=float, default=None)
@click.option("--hours", type=float, default=None)
def calendar_due(received: str, days: float | None, hours: float | None) -> None:
    """Print the due time of a dossier received at a moment with a legal time in days or hours."""
    from engine.calendar import WorkingCalendar

    if (days is None) == (hours is None):
        raise click.UsageError("give exactly one of --days or --hours")
    cal = WorkingCalendar.from_settings(load_settings())
    moment = _aware(received, cal.tz)
    due = cal.due_time(moment, days=days) if days is not None else cal.due_time(moment, hours=hours)
    click.echo(due.isoformat())


@main.group("demo", invoke_without_command=True)
@click.option("--count", default=300, show_default=True, help="Dossiers to run through the samples.")
@click.option("--seed", default=2026, show_default=True)
@click.option(
    "--until-now",
    is_flag=True,
    help="Receive the dossiers over the last two weeks and work them only up to now (open inboxes).",
)
@click.pass_context
def demo(click_ctx: click.Context, count: int, seed: int, until_now: bool) -> None:
    """Run dossiers through the sample procedures with random outcomes and print a summary (refused
    when the database holds a real organisation's officers); `motcua demo load` seeds a demo database."""
    if click_ctx.invoked_subcommand is not None:
        return
    from engine.demo import run_demo
    from engine.demo_data import refuse_real_organisation

    ctx = _context()
    try:
        refuse_real_organisation(ctx)
        run_demo(ctx, count=count, seed=seed, echo=click.echo, until=datetime.now(UTC) if until_now else None)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc


@demo.command("load")
@click.option("--count", default=150, show_default=True, help="Demo dossiers, when there is none yet.")
@click.option("--seed", default=2026, show_default=True)
def demo_load(count: int, seed: int) -> None:
    """The laptop demo (`make run`): the demo organisation, its officers and the sample procedures, then
    two weeks of demo dossiers worked up to now unless the database holds dossiers already. Refused,
    with nothing written, when the database holds officers of a real organisation."""
    from engine.catalogue.loader import DEMO_PASSWORD
    from engine.demo_data import load_demo

    ctx = _context()
    try:
        done = load_demo(ctx, datetime.now(UTC), count=count, seed=seed, echo=click.echo)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    if done.dossiers_before:
        click.echo(f"demo dossiers: none added, the database holds {done.dossiers_before} already")
    click.echo(
        f"demo: officers +{done.officers_added}, procedures +{done.procedures_added}, "
        f"dossiers +{done.dossiers_added}; demo officers' password: {DEMO_PASSWORD}"
    )


@main.command("report")
@click.option("--period", required=True, help="2026, 2026-H1, 2026-Q3, 2026-07 or 2026-01-01..2026-03-31.")
@click.option("--agency", default=None, help="Receiving agency code (default: the whole province).")
@click.option(
    "--by", "group_by", type=click.Choice(["field", "level", "agency"]), default="field", show_default=True
)
@click.option(
    "--xlsx", "xlsx_file", type=click.Path(dir_okay=False), default=None, help="Write Biểu 06 as XLSX."
)
@click.option(
    "--csv", "csv_file", type=click.Path(dir_okay=False), default=None, help="Write the same as CSV."
)
@click.option(
    "--now",
    "now_text",
    default=None,
    help="Judge as of this ISO moment (local time when no offset; default: the real clock). "
    "A closed period is judged as of its end.",
)
def report(
    period: str,
    agency: str | None,
    group_by: str,
    xlsx_file: str | None,
    csv_file: str | None,
    now_text: str | None,
) -> None:
    """Print the statistics report (Biểu 06/VPCP/KSTT) and optionally write it as XLSX or CSV."""
    from engine.statistics.periods import parse_period
    from engine.statistics.report_export import format_table, write_csv, write_xlsx
    from engine.statistics.reports import statistics_report

    ctx = _context()
    now = _aware(now_text, ctx.calendar.tz) if now_text else datetime.now(UTC)
    try:
        parsed = parse_period(period, ctx.calendar.tz)
        with ctx.uow() as uow:
            result = statistics_report(uow.session, parsed, agency, group_by, now=now)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(format_table(result))
    if xlsx_file:
        write_xlsx(result, xlsx_file)
        click.echo(f"XLSX: {xlsx_file}")
    if csv_file:
        # utf-8-sig: spreadsheet programs read the Vietnamese headings correctly with the BOM.
        with open(csv_file, "w", encoding="utf-8-sig", newline="") as handle:
            write_csv(result, handle)
        click.echo(f"CSV: {csv_file}")


@main.command("register")
@click.option("--agency", "agency_code", required=True, help="Agency code, e.g. 000.00.12.H40.")
@click.option("--period", required=True, help="2026-11, 2026-Q4, 2026 or 2026-11-01..2026-11-15.")
@click.option("--xlsx", "xlsx_file", type=click.Path(dir_okay=False), default=None, help="Write it as XLSX.")
@click.option("--now", "now_text", default=None, help="ISO date-time it is read at (default: now).")
def register(agency_code: str, period: str, xlsx_file: str | None, now_text: str | None) -> None:
    """Print an agency's register of dossiers (Sổ theo dõi hồ sơ, form 07) and optionally write it as XLSX."""
    from engine.statistics.periods import parse_period
    from engine.statistics.register import agency_register, format_register, register_xlsx

    ctx = _context()
    now = _aware(now_text, ctx.calendar.tz) if now_text else datetime.now(UTC)
    try:
        parsed = parse_period(period, ctx.calendar.tz)
        found = agency_register(ctx, agency_code=agency_code, period=parsed, officer_id=None, now=now)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(format_register(found))
    if xlsx_file:
        Path(xlsx_file).write_bytes(register_xlsx(found))
        click.echo(f"XLSX: {xlsx_file}")


@main.group()
def sla() -> None:
    """The SLA watcher."""


@sla.command("tick")
@click.option("--now", "now_text", default=None, help="ISO date-time of the tick (default: now).")
def sla_tick(now_text: str | None) -> None:
    """Run one watcher tick at a moment and print the alerts it raised."""
    from engine.deadlines.watcher import tick

    ctx = _context()
    now = _aware(now_text, ctx.calendar.tz) if now_text else datetime.now(UTC)
    try:
        result = tick(ctx, now, holder="cli")
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    for line in result.lines(ctx.calendar.tz):
        click.echo(line)


@main.command("scheduler")
def scheduler() -> None:
    """Run the scheduler (watcher tick and notification dispatch) in the foreground."""
    from engine.deadlines.scheduler import Scheduler
    from engine.logs import configure_logging

    ctx = _context()
    configure_logging(ctx.settings)
    # Its lines go through the logger, so they are JSON like the web processes' (no echo to stdout).
    Scheduler(ctx).run_forever()


@main.group()
def notify() -> None:
    """The notification outbox."""


@notify.command("dispatch")
@click.option("--now", "now_text", default=None, help="ISO date-time of the run (default: now).")
@click.option("--limit", default=100, show_default=True, help="Messages to send at most.")
def notify_dispatch(now_text: str | None, limit: int) -> None:
    """Send the due e-mail and SMS messages once and print what happened."""
    from engine.notify.notifications import dispatch

    ctx = _context()
    now = _aware(now_text, ctx.calendar.tz) if now_text else datetime.now(UTC)
    result = dispatch(ctx, now, limit=limit)
    click.echo(result.summary())


@main.group()
def scenario() -> None:
    """Legal scenarios replayed on a fresh database."""


@scenario.command("run")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--db", "database_url", default=None, help="Run on this database; its schema is dropped and re-created."
)
@click.option("--check", is_flag=True, help="Compare with the files' expectations; exit 1 on any mismatch.")
def scenario_run(files: tuple[str, ...], database_url: str | None, check: bool) -> None:
    """Replay scenario files (or folders of them); print one JSON line per dossier and per report."""
    from engine.scenario import run_files

    status = run_files(
        files, database_url=database_url, check=check, out=click.echo, err=lambda s: click.echo(s, err=True)
    )
    sys.exit(status)


@main.command("check")
@click.option("--open-only", is_flag=True, help="Check only the open dossiers (the fast daily run).")
@click.option("--limit", type=int, default=None, help="Check at most this many dossiers.")
@click.option("--batch", default=500, show_default=True, help="Dossiers read per transaction.")
@click.option(
    "--documents/--no-documents",
    default=True,
    show_default=True,
    help="Also check that every document's file is in the store with its sha256.",
)
def check(open_only: bool, limit: int | None, batch: int, documents: bool) -> None:
    """Verify every dossier's workflow state, work items, events and suspensions, and every document's
    file and hash; exit 1 if any is broken."""
    from engine.runtime.consistency import check_all
    from engine.storage.check import check_documents

    ctx = _context()
    report = check_all(ctx, batch=batch, open_only=open_only, limit=limit)
    for line in report.lines():
        click.echo(line)
    ok = report.ok
    if documents:
        files = check_documents(ctx, batch=batch, open_only=open_only)
        for line in files.lines():
            click.echo(line)
        ok = ok and files.ok
    sys.exit(0 if ok else 1)


@main.command("repair")
@click.argument("code")
@click.option("--officer", "username", default=None, help="Username recorded in the audit event.")
def repair(code: str, username: str | None) -> None:
    """Re-project one dossier's work items from its workflow state, audited; exit 1 if it stays broken."""
    from sqlalchemy import select

    from engine.runtime.consistency import repair_dossier
    from models import Officer

    ctx = _context()
    officer_id = None
    if username:
        with ctx.uow() as uow:
            officer_id = uow.session.scalars(select(Officer.id).where(Officer.username == username)).first()
        if officer_id is None:
            raise click.BadParameter(f"no officer {username!r}", param_hint="--officer")
    try:
        report = repair_dossier(ctx, code, officer_id, datetime.now(UTC))
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    for line in report.lines():
        click.echo(line)
    sys.exit(1 if report.remaining else 0)


if __name__ == "__main__":
    main()
