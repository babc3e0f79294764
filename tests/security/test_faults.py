"""Faults: a worker killed mid-batch, a deleted or damaged search index, a process step that fails.

Each test fails when its protection is removed (see the report of issue 9, item 5):
- the worker fires each timer with its reminders and the new state in one transaction (claimed by a row lock that
  dies with the process), so a kill loses no timer and sends no reminder twice;
- a missing or damaged index is rebuilt from the database wherever it is found (search, worker, reindex);
- a failed step is rolled back whole, noted for the administrator, and can be retried.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import text
from sqlmodel import select

from cmsflow.cli import worker_pass
from cmsflow.core.db import session_scope, utcnow
from cmsflow.workflow import services
from cmsflow.workflow.models import Notification, ProcessInstance
from tests.conftest import PASSWORD, signed_in


def _submitted(new_procedure, titles):
    ids = []
    for title in titles:
        staff, doc = new_procedure(title=title)
        assert staff.post(f"/documents/{doc['id']}/submit").status_code == 200
        ids.append(doc["id"])
    return ids


def _reminders(app, user_id):
    """Reminder notifications of ``user_id``: subject id → how many."""
    with app.app_context(), session_scope() as s:
        rows = s.exec(select(Notification).where(Notification.user_id == user_id,
                                                 Notification.kind.in_(("reminder", "overdue")))).all()
    counts = {}
    for n in rows:
        counts[n.subject_id] = counts.get(n.subject_id, 0) + 1
    return counts


def _killed_worker(app, later, kill_at: int) -> int:
    """Run a worker pass in a forked process that dies (``os._exit``: no rollback, no cleanup, as on SIGKILL) while
    its ``kill_at``-th reminder timer is being fired — the reminder written, the transaction not committed.
    Returns the child's exit code."""
    pid = os.fork()
    if pid == 0:  # the worker process
        code = 1
        try:
            app.extensions["cmsflow_engine"].dispose(close=False)  # its own connections, not the parent's
            original, calls = services._REGISTRY["send_reminder"], []

            def send_then_die(step, data, **params):
                result = original(step, data, **params)
                calls.append(step.instance.id)
                if len(calls) == kill_at:
                    step.session.flush()
                    os._exit(137)
                return result

            services._REGISTRY["send_reminder"] = send_then_die
            with time_machine.travel(later, tick=False), app.app_context():
                worker_pass()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork to kill a worker process")
def test_a_worker_killed_mid_batch_loses_no_timer_and_fires_none_twice(app, org, new_procedure):
    docs = _submitted(new_procedure, ["程序甲", "程序乙", "程序丙", "程序丁"])
    later = utcnow() + timedelta(days=3, hours=1)  # every review reminder is due, no task is overdue yet
    assert _killed_worker(app, later, kill_at=3) == 137
    head = org["head_ene"]
    assert sorted(_reminders(app, head).values()) == [1, 1]  # two committed before the kill; the third rolled back

    with time_machine.travel(later, tick=False), app.app_context():
        assert worker_pass()["timers"] == 2  # the killed one and the one never reached, nothing more
        assert worker_pass()["timers"] == 0
        with session_scope() as s:
            assert all(i.error is None and i.next_timer_at is None for i in s.exec(select(ProcessInstance)))
    assert _reminders(app, head) == dict.fromkeys(docs, 1)  # every due timer fired exactly once


# --- the search index --------------------------------------------------------------------------------------------

def _hits(a, q):
    res = a.get("/search", query_string={"q": q})
    assert res.status_code == 200, res.get_json()
    return sorted(h["id"] for h in res.get_json()["results"])


def _largest_segment(app) -> Path:
    return max(Path(app.config["INDEX_DIR"]).glob("*.seg"), key=lambda p: p.stat().st_size)


def test_a_deleted_index_is_rebuilt_on_the_next_search(app, api, new_procedure, caplog):
    _, doc = new_procedure(title="温室气体排放管理程序")
    mr = api("mr")
    assert _hits(mr, "排放") == [doc["id"]]
    shutil.rmtree(app.config["INDEX_DIR"])
    with caplog.at_level(logging.WARNING, logger="cmsflow.search.service"):
        assert _hits(mr, "排放") == [doc["id"]]
    assert "search index missing: rebuilding it from the database" in caplog.text


def test_a_deleted_index_is_not_replaced_by_one_holding_only_the_next_change(app, api, new_procedure):
    _, first = new_procedure(title="温室气体排放管理程序")
    shutil.rmtree(app.config["INDEX_DIR"])
    _, second = new_procedure(title="排放源识别与评价程序")  # its change is applied to a rebuilt index
    assert _hits(api("mr"), "排放") == sorted([first["id"], second["id"]])


def test_a_truncated_segment_is_found_by_the_worker_and_rebuilt(app, api, new_procedure, caplog):
    _, doc = new_procedure(title="温室气体排放管理程序")
    seg = _largest_segment(app)
    with open(seg, "r+b") as f:
        f.truncate(seg.stat().st_size // 2)
    with caplog.at_level(logging.WARNING, logger="cmsflow.search.service"), app.app_context():
        assert worker_pass()["search_index"] == "rebuilt"
        assert worker_pass()["search_index"] == "ok"
    assert "search index unreadable" in caplog.text
    assert _hits(api("mr"), "排放") == [doc["id"]]


def _garble_middle(seg: Path) -> None:
    data = bytearray(seg.read_bytes())
    n = len(data)
    data[n // 4: n // 2] = bytes((i * 37 + 11) % 256 for i in range(n // 2 - n // 4))
    seg.write_bytes(bytes(data))


def test_garbage_inside_a_segment_is_found_by_reindex_if_needed(app, api, new_procedure):
    _, doc = new_procedure(title="温室气体排放管理程序")
    runner = app.test_cli_runner()
    assert "搜索索引完好" in runner.invoke(args=["cmsflow", "reindex", "--if-needed"]).output
    _garble_middle(_largest_segment(app))
    result = runner.invoke(args=["cmsflow", "reindex", "--if-needed"])
    assert result.exit_code == 0 and "损坏" in result.output and "已重建：1 条" in result.output, result.output
    assert "搜索索引完好" in runner.invoke(args=["cmsflow", "reindex", "--if-needed"]).output
    assert _hits(api("mr"), "排放") == [doc["id"]]


def test_garbage_inside_a_segment_does_not_fail_the_search(app, api, new_procedure):
    _, doc = new_procedure(title="温室气体排放管理程序")
    _garble_middle(_largest_segment(app))
    assert _hits(api("mr"), "排放") == [doc["id"]]


def test_a_search_during_a_rebuild_gets_a_clear_message_not_a_500(app, org, api, new_procedure):
    _, doc = new_procedure(title="温室气体排放管理程序")
    shutil.rmtree(app.config["INDEX_DIR"])
    lock = app.extensions["cmsflow_search"]._lock(timeout=0)  # another process is rebuilding
    try:
        res = api("mr").get("/search", query_string={"q": "排放"})
        page = signed_in(app, org["mr"]).get("/search/", query_string={"q": "排放"})
    finally:
        lock.release()
    assert res.status_code == 503
    assert res.get_json()["error"] == {"code": "search_rebuilding", "message": "搜索索引正在从数据库重建，请稍后再试"}
    assert page.status_code == 503 and "搜索索引正在从数据库重建" in page.get_data(as_text=True)
    assert _hits(api("mr"), "排放") == [doc["id"]]  # and answers once it is done


# --- a failed engine step ----------------------------------------------------------------------------------------

SNAPSHOT_TABLES = ("process_instance", "human_task", "document", "document_version", "signature",
                   "activity_entry", "search_outbox", "stored_file")


def _snapshot(app) -> dict:
    """Every row of the tables a step touches (without the failure note itself)."""
    out = {}
    with app.extensions["cmsflow_engine"].connect() as conn:
        for table in SNAPSHOT_TABLES:
            rows = [dict(r._mapping) for r in conn.execute(text(f'SELECT * FROM "{table}" ORDER BY 1'))]
            for r in rows:
                r.pop("error", None)
            out[table] = rows
        out["notification"] = [dict(r._mapping) for r in conn.execute(text(
            "SELECT * FROM notification WHERE kind <> 'workflow_error' ORDER BY id"))]
    return out


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def _break_publication_half_way(monkeypatch):
    """The publish service fails at its last call, after it has made the version effective, filed the stamped
    copy and written the history: all of that must be rolled back."""
    from cmsflow.documents import service as documents

    def broken(*_a, **_kw):
        raise OSError("盖章模板读取失败（磁盘错误）")
    monkeypatch.setattr(documents, "users_in_role", broken)


def test_a_failed_step_changes_nothing_and_an_administrator_retries_it(app, org, api, new_procedure, monkeypatch):
    staff, doc = new_procedure()
    assert staff.post(f"/documents/{doc['id']}/submit").status_code == 200
    head = api("head_ene")
    review = head.get("/tasks").get_json()["tasks"][0]
    res = head.post(f"/tasks/{review['id']}/complete", json={"decision": "approve", "password": PASSWORD})
    assert res.status_code == 200
    mr = api("mr")
    task = next(t for t in mr.get("/tasks").get_json()["tasks"] if t["name"] == "mr_approval")

    _break_publication_half_way(monkeypatch)  # the publish service task fails after the approval
    before = _snapshot(app)
    res = mr.post(f"/tasks/{task['id']}/complete", json={"decision": "approve", "password": PASSWORD,
                                                         "comment": "同意发布"})
    assert res.status_code == 500
    error = res.get_json()["error"]
    assert error["code"] == "workflow_error"
    assert "未保存" in error["message"] and "盖章模板读取失败" in error["message"] and "管理员" in error["message"]
    assert _snapshot(app) == before  # instance, tasks, document, signatures, history: exactly as before
    assert staff.get(f"/documents/{doc['id']}").get_json()["status"] == "in_review"

    admin = signed_in(app, org["admin"])
    page = admin.get("/tasks/failures")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "盖章模板读取失败" in body and "管理者代表批准" in body and "MR" in body
    assert signed_in(app, org["mr"]).get("/tasks/failures").status_code == 403
    with app.app_context(), session_scope() as s:
        kinds = [n.kind for n in s.exec(select(Notification).where(Notification.user_id == org["admin"]))]
        inst_id = s.exec(select(ProcessInstance)).one().id
    assert kinds == ["workflow_error"]

    # a retry while the cause is still there fails again, still changes nothing, and says so
    res = admin.post(f"/tasks/failures/{inst_id}/retry", data={"csrf_token": _csrf(body)}, follow_redirects=True)
    assert res.status_code == 200 and "盖章模板读取失败" in res.get_data(as_text=True)
    assert _snapshot(app) == before
    other = signed_in(app, org["mr"])
    token = _csrf(other.get("/account").get_data(as_text=True))
    assert other.post(f"/tasks/failures/{inst_id}/retry", data={"csrf_token": token}).status_code == 403

    monkeypatch.undo()  # the cause is removed
    res = admin.post(f"/tasks/failures/{inst_id}/retry", data={"csrf_token": _csrf(body)}, follow_redirects=True)
    assert res.status_code == 200 and "已按原提交重新执行" in res.get_data(as_text=True)
    assert staff.get(f"/documents/{doc['id']}").get_json()["status"] == "effective"
    assert "盖章模板读取失败" not in admin.get("/tasks/failures").get_data(as_text=True)
    with app.app_context(), session_scope() as s:
        assert s.get(ProcessInstance, inst_id).error is None
        rows = s.execute(text("SELECT user_id, meaning, decision, comment FROM signature ORDER BY id")).all()
        retried = s.execute(text("SELECT actor_id FROM activity_entry WHERE action = 'workflow_step_retried'")).all()
    assert [tuple(r) for r in rows] == [(org["head_ene"], "reviewed", "approve", None),
                                        (org["mr"], "approved", "approve", "同意发布")]  # signed by the MR
    assert [r[0] for r in retried] == [org["admin"]]


def test_a_failed_timer_step_is_retried_by_an_administrator(app, org, new_procedure, monkeypatch):
    _submitted(new_procedure, ["程序甲"])
    original = services._REGISTRY["send_reminder"]

    def down(*_a, **_kw):
        raise ConnectionError("消息服务不可用")
    monkeypatch.setitem(services._REGISTRY, "send_reminder", down)
    later = utcnow() + timedelta(days=3, hours=1)
    with time_machine.travel(later, tick=False), app.app_context():
        assert worker_pass()["timers"] == 0
    assert _reminders(app, org["head_ene"]) == {}

    with time_machine.travel(later + timedelta(minutes=1), tick=False):
        admin = signed_in(app, org["admin"])
        body = admin.get("/tasks/failures").get_data(as_text=True)
        assert "消息服务不可用" in body and "定时步骤" in body
        monkeypatch.setitem(services._REGISTRY, "send_reminder", original)
        with app.app_context(), session_scope() as s:
            inst_id = s.exec(select(ProcessInstance)).one().id
        res = admin.post(f"/tasks/failures/{inst_id}/retry", data={"csrf_token": _csrf(body)}, follow_redirects=True)
    assert "定时步骤已重新执行" in res.get_data(as_text=True)
    assert list(_reminders(app, org["head_ene"]).values()) == [1]
    with app.app_context(), session_scope() as s:
        assert s.get(ProcessInstance, inst_id).error is None
