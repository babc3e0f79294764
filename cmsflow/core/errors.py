"""Domain errors with a stable code; the web and API layers turn them into messages / JSON."""
from __future__ import annotations


class CmsflowError(Exception):
    """Base error: ``code`` is machine-readable, ``message`` is shown to the user."""

    status = 400
    code = "bad_request"
    details = None  # optional JSON-safe detail (field or row errors) added to API errors

    def __init__(self, message: str, code: str | None = None, details: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if details is not None:
            self.details = details


class ValidationError(CmsflowError):
    status = 400
    code = "invalid"


class PermissionDenied(CmsflowError):
    status = 403
    code = "forbidden"


class NotFound(CmsflowError):
    status = 404
    code = "not_found"


class Conflict(CmsflowError):
    status = 409
    code = "conflict"
