"""SQLAlchemy 2 typed models and the session / unit-of-work helpers. No Flask here."""

from models.base import Base
from models.catalogue import Agency, Officer, Procedure, ProcessVersion
from models.dossier import (
    Attachment,
    Dossier,
    DossierEvent,
    DossierSequence,
    Suspension,
    WorkItem,
)
from models.session import UnitOfWork, create_db_engine, make_session_factory

__all__ = [
    "Agency",
    "Attachment",
    "Base",
    "Dossier",
    "DossierEvent",
    "DossierSequence",
    "Officer",
    "Procedure",
    "ProcessVersion",
    "Suspension",
    "UnitOfWork",
    "WorkItem",
    "create_db_engine",
    "make_session_factory",
]
