"""Cookies and security headers (issue 9 item 4): HttpOnly + SameSite=Lax session and remember cookies, Secure
when CMSFLOW_SECURE_COOKIES=1; CSP, frame, sniffing and referrer headers on every response, and pages that
need no inline script under the CSP. OWASP ASVS 3.4.1–3.4.3, 14.4.1–14.4.7, 8.2.1."""
from __future__ import annotations

import re

import pytest

from cmsflow.config import load_config
from tests.conftest import PASSWORD, signed_in
from tests.security.test_accounts import _login


def _cookies(res) -> dict[str, str]:
    return {c.split("=", 1)[0]: c for c in res.headers.getlist("Set-Cookie")}


def test_session_and_remember_cookies_are_httponly_and_samesite(app, org):
    _, res = _login(app, "staff_ene", PASSWORD, remember="y")
    cookies = _cookies(res)
    for name in ("session", "remember_token"):
        assert "HttpOnly" in cookies[name] and "SameSite=Lax" in cookies[name], cookies[name]
        assert "Secure" not in cookies[name]  # plain HTTP by default (CMSFLOW_SECURE_COOKIES unset)


def test_secure_cookies_and_hsts_when_configured(app, org, monkeypatch):
    monkeypatch.setenv("CMSFLOW_SECURE_COOKIES", "1")
    cfg = load_config({"INSTANCE_DIR": app.config["INSTANCE_DIR"], "SECRET_KEY": "x"})
    assert cfg["SESSION_COOKIE_SECURE"] and cfg["REMEMBER_COOKIE_SECURE"]
    monkeypatch.setitem(app.config, "SESSION_COOKIE_SECURE", True)
    monkeypatch.setitem(app.config, "REMEMBER_COOKIE_SECURE", True)
    _, res = _login(app, "staff_ene", PASSWORD, remember="y")
    cookies = _cookies(res)
    assert "Secure" in cookies["session"] and "Secure" in cookies["remember_token"]
    assert res.headers["Strict-Transport-Security"].startswith("max-age=")


def _check_headers(res) -> None:
    csp = res.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert res.headers["X-Frame-Options"] == "DENY"
    assert res.headers["X-Content-Type-Options"] == "nosniff"
    assert res.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in res.headers


def test_security_headers_on_every_kind_of_response(app, api, org, new_procedure):
    _, doc = new_procedure()
    anon = app.test_client()
    staff = signed_in(app, org["staff_ene"])
    responses = [anon.get("/login"), anon.get("/documents/"), anon.get("/static/web/app.css"),
                 anon.get("/api/v1/documents"), anon.get("/api/v1/openapi.json"), staff.get("/"),
                 staff.get(f"/documents/{doc['id']}"), staff.get("/no-such-page"),
                 staff.get(f"/documents/{doc['id']}/versions/1/file"), api("mr").get("/documents")]
    for res in responses:
        _check_headers(res)
    assert responses[5].headers["Cache-Control"] == "no-store"


def _pages(app) -> list[str]:
    """Every page without URL arguments (all GET routes outside the API and static files)."""
    return sorted({rule.rule for rule in app.url_map.iter_rules()
                   if "GET" in rule.methods and not rule.arguments and not rule.rule.startswith(("/api/", "/static"))
                   and rule.endpoint != "web.set_language"})


@pytest.mark.parametrize("as_user", ["admin", "staff_ene"])
def test_pages_render_without_inline_script_under_the_csp(app, org, new_procedure, as_user):
    """script-src 'self' without nonces: any inline <script> or on*= handler would be blocked, so none exist."""
    _, doc = new_procedure()
    client = signed_in(app, org[as_user])
    paths = _pages(app) + ["/search/?q=排放", "/documents/new?template=procedure", f"/documents/{doc['id']}"]
    assert len(paths) > 25
    for path in paths:
        res = client.get(path, follow_redirects=True)
        assert res.status_code < 500, (path, res.status_code)  # some need data first: a 400/403/404 page
        _check_headers(res)
        if res.mimetype != "text/html":  # downloads (templates, exports)
            continue
        html = res.get_data(as_text=True)
        assert "<script" not in html.lower(), path
        assert not re.search(r"\son[a-z]+\s*=", html), path
        assert "javascript:" not in html.lower(), path
