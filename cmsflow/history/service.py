"""Append to and verify the hash-chained activity log.

Every field an auditor is shown — time, actor id *and* actor name, action, subject and details — is inside the
digest (21 CFR Part 11 §11.10(e): secure, computer-generated, time-stamped audit trails; EU GMP Annex 11 §9).
Digest version 2 (actor name included) replaced version 1 with the Alembic revision ``c4a9e2d7f318``, which
re-computed the stored chain after checking it under version 1.
"""
from __future__ import annotations

import hashlib
import json

from sqlalchemy import text
from sqlmodel import Session, select

from cmsflow.core.db import is_postgres, utcnow
from cmsflow.history.models import ActivityEntry

GENESIS = "0" * 64


def _digest(prev_hash: str, entry: ActivityEntry) -> str:
    """SHA-256 (hex) over the previous hash and the entry's canonical JSON (sorted keys, no ASCII escaping).

    Keep in step with ``digest_v2`` of migration ``c4a9e2d7f318``: changing it breaks every stored hash."""
    payload = json.dumps({
        "prev": prev_hash, "at": entry.at.isoformat(timespec="microseconds"), "actor": entry.actor_id,
        "actor_name": entry.actor_name, "action": entry.action, "type": entry.subject_type, "id": entry.subject_id,
        "details": entry.details,
    }, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def record(session: Session, actor, action: str, subject_type: str, subject_id: int,
           **details) -> ActivityEntry:
    """Append one entry chained to the latest; ``actor`` is a User or None for the system."""
    if is_postgres(session):
        session.execute(text("SELECT pg_advisory_xact_lock(731002)"))  # one chain writer at a time
    last = session.exec(select(ActivityEntry.hash).order_by(ActivityEntry.id.desc()).limit(1)).first()
    entry = ActivityEntry(at=utcnow(), actor_id=getattr(actor, "id", None),
                          actor_name=getattr(actor, "display_name", "系统"), action=action,
                          subject_type=subject_type, subject_id=subject_id,
                          details=json.loads(json.dumps(details, default=str)), prev_hash=last or GENESIS,
                          hash="")
    entry.hash = _digest(entry.prev_hash, entry)
    session.add(entry)
    session.flush()
    return entry


def for_subject(session: Session, subject_type: str, subject_id: int) -> list[ActivityEntry]:
    q = select(ActivityEntry).where(ActivityEntry.subject_type == subject_type,
                                    ActivityEntry.subject_id == subject_id)
    return list(session.exec(q.order_by(ActivityEntry.id)))


def verify_chain(session: Session) -> tuple[bool, int | None]:
    """Walk the chain; return (True, None) or (False, id of the first broken entry)."""
    return verify_segment(session, 0, GENESIS)


def verify_segment(session: Session, after_id: int, after_hash: str) -> tuple[bool, int | None]:
    """Walk the entries with id > ``after_id``, the first chained to ``after_hash``; (True, None) or
    (False, id of the first broken entry). ``verify_segment(s, 0, GENESIS)`` is the whole chain."""
    prev = after_hash
    q = select(ActivityEntry).where(ActivityEntry.id > after_id).order_by(ActivityEntry.id)
    for entry in session.exec(q):
        if entry.prev_hash != prev or _digest(prev, entry) != entry.hash:
            return False, entry.id
        prev = entry.hash
    return True, None
