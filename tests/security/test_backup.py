"""``cmsflow backup`` / ``cmsflow restore`` (issue 9 item 6): one archive restores into an empty instance with identical
records, files that verify, an intact history chain and a rebuilt search index — and an archive that was altered,
that points outside its folder, or a target that already holds data, is refused with nothing changed.

The restore target is a second app on a second database: a new SQLite file, or on PostgreSQL the database
``<test database>_restore`` (created when missing). It is blank (no tables) before each test, so a refused restore
must leave it without a single table."""
from __future__ import annotations

import copy
import io
import json
import shutil
import stat
import tarfile
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import SQLModel, select

from cmsflow import create_app
from cmsflow.auth.service import create_department
from cmsflow.core import backup as backup_module
from cmsflow.core.backup import BackupError, restore_backup, write_backup
from cmsflow.core.db import session_scope
from cmsflow.documents.models import DocumentVersion
from tests.conftest import PASSWORD, Api, second_database

NC = {"title": "熟料产量计量数据未按程序复核", "source": "internal_audit", "department": "PRD", "severity": "minor",
      "clauses": ["DB44T1944:9.1"], "evidence": "2026年9月生产日报第3、7、15日",
      "description": "抽查2026年9月生产日报，熟料产量数据未经能源管理部复核即用于排放核算。"}


def _app_for(url: str, instance: Path):
    return create_app({"INSTANCE_DIR": str(instance), "DATABASE_URL": url, "SECRET_KEY": "test", "TESTING": True,
                       "FILES_DIR": str(instance / "files"), "INDEX_DIR": str(instance / "index"),
                       "LOGIN_RATE_LIMIT_ENABLED": False})


def _restore_url(source_url: str, folder: Path) -> str:
    """A second database of the same kind as the test database: a new SQLite file, or ``<name>_restore``."""
    try:
        return second_database(source_url, folder, "restore")
    except SQLAlchemyError as exc:
        pytest.skip(f"the restore target database cannot be created: {exc}")


def _blank(application) -> None:
    """Drop every table (alembic_version too), the stored files and the search index of ``application``."""
    engine = application.extensions["cmsflow_engine"]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        else:
            conn.execute(text("PRAGMA foreign_keys=OFF"))
            for name in inspect(conn).get_table_names():
                conn.execute(text(f'DROP TABLE "{name}"'))
    engine.dispose()
    for key in ("FILES_DIR", "INDEX_DIR"):
        shutil.rmtree(application.config[key], ignore_errors=True)


@pytest.fixture(scope="module")
def target_app(app, tmp_path_factory):
    folder = tmp_path_factory.mktemp("restore-target")
    application = _app_for(_restore_url(app.config["DATABASE_URL"], folder), folder)
    yield application
    application.extensions["cmsflow_engine"].dispose()


@pytest.fixture
def target(target_app):
    """The empty instance to restore into: no tables, no files, no index."""
    _blank(target_app)
    return target_app


def _engine(application):
    return application.extensions["cmsflow_engine"]


def _all_rows(application) -> dict[str, list[tuple]]:
    """Every row of every table, ordered by primary key, as Python values."""
    with _engine(application).connect() as conn:
        return {t.name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
                for t in SQLModel.metadata.sorted_tables}


def _nothing_restored(application) -> bool:
    """No table in the target database and no stored file on its disk."""
    files = Path(application.config["FILES_DIR"])
    with _engine(application).connect() as conn:
        tables = inspect(conn).get_table_names()
    return tables == [] and not (files.is_dir() and any(p.is_file() for p in files.rglob("*")))


def _task(client, name):
    return [t for t in client.get("/tasks").get_json()["tasks"] if t["name"] == name][0]


def _approve(client, name):
    res = client.post(f"/tasks/{_task(client, name)['id']}/complete",
                      json={"decision": "approve", "password": PASSWORD})
    assert res.status_code == 200, res.get_json()


def _realistic_instance(api, new_procedure) -> dict:
    """An effective procedure (signed, stamped file, read acknowledgements open), a second procedure waiting for its
    department head's review, and a nonconformity accepted into corrective action — with their history entries."""
    staff, effective = new_procedure("温室气体排放管理程序")
    assert staff.post(f"/documents/{effective['id']}/submit").status_code == 200
    _approve(api("head_ene"), "review")
    _approve(api("mr"), "mr_approval")
    _, in_review = new_procedure("能源计量器具管理程序")
    assert staff.post(f"/documents/{in_review['id']}/submit").status_code == 200
    nc = api("auditor").post("/nonconformities", json=NC)
    assert nc.status_code == 201, nc.get_json()
    res = api("head_prd").post(f"/nonconformities/{nc.get_json()['id']}/steps/accept",
                               json={"decision": "accept", "data": {"owner": "staff_prd"}})
    assert res.status_code == 200, res.get_json()
    return {"effective": effective["id"], "in_review": in_review["id"], "nc": nc.get_json()["id"]}


def _backup(application, path: Path) -> Path:
    with application.app_context():
        write_backup(path)
    return path


def _restore(application, path: Path):
    with application.app_context():
        return restore_backup(path)


def _refused(application, path: Path) -> BackupError:
    with pytest.raises(BackupError) as refused:
        _restore(application, path)
    return refused.value


def _rewrite(src: Path, dst: Path, change=lambda name, data: data, extra=()) -> Path:
    """Copy a tar.gz archive member by member through ``change(name, bytes)``, then append ``extra`` members."""
    with tarfile.open(src) as tin, tarfile.open(dst, "w:gz") as tout:
        for member in tin.getmembers():
            data = change(member.name, tin.extractfile(member).read())
            info = copy.copy(member)
            info.size = len(data)
            tout.addfile(info, io.BytesIO(data))
        for info, data in extra:
            tout.addfile(info, io.BytesIO(data) if data is not None else None)
    return dst


def _run(application, *args):
    return application.test_cli_runner().invoke(args=["cmsflow", *args])


def test_restore_gives_identical_records_verified_files_history_and_search(app, target, api, new_procedure, tmp_path):
    ids = _realistic_instance(api, new_procedure)
    archive = _backup(app, tmp_path / "cmsflow.tar.gz")

    summary = _restore(target, archive)

    source_rows = _all_rows(app)
    assert _all_rows(target) == source_rows  # every table, every column, every row
    assert summary.rows == {name: len(rows) for name, rows in source_rows.items()}
    assert len(source_rows["document"]) == 2 and len(source_rows["nonconformity"]) == 1
    assert len(source_rows["stored_file"]) >= 3 and len(source_rows["activity_entry"]) >= 8
    assert len(source_rows["signature"]) == 2 and source_rows["human_task"]
    store, restored = app.extensions["cmsflow_files"], target.extensions["cmsflow_files"]
    for sha, *_ in source_rows["stored_file"]:
        assert restored.get(sha) == store.get(sha)
    files, chain = _run(target, "verify-files"), _run(target, "verify-history")
    checked = len(source_rows["stored_file"])
    assert files.exit_code == 0 and f"已校验 {checked} 个文件：缺失 0 个，被改动 0 个" in files.output
    assert chain.exit_code == 0 and "审计日志哈希链完整" in chain.output
    assert "与检查点" in chain.output  # the restore wrote a checkpoint of the restored chain

    client = target.test_client()
    hits = Api(client, "staff_prd").get("/search", query_string={"q": "排放"}).get_json()["results"]
    assert ("document", ids["effective"]) in [(h["type"], h["id"]) for h in hits]
    assert hits == Api(app.test_client(), "staff_prd").get("/search", query_string={"q": "排放"}).get_json()["results"]
    # the restored instance goes on working: the waiting review continues, new records get new ids
    head = Api(client, "head_ene")
    _approve(head, "review")
    assert _task(Api(client, "mr"), "mr_approval")["subject"] == {"type": "document", "id": ids["in_review"]}
    fields = {"purpose": "评审能源使用", "scope": "全公司", "responsibilities": ["能源管理部"], "steps": ["评审"]}
    res = Api(client, "staff_ene").post("/documents", json={"title": "能源评审程序", "doc_type": "procedure",
                                                           "department": "ENE", "template": "procedure",
                                                           "fields": fields})
    assert res.status_code == 201, res.get_json()
    assert res.get_json()["id"] == max(ids["effective"], ids["in_review"]) + 1


def test_a_backup_taken_while_people_work_is_one_consistent_snapshot(app, target, org, tmp_path, monkeypatch):
    dump_table = backup_module._dump_table

    def dump_then_someone_writes(conn, table, work):
        entry = dump_table(conn, table, work)
        if table.name == "department":  # departments are dumped, users not yet: a new department and its head
            from cmsflow.auth.service import create_user

            with app.app_context(), session_scope() as s:
                create_department(s, "FIN", "财务部")
                create_user(s, "head_fin", PASSWORD, "department_head", "FIN")
        return entry

    monkeypatch.setattr(backup_module, "_dump_table", dump_then_someone_writes)
    archive = _backup(app, tmp_path / "during-work.tar.gz")
    monkeypatch.undo()

    restored = _restore(target, archive)  # a user without its department would break the foreign key here
    assert restored.rows["department"] == 4 and restored.rows["user_account"] == len(org)
    rows = _all_rows(target)
    assert [r for r in rows["user_account"] if "head_fin" in r] == []


@pytest.mark.parametrize("member", ["a stored file", "the document table"])
def test_an_archive_with_one_byte_changed_is_refused(app, target, new_procedure, tmp_path, member):
    new_procedure()
    archive = _backup(app, tmp_path / "good.tar.gz")

    def flip(name, data):
        if name.startswith("files/") if member == "a stored file" else name == "db/document.jsonl":
            data = bytearray(data)
            data[len(data) // 2] ^= 0x01
        return bytes(data)

    refused = _refused(target, _rewrite(archive, tmp_path / "tampered.tar.gz", flip))
    assert refused.code == "hash_mismatch" and "SHA-256 不符" in refused.message
    assert _nothing_restored(target)


def test_an_archive_of_another_schema_version_is_refused(app, target, tmp_path):
    archive = _backup(app, tmp_path / "good.tar.gz")
    manifest = {}

    def other_revision(name, data):  # a genuine archive of an older version: its manifest sealed with the key
        if name == "manifest.json":
            manifest["data"] = json.dumps({**json.loads(data), "alembic_revision": "0123456789ab"}).encode()
            return manifest["data"]
        if name == "manifest.hmac":
            return backup_module.manifest_hmac(manifest["data"], app.config["SECRET_KEY"].encode())
        return data

    refused = _refused(target, _rewrite(archive, tmp_path / "old.tar.gz", other_revision))
    assert refused.code == "revision_mismatch" and "0123456789ab" in refused.message
    assert _nothing_restored(target)


def test_restoring_into_an_instance_that_has_data_is_refused(app, target, new_procedure, tmp_path):
    new_procedure()
    archive = _backup(app, tmp_path / "good.tar.gz")
    with target.app_context():
        _run(target, "init")
        with session_scope() as s:
            create_department(s, "OPS", "运行部")
    before = _all_rows(target)

    refused = _refused(target, archive)

    assert refused.code == "not_empty" and "目标实例不是空的（department 1 行" in refused.message
    assert _all_rows(target) == before
    files = Path(target.config["FILES_DIR"])
    assert not files.exists() or not any(p.is_file() for p in files.rglob("*"))


def _member(name: str, kind=tarfile.REGTYPE, link: str = "", data: bytes = b"pwned") -> tuple:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o644
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, data if kind == tarfile.REGTYPE else None


@pytest.mark.parametrize("evil", [
    _member("../escaped.txt"),
    _member("files/../../escaped.txt"),
    _member("/tmp/cmsflow-backup-absolute-escape.txt"),
    _member("files/ab/" + "ab" * 32, tarfile.SYMTYPE, "/etc/passwd"),
    _member("files/cd/" + "cd" * 32, tarfile.LNKTYPE, "../../../etc/passwd"),
], ids=["dotdot", "nested-dotdot", "absolute", "symlink", "hardlink"])
def test_an_archive_with_a_path_traversal_member_is_refused(app, target, tmp_path, evil):
    archive = _backup(app, tmp_path / "good.tar.gz")
    evil_archive = _rewrite(archive, tmp_path / "evil.tar.gz", extra=[evil])

    refused = _refused(target, evil_archive)

    assert refused.code == "unsafe_archive", refused.message
    assert _nothing_restored(target)
    instance = Path(target.config["INSTANCE_DIR"])
    assert not list(instance.parent.rglob("escaped.txt")) and not (instance / "escaped.txt").exists()
    assert not Path("/tmp/cmsflow-backup-absolute-escape.txt").exists()


def test_cli_backup_then_restore_into_an_initialised_instance(app, target, new_procedure, tmp_path):
    _, doc = new_procedure()
    path = tmp_path / "nightly" / "cmsflow.tar.gz"
    path.parent.mkdir()

    made = _run(app, "backup", str(path))
    assert made.exit_code == 0, made.output
    tables, files = len(SQLModel.metadata.sorted_tables), len(_all_rows(app)["stored_file"])
    assert f"备份已写入 {path}" in made.output and f"{tables} 张表" in made.output and f"{files} 个文件" in made.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds password and token hashes
    assert [p.name for p in path.parent.iterdir()] == ["cmsflow.tar.gz"]  # no temporary file left behind
    assert _run(target, "init").exit_code == 0

    done = _run(target, "restore", str(path))
    assert done.exit_code == 0, done.output
    assert "document" in done.output and "审计日志哈希链完整，文件校验通过" in done.output
    assert _all_rows(target)["document"] == _all_rows(app)["document"]
    assert doc["id"] in [r[0] for r in _all_rows(target)["document"]]

    again = _run(target, "restore", str(path))
    assert again.exit_code == 2 and "目标实例不是空的" in again.output
    missing = _run(target, "restore", str(tmp_path / "nope.tar.gz"))
    assert missing.exit_code == 2 and "不存在" in missing.output


def test_a_failed_backup_leaves_the_previous_archive_untouched(app, new_procedure, tmp_path):
    _, doc = new_procedure()
    path = tmp_path / "nightly" / "cmsflow.tar.gz"
    path.parent.mkdir()
    assert _run(app, "backup", str(path)).exit_code == 0
    previous = path.read_bytes()
    with app.app_context(), session_scope() as s:
        sha = s.exec(select(DocumentVersion.draft_sha256).where(DocumentVersion.document_id == doc["id"])).one()
    blob = app.extensions["cmsflow_files"].path_for(sha)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF  # altered on disk behind the application's back
    blob.write_bytes(bytes(data))

    failed = _run(app, "backup", str(path))

    assert failed.exit_code == 2 and sha in failed.output and "verify-files" in failed.output
    assert path.read_bytes() == previous  # written to a temporary file and renamed only when complete
    assert [p.name for p in path.parent.iterdir()] == ["cmsflow.tar.gz"]


@pytest.fixture
def sqlite_app(app, tmp_path):
    if not app.config["DATABASE_URL"].startswith("postgresql"):
        pytest.skip("runs on the PostgreSQL test run (CMSFLOW_TEST_DATABASE_URL); SQLite → SQLite is tested above")
    application = _app_for(f"sqlite:///{tmp_path / 'between.db'}", tmp_path / "between")
    yield application
    application.extensions["cmsflow_engine"].dispose()


def test_postgresql_to_sqlite_and_back_gives_identical_records(app, target, sqlite_app, api, new_procedure, tmp_path):
    _realistic_instance(api, new_procedure)
    _restore(sqlite_app, _backup(app, tmp_path / "from-postgresql.tar.gz"))
    _restore(target, _backup(sqlite_app, tmp_path / "from-sqlite.tar.gz"))
    source = _all_rows(app)
    assert _all_rows(sqlite_app) == source
    assert _all_rows(target) == source
