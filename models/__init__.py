"""SQLAlchemy 2 typed models and the session / unit-of-work helpers. No Flask here."""

from models.base import Base
from models.catalogue import Agency, Officer, Procedure, ProcessVersion
from models.counter import CounterSlip
from models.dossier import (
    Attachment,
    Dossier,
    DossierEvent,
    DossierSequence,
    Suspension,
    WorkItem,
)
from models.feedback import Feedback
from models.notification import Notification
from models.payment import Payment, PaymentNonce
from models.portal import PortalMapping, PortalMessage
from models.postal import PostalItem
from models.publication import ProcedureForm
from models.session import UnitOfWork, create_db_engine, make_session_factory
from models.sla import ApologyLetter, SchedulerHeartbeat, SchedulerLease, SlaAlert
from models.versioning import ProcessVersionEvent
from models.web import ApiToken, Rating

__all__ = [
    "Agency",
    "ApiToken",
    "ApologyLetter",
    "Attachment",
    "Base",
    "CounterSlip",
    "Dossier",
    "DossierEvent",
    "DossierSequence",
    "Feedback",
    "Notification",
    "Officer",
    "Payment",
    "PaymentNonce",
    "PortalMapping",
    "PortalMessage",
    "PostalItem",
    "Procedure",
    "ProcedureForm",
    "ProcessVersion",
    "ProcessVersionEvent",
    "Rating",
    "SchedulerHeartbeat",
    "SchedulerLease",
    "SlaAlert",
    "Suspension",
    "UnitOfWork",
    "WorkItem",
    "create_db_engine",
    "make_session_factory",
]
