"""A full disk (ENOSPC) or quota (EDQUOT) while a file is stored: the user is told storage is full (HTTP 507,
code ``storage_full``, a Chinese message, on the API and on the pages), no ``tmp*`` file is left in the file store,
and nothing is half-stored in the database (no StoredFile row, no version or evidence row).

Issue 17 item 13; OWASP ASVS 4.0.3 V7.4.1 (a generic message, no stack trace), V12.1 (upload resource exhaustion).
"""
from __future__ import annotations

import errno
import io
import os
import re
import sqlite3
from pathlib import Path

import pytest
from sqlmodel import func, select

from cmsflow.core.db import session_scope
from cmsflow.core.errors import StorageFull
from cmsflow.core.storage import FileStore, StoredFile
from tests.conftest import signed_in
from tests.documents.test_document_lifecycle_api import _docx
from tests.registers.test_registers import sample
from tests.security.test_hostile_uploads import activity, plant  # noqa: F401 - fixtures

MESSAGE = "存储空间已满，文件未保存，请联系系统管理员"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 2048


class _FullFile:
    """A file object that writes half of what it is given, then fails like a full disk."""

    def __init__(self, fh, err: int):
        self.fh, self.err = fh, err

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()
        return False

    def write(self, data: bytes) -> int:
        self.fh.write(data[: len(data) // 2])
        self.fh.flush()
        raise OSError(self.err, os.strerror(self.err))

    def __getattr__(self, name):
        return getattr(self.fh, name)


def _fail(monkeypatch, where: str, err: int = errno.ENOSPC) -> None:
    """Make the file store's next write fail with ``err`` at ``where``: write, fsync, replace or mkstemp."""
    def boom(*args, **kwargs):
        raise OSError(err, os.strerror(err))

    if where == "write":
        real = os.fdopen
        monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: _FullFile(real(fd, *a, **k), err))
    elif where == "fsync":
        monkeypatch.setattr(os, "fsync", boom)
    elif where == "replace":
        monkeypatch.setattr(os, "replace", boom)
    elif where == "mkstemp":
        monkeypatch.setattr("cmsflow.core.storage.tempfile.mkstemp", boom)


def _store_state(app) -> tuple[set, int]:
    files = {str(p.relative_to(app.config["FILES_DIR"])) for p in Path(app.config["FILES_DIR"]).rglob("*")
             if p.is_file()}
    with app.app_context(), session_scope() as s:
        return files, s.exec(select(func.count()).select_from(StoredFile)).one()


def _no_tmp_files(app) -> None:
    left = [p.name for p in Path(app.config["FILES_DIR"]).rglob("*") if p.is_file() and len(p.name) != 64]
    assert left == [], left


def _storage_full_json(res) -> None:
    assert res.status_code == 507, (res.status_code, res.get_data(as_text=True)[:300])
    assert res.get_json()["error"] == {"code": "storage_full", "message": MESSAGE}


@pytest.mark.parametrize("where", ["write", "fsync", "replace", "mkstemp"])
@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EDQUOT])
def test_file_store_removes_its_temporary_file_and_says_storage_is_full(app, tmp_path, monkeypatch, where, err):
    store = FileStore(tmp_path / "files")
    _fail(monkeypatch, where, err)
    with app.app_context(), session_scope() as s, pytest.raises(StorageFull) as caught:
        store.put(s, b"hello " * 1000, "text/plain")
    assert caught.value.status == 507 and caught.value.code == "storage_full" and caught.value.message == MESSAGE
    assert [p for p in (tmp_path / "files").rglob("*") if p.is_file()] == []


def test_other_os_errors_are_not_called_storage_full(app, tmp_path, monkeypatch):
    store = FileStore(tmp_path / "files")
    _fail(monkeypatch, "replace", errno.EACCES)
    with app.app_context(), session_scope() as s, pytest.raises(PermissionError):
        store.put(s, b"x", "text/plain")
    assert [p for p in (tmp_path / "files").rglob("*") if p.is_file()] == []


@pytest.mark.parametrize("where", ["write", "replace"])
def test_document_version_upload_on_a_full_disk_is_507_and_stores_nothing(app, new_procedure, monkeypatch, where):
    staff, doc = new_procedure()
    before, state = staff.get(f"/documents/{doc['id']}").get_json(), _store_state(app)
    _fail(monkeypatch, where)
    res = staff.post(f"/documents/{doc['id']}/versions", content_type="multipart/form-data",
                     data={"file": (io.BytesIO(_docx("磁盘已满时上传的新稿")), "新稿.docx")})
    _storage_full_json(res)
    monkeypatch.undo()
    assert staff.get(f"/documents/{doc['id']}").get_json() == before
    assert _store_state(app) == state
    _no_tmp_files(app)


def test_evidence_upload_on_a_full_disk_is_507_and_stores_nothing(app, activity, monkeypatch):  # noqa: F811
    staff, aid = activity
    state = _store_state(app)
    _fail(monkeypatch, "write")
    res = staff.post(f"/carbon/activity/{aid}/evidence", content_type="multipart/form-data",
                     data={"file": (io.BytesIO(PNG), "电表照片.png")})
    _storage_full_json(res)
    monkeypatch.undo()
    assert staff.get(f"/carbon/activity/{aid}/evidence").status_code == 404
    assert _store_state(app) == state
    _no_tmp_files(app)


def test_upload_page_on_a_full_disk_shows_the_message(app, org, monkeypatch):
    from cmsflow.documents.models import Document

    client = signed_in(app, org["staff_ene"])
    page = client.get("/documents/new-upload").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    state = _store_state(app)
    _fail(monkeypatch, "write")
    res = client.post("/documents/new-upload", content_type="multipart/form-data",
                      data={"up-file": (io.BytesIO(_docx("新程序")), "新程序.docx"), "csrf_token": token,
                            "title": "上传的程序", "doc_type": "procedure", "department": "ENE"})
    monkeypatch.undo()
    html = res.get_data(as_text=True)
    assert res.status_code == 507, html[:300]
    assert MESSAGE in html and "Traceback" not in html
    assert _store_state(app) == state
    _no_tmp_files(app)
    with app.app_context(), session_scope() as s:
        assert s.exec(select(func.count()).select_from(Document)).one() == 0


def test_backup_on_a_full_disk_leaves_no_partial_archive(app, new_procedure, tmp_path, monkeypatch):
    from cmsflow.core import backup

    new_procedure()
    real_fsync = os.fsync

    def fsync(fd):  # the archive is complete in the page cache; the disk refuses to take it
        if Path(f"/proc/self/fd/{fd}").resolve().name.endswith(".partial"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with app.app_context(), pytest.raises(StorageFull):
        backup.write_backup(tmp_path / "cmsflow.tar.gz")
    assert list(tmp_path.iterdir()) == []  # neither the archive, the .partial file nor the scratch folder


class _PgDiskFull(Exception):
    pgcode = "53100"  # what psycopg's DiskFull carries


@pytest.mark.parametrize("orig", [sqlite3.OperationalError("database or disk is full"),
                                  _PgDiskFull("could not extend file: No space left on device")])
def test_a_full_database_disk_is_507_not_a_bare_500(app, api, monkeypatch, orig):
    """The database's own disk fills up (SQLite SQLITE_FULL, PostgreSQL SQLSTATE 53100) while a record is saved."""
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.orm import Session

    mr = api("mr")
    before = mr.get("/registers/risk").get_json()["records"]

    def full(self, *args, **kwargs):
        raise OperationalError("INSERT INTO risk ...", {}, orig)

    monkeypatch.setattr(Session, "commit", full)
    res = mr.post("/registers/risk", json=sample("risk", 0))
    monkeypatch.undo()
    _storage_full_json(res)
    assert mr.get("/registers/risk").get_json()["records"] == before


def test_other_database_errors_still_propagate(app, api, monkeypatch):
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.orm import Session

    mr = api("mr")

    def broken(self, *args, **kwargs):
        raise OperationalError("INSERT INTO risk ...", {}, sqlite3.OperationalError("disk I/O error"))

    monkeypatch.setattr(Session, "commit", broken)
    with pytest.raises(OperationalError):  # TESTING propagates; in production the usual logged 500
        mr.post("/registers/risk", json=sample("risk", 0))
