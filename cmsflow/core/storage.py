"""Content-addressed file storage: blobs on disk named by SHA-256, verified on every read."""
from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select as sa_select
from sqlmodel import Field, Session, SQLModel, select

from cmsflow.core.db import utcnow
from cmsflow.core.errors import CmsflowError, raise_if_storage_full


class StoredFile(SQLModel, table=True):
    """Metadata of one stored blob; the blob lives at ``<files>/<sha[:2]>/<sha>``."""

    __tablename__ = "stored_file"
    sha256: str = Field(primary_key=True, max_length=64)
    size: int
    content_type: str = Field(max_length=120)
    created_at: datetime = Field(default_factory=utcnow)


class IntegrityError(CmsflowError):
    """A stored blob no longer matches its SHA-256 (tampering or disk corruption)."""

    status = 500
    code = "file_integrity"


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` all or nothing: into a temporary file in the same folder, flushed and fsynced,
    then renamed over ``path`` (``os.replace``). On any failure the temporary file is removed and ``path`` is untouched;
    ENOSPC / EDQUOT become :class:`cmsflow.core.errors.StorageFull` (OWASP ASVS 4.0.3 V7.4.1: a generic message,
    no stack trace; V12.1 resource exhaustion handled), other errors are re-raised."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="tmp", suffix=".partial")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise_if_storage_full(exc)
        raise
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


class FileStore:
    """Write-once blob store. ``put`` is idempotent; ``get`` raises IntegrityError on a hash mismatch."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def put(self, session: Session, data: bytes, content_type: str) -> str:
        """Store ``data`` and return its SHA-256 hex digest; records a StoredFile row in ``session``.

        The blob is written to a temporary file beside its final path and renamed into place
        (:func:`write_atomic`), so a failed write leaves neither a partial blob nor a ``tmp*`` file. A full disk
        or quota raises StorageFull (HTTP 507, nothing added to ``session``); other OSErrors propagate."""
        digest = hashlib.sha256(data).hexdigest()
        path = self.path_for(digest)
        if not path.exists() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            # new blob, or a damaged copy on disk that the same content can repair
            write_atomic(path, data)
        if session.get(StoredFile, digest) is None:
            session.add(StoredFile(sha256=digest, size=len(data), content_type=content_type))
            session.flush()  # rows referring to it may be flushed first otherwise (no ORM relationship)
        return digest

    def get(self, sha256: str) -> bytes:
        """Read a blob and verify its hash; raises IntegrityError if missing or altered."""
        path = self.path_for(sha256)
        if not path.exists():
            raise IntegrityError(f"文件 {sha256[:12]}… 缺失")
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise IntegrityError(f"文件 {sha256[:12]}… 校验失败（SHA-256 不符），可能已被篡改")
        return data


@dataclass
class FileCheck:
    """Result of :func:`verify_files`: how many registered blobs were re-hashed, which are missing or altered
    (SHA-256 or size no longer match), and blobs on disk that no row registers (left by a rolled-back upload)."""

    checked: int = 0
    missing: list[str] = field(default_factory=list)
    altered: list[str] = field(default_factory=list)
    unregistered: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.altered


def _hash_file(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def verify_files(session: Session, store: FileStore) -> FileCheck:
    """Re-hash every stored file against its SHA-256 name and recorded size (issue 9 item 1; 21 CFR Part 11
    §11.10(a), EU GMP Annex 11 §7.1: stored records are checked for integrity). Reads each blob in 1 MB chunks."""
    result, known = FileCheck(), set()
    for sha, size in session.exec(select(StoredFile.sha256, StoredFile.size).order_by(StoredFile.sha256)):
        known.add(sha)
        result.checked += 1
        path = store.path_for(sha)
        if not path.is_file():
            result.missing.append(sha)
        elif _hash_file(path) != (sha, size):
            result.altered.append(sha)
    if store.root.is_dir():
        result.unregistered = sorted(p.name for p in store.root.glob("*/*") if p.is_file() and p.name not in known)
    return result


def references(session: Session, sha256: str) -> list[str]:
    """Where a stored file is used: ``table#id.column`` for every column with a foreign key to stored_file."""
    out = []
    for table in SQLModel.metadata.sorted_tables:
        pk = list(table.primary_key.columns)
        for col in table.columns:
            if any(fk.column.table.name == StoredFile.__tablename__ for fk in col.foreign_keys) and pk:
                for row in session.execute(sa_select(*pk).where(col == sha256)):
                    out.append(f"{table.name}#{'/'.join(str(v) for v in row)}.{col.name}")
    return out
