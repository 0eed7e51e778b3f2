"""Structured logs: one JSON object per line, tagged with the dossier code when a line concerns one.

A use case opens a `dossier_scope()`; once it knows its dossier it calls `tag_dossier(code)`, and
every line logged inside the scope (by any logger) carries `"dossier": code`. Code outside a use
case can use `DossierLogger(logger, code)` instead.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from config import Settings

# The attributes every log record has; anything else on a record was given as `extra=` and is logged.
_RECORD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "dossier",
}

# A mutable box per scope, so a tag set deep inside a use case is seen until the scope ends.
_DOSSIER: ContextVar[list[str | None] | None] = ContextVar("motcua_dossier", default=None)


@contextmanager
def dossier_scope(code: str | None = None) -> Iterator[None]:
    """Lines logged inside carry the dossier code given here or later by `tag_dossier`."""
    token = _DOSSIER.set([code])  # [code] or [None, "mixed"] once several dossiers were tagged
    try:
        yield
    finally:
        _DOSSIER.reset(token)


def tag_dossier(code: str) -> None:
    """Tag the current scope's lines with this dossier code (no effect outside a scope).

    A scope that touches several dossiers (a watcher tick) concerns none of them in particular,
    so a second, different code clears the tag for the rest of the scope.
    """
    box = _DOSSIER.get()
    if box is None:
        return
    if box[0] is None and len(box) == 1:
        box[0] = code
    elif box[0] != code:
        box[:] = [None, "mixed"]


def current_dossier() -> str | None:
    """The dossier code of the current scope, if any."""
    box = _DOSSIER.get()
    return box[0] if box else None


class DossierLogger(logging.LoggerAdapter):
    """A logger whose lines carry one dossier's code."""

    def __init__(self, logger: logging.Logger, code: str) -> None:
        super().__init__(logger, {"dossier": code})

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        """Add the dossier code to the record's extra fields."""
        kwargs["extra"] = {**(kwargs.get("extra") or {}), **(self.extra or {})}
        return msg, kwargs


class DossierFilter(logging.Filter):
    """Copies the scope's dossier code onto records that have none."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keep the record; only annotate it."""
        if getattr(record, "dossier", None) is None:
            record.dossier = current_dossier()
        return True


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, dossier (when known), the fields given as `extra=` and the
    exception, as one JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        dossier = getattr(record, "dossier", None) or current_dossier()
        if dossier:
            entry["dossier"] = dossier
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS and key not in entry and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def json_handler(stream: Any = None) -> logging.Handler:
    """A stream handler writing JSON lines, with the dossier filter installed."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(DossierFilter())
    return handler


def configure_logging(settings: Settings, stream: Any = None) -> None:
    """Send every log line of the process to stderr (or `stream`) as JSON, at the configured level."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_motcua", False)]:
        root.removeHandler(old)
    handler = json_handler(stream)
    handler._motcua = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())


__all__ = [
    "DossierFilter",
    "DossierLogger",
    "JsonFormatter",
    "configure_logging",
    "current_dossier",
    "dossier_scope",
    "json_handler",
    "tag_dossier",
]
