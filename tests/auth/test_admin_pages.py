"""Administration on the pages (issue 20 item 7): the administrator creates users, deactivates and reactivates them,
resets a password to a temporary one the user must change at the next sign-in, and creates and renames
departments — with the command line's password policy and history. OWASP ASVS 4.0.3 V2.1, V3.3, V7.1;
21 CFR Part 11 §11.10(d), §11.300."""
from __future__ import annotations

import re

from sqlmodel import select

from cmsflow.auth.models import Department, User
from cmsflow.core.db import session_scope
from cmsflow.history.models import ActivityEntry
from tests.conftest import PASSWORD, Api, signed_in

NEW_PASSWORD = "fresh-start-42"


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def _history(app, action: str) -> list[ActivityEntry]:
    with app.app_context(), session_scope() as s:
        return list(s.exec(select(ActivityEntry).where(ActivityEntry.action == action).order_by(ActivityEntry.id)))


def _user(app, username: str) -> User:
    with app.app_context(), session_scope() as s:
        return s.exec(select(User).where(User.username == username)).one()


def _login(app, username: str, password: str = PASSWORD):
    client = app.test_client()
    token = _csrf(client.get("/login").get_data(as_text=True))
    res = client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    return client, res


def _admin(app, org):
    client = signed_in(app, org["admin"])
    return client, _csrf(client.get("/admin/users").get_data(as_text=True))


def _change_password(client, current: str, new: str = NEW_PASSWORD):
    token = _csrf(client.get("/account").get_data(as_text=True))
    return client.post("/account", data={"csrf_token": token, "current": current, "new": new, "confirm": new})


# --- the users page ---------------------------------------------------------------------------------------------

def test_the_users_table_has_a_header_for_every_cell_and_full_role_labels(app, org):
    admin, _token = _admin(app, org)
    html = admin.get("/admin/users").get_data(as_text=True)
    table = html[html.index('<table class="users">'):html.index("</table>")]
    headers = len(re.findall(r"<th[ >]", table))
    rows = re.findall(r'<tr id="user-\d+">(.*?)</tr>', table, re.S)
    assert len(rows) == len(org)
    assert all(len(re.findall(r"<td[ >]", row)) == headers for row in rows)
    assert "colspan" not in table
    for label in ("管理者代表", "最高管理者", "内审员", "部门负责人", "部门人员", "系统管理员"):
        assert f">{label}</option>" in table
    own = next(row for row in rows if ">admin<" in row)  # no control that would demote, deactivate or reset oneself
    assert '<select name="role"' not in own and "停用" not in own and "重置密码" not in own
    res = admin.get(f"/admin/users/{org['admin']}/password")  # one's own password: on /account, with the current
    assert res.status_code == 302 and res.headers["Location"].endswith("/account")


def test_the_admin_creates_a_user_who_signs_in_and_must_change_the_password(app, org):
    admin, token = _admin(app, org)
    form = {"csrf_token": token, "username": "qian", "full_name": "钱工", "role": "staff", "department": "ENE",
            "password": "qian123456"}  # contains the user name: refused by the policy
    res = admin.post("/admin/users/new", data=form)
    html = res.get_data(as_text=True)
    assert res.status_code == 400 and "密码不能与用户名相同或包含用户名" in html
    assert 'value="qian"' in html and 'value="钱工"' in html  # the input stays ...
    assert re.search(r'<option selected value="ENE">|<option value="ENE" selected>', html)
    assert "qian123456" not in html  # ... but not the password
    assert _history(app, "user_created")[len(org):] == []
    res = admin.post("/admin/users/new", data={**form, "password": "temporary-pass-7"})
    assert res.status_code == 302
    entry = _history(app, "user_created")[-1]
    assert entry.actor_id == org["admin"] and entry.details["username"] == "qian"
    assert entry.details["via"] == "web" and entry.details["department"] == "ENE"
    assert "已创建" in admin.get("/admin/users").get_data(as_text=True)
    client, res = _login(app, "qian", "temporary-pass-7")
    assert res.status_code == 302
    assert client.get("/").headers["Location"].endswith("/account")  # first, the temporary password goes
    assert _change_password(client, "temporary-pass-7").status_code == 302
    assert client.get("/").status_code == 200


def test_a_generated_password_is_shown_once_and_passes_the_policy(app, org):
    admin, token = _admin(app, org)
    res = admin.post("/admin/users/new", data={"csrf_token": token, "username": "sun", "role": "internal_auditor",
                                               "department": "", "generate": "y"})
    assert res.status_code == 200
    password = re.search(r'<code class="temporary-password">([^<]+)</code>', res.get_data(as_text=True)).group(1)
    assert len(password) >= 10
    assert password not in admin.get("/admin/users").get_data(as_text=True)
    assert _login(app, "sun", password)[1].status_code == 302
    assert _user(app, "sun").must_change_password
    res = admin.post(f"/admin/users/{org['top']}/password", data={"csrf_token": token, "generate": "y"})
    reset = re.search(r'<code class="temporary-password">([^<]+)</code>', res.get_data(as_text=True)).group(1)
    assert res.status_code == 200 and reset != password
    client, res = _login(app, "top", reset)
    assert res.status_code == 302 and client.get("/").headers["Location"].endswith("/account")


# --- password reset ---------------------------------------------------------------------------------------------

def test_a_reset_forces_the_user_to_the_account_page_until_they_change_it(app, org):
    browser, _res = _login(app, "staff_ene")
    admin, _token = _admin(app, org)
    page = admin.get(f"/admin/users/{org['staff_ene']}/password").get_data(as_text=True)
    res = admin.post(f"/admin/users/{org['staff_ene']}/password", data={"csrf_token": _csrf(page),
                                                                       "password": "1234567890"})
    assert res.status_code == 400 and "密码不能全是数字或全是字母" in res.get_data(as_text=True)
    res = admin.post(f"/admin/users/{org['staff_ene']}/password", data={"csrf_token": _csrf(page),
                                                                       "password": "reset-secret-77"})
    assert res.status_code == 302
    entry = _history(app, "password_reset")[-1]
    assert entry.actor_id == org["admin"] and entry.details["temporary"] is True and entry.details["via"] == "web"
    assert "/login" in browser.get("/").headers["Location"]  # the reset ended the user's session
    client, res = _login(app, "staff_ene", "reset-secret-77")
    for path in ("/", "/documents/", "/nonconformities/"):
        res = client.get(path)
        assert res.status_code == 302 and res.headers["Location"].endswith("/account"), path
    account = client.get("/account")
    assert account.status_code == 200 and 'id="temporary-password"' in account.get_data(as_text=True)
    assert "请先修改临时密码" in client.get("/", follow_redirects=True).get_data(as_text=True)
    assert client.get("/static/web/app.css").status_code == 200
    res = client.get("/lang/en?next=/documents/")  # the language switch stays usable ...
    assert res.status_code == 302 and res.headers["Location"].endswith("/documents/")
    assert "Please change your temporary password first" in client.get("/", follow_redirects=True).get_data(
        as_text=True)  # ... and the message is translated
    client.get("/lang/zh_CN")
    res = client.post("/api/v1/auth/token", json={"username": "staff_ene", "password": "reset-secret-77"})
    assert res.status_code == 403 and res.get_json()["error"]["code"] == "password_change_required"
    assert _change_password(client, "reset-secret-77").status_code == 302
    assert not _user(app, "staff_ene").must_change_password
    assert 'id="temporary-password"' not in client.get("/account").get_data(as_text=True)
    assert client.get("/documents/").status_code == 200
    assert Api(app.test_client(), "staff_ene", NEW_PASSWORD).get("/tasks").status_code == 200


def test_set_password_temporary_on_the_command_line(app, org):
    out = app.test_cli_runner().invoke(args=["cmsflow", "set-password", "head_prd", "--password",
                                             "cli-temporary-8", "--temporary"])
    assert out.exit_code == 0, out.output
    client, _res = _login(app, "head_prd", "cli-temporary-8")
    assert client.get("/").headers["Location"].endswith("/account")


# --- deactivate, reactivate -------------------------------------------------------------------------------------

def test_deactivation_on_the_page_ends_the_sessions_and_reactivation_lets_them_sign_in_anew(app, org):
    browser, _res = _login(app, "staff_prd")
    token = Api(app.test_client(), "staff_prd")
    admin, csrf = _admin(app, org)
    res = admin.post(f"/admin/users/{org['staff_prd']}/active", data={"csrf_token": csrf, "active": "0"},
                     follow_redirects=True)
    assert "已停用" in res.get_data(as_text=True)
    assert _history(app, "user_changed")[-1].details["changes"] == {"active": [True, False]}
    assert "/login" in browser.get("/").headers["Location"]
    assert token.get("/tasks").status_code == 401
    assert _login(app, "staff_prd")[1].status_code == 200  # refused: the sign-in page again
    res = admin.post(f"/admin/users/{org['admin']}/active", data={"csrf_token": csrf, "active": "0"},
                     follow_redirects=True)
    assert "不能取消自己的角色或停用自己的账号" in res.get_data(as_text=True)
    assert _user(app, "admin").active
    admin.post(f"/admin/users/{org['staff_prd']}", data={"csrf_token": csrf, "role": "staff", "department": "ENE",
                                                         "keep_active": "1"})  # the row's save keeps it inactive
    assert not _user(app, "staff_prd").active and _user(app, "staff_prd").department_id is not None
    admin.post(f"/admin/users/{org['staff_ene2']}", data={"csrf_token": csrf, "role": "staff", "department": "PRD",
                                                          "keep_active": "1"})
    assert _user(app, "staff_ene2").active  # ... and an active account active
    res = admin.post(f"/admin/users/{org['staff_prd']}/active", data={"csrf_token": csrf, "active": "1"},
                     follow_redirects=True)
    assert "已启用" in res.get_data(as_text=True)
    assert "/login" in browser.get("/").headers["Location"]  # the old session stays ended
    assert _login(app, "staff_prd")[1].status_code == 302


# --- departments ------------------------------------------------------------------------------------------------

def test_departments_are_listed_with_counts_created_and_renamed(app, org):
    admin = signed_in(app, org["admin"])
    html = admin.get("/admin/departments").get_data(as_text=True)
    ene = re.search(r'<tr id="department-\d+">\s*<td>ENE</td>(.*?)</tr>', html, re.S).group(1)
    assert re.findall(r"<td>(\d+)</td>", ene) == ["3", "3"]  # head_ene, staff_ene, staff_ene2
    token = _csrf(html)
    rule = "部门编码须为 2–32 位"
    for code, message in (("ENE", "部门编码 ENE 已存在"), ("e", rule), ("A B", rule), ("X" * 33, rule)):
        res = admin.post("/admin/departments/new", data={"csrf_token": token, "code": code, "name": "财务部"})
        body = res.get_data(as_text=True)
        assert res.status_code == 400 and message in body and 'value="财务部"' in body, code
    res = admin.post("/admin/departments/new", data={"csrf_token": token, "code": "fin", "name": "财务部"},
                     follow_redirects=True)
    assert "部门 FIN 已创建" in res.get_data(as_text=True)
    entry = _history(app, "department_created")[-1]
    assert entry.actor_id == org["admin"] and entry.details["code"] == "FIN" and entry.details["via"] == "web"
    with app.app_context(), session_scope() as s:
        fin = s.exec(select(Department).where(Department.code == "FIN")).one().id
    res = admin.post(f"/admin/departments/{fin}", data={"csrf_token": token, "name": "   "})
    assert res.status_code == 400 and "部门名称不能为空" in res.get_data(as_text=True)
    res = admin.post(f"/admin/departments/{fin}", data={"csrf_token": token, "name": "财务与审计部"},
                     follow_redirects=True)
    assert "已更名为 财务与审计部" in res.get_data(as_text=True)
    entry = _history(app, "department_renamed")[-1]
    assert entry.subject_id == fin and entry.details["changes"] == {"name": ["财务部", "财务与审计部"]}
    page = admin.get("/admin/departments").get_data(as_text=True)
    assert "/delete" not in page and ">删除<" not in page  # no delete is offered


def test_only_the_administrator_sees_the_admin_links_and_pages(app, org):
    admin_home = signed_in(app, org["admin"]).get("/").get_data(as_text=True)
    assert 'href="/admin/users"' in admin_home and 'href="/admin/departments"' in admin_home
    mr = signed_in(app, org["mr"])
    assert 'href="/admin/departments"' not in mr.get("/").get_data(as_text=True)
    token = _csrf(mr.get("/account").get_data(as_text=True))
    assert mr.get("/admin/departments").status_code == 403
    assert mr.post("/admin/departments/new", data={"csrf_token": token, "code": "FIN", "name": "x"}).status_code == 403
    assert mr.post("/admin/users/new", data={"csrf_token": token, "username": "x"}).status_code == 403
    assert mr.post(f"/admin/users/{org['staff_ene']}/password",
                   data={"csrf_token": token, "password": "reset-secret-77"}).status_code == 403
    assert _history(app, "password_reset") == [] and _history(app, "department_created")[4:] == []
