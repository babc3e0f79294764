"""Sign-in, CSRF, access control on pages, the English switch, and forms that keep user input."""
from __future__ import annotations

import re

import pytest

from tests.conftest import PASSWORD


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


@pytest.fixture
def web(app, org):

    def login(username, password=PASSWORD):
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        res = client.post("/login", data={"username": username, "password": password, "csrf_token": _csrf(page)})
        return client, res
    return login


def test_pages_require_sign_in(app, org):
    res = app.test_client().get("/documents/")
    assert res.status_code == 302 and "/login" in res.headers["Location"]
    css = app.test_client().get("/static/web/app.css")  # the login page is styled before anyone signs in
    assert css.status_code == 200 and css.mimetype == "text/css"


def test_wrong_password_is_refused_and_right_one_signs_in(web):
    _, res = web("staff_ene", "nope")
    assert res.status_code == 200 and "用户名或密码错误" in res.get_data(as_text=True)
    client, res = web("staff_ene")
    assert res.status_code == 302
    assert "我的待办" in client.get("/").get_data(as_text=True)


def test_login_form_without_csrf_token_is_rejected(app, org):
    client = app.test_client()
    client.get("/login")
    res = client.post("/login", data={"username": "staff_ene", "password": PASSWORD})
    assert res.status_code == 400
    assert client.get("/documents/").status_code == 302  # still signed out


def test_session_cookie_is_httponly(web):
    _, res = web("staff_ene")
    cookie = res.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_english_switch_translates_the_interface(web):
    client, _ = web("staff_ene")
    client.get("/lang/en")
    html = client.get("/documents/").get_data(as_text=True)
    assert "Controlled document register" in html and "受控文件清单" not in html
    client.get("/lang/zh_CN")
    assert "受控文件清单" in client.get("/documents/").get_data(as_text=True)


def test_invalid_new_document_form_keeps_the_input(web):
    client, _ = web("staff_ene")
    page = client.get("/documents/new?template=procedure").get_data(as_text=True)
    res = client.post("/documents/new?template=procedure", data={
        "csrf_token": _csrf(page), "title": "能源计量器具管理程序", "department": "ENE", "clauses": "",
        "f_purpose": "规范计量器具的配备与检定", "f_scope": ""})
    html = res.get_data(as_text=True)
    assert res.status_code == 200
    assert "能源计量器具管理程序" in html and "规范计量器具的配备与检定" in html
    assert html.count('class="error"') >= 2  # scope and steps are required


def test_unknown_clause_is_refused_with_a_message(web):
    client, _ = web("staff_ene")
    page = client.get("/documents/new?template=procedure").get_data(as_text=True)
    res = client.post("/documents/new?template=procedure", data={
        "csrf_token": _csrf(page), "title": "程序", "department": "ENE", "clauses": "ISO9001-8.5",
        "f_purpose": "a", "f_scope": "b", "f_responsibilities": "c", "f_steps": "d"})
    assert "条款库中没有这些条款" in res.get_data(as_text=True)


def test_full_approval_through_the_pages_with_signature(web):
    staff, _ = web("staff_ene")
    page = staff.get("/documents/new?template=procedure").get_data(as_text=True)
    res = staff.post("/documents/new?template=procedure", data={
        "csrf_token": _csrf(page), "title": "温室气体排放管理程序", "department": "ENE", "clauses": "TCECAG:8.2",
        "f_purpose": "识别排放源", "f_scope": "全厂", "f_responsibilities": "能源管理部\n生产部",
        "f_steps": "收集数据\n核算排放"})
    assert res.status_code == 302
    detail_url = res.headers["Location"]
    detail = staff.get(detail_url).get_data(as_text=True)
    assert "CEMS-PR-001" in detail
    staff.post(detail_url + "/submit", data={"csrf_token": _csrf(detail)})

    head, _ = web("head_ene")
    inbox = head.get("/tasks/").get_data(as_text=True)
    task_url = re.search(r'href="(/tasks/\d+)"', inbox).group(1)
    form = head.get(task_url).get_data(as_text=True)
    res = head.post(task_url, data={"csrf_token": _csrf(form), "decision": "approve", "comment": "同意",
                                    "password": "wrong"})
    html = res.get_data(as_text=True)
    assert "密码不正确" in html
    assert re.search(r'<input checked[^>]*value="approve"', html)  # the choice survives the error
    assert "同意</textarea>" in html
    res = head.post(task_url, data={"csrf_token": _csrf(form), "decision": "approve", "comment": "同意",
                                    "password": PASSWORD})
    assert res.status_code == 302
    assert "部门负责人审核" in staff.get(detail_url).get_data(as_text=True)


def test_other_departments_cannot_open_a_draft(web, new_procedure):
    _, doc = new_procedure()
    client, _ = web("staff_prd")
    assert client.get(f"/documents/{doc['id']}").status_code == 404
