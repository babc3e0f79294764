"""An internal audit through the API: approved programme, independent plan, generated checklist with
evidence, findings, nonconformity hand-off, report in Word, signed approval, closure."""
from __future__ import annotations

import io
import shutil
import subprocess
from datetime import date, timedelta

from docx import Document as DocxDocument

from tests.conftest import PASSWORD

CLAUSES = ["DB44T1944:7.5", "DB44T1944:8.1", "DB44T1944:9.1"]


def _this_month() -> str:
    return date.today().strftime("%Y-%m")


def approved_programme(api, audits=None, period_end=None):
    mr = api("mr")
    year = date.today().year
    res = mr.post("/audit-programmes", json={
        "title": f"{year}年度碳排放管理体系内部审核方案", "period_start": f"{year}-01-01",
        "period_end": period_end or f"{year}-12-31", "objectives": "评价体系符合性与有效性", "criteria": ["DB44T1944"],
        "audits": audits or [{"title": "生产部专项审核", "month": _this_month(), "departments": ["PRD"],
                              "clauses": CLAUSES, "lead_auditor": "auditor"}]})
    assert res.status_code == 201, res.get_json()
    prog = res.get_json()
    assert mr.post(f"/audit-programmes/{prog['id']}/submit").status_code == 200
    # the MR wrote the programme, so its approval goes to top management (segregation of duties)
    top = api("top")
    task = [t for t in top.get("/tasks").get_json()["tasks"] if t["name"] == "approve_programme"][0]
    res = top.post(f"/tasks/{task['id']}/complete", json={"decision": "approve", "password": PASSWORD})
    assert res.status_code == 200, res.get_json()
    return mr.get(f"/audit-programmes/{prog['id']}").get_json()


def plan(api, audit_id, **over):
    data = {"start_date": date.today().isoformat(), "end_date": (date.today() + timedelta(days=1)).isoformat(),
            "team": [], "auditees": ["head_prd", "staff_prd"], **over}
    return api("auditor").post(f"/audits/{audit_id}/steps/plan_audit", json={"data": data})


def test_programme_approval_is_signed_and_starts_each_audit(api, org):
    prog = approved_programme(api)
    assert prog["status"] == "approved" and prog["approved_by"] == "top"  # the author (mr) may not approve
    audit = prog["audits"][0]
    assert audit["status"] == "planning" and audit["current_step"] == "plan_audit"  # this month: timer passed
    assert [t["name"] for t in api("auditor").get("/tasks").get_json()["tasks"]] == ["plan_audit"]


def test_a_future_audit_waits_for_its_preparation_timer(app, api, org):
    from cmsflow.core.db import utcnow

    month = (date.today().replace(day=1) + timedelta(days=62)).strftime("%Y-%m")
    prog = approved_programme(api, [{"month": month, "departments": ["ENE"], "clauses": CLAUSES,
                                     "lead_auditor": "auditor"}], period_end=f"{date.today().year + 1}-12-31")
    assert prog["audits"][0]["status"] == "scheduled" and prog["audits"][0]["current_step"] is None
    import time_machine

    from cmsflow.cli import worker_pass

    first = date.fromisoformat(f"{month}-01")
    with time_machine.travel(utcnow() + (first - date.today()) - timedelta(days=13), tick=False), app.app_context():
        assert worker_pass()["timers"] == 1
    assert api("auditor").get(f"/audits/{prog['audits'][0]['id']}").get_json()["current_step"] == "plan_audit"


def test_auditor_cannot_audit_their_own_department(api, org):
    mr = api("mr")
    res = mr.post("/audit-programmes", json={"title": "方案", "period_start": "2026-01-01",
                                             "period_end": "2026-12-31", "criteria": ["DB44T1944"]})
    prog_id = res.get_json()["id"]
    refused = mr.post(f"/audit-programmes/{prog_id}/audits", json={
        "month": "2026-12", "departments": ["QHS"], "clauses": CLAUSES, "lead_auditor": "auditor"})
    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "auditor_not_independent"
    assert "QHS" not in str(refused.get_json()) and "质量安全环保部" in refused.get_json()["error"]["message"]

    prog = approved_programme(api)
    audit_id = prog["audits"][0]["id"]
    res = plan(api, audit_id, team=["staff_prd"])  # a production staff member on the team of a PRD audit
    assert res.status_code == 400 and res.get_json()["error"]["code"] == "auditor_not_independent"
    assert api("auditor").get(f"/audits/{audit_id}").get_json()["current_step"] == "plan_audit"


def test_programme_page_data_names_uncovered_clauses_and_departments(api, org):
    prog = approved_programme(api)
    cov = prog["coverage"]
    assert cov["complete"] is False
    assert {"MGT", "ENE", "QHS"} == set(cov["uncovered_departments"])
    assert "DB44T1944:7.5" not in cov["uncovered_clauses"] and "DB44T1944:4" in cov["uncovered_clauses"]
    assert "DB44T1944:7.4" in cov["uncovered_clauses"]  # a sibling of 7.5 in the same chapter
    assert 0 < cov["covered_clauses"] < cov["total_clauses"]


def _link_evidence(api):
    res = api("mr").post("/registers/emission_source", json={
        "name": "熟料煅烧（碳酸盐分解）", "facility": "1#回转窑", "source_category": "process",
        "department": "PRD", "clauses": ["DB44T1944:8.1"]})
    assert res.status_code == 201, res.get_json()
    return res.get_json()


def test_full_audit_from_plan_to_closed_report_with_a_nonconformity(app, api, org, tmp_path):
    ev = _link_evidence(api)
    prog = approved_programme(api)
    audit_id = prog["audits"][0]["id"]
    res = plan(api, audit_id)
    assert res.status_code == 200, res.get_json()
    audit = res.get_json()
    assert audit["current_step"] == "prepare_checklist"
    assert [line["clause"] for line in audit["checklist"]] == CLAUSES
    linked = audit["checklist"][1]["evidence_links"]  # DB44T1944:8.1: the emission source linked above
    assert [(link["kind"], link["id"]) for link in linked] == [("emission_source", ev["id"])]
    assert audit["checklist"][0]["evidence_links"] == []
    auditor = api("auditor")
    assert auditor.post(f"/audits/{audit_id}/steps/prepare_checklist", json={}).status_code == 200

    lines = {line["clause"]: line["id"] for line in audit["checklist"]}
    put = lambda line, body: auditor.client.put(f"/api/v1/audits/{audit_id}/checklist/{line}",  # noqa: E731
                                                json=body, headers=auditor.headers)
    res = put(lines["DB44T1944:9.1"], {"result": "minor"})
    assert res.status_code == 400 and res.get_json()["error"]["code"] == "evidence_required"
    assert put(lines["DB44T1944:9.1"], {"result": "minor", "objective_evidence":
                                        "9月生产日报熟料产量未经复核即用于核算"}).status_code == 200
    assert put(lines["DB44T1944:8.1"], {"result": "observation",
                                        "objective_evidence": "部分班组交接记录字迹不清"}).status_code == 200
    early = auditor.post(f"/audits/{audit_id}/steps/record_findings", json={})
    assert early.status_code == 400 and early.get_json()["error"]["code"] == "findings_incomplete"
    assert put(lines["DB44T1944:7.5"], {"result": "conformity", "objective_evidence": "文件受控"}).status_code == 200
    res = auditor.post(f"/audits/{audit_id}/steps/record_findings", json={})
    assert res.status_code == 200, res.get_json()

    audit = auditor.get(f"/audits/{audit_id}").get_json()
    nc_line = [line for line in audit["checklist"] if line["clause"] == "DB44T1944:9.1"][0]
    assert nc_line["nonconformity"] and audit["current_step"] == "draft_report"
    nc = api("mr").get(f"/nonconformities/{nc_line['nonconformity']['id']}").get_json()
    assert nc["source"] == "internal_audit" and nc["source_ref"] == f"audit_finding:{nc_line['id']}"
    assert nc["clauses"] == ["DB44T1944:9.1"] and nc["department"] == "PRD" and nc["severity"] == "minor"
    assert nc["verifier"] == "auditor" and nc["current_step"] == "accept"
    assert sum(1 for line in audit["checklist"] if line["nonconformity"]) == 1  # the observation is not one

    res = auditor.post(f"/audits/{audit_id}/steps/draft_report", json={"data": {
        "summary": "按计划完成生产部审核。\n共检查3个条款。", "conclusion": "体系基本有效，需对数据复核加以改进。"}})
    assert res.status_code == 200, res.get_json()
    draft = auditor.get(f"/audits/{audit_id}/report")
    assert draft.status_code == 200
    text = "\n".join(c.text for t in DocxDocument(io.BytesIO(draft.data)).tables for r in t.rows for c in r.cells)
    assert "9月生产日报熟料产量未经复核" in text and "部分班组交接记录字迹不清" in text and nc["code"] in text

    mr = api("mr")
    wrong = mr.post(f"/audits/{audit_id}/steps/approve_report", json={"decision": "approve", "password": "x"})
    assert wrong.status_code == 403
    res = mr.post(f"/audits/{audit_id}/steps/approve_report", json={"decision": "approve", "password": PASSWORD})
    assert res.status_code == 200, res.get_json()
    final = res.get_json()
    assert final["status"] == "closed" and final["report_approved_by"] == "mr" and final["current_step"] is None
    record = mr.get(f"/audits/{audit_id}/report")
    doc = DocxDocument(io.BytesIO(record.data))
    assert "受控" in doc.sections[0].header.paragraphs[-1].text
    cells = "\n".join(c.text for t in doc.tables for r in t.rows for c in r.cells)
    assert "MR" in cells  # the approver's name in the sign-off table
    actions = [h["action"] for h in final["history"]]
    assert "audit_report_distributed" in actions and "task_approve" in actions

    if shutil.which("soffice"):
        path = tmp_path / "report.docx"
        path.write_bytes(record.data)
        subprocess.run(["soffice", f"-env:UserInstallation=file://{tmp_path}/lo", "--headless", "--convert-to",
                        "txt:Text", "--outdir", str(tmp_path), str(path)], check=True, capture_output=True,
                       timeout=120)
        out = (tmp_path / "report.txt").read_text(encoding="utf-8")
        assert "9月生产日报熟料产量未经复核" in out and nc["code"] in out


def test_checklist_is_editable_only_by_the_team_during_its_steps(api, org):
    prog = approved_programme(api)
    audit_id = prog["audits"][0]["id"]
    early = api("auditor").post(f"/audits/{audit_id}/checklist", json={"question": "补充检查"})
    assert early.status_code == 409  # still planning
    plan(api, audit_id)
    res = api("auditor").post(f"/audits/{audit_id}/checklist", json={"clause": "DB44T1944:8.2",
                                                                     "question": "现场核查能源计量器具"})
    assert res.status_code == 201 and res.get_json()["seq"] == 4
    other = api("head_prd").post(f"/audits/{audit_id}/checklist", json={"question": "x"})
    assert other.status_code == 403
    line = res.get_json()["id"]
    a = api("auditor")
    bad = a.client.post(f"/api/v1/audits/{audit_id}/checklist/{line}/attachments", headers=a.headers,
                        data={"file": (io.BytesIO(b"MZ\x90"), "evidence.exe")})
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "attachment_type"
    ok = a.client.post(f"/api/v1/audits/{audit_id}/checklist/{line}/attachments", headers=a.headers,
                       data={"file": (io.BytesIO(b"%PDF-1.4 test"), "计量器具照片.pdf")})
    assert ok.status_code == 201 and ok.get_json()["attachments"] == ["计量器具照片.pdf"]
