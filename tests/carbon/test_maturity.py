"""Maturity evaluation per T/CECA-G §12: scores equal the hand calculation from Tables A.1–A.3 and 22, the
evaluation runs plan → documents → on site → scores → signed report valid three years, with a reminder."""
from __future__ import annotations

import io
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import time_machine
from dateutil.relativedelta import relativedelta
from docx import Document
from sqlmodel import select

from cmsflow.carbon import maturity
from cmsflow.cli import worker_pass
from cmsflow.core.db import session_scope
from cmsflow.workflow.models import Notification
from tests.conftest import PASSWORD


def _full_scores(scheme: dict) -> dict:
    return {item["code"]: {"score": str(item["points"]), "justification": ""}
            for ind in scheme["qualitative"]["indicators"] for child in ind["children"] for item in child["items"]}


def test_scores_rating_and_composite_equal_the_hand_calculation(ctx):
    scheme = maturity.load_scheme()
    assert scheme.weights == (Decimal("0.6"), Decimal("0.4"))  # the documented defaults (the draft has "**")
    scores = {code: item.points for code, item in scheme.items().items()}
    scores["Q1.1.4"], scores["Q1.1.1"] = Decimal(0), Decimal("1.5")  # 1 and 2 points: −1 and −0.5
    s_qual = maturity.qualitative_total(scheme, scores)
    assert s_qual == Decimal("98.5")
    # Table A.2, industry advanced value: 0.85 / 0.80 = 1.0625, within 10 % → 80
    s_quant, method, ratio = maturity.quantitative_score(scheme, Decimal("0.85"), advanced=Decimal("0.80"))
    assert (s_quant, method, ratio) == (Decimal(80), "industry_advanced", Decimal("1.0625"))
    # formula (2): I = 0.6 × 98.5 + 0.4 × 80 = 91.10 → 三星 (Table 22: 90–100)
    assert maturity.composite(scheme, s_qual, s_quant) == Decimal("91.10")
    assert maturity.rating(scheme, Decimal("91.10"))["label"] == "三星"
    # historical method: 0.90 / best year 0.82 = 1.0976 → above the best year → 60; I = 59.1 + 24 = 83.10 → 二星
    s_quant, method, _ = maturity.quantitative_score(scheme, Decimal("0.90"), best_previous=Decimal("0.82"))
    assert (s_quant, method) == (Decimal(60), "historical")
    assert maturity.rating(scheme, maturity.composite(scheme, s_qual, s_quant))["label"] == "二星"
    assert maturity.quantitative_score(scheme, Decimal("0.80"), advanced=Decimal("0.80"))[0] == 100  # ≤ V
    assert maturity.quantitative_score(scheme, Decimal("0.88"), advanced=Decimal("0.80"))[0] == 80  # exactly +10 %
    assert maturity.rating(scheme, Decimal("59.99"))["label"] == "不合格"


def test_evaluation_runs_to_a_signed_report_valid_three_years(app, api, org, tmp_path):
    mr, lead, top = api("mr"), api("auditor"), api("top")
    res = mr.post("/maturity-evaluations", json={"title": "2026 年度成熟度评价", "period_start": "2026-01-01",
                                                 "period_end": "2026-10-31", "lead": "auditor",
                                                 "team": ["王晓敏", "外部专家 刘工"]})
    assert res.status_code == 201, res.get_json()
    ev = res.get_json()
    assert ev["current_step"] == "plan_evaluation" and ev["evidence_suggestions"]
    url = f"/maturity-evaluations/{ev['id']}/steps"
    assert lead.post(f"{url}/plan_evaluation", json={"data": {"objective": "评价体系成熟度"}}).status_code == 400
    plan = {"objective": "评价体系成熟度", "criteria": "T/CECA-G 附录A", "scope": "熟料生产线",
            "schedule": "11月20日文件评价"}
    assert lead.post(f"{url}/plan_evaluation", json={"data": plan}).status_code == 200
    assert lead.post(f"{url}/document_review", json={"data": {"document_review": "文件齐全"}}).status_code == 200
    assert lead.post(f"{url}/onsite_evaluation", json={"data": {"findings": {
        "check": "计量器具检定在有效期内", "act": "纠正措施闭环"}}}).status_code == 200

    scheme = mr.get("/maturity/scheme").get_json()
    scores = _full_scores(scheme)
    scores["Q1.1.4"] = {"score": "0", "justification": ""}
    bad = lead.post(f"{url}/score_evaluation", json={"data": {
        "scores": scores, "intensity": "0.85", "industry_advanced": "0.80", "conclusion": "体系运行成熟"}})
    assert bad.status_code == 400 and "Q1.1.4" in bad.get_json()["error"]["details"]["fields"]  # deduction unexplained
    scores["Q1.1.4"]["justification"] = "未按计划开展第二次管理评审"
    scores["Q1.1.1"] = {"score": "1.5", "justification": "团队任命文件未更新"}
    del scores["Q6.2.1"]
    bad = lead.post(f"{url}/score_evaluation", json={"data": {
        "scores": scores, "intensity": "0.85", "industry_advanced": "0.80", "conclusion": "体系运行成熟"}})
    assert bad.status_code == 400 and "1 个评分项未评分" in bad.get_json()["error"]["message"]
    scores["Q6.2.1"] = {"score": "2", "justification": ""}
    res = lead.post(f"{url}/score_evaluation", json={"data": {
        "scores": scores, "intensity": "0.85", "industry_advanced": "0.80", "conclusion": "体系运行成熟"}})
    assert res.status_code == 200, res.get_json()
    scored = res.get_json()
    assert (scored["qualitative_total"], scored["quantitative_score"], scored["composite"], scored["rating"]) == (
        "98.50", "80.00", "91.10", "three_star")
    assert scored["current_step"] == "approve_report" and scored["files"]["report"]

    assert top.post(f"{url}/approve_report", json={"decision": "approve", "password": "nope"}).status_code == 403
    res = top.post(f"{url}/approve_report", json={"decision": "approve", "password": PASSWORD})
    assert res.status_code == 200, res.get_json()
    issued = res.get_json()
    assert issued["status"] == "issued" and issued["approved_by"] == "top"
    assert issued["valid_until"] == (date.today() + relativedelta(years=3)).isoformat()
    data = mr.get(f"/maturity-evaluations/{ev['id']}/report.docx").data
    doc = Document(io.BytesIO(data))
    text = "\n".join([p.text for p in doc.paragraphs] + [c.text for t in doc.tables for r in t.rows for c in r.cells])
    for expected in ("91.1", "三星", "98.5", "未按计划开展第二次管理评审", "计量器具检定在有效期内", "TOP"):
        assert expected in text
    if shutil.which("soffice"):  # CI installs LibreOffice: the report must open there
        (tmp_path / "report.docx").write_bytes(data)
        subprocess.run(["soffice", f"-env:UserInstallation=file://{tmp_path}/lo", "--headless", "--convert-to",
                        "pdf", "--outdir", str(tmp_path), str(tmp_path / "report.docx")],
                       check=True, capture_output=True, timeout=180)
        assert (tmp_path / "report.pdf").stat().st_size > 5000

    expiry = datetime.now(UTC) + relativedelta(years=3) - timedelta(days=89)
    with time_machine.travel(expiry, tick=False), app.app_context():
        worker_pass()
    with app.app_context(), session_scope() as s:
        told = {n.user_id for n in s.exec(select(Notification).where(Notification.subject_type == "maturity_evaluation",
                                                                     Notification.kind == "reminder"))}
    assert told == {org["top"], org["mr"]}
