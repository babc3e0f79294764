"""Sessions and accounts (issue 9 item 4): lockout after failed passwords, the IP rate limit, API tokens
(hashed, expiring, revocable), the password policy and account changes in the history.

OWASP ASVS 2.1 (passwords), 2.2.1 (anti-automation), 3.5 (tokens), 7.1/7.2 (logging); 21 CFR Part 11 §11.300(d).
"""
from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
import time_machine
from sqlmodel import select

from cmsflow.auth.models import ApiToken, User
from cmsflow.core.db import session_scope, utcnow
from cmsflow.history.models import ActivityEntry
from tests.conftest import PASSWORD, signed_in

LOCKED = "登录失败次数过多"


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def _login(app, username: str, password: str, client=None, **extra):
    client = client or app.test_client()
    token = _csrf(client.get("/login").get_data(as_text=True))
    res = client.post("/login", data={"username": username, "password": password, "csrf_token": token, **extra})
    return client, res


def _history(app, action: str) -> list[ActivityEntry]:
    with app.app_context(), session_scope() as s:
        return list(s.exec(select(ActivityEntry).where(ActivityEntry.action == action).order_by(ActivityEntry.id)))


def _uid(app, username: str) -> int:
    with app.app_context(), session_scope() as s:
        return s.exec(select(User.id).where(User.username == username)).one()


# --- lockout ----------------------------------------------------------------------------------------------

def test_five_wrong_passwords_lock_the_account_with_a_message(app, org):
    for i in range(4):
        _, res = _login(app, "staff_ene", f"wrong-{i}")
        assert res.status_code == 200 and "用户名或密码错误" in res.get_data(as_text=True)
    _, res = _login(app, "staff_ene", "wrong-4")
    html = res.get_data(as_text=True)
    assert LOCKED in html and "15 分钟" in html
    client, res = _login(app, "staff_ene", PASSWORD)  # the right password is refused while locked
    assert res.status_code == 200 and LOCKED in res.get_data(as_text=True)
    assert client.get("/documents/").status_code == 302
    assert len(_history(app, "login_failed")) == 6
    locked = _history(app, "account_locked")
    assert len(locked) == 1 and locked[0].subject_id == org["staff_ene"] and locked[0].details["failures"] == 5


def _review_task(api, new_procedure):
    """A submitted ENE procedure: returns (head_ene's API client, the review task id, the document id)."""
    staff, doc = new_procedure()
    assert staff.post(f"/documents/{doc['id']}/submit").status_code == 200
    head = api("head_ene")
    return head, head.get("/tasks").get_json()["tasks"][0]["id"], doc["id"]


def test_wrong_signature_passwords_count_towards_the_lock_and_tell_the_administrator(app, api, org, new_procedure):
    """21 CFR Part 11 §11.300(d): attempts at unauthorised use of a signature are detected and reported."""
    head, task_id, doc_id = _review_task(api, new_procedure)
    for i in range(4):
        res = head.post(f"/tasks/{task_id}/complete", json={"decision": "approve", "password": f"guess-{i}"})
        assert res.status_code == 403 and res.get_json()["error"]["code"] == "bad_signature"
    _, res = _login(app, "head_ene", "wrong-once-more")  # the fifth failure, at the sign-in page, locks
    assert LOCKED in res.get_data(as_text=True)
    res = head.post(f"/tasks/{task_id}/complete", json={"decision": "approve", "password": PASSWORD})
    assert res.status_code == 403 and res.get_json()["error"]["code"] == "account_locked"  # not even the right one
    assert head.get(f"/documents/{doc_id}").get_json()["status"] == "in_review"  # nothing was signed
    failed = _history(app, "signature_failed")
    assert [e.details["attempt"] for e in failed] == [1, 2, 3, 4] and failed[0].subject_id == org["head_ene"]
    assert len(_history(app, "signature_refused")) == 1
    admin = signed_in(app, org["admin"]).get("/notifications").get_data(as_text=True)
    assert "head_ene" in admin and "已锁定" in admin


def test_five_wrong_signatures_lock_the_account(app, api, org, new_procedure):
    head, task_id, _doc_id = _review_task(api, new_procedure)
    for i in range(5):
        res = head.post(f"/tasks/{task_id}/complete", json={"decision": "approve", "password": f"guess-{i}"})
        assert res.status_code == 403
    _, res = _login(app, "head_ene", PASSWORD)
    assert LOCKED in res.get_data(as_text=True)
    locked = _history(app, "account_locked")
    assert len(locked) == 1 and locked[0].details["via"] == "signature"


def test_an_unknown_name_gets_the_same_answers(app, org):
    """Wrong password and unknown name read the same, and both lock: the lockout does not reveal names."""
    answers = {}
    for name in ("staff_ene", "no_such_user"):
        pages = [_login(app, name, f"wrong-{i}")[1].get_data(as_text=True) for i in range(6)]
        answers[name] = [re.search(r'<div class="flash error">([^<]+)</div>', p).group(1) for p in pages]
    assert answers["staff_ene"] == answers["no_such_user"]
    assert LOCKED in answers["no_such_user"][-1]


def test_a_success_resets_the_count(app, org):
    for _ in range(2):
        for i in range(4):
            _login(app, "staff_ene", f"wrong-{i}")
        client, res = _login(app, "staff_ene", PASSWORD)
        assert res.status_code == 302
    assert _history(app, "account_locked") == []
    assert len(_history(app, "signed_in")) == 2


def test_the_lock_runs_out(app, org):
    for i in range(5):
        _login(app, "staff_ene", f"wrong-{i}")
    with time_machine.travel(utcnow() + timedelta(minutes=16), tick=False):
        _, res = _login(app, "staff_ene", PASSWORD)
    assert res.status_code == 302


def test_configured_threshold_and_api_token_endpoint(app, org, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES", 3)
    client = app.test_client()
    for _ in range(2):
        res = client.post("/api/v1/auth/token", json={"username": "mr", "password": "nope"})
        assert res.status_code == 401 and res.get_json()["error"]["code"] == "invalid_credentials"
    res = client.post("/api/v1/auth/token", json={"username": "mr", "password": "nope"})
    assert res.status_code == 401 and res.get_json()["error"]["code"] == "account_locked"
    res = client.post("/api/v1/auth/token", json={"username": "mr", "password": PASSWORD})
    assert res.get_json()["error"]["code"] == "account_locked" and "已锁定" in res.get_json()["error"]["message"]
    assert {e.details["via"] for e in _history(app, "login_failed")} == {"api"}


def test_admin_unlocks_on_the_page_and_the_command_line(app, org):
    for i in range(5):
        _login(app, "staff_ene", f"wrong-{i}")
    admin = signed_in(app, org["admin"])
    page = admin.get("/admin/users").get_data(as_text=True)
    assert "锁定至" in page
    assert signed_in(app, org["mr"]).get("/admin/users").status_code == 403
    res = admin.post(f"/admin/users/{org['staff_ene']}/unlock", data={"csrf_token": _csrf(page)})
    assert res.status_code == 302
    assert _login(app, "staff_ene", PASSWORD)[1].status_code == 302
    unlocked = _history(app, "account_unlocked")
    assert len(unlocked) == 1 and unlocked[0].actor_id == org["admin"] and unlocked[0].details["was_locked"]
    for i in range(5):
        _login(app, "staff_ene", f"wrong-{i}")
    out = app.test_cli_runner().invoke(args=["cmsflow", "unlock-user", "staff_ene"])
    assert out.exit_code == 0 and "已解锁" in out.output
    assert _login(app, "staff_ene", PASSWORD)[1].status_code == 302
    assert _history(app, "account_unlocked")[-1].details["via"] == "cli"


def test_rate_limit_on_sign_in_endpoints_answers_429(app, org, monkeypatch):
    from cmsflow.web.setup import limiter

    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT_ENABLED", True)
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "3 per minute")
    limiter.reset()
    try:
        client = app.test_client()
        codes = [client.post("/api/v1/auth/token", json={"username": "mr", "password": PASSWORD}).status_code
                 for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        res = client.post("/api/v1/auth/token", json={"username": "mr", "password": PASSWORD})
        assert res.get_json()["error"] == {"code": "rate_limited", "message": "尝试次数过多，请稍后再试"}
        assert "Retry-After" in res.headers
        token = _csrf(client.get("/login").get_data(as_text=True))
        statuses = [client.post("/login", data={"username": "x", "password": "y", "csrf_token": token}).status_code
                    for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        page = client.post("/login", data={"username": "x", "password": "y", "csrf_token": token})
        assert page.status_code == 429 and "尝试次数过多" in page.get_data(as_text=True)
        assert client.get("/login").status_code == 200  # only POST is limited
    finally:
        limiter.reset()


# --- API tokens ---------------------------------------------------------------------------------------------

def test_tokens_are_stored_hashed_and_issuing_is_recorded(app, api):
    a = api("staff_ene")
    value = a.headers["Authorization"][7:]
    with app.app_context(), session_scope() as s:
        rows = s.exec(select(ApiToken)).all()
    assert [r.token_hash for r in rows] == [hashlib.sha256(value.encode()).hexdigest()]
    assert value not in str([vars(r) for r in rows])
    assert _history(app, "token_issued")[0].details["token_id"] == rows[0].id


def test_listing_and_revoking_tokens(app, api, org):
    a, other = api("staff_ene"), api("mr")
    listed = a.get("/tokens").get_json()["tokens"]
    assert len(listed) == 1 and listed[0]["current"] and listed[0]["revoked_at"] is None
    mine = listed[0]["id"]
    theirs = other.get("/tokens").get_json()["tokens"][0]["id"]
    assert a.client.delete(f"/api/v1/tokens/{theirs}", headers=a.headers).status_code == 404
    res = a.client.delete(f"/api/v1/tokens/{mine}", headers=a.headers)
    assert res.status_code == 200 and res.get_json()["revoked_at"]
    res = a.get("/tokens")
    assert res.status_code == 401 and res.get_json()["error"] == {"code": "token_revoked",
                                                                   "message": "令牌已撤销，请重新获取"}
    assert other.get("/tokens").status_code == 200
    revoked = _history(app, "token_revoked")
    assert len(revoked) == 1 and revoked[0].actor_id == org["staff_ene"] and revoked[0].details["token_id"] == mine


def test_revoking_a_token_on_the_account_page(app, api, org):
    a = api("staff_ene")
    client = signed_in(app, org["staff_ene"])
    page = client.get("/account").get_data(as_text=True)
    assert "API 令牌" in page and "有效" in page
    token_id = a.get("/tokens").get_json()["tokens"][0]["id"]
    res = client.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": _csrf(page)})
    assert res.status_code == 302
    assert a.get("/tokens").status_code == 401
    assert "已撤销" in client.get("/account").get_data(as_text=True)


def test_an_expired_token_is_401_with_a_clear_error(app, api):
    a = api("staff_ene")
    assert a.get("/tokens").status_code == 200
    with time_machine.travel(utcnow() + timedelta(hours=app.config["API_TOKEN_TTL_HOURS"], minutes=1), tick=False):
        res = a.get("/documents")
    assert res.status_code == 401
    assert res.get_json()["error"] == {"code": "token_expired", "message": "令牌已过期，请重新获取"}


def test_a_deactivated_users_token_stops_working(app, api):
    a = api("staff_ene")
    out = app.test_cli_runner().invoke(args=["cmsflow", "update-user", "staff_ene", "--inactive"])
    assert out.exit_code == 0, out.output
    assert a.get("/tokens").status_code == 401


# --- password policy ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("password,username,rule", [
    ("Sh0rt-pw", "qian", "至少 10 位"), ("12345678901234", "qian", "全是数字"), ("abcdefghijklmn", "qian", "全是字母"),
    ("qian.jiliang", "qian.jiliang", "用户名"), ("my-qian.jiliang-1", "qian.jiliang", "用户名"),
    ("Password123", "qian", "过于常见"), ("x" * 129 + "1", "qian", "128"),
])
def test_password_policy_refuses_weak_passwords(password, username, rule):
    from cmsflow.auth.service import check_password_policy
    from cmsflow.core.errors import ValidationError

    with pytest.raises(ValidationError) as exc:
        check_password_policy(password, username)
    assert exc.value.code == "weak_password" and rule in exc.value.message


def test_the_demo_test_and_bench_passwords_pass_the_policy():
    from bench.generate import BENCH_PASSWORD
    from cmsflow.auth.service import check_password_policy
    from cmsflow.demo.seed import DEMO_PASSWORD, DEMO_USERS

    for username, *_ in DEMO_USERS:
        check_password_policy(DEMO_PASSWORD, username)
    check_password_policy(PASSWORD, "staff_ene")
    check_password_policy(BENCH_PASSWORD, "head.01")


def test_policy_on_create_user_and_set_password_commands(app, org):
    run = app.test_cli_runner().invoke
    bad = run(args=["cmsflow", "create-user", "qian", "--password", "1234567890", "--role", "admin"])
    assert bad.exit_code != 0 and "全是数字" in bad.output
    bad = run(args=["cmsflow", "set-password", "staff_ene", "--password", "short"])
    assert bad.exit_code != 0 and "至少 10 位" in bad.output
    ok = run(args=["cmsflow", "set-password", "staff_ene", "--password", "new-secret-42"])
    assert ok.exit_code == 0, ok.output
    assert _login(app, "staff_ene", "new-secret-42")[1].status_code == 302
    assert _history(app, "password_reset")[0].details == {"username": "staff_ene", "via": "cli"}
    ok = run(args=["cmsflow", "create-user", "qian", "--password", "river-secret-42", "--role", "department_head",
                   "--department", "ENE"])
    assert ok.exit_code == 0, ok.output
    created = [e for e in _history(app, "user_created") if e.details["username"] == "qian"]
    assert len(created) == 1 and created[0].actor_id is None
    assert created[0].details == {"username": "qian", "role": "department_head", "department": "ENE", "via": "cli"}


def test_changing_ones_own_password(app, org):
    client = signed_in(app, org["staff_ene"])
    page = client.get("/account").get_data(as_text=True)
    data = {"csrf_token": _csrf(page), "current": "wrong", "new": "new-secret-42", "confirm": "new-secret-42"}
    assert "当前密码不正确" in client.post("/account", data=data).get_data(as_text=True)
    html = client.post("/account", data={**data, "current": PASSWORD, "new": "abcdefghijk",
                                         "confirm": "abcdefghijk"}).get_data(as_text=True)
    assert "全是字母" in html
    html = client.post("/account", data={**data, "current": PASSWORD, "confirm": "other-secret-42"}).get_data(
        as_text=True)
    assert "两次输入的新密码不一致" in html
    res = client.post("/account", data={**data, "current": PASSWORD})
    assert res.status_code == 302
    assert _login(app, "staff_ene", PASSWORD)[1].status_code == 200
    assert _login(app, "staff_ene", "new-secret-42")[1].status_code == 302
    changed = _history(app, "password_changed")
    assert len(changed) == 1 and changed[0].actor_id == org["staff_ene"] and "new-secret" not in str(changed[0].details)


def test_a_password_change_ends_the_other_sessions_and_revokes_the_tokens(app, api, org):
    mine, elsewhere = signed_in(app, org["staff_ene"]), signed_in(app, org["staff_ene"])
    token = api("staff_ene")
    assert elsewhere.get("/").status_code == 200 and token.get("/tasks").status_code == 200
    data = {"csrf_token": _csrf(mine.get("/account").get_data(as_text=True)), "current": PASSWORD,
            "new": "new-secret-42", "confirm": "new-secret-42"}
    assert mine.post("/account", data=data).status_code == 302
    assert mine.get("/").status_code == 200  # the session that changed it goes on
    assert "/login" in elsewhere.get("/").headers["Location"]  # another browser is signed out
    res = token.get("/tasks")
    assert res.status_code == 401 and res.get_json()["error"]["code"] == "token_revoked"
    assert _history(app, "tokens_revoked")[0].details == {"count": 1}


def test_a_password_reset_by_the_administrator_signs_the_user_out_everywhere(app, api, org):
    from cmsflow.auth.service import reset_password

    browser, token = signed_in(app, org["head_ene"]), api("head_ene")
    with app.app_context(), session_scope() as s:
        reset_password(s, s.get(User, org["admin"]), s.get(User, org["head_ene"]), "reset-secret-77", via="web")
    assert "/login" in browser.get("/").headers["Location"]
    assert token.get("/tasks").status_code == 401


# --- account changes in the history ------------------------------------------------------------------------------

def test_role_department_and_active_changes_on_the_admin_page_are_recorded(app, org):
    admin = signed_in(app, org["admin"])
    token = _csrf(admin.get("/admin/users").get_data(as_text=True))
    res = admin.post(f"/admin/users/{org['staff_ene']}", data={"csrf_token": token, "role": "department_head",
                                                               "department": "PRD", "active": "1"})
    assert res.status_code == 302
    entry = _history(app, "user_changed")[-1]
    assert entry.actor_id == org["admin"] and entry.subject_id == org["staff_ene"]
    assert entry.details["changes"] == {"role": ["staff", "department_head"], "department": ["ENE", "PRD"]}
    admin.post(f"/admin/users/{org['staff_ene']}", data={"csrf_token": token, "role": "department_head",
                                                         "department": "PRD"})  # active unticked
    assert _history(app, "user_changed")[-1].details["changes"] == {"active": [True, False]}
    assert _login(app, "staff_ene", PASSWORD)[1].status_code == 200  # deactivated: cannot sign in
    res = admin.post(f"/admin/users/{org['admin']}", data={"csrf_token": token, "role": "staff",
                                                           "department": "ENE", "active": "1"}, follow_redirects=True)
    assert "不能取消自己的角色" in res.get_data(as_text=True)
    mr = signed_in(app, org["mr"])
    mr_token = _csrf(mr.get("/account").get_data(as_text=True))
    res = mr.post(f"/admin/users/{org['staff_ene']}", data={"csrf_token": mr_token, "role": "admin"})
    assert res.status_code == 403
    assert len(_history(app, "user_changed")) == 2


def test_role_changes_on_the_command_line_are_recorded(app, org):
    run = app.test_cli_runner().invoke
    out = run(args=["cmsflow", "update-user", "staff_ene", "--role", "internal_auditor", "--department", ""])
    assert out.exit_code == 0 and "staff → internal_auditor" in out.output, out.output
    entry = _history(app, "user_changed")[-1]
    assert entry.actor_id is None and entry.details["via"] == "cli"
    assert entry.details["changes"] == {"role": ["staff", "internal_auditor"], "department": ["ENE", None]}
    bad = run(args=["cmsflow", "update-user", "staff_ene", "--role", "king"])
    assert bad.exit_code != 0 and "未知角色" in bad.output
    bad = run(args=["cmsflow", "update-user", "staff_ene", "--role", "staff"])
    assert bad.exit_code != 0 and "必须指定部门" in bad.output
    assert run(args=["cmsflow", "update-user", "nobody", "--inactive"]).exit_code != 0
