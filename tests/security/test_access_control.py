"""Access control route by route: every registered endpoint is in the hand-reviewed matrix, and a request by each
role (and by nobody) gets the answer the matrix gives — through the pages and through the API alike."""
from __future__ import annotations

import pytest
from flask import url_for
from werkzeug.routing import IntegerConverter

from cmsflow.auth import permissions
from cmsflow.auth.models import User
from cmsflow.auth.service import issue_token
from cmsflow.core.db import session_scope
from tests.conftest import signed_in
from tests.security.route_matrix import LETTERS, MATRIX

ROUTE_DENIED = "您的角色无权使用此功能"
USER_OF_ROLE = {"management_representative": "mr", "top_management": "top", "internal_auditor": "auditor",
                "department_head": "head_ene", "staff": "staff_ene", "admin": "admin"}
# A value for each URL variable: ids that do not exist, so an allowed request ends in the view (404, 400...)
# and changes nothing; a refused one never reaches the view.
SAMPLE = {"step": "x", "name": "no-such-register", "code": "NOPE", "fmt": "csv", "kind": "minutes", "lang": "en",
          "filename": "cmsflow.css", "product": "NOPE", "process_id": "no_such_process"}


def allowed_roles(entry: str) -> set[str]:
    return set(LETTERS.values()) if entry == "public" else {LETTERS[c] for c in entry if c != "."}


def rules(app):
    return sorted((r for r in app.url_map.iter_rules()), key=lambda r: (r.endpoint, r.rule))


def build(app, rule) -> tuple[str, str]:
    method = next(m for m in ("GET", "POST", "PUT", "DELETE") if m in rule.methods)
    values = {arg: 999999 if isinstance(rule._converters[arg], IntegerConverter) else SAMPLE[arg]
              for arg in rule.arguments}
    with app.test_request_context():
        return method, url_for(rule.endpoint, **values)


def test_every_registered_route_is_in_the_matrix_and_in_the_permission_layer(app):
    endpoints = {r.endpoint for r in app.url_map.iter_rules()}
    assert endpoints - set(MATRIX) == set(), "routes without a line in tests/security/route_matrix.py"
    assert set(MATRIX) - endpoints == set(), "matrix lines for routes that no longer exist"
    assert endpoints - set(permissions.ROUTES) == set(), "routes without a rule in cmsflow.auth.permissions"
    for endpoint, entry in MATRIX.items():
        rule = permissions.ROUTES[endpoint]
        if entry == "public":
            assert rule == permissions.PUBLIC, endpoint
        else:
            assert rule != permissions.PUBLIC and set(rule) == allowed_roles(entry), endpoint


def test_a_route_without_a_rule_is_refused_to_everyone(app, org, monkeypatch):
    monkeypatch.delitem(permissions.ROUTES, "documents.register")
    for username in ("mr", "admin", "staff_ene"):
        res = signed_in(app, org[username]).get("/documents/")
        assert res.status_code == 403 and "未配置访问权限" in res.get_data(as_text=True)


def _is_route_denial(res) -> bool:
    if res.status_code != 403:
        return False
    if res.is_json:
        return (res.get_json() or {}).get("error", {}).get("message") == ROUTE_DENIED
    return ROUTE_DENIED in res.get_data(as_text=True)


def _clients(app, org):
    """{role: (page client, API headers)}; the API token is issued directly (the sign-in has its own tests)."""
    pages = {role: signed_in(app, org[username]) for role, username in USER_OF_ROLE.items()}
    out = {}
    with app.app_context(), session_scope() as s:
        for role, username in USER_OF_ROLE.items():
            out[role] = (pages[role], {"Authorization": f"Bearer {issue_token(s, s.get(User, org[username]), 1)}"})
    return out


@pytest.mark.parametrize("prefix", ["api.", "pages"])
def test_each_role_gets_what_the_matrix_says_on_every_route(app, org, monkeypatch, prefix):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", False)  # the route rule, not the CSRF token, is tested
    clients = _clients(app, org)
    anonymous = app.test_client()
    wrong = []
    for rule in rules(app):
        if rule.endpoint.startswith("api.") != (prefix == "api."):
            continue
        method, url = build(app, rule)
        entry = MATRIX[rule.endpoint]
        for role, (client, headers) in clients.items():
            if prefix != "api.":  # a fresh session each time: POST /logout must not sign the next requests out
                client = signed_in(app, org[USER_OF_ROLE[role]])
            res = client.open(url, method=method, headers=headers if prefix == "api." else None)
            denied = _is_route_denial(res)
            if res.status_code >= 500 or denied != (role not in allowed_roles(entry)):
                wrong.append(f"{method} {url} as {role}: {res.status_code}")
        res = anonymous.open(url, method=method)
        if entry == "public":
            ok = res.status_code < 500 and res.status_code not in (401, 403) and "/login" not in res.headers.get(
                "Location", "")
        elif prefix == "api.":
            ok = res.status_code == 401
        else:
            ok = res.status_code == 302 and "/login" in res.headers["Location"]
        if not ok:
            wrong.append(f"{method} {url} anonymous: {res.status_code}")
    assert wrong == [], "\n".join(wrong)


def test_no_link_on_the_home_page_leads_a_role_to_a_refused_page(app, org):
    """Menus and dashboard tiles hide what a role may not open (staff see no audit or review menu)."""
    import re

    for role, username in USER_OF_ROLE.items():
        client = signed_in(app, org[username])
        home = client.get("/").get_data(as_text=True)
        links = {h for h in re.findall(r'href="(/[^"#?]*)', home) if not h.startswith("/static")}
        assert "/documents/" in links
        refused = [h for h in sorted(links) if _is_route_denial(client.get(h))]
        assert refused == [], (role, refused)
        assert ("/audits/" in links) is (role != "staff"), role
