"""Demo data only on request, and never into a database that holds a real organisation.

The demo organisation (workflows/demo/organisation.toml) comes with officers whose password is
published (`motcua-demo`); its dossiers are invented. `motcua load`, `motcua demo` and `motcua demo
load` (what `make run` uses) first check the database: an officer who is not one of the demo
organisation's means real people work in it, and nothing of the demo is written. Whether the demo's
dossiers are there is read from the database too (any dossier at all), never from a file beside the
code, so a second `make run` against the same database seeds nothing.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select

from engine.context import Context
from engine.errors import Conflict
from models import Dossier, Officer

SHOWN = 5  # officers named in the refusal


def demo_usernames(workflows_dir: str | Path) -> set[str]:
    """The usernames of the demo organisation's officers."""
    with (Path(workflows_dir) / "demo" / "organisation.toml").open("rb") as handle:
        return {o["username"] for o in tomllib.load(handle).get("officer", [])}


def real_officers(ctx: Context) -> list[str]:
    """Usernames in the database that are not the demo organisation's, in order."""
    demo = demo_usernames(ctx.settings.workflows_dir)
    with ctx.uow() as uow:
        names = uow.session.scalars(select(Officer.username).order_by(Officer.username)).all()
    return [name for name in names if name not in demo]


def refuse_real_organisation(ctx: Context) -> None:
    """Conflict when the database holds officers of a real organisation (nothing is written)."""
    found = real_officers(ctx)
    if found:
        shown = ", ".join(found[:SHOWN]) + (
            f" và {len(found) - SHOWN} người khác" if len(found) > SHOWN else ""
        )
        raise Conflict(
            f"Cơ sở dữ liệu (MOTCUA_DATABASE_URL) có cán bộ không thuộc tổ chức mẫu ({shown}): "
            "không nạp dữ liệu mẫu vào cơ sở dữ liệu thật"
        )


def dossier_count(ctx: Context) -> int:
    """How many dossiers the database holds."""
    with ctx.uow() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(Dossier)) or 0)


@dataclass(frozen=True)
class DemoLoad:
    """What `motcua demo load` did."""

    officers_added: int
    procedures_added: int
    dossiers_added: int
    dossiers_before: int


def load_demo(ctx: Context, now: datetime, *, count: int, seed: int, echo: Callable[[str], None]) -> DemoLoad:
    """The demo organisation and sample catalogue, then `count` demo dossiers worked up to `now` when
    the database holds no dossier yet; Conflict (nothing written) when it holds a real organisation."""
    from engine.catalogue.loader import load_all
    from engine.demo import run_demo

    refuse_real_organisation(ctx)
    report = load_all(ctx, now)
    before = dossier_count(ctx)
    added = 0
    if before == 0 and count > 0:
        added = len(run_demo(ctx, count=count, seed=seed, echo=echo, until=now))
    return DemoLoad(report.officers, report.procedures, added, before)


__all__ = [
    "DemoLoad",
    "demo_usernames",
    "dossier_count",
    "load_demo",
    "real_officers",
    "refuse_real_organisation",
]
