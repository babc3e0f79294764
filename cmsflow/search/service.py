"""Search: changes are queued in the outbox inside the writing transaction; the indexer applies them.

Domains register a provider per subject type that turns an id into an ``Entry`` (or None when the
object is gone), and a lister for full rebuilds.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

from flask import current_app
from sqlmodel import Session, select

from cmsflow.auth.models import User
from cmsflow.core import signals
from cmsflow.core.db import utcnow
from cmsflow.search.backend import Entry, Hit, IndexBusy, SearchBackend
from cmsflow.search.models import SearchOutbox

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
    """Apply pending outbox rows to the index; returns rows applied (0 if the index is busy)."""
    rows = session.exec(select(SearchOutbox).where(SearchOutbox.processed_at.is_(None))
                        .order_by(SearchOutbox.id).limit(batch)).all()
    if not rows:
        return 0
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
    now = utcnow()
    for row in rows:
        row.processed_at = now
    session.commit()
    return len(rows)


def reindex(session: Session) -> int:
    """Rebuild the whole index from the database; returns the number of entries."""
    entries = []
    for subject_type, lister in _LISTERS.items():
        for subject_id in lister(session):
            entry = _PROVIDERS[subject_type](session, subject_id)
            if entry is not None:
                entries.append(entry)
    backend().rebuild(entries)
    for row in session.exec(select(SearchOutbox).where(SearchOutbox.processed_at.is_(None))).all():
        row.processed_at = utcnow()
    session.commit()
    return len(entries)


def visible_to(user: User, visibility: str) -> bool:
    """``visibility`` is "all" or tokens ``dept:<id>``, ``user:<id>``, ``role:<name>``."""
    if visibility == "all":
        return True
    tokens = set(visibility.split())
    return bool({f"user:{user.id}", f"dept:{user.department_id}", f"role:{user.role}"} & tokens)


def search(user: User, query: str, limit: int = 20) -> list[Hit]:
    """Hits the user may see, best first."""
    return backend().search(query, limit=limit, visible=lambda visibility: visible_to(user, visibility))
