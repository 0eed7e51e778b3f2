"""The `motcua` command: the engine's commands plus those of the web app's accounts (serve, passwords,
officers' sign-in, API tokens)."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from config import load_settings
from engine.cli import main
from engine.errors import DomainError


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option("--no-scheduler", is_flag=True, help="Do not run the SLA scheduler in this process.")
def serve(host: str, port: int, no_scheduler: bool) -> None:
    """Run the web app on one process (development and small offices), with the scheduler inside."""
    from werkzeug.serving import run_simple

    from engine.accounts import active_accounts
    from engine.catalogue.loader import DEMO_PASSWORD
    from engine.logs import configure_logging
    from web import create_app

    settings = load_settings()
    configure_logging(settings)
    app = create_app(settings)
    ctx = app.extensions["motcua"]
    from engine.demo_data import real_officers

    accounts = active_accounts(ctx)
    if accounts and not real_officers(ctx):  # a real organisation's accounts are not listed
        click.echo(f"Demo accounts (password {DEMO_PASSWORD}):")
        for a in accounts:
            click.echo(f"  {a.username:<22} {', '.join(a.roles):<28} {a.full_name} · {a.agency_name}")
    scheduler = None
    if settings.scheduler == "inprocess" and not no_scheduler:
        from engine.deadlines.scheduler import start_in_process

        scheduler = start_in_process(ctx, echo=click.echo)
    click.echo(f"motcua: http://{host}:{port}/  (citizen lookup: http://{host}:{port}/tra-cuu)")
    try:
        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        if scheduler is not None:
            scheduler.stop()


@main.command("password")
@click.argument("username")
@click.password_option(help="The new password (asked twice when not given).")
def password(username: str, password: str) -> None:
    """Set an officer's password (at least 10 characters; stored as a scrypt hash)."""
    from engine.accounts import set_password
    from engine.context import Context

    try:
        set_password(Context.from_settings(load_settings()), username, password)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"password of {username} changed; every session of {username} ended")


@main.group()
def officer() -> None:
    """Officers' accounts."""


def _set_active(username: str, active: bool) -> None:
    from engine.accounts import set_active
    from engine.context import Context

    try:
        set_active(Context.from_settings(load_settings()), username, active)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc


@officer.command("disable")
@click.argument("username")
def officer_disable(username: str) -> None:
    """Disable an account: its sessions end at once and it can no longer sign in or use its tokens."""
    _set_active(username, False)
    click.echo(f"{username} disabled; every session of {username} ended")


@officer.command("enable")
@click.argument("username")
def officer_enable(username: str) -> None:
    """Enable an account again (sessions ended when it was disabled stay ended)."""
    _set_active(username, True)
    click.echo(f"{username} enabled")


@officer.command("reset-password")
@click.argument("username")
def officer_reset_password(username: str) -> None:
    """Give an officer a one-time password, shown once here; they choose their own at the next sign-in."""
    from engine.accounts import reset_password
    from engine.context import Context

    try:
        given = reset_password(Context.from_settings(load_settings()), username)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"one-time password of {username}: {given}")
    click.echo(f"every session of {username} ended; the password must be changed at the next sign-in")


@main.group()
def token() -> None:
    """API tokens of officers and service accounts."""


@token.command("create")
@click.argument("username")
@click.option("--name", default="api", show_default=True, help="What the token is for.")
def token_create(username: str, name: str) -> None:
    """Create a token; it is printed once and only its hash is kept."""
    from engine.accounts import issue_token
    from engine.context import Context

    try:
        plain = issue_token(Context.from_settings(load_settings()), username, name, datetime.now(UTC))
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(plain)


@token.command("list")
@click.argument("username", required=False)
def token_list(username: str | None) -> None:
    """List the tokens (of one officer, or all): id, state, name, officer, created."""
    from engine.accounts import api_tokens
    from engine.context import Context
    from engine.formatting import in_zone

    ctx = Context.from_settings(load_settings())
    try:
        lines = api_tokens(ctx, username=username)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    tz = ctx.calendar.tz
    for line in lines:
        state = f"revoked {in_zone(line.revoked_at, tz)}" if line.revoked_at else "in force"
        created = in_zone(line.created_at, tz)
        click.echo(f"{line.id:>5}  {state:<24} {line.name:<20} {line.username:<22} created {created}")
    if not lines:
        click.echo("no tokens")


@token.command("revoke")
@click.argument("token_id", type=int)
def token_revoke(token_id: int) -> None:
    """Revoke a token by its id (from `motcua token list`); it stops working at once."""
    from engine.accounts import revoke_token_by_id
    from engine.context import Context

    try:
        line = revoke_token_by_id(Context.from_settings(load_settings()), token_id, datetime.now(UTC))
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"token {line.id} ({line.name}) of {line.username} revoked")


__all__ = ["main"]
