"""Sessions end for good (issue 17 item 5): logout ends that session and its remember-me cookie, copies included;
deactivating a user ends every session and token, and reactivating the account revives none of them; the
``next`` of every redirect stays on the site (item 4). OWASP ASVS 4.0.3 V3.3.1, V3.3.3, V5.1.5."""
from __future__ import annotations

import re

import pytest

from tests.conftest import PASSWORD, Api


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def _login(app, username: str, remember: bool = False):
    client = app.test_client()
    token = _csrf(client.get("/login").get_data(as_text=True))
    data = {"username": username, "password": PASSWORD, "csrf_token": token}
    if remember:
        data["remember"] = "y"
    res = client.post("/login", data=data)
    assert res.status_code == 302, res.get_data(as_text=True)
    return client


def _signed_in(client) -> bool:
    res = client.get("/account")
    return res.status_code == 200


def _copy(client, *names: str):
    """A second browser holding copies of ``client``'s cookies ``names`` (what an attacker would steal)."""
    other = client.application.test_client()
    for name in names:
        cookie = client.get_cookie(name)
        assert cookie is not None, name
        other.set_cookie(name, cookie.value)
    return other


def _logout(client) -> None:
    token = _csrf(client.get("/account").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302


def test_logout_ends_the_remember_me_login_and_every_copy_of_the_cookies(app, org):
    browser = _login(app, "staff_ene", remember=True)
    remembered = _copy(browser, "remember_token")  # a copy of the remember-me cookie alone
    session_copy = _copy(browser, "session")  # a copy of the session cookie alone
    assert _signed_in(remembered) and _signed_in(session_copy)  # both work while the session lives
    _logout(browser)
    assert not _signed_in(browser)
    assert not _signed_in(_copy(remembered, "remember_token"))
    assert not _signed_in(session_copy)
    assert _signed_in(_login(app, "staff_ene"))  # signing in again opens a new session


def test_logout_of_one_browser_leaves_the_others_signed_in(app, org):
    first, second = _login(app, "staff_ene"), _login(app, "staff_ene")
    _logout(first)
    assert not _signed_in(first) and _signed_in(second)


def test_deactivation_ends_sessions_and_tokens_for_good(app, org):
    browser = _login(app, "staff_ene", remember=True)
    remembered = _copy(browser, "remember_token")
    token = Api(app.test_client(), "staff_ene")
    assert token.get("/tasks").status_code == 200
    cli = app.test_cli_runner()
    assert cli.invoke(args=["cmsflow", "update-user", "staff_ene", "--inactive"]).exit_code == 0
    assert not _signed_in(browser) and token.get("/tasks").status_code == 401
    out = cli.invoke(args=["cmsflow", "update-user", "staff_ene", "--active"])
    assert out.exit_code == 0, out.output
    assert not _signed_in(browser)  # the old session stays ended ...
    assert not _signed_in(_copy(remembered, "remember_token"))  # ... and so does its remember-me cookie
    res = token.get("/tasks")
    assert res.status_code == 401 and res.get_json()["error"]["code"] == "token_revoked"
    assert _signed_in(_login(app, "staff_ene"))  # the reactivated user signs in anew
    assert Api(app.test_client(), "staff_ene").get("/tasks").status_code == 200


def test_a_password_change_keeps_this_session_and_ends_the_others(app, org):
    here, there = _login(app, "staff_ene"), _login(app, "staff_ene")
    token = _csrf(here.get("/account").get_data(as_text=True))
    res = here.post("/account", data={"csrf_token": token, "current": PASSWORD, "new": "Another-secret-42",
                                      "confirm": "Another-secret-42"})
    assert res.status_code == 302, res.get_data(as_text=True)
    assert _signed_in(here) and not _signed_in(there)


@pytest.mark.parametrize("target", [
    "/\t/evil.example", "/\\evil.example", "//evil.example", "/\n/evil.example", "https://evil.example",
    "/\r\n/evil.example", " //evil.example", "/\x00/evil.example", "javascript:alert(1)", "/%09/evil.example/\t",
])
def test_no_next_leads_off_the_site(app, org, target):
    def stays(res) -> bool:  # home, or refused outright (a NUL is a 400 on every page)
        return res.status_code == 400 or (res.status_code == 302 and res.headers["Location"] == "/")

    client = app.test_client()
    assert stays(client.get("/lang/en", query_string={"next": target}))
    token = _csrf(client.get("/login").get_data(as_text=True))
    assert stays(client.post("/login", query_string={"next": target},
                             data={"username": "staff_ene", "password": PASSWORD, "csrf_token": token}))


def test_a_next_on_the_site_is_followed(app, org):
    res = app.test_client().get("/lang/en", query_string={"next": "/documents/?q=1"})
    assert res.headers["Location"] == "/documents/?q=1"
