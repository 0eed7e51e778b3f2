"""The `motcua` command: database, catalogue, BPMN checks, calendar and the demo."""

from __future__ import annotations

import sys
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


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply the Alembic migrations up to the newest schema."""
    from models.migrate import current_revision, upgrade

    ctx = _context()
    upgrade(ctx.db)
    click.echo(f"database at revision {current_revision(ctx.db)}")


@main.command("load")
def load() -> None:
    """Load the demo organisation, demo officers and the sample procedures."""
    from engine.catalogue.loader import DEMO_PASSWORD, load_all

    ctx = _context()
    try:
        report = load_all(ctx, datetime.now(UTC))
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(
        f"agencies +{report.agencies}, officers +{report.officers}, procedures +{report.procedures}, "
        f"versions activated: {', '.join(report.versions_activated) or 'none (unchanged)'}"
    )
    click.echo(f"demo officers' password: {DEMO_PASSWORD}")


@main.group()
def bpmn() -> None:
    """Internal procedures as BPMN."""


@bpmn.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--legal-hours", type=float, default=None, help="Cap on the counted hours (default: catalogue)."
)
def bpmn_check(files: tuple[str, ...], legal_hours: float | None) -> None:
    """Validate BPMN files; print each problem as file:line: name (id): message."""
    from engine.catalogue.bpmn_check import check_bpmn
    from engine.catalogue.catalogue_file import catalogue_budgets, catalogue_path

    settings = load_settings()
    budgets = catalogue_budgets(catalogue_path(settings.workflows_dir), settings.hours_per_day)
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
        result = check_bpmn(data, filename=name, legal_hours=budget, max_bytes=settings.bpmn_max_bytes)
        for problem in result.problems:
            click.echo(str(problem))
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
        if not result.changed:
            click.echo(f"{name}: {code} version {result.number} is already active, unchanged")
        else:
            click.echo(f"{name}: {code} version {result.number} {result.status}, sha256 {result.sha256}")
        failed = failed or bool(result.problems)
    sys.exit(1 if failed else 0)


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


@main.command("demo")
@click.option("--count", default=300, show_default=True, help="Dossiers to run through the samples.")
@click.option("--seed", default=2026, show_default=True)
@click.option(
    "--until-now",
    is_flag=True,
    help="Receive the dossiers over the last two weeks and work them only up to now (open inboxes).",
)
def demo(count: int, seed: int, until_now: bool) -> None:
    """Run dossiers through the sample procedures with random outcomes and print a summary."""
    from engine.demo import run_demo

    ctx = _context()
    try:
        run_demo(ctx, count=count, seed=seed, echo=click.echo, until=datetime.now(UTC) if until_now else None)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc


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
    Scheduler(ctx, echo=lambda line: click.echo(line)).run_forever()


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
def check(open_only: bool, limit: int | None, batch: int) -> None:
    """Verify every dossier's workflow state, work items, events and suspensions; exit 1 if any is broken."""
    from engine.runtime.consistency import check_all

    report = check_all(_context(), batch=batch, open_only=open_only, limit=limit)
    for line in report.lines():
        click.echo(line)
    sys.exit(0 if report.ok else 1)


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
