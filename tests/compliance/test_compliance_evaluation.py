"""Compliance evaluations: scheduled from the register's frequency by the worker, re-evaluated when an
obligation's text changes, non-compliance raising a nonconformity, and the period report."""
from __future__ import annotations

import io
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import time_machine
from docx import Document

from cmsflow.cli import worker_pass

TZ = ZoneInfo("Asia/Shanghai")
OBLIGATION = {"title": "碳排放权交易管理办法（试行）", "obligation_type": "rule", "issuing_body": "生态环境部",
              "article": "第二十五条", "requirement": "重点排放单位应当于每年3月31日前报送上一年度温室气体排放报告。",
              "department": "ENE", "evaluation_frequency": "monthly"}


def add_obligation(api, **over) -> dict:
    res = api("mr").post("/registers/compliance_obligation", json={**OBLIGATION, **over})
    assert res.status_code == 201, res.get_json()
    return res.get_json()


def evaluations(api, **filters) -> list[dict]:
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    res = api("mr").get(f"/compliance-evaluations?{query}")
    assert res.status_code == 200
    return res.get_json()["evaluations"]


def step(client, ev_id, name, **body):
    return client.post(f"/compliance-evaluations/{ev_id}/steps/{name}", json=body)


def test_monthly_obligation_gets_an_evaluation_per_month_from_the_worker(app, api):
    with time_machine.travel(datetime(2027, 1, 10, 10, 0, tzinfo=TZ), tick=False):
        ob = add_obligation(api)
        assert evaluations(api) == []  # nothing is due on the day it is registered
        due = api("mr").get("/compliance-evaluations/due?days=40").get_json()["due"]
        assert [(d["obligation_id"], d["date"]) for d in due] == [(ob["id"], "2027-02-10")]
        assert api("mr").get("/compliance-evaluations/due?days=abc").status_code == 400
    with time_machine.travel(datetime(2027, 2, 9, 12, 0, tzinfo=TZ), tick=False), app.app_context():
        worker_pass()
        assert evaluations(api) == []  # not due yet
    with time_machine.travel(datetime(2027, 3, 10, 9, 0, tzinfo=TZ), tick=False), app.app_context():
        worker_pass()
        rows = evaluations(api)
        assert sorted(e["due_on"] for e in rows) == ["2027-02-10", "2027-03-10"]
        assert {e["trigger"] for e in rows} == {"scheduled"}
        assert {e["current_step"] for e in rows} == {"evaluate_obligation"}
        assert {e["department"] for e in rows} == {"ENE"}
        worker_pass()  # a second pass in the same month starts nothing more
        assert len(evaluations(api)) == 2
        tasks = api("head_ene").get("/tasks").get_json()["tasks"]
        assert sum(t["name"] == "evaluate_obligation" for t in tasks) == 2
        assert api("head_prd").get("/tasks").get_json()["tasks"] == []  # another department's head sees none


def test_non_compliant_result_confirmed_by_the_mr_raises_a_nonconformity(app, api):
    ob = add_obligation(api, department="ENE")
    res = api("mr").post("/compliance-evaluations", json={"obligation_id": ob["id"]})
    assert res.status_code == 201, res.get_json()
    ev = res.get_json()
    assert ev["trigger"] == "manual" and ev["current_step"] == "evaluate_obligation"

    head = api("head_ene")
    assert step(api("head_prd"), ev["id"], "evaluate_obligation", data={"result": "compliant",
                                                                       "evidence": "x"}).status_code == 403
    bad = step(head, ev["id"], "evaluate_obligation", data={"result": "non_compliant", "evidence": " "})
    assert bad.status_code == 400 and "evidence" in bad.get_json()["error"]["details"]["fields"]
    assert api("mr").get(f"/compliance-evaluations/{ev['id']}").get_json()["result"] is None  # nothing saved

    evidence = "2026年度排放报告于4月8日报送，晚于3月31日期限。"
    assert step(head, ev["id"], "evaluate_obligation",
                data={"result": "non_compliant", "evidence": evidence}).status_code == 200
    mr = api("mr")
    assert step(mr, ev["id"], "confirm_evaluation", decision="return").status_code == 400  # reason required
    res = step(mr, ev["id"], "confirm_evaluation", decision="return", comment="请附报送回执")
    assert res.get_json()["current_step"] == "evaluate_obligation"
    step(head, ev["id"], "evaluate_obligation", data={"result": "non_compliant", "evidence": evidence + "回执见附件"})
    res = step(mr, ev["id"], "confirm_evaluation", decision="confirm")
    assert res.status_code == 200, res.get_json()
    done = res.get_json()
    assert done["status"] == "closed" and done["result"] == "non_compliant" and done["confirmed_by"] == "mr"
    nc = api("mr").get(f"/nonconformities/{done['nonconformity_id']}").get_json()
    assert nc["source"] == "compliance_evaluation" and nc["department"] == "ENE"
    assert nc["source_ref"] == f"compliance_evaluation:{ev['id']}" and nc["current_step"] == "accept"
    assert "回执见附件" in nc["evidence"] and OBLIGATION["requirement"] in nc["description"]
    hits = api("mr").get("/search", query_string={"q": "回执见附件"}).get_json()["results"]
    assert {(h["type"], h["id"]) for h in hits} == {("compliance_evaluation", ev["id"]), ("nonconformity", nc["id"])}


def test_compliant_result_closes_without_a_nonconformity(app, api):
    ob = add_obligation(api)
    ev = api("mr").post("/compliance-evaluations", json={"obligation_id": ob["id"]}).get_json()
    step(api("head_ene"), ev["id"], "evaluate_obligation", data={"result": "compliant", "evidence": "按期报送"})
    done = step(api("mr"), ev["id"], "confirm_evaluation", decision="confirm").get_json()
    assert done["status"] == "closed" and done["nonconformity_id"] is None
    assert api("mr").get("/nonconformities").get_json()["nonconformities"] == []


def test_changed_obligation_text_starts_a_re_evaluation_at_once(app, api):
    with time_machine.travel(datetime(2027, 1, 10, 10, 0, tzinfo=TZ), tick=False):
        ob = add_obligation(api)
    with time_machine.travel(datetime(2027, 2, 10, 9, 0, tzinfo=TZ), tick=False), app.app_context():
        worker_pass()
        [scheduled] = evaluations(api)
        mr = api("mr")
        edit = mr.client.put(f"/api/v1/registers/compliance_obligation/{ob['id']}", headers=mr.headers,
                             json={**OBLIGATION, "applicability": "适用于本公司", "lock_version": ob["lock_version"]})
        assert edit.status_code == 200, edit.get_json()
        assert len(evaluations(api)) == 1  # applicability is not the obligation's text: no re-evaluation
        revised = "重点排放单位应当于每年3月31日前报送上一年度温室气体排放报告，并对报告的真实性负责。"
        edit = mr.client.put(f"/api/v1/registers/compliance_obligation/{ob['id']}", headers=mr.headers,
                             json={**OBLIGATION, "requirement": revised,
                                   "lock_version": edit.get_json()["lock_version"]})
        assert edit.status_code == 200, edit.get_json()
        rows = {e["trigger"]: e for e in evaluations(api)}
        assert rows["text_changed"]["current_step"] == "evaluate_obligation"
        assert rows["text_changed"]["due_on"] == "2027-02-10"
        assert api("mr").get(f"/compliance-evaluations/{rows['text_changed']['id']}").get_json()["requirement"] \
            == revised
        old = api("mr").get(f"/compliance-evaluations/{scheduled['id']}").get_json()
        assert old["status"] == "cancelled" and old["current_step"] is None  # it was against the old text
        assert sum(t["name"] == "evaluate_obligation" for t in api("head_ene").get("/tasks").get_json()["tasks"]) == 1


def test_changed_frequency_replans_the_schedule(app, api):
    with time_machine.travel(datetime(2027, 1, 10, 10, 0, tzinfo=TZ), tick=False):
        ob = add_obligation(api, evaluation_frequency="annual")
        mr = api("mr")
        due = mr.get("/compliance-evaluations/due?days=400").get_json()["due"]
        assert [d["date"] for d in due] == ["2028-01-10"]
        edit = mr.client.put(f"/api/v1/registers/compliance_obligation/{ob['id']}", headers=mr.headers,
                             json={**OBLIGATION, "evaluation_frequency": "quarterly",
                                   "lock_version": ob["lock_version"]})
        assert edit.status_code == 200, edit.get_json()
        due = mr.get("/compliance-evaluations/due?days=400").get_json()["due"]
        assert [d["date"] for d in due] == ["2027-04-10"]
    with time_machine.travel(datetime(2027, 4, 10, 9, 0, tzinfo=TZ), tick=False), app.app_context():
        assert worker_pass()["timers"] >= 1
        assert [e["due_on"] for e in evaluations(api)] == ["2027-04-10"]  # the annual timer was cancelled


def test_period_report_lists_each_obligation_with_its_result(app, api):
    first = add_obligation(api)
    second = add_obligation(api, title="固定资产投资项目节能审查办法", article="第六条", department="PRD",
                            requirement="项目投产前应通过节能验收。", evaluation_frequency="annual")
    ev = api("mr").post("/compliance-evaluations", json={"obligation_id": first["id"]}).get_json()
    step(api("head_ene"), ev["id"], "evaluate_obligation", data={"result": "compliant", "evidence": "按期报送回执"})
    step(api("mr"), ev["id"], "confirm_evaluation", decision="confirm")
    start, end = (date.today() - timedelta(days=1)).isoformat(), (date.today() + timedelta(days=1)).isoformat()

    summary = api("mr").get(f"/compliance-evaluations/summary?from={start}&to={end}").get_json()
    assert summary["totals"] == {"obligations": 2, "evaluated": 1, "not_evaluated": 1, "compliant": 1,
                                 "non_compliant": 0, "not_applicable": 0}
    assert [r["obligation_id"] for r in summary["not_evaluated"]] == [second["id"]]
    res = api("mr").get(f"/compliance-evaluations/report.docx?from={start}&to={end}")
    assert res.status_code == 200
    text = "\n".join(c.text for t in Document(io.BytesIO(res.data)).tables for r in t.rows for c in r.cells)
    assert "碳排放权交易管理办法（试行）" in text and "合规" in text and "按期报送回执" in text
    body = "\n".join(p.text for p in Document(io.BytesIO(res.data)).paragraphs)
    assert "固定资产投资项目节能审查办法" in body  # listed as not evaluated
    bad = api("mr").get(f"/compliance-evaluations/report.docx?from={start}&to=2000-01-01")
    assert bad.status_code == 400
