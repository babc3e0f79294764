"""A nonconformity from raising to closure through the API, with the refusals a user relies on."""
from __future__ import annotations

from datetime import date, timedelta

import time_machine

from cmsflow.core.db import utcnow
from tests.conftest import PASSWORD

NC = {"title": "熟料产量计量数据未按程序复核", "source": "internal_audit", "department": "PRD",
      "severity": "minor", "clauses": ["DB44T1944:9.1"],
      "description": "抽查2026年9月生产日报，熟料产量数据未经能源管理部复核即用于排放核算。",
      "evidence": "2026年9月生产日报第3、7、15日"}


def raise_nc(api, user="auditor", **over):
    res = api(user).post("/nonconformities", json={**NC, **over})
    assert res.status_code == 201, res.get_json()
    return res.get_json()


def step(client, nc_id, name, **body):
    return client.post(f"/nonconformities/{nc_id}/steps/{name}", json=body)


def run_to_implementation(api, nc):
    head, owner = api("head_prd"), api("staff_prd")
    assert step(head, nc["id"], "accept", decision="accept", data={"owner": "staff_prd"}).status_code == 200
    assert step(owner, nc["id"], "correction", data={"correction": "已补充复核9月数据并重新核算"}).status_code == 200
    res = step(owner, nc["id"], "cause_analysis", data={
        "whys": ["数据未复核", "程序未规定复核节点", "编制程序时未识别该接口"], "cause_categories": ["method"],
        "root_cause": "监测程序未规定生产数据与能源数据的交接复核", "similar_check": "排查能源、采购部门，未发现类似",
        "system_change_needed": True, "system_change_note": "修订监测程序"})
    assert res.status_code == 200, res.get_json()
    due = (date.today() + timedelta(days=20)).isoformat()
    res = step(owner, nc["id"], "action_plan", data={"actions": [
        {"description": "修订监测与测量程序，增加复核节点", "owner": "staff_prd", "due_date": due},
        {"description": "对统计员开展培训", "owner": "head_prd", "due_date": due}]})
    assert res.status_code == 200, res.get_json()
    ids = [a["id"] for a in res.get_json()["actions"]]
    res = step(owner, nc["id"], "implementation", data={"actions": [
        {"id": ids[0], "evidence": "程序 CEMS-PR-003 第2版已发布"},
        {"id": ids[1], "evidence": "培训记录 TR-2026-031"}]})
    assert res.status_code == 200, res.get_json()
    assert res.get_json()["status"] == "awaiting_verification"
    return res.get_json()


def test_audit_nonconformity_runs_to_closure_with_the_auditor_verifying(app, api, org):
    nc = raise_nc(api)
    assert nc["status"] == "raised" and nc["current_step"] == "accept" and nc["code"].startswith("NC-")
    assert nc["verifier"] == "auditor"
    detail = run_to_implementation(api, nc)
    assert detail["implementer"] == "staff_prd" and len(detail["actions"]) == 2
    assert all(a["status"] == "done" for a in detail["actions"])

    auditor = api("auditor")
    early = step(auditor, nc["id"], "verification", decision="effective", comment="已验证")
    assert early.status_code == 409 and early.get_json()["error"]["code"] == "verification_too_early"

    with time_machine.travel(utcnow() + timedelta(days=31), tick=False):
        from cmsflow.cli import worker_pass

        with app.app_context():
            worker_pass()
        refused = step(api("staff_prd"), nc["id"], "verification", decision="effective", comment="自查有效")
        assert refused.status_code == 403
        done = step(api("auditor"), nc["id"], "verification", decision="effective",
                    comment="抽查10月至11月日报，均有能源管理部复核签字")
    assert done.status_code == 200, done.get_json()
    closed = done.get_json()
    assert closed["status"] == "closed" and closed["closed_at"] and closed["verified_by"] == "auditor"
    assert closed["whys"][0] == "数据未复核" and closed["system_change_needed"] is True
    actions = [h["action"] for h in closed["history"]]
    assert actions[0] == "nonconformity_raised"
    assert {"task_accept", "task_effective", "nonconformity_closed"} <= set(actions)


def test_not_effective_returns_the_case_to_cause_analysis(app, api, org):
    nc = raise_nc(api)
    run_to_implementation(api, nc)
    with time_machine.travel(utcnow() + timedelta(days=31), tick=False):
        from cmsflow.cli import worker_pass

        with app.app_context():
            worker_pass()
        res = step(api("auditor"), nc["id"], "verification", decision="not_effective",
                   comment="11月日报仍有2天未复核")
    body = res.get_json()
    assert res.status_code == 200, body
    assert body["status"] == "cause_analysis" and body["cycle"] == 2 and body["closed_at"] is None


def test_the_implementer_cannot_verify_even_when_named_verifier(app, api, org):
    # the production head raised it and is named verifier, but ends up implementing the actions
    nc = raise_nc(api, user="head_prd", source="monitoring", verifier="head_prd")
    head = api("head_prd")
    step(head, nc["id"], "accept", decision="accept")
    step(head, nc["id"], "correction", data={"correction": "已纠正"})
    step(head, nc["id"], "cause_analysis", data={"cause_categories": ["people"], "root_cause": "未培训",
                                                 "similar_check": "无", "system_change_needed": False})
    due = (date.today() + timedelta(days=5)).isoformat()
    res = step(head, nc["id"], "action_plan", data={"actions": [{"description": "培训", "owner": "head_prd",
                                                                  "due_date": due}]})
    action_id = res.get_json()["actions"][0]["id"]
    step(head, nc["id"], "implementation", data={"actions": [{"id": action_id, "evidence": "培训记录"}]})
    with time_machine.travel(utcnow() + timedelta(days=31), tick=False):
        from cmsflow.cli import worker_pass

        with app.app_context():
            worker_pass()
        # the verification went to the management representative, not to the implementer
        assert [t["name"] for t in api("head_prd").get("/tasks").get_json()["tasks"]] == []
        assert [t["name"] for t in api("mr").get("/tasks").get_json()["tasks"]] == ["verification"]
        res = step(api("mr"), nc["id"], "verification", decision="effective", comment="有效")
    assert res.status_code == 200 and res.get_json()["verified_by"] == "mr"


def test_steps_refuse_incomplete_input_and_keep_the_case_where_it_was(api, org):
    nc = raise_nc(api)
    head, owner = api("head_prd"), api("staff_prd")
    bad_owner = step(head, nc["id"], "accept", decision="accept", data={"owner": "staff_ene"})
    assert bad_owner.status_code == 400 and bad_owner.get_json()["error"]["code"] == "owner_not_in_department"
    assert step(head, nc["id"], "accept", decision="accept", data={"owner": "staff_prd"}).status_code == 200
    wrong_step = step(owner, nc["id"], "cause_analysis", data={})
    assert wrong_step.status_code == 409 and wrong_step.get_json()["error"]["code"] == "step_not_open"
    step(owner, nc["id"], "correction", data={"correction": "已纠正"})
    res = step(owner, nc["id"], "cause_analysis", data={"whys": [], "root_cause": ""})
    fields = res.get_json()["error"]["details"]["fields"]
    assert res.status_code == 400 and {"whys", "root_cause", "similar_check", "system_change_needed"} <= set(fields)
    res = step(owner, nc["id"], "cause_analysis", data={"whys": ["a"], "root_cause": "b", "similar_check": "c",
                                                        "system_change_needed": False})
    past = (date.today() - timedelta(days=1)).isoformat()
    res = step(owner, nc["id"], "action_plan", data={"actions": [{"description": "x", "owner": "nobody",
                                                                  "due_date": past}]})
    fields = res.get_json()["error"]["details"]["fields"]
    assert res.status_code == 400 and {"actions[0].owner", "actions[0].due_date"} <= set(fields)
    assert owner.get(f"/nonconformities/{nc['id']}").get_json()["status"] == "action_plan"


def test_dispute_goes_to_the_management_representative_who_may_withdraw(api, org):
    nc = raise_nc(api)
    head = api("head_prd")
    no_reason = step(head, nc["id"], "accept", decision="dispute")
    assert no_reason.status_code == 400
    assert step(head, nc["id"], "accept", decision="dispute", comment="该数据由能源管理部负责").status_code == 200
    assert api("mr").get(f"/nonconformities/{nc['id']}").get_json()["status"] == "disputed"
    res = step(api("mr"), nc["id"], "decide_dispute", decision="withdraw", comment="职责划分属能源管理部，另行提出")
    assert res.get_json()["status"] == "withdrawn"


def test_raising_refuses_unknown_clause_department_and_source(api, org):
    res = api("auditor").post("/nonconformities", json={**NC, "clauses": ["DB44T1944:99.9"], "department": "XXX",
                                                        "source": "rumour", "title": ""})
    fields = res.get_json()["error"]["details"]["fields"]
    assert res.status_code == 400 and set(fields) == {"clauses", "department", "source", "title"}
    assert api("auditor").get("/nonconformities").get_json()["nonconformities"] == []


def test_signature_password_is_not_needed_but_token_is(app, org):
    res = app.test_client().post("/api/v1/nonconformities", json=NC)
    assert res.status_code == 401
    assert PASSWORD  # the fixture's users sign in with it
