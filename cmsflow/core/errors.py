"""Domain errors with a stable code; the web and API layers turn them into messages / JSON."""
from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager


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


class StorageFull(CmsflowError):
    """The disk (or the user's quota) holding the instance is full: nothing was saved. HTTP 507 Insufficient
    Storage (RFC 4918 §11.5); raised for OSError ENOSPC / EDQUOT by :func:`raise_if_storage_full`."""

    status = 507
    code = "storage_full"

    def __init__(self, message: str = "存储空间已满，文件未保存，请联系系统管理员", code: str | None = None,
                 details: dict | None = None):
        super().__init__(message, code, details)


STORAGE_FULL_ERRNOS = frozenset(filter(None, (errno.ENOSPC, getattr(errno, "EDQUOT", None))))


def raise_if_storage_full(exc: BaseException) -> None:
    """Re-raise ``exc`` as :class:`StorageFull` (chained) when it is an OSError for a full disk or quota
    (ENOSPC, EDQUOT); otherwise return and let the caller re-raise the original error."""
    if isinstance(exc, OSError) and exc.errno in STORAGE_FULL_ERRNOS:
        raise StorageFull() from exc


SQLITE_FULL = 13  # sqlite3 result code: "database or disk is full"
PG_DISK_FULL = "53100"  # PostgreSQL SQLSTATE disk_full (Appendix A, class 53 insufficient resources)


def is_storage_full(exc: BaseException) -> bool:
    """Whether ``exc`` (an OSError or a SQLAlchemy DBAPIError, possibly chained) means the disk or quota is full:
    errno ENOSPC / EDQUOT, SQLite's SQLITE_FULL ("database or disk is full") or PostgreSQL's SQLSTATE 53100."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in STORAGE_FULL_ERRNOS:
            return True
        if getattr(exc, "sqlite_errorcode", None) == SQLITE_FULL or "database or disk is full" in str(exc):
            return True
        if getattr(exc, "pgcode", None) == PG_DISK_FULL or getattr(exc, "sqlstate", None) == PG_DISK_FULL:
            return True
        exc = getattr(exc, "orig", None) or exc.__cause__
    return False


@contextmanager
def storage_full_as_error() -> Iterator[None]:
    """Context manager: an OSError ENOSPC / EDQUOT raised inside becomes :class:`StorageFull`; others propagate."""
    try:
        yield
    except OSError as exc:
        raise_if_storage_full(exc)
        raise
