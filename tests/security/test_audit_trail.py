"""Blind spots of the audit trail (issue 17 item 10): someone who can lift the append-only triggers (a DBA, see
``cmsflow.history.guard.remove``) edits an entry's actor name, forges a signature, deletes the newest entries or
empties the table, or rewrites a backup's manifest — ``verify-history`` (and restore) must notice every one."""
from __future__ import annotations

import io
import json
import tarfile
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import insert, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, func, select

from cmsflow.cli import worker_pass
from cmsflow.core import backup as backup_module
from cmsflow.core.backup import BackupError, manifest_hmac, restore_backup, write_backup
from cmsflow.core.db import make_engine, session_scope, utcnow
from cmsflow.documents.models import DocumentVersion
from cmsflow.history import checkpoint, guard
from cmsflow.history import service as history
from cmsflow.history.audit import verify_history
from cmsflow.history.models import ActivityEntry
from cmsflow.workflow.models import Signature
from tests.conftest import PASSWORD, _reset_database, second_database, signed_in


def _approved_document(api, new_procedure) -> dict:
    staff, doc = new_procedure()
    assert staff.post(f"/documents/{doc['id']}/submit").status_code == 200
    for username, step in (("head_ene", "review"), ("mr", "mr_approval")):
        client = api(username)
        task = next(t for t in client.get("/tasks").get_json()["tasks"] if t["name"] == step)
        res = client.post(f"/tasks/{task['id']}/complete", json={"decision": "approve", "password": PASSWORD})
        assert res.status_code == 200, res.get_json()
    return doc


@contextmanager
def _triggers_lifted(app):
    """A connection with the append-only triggers dropped (re-installed, and committed, at the end)."""
    with app.extensions["cmsflow_engine"].begin() as conn:
        guard.remove(conn)
        yield conn
        guard.install(conn)


def _verify(app):
    with app.app_context(), session_scope() as s:
        return verify_history(s)


def _cli(app, *args):
    return app.test_cli_runner().invoke(args=["cmsflow", *args])


def _entries(app, n: int) -> None:
    with app.app_context(), session_scope() as s:
        for i in range(n):
            history.record(s, None, "test_event", "test", i, n=i)


def _count(app) -> int:
    with app.app_context(), session_scope() as s:
        return s.exec(select(func.count()).select_from(ActivityEntry)).one()


def test_an_untampered_approval_verifies_and_each_signature_is_bound_to_its_entry(app, api, org, new_procedure):
    doc = _approved_document(api, new_procedure)
    assert _cli(app, "seal-history").exit_code == 0

    report = _verify(app)
    assert report.ok and report.checkpoint is not None and report.entries == _count(app)
    with app.app_context(), session_scope() as s:
        version = s.exec(select(DocumentVersion).where(DocumentVersion.document_id == doc["id"])).one()
        sigs = s.exec(select(Signature).order_by(Signature.id)).all()
        assert [x.meaning for x in sigs] == ["reviewed", "approved"]
        for sig in sigs:
            entry = s.get(ActivityEntry, sig.activity_entry_id)
            assert entry.action == "task_approve" and entry.subject_id == doc["id"]
            bound = entry.details["signed"]
            assert bound["signature_id"] == sig.id and bound["signer_name"] == sig.signer_name
            assert bound["signer_id"] == sig.user_id and bound["role"] == sig.signer_role
            assert sig.signed_sha256 == bound["signed_sha256"] == version.draft_sha256  # the file the signer saw
    res = _cli(app, "verify-history")
    assert res.exit_code == 0 and "审计日志哈希链完整" in res.output and "与检查点" in res.output, res.output
    page = signed_in(app, org["mr"]).get(f"/documents/{doc['id']}").get_data(as_text=True)
    assert "MR" in page and "HEAD_ENE" in page and "与审计日志不符" not in page
    assert "signature_id" not in page  # the binding stays in the history and the API, not in the page's log


def test_an_unbound_signature_is_reported_unless_the_migration_listed_it_as_older(app, api, new_procedure):
    _approved_document(api, new_procedure)
    with app.app_context(), session_scope() as s:
        sig_id = s.exec(select(Signature.id).order_by(Signature.id)).first()
    with _triggers_lifted(app) as conn:
        conn.execute(text("UPDATE signature SET activity_entry_id = NULL WHERE id = :i"), {"i": sig_id})
    report = _verify(app)
    assert [p.signature_id for p in report.signature_problems] == [sig_id]
    assert "未绑定" in report.signature_problems[0].message
    with app.app_context(), session_scope() as s:  # what migration c4a9e2d7f318 records for older signatures
        history.record(s, None, "history_digest_upgraded", "history", 0, legacy_signatures=[sig_id])
    report = _verify(app)
    assert report.ok and report.legacy_signatures == 1


def test_an_edited_actor_name_breaks_the_chain(app, api, new_procedure):
    _approved_document(api, new_procedure)
    with app.app_context(), session_scope() as s:
        target = s.exec(select(ActivityEntry).where(ActivityEntry.action == "task_approve")).first().id
    with _triggers_lifted(app) as conn:
        conn.execute(text("UPDATE activity_entry SET actor_name = 'TOP' WHERE id = :i"), {"i": target})

    report = _verify(app)
    assert not report.ok and report.broken_at == target
    res = _cli(app, "verify-history")
    assert res.exit_code != 0 and f"第 {target} 条处断裂" in res.output


@pytest.mark.parametrize("column, value", [
    ("signer_name", "'TOP'"), ("user_id", "(SELECT id FROM user_account WHERE username = 'top')"),
    ("signed_at", "'2026-01-05 08:00:00.000000'"), ("meaning", "'approved'"), ("signed_sha256", "'" + "a" * 64 + "'"),
])
def test_a_forged_signature_is_reported_with_its_id(app, api, org, new_procedure, column, value):
    doc = _approved_document(api, new_procedure)
    with app.app_context(), session_scope() as s:
        sig_id = s.exec(select(Signature.id).order_by(Signature.id)).first()
    with _triggers_lifted(app) as conn:  # the signature table has no triggers; lifted all the same, as a DBA would
        conn.execute(text(f"UPDATE signature SET {column} = {value} WHERE id = :i"), {"i": sig_id})

    report = _verify(app)
    assert report.broken_at is None  # the chain itself is intact: only the signature row was changed
    assert [p.signature_id for p in report.signature_problems] == [sig_id]
    res = _cli(app, "verify-history")
    assert res.exit_code != 0 and f"电子签名 {sig_id} " in res.output and "不一致" in res.output, res.output
    # the page keeps showing the signature, marked as not matching the audit trail
    page = signed_in(app, org["mr"]).get(f"/documents/{doc['id']}").get_data(as_text=True)
    assert "与审计日志不符" in page
    if column == "signer_name":
        assert "TOP" in page


def test_a_deleted_signature_row_is_reported(app, api, new_procedure):
    _approved_document(api, new_procedure)
    with app.app_context(), session_scope() as s:
        sig_id = s.exec(select(Signature.id).order_by(Signature.id.desc())).first()
    with _triggers_lifted(app) as conn:
        conn.execute(text("DELETE FROM signature WHERE id = :i"), {"i": sig_id})
    report = _verify(app)
    assert [p.signature_id for p in report.signature_problems] == [sig_id]
    assert _cli(app, "verify-history").exit_code != 0


def test_deleting_the_last_20_entries_is_detected_against_the_checkpoint(app, api, new_procedure):
    _approved_document(api, new_procedure)
    _entries(app, 25)
    sealed = _cli(app, "seal-history")
    assert sealed.exit_code == 0, sealed.output
    before = checkpoint.path_for(app.config["FILES_DIR"]).read_bytes()
    with _triggers_lifted(app) as conn:
        top = conn.execute(text("SELECT max(id) FROM activity_entry")).scalar()
        conn.execute(text("DELETE FROM activity_entry WHERE id > :i"), {"i": top - 20})

    report = _verify(app)
    assert report.broken_at is None  # what is left chains perfectly: only the checkpoint can tell
    assert not report.ok and any("不存在" in p for p in report.checkpoint_problems)
    res = _cli(app, "verify-history")
    assert res.exit_code != 0 and "history truncated/rewritten" in res.output and "截断" in res.output
    # neither the worker nor seal-history seals the shortened table
    with app.app_context():
        assert worker_pass()["history_sealed"] == "refused"
    assert _cli(app, "seal-history").exit_code != 0
    assert checkpoint.path_for(app.config["FILES_DIR"]).read_bytes() == before


def test_emptying_the_whole_table_is_detected(app, api, new_procedure):
    _entries(app, 5)
    with app.app_context():
        assert worker_pass()["history_sealed"] == _count(app)  # the worker advances the checkpoint each pass
    with app.extensions["cmsflow_engine"].begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE activity_entry CASCADE"))  # not a row change: the triggers do not fire
        else:
            guard.remove(conn)
            conn.execute(text("DELETE FROM activity_entry"))
            guard.install(conn)
    assert _count(app) == 0

    report = _verify(app)
    assert report.broken_at is None and not report.ok
    assert any("只剩 0 条" in p for p in report.checkpoint_problems)
    res = _cli(app, "verify-history")
    assert res.exit_code != 0 and "history truncated/rewritten" in res.output


def test_without_a_checkpoint_the_chain_is_verified_with_a_warning(app, api, new_procedure):
    _approved_document(api, new_procedure)
    res = _cli(app, "verify-history")
    assert res.exit_code == 0 and "尚无审计日志检查点" in res.output and "审计日志哈希链完整" in res.output


def test_a_rewritten_checkpoint_is_refused(app):
    _entries(app, 3)
    assert _cli(app, "seal-history").exit_code == 0
    path = checkpoint.path_for(app.config["FILES_DIR"])
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "count": 1, "last_id": 1}))  # without the key: the HMAC cannot follow
    report = _verify(app)
    assert not report.ok and any("HMAC" in p for p in report.checkpoint_problems)
    assert _cli(app, "verify-history").exit_code != 0
    assert _cli(app, "seal-history").exit_code != 0
    # a deliberate reset (e.g. after changing the key): the whole chain must verify, and the reset is on record
    reset = _cli(app, "seal-history", "--reset")
    assert reset.exit_code == 0 and "已重置" in reset.output, reset.output
    assert _verify(app).ok
    with app.app_context(), session_scope() as s:
        entry = s.exec(select(ActivityEntry).order_by(ActivityEntry.id.desc())).first()
        assert entry.action == "history_checkpoint_reset" and "HMAC" in entry.details["findings"][0]


def _rewrite(src: Path, dst: Path, change) -> Path:
    with tarfile.open(src) as tin, tarfile.open(dst, "w:gz") as tout:
        for member in tin.getmembers():
            data = change(member.name, tin.extractfile(member).read())
            if data is None:
                continue
            member.size = len(data)
            tout.addfile(member, io.BytesIO(data))
    return dst


def _refused(app, archive: Path, **kw) -> BackupError:
    with app.app_context(), pytest.raises(BackupError) as refused:
        restore_backup(archive, **kw)
    return refused.value


def test_a_backup_whose_manifest_was_rewritten_or_unsigned_is_refused(app, api, new_procedure, tmp_path):
    _approved_document(api, new_procedure)
    archive = tmp_path / "good.tar.gz"
    with app.app_context():
        write_backup(archive)
    with tarfile.open(archive) as tar:
        assert tar.getnames()[:2] == ["manifest.json", "manifest.hmac"]

    def forge(name, data):  # a rewritten row dump with its new hash put into the manifest
        if name == "manifest.json":
            manifest = json.loads(data)
            manifest["created_at"] = "2020-01-01T00:00:00+00:00"
            return json.dumps(manifest).encode()
        return data

    refused = _refused(app, _rewrite(archive, tmp_path / "forged.tar.gz", forge))
    assert refused.code == "manifest_hmac" and "HMAC" in refused.message and "未恢复任何内容" in refused.message
    refused = _refused(app, _rewrite(archive, tmp_path / "unsigned.tar.gz",
                                     lambda name, data: None if name == "manifest.hmac" else data))
    assert refused.code == "manifest_hmac" and "manifest.hmac" in refused.message

    # another instance's key: refused, unless that key is given explicitly (then the next check applies)
    other = tmp_path / "other.tar.gz"
    with app.app_context():
        write_backup(other, key=b"another-instance")
    assert _refused(app, other).code == "manifest_hmac"
    assert _refused(app, other, key=b"another-instance").code == "not_empty"  # past the seal; this app has data
    resigned = _rewrite(archive, tmp_path / "resigned.tar.gz",
                        lambda name, data: manifest_hmac(b"x", b"test") if name == "manifest.hmac" else data)
    assert _refused(app, resigned).code == "manifest_hmac"


def _migration_url(app, folder: Path) -> str:
    """A blank second database of the test database's kind for the migration test."""
    target = second_database(app.config["DATABASE_URL"], folder, "migration")
    _reset_database(target)
    return target


@pytest.mark.parametrize("broken", [False, True], ids=["intact", "broken-v1-chain"])
def test_the_migration_rechains_old_entries_under_the_new_digest(app, tmp_path, broken):
    from alembic import command
    from alembic.script import ScriptDirectory

    url = _migration_url(app, tmp_path)
    cfg = backup_module._alembic_config(url)
    command.upgrade(cfg, "c3a9e5d17b20")
    migration = ScriptDirectory.from_config(cfg).get_revision("c4a9e2d7f318").module
    engine = make_engine(url)
    prev = migration.GENESIS
    with engine.begin() as conn:  # three entries hashed the old way (actor name outside the digest)
        for i in range(3):
            row = {"at": utcnow(), "actor_id": None, "actor_name": "系统", "action": "test_event",
                   "subject_type": "test", "subject_id": i, "details": {"n": i}}
            digest = migration.digest_v1(prev, SimpleNamespace(**row))
            conn.execute(insert(migration.entries).values(**row, prev_hash=prev, hash=digest))
            prev = digest
        if broken:
            guard.remove(conn)
            conn.execute(text("UPDATE activity_entry SET details = '{\"n\": 7}' WHERE subject_id = 1"))
            guard.install(conn)
    try:
        if broken:
            with pytest.raises(RuntimeError, match="第 2 条处断裂"):
                command.upgrade(cfg, "head")
            with engine.connect() as conn:
                assert backup_module.database_revision(conn) == "c3a9e5d17b20"
            return
        command.upgrade(cfg, "head")
        with Session(engine) as s:
            assert history.verify_chain(s) == (True, None)
            rows = s.exec(select(ActivityEntry).order_by(ActivityEntry.id)).all()
            assert rows[-1].action == "history_digest_upgraded" and rows[-1].details["rehashed"] == 3
            assert rows[-1].details["old_head"] == prev and rows[-1].details["legacy_signatures"] == []
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:  # the triggers are back
            conn.execute(text("UPDATE activity_entry SET actor_name = 'X'"))
        command.downgrade(cfg, "c3a9e5d17b20")  # back to digest version 1, the chain verifying under it
        with engine.connect() as conn:
            rows = list(conn.execute(select(migration.entries).order_by(migration.entries.c.id)))
        chained = migration.GENESIS
        for row in rows:
            assert row.prev_hash == chained and migration.digest_v1(chained, row) == row.hash
            chained = row.hash
    finally:
        engine.dispose()
