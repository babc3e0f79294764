"""The chain head kept outside the history table: an HMAC-signed checkpoint file, so deleting the newest entries or
emptying the table (PostgreSQL TRUNCATE, or DELETE with the triggers lifted) is detected — the hash chain alone
cannot tell a shortened chain from a complete one (21 CFR Part 11 §11.10(e); EU GMP Annex 11 §9).

File ``<FILES_DIR>/history-checkpoint.json``::

    {"last_id": int, "last_hash": str, "count": int, "written_at": ISO 8601 UTC, "hmac": hex}

``count`` is the number of entries with ``id <= last_id``; ``hmac`` is HMAC-SHA256 over the canonical JSON of the
other four fields with the key ``HISTORY_HMAC_KEY`` (falling back to ``SECRET_KEY``). Written atomically (temporary
file in the same folder + ``os.replace``). Advanced by every worker pass and by ``cmsflow seal-history``; an
advance first checks that the table still holds the checkpointed head and that the entries after it chain to it,
so a tampered table is never sealed. A restore writes a fresh checkpoint of the restored table.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from sqlmodel import Session, func, select

from cmsflow.core.db import utcnow
from cmsflow.core.errors import CmsflowError
from cmsflow.core.storage import write_atomic
from cmsflow.history.models import ActivityEntry
from cmsflow.history.service import GENESIS, verify_segment

FILE_NAME = "history-checkpoint.json"


class CheckpointError(CmsflowError):
    """The checkpoint file is unreadable or its HMAC does not match (``bad_checkpoint``), or the table does not
    match the checkpoint (``history_truncated``), or the chain after it is broken (``broken_chain``)."""

    status = 409
    code = "bad_checkpoint"


@dataclass(frozen=True)
class Checkpoint:
    """The chain head at ``written_at``: entry ``last_id`` with ``last_hash``, ``count`` entries up to it."""

    last_id: int
    last_hash: str
    count: int
    written_at: str

    def fields(self) -> dict:
        return {"last_id": self.last_id, "last_hash": self.last_hash, "count": self.count,
                "written_at": self.written_at}


def hmac_key(config=None) -> bytes:
    """``HISTORY_HMAC_KEY`` or, when unset, ``SECRET_KEY`` of the app config, as bytes."""
    config = config if config is not None else current_app.config
    key = config.get("HISTORY_HMAC_KEY") or config["SECRET_KEY"]
    return key.encode() if isinstance(key, str) else bytes(key)


def sign(data: bytes, key: bytes) -> str:
    """HMAC-SHA256 (hex) of ``data``."""
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def _canonical(fields: dict) -> bytes:
    return json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def path_for(files_dir=None) -> Path:
    """Where the checkpoint lives: ``FILES_DIR`` / ``history-checkpoint.json``."""
    return Path(files_dir or current_app.config["FILES_DIR"]) / FILE_NAME


def read(path: Path | None = None, key: bytes | None = None) -> Checkpoint | None:
    """The checkpoint, or None when there is none yet. Raises CheckpointError for an unreadable file or an HMAC
    that does not match (the file was written without the key)."""
    path, key = path or path_for(), key or hmac_key()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"审计日志检查点文件 {path} 无法读取") from exc
    try:
        cp = Checkpoint(int(raw["last_id"]), str(raw["last_hash"]), int(raw["count"]), str(raw["written_at"]))
        given = str(raw["hmac"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"审计日志检查点文件 {path} 格式无效") from exc
    if not hmac.compare_digest(given, sign(_canonical(cp.fields()), key)):
        raise CheckpointError(f"审计日志检查点文件 {path} 的 HMAC 不符（文件被改写或密钥不同），拒绝使用")
    return cp


def write(cp: Checkpoint, path: Path | None = None, key: bytes | None = None) -> Path:
    """Write ``cp`` with its HMAC all or nothing (:func:`cmsflow.core.storage.write_atomic`: temporary file +
    ``os.replace``; a full disk is StorageFull); returns the path."""
    path, key = path or path_for(), key or hmac_key()
    body = {**cp.fields(), "hmac": sign(_canonical(cp.fields()), key)}
    write_atomic(path, json.dumps(body, ensure_ascii=False, indent=1).encode("utf-8"))
    return path


def head(session: Session) -> Checkpoint:
    """The table's current head as a checkpoint (id 0 / GENESIS / 0 for an empty table)."""
    last = session.exec(select(ActivityEntry.id, ActivityEntry.hash).order_by(ActivityEntry.id.desc()).limit(1)).first()
    if last is None:
        return Checkpoint(0, GENESIS, 0, utcnow().isoformat())
    count = session.exec(select(func.count()).select_from(ActivityEntry).where(ActivityEntry.id <= last[0])).one()
    return Checkpoint(last[0], last[1], count, utcnow().isoformat())


def compare(session: Session, cp: Checkpoint) -> list[str]:
    """What the table contradicts in ``cp`` (Chinese messages; empty when consistent): the checkpointed entry
    missing or with another hash, or fewer/more entries up to it than counted."""
    problems = []
    if cp.last_id:
        stored = session.exec(select(ActivityEntry.hash).where(ActivityEntry.id == cp.last_id)).first()
        if stored is None:
            problems.append(f"检查点记录的第 {cp.last_id} 条不存在")
        elif stored != cp.last_hash:
            problems.append(f"检查点记录的第 {cp.last_id} 条哈希已变")
    count = session.exec(select(func.count()).select_from(ActivityEntry).where(ActivityEntry.id <= cp.last_id)).one()
    if count < cp.count:
        problems.append(f"审计日志只剩 {count} 条，检查点（{cp.written_at}）时有 {cp.count} 条")
    elif count > cp.count:
        problems.append(f"检查点之前的条目有 {count} 条，检查点（{cp.written_at}）记录为 {cp.count} 条")
    return problems


def advance(session: Session, path: Path | None = None, key: bytes | None = None) -> tuple[Checkpoint, int]:
    """Seal the current head: returns (new checkpoint, entries added since the previous one).

    Cheap: only the entries after the previous checkpoint are hashed (the whole chain when there is none yet).
    Raises CheckpointError (nothing written) when the previous checkpoint is invalid, the table contradicts it
    (``history_truncated``) or the entries after it do not chain (``broken_chain``)."""
    path, key = path or path_for(), key or hmac_key()
    previous = read(path, key)
    if previous is not None:
        problems = compare(session, previous)
        if problems:
            raise CheckpointError("审计日志被截断或改写：" + "；".join(problems) + "；检查点未更新",
                                  code="history_truncated")
    after_id, after_hash = (previous.last_id, previous.last_hash) if previous else (0, GENESIS)
    ok, broken = verify_segment(session, after_id, after_hash)
    if not ok:
        raise CheckpointError(f"审计日志哈希链在第 {broken} 条处断裂；检查点未更新", code="broken_chain")
    new = head(session)
    write(new, path, key)
    return new, new.count - (previous.count if previous else 0)


def reset(session: Session, path: Path | None = None, key: bytes | None = None) -> Checkpoint:
    """Write a checkpoint of the current head without comparing it to the previous one — only after a restore
    (the restored table replaces whatever the old checkpoint described). The caller has verified the chain."""
    new = head(session)
    write(new, path, key)
    return new
