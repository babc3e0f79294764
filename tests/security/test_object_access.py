"""Object-level access, the same through the pages, the API lists and details, and search: a department head sees
their department's records, staff see effective documents, their own drafts and what they have tasks on."""
from __future__ import annotations

from tests.conftest import PASSWORD, signed_in
from tests.nonconformities.test_corrective_action_api import raise_nc


def _sees_document(app, api, org, username: str, doc: dict, word: str) -> dict:
    """What ``username`` gets for the document on each channel: {channel: bool}."""
    a = api(username)
    page = signed_in(app, org[username])
    return {
        "page": page.get(f"/documents/{doc['id']}").status_code == 200,
        "register": doc["code"] in page.get("/documents/").get_data(as_text=True),
        "api": a.get(f"/documents/{doc['id']}").status_code == 200,
        "api_list": doc["id"] in [d["id"] for d in a.get("/documents").get_json()["documents"]],
        "file": a.get(f"/documents/{doc['id']}/versions/1/file").status_code == 200,
        "search": doc["id"] in [h["id"] for h in a.get("/search", query_string={"q": word}).get_json()["results"]],
    }


def test_a_draft_is_seen_by_its_author_the_department_head_and_managers_only(app, api, org, new_procedure):
    _, doc = new_procedure(title="碳排放监测计划管理程序")  # by staff_ene, department ENE
    for username in ("staff_ene", "head_ene", "mr", "top", "admin"):
        assert all(_sees_document(app, api, org, username, doc, "监测计划").values()), username
    for username in ("staff_ene2", "head_prd", "staff_prd", "auditor"):
        assert not any(_sees_document(app, api, org, username, doc, "监测计划").values()), username


def test_the_reviewing_head_of_the_department_sees_the_draft_and_everyone_sees_it_once_effective(
        app, api, org, new_procedure):
    a, doc = new_procedure(title="能源计量器具管理程序")
    assert a.post(f"/documents/{doc['id']}/submit").status_code == 200
    assert all(_sees_document(app, api, org, "head_ene", doc, "计量器具").values())
    assert not any(_sees_document(app, api, org, "staff_prd", doc, "计量器具").values())
    for username, step in (("head_ene", "review"), ("mr", "mr_approval")):
        client = api(username)
        task = next(t for t in client.get("/tasks").get_json()["tasks"] if t["name"] == step)
        res = client.post(f"/tasks/{task['id']}/complete", json={"decision": "approve", "password": PASSWORD})
        assert res.status_code == 200, res.get_json()
    for username in ("staff_prd", "staff_ene2", "auditor", "head_prd"):
        assert all(_sees_document(app, api, org, username, doc, "计量器具").values()), username


def _sees_nc(app, api, org, username: str, nc: dict) -> dict:
    a = api(username)
    page = signed_in(app, org[username])
    return {
        "page": page.get(f"/nonconformities/{nc['id']}").status_code == 200,
        "register": nc["code"] in page.get("/nonconformities/").get_data(as_text=True),
        "export": page.get("/nonconformities/export.xlsx").status_code == 200,  # (rows checked through the API)
        "api": a.get(f"/nonconformities/{nc['id']}").status_code == 200,
        "api_list": nc["id"] in [n["id"] for n in a.get("/nonconformities").get_json()["nonconformities"]],
        "search": nc["id"] in [h["id"] for h in a.get("/search", query_string={"q": "熟料"}).get_json()["results"]
                               if h["type"] == "nonconformity"],
    }


def test_a_nonconformity_is_seen_by_its_department_head_not_by_another_department(app, api, org):
    nc = raise_nc(api, title="熟料产量数据未复核")  # raised by the auditor against PRD
    for username in ("head_prd", "auditor", "mr", "top", "admin"):
        seen = _sees_nc(app, api, org, username, nc)
        assert all(seen.values()), (username, seen)
    for username in ("head_ene", "staff_ene", "staff_prd"):
        seen = _sees_nc(app, api, org, username, nc)
        assert seen.pop("export") and not any(seen.values()), (username, seen)


def test_staff_see_a_nonconformity_once_it_is_assigned_to_them(app, api, org):
    nc = raise_nc(api, title="熟料产量数据未复核")
    assert not _sees_nc(app, api, org, "staff_prd", nc)["api"]
    res = api("head_prd").post(f"/nonconformities/{nc['id']}/steps/accept",
                               json={"decision": "accept", "data": {"owner": "staff_prd"}})
    assert res.status_code == 200, res.get_json()
    seen = _sees_nc(app, api, org, "staff_prd", nc)
    assert all(seen.values()), seen
    assert not _sees_nc(app, api, org, "staff_ene", nc)["api"]


def test_a_hidden_record_answers_like_a_missing_one(app, api, org, new_procedure):
    """No existence oracle: another department's draft and a nonexistent id give the same 404."""
    _, doc = new_procedure()
    a = api("staff_prd")
    hidden, missing = a.get(f"/documents/{doc['id']}"), a.get("/documents/999999")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.get_json() == missing.get_json()
