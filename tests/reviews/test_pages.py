"""Review and compliance pages: forms keep the user's input on error, steps are done on the detail pages,
the dashboard shows the next review and the obligations due."""
from __future__ import annotations

import re
from datetime import date, timedelta

from tests.conftest import signed_in
from tests.reviews.test_management_review import PERIOD


def _token(client, path):
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def test_review_is_started_prepared_and_held_through_the_pages(app, org):
    mr = signed_in(app, org["mr"])
    token = _token(mr, "/reviews/")
    bad = mr.post("/reviews/new", data={"csrf_token": token, "title": "年度评审<b>", "period_start": "2026-06-30",
                                        "period_end": "2026-01-01"})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 400 and "结束日期早于开始日期" in html and "年度评审&lt;b&gt;" in html
    ok = mr.post("/reviews/new", data={"csrf_token": token, "title": "2026 年度管理评审", **PERIOD})
    assert ok.status_code == 302
    page = mr.get(ok.headers["Location"]).get_data(as_text=True)
    assert "不符合和纠正措施" in page and 'name="c_nonconformities"' in page  # inputs with a commentary box each
    review_url = ok.headers["Location"]
    rid = int(review_url.rstrip("/").rsplit("/", 1)[1])
    res = mr.post(f"/reviews/{rid}/steps/prepare_review", data={"csrf_token": token, "c_nonconformities": "下降",
                                                                "attendees": "张总，李代表"})
    assert res.status_code == 302
    assert "评审输入报告" in mr.get(review_url).get_data(as_text=True)

    top = signed_in(app, org["top"])
    page = top.get(review_url).get_data(as_text=True)
    assert 'name="suitability"' in page and "d0_kind" in page
    token = _token(top, review_url)
    due = (date.today() + timedelta(days=30)).isoformat()
    bad = top.post(f"/reviews/{rid}/steps/hold_review", data={
        "csrf_token": token, "decision": "record", "conclusion": "总体有效，继续运行", "d0_kind": "improvement",
        "d0_description": "建设能源在线监测平台", "d0_owner": "head_ene", "d0_due_on": due})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 400 and "请填写体系的适宜性的评价" in html
    assert "总体有效，继续运行" in html and "建设能源在线监测平台" in html  # nothing typed is lost
    ok = top.post(f"/reviews/{rid}/steps/hold_review", data={
        "csrf_token": token, "decision": "record", "suitability": "适宜", "adequacy": "充分", "effectiveness": "有效",
        "conclusion": "总体有效", "d0_kind": "improvement", "d0_description": "建设能源在线监测平台",
        "d0_owner": "head_ene", "d0_due_on": due})
    assert ok.status_code == 302
    page = top.get(review_url).get_data(as_text=True)
    assert "签署管理评审报告" in page and "/tasks/" in page and "待报告批准" in page


def test_evaluation_is_done_on_its_page_and_the_dashboard_shows_what_is_due(app, api, org):
    ob = api("mr").post("/registers/compliance_obligation", json={
        "title": "碳排放权交易管理办法", "obligation_type": "rule", "requirement": "按时报送排放报告",
        "department": "ENE", "evaluation_frequency": "monthly"}).get_json()
    ev = api("mr").post("/compliance-evaluations", json={"obligation_id": ob["id"]}).get_json()
    head = signed_in(app, org["head_ene"])
    url = f"/compliance/{ev['id']}"
    token = _token(head, url)
    bad = head.post(f"{url}/steps/evaluate_obligation", data={"csrf_token": token, "result": "non_compliant",
                                                              "evidence": ""})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 400 and "请填写评价依据和证据" in html
    assert re.search(r'value="non_compliant"\s+checked', html)  # the chosen result is kept
    assert head.post(f"{url}/steps/evaluate_obligation", data={
        "csrf_token": token, "result": "non_compliant", "evidence": "逾期报送"}).status_code == 302
    mr = signed_in(app, org["mr"])
    page = mr.get(url).get_data(as_text=True)
    assert "确认后将自动提出不符合项" in page
    assert mr.post(f"{url}/steps/confirm_evaluation", data={"csrf_token": _token(mr, url),
                                                            "decision": "confirm"}).status_code == 302
    assert "查看纠正措施" in mr.get(url).get_data(as_text=True)

    api("mr").client.put("/api/v1/management-reviews/schedule", headers=api("mr").headers, json={
        "next_review_on": (date.today() + timedelta(days=90)).isoformat()})
    api("mr").post("/registers/compliance_obligation", json={
        "title": "排污许可管理条例", "obligation_type": "regulation", "requirement": "按证排污，台账每日记录",
        "department": "PRD", "evaluation_frequency": "daily"})
    home = mr.get("/").get_data(as_text=True)
    assert (date.today() + timedelta(days=90)).isoformat() in home  # next review date
    assert "排污许可管理条例" in home  # due for its next (daily) evaluation tomorrow
    assert mr.get("/compliance/").status_code == 200 and mr.get("/reviews/").status_code == 200
