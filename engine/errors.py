"""Named domain errors; the web layer, the API and the CLI turn them into responses."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error an officer can act on; `code` is stable for the JSON API."""

    code = "domain_error"
    http_status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    code = "not_found"
    http_status = 404


class Forbidden(DomainError):
    code = "forbidden"
    http_status = 403


class Conflict(DomainError):
    """Somebody else changed the same thing first (or the state does not allow the action)."""

    code = "conflict"
    http_status = 409


class InvalidInput(DomainError):
    """Input that does not fit; `field` names it when there is one."""

    code = "invalid"
    http_status = 422

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidFields(InvalidInput):
    """Several fields that do not fit, found in one pass: `fields` maps each to its message; `field`
    is the first of them."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(fields.values()), next(iter(fields), None))
        self.fields = dict(fields)


class TooLarge(DomainError):
    """An upload over the size cap."""

    code = "too_large"
    http_status = 413


class Unauthenticated(DomainError):
    """No valid credentials (wrong password, missing or revoked token)."""

    code = "unauthenticated"
    http_status = 401


class NoActiveVersion(DomainError):
    code = "no_active_version"
    http_status = 409


class InvalidProcess(DomainError):
    """A BPMN document that does not validate; `problems` lists every one of them."""

    code = "invalid_process"
    http_status = 422

    def __init__(self, message: str, problems: list | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class InvalidStepTable(InvalidInput):
    """A step table that cannot become a diagram; `rows` lists every row's problem, all at once."""

    code = "invalid_step_table"

    def __init__(self, message: str, rows: list | None = None) -> None:
        super().__init__(message, "file")
        self.rows = rows or []
