"""API contract: OpenAPI document, token auth, error shape, templates listing."""
from __future__ import annotations

import re

from openapi_spec_validator import validate


def test_openapi_document_is_valid_and_lists_the_endpoints(app):
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    validate(spec)
    for path in ("/auth/token", "/documents", "/documents/{id}/submit", "/tasks/{id}/complete", "/search",
                 "/doc-templates", "/documents/{id}/versions/{number}/file"):
        assert path in spec["paths"]


def test_every_api_route_is_documented(app):
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    def shape(path: str) -> str:
        return re.sub(r"\{[^}]+\}", "{}", path)

    documented = {(shape(path), method) for path, ops in spec["paths"].items() for method in ops}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.endpoint == "api.openapi":
            continue
        path = shape(re.sub(r"<(?:\w+:)?\w+>", "{}", rule.rule[len("/api/v1"):]))
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method.lower()) in documented, f"{method} {path} missing from openapi.py"


def test_calls_without_a_valid_token_are_401(app, org):
    client = app.test_client()
    res = client.get("/api/v1/documents")
    assert res.status_code == 401 and res.get_json()["error"]["code"] == "unauthorized"
    res = client.get("/api/v1/documents", headers={"Authorization": "Bearer forged"})
    assert res.status_code == 401
    res = client.post("/api/v1/auth/token", json={"username": "mr", "password": "wrong"})
    assert res.status_code == 401


def test_unknown_document_is_404_json(api):
    res = api("mr").get("/documents/9999")
    assert res.status_code == 404 and res.get_json() == {"error": {"code": "not_found", "message": "文件不存在"}}


def test_doc_templates_list_fields(api):
    templates = {t["name"]: t for t in api("staff_ene").get("/doc-templates").get_json()}
    assert {"manual", "policy", "procedure", "rule", "work_instruction", "record_form"} <= set(templates)
    names = [f["name"] for f in templates["procedure"]["fields"]]
    assert {"purpose", "scope", "steps"} <= set(names)


def test_missing_required_fields_and_unknown_clauses_are_400(api):
    a = api("staff_ene")
    res = a.post("/documents", json={"title": "x", "doc_type": "procedure", "department": "ENE",
                                     "template": "procedure", "fields": {"purpose": "p"}})
    assert res.status_code == 400 and res.get_json()["error"]["code"] == "missing_field"
    res = a.post("/documents", json={"title": "x", "doc_type": "procedure", "department": "ENE",
                                     "template": "procedure", "fields": {}, "clauses": ["ISO:1"]})
    assert res.status_code == 400 and res.get_json()["error"]["code"] == "unknown_clause"
    res = a.post("/documents", json={"title": "x", "doc_type": "procedure", "department": "ENE",
                                     "template": "manual", "fields": {}})
    assert res.status_code == 400 and res.get_json()["error"]["code"] == "template_type_mismatch"


def test_document_codes_are_sequential_per_type(api, new_procedure):
    codes = [new_procedure(title=f"程序{i}")[1]["code"] for i in range(3)]
    assert codes == ["CEMS-PR-001", "CEMS-PR-002", "CEMS-PR-003"]


def test_submitting_twice_is_409(api, new_procedure):
    staff, doc = new_procedure()
    assert staff.post(f"/documents/{doc['id']}/submit").status_code == 200
    assert staff.post(f"/documents/{doc['id']}/submit").status_code == 409
