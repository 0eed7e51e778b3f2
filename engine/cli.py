"""The `motcua` command: database, catalogue, BPMN checks, calendar and the demo."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from config import load_settings
from engine.errors import DomainError


def _context():  # type: ignore[no-untyped-def]
    from engine.context import Context

    return Context.from_settings(load_settings())


def _aware(text: str, tz: object) -> datetime:
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
    from engine.loader import DEMO_PASSWORD, load_all

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
    from engine.bpmn_check import check_bpmn

    settings = load_settings()
    budgets = _catalogue_budgets(settings)
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
            limit = f" of {budget:g}" if budget is not None else ""
            click.echo(
                f"{name}: ok, {len(model.steps)} steps, {model.longest_counted_hours:g}{limit} counted hours"
            )
        failed = failed or not result.ok
    sys.exit(1 if failed else 0)


def _catalogue_budgets(settings) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Legal hours per BPMN file name, read from the catalogue next to the files."""
    import tomllib

    from models.catalogue import legal_budget_hours

    path = Path(settings.workflows_dir) / "bpmn" / "catalogue.toml"
    if not path.exists():
        return {}
    budgets: dict[str, float] = {}
    with path.open("rb") as handle:
        for entry in tomllib.load(handle).get("procedure", []):
            legal = entry["legal_time"]
            budgets[entry["bpmn"]] = legal_budget_hours(
                float(legal["value"]), legal["unit"], settings.hours_per_day
            )
    return budgets


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
def demo(count: int, seed: int) -> None:
    """Run dossiers through the sample procedures with random outcomes and print a summary."""
    from engine.demo import run_demo

    ctx = _context()
    try:
        run_demo(ctx, count=count, seed=seed, echo=click.echo)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc


if __name__ == "__main__":
    main()
