"""Domain errors. Each carries the HTTP-ish code the edge maps it to and a Chinese message."""
from __future__ import annotations


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, code: str | None = None, details: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or {}


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Invalid(DomainError):
    """Malformed input: a field missing, of the wrong type, or naming nothing that exists."""

    status = 422
    code = "invalid"


def invalid_field(field: str, message: str) -> Invalid:
    """An Invalid (422) naming the field at fault in `details.field`."""
    return Invalid(message, details={"field": field})


class Conflict(DomainError):
    """409: stale_version, invalid_state, guard_failed or duplicate (set `code`)."""

    status = 409
    code = "conflict"
