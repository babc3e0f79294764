"""Overdue steps remind, then escalate to the management representative (worker --once); statistics."""
from __future__ import annotations

from datetime import date, timedelta

import time_machine
from sqlmodel import select

from cmsflow.core.db import session_scope, utcnow
from cmsflow.nonconformities import service
from cmsflow.workflow.models import HumanTask, Notification
from tests.nonconformities.test_corrective_action_api import NC, raise_nc, step


def _notes(app, user_id):
    with app.app_context(), session_scope() as s:
        return [n.kind for n in s.exec(select(Notification).where(Notification.user_id == user_id)
                                       .order_by(Notification.id))]


def _worker_once(app):
    result = app.test_cli_runner().invoke(args=["cmsflow", "worker", "--once"])
    assert result.exit_code == 0, result.output
    return result.output


def test_overdue_step_reminds_then_escalates_to_the_management_representative(app, api, org):
    nc = raise_nc(api)
    start = utcnow()
    with time_machine.travel(start + timedelta(days=3), tick=False):
        _worker_once(app)
    assert _notes(app, org["head_prd"]) == [] and _notes(app, org["mr"]) == []

    with time_machine.travel(start + timedelta(days=7, hours=1), tick=False):
        out = _worker_once(app)
    assert "timers=1" in out
    assert _notes(app, org["head_prd"]) == ["overdue"]  # one notice: the BPMN timer, not a second sweep
    assert _notes(app, org["mr"]) == []

    with time_machine.travel(start + timedelta(days=14, hours=1), tick=False):
        _worker_once(app)
    assert _notes(app, org["mr"]) == ["escalation"]
    assert _notes(app, org["head_prd"]) == ["overdue", "escalation"]
    with app.app_context(), session_scope() as s:
        task = s.exec(select(HumanTask).where(HumanTask.status == "open")).one()
        assert task.name == "accept" and task.escalated_at is not None  # still open: timers are non-interrupting
    # the register lists it as overdue
    with time_machine.travel(start + timedelta(days=14, hours=2), tick=False):
        late = api("mr").get("/nonconformities?overdue=1").get_json()["nonconformities"]
    assert [x["code"] for x in late] == [nc["code"]]


def test_a_step_done_in_time_is_neither_reminded_nor_escalated(app, api, org):
    nc = raise_nc(api)
    step(api("head_prd"), nc["id"], "accept", decision="accept")
    start = utcnow()
    with time_machine.travel(start + timedelta(days=6), tick=False):
        step(api("head_prd"), nc["id"], "correction", data={"correction": "已纠正"})
    with time_machine.travel(start + timedelta(days=15), tick=False):
        _worker_once(app)
    assert _notes(app, org["mr"]) == []


def test_statistics_count_a_known_set_of_records(app, api, org):
    made = [("internal_audit", "PRD", "minor", ["DB44T1944:9.1"], "2026-03-10"),
            ("internal_audit", "ENE", "major", ["DB44T1944:9.1", "DB44T1944:7.5"], "2026-03-20"),
            ("monitoring", "ENE", "minor", ["DB44T1944:8.1"], "2026-05-02"),
            ("compliance_evaluation", "PRD", "minor", [], "2026-06-30"),
            ("other", "PRD", "minor", [], "2025-12-31")]  # outside the period
    ids = [raise_nc(api, source=src, department=dept, severity=sev, clauses=cl, raised_on=day)["id"]
           for src, dept, sev, cl, day in made]
    with app.app_context(), session_scope() as s:  # one closed after 20 days
        nc = service.get(s, ids[0])
        nc.status = "closed"
        nc.closed_at = utcnow().replace(year=2026, month=3, day=30, hour=4)
    stats = api("mr").get("/nonconformities/statistics?from=2026-01-01&to=2026-06-30").get_json()
    assert stats["total"] == 4
    assert stats["by_source"] == {"internal_audit": 2, "monitoring": 1, "compliance_evaluation": 1}
    assert stats["by_department"] == {"PRD": 2, "ENE": 2}
    assert stats["by_severity"] == {"minor": 3, "major": 1}
    assert stats["by_clause"] == {"DB44T1944:9.1": 2, "DB44T1944:7.5": 1, "DB44T1944:8.1": 1}
    assert stats["by_status"] == {"closed": 1, "raised": 3}
    assert stats["by_month"] == {"2026-03": 2, "2026-05": 1, "2026-06": 1}
    assert stats["closed"] == 1 and stats["average_days_to_close"] == 20.0
    bad = api("mr").get("/nonconformities/statistics?from=2026-07-01&to=2026-01-01")
    assert bad.status_code == 400
    with app.app_context(), session_scope() as s:
        assert service.statistics(s, date(2027, 1, 1), date(2027, 12, 31))["total"] == 0


def test_register_filters_and_export(app, api, org):
    raise_nc(api)
    raise_nc(api, source="monitoring", department="ENE", clauses=["DB44T1944:8.1"], title="电表超期未检")
    mr = api("mr")
    codes = lambda q: [x["title"] for x in mr.get(f"/nonconformities?{q}").get_json()["nonconformities"]]  # noqa: E731
    assert codes("source=monitoring") == ["电表超期未检"]
    assert codes("department=PRD") == [NC["title"]]
    assert codes("clause=DB44T1944:8.1") == ["电表超期未检"]
    assert codes("status=open") and codes("status=closed") == []
    res = mr.get("/nonconformities/export?department=ENE")
    import io

    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(res.data)).active
    rows = list(ws.values)
    assert rows[0][0] == "编号" and len(rows) == 2 and rows[1][1] == "电表超期未检"
