"""Search: changes are queued in the outbox inside the writing transaction; the indexer applies them.

Domains register a provider per subject type that turns an id into an ``Entry`` (or None when the
object is gone), and a lister for full rebuilds.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from flask import current_app
from sqlmodel import Session, col, select

from cmsflow.auth import permissions
from cmsflow.auth.models import User
from cmsflow.core import signals
from cmsflow.core.db import session_scope, utcnow
from cmsflow.core.errors import CmsflowError
from cmsflow.search.backend import Entry, Hit, IndexBusy, IndexUnavailable, SearchBackend
from cmsflow.search.models import SearchOutbox

log = logging.getLogger(__name__)


class SearchRebuilding(CmsflowError):
    """The index is being rebuilt from the database by another process; the search answers again shortly."""

    status = 503
    code = "search_rebuilding"

_PROVIDERS: dict[str, Callable[[Session, int], Entry | None]] = {}
_LISTERS: dict[str, Callable[[Session], Iterable[int]]] = {}


def register_provider(subject_type: str, provider: Callable, lister: Callable) -> None:
    _PROVIDERS[subject_type] = provider
    _LISTERS[subject_type] = lister


def backend() -> SearchBackend:
    return current_app.extensions["cmsflow_search"]


@signals.subject_changed.connect
def _enqueue(subject_type, subject_id: int, session: Session, **_kw) -> None:
    if subject_type in _PROVIDERS:
        session.add(SearchOutbox(subject_type=subject_type, subject_id=subject_id))


def process_outbox(session: Session, batch: int = 500) -> int:
    """Apply pending outbox rows to the index; returns rows applied (0 if the index is busy).

    A missing index (never built, or deleted) or a damaged one is rebuilt from the database instead (logged): an
    index holding only the latest changes would silently lose everything else."""
    rows = session.exec(select(SearchOutbox).where(SearchOutbox.processed_at.is_(None))
                        .order_by(SearchOutbox.id).limit(batch)).all()
    if not rows:
        return 0
    if not backend().exists():
        return len(rows) if _rebuild(session, "missing") == "rebuilt" else 0
    entries, deletes, seen = [], [], set()
    for row in rows:
        key = (row.subject_type, row.subject_id)
        if key in seen:
            continue
        seen.add(key)
        entry = _PROVIDERS[row.subject_type](session, row.subject_id)
        if entry is None:
            deletes.append(f"{row.subject_type}:{row.subject_id}")
        else:
            entries.append(entry)
    try:
        backend().upsert(entries, deletes)
    except IndexBusy:
        return 0
    except IndexUnavailable as exc:
        return len(rows) if _rebuild(session, exc.reason) == "rebuilt" else 0
    now = utcnow()
    for row in rows:
        row.processed_at = now
    session.commit()
    return len(rows)


def reindex(session: Session) -> int:
    """Rebuild the whole index from the database; returns the number of entries. IndexBusy when another process
    is rebuilding it. Outbox rows pending when it starts are done; later ones are applied by the next pass."""
    pending = list(session.exec(select(SearchOutbox.id).where(SearchOutbox.processed_at.is_(None))))
    entries = []
    for subject_type, lister in _LISTERS.items():
        for subject_id in lister(session):
            entry = _PROVIDERS[subject_type](session, subject_id)
            if entry is not None:
                entries.append(entry)
    backend().rebuild(entries)
    for start in range(0, len(pending), 500):
        ids = pending[start:start + 500]
        for row in session.exec(select(SearchOutbox).where(col(SearchOutbox.id).in_(ids))).all():
            row.processed_at = utcnow()
    session.commit()
    return len(entries)


def ensure_index(session: Session, deep: bool = False) -> str:
    """Check the index (``deep``: read every entry, see ``WhooshBackend.check``) and rebuild it from the database
    when it is missing or damaged. Returns "ok", "rebuilt", or "busy" (another process is rebuilding it)."""
    reason = backend().check(deep=deep)
    if reason is None:
        return "ok"
    return _rebuild(session, reason)


def _rebuild(session: Session, reason: str) -> str:
    log.warning("search index %s: rebuilding it from the database", reason)
    try:
        n = reindex(session)
    except IndexBusy:
        log.warning("search index: another process is rebuilding it")
        return "busy"
    log.warning("search index rebuilt from the database: %d entries", n)
    return "rebuilt"


def search(user: User, query: str, limit: int = 20) -> list[Hit]:
    """Hits the user may see, best first.

    A missing or damaged index is rebuilt from the database at once (logged) and the search answered from the new
    one; SearchRebuilding (503, a message to try again shortly) while another process is rebuilding it. A failure
    that a deep check of the index does not confirm is raised as it is (a rebuild would not help)."""
    def run() -> list[Hit]:
        return backend().search(query, limit=limit, visible=lambda visibility: permissions.visible(user, visibility))

    try:
        return run()
    except IndexUnavailable as exc:
        reason = exc.reason if exc.reason == "missing" else backend().check(deep=True)
        if reason is None:
            raise
        with session_scope() as session:
            outcome = _rebuild(session, reason)
    if outcome == "busy":
        raise SearchRebuilding("搜索索引正在从数据库重建，请稍后再试")
    return run()
