"""Content-addressed file storage: blobs on disk named by SHA-256, verified on every read."""
from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import datetime
from pathlib import Path

from sqlmodel import Field, Session, SQLModel

from cmsflow.core.db import utcnow
from cmsflow.core.errors import CmsflowError


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


class FileStore:
    """Write-once blob store. ``put`` is idempotent; ``get`` raises IntegrityError on a hash mismatch."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def put(self, session: Session, data: bytes, content_type: str) -> str:
        """Store ``data`` and return its SHA-256 hex digest; records a StoredFile row in ``session``."""
        digest = hashlib.sha256(data).hexdigest()
        path = self.path_for(digest)
        if not path.exists() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            # new blob, or a damaged copy on disk that the same content can repair
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
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
