"""Concurrency on PostgreSQL: 20 people at once completing tasks or creating documents, and workers racing for
timers. No lost update, no task completed twice, no duplicate document code, no 500.

Every thread has its own test client, so its own request, app context and database session (connection from the
pool); a Barrier starts them together. Skipped on SQLite, which runs one writer at a time.
"""
from __future__ import annotations

import os
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import text
from sqlmodel import Session, select

from cmsflow.cli import worker_pass
from cmsflow.core.db import session_scope, utcnow
from cmsflow.workflow.models import HumanTask, Notification, ProcessInstance
from cmsflow.workflow.service import claim_due_instance
from tests.conftest import PASSWORD, PROCEDURE_FIELDS, Api

pytestmark = pytest.mark.skipif(not (os.environ.get("CMSFLOW_TEST_DATABASE_URL") or "").startswith("postgresql"),
                                reason="concurrency is tested on PostgreSQL (CMSFLOW_TEST_DATABASE_URL); "
                                       "SQLite serialises every writer")
N = 20


def _together(n, fn):
    """Run ``fn(i)`` in ``n`` threads started at the same moment; returns the results in order (an exception as
    ``(500, repr)``)."""
    barrier = threading.Barrier(n, timeout=30)
    results = [None] * n

    def run(i):
        barrier.wait()
        try:
            results[i] = fn(i)
        except Exception as exc:  # TESTING propagates a view's exception: count it as the 500 it would be
            results[i] = (500, repr(exc))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def _submitted_reviews(app, api, n):
    """``n`` procedures submitted for review; returns the open review task ids."""
    staff = api("staff_ene")
    for i in range(n):
        res = staff.post("/documents", json={"title": f"并发程序{i}", "doc_type": "procedure", "department": "ENE",
                                             "template": "procedure", "fields": PROCEDURE_FIELDS})
        assert res.status_code == 201, res.get_json()
        assert staff.post(f"/documents/{res.get_json()['id']}/submit").status_code == 200
    return [t["id"] for t in api("head_ene").get("/tasks", query_string={"per_page": 500}).get_json()["tasks"]]


def test_twenty_completions_of_different_tasks_at_once_are_all_recorded(app, api):
    task_ids = _submitted_reviews(app, api, N)
    assert len(task_ids) == N
    clients = [Api(app.test_client(), "head_ene") for _ in range(N)]

    def complete(i):
        res = clients[i].post(f"/tasks/{task_ids[i]}/complete", json={"decision": "approve", "password": PASSWORD})
        return res.status_code, res.get_json()

    results = _together(N, complete)
    assert [code for code, _ in results] == [200] * N, results
    with app.app_context(), session_scope() as s:
        done = s.exec(select(HumanTask).where(HumanTask.name == "review")).all()
        assert sorted(t.id for t in done if t.status == "completed") == sorted(task_ids)  # no lost update
        signed = s.execute(text("SELECT human_task_id, count(*) FROM signature GROUP BY human_task_id")).all()
        assert sorted(r[0] for r in signed) == sorted(task_ids) and {r[1] for r in signed} == {1}
        instances = s.exec(select(ProcessInstance)).all()
        assert len(instances) == N and {i.version for i in instances} == {2}  # one step each, none overwritten
        approvals = s.exec(select(HumanTask).where(HumanTask.name == "mr_approval", HumanTask.status == "open"))
        assert Counter(t.instance_id for t in approvals) == Counter({i.id: 1 for i in instances})


def test_twenty_completions_of_the_same_task_give_one_success_and_nineteen_conflicts(app, api):
    (task_id,) = _submitted_reviews(app, api, 1)
    clients = [Api(app.test_client(), "head_ene") for _ in range(N)]

    def complete(i):
        res = clients[i].post(f"/tasks/{task_id}/complete", json={"decision": "approve", "password": PASSWORD})
        return res.status_code, res.get_json()

    results = _together(N, complete)
    assert sorted(code for code, _ in results) == [200] + [409] * (N - 1), results
    assert {body["error"]["code"] for code, body in results if code == 409} <= {"task_closed", "concurrent_step"}
    with app.app_context(), session_scope() as s:
        assert s.execute(text("SELECT count(*) FROM signature")).scalar_one() == 1
        assert s.exec(select(ProcessInstance)).one().version == 2
        assert len(s.exec(select(HumanTask).where(HumanTask.name == "mr_approval")).all()) == 1


def test_twenty_documents_created_at_once_get_twenty_distinct_codes(app, api):
    clients = [Api(app.test_client(), "staff_ene") for _ in range(N)]

    def create(i):
        res = clients[i].post("/documents", json={"title": f"同时编制的程序{i}", "doc_type": "procedure",
                                                  "department": "ENE", "template": "procedure",
                                                  "fields": PROCEDURE_FIELDS})
        return res.status_code, res.get_json()

    results = _together(N, create)  # the first documents of the type: the code counter row does not exist yet
    assert [code for code, _ in results] == [201] * N, [body for code, body in results if code != 201]
    codes = sorted(body["code"] for _, body in results)
    assert codes == [f"CEMS-PR-{n:03d}" for n in range(1, N + 1)]


def _reminder_counts(app):
    with app.app_context(), session_scope() as s:
        rows = s.exec(select(Notification).where(Notification.kind == "reminder")).all()
    return Counter(n.subject_id for n in rows)


def test_workers_racing_for_timers_fire_each_once(app, api):
    _submitted_reviews(app, api, 6)
    later = utcnow() + timedelta(days=3, hours=1)
    with time_machine.travel(later, tick=False):
        def one_pass(_i):
            with app.app_context():
                return worker_pass()["timers"]
        fired = _together(4, one_pass)
    assert sum(fired) == 6
    counts = _reminder_counts(app)
    assert len(counts) == 6 and set(counts.values()) == {1}


def _wait_until_gone(engine, pid, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            if not conn.execute(text("SELECT 1 FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}).first():
                return
        time.sleep(0.05)
    raise AssertionError(f"backend {pid} still alive after {seconds} s")


def test_a_claim_held_by_a_worker_that_dies_is_released(app, api):
    _submitted_reviews(app, api, 3)
    later = utcnow() + timedelta(days=3, hours=1)
    engine = app.extensions["cmsflow_engine"]
    with time_machine.travel(later, tick=False), app.app_context():
        dying = Session(engine)
        held = claim_due_instance(dying)  # a worker claimed this instance (row lock) ...
        pid = dying.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert worker_pass()["timers"] == 2  # ... the others skip it and fire the rest
        with engine.begin() as conn:  # ... and dies: its connection is gone, its transaction rolled back
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
        _wait_until_gone(engine, pid)  # the signal is sent at once; the backend (and its lock) goes a moment later
        dying.invalidate()
        assert worker_pass()["timers"] == 1  # the claim did not outlive the worker
        assert worker_pass()["timers"] == 0
    counts = _reminder_counts(app)
    assert counts[held.subject_id] == 1 and len(counts) == 3 and set(counts.values()) == {1}
