"""Property-based fuzzing of the REST API against its own OpenAPI document (schemathesis 4, in process).

Every documented operation gets a few generated requests (valid and invalid bodies, parameters, path ids) as the
management representative and as department staff. Checks: no 5xx, the status code is one the operation
documents, the content type and JSON body match the documented schema. Issue 9 item 3; OWASP ASVS 5.1.3/5.1.4
(input validation), 7.4.1 (no stack traces, a generic error).
"""
from __future__ import annotations

import json
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlmodel import select

from cmsflow.api.openapi import spec
from cmsflow.auth import service as auth
from cmsflow.auth.models import User
from cmsflow.core.db import session_scope

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# per operation, each sent by both personas: 125 operations stay well under 90 s; CMSFLOW_FUZZ_EXAMPLES=50 digs deeper
MAX_EXAMPLES = int(os.environ.get("CMSFLOW_FUZZ_EXAMPLES", "3"))
PERSONAS = ("mr", "staff_ene")  # management representative, department staff
SCHEMA = schemathesis.openapi.from_dict(json.loads(json.dumps(spec())))


def _token(app, username: str) -> str:
    """A bearer token issued directly (no password hashing: cheap enough for one per request)."""
    with app.app_context(), session_scope() as s:
        user = s.exec(select(User).where(User.username == username)).one()
        return auth.issue_token(s, user, 12)


@pytest.fixture
def users(request, monkeypatch):
    """The ``org`` users, each password hashed once per run (scrypt costs ~0.1 s a user, and every generated-case
    test starts from empty tables)."""
    import functools

    from cmsflow.auth import models

    monkeypatch.setattr(models, "generate_password_hash", functools.cache(models.generate_password_hash))
    return request.getfixturevalue("org")


def test_the_fuzzed_document_is_the_one_the_app_serves(app):
    served = app.test_client().get("/api/v1/openapi.json").get_json()
    assert served == SCHEMA.raw_schema


@pytest.fixture
def tokens(app, users):
    """Bearer tokens of the personas: the management representative and department staff."""
    return {persona: _token(app, persona) for persona in PERSONAS}


@SCHEMA.parametrize()
@settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
def test_api_answers_every_generated_request_as_documented(case, app, tokens):
    for persona in PERSONAS:
        # revoking a token is one of the generated requests: that one spends a token of its own
        token = _token(app, persona) if case.operation.path == "/tokens/{id}" else tokens[persona]
        case.call_and_validate(app=app, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)


@pytest.mark.parametrize(("method", "path", "body", "status"), [
    ("get", "/documents/2374843298584100395497578934829056", None, 404),  # was 500: integer overflow in the DB
    ("delete", "/audits/1/checklist/493222779282941", None, 404),  # was 500 (then 405 with a bounded converter)
    ("post", "/assets/cycles", {"compliance_year": -112306, "department": "ENE"}, 400),  # was 500: year range
    ("post", "/management-reviews", {"period_start": "0001-01-01", "period_end": "0001-01-01"}, 201),  # was 500
    ("get", "/search?q=%22a%20b%22", None, 200),  # was 500: phrase on the code field
    ("get", "/search?q=a&limit=abc", None, 400),  # was 500: int("abc")
    ("post", "/documents/1/revise", [1], 400),  # was 500: a JSON array where an object is expected
])
def test_inputs_the_fuzzer_found_get_a_clear_answer(api, method, path, body, status):
    """The 500s the fuzzer found, pinned: each answers with its status and a JSON error (or the result)."""
    a = api("mr")
    kwargs = {"json": body} if body is not None else {}
    res = getattr(a.client, method)(f"/api/v1{path}", headers=a.headers, **kwargs)
    assert res.status_code == status, res.get_json()
    if status >= 400:
        assert res.get_json()["error"]["message"]


def test_register_text_longer_than_its_column_is_a_400_naming_the_field(api):
    """Was a 500 on PostgreSQL (VARCHAR(40) refuses longer values; SQLite stores them): found by test_xss."""
    from tests.registers.test_registers import sample

    res = api("mr").post("/registers/instrument", json={**sample("instrument", 0), "accuracy_class": "级" * 41})
    assert res.status_code == 400, res.get_json()
    assert res.get_json()["error"]["details"]["fields"]["accuracy_class"] == "最多 40 个字符"
