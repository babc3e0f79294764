"""Backup and restore (issue 9 item 6): one ``.tar.gz`` archive holding the database rows, the stored files and a
manifest with SHA-256 hashes; restoring it into an empty instance gives identical records, files that verify and a
rebuilt search index.

Archive layout (every member a regular file)::

    manifest.json              format, version, Alembic revision, source dialect, per table: member, rows,
                               SHA-256 and bytes of its dump; per stored file: SHA-256 and size
    manifest.hmac              HMAC-SHA256 (hex) of the manifest's bytes, key ``HISTORY_HMAC_KEY`` or else
                               ``SECRET_KEY`` (:func:`cmsflow.history.checkpoint.hmac_key`)
    db/<table>.jsonl           one JSON object per row, column name → value, ordered by primary key
    files/<sha[:2]>/<sha256>   the stored blobs, named by their SHA-256 as in the file store

The dump is database-neutral: rows are read and written through SQLAlchemy with the column types of
``SQLModel.metadata`` (datetimes, dates and times as ISO 8601, decimals as strings, bytes as base64, JSON columns as
JSON), so an archive taken on SQLite restores into PostgreSQL and the other way round. Tables are written and read in
foreign-key dependency order (``metadata.sorted_tables``).

Consistency: the dump is read inside one read-only transaction (REPEATABLE READ on PostgreSQL, a deferred read
transaction on SQLite in WAL mode), so a backup taken while people work is one coherent snapshot; stored files are
write-once, so every blob a row of the snapshot names is already on disk. The archive is written to a temporary
file (mode 0600: it holds password and token hashes) beside the target and renamed into place.

Restore refuses — with a Chinese message, changing nothing — an archive that is not a tar file, has unexpected,
linked or path-traversal members (``..``, absolute paths; extraction also goes through tarfile's ``data`` filter),
a manifest without ``manifest.hmac`` or whose HMAC does not match (the manifest was rewritten — the SHA-256 of every
dump and file is in it, so it is the archive's seal; EU GMP Annex 11 §7.1, 21 CFR Part 11 §11.10(c)), a manifest of
another format, an Alembic revision other than the code's head, a dump or file whose hash or size
does not match the manifest, or a target instance that is not empty. A blank target database (no tables) is
migrated to head first. Rows go in with one transaction; on PostgreSQL every serial sequence is then set past
max(id); the hash chain of the activity log and the stored files are verified before the commit, and the search
index is rebuilt after it, and a new history checkpoint (:mod:`cmsflow.history.checkpoint`) of the restored table
is written, so ``verify-history`` on the restored instance compares against the restored chain.

An archive written by an instance with another key restores only when that key is given explicitly
(``restore_backup(..., key=...)``, ``cmsflow restore --source-key``); there is no way to skip the check.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
import time
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as dtime
from decimal import Decimal
from pathlib import Path

from flask import current_app
from sqlalchemy import Table, func, insert, inspect, select, text
from sqlalchemy import types as sat
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, SQLModel

from cmsflow.core.db import get_engine, utcnow
from cmsflow.core.errors import CmsflowError, storage_full_as_error
from cmsflow.core.storage import FileStore, StoredFile, references, verify_files

FORMAT = "cmsflow-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MANIFEST_HMAC = "manifest.hmac"
BATCH = 1000
CHUNK = 1024 * 1024
_DB_MEMBER = re.compile(r"db/([a-z0-9_]{1,63})\.jsonl")
_FILE_MEMBER = re.compile(r"files/([0-9a-f]{2})/([0-9a-f]{64})")


class BackupError(CmsflowError):
    """A backup or restore refused before anything was changed. ``code``: ``malformed_archive``, ``unsafe_archive``,
    ``revision_mismatch``, ``hash_mismatch``, ``not_empty``, ``broken_chain``, ``file_integrity``, ``bad_path``,
    ``restore_failed``, ``unsupported_type``, ``manifest_hmac`` (HMAC of the manifest missing or not matching)."""

    status = 400
    code = "backup_refused"


@dataclass
class BackupSummary:
    """What :func:`write_backup` wrote: ``rows`` per table (dependency order), ``files`` blobs of ``file_bytes``
    bytes, an archive of ``archive_bytes`` bytes at ``path``, in ``seconds`` (wall clock)."""

    path: Path
    revision: str
    rows: dict[str, int]
    files: int
    file_bytes: int
    archive_bytes: int
    seconds: float


@dataclass
class RestoreSummary:
    """What :func:`restore_backup` restored: ``rows`` per table, ``files`` blobs (``files_added`` of them new on
    disk), ``indexed`` search entries rebuilt, ``migrated`` when a blank database was created first, ``seconds``."""

    revision: str
    rows: dict[str, int]
    files: int
    files_added: int
    indexed: int
    seconds: float
    migrated: bool = False
    source_dialect: str = ""
    created_at: str = ""
    tables: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------------------------
# Alembic revisions


def _alembic_config(url: str | None = None):
    from alembic.config import Config

    root = Path(__file__).resolve().parent.parent.parent
    cfg = Config(str(root / "alembic.ini"))
    cfg.set_main_option("script_location", str(root / "migrations"))
    if url:
        cfg.attributes["database_url"] = url
    return cfg


def code_head() -> str:
    """The Alembic head revision of this code (a single head; several heads are a packaging error)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def database_revision(conn: Connection) -> str | None:
    """The Alembic revision the database is at, or None when it has never been migrated."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


# ---------------------------------------------------------------------------------------------------------------
# Type-aware encoding of column values


def _kind(table: Table, column) -> str:
    """How a column's values are written to JSON: datetime, date, time, decimal, bytes, uuid, json or plain.
    An unknown column type raises, so a new type can never be dumped wrongly without anyone noticing."""
    typ = column.type
    if isinstance(typ, sat.TypeDecorator):
        typ = typ.impl_instance
    for kind, types in (("datetime", sat.DateTime), ("date", sat.Date), ("time", sat.Time), ("json", sat.JSON),
                        ("plain", (sat.Float, sat.Integer, sat.Boolean, sat.String, sat.Text)),
                        ("decimal", sat.Numeric), ("bytes", sat.LargeBinary), ("uuid", sat.Uuid)):
        if isinstance(typ, types):
            return kind
    raise BackupError(f"数据表 {table.name} 的列 {column.name} 类型 {typ!r} 不支持备份", code="unsupported_type")


def _encode(kind: str, value):
    if value is None or kind in ("plain", "json"):
        return value
    if kind in ("datetime", "date", "time"):
        return value.isoformat()
    if kind == "bytes":
        return base64.b64encode(value).decode("ascii")
    return str(value)  # decimal, uuid


_DECODERS = {"datetime": datetime.fromisoformat, "date": date.fromisoformat, "time": dtime.fromisoformat,
             "decimal": Decimal, "bytes": base64.b64decode, "uuid": uuid.UUID}


def _decode(kind: str, value):
    if value is None or kind in ("plain", "json"):
        return value
    return _DECODERS[kind](value)


def _tables() -> list[Table]:
    return list(SQLModel.metadata.sorted_tables)


# ---------------------------------------------------------------------------------------------------------------
# Backup


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """A connection inside one read-only transaction that sees a single snapshot of the database."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        elif engine.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN")  # pysqlite opens no transaction for reads by itself
        try:
            yield conn
        finally:
            conn.rollback()


def _dump_table(conn: Connection, table: Table, work: Path) -> dict:
    """Write ``table``'s rows, ordered by primary key, as JSON lines into ``work``; returns its manifest entry."""
    kinds = [(c.name, _kind(table, c)) for c in table.columns]
    member = f"db/{table.name}.jsonl"
    digest, rows, size = hashlib.sha256(), 0, 0
    stmt = select(table).order_by(*table.primary_key.columns).execution_options(yield_per=BATCH)
    with (work / f"{table.name}.jsonl").open("wb") as fh:
        for row in conn.execute(stmt).mappings():
            line = json.dumps({name: _encode(kind, row[name]) for name, kind in kinds}, ensure_ascii=False,
                              separators=(",", ":")).encode() + b"\n"
            fh.write(line)
            digest.update(line)
            rows += 1
            size += len(line)
    return {"name": table.name, "member": member, "rows": rows, "sha256": digest.hexdigest(), "bytes": size}


class _HashingReader:
    """Wraps a binary file: everything read through it is hashed (SHA-256)."""

    def __init__(self, fh):
        self.fh, self.digest = fh, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        self.digest.update(data)
        return data


def _member_info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o600, int(time.time())
    return info


def _add_blob(tar: tarfile.TarFile, store: FileStore, refs, sha: str, size: int) -> None:
    path = store.path_for(sha)
    if not path.is_file() or path.stat().st_size != size:
        state = "缺失" if not path.is_file() else "大小不符"
        raise BackupError(f"存储文件 {sha}（{refs(sha)}）{state}，备份未写入；请先运行 cmsflow verify-files",
                          code="file_integrity")
    with path.open("rb") as fh:
        reader = _HashingReader(fh)
        tar.addfile(_member_info(f"files/{sha[:2]}/{sha}", size), reader)
    if reader.digest.hexdigest() != sha:
        raise BackupError(f"存储文件 {sha}（{refs(sha)}）校验失败（SHA-256 不符），备份未写入；"
                          "请先运行 cmsflow verify-files", code="file_integrity")


def manifest_hmac(data: bytes, key: bytes) -> bytes:
    """The content of ``manifest.hmac``: HMAC-SHA256 (hex, ASCII) of the manifest's exact bytes."""
    from cmsflow.history.checkpoint import sign

    return sign(data, key).encode("ascii")


def _write_archive(fh, manifest: dict, work: Path, store: FileStore, refs, key: bytes) -> None:
    with tarfile.open(fileobj=fh, mode="w:gz", compresslevel=6) as tar:
        data = json.dumps(manifest, ensure_ascii=False, indent=1).encode()
        tar.addfile(_member_info(MANIFEST, len(data)), io.BytesIO(data))
        seal = manifest_hmac(data, key)
        tar.addfile(_member_info(MANIFEST_HMAC, len(seal)), io.BytesIO(seal))
        for entry in manifest["tables"]:
            with (work / f"{entry['name']}.jsonl").open("rb") as dump:
                tar.addfile(_member_info(entry["member"], entry["bytes"]), dump)
        for item in manifest["files"]:
            _add_blob(tar, store, refs, item["sha256"], item["size"])


def _target_path(path: str | Path) -> Path:
    target = Path(path).expanduser().resolve()
    if target.is_dir():
        raise BackupError(f"{target} 是一个目录；请给出备份文件的路径，例如 {target / 'cmsflow.tar.gz'}",
                          code="bad_path")
    if not target.parent.is_dir():
        raise BackupError(f"目录 {target.parent} 不存在", code="bad_path")
    return target


def _refs_lookup(engine: Engine):
    def refs(sha: str) -> str:
        with Session(engine) as session:
            return "、".join(references(session, sha)) or "无记录引用"
    return refs


def write_backup(path: str | Path, engine: Engine | None = None, store: FileStore | None = None,
                 key: bytes | None = None) -> BackupSummary:
    """Write one archive of the whole instance to ``path`` (a ``.tar.gz``; an existing file is replaced atomically).

    Needs an app context (engine, file store) unless both are given. Reads every table of ``SQLModel.metadata``
    inside one snapshot transaction, then adds every stored file, checking its size and SHA-256 on the way; the
    manifest is sealed with an HMAC (``key``, default :func:`cmsflow.history.checkpoint.hmac_key`).
    Raises BackupError (nothing written): ``bad_path`` (a directory, or the folder does not exist),
    ``revision_mismatch`` (the database is not migrated to this code's head), ``file_integrity`` (a stored file is
    missing or altered: run ``verify-files``), ``unsupported_type`` (a column type this module cannot encode).
    """
    from cmsflow.history.checkpoint import hmac_key

    started = time.monotonic()
    target = _target_path(path)
    engine = engine or get_engine()
    store = store or current_app.extensions["cmsflow_files"]
    key = key or hmac_key()
    head = code_head()
    # a full disk is StorageFull (code storage_full); the scratch folder and the partial archive are removed
    with storage_full_as_error(), tempfile.TemporaryDirectory(prefix=".cmsflow-backup-", dir=target.parent) as tmp:
        work = Path(tmp)
        with _snapshot(engine) as conn:
            revision = database_revision(conn)
            if revision != head:
                raise BackupError(f"数据库版本 {revision} 不是本程序的最新版本 {head}；请先运行 cmsflow init",
                                  code="revision_mismatch")
            tables = [_dump_table(conn, table, work) for table in _tables()]
            files = [{"sha256": sha, "size": size} for sha, size in
                     conn.execute(select(StoredFile.sha256, StoredFile.size).order_by(StoredFile.sha256))]
        manifest = {"format": FORMAT, "version": FORMAT_VERSION, "created_at": utcnow().isoformat(),
                    "alembic_revision": revision, "dialect": engine.dialect.name, "tables": tables, "files": files}
        fd, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                _write_archive(fh, manifest, work, store, _refs_lookup(engine), key)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(partial, target)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
    return BackupSummary(path=target, revision=revision, rows={t["name"]: t["rows"] for t in tables},
                         files=len(files), file_bytes=sum(f["size"] for f in files),
                         archive_bytes=target.stat().st_size, seconds=time.monotonic() - started)


# ---------------------------------------------------------------------------------------------------------------
# Restore: reading and checking the archive (nothing in the instance is touched yet)


def _malformed(message: str) -> BackupError:
    return BackupError(f"备份文件无效：{message}；未恢复任何内容", code="malformed_archive")


def _check_members(members: list[tarfile.TarInfo]) -> None:
    """Every member a regular file with a safe path of the archive layout, each name once."""
    from cmsflow.core.uploads import unsafe_member_path

    seen = set()
    for m in members:
        if unsafe_member_path(m.name):
            raise BackupError(f"备份文件含有不安全的路径 {m.name!r}（可能是路径穿越攻击）；未恢复任何内容",
                              code="unsafe_archive")
        if not m.isfile():
            raise BackupError(f"备份文件含有链接或特殊文件 {m.name!r}；未恢复任何内容", code="unsafe_archive")
        if m.name not in (MANIFEST, MANIFEST_HMAC) and not _DB_MEMBER.fullmatch(m.name) \
                and not _FILE_MEMBER.fullmatch(m.name):
            raise _malformed(f"含有不属于备份格式的成员 {m.name!r}")
        if m.name in seen:
            raise _malformed(f"成员 {m.name!r} 出现了两次")
        seen.add(m.name)
    if MANIFEST not in seen:
        raise _malformed("缺少清单 manifest.json")
    if MANIFEST_HMAC not in seen:
        raise BackupError("备份文件缺少清单签名 manifest.hmac（不是本版本 cmsflow 写的备份，或签名被删除）；"
                          "未恢复任何内容", code="manifest_hmac")


def _extract(source: Path, work: Path) -> None:
    try:
        with tarfile.open(source, "r:*") as tar:
            _check_members(tar.getmembers())
            tar.extractall(work, filter="data")
    except tarfile.FilterError as exc:
        raise BackupError(f"备份文件含有不安全的成员（{exc}）；未恢复任何内容", code="unsafe_archive") from exc
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise _malformed(f"无法作为 tar.gz 归档读取（{exc.__class__.__name__}）") from exc


def _check_manifest_hmac(work: Path, key: bytes) -> None:
    data = (work / MANIFEST).read_bytes()
    given = (work / MANIFEST_HMAC).read_bytes().strip()
    if not hmac.compare_digest(given, manifest_hmac(data, key)):
        raise BackupError("备份清单 manifest.json 的 HMAC 签名不符：清单被改写，或备份来自使用其他密钥的实例"
                          "（可用 --source-key 给出原实例的密钥）；未恢复任何内容", code="manifest_hmac")


def _read_manifest(work: Path) -> dict:
    try:
        manifest = json.loads((work / MANIFEST).read_text(encoding="utf-8"))
        ok = (manifest["format"] == FORMAT and manifest["version"] == FORMAT_VERSION
              and isinstance(manifest["alembic_revision"], str) and isinstance(manifest["tables"], list)
              and isinstance(manifest["files"], list))
    except (ValueError, KeyError, TypeError) as exc:
        raise _malformed("清单 manifest.json 无法解析") from exc
    if not ok:
        raise _malformed("清单不是 cmsflow 备份格式（第 1 版）")
    return manifest


def _file_hash(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _check_tables(work: Path, manifest: dict) -> None:
    try:
        entries = {t["name"]: t for t in manifest["tables"]}
        expected = {t.name for t in _tables()}
        if set(entries) != expected or len(entries) != len(manifest["tables"]):
            raise _malformed("清单中的数据表与本程序的数据表不一致")
        for name, entry in entries.items():
            path = work / "db" / f"{name}.jsonl"
            if entry["member"] != f"db/{name}.jsonl" or not path.is_file():
                raise _malformed(f"缺少数据表 {name} 的内容")
            if _file_hash(path) != (entry["sha256"], entry["bytes"]):
                raise BackupError(f"数据表 {name} 的内容与清单中的 SHA-256 不符（备份已损坏或被改动）；未恢复任何内容",
                                  code="hash_mismatch")
    except (KeyError, TypeError) as exc:
        raise _malformed("清单中的数据表条目不完整") from exc


def _stored_shas(work: Path) -> set[str]:
    with (work / "db" / f"{StoredFile.__tablename__}.jsonl").open("rb") as fh:
        return {json.loads(line)["sha256"] for line in fh}


def _check_files(work: Path, manifest: dict) -> None:
    try:
        listed = {f["sha256"]: f["size"] for f in manifest["files"]}
    except (KeyError, TypeError) as exc:
        raise _malformed("清单中的文件条目不完整") from exc
    on_disk = {p.name for p in (work / "files").glob("*/*")} if (work / "files").is_dir() else set()
    if on_disk != set(listed) or set(listed) != _stored_shas(work):
        raise _malformed("归档中的文件与清单或 stored_file 表不一致")
    for sha, size in listed.items():
        if _file_hash(work / "files" / sha[:2] / sha) != (sha, size):
            raise BackupError(f"备份中的文件 {sha[:12]}… 与清单中的 SHA-256 不符（备份已损坏或被改动）；"
                              "未恢复任何内容", code="hash_mismatch")


def check_archive(source: Path, work: Path, key: bytes | None = None) -> dict:
    """Extract ``source`` into the empty folder ``work`` and check it completely; returns the manifest.

    ``key``: the HMAC key of the manifest (default :func:`cmsflow.history.checkpoint.hmac_key`).
    Raises BackupError ``malformed_archive``, ``unsafe_archive``, ``manifest_hmac``, ``revision_mismatch`` or
    ``hash_mismatch``."""
    from cmsflow.history.checkpoint import hmac_key

    _extract(source, work)
    _check_manifest_hmac(work, key or hmac_key())
    manifest = _read_manifest(work)
    head = code_head()
    if manifest["alembic_revision"] != head:
        raise BackupError(f"备份的数据库版本 {manifest['alembic_revision']} 与本程序的版本 {head} 不同；"
                          "请用生成该备份的 cmsflow 版本恢复，或先在原系统升级后重新备份；未恢复任何内容",
                          code="revision_mismatch")
    _check_tables(work, manifest)
    _check_files(work, manifest)
    return manifest


# ---------------------------------------------------------------------------------------------------------------
# Restore: the target instance


def _prepare_target(engine: Engine, url: str, head: str) -> bool:
    """Refuse a target that is not empty or not at ``head``; migrate a blank database. Returns True if migrated."""
    with engine.connect() as conn:
        revision = database_revision(conn)
        present = set(inspect(conn).get_table_names())
        known = [t for t in _tables() if t.name in present]
        filled = {t.name: n for t in known if (n := conn.execute(select(func.count()).select_from(t)).scalar())}
    if filled:
        listing = "、".join(f"{name} {n} 行" for name, n in list(filled.items())[:5])
        raise BackupError(f"目标实例不是空的（{listing}）；只能恢复到空实例，未做任何改动", code="not_empty")
    if revision is None and known:
        raise BackupError("目标数据库已有数据表但没有 Alembic 版本记录；请换一个空数据库", code="not_empty")
    if revision is None:
        from cmsflow.cli import migrate_to_head

        migrate_to_head(url)
        return True
    if revision != head:
        raise BackupError(f"目标数据库版本 {revision} 不是本程序的最新版本 {head}；请先运行 cmsflow init",
                          code="revision_mismatch")
    return False


def _place_files(work: Path, manifest: dict, store: FileStore) -> list[Path]:
    """Copy the (already verified) blobs into the store, each atomically; returns the paths newly written.
    On failure no temporary file is left and the blobs already placed are removed again."""
    added = []
    try:
        for item in manifest["files"]:
            sha = item["sha256"]
            dest = store.path_for(sha)
            if dest.is_file() and _file_hash(dest) == (sha, item["size"]):
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=dest.parent)
            os.close(fd)
            try:
                shutil.copyfile(work / "files" / sha[:2] / sha, tmp)
                os.replace(tmp, dest)
            finally:
                Path(tmp).unlink(missing_ok=True)  # gone after a successful replace; a partial copy otherwise
            added.append(dest)
    except BaseException:  # e.g. a full disk: take back the blobs this restore brought, leave no tmp files
        for blob in added:
            blob.unlink(missing_ok=True)
        raise
    return added


def _rows(path: Path, table: Table, kinds: dict[str, str]) -> Iterator[list[dict]]:
    batch = []
    with path.open("rb") as fh:
        for number, line in enumerate(fh, 1):
            try:
                raw = json.loads(line)
                if set(raw) != set(kinds):
                    raise ValueError("columns")
                batch.append({name: _decode(kinds[name], value) for name, value in raw.items()})
            except (ValueError, TypeError, AttributeError) as exc:
                raise _malformed(f"数据表 {table.name} 第 {number} 行无法读取") from exc
            if len(batch) >= BATCH:
                yield batch
                batch = []
    if batch:
        yield batch


def _reset_sequences(session: Session) -> None:
    """PostgreSQL: set every serial sequence so the next id is max(id) + 1 (rows went in with explicit ids)."""
    for table in _tables():
        for col in table.primary_key.columns:
            seq = session.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                  {"t": table.name, "c": col.name}).scalar()
            if seq:
                top = session.execute(select(func.max(col))).scalar() or 0
                session.execute(text("SELECT setval(:s, :v, false)"), {"s": seq, "v": top + 1})


def _insert_all(session: Session, work: Path) -> dict[str, int]:
    counts = {}
    for table in _tables():
        kinds = {c.name: _kind(table, c) for c in table.columns}
        counts[table.name] = 0
        for batch in _rows(work / "db" / f"{table.name}.jsonl", table, kinds):
            try:
                session.execute(insert(table), batch)
            except DBAPIError as exc:  # a constraint the rows break: the archive is not one coherent snapshot
                raise BackupError(f"数据表 {table.name} 的行无法写入（{exc.orig.__class__.__name__}: "
                                  f"{str(exc.orig).splitlines()[0]}）；未恢复任何内容", code="restore_failed") from exc
            counts[table.name] += len(batch)
    return counts


def _load_rows(engine: Engine, work: Path, store: FileStore) -> dict[str, int]:
    """Insert every table's rows in one transaction, verify the history chain, the signatures against it and the
    files, then commit."""
    from cmsflow.history.service import verify_chain
    from cmsflow.workflow.signing import verify_signatures

    with Session(engine) as session:
        counts = _insert_all(session, work)
        if engine.dialect.name == "postgresql":
            _reset_sequences(session)
        ok, broken = verify_chain(session)
        if not ok:
            raise BackupError(f"备份中的审计日志哈希链在第 {broken} 条处断裂；未恢复任何内容", code="broken_chain")
        forged, _ = verify_signatures(session)
        if forged:
            raise BackupError(f"备份中的{forged[0].message}；未恢复任何内容", code="broken_chain")
        check = verify_files(session, store)
        if not check.ok:
            raise BackupError(f"恢复后的文件校验失败（缺失 {len(check.missing)} 个，被改动 {len(check.altered)} 个）；"
                              "未恢复任何内容", code="file_integrity")
        session.commit()
    return counts


def restore_backup(path: str | Path, engine: Engine | None = None, store: FileStore | None = None,
                   key: bytes | None = None) -> RestoreSummary:
    """Restore the archive at ``path`` into this (empty) instance: rows, stored files, then a rebuilt search index.

    Needs an app context. ``key``: the HMAC key the archive's manifest was sealed with, when it comes from an
    instance with another key (default: this instance's). The archive is checked completely (layout, safe paths,
    manifest HMAC, manifest, Alembic revision equal
    to this code's head, SHA-256 and size of every dump and file) and the target must be empty (a blank database is
    migrated to head) before anything is written; rows are inserted in one transaction, which is rolled back — and
    the blobs it brought removed again — if the history chain or the files do not verify.
    Raises BackupError with codes ``bad_path``, ``malformed_archive``, ``unsafe_archive``, ``manifest_hmac``,
    ``revision_mismatch``,
    ``hash_mismatch``, ``not_empty``, ``broken_chain``, ``file_integrity`` or ``restore_failed`` (rows that break a
    constraint). Restoring processes the queued search updates (``search_outbox.processed_at`` is set), because the
    index is rebuilt from the restored rows; every other column comes back exactly as it was backed up.
    """
    from cmsflow.history import checkpoint
    from cmsflow.search.service import reindex

    started = time.monotonic()
    source = Path(path).expanduser()
    if not source.is_file():
        raise BackupError(f"备份文件 {source} 不存在", code="bad_path")
    engine = engine or get_engine()
    store = store or current_app.extensions["cmsflow_files"]
    scratch = Path(current_app.config["INSTANCE_DIR"])
    scratch.mkdir(parents=True, exist_ok=True)
    with storage_full_as_error(), tempfile.TemporaryDirectory(prefix=".cmsflow-restore-", dir=scratch) as tmp:
        manifest = check_archive(source, Path(tmp), key)
        migrated = _prepare_target(engine, current_app.config["DATABASE_URL"], manifest["alembic_revision"])
        added = _place_files(Path(tmp), manifest, store)
        try:
            counts = _load_rows(engine, Path(tmp), store)
        except BaseException:
            for blob in added:
                blob.unlink(missing_ok=True)
            raise
    with Session(engine) as session:
        checkpoint.reset(session, checkpoint.path_for(store.root))  # the restored chain is the one to compare with
        indexed = reindex(session)
    return RestoreSummary(revision=manifest["alembic_revision"], rows=counts, files=len(manifest["files"]),
                          files_added=len(added), indexed=indexed, seconds=time.monotonic() - started,
                          migrated=migrated, source_dialect=str(manifest.get("dialect", "")),
                          created_at=str(manifest.get("created_at", "")), tables=list(counts))
