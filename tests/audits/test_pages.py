"""Audit pages: programme coverage named on the page, plan refused for a non-independent team, checklist
recorded through the page with input escaped."""
from __future__ import annotations

import re

from tests.audits.test_internal_audit_api import approved_programme, plan
from tests.conftest import signed_in


def _token(client, path):
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def test_programme_page_names_what_is_not_covered(app, api, org):
    prog = approved_programme(api)
    html = signed_in(app, org["mr"]).get(f"/audits/programmes/{prog['id']}").get_data(as_text=True)
    assert "尚未覆盖的部门" in html and "能源管理部" in html and "综合管理部" in html
    assert "尚未覆盖的条款" in html and "DB44/T 1944" in html
    assert "生产部专项审核" in html


def test_new_programme_form_keeps_input_on_error(app, org):
    client = signed_in(app, org["auditor"])
    token = _token(client, "/audits/programmes/new")
    res = client.post("/audits/programmes/new", data={"csrf_token": token, "title": "2027年度方案",
                                                      "period_start": "2027-12-31", "period_end": "2027-01-01",
                                                      "criteria": "DB44T1944"})
    html = res.get_data(as_text=True)
    assert res.status_code == 400 and "结束日期早于开始日期" in html and "2027年度方案" in html


def test_plan_with_an_auditee_on_the_team_is_refused_on_the_page(app, api, org):
    prog = approved_programme(api)
    audit_id = prog["audits"][0]["id"]
    client = signed_in(app, org["auditor"])
    token = _token(client, f"/audits/{audit_id}")
    res = client.post(f"/audits/{audit_id}/steps/plan_audit", data={
        "csrf_token": token, "start_date": "2026-11-24", "end_date": "2026-11-25", "team": "staff_prd"})
    assert res.status_code == 400 and "审核员不能审核本部门" in res.get_data(as_text=True)


def test_findings_recorded_through_the_page_are_escaped(app, api, org):
    prog = approved_programme(api)
    audit_id = prog["audits"][0]["id"]
    plan(api, audit_id)
    client = signed_in(app, org["auditor"])
    page = client.get(f"/audits/{audit_id}").get_data(as_text=True)
    line_id = re.search(r'id="line-(\d+)"', page).group(1)
    res = client.post(f"/audits/{audit_id}/checklist/{line_id}", data={
        "csrf_token": _token(client, f"/audits/{audit_id}"), "result": "observation",
        "objective_evidence": "<img src=x onerror=alert(1)>记录不全"})
    assert res.status_code == 302
    html = client.get(f"/audits/{audit_id}").get_data(as_text=True)
    assert "&lt;img src=x onerror=alert(1)&gt;记录不全" in html and "<img src=x" not in html
    # someone outside the audit team sees the checklist but no forms
    other = signed_in(app, org["head_prd"]).get(f"/audits/{audit_id}").get_data(as_text=True)
    assert "记录不全" in other and 'name="objective_evidence"' not in other
