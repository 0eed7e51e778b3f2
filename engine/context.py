"""What every use case needs: settings, the working-time calendar, the database and the spec cache."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from config import Settings, load_settings
from engine.calendar import WorkingCalendar
from engine.catalogue.workflow_state import SpecCache
from models import UnitOfWork, create_db_engine, make_session_factory


@dataclass
class Context:
    """Built once per process (web, scheduler, CLI, test) and passed to every service function."""

    settings: Settings
    calendar: WorkingCalendar
    db: Engine
    session_factory: sessionmaker[Session]
    # One cache per context: process-version ids are only unique within one database.
    specs: SpecCache = field(default_factory=SpecCache)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, db: Engine | None = None) -> Context:
        """Build the context from settings (environment by default)."""
        settings = settings or load_settings()
        db = db or create_db_engine(settings.database_url)
        return cls(
            settings=settings,
            calendar=WorkingCalendar.from_settings(settings),
            db=db,
            session_factory=make_session_factory(db, info={"settings": settings}),
        )

    def uow(self) -> UnitOfWork:
        """A new unit of work (one transaction)."""
        return UnitOfWork(self.session_factory)
