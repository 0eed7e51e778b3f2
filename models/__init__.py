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
from models.web import ApiToken, Rating

__all__ = [
    "Agency",
    "ApiToken",
    "Attachment",
    "Base",
    "Dossier",
    "DossierEvent",
    "DossierSequence",
    "Officer",
    "Procedure",
    "ProcessVersion",
    "Rating",
    "Suspension",
    "UnitOfWork",
    "WorkItem",
    "create_db_engine",
    "make_session_factory",
]
