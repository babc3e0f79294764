"""Lost updates and unique-key races (issue 17 items 8, 9), on SQLite and PostgreSQL: the interleaving of two
users is made exact by committing the other user's write from a second session at the moment the first one has
read and checked, but not yet written. Without the atomic version check (``UPDATE … WHERE lock_version = :read``,
cmsflow.core.models.Versioned) the first user's write would silently overwrite the second; without the handler
(cmsflow.core.db.conflict_from) the unique key would answer 500. Thread races on PostgreSQL:
tests/security/test_races_pg.py."""
from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.orm import Session
from sqlmodel import select

from cmsflow.auth.models import User
from cmsflow.carbon import service as carbon
from cmsflow.core.db import session_scope
from cmsflow.history.models import ActivityEntry
from cmsflow.registers import service as registers
from cmsflow.registers.specs import SPECS
from tests.registers.test_registers import sample


def _meanwhile(monkeypatch, module, name, competing):
    """Wrap ``module.name`` so that, the first time it runs, ``competing()`` commits in its own session first."""
    original = getattr(module, name)
    done = []

    def wrapped(*args, **kwargs):
        result = original(*args, **kwargs)
        if not done:
            done.append(True)
            competing()
        return result
    monkeypatch.setattr(module, name, wrapped)


@contextmanager
def _before_first_flush(competing):
    """Run ``competing()`` (which commits in its own session) just before the request's first write."""
    done = []

    def hook(session, _context, _instances):
        if not done:
            done.append(True)
            competing()
    event.listen(Session, "before_flush", hook)
    try:
        yield
    finally:
        event.remove(Session, "before_flush", hook)
    assert done, "the request wrote nothing"


def test_an_edit_that_lost_the_race_is_a_409_and_the_winner_is_kept(app, api, org, monkeypatch):
    mr, head = api("mr"), api("head_ene")
    rec = mr.post("/registers/risk", json={**sample("risk", 0), "department": "ENE"}).get_json()

    def other_user_saves():
        with app.app_context(), session_scope() as s:
            registers.update(s, s.get(User, org["staff_ene"]), SPECS["risk"], rec["id"],
                             {**sample("risk", 0), "department": "ENE", "title": "别人的修改",
                              "lock_version": rec["lock_version"]})

    _meanwhile(monkeypatch, registers, "clean", other_user_saves)  # after the lock check, before the write
    res = head.client.put(f"/api/v1/registers/risk/{rec['id']}", headers=head.headers,
                          json={**sample("risk", 0), "department": "ENE", "title": "我的修改",
                                "lock_version": rec["lock_version"]})
    assert res.status_code == 409, res.get_json()
    assert res.get_json()["error"]["code"] == "stale_edit" and "未保存" in res.get_json()["error"]["message"]
    stored = mr.get(f"/registers/risk/{rec['id']}").get_json()
    assert stored["title"] == "别人的修改" and stored["lock_version"] == rec["lock_version"] + 1
    with app.app_context(), session_scope() as s:  # the history shows the one edit that was stored
        updates = s.exec(select(ActivityEntry).where(ActivityEntry.action == "record_updated",
                                                     ActivityEntry.subject_id == rec["id"])).all()
        assert [e.actor_id for e in updates] == [org["staff_ene"]]


def test_a_correction_of_activity_data_that_lost_the_race_is_a_409(app, api, org, plant, monkeypatch):
    staff = api("staff_ene")
    entry = {"emission_source": "净购入电力", "period": "2026-03", "quantity": "500", "unit": "MWh"}
    first = staff.post("/carbon/activity", json=entry).get_json()

    def other_user_corrects():
        with app.app_context(), session_scope() as s:
            carbon.record_activity(s, s.get(User, org["head_ene"]), **{**entry, "quantity": "510"},
                                   lock_version=first["lock_version"])

    with _before_first_flush(other_user_corrects):  # after the lock check, before the write
        res = staff.post("/carbon/activity", json={**entry, "quantity": "520", "lock_version": first["lock_version"]})
    assert res.status_code == 409, res.get_json()
    rows = api("mr").get("/carbon/activity?from=2026-03&to=2026-03").get_json()["activity"]
    assert [float(r["quantity"]) for r in rows] == [510]


def test_two_first_entries_of_one_source_and_month_give_one_record_and_a_409(app, api, org, plant, monkeypatch):
    entry = {"emission_source": "净购入电力", "period": "2026-03", "quantity": "500", "unit": "MWh"}

    def other_user_enters():
        with app.app_context(), session_scope() as s:
            carbon.record_activity(s, s.get(User, org["head_ene"]), **{**entry, "quantity": "505"})

    staff = api("staff_ene")
    with _before_first_flush(other_user_enters):  # both looked and saw no entry for March
        res = staff.post("/carbon/activity", json=entry)
    assert res.status_code == 409, res.get_json()
    assert res.get_json()["error"]["code"] == "duplicate" and "未保存" in res.get_json()["error"]["message"]
    rows = api("mr").get("/carbon/activity?from=2026-03&to=2026-03").get_json()["activity"]
    assert [float(r["quantity"]) for r in rows] == [505]


def test_a_unique_race_on_a_page_is_a_message_not_a_500(app, api, org, plant, monkeypatch):
    import re

    from tests.conftest import signed_in

    entry = {"emission_source": "净购入电力", "period": "2026-03", "quantity": "500", "unit": "MWh"}

    def other_user_enters():
        with app.app_context(), session_scope() as s:
            carbon.record_activity(s, s.get(User, org["head_ene"]), **entry)

    client = signed_in(app, org["staff_ene"])
    page = client.get("/carbon/activity").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    source_id = str(plant["净购入电力"])
    with _before_first_flush(other_user_enters):
        res = client.post("/carbon/activity", data={**entry, "emission_source": source_id, "csrf_token": token})
    assert res.status_code == 409
    assert "同一记录已由他人同时录入" in res.get_data(as_text=True)
