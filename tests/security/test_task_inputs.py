"""Declared task input (issue 17 item 11): each task form takes the fields it declares, with their types and
lengths; anything else is a 400 ``invalid_task_input`` naming the field, never a 500 and never a "同意" in the
record of a step that has no decision."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from cmsflow.workflow import taskforms, taskschemas
from tests.conftest import PASSWORD, signed_in
from tests.nonconformities.test_corrective_action_api import raise_nc

ROOT = Path(__file__).resolve().parents[2]


def _task(a, name):
    (task,) = [t for t in a.get("/tasks").get_json()["tasks"] if t["name"] == name]
    return task


def _refused(res, field):
    body = res.get_json()
    assert res.status_code == 400, body
    assert body["error"]["code"] == "invalid_task_input", body
    assert field in body["error"]["details"]["fields"], body
    assert field in body["error"]["message"]
    return body["error"]["details"]["fields"][field]


@pytest.fixture
def in_review(api, new_procedure):
    a, doc = new_procedure()
    assert a.post(f"/documents/{doc['id']}/submit").status_code == 200
    return doc, api("head_ene"), _task(api("head_ene"), "review")


def test_a_decision_on_a_step_without_one_is_refused_naming_decision(api, in_review):
    _doc, head, review = in_review
    res = head.post(f"/tasks/{review['id']}/complete",
                    json={"decision": "reject", "comment": "请补充监测频次", "password": PASSWORD})
    assert res.status_code == 200, res.get_json()
    staff = api("staff_ene")
    revise = _task(staff, "revise_draft")
    assert _refused(staff.post(f"/tasks/{revise['id']}/complete", json={"decision": "approve"}), "decision")
    assert staff.post(f"/tasks/{revise['id']}/complete", json={"comment": "已补充"}).status_code == 200


@pytest.mark.parametrize("decision", [{"value": "approve"}, ["approve"], 1, "a" * 300])
def test_a_decision_that_is_not_a_short_string_is_refused(in_review, decision):
    _doc, head, review = in_review
    _refused(head.post(f"/tasks/{review['id']}/complete", json={"decision": decision, "password": PASSWORD}),
             "decision")


def test_unknown_data_keys_and_long_or_odd_comments_are_refused(in_review):
    _doc, head, review = in_review
    url = f"/tasks/{review['id']}/complete"
    assert "不接受" in _refused(head.post(url, json={"decision": "approve", "password": PASSWORD,
                                                   "data": {"approver_id": 1}}), "data.approver_id")
    assert "2000" in _refused(head.post(url, json={"decision": "approve", "password": PASSWORD,
                                                 "comment": "意" * 2001}), "comment")
    _refused(head.post(url, json={"decision": "approve", "password": PASSWORD, "comment": {"x": 1}}), "comment")
    _refused(head.post(url, json={"decision": "approve", "password": {"p": PASSWORD}}), "password")
    res = head.post(url, json={"decision": "approve", "password": PASSWORD, "comment": "意" * 2000})
    assert res.status_code == 200, res.get_json()


def test_a_domain_step_without_a_decision_refuses_one(api, org):
    nc = raise_nc(api, title="熟料产量数据未复核")
    head = api("head_prd")
    res = head.post(f"/nonconformities/{nc['id']}/steps/accept",
                    json={"decision": "accept", "data": {"owner": "staff_prd", "extra": "x"}})
    _refused(res, "data.extra")
    res = head.post(f"/nonconformities/{nc['id']}/steps/accept", json={"decision": "accept",
                                                                        "data": {"owner": "staff_prd"}})
    assert res.status_code == 200, res.get_json()
    res = api("staff_prd").post(f"/nonconformities/{nc['id']}/steps/correction",
                                json={"decision": "approve", "data": {"correction": "已隔离该批数据并复核"}})
    _refused(res, "decision")


def test_the_task_page_keeps_the_input_and_says_what_is_wrong(app, org, in_review):
    _doc, _head, review = in_review
    client = signed_in(app, org["head_ene"])
    page = client.get(f"/tasks/{review['id']}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    long_comment = "意" * 2001
    res = client.post(f"/tasks/{review['id']}", data={"csrf_token": token, "decision": "approve",
                                                      "comment": long_comment, "password": PASSWORD})
    assert res.status_code == 200
    html = res.get_data(as_text=True)
    assert long_comment in html and "2000" in html
    res = client.post(f"/tasks/{review['id']}", data={"csrf_token": token, "decision": "x" * 300,
                                                      "comment": "", "password": PASSWORD})
    assert res.status_code == 200
    assert _task(_head, "review")["id"] == review["id"]  # still open


def test_every_form_in_the_workflows_and_every_handler_declares_its_input(app):
    forms = set()
    for path in (ROOT / "workflows").glob("*.bpmn"):
        forms |= set(re.findall(r'property name="form" value="([^"]+)"', path.read_text(encoding="utf-8")))
    forms |= set(taskforms.BUILT_IN) | set(taskforms._HANDLERS)
    assert forms - set(taskschemas.SCHEMAS) == set()
