"""audit trail: the history digest covers actor_name; signatures bound to their history entry

Revision ID: c4a9e2d7f318
Revises: c3a9e5d17b20
Create Date: 2026-12-03 12:40:00

Choice — re-compute, not version, the digest. Digest version 2 adds ``actor_name`` (shown to auditors, so it must be
inside the chain: 21 CFR Part 11 §11.10(e), EU GMP Annex 11 §9). Keeping version-1 entries under the old digest would
leave the name of every existing entry editable for good; instead this migration

1. verifies the whole chain under digest version 1 and stops (nothing changed) if it is broken — a tampered chain is
   never laundered into a valid one;
2. lifts the append-only triggers (``cmsflow.history.guard``, SQLite and PostgreSQL), re-computes ``prev_hash`` and
   ``hash`` of every entry with digest version 2, and re-installs the triggers — all inside the migration's
   transaction, so a failure leaves the old chain and the triggers as they were;
3. (a database with entries) appends one entry ``history_digest_upgraded`` (subject ``history`` 0) recording the
   old head hash, the number of entries re-hashed and the ids of the signatures made before signatures were
   bound (``legacy_signatures``: ``verify-history`` accepts those without a bound entry, and no other).

It also adds ``signature.activity_entry_id`` (FK to ``activity_entry``) and ``signature.signed_sha256``.
The digest functions are frozen copies: ``cmsflow.history.service._digest`` must stay equal to ``digest_v2``.
"""
import hashlib
import json
from datetime import UTC, datetime
from types import SimpleNamespace

import sqlalchemy as sa
import sqlmodel
from alembic import op

from cmsflow.history import guard

revision = 'c4a9e2d7f318'
down_revision = 'c3a9e5d17b20'
branch_labels = None
depends_on = None

GENESIS = "0" * 64

entries = sa.table(
    "activity_entry",
    sa.column("id", sa.Integer), sa.column("at", sqlmodel.sql.sqltypes.UTCDateTime()),
    sa.column("actor_id", sa.Integer), sa.column("actor_name", sa.String), sa.column("action", sa.String),
    sa.column("subject_type", sa.String), sa.column("subject_id", sa.Integer), sa.column("details", sa.JSON),
    sa.column("prev_hash", sa.String), sa.column("hash", sa.String),
)


def _payload(prev: str, row, with_name: bool) -> dict:
    data = {"prev": prev, "at": row.at.isoformat(timespec="microseconds"), "actor": row.actor_id,
            "action": row.action, "type": row.subject_type, "id": row.subject_id, "details": row.details}
    if with_name:
        data["actor_name"] = row.actor_name
    return data


def _hash(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def digest_v1(prev: str, row) -> str:
    return _hash(_payload(prev, row, False))


def digest_v2(prev: str, row) -> str:
    return _hash(_payload(prev, row, True))


def _verified(old) -> list:
    """Every entry, in order, after checking the whole chain under the digest ``old`` (RuntimeError if broken)."""
    rows = list(op.get_bind().execute(sa.select(entries).order_by(entries.c.id)))
    prev = GENESIS
    for row in rows:
        if row.prev_hash != prev or old(prev, row) != row.hash:
            raise RuntimeError(f"审计日志哈希链在第 {row.id} 条处断裂，迁移已停止（未做任何改动）；"
                               "请先查明原因（cmsflow verify-history）")
        prev = row.hash
    return rows


def _rechain(rows: list, new) -> None:
    """Rewrite ``prev_hash`` and ``hash`` of ``rows`` under the digest ``new``, the triggers lifted meanwhile."""
    bind = op.get_bind()
    guard.remove(bind)
    prev = GENESIS
    for row in rows:
        digest = new(prev, row)
        bind.execute(sa.update(entries).where(entries.c.id == row.id).values(prev_hash=prev, hash=digest))
        prev = digest
    guard.install(bind)


def upgrade() -> None:
    rows = _verified(digest_v1)  # before any change: a broken chain stops the migration with nothing done
    old_head = rows[-1].hash if rows else GENESIS
    with op.batch_alter_table('signature', schema=None) as batch_op:
        batch_op.add_column(sa.Column('activity_entry_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('signed_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_signature_activity_entry_id_activity_entry'), 'activity_entry',
                                    ['activity_entry_id'], ['id'])
    _rechain(rows, digest_v2)
    count = len(rows)
    bind = op.get_bind()
    legacy = [r[0] for r in bind.execute(sa.text("SELECT id FROM signature ORDER BY id"))]
    if not count and not legacy:
        return  # a new, empty database: nothing was hashed the old way (and a restore needs it empty)
    last = bind.execute(sa.select(entries.c.hash).order_by(entries.c.id.desc()).limit(1)).scalar() or GENESIS
    new = {"at": datetime.now(UTC), "actor_id": None, "actor_name": "系统", "action": "history_digest_upgraded",
           "subject_type": "history", "subject_id": 0,
           "details": {"digest": 2, "rehashed": count, "old_head": old_head, "legacy_signatures": legacy,
                       "revision": revision}}
    bind.execute(sa.insert(entries).values(**new, prev_hash=last, hash=digest_v2(last, SimpleNamespace(**new))))


def downgrade() -> None:
    _rechain(_verified(digest_v2), digest_v1)
    with op.batch_alter_table('signature', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_signature_activity_entry_id_activity_entry'), type_='foreignkey')
        batch_op.drop_column('signed_sha256')
        batch_op.drop_column('activity_entry_id')
