"""The measured races of issue 17 items 8 and 9, as they were attacked: 20 concurrent PUT of one risk with the same
``lock_version``, 15 concurrent uploads of a version with the same lock, 20 concurrent first entries of one
source's month. Exactly one wins, every other gets 409 with a message, none a 500, and the history matches what
was stored. PostgreSQL only (SQLite runs one writer at a time; the exact interleavings are in test_races.py)."""
from __future__ import annotations

import io
import os
from collections import Counter

import pytest
from sqlmodel import select

from cmsflow.core.db import session_scope
from cmsflow.history.models import ActivityEntry
from tests.conftest import Api
from tests.documents.test_document_lifecycle_api import _docx
from tests.registers.test_registers import sample
from tests.security.test_concurrency_pg import _together

pytestmark = pytest.mark.skipif(not (os.environ.get("CMSFLOW_TEST_DATABASE_URL") or "").startswith("postgresql"),
                                reason="thread races are tested on PostgreSQL (CMSFLOW_TEST_DATABASE_URL)")


def _history(app, action: str, subject_id: int | None = None) -> list[ActivityEntry]:
    with app.app_context(), session_scope() as s:
        q = select(ActivityEntry).where(ActivityEntry.action == action)
        if subject_id is not None:
            q = q.where(ActivityEntry.subject_id == subject_id)
        return list(s.exec(q))


def test_twenty_puts_of_one_version_one_wins_the_others_409(app, api):
    rec = api("mr").post("/registers/risk", json={**sample("risk", 0), "department": "ENE"}).get_json()
    clients = [Api(app.test_client(), "staff_ene" if i % 2 else "head_ene") for i in range(20)]

    def put(i):
        a = clients[i]
        res = a.client.put(f"/api/v1/registers/risk/{rec['id']}", headers=a.headers,
                           json={**sample("risk", 0), "department": "ENE", "title": f"修改{i}",
                                 "lock_version": rec["lock_version"]})
        return res.status_code, (res.get_json() or {})

    results = _together(20, put)
    codes = Counter(code for code, _ in results)
    assert codes == {200: 1, 409: 19}, results
    winner = next(i for i, (code, _) in enumerate(results) if code == 200)
    stored = api("mr").get(f"/registers/risk/{rec['id']}").get_json()
    assert stored["title"] == f"修改{winner}" and stored["lock_version"] == rec["lock_version"] + 1
    updates = _history(app, "record_updated", rec["id"])
    assert len(updates) == 1 and updates[0].details["changes"]["title"][1] == f"修改{winner}"


def test_fifteen_uploads_with_one_lock_store_one(app, api, new_procedure):
    _, doc = new_procedure()
    clients = [Api(app.test_client(), "staff_ene") for _ in range(15)]
    files = [_docx(f"并发修改{i}") for i in range(15)]

    def upload(i):
        a = clients[i]
        res = a.post(f"/documents/{doc['id']}/versions", content_type="multipart/form-data",
                     data={"file": (io.BytesIO(files[i]), f"v{i}.docx"), "lock_version": str(doc["lock_version"])})
        return res.status_code, (res.get_json() or {})

    results = _together(15, upload)
    assert Counter(code for code, _ in results) == {201: 1, 409: 14}, results
    after = api("staff_ene").get(f"/documents/{doc['id']}").get_json()
    assert after["lock_version"] == doc["lock_version"] + 1
    assert len(_history(app, "file_uploaded", doc["id"])) == 1


def test_twenty_first_entries_of_one_month_store_one(app, api, plant):
    clients = [Api(app.test_client(), "staff_ene" if i % 2 else "head_ene") for i in range(20)]

    def enter(i):
        res = clients[i].post("/carbon/activity", json={"emission_source": "净购入电力", "period": "2026-03",
                                                        "quantity": str(500 + i), "unit": "MWh"})
        return res.status_code, (res.get_json() or {})

    results = _together(20, enter)
    codes = Counter(code for code, _ in results)
    assert codes[201] == 1 and codes[201] + codes[409] == 20, results
    assert all(body["error"]["code"] in ("duplicate", "stale_edit") for code, body in results if code == 409)
    rows = api("mr").get("/carbon/activity?from=2026-03&to=2026-03").get_json()["activity"]
    assert len(rows) == 1
    assert len(_history(app, "activity_recorded")) == 1
