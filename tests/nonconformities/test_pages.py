"""Nonconformity pages: raise through the form, invalid input re-rendered, step forms on the detail page."""
from __future__ import annotations

import re

from tests.conftest import signed_in
from tests.nonconformities.test_corrective_action_api import raise_nc


def _token(client, path):
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def test_raise_form_keeps_input_on_error_and_creates_on_success(app, org):
    client = signed_in(app, org["auditor"])
    token = _token(client, "/nonconformities/new")
    bad = client.post("/nonconformities/new", data={"csrf_token": token, "title": "", "source": "internal_audit",
                                                    "department": "PRD", "description": "日报未复核<script>",
                                                    "clauses": "DB44T1944:77"})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 400 and "请填写标题" in html and "DB44T1944:77" in html
    assert "日报未复核&lt;script&gt;" in html  # the user's text is kept, escaped
    ok = client.post("/nonconformities/new", data={"csrf_token": token, "title": "日报未复核",
                                                   "source": "internal_audit", "department": "PRD", "severity": "minor",
                                                   "description": "9月日报未复核", "clauses": "DB44T1944:9.1"})
    assert ok.status_code == 302
    page = client.get(ok.headers["Location"]).get_data(as_text=True)
    assert "NC-" in page and "待部门确认" in page


def test_the_department_head_completes_steps_on_the_detail_page(app, api, org):
    nc = raise_nc(api)
    head = signed_in(app, org["head_prd"])
    page = head.get(f"/nonconformities/{nc['id']}").get_data(as_text=True)
    assert "责任部门确认" in page and 'name="decision"' in page
    token = _token(head, f"/nonconformities/{nc['id']}")
    res = head.post(f"/nonconformities/{nc['id']}/steps/accept", data={"csrf_token": token, "decision": "accept",
                                                                       "owner": "staff_prd"})
    assert res.status_code == 302
    owner = signed_in(app, org["staff_prd"])
    token = _token(owner, f"/nonconformities/{nc['id']}")
    res = owner.post(f"/nonconformities/{nc['id']}/steps/correction", data={"csrf_token": token, "correction": ""})
    assert res.status_code == 400 and "请填写纠正" in res.get_data(as_text=True)
    res = owner.post(f"/nonconformities/{nc['id']}/steps/correction",
                     data={"csrf_token": token, "correction": "已补充复核"})
    assert res.status_code == 302
    page = owner.get(f"/nonconformities/{nc['id']}").get_data(as_text=True)
    assert "原因分析" in page and "已补充复核" in page
    # the inbox link for a domain task leads to the subject page
    tasks = api("staff_prd").get("/tasks").get_json()["tasks"]
    assert owner.get(f"/tasks/{tasks[0]['id']}").headers["Location"].endswith(f"/nonconformities/{nc['id']}")


def test_someone_else_sees_the_case_but_no_step_form(app, api, org):
    nc = raise_nc(api)
    page = signed_in(app, org["top"]).get(f"/nonconformities/{nc['id']}").get_data(as_text=True)
    assert nc["code"] in page and 'name="decision"' not in page
    listing = signed_in(app, org["top"]).get("/nonconformities/?status=open").get_data(as_text=True)
    assert nc["code"] in listing


def test_staff_of_another_department_does_not_see_the_case(app, api, org):
    nc = raise_nc(api)  # raised against PRD by the auditor
    client = signed_in(app, org["staff_ene"])
    assert client.get(f"/nonconformities/{nc['id']}").status_code == 404
    assert nc["code"] not in client.get("/nonconformities/?status=open").get_data(as_text=True)


def test_dashboard_lists_overdue_items_for_the_management_representative(app, api, org):
    from datetime import timedelta

    import time_machine

    from cmsflow.core.db import utcnow

    nc = raise_nc(api)
    with time_machine.travel(utcnow() + timedelta(days=8), tick=False):
        html = signed_in(app, org["mr"]).get("/").get_data(as_text=True)
        own = signed_in(app, org["staff_ene"]).get("/").get_data(as_text=True)
    assert "逾期事项" in html and f"/nonconformities/{nc['id']}" in html
    assert "逾期事项" not in own  # not theirs
