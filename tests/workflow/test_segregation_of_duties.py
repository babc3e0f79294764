"""Segregation of duties on signed steps (issue 17 item 2): nobody signs a step of a version they authored, nobody
signs two steps of the same version; the excluded person's task goes to the next person entitled with a note, or
the submission is refused when nobody is left; a relaxed setting is recorded each time it is used."""
from __future__ import annotations

from sqlmodel import select

from cmsflow.auth.models import User
from cmsflow.core.db import session_scope
from cmsflow.history import service as history
from cmsflow.workflow.models import HumanTask
from tests.conftest import PASSWORD, signed_in


def _tasks(a, name):
    return [t for t in a.get("/tasks").get_json()["tasks"] if t["name"] == name]


def _complete(a, task_id, decision="approve"):
    return a.post(f"/tasks/{task_id}/complete", json={"decision": decision, "password": PASSWORD})


def _open_task(app, doc_id, name) -> HumanTask:
    with app.app_context(), session_scope() as s:
        row = s.exec(select(HumanTask).where(HumanTask.subject_type == "document", HumanTask.subject_id == doc_id,
                                             HumanTask.name == name, HumanTask.status == "open")).one()
        s.expunge(row)
        return row


def _actions(app, doc_id) -> list:
    with app.app_context(), session_scope() as s:
        return [(e.action, e.details) for e in history.for_subject(s, "document", doc_id)]


def test_a_department_head_who_wrote_the_document_does_not_review_it_the_mr_does(app, api, org, new_procedure):
    a, doc = new_procedure(title="能源计量器具管理程序", user="head_ene")
    assert a.post(f"/documents/{doc['id']}/submit").status_code == 200
    assert not _tasks(api("head_ene"), "review")  # never in the author's inbox
    (task,) = _tasks(api("mr"), "review")
    assert task["assignment_note"] == "部门负责人为本文件作者，已转由管理者代表审核"
    assert ("task_reassigned", {"task": "review", "title": "部门负责人审核", "note": task["assignment_note"]}) \
        in _actions(app, doc["id"])
    page = signed_in(app, org["mr"]).get("/tasks/").get_data(as_text=True)
    assert "部门负责人为本文件作者，已转由管理者代表审核" in page
    # defence in depth: even handed the task directly, the author may not sign it
    with app.app_context(), session_scope() as s:
        s.get(HumanTask, task["id"]).assignee_id = org["head_ene"]
    res = _complete(api("head_ene"), task["id"])
    assert res.status_code == 403 and res.get_json()["error"]["code"] == "segregation_of_duties", res.get_json()
    assert "作者" in res.get_json()["error"]["message"]


def test_the_reviewer_does_not_approve_the_same_version_top_management_does(app, api, org, new_procedure):
    a, doc = new_procedure(title="能源计量器具管理程序", user="head_ene")
    assert a.post(f"/documents/{doc['id']}/submit").status_code == 200
    mr = api("mr")
    (review,) = _tasks(mr, "review")
    assert _complete(mr, review["id"]).status_code == 200
    assert not _tasks(mr, "mr_approval")
    (approval,) = _tasks(api("top"), "mr_approval")
    assert approval["assignment_note"] == "管理者代表已签署本版本的「部门负责人审核」，已转由最高管理者审批"
    # the reviewer, handed the approval anyway, is refused
    with app.app_context(), session_scope() as s:
        s.get(HumanTask, approval["id"]).assignee_id = org["mr"]
    res = _complete(mr, approval["id"])
    assert res.status_code == 403 and "已签署本版本" in res.get_json()["error"]["message"], res.get_json()
    with app.app_context(), session_scope() as s:
        s.get(HumanTask, approval["id"]).assignee_id = org["top"]
    assert _complete(api("top"), approval["id"]).status_code == 200
    assert a.get(f"/documents/{doc['id']}").get_json()["status"] == "effective"


def test_a_document_written_by_the_mr_is_approved_by_top_management(app, api, org, new_procedure):
    a, doc = new_procedure(title="温室气体排放管理程序", user="mr")
    assert a.post(f"/documents/{doc['id']}/submit").status_code == 200
    assert _complete(api("head_ene"), _tasks(api("head_ene"), "review")[0]["id"]).status_code == 200
    assert not _tasks(api("mr"), "mr_approval")
    (task,) = _tasks(api("top"), "mr_approval")
    assert task["assignment_note"] == "管理者代表为本文件作者，已转由最高管理者审批"
    row = _open_task(app, doc["id"], "mr_approval")
    assert row.role == "top_management" and row.assignee_id is None and org["mr"] in row.excluded_user_ids
    assert _complete(api("top"), task["id"]).status_code == 200


def test_submission_is_refused_when_nobody_entitled_is_left(app, api, org, new_procedure):
    a, doc = new_procedure(title="能源计量器具管理程序", user="head_ene")
    with app.app_context(), session_scope() as s:
        s.get(User, org["top"]).active = False  # head wrote it, the MR must review, nobody is left to approve
    res = a.post(f"/documents/{doc['id']}/submit")
    assert res.status_code == 400, res.get_json()
    err = res.get_json()["error"]
    assert err["code"] == "no_eligible_signer" and "管理者代表批准" in err["message"]
    doc = a.get(f"/documents/{doc['id']}").get_json()
    assert doc["status"] == "draft"  # nothing was stored
    assert "document_submitted" not in [action for action, _ in _actions(app, doc["id"])]


def test_relaxed_for_a_small_organisation_the_author_reviews_and_the_history_says_so(app, api, org, new_procedure):
    app.config["SEGREGATION_OF_DUTIES"] = False
    try:
        a, doc = new_procedure(title="能源计量器具管理程序", user="head_ene")
        assert a.post(f"/documents/{doc['id']}/submit").status_code == 200
        (task,) = _tasks(api("head_ene"), "review")
        assert task["assignment_note"] is None
        assert _complete(api("head_ene"), task["id"]).status_code == 200
    finally:
        app.config["SEGREGATION_OF_DUTIES"] = True
    relaxed = [d for action, d in _actions(app, doc["id"]) if action == "segregation_of_duties_relaxed"]
    assert relaxed and relaxed[0]["task"] == "review" and relaxed[0]["reason"] == "为本文件作者"


def test_an_ordinary_document_still_goes_to_the_head_and_the_mr(app, api, org, new_procedure):
    a, doc = new_procedure()  # by staff_ene
    assert a.post(f"/documents/{doc['id']}/submit").status_code == 200
    (review,) = _tasks(api("head_ene"), "review")
    assert review["assignment_note"] is None
    assert _complete(api("head_ene"), review["id"]).status_code == 200
    (approval,) = _tasks(api("mr"), "mr_approval")
    assert approval["assignment_note"] is None
    assert _complete(api("mr"), approval["id"]).status_code == 200


def test_who_created_the_version_is_an_author_even_when_someone_else_submits_it(app, api, org, new_procedure):
    from cmsflow.documents.models import DocumentVersion

    a, doc = new_procedure(title="温室气体排放管理程序")
    with app.app_context(), session_scope() as s:  # the MR wrote this version; ENE staff submit it
        s.exec(select(DocumentVersion).where(DocumentVersion.document_id == doc["id"])).one().created_by_id = org["mr"]
    assert a.post(f"/documents/{doc['id']}/submit").status_code == 200
    assert _complete(api("head_ene"), _tasks(api("head_ene"), "review")[0]["id"]).status_code == 200
    assert not _tasks(api("mr"), "mr_approval")
    (task,) = _tasks(api("top"), "mr_approval")
    assert task["assignment_note"] == "管理者代表为本文件作者，已转由最高管理者审批"


def test_an_audit_report_led_by_the_mr_is_approved_by_top_management(app, api, org):
    from tests.audits.test_internal_audit_api import CLAUSES, _this_month, approved_programme

    prog = approved_programme(api, [{"title": "能源管理部专项审核", "month": _this_month(), "departments": ["ENE"],
                                     "clauses": CLAUSES, "lead_auditor": "mr"}])
    audit_id = prog["audits"][0]["id"]
    mr = api("mr")
    res = mr.post(f"/audits/{audit_id}/steps/plan_audit", json={"data": {
        "start_date": "2026-12-01", "end_date": "2026-12-02", "team": [], "auditees": ["head_ene"]}})
    assert res.status_code == 200, res.get_json()
    assert mr.post(f"/audits/{audit_id}/steps/prepare_checklist", json={}).status_code == 200
    for line in mr.get(f"/audits/{audit_id}").get_json()["checklist"]:
        assert mr.client.put(f"/api/v1/audits/{audit_id}/checklist/{line['id']}", headers=mr.headers, json={
            "result": "conformity", "objective_evidence": "文件受控"}).status_code == 200
    assert mr.post(f"/audits/{audit_id}/steps/record_findings", json={}).status_code == 200
    res = mr.post(f"/audits/{audit_id}/steps/draft_report", json={"data": {"summary": "按计划完成。",
                                                                           "conclusion": "体系有效。"}})
    assert res.status_code == 200, res.get_json()
    assert not _tasks(mr, "approve_report")
    (task,) = _tasks(api("top"), "approve_report")
    assert task["assignment_note"] == "管理者代表为本审核报告作者，已转由最高管理者审批"
