"""The review reminder timer and overdue reminders, fired by the worker."""
from __future__ import annotations

from datetime import timedelta

import time_machine
from sqlmodel import select

from cmsflow.cli import worker_pass
from cmsflow.core.db import session_scope, utcnow
from cmsflow.workflow.models import Notification, ProcessInstance
from tests.conftest import Api


def _notes(app, user_id):
    with app.app_context(), session_scope() as s:
        return [(n.kind, n.message) for n in s.exec(select(Notification).where(Notification.user_id == user_id))]


def test_review_reminder_fires_after_configured_period(app, org, new_procedure):
    staff, doc = new_procedure()
    staff.post(f"/documents/{doc['id']}/submit")
    with app.app_context(), session_scope() as s:
        inst = s.exec(select(ProcessInstance)).one()
        due = inst.next_timer_at
    assert due is not None and timedelta(days=2, hours=23) < due - utcnow() <= timedelta(days=3)

    with app.app_context():
        assert worker_pass()["timers"] == 0  # nothing due yet
    assert _notes(app, org["head_ene"]) == []

    with time_machine.travel(utcnow() + timedelta(days=3, hours=1), tick=False), app.app_context():
        assert worker_pass()["timers"] == 1
    kinds = [k for k, _ in _notes(app, org["head_ene"])]
    assert kinds == ["reminder"]
    # the review task is still open: the timer is non-interrupting
    head = Api(staff.client, "head_ene")
    assert [t["name"] for t in head.get("/tasks").get_json()["tasks"]] == ["review"]


def test_overdue_tasks_are_reminded_once(app, org, new_procedure):
    staff, doc = new_procedure()
    staff.post(f"/documents/{doc['id']}/submit")
    with time_machine.travel(utcnow() + timedelta(days=6), tick=False), app.app_context():
        first = worker_pass()
        second = worker_pass()
    assert first["overdue"] + first["timers"] >= 1 and second["overdue"] == 0
    # a late-firing reminder timer and the overdue sweep together send exactly one overdue notice
    assert [k for k, _ in _notes(app, org["head_ene"])] == ["overdue"]


def test_a_failing_timer_step_is_postponed_and_does_not_block_others(app, org, new_procedure, monkeypatch):
    from cmsflow.workflow import service as wf_service

    for title in ("程序甲", "程序乙"):
        staff, doc = new_procedure(title=title)
        staff.post(f"/documents/{doc['id']}/submit")
    original = wf_service.fire_timers_of
    calls = []

    def flaky(session, inst):
        calls.append(inst.id)
        if len(calls) == 1:
            raise RuntimeError("service down")
        return original(session, inst)

    monkeypatch.setattr(wf_service, "fire_timers_of", flaky)
    with time_machine.travel(utcnow() + timedelta(days=3, hours=1), tick=False), app.app_context():
        assert worker_pass()["timers"] == 1
        with session_scope() as s:
            failed = s.get(ProcessInstance, calls[0])
            assert "service down" in failed.error and failed.next_timer_at > utcnow()
