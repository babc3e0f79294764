"""Real clicks and form fills in headless Chromium, one user journey per test (issue 9, item 7).

What a scenario needs beforehand (a submitted document, an earlier approval) is made through the REST API; the
action under test is done in the browser only, and its outcome is read from the pages."""
from __future__ import annotations

import re
from datetime import date, timedelta

from cmsflow.cli import worker_pass
from tests.browser.conftest import playwright_api
from tests.conftest import PASSWORD

expect = playwright_api().expect


def test_sign_in_refuses_a_wrong_password_then_lands_on_home(browse):
    page = browse.page("/login")
    assert page.locator("input[name=csrf_token]").get_attribute("value")  # the real form, CSRF token included
    page.get_by_label("用户名").fill("staff_ene")
    page.get_by_label("密码").fill("wrong-horse-0")
    page.get_by_role("button", name="登录").click()
    expect(page.locator(".flash.error")).to_have_text("用户名或密码错误")
    assert page.url.endswith("/login")

    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r"/$"))
    expect(page.locator("h1")).to_have_text("您好，STAFF_ENE")
    expect(page.locator("header .user")).to_contain_text("STAFF_ENE · 部门人员")


def _submitted_procedure(api, new_procedure, title="温室气体排放管理程序"):
    """A procedure draft by ENE staff, submitted: the ENE head has its review task. Returns the document json."""
    staff, doc = new_procedure(title=title)
    res = staff.post(f"/documents/{doc['id']}/submit")
    assert res.status_code == 200, res.get_json()
    return doc


def _approve_by_api(api, username, task_name):
    client = api(username)
    task = next(t for t in client.get("/tasks").get_json()["tasks"] if t["name"] == task_name)
    res = client.post(f"/tasks/{task['id']}/complete", json={"decision": "approve", "password": PASSWORD})
    assert res.status_code == 200, res.get_json()


def test_inbox_shows_the_review_task_and_opens_it(browse, api, new_procedure):
    doc = _submitted_procedure(api, new_procedure)
    page = browse.sign_in("head_ene")
    inbox_link = page.locator("header nav a", has_text="我的待办")
    expect(inbox_link.locator(".badge")).to_have_text("1")
    inbox_link.click()
    expect(page.get_by_role("heading", name="我的待办")).to_be_visible()
    row = page.locator("table tr", has_text="文件审批")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(f"{doc['code']} {doc['title']}")  # the document by code and title
    row.locator("td").first.get_by_role("link").click()
    expect(page.get_by_text("本操作为电子签名，含义：")).to_contain_text("审核")
    expect(page.get_by_role("link", name=f"{doc['code']} {doc['title']}")).to_have_attribute(
        "href", f"/documents/{doc['id']}")
    page.go_back()  # the final screenshot shows the inbox
    expect(page.locator("table tr", has_text="文件审批")).to_have_count(1)


def test_approval_with_electronic_signature_makes_the_document_effective(browse, api, new_procedure):
    doc = _submitted_procedure(api, new_procedure)
    _approve_by_api(api, "head_ene", "review")  # the department head's review; the MR's approval is under test
    page = browse.sign_in("mr")
    page.locator("header nav a", has_text="我的待办").click()
    page.locator("table tr", has_text="文件审批").locator("td").first.get_by_role("link").click()
    expect(page.get_by_text("本操作为电子签名，含义：")).to_contain_text("批准")
    page.get_by_label("同意").check()
    page.get_by_label("意见").fill("符合 DB44/T 1944 的要求，同意发布。")
    signature = page.get_by_label("电子签名：请再次输入您的密码")
    signature.fill("not-my-password-1")
    page.get_by_role("button", name="提交").click()
    expect(page.locator(".flash.error")).to_have_text("电子签名失败：密码不正确")  # a wrong password does not sign
    expect(page.locator(".field.has-error")).to_contain_text("电子签名失败：密码不正确")

    page.get_by_label("同意").check()
    signature.fill(PASSWORD)
    page.get_by_role("button", name="提交").click()
    expect(page.locator(".flash.success")).to_have_text("任务已完成")
    page.goto(f"/documents/{doc['id']}")
    expect(page.locator("h1")).to_contain_text(doc["code"])
    expect(page.locator("h1 .status")).to_have_text("生效")
    expect(page.locator("dl.meta")).to_contain_text("V1")
    expect(page.get_by_role("link", name="下载受控版本")).to_be_visible()


def _submit_step(page, status_after: str | re.Pattern):
    """Submit the current step's form on the nonconformity page; the page then shows ``status_after``."""
    page.locator("form.card").get_by_role("button", name="提交").click()
    expect(page.locator(".flash.success")).to_have_text("已提交")
    expect(page.locator("h1 .status")).to_have_text(status_after)


def test_nonconformity_is_raised_and_closed_through_its_corrective_action_steps(app, browse, monkeypatch):
    # no waiting period before the effectiveness check (default 30 days): the worker's pass opens it at once
    monkeypatch.setitem(app.config, "CA_VERIFICATION_WAIT_DAYS", 0)
    auditor = browse.sign_in("auditor")
    auditor.locator("header nav a", has_text="不符合项").click()
    auditor.get_by_role("link", name="提出不符合项").click()
    auditor.locator("[name=title]").fill("熟料产量计量数据未按程序复核")
    auditor.locator("[name=source]").select_option("internal_audit")
    auditor.locator("[name=department]").select_option("PRD")
    auditor.locator("[name=clauses]").fill("DB44T1944:9.1")
    auditor.locator("[name=description]").fill("抽查2026年9月生产日报，熟料产量数据未经能源管理部复核即用于排放核算。")
    auditor.locator("[name=evidence]").fill("2026年9月生产日报第3、7、15日")
    auditor.get_by_role("button", name="提交").click()
    expect(auditor.locator(".flash.success")).to_contain_text("已提出")
    expect(auditor.locator("h1 .status")).to_have_text("待部门确认")
    nc_url = auditor.url

    head = browse.sign_in("head_prd")  # the responsible department head finds the step in the inbox
    head.locator("header nav a", has_text="我的待办").click()
    head.locator("table tr", has_text="纠正措施").locator("td").first.get_by_role("link").click()
    assert head.url == nc_url
    head.get_by_label("确认不符合").check()
    _submit_step(head, "纠正处置中")
    head.locator("[name=correction]").fill("已补充复核9月数据并重新核算")
    _submit_step(head, "原因分析中")
    for i, why in enumerate(["数据未复核", "程序未规定复核节点", "编制程序时未识别该接口"], start=1):
        head.locator(f"[name=why{i}]").fill(why)
    head.get_by_label("方法").check()
    head.locator("[name=root_cause]").fill("监测程序未规定生产数据与能源数据的交接复核")
    head.locator("[name=similar_check]").fill("排查能源、采购部门，未发现类似情况")
    head.get_by_label("不需要").check()
    _submit_step(head, "制定措施中")
    head.locator("[name=a0_description]").fill("修订监测与测量程序，增加复核节点")
    head.locator("[name=a0_owner]").select_option("head_prd")
    head.locator("[name=a0_due_date]").fill((date.today() + timedelta(days=20)).isoformat())
    _submit_step(head, "措施实施中")
    head.locator("textarea[name^=evidence_]").fill("程序 CEMS-PR-003 第2版已发布")
    # with a zero wait the timer usually fires as the step is saved; else the background worker's pass fires it
    _submit_step(head, re.compile("等待验证期|有效性验证中"))
    with app.app_context():
        worker_pass()

    auditor.goto(nc_url)  # the auditor verifies: not the implementer
    browse.final(auditor)
    expect(auditor.locator("h1 .status")).to_have_text("有效性验证中")
    auditor.get_by_label("有效，关闭").check()
    auditor.locator("[name=comment]").fill("抽查10月至11月日报，均有能源管理部复核签字")
    _submit_step(auditor, "已关闭")
    expect(auditor.locator("dl.meta").last).to_contain_text("关闭时间")


def test_search_in_chinese_finds_the_effective_document_by_a_word_of_its_text(browse, api, new_procedure):
    doc = _submitted_procedure(api, new_procedure)
    _approve_by_api(api, "head_ene", "review")
    _approve_by_api(api, "mr", "mr_approval")
    page = browse.sign_in("staff_prd")
    box = page.get_by_placeholder("搜索文件…")
    box.fill("光伏组件")  # in no document: the page must not simply list everything
    box.press("Enter")
    expect(page.locator("main p.muted")).to_have_text("找到 0 条结果")
    box = page.locator("main [name=q]")
    box.fill("余热发电")  # a word of the procedure's scope, not of its title
    page.locator("main").get_by_role("button", name="搜索").click()
    expect(page.locator("main p.muted")).to_have_text("找到 1 条结果")
    hit = page.locator(".result").first
    expect(hit.get_by_role("link")).to_have_text(re.compile(doc["title"]))
    expect(hit.locator(".snippet")).to_contain_text("余热")
    hit.get_by_role("link").click()
    expect(page.locator("h1")).to_contain_text(f"{doc['code']} {doc['title']}")
    page.go_back()  # the final screenshot shows the results


def test_switching_the_language_to_english_shows_english_labels(browse):
    page = browse.sign_in("staff_ene")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    page.locator("header .user").get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Hello, STAFF_ENE")
    nav = page.locator("header nav")
    for label in ("My tasks", "Documents", "Nonconformities", "Search"):
        expect(nav.get_by_role("link", name=label, exact=True)).to_be_visible()
    expect(page.locator("header .user").get_by_role("button", name="Sign out")).to_be_visible()
    nav.get_by_role("link", name="Nonconformities", exact=True).click()  # the choice holds on the next page
    expect(page.get_by_role("link", name="Raise a nonconformity")).to_be_visible()
    expect(page.locator("header .user").get_by_role("link", name="中文")).to_be_visible()
