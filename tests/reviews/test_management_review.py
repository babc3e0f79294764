"""Management reviews: inputs gathered from the records of the period, outputs becoming actions with owners,
signed minutes, and the review cycle started by the worker."""
from __future__ import annotations

import io
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta

import time_machine
from dateutil.relativedelta import relativedelta
from docx import Document
from sqlmodel import select

from cmsflow.audits.models import Audit, AuditFinding, AuditProgramme
from cmsflow.cli import worker_pass
from cmsflow.compliance.models import ComplianceEvaluation
from cmsflow.core.db import session_scope
from cmsflow.workflow.models import Notification
from tests.conftest import PASSWORD, signed_in

PERIOD = {"period_start": "2026-01-01", "period_end": "2026-06-30", "planned_on": "2026-07-15"}
NC = {"title": "排放报告数据未复核", "description": "2月排放月报未经复核即上报。", "source": "internal_audit",
      "department": "ENE", "severity": "minor", "clauses": []}


def _raise(api, raised_on: str, **over) -> dict:
    res = api("mr").post("/nonconformities", json={**NC, "raised_on": raised_on, **over})
    assert res.status_code == 201, res.get_json()
    return res.get_json()


def _register(api, name: str, body: dict) -> dict:
    res = api("mr").post(f"/registers/{name}", json=body)
    assert res.status_code == 201, res.get_json()
    return res.get_json()


def _objective(api, title: str, deadline: str, status: str) -> None:
    _register(api, "objective", {"title": title, "level": "organisation", "indicator": "单位熟料碳排放",
                                 "unit": "kgCO2/t", "target_value": "820", "deadline": deadline,
                                 "department": "ENE", "status": status})


def _obligation(api, title: str) -> dict:
    return _register(api, "compliance_obligation", {
        "title": title, "obligation_type": "rule", "requirement": f"{title}的要求", "department": "ENE",
        "evaluation_frequency": "annual"})


def _audits_and_evaluations(app, org, obligations: list[dict]) -> None:
    """Audits and confirmed evaluations as their processes would have left them."""
    with app.app_context(), session_scope() as s:
        prog = AuditProgramme(code="IAP-2026", title="2026 年内审方案", period_start=date(2026, 1, 1),
                              period_end=date(2026, 12, 31), author_id=org["mr"], status="approved")
        s.add(prog)
        s.flush()
        done = Audit(programme_id=prog.id, code="IA-2026-01", title="能源管理部审核", status="closed",
                     planned_month=date(2026, 3, 1), end_date=date(2026, 3, 12), conclusion="体系运行基本有效")
        later = Audit(programme_id=prog.id, code="IA-2026-02", title="生产部审核", planned_month=date(2026, 5, 1),
                      status="planning")
        outside = Audit(programme_id=prog.id, code="IA-2026-03", title="下半年审核", planned_month=date(2026, 9, 1),
                        end_date=date(2026, 9, 10), status="closed")
        s.add_all([done, later, outside])
        s.flush()
        for result in ("conformity", "conformity", "minor", "observation"):
            s.add(AuditFinding(audit_id=done.id, question="检查排放数据复核", result=result,
                               recorded_at=datetime(2026, 3, 10, 2, tzinfo=UTC)))
        s.add(AuditFinding(audit_id=outside.id, question="x", result="major"))
        for ob, result, confirmed in ((obligations[0], "compliant", datetime(2026, 4, 1, 2, tzinfo=UTC)),
                                      (obligations[1], "non_compliant", datetime(2026, 5, 1, 2, tzinfo=UTC)),
                                      (obligations[0], "non_compliant", datetime(2026, 8, 1, 2, tzinfo=UTC))):
            s.add(ComplianceEvaluation(code=f"CE-T-{confirmed.month}", obligation_id=ob["id"], status="closed",
                                       department_id=1, due_on=confirmed.date(), obligation_title=ob["title"],
                                       requirement="r", requirement_sha256="0" * 64, result=result,
                                       confirmed_at=confirmed))


def test_review_inputs_match_the_records_of_the_period(app, api, org):
    _raise(api, "2026-02-10")
    disputed = _raise(api, "2026-03-05", title="能源计量器具未标识")
    _raise(api, "2025-12-20", title="上期遗留问题")  # before the period: counted as still open from earlier
    head, mr = api("head_ene"), api("mr")
    assert head.post(f"/nonconformities/{disputed['id']}/steps/accept", json={
        "decision": "dispute", "comment": "器具已标识"}).status_code == 200
    assert mr.post(f"/nonconformities/{disputed['id']}/steps/decide_dispute", json={
        "decision": "withdraw", "comment": "现场复核已标识"}).status_code == 200
    _objective(api, "熟料单位排放下降2%", "2026-06-30", "achieved")
    _objective(api, "余热发电量提高5%", "2026-05-31", "not_achieved")
    _objective(api, "替代燃料比例10%", "2026-12-31", "in_progress")
    obligations = [_obligation(api, "碳排放权交易管理办法"), _obligation(api, "节约能源法")]
    _audits_and_evaluations(app, org, obligations)

    res = mr.post("/management-reviews", json=PERIOD)
    assert res.status_code == 201, res.get_json()
    review = res.get_json()
    assert review["current_step"] == "prepare_review" and review["status"] == "preparing"
    sections = {s["key"]: s for s in review["inputs"]["sections"]}

    nc = sections["nonconformities"]["data"]
    assert nc["total"] == 2 and nc["by_status"] == {"raised": 1, "withdrawn": 1}
    assert nc["by_month"] == {"2026-02": 1, "2026-03": 1} and nc["open_from_earlier"] == 1
    audits = sections["audits"]["data"]
    assert audits["planned"] == 2 and audits["done"] == 1
    assert audits["findings"] == {"conformity": 2, "observation": 1, "minor": 1, "major": 0}
    compliance = sections["compliance"]["data"]
    assert compliance["obligations"] == 2 and compliance["obligations_evaluated"] == 2
    assert compliance["by_result"] == {"compliant": 1, "non_compliant": 1, "not_applicable": 0}
    objectives = sections["objectives"]["data"]
    assert objectives["total"] == 3 and objectives["due_by_period_end"] == 2
    assert objectives["met"] == 1 and objectives["not_met"] == 1
    assert sections["carbon_performance"]["data"]["emissions_tco2e"] is None  # no carbon data: empty, not invented
    assert sections["opportunities"]["data"]["audit_observations"] == 1
    figures = {f["label"]: f["value"] for f in sections["nonconformities"]["figures"]}
    assert figures["期间提出的不符合项"] == "2"


def _decisions(due: str) -> list[dict]:
    return [{"kind": "improvement", "description": "建设能源在线监测平台", "owner": "head_ene", "due_on": due},
            {"kind": "corrective", "description": "修订合规义务识别程序，补充地方性法规", "owner": "staff_prd",
             "due_on": due}]


OUTPUTS = {"suitability": "体系与公司现状相适宜", "adequacy": "覆盖全部排放源，充分",
           "effectiveness": "目标基本实现，有效", "conclusion": "体系适宜、充分、有效",
           "resource_needs": "增加计量器具投入"}


def test_outputs_become_actions_and_the_signed_minutes_hold_the_decisions(app, api, org, tmp_path):
    mr, top = api("mr"), api("top")
    review = mr.post("/management-reviews", json=PERIOD).get_json()
    rid = review["id"]
    res = mr.post(f"/management-reviews/{rid}/steps/prepare_review", json={"data": {
        "commentary": {"nonconformities": "不符合项数量下降"}, "attendees": "TOP, MR, HEAD_ENE"}})
    assert res.status_code == 200, res.get_json()
    assert res.get_json()["files"]["input_report"]
    report = mr.get(f"/management-reviews/{rid}/input-report.docx")
    text = "\n".join(p.text for p in Document(io.BytesIO(report.data)).paragraphs)
    assert "不符合和纠正措施" in text and "不符合项数量下降" in text

    res = top.post(f"/management-reviews/{rid}/steps/hold_review", json={"decision": "return",
                                                                         "comment": "请补充能耗数据"})
    assert res.get_json()["current_step"] == "prepare_review"
    mr.post(f"/management-reviews/{rid}/steps/prepare_review", json={"data": {"commentary": {}}})
    due = (date.today() + timedelta(days=60)).isoformat()
    bad = top.post(f"/management-reviews/{rid}/steps/hold_review", json={"decision": "record", "data": {
        **OUTPUTS, "adequacy": "", "decisions": [{"kind": "improvement", "description": "x", "owner": "nobody",
                                                  "due_on": due}]}})
    assert bad.status_code == 400
    fields = bad.get_json()["error"]["details"]["fields"]
    assert "adequacy" in fields and "decisions.0.owner" in fields
    res = top.post(f"/management-reviews/{rid}/steps/hold_review", json={"decision": "record", "data": {
        **OUTPUTS, "decisions": _decisions(due)}})
    assert res.status_code == 200, res.get_json()
    assert res.get_json()["current_step"] == "sign_minutes" and res.get_json()["actions"] == []  # not before signing

    sign = f"/management-reviews/{rid}/steps/sign_minutes"
    assert top.post(sign, json={"decision": "approve", "password": "wrong"}).status_code == 403
    assert mr.post(sign, json={"decision": "approve", "password": PASSWORD}).status_code == 403  # not top management
    res = top.post(sign, json={"decision": "approve", "password": PASSWORD})
    assert res.status_code == 200, res.get_json()
    done = res.get_json()
    assert done["status"] == "closed" and done["signed_by"] == "top" and done["files"]["minutes_signed"]
    actions = {a["kind"]: a for a in done["actions"]}
    assert actions["improvement"]["owner"] == "head_ene" and actions["improvement"]["due_on"] == due
    corrective = actions["corrective"]
    assert corrective["owner"] == "staff_prd" and corrective["nonconformity"]
    nc = mr.get(f"/nonconformities/{corrective['nonconformity_id']}").get_json()
    assert nc["source"] == "management_review" and nc["department"] == "PRD"
    # staff see the review only when they own one of its actions (cmsflow.auth.permissions.review_condition)
    assert api("staff_prd").get(f"/management-reviews/{rid}").status_code == 200
    assert api("staff_ene").get(f"/management-reviews/{rid}").status_code == 404
    assert signed_in(app, org["staff_prd"]).get(f"/reviews/{rid}").status_code == 200
    assert signed_in(app, org["staff_ene"]).get(f"/reviews/{rid}").status_code == 404
    # lists obey the same rule as the review (issue 17 item 3): no action of a review one cannot open
    def listed(username):
        return {a["id"] for a in api(username).get("/review-actions").get_json()["actions"]}
    assert listed("staff_ene") == set()
    assert listed("staff_prd") == listed("mr") == {a["id"] for a in done["actions"]}

    minutes = mr.get(f"/management-reviews/{rid}/minutes.docx").data
    doc = Document(io.BytesIO(minutes))
    text = "\n".join([p.text for p in doc.paragraphs] + [c.text for t in doc.tables for r in t.rows for c in r.cells])
    for expected in ("建设能源在线监测平台", "修订合规义务识别程序，补充地方性法规", "体系适宜、充分、有效", "TOP",
                     nc["code"]):
        assert expected in text
    if shutil.which("soffice"):  # CI installs LibreOffice: the signed minutes must open there
        (tmp_path / "minutes.docx").write_bytes(minutes)
        subprocess.run(["soffice", f"-env:UserInstallation=file://{tmp_path}/lo", "--headless", "--convert-to",
                        "pdf", "--outdir", str(tmp_path), str(tmp_path / "minutes.docx")],
                       check=True, capture_output=True, timeout=180)
        assert (tmp_path / "minutes.pdf").stat().st_size > 5000

    hits = mr.get("/search", query_string={"q": "能源在线监测平台"}).get_json()["results"]
    assert ("management_review", rid) in {(h["type"], h["id"]) for h in hits}

    mine = api("head_ene").get("/review-actions?mine=1").get_json()["actions"]
    assert [a["description"] for a in mine] == ["建设能源在线监测平台"]
    assert api("staff_prd").post(f"/review-actions/{mine[0]['id']}/complete", json={"note": "x"}).status_code == 403
    res = api("staff_prd").post(f"/review-actions/{corrective['id']}/complete", json={"note": "已修订"})
    assert res.status_code == 400 and res.get_json()["error"]["code"] == "nonconformity_open"
    res = api("head_ene").post(f"/review-actions/{mine[0]['id']}/complete", json={"note": "平台已上线"})
    assert res.status_code == 200 and res.get_json()["status"] == "done"

    with time_machine.travel(datetime.now(UTC) + timedelta(days=61), tick=False), app.app_context():
        assert worker_pass()["review_actions"] == 1  # the corrective action is overdue; the done one is not
        assert worker_pass()["review_actions"] == 0  # told once
    with app.app_context(), session_scope() as s:
        told = {n.user_id for n in s.exec(select(Notification).where(Notification.kind == "overdue",
                                                                     Notification.subject_type == "management_review"))}
        assert told == {org["staff_prd"], org["mr"]}

    later = mr.post("/management-reviews", json={"period_start": "2026-07-01", "period_end": "2026-12-31"}).get_json()
    previous = {s["key"]: s for s in later["inputs"]["sections"]}["previous_actions"]["data"]
    assert previous["total"] == 2 and previous["by_status"]["done"] == 1 and previous["by_status"]["open"] == 1


def test_review_cycle_opens_the_review_when_preparation_is_due(app, api, org):
    mr = api("mr")
    planned = date.today() + timedelta(days=40)
    res = mr.client.put("/api/v1/management-reviews/schedule", headers=mr.headers, json={
        "next_review_on": planned.isoformat(), "interval_months": 12, "preparation_days": 30})
    assert res.status_code == 200, res.get_json()
    assert api("staff_ene").client.put("/api/v1/management-reviews/schedule", headers=api("staff_ene").headers,
                                       json={"next_review_on": planned.isoformat()}).status_code == 403
    bad = mr.client.put("/api/v1/management-reviews/schedule", headers=mr.headers,
                        json={"next_review_on": "2020-01-01", "interval_months": 0})
    assert bad.status_code == 400 and set(bad.get_json()["error"]["details"]["fields"]) == {
        "next_review_on", "interval_months"}
    with app.app_context():
        worker_pass()
    assert mr.get("/management-reviews").get_json()["reviews"] == []  # preparation not due yet

    with time_machine.travel(datetime.now(UTC) + timedelta(days=11), tick=False), app.app_context():
        worker_pass()
        listing = api("mr").get("/management-reviews").get_json()
        [review] = listing["reviews"]
        assert review["trigger"] == "scheduled" and review["current_step"] == "prepare_review"
        assert review["planned_on"] == planned.isoformat()
        assert review["period_end"] == (planned - timedelta(days=1)).isoformat()
        assert review["period_start"] == (planned - relativedelta(months=12)).isoformat()
        assert listing["schedule"]["next_review_on"] == (planned + relativedelta(months=12)).isoformat()
        worker_pass()
        assert len(api("mr").get("/management-reviews").get_json()["reviews"]) == 1
        assert any(t["name"] == "prepare_review" for t in api("mr").get("/tasks").get_json()["tasks"])


def test_starting_a_review_needs_a_valid_period_and_the_right_role(api):
    res = api("mr").post("/management-reviews", json={"period_start": "2026-06-30", "period_end": "2026-01-01"})
    assert res.status_code == 400 and "period_end" in res.get_json()["error"]["details"]["fields"]
    res = api("mr").post("/management-reviews", json={"period_start": ""})
    assert set(res.get_json()["error"]["details"]["fields"]) == {"period_start", "period_end"}
    assert api("staff_ene").post("/management-reviews", json=PERIOD).status_code == 403
    assert api("mr").get("/management-reviews").get_json()["reviews"] == []
