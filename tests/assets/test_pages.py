"""Carbon asset pages: every page renders for the roles, a refused form keeps the user's input, cycle steps
are done on the cycle page, and the dashboard shows the three carbon-asset tiles."""
from __future__ import annotations

import re

import pytest

from tests.assets.conftest import ok
from tests.conftest import PASSWORD, signed_in


def _token(client, path):
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


@pytest.fixture
def cycle(api, ledger):
    mr = api("mr")
    ver = ok(mr.post("/assets/verifications", json={"compliance_year": 2025, "scope": "全厂", "verifier": "核查机构"}))
    ok(mr.client.put(f"/api/v1/assets/verifications/{ver['id']}/result", headers=mr.headers, json={
        "conclusion": "无重大差异", "verified_emissions": "1000", "lock_version": ver["lock_version"]}), 200)
    ok(ledger(kind="allocation", lot="CEA-2025", quantity="1200", account="REG"))
    return ok(mr.post("/assets/cycles", json={"compliance_year": 2025, "department": "ENE",
                                              "deadline": "2099-12-31"})), ver


@pytest.mark.parametrize("user", ["mr", "top", "staff_ene", "auditor"])
def test_every_asset_page_renders_for_the_roles(app, org, cycle, user):
    c, ver = cycle
    client = signed_in(app, org[user])
    for path, text in (("/assets/", "持仓"), ("/assets/register", "CEA-2025"), ("/assets/transactions", "配额分配"),
                       ("/assets/cycles/", c["code"]), (f"/assets/cycles/{c['id']}", "确认核查排放量"),
                       ("/assets/verifications/", ver["code"]), (f"/assets/verifications/{ver['id']}", "核查机构"),
                       ("/assets/neutrality/", "碳中和"), ("/assets/disclosure/", "披露准则")):
        res = client.get(path)
        if user == "staff_ene" and path.split("/")[2] in ("cycles", "verifications", "neutrality", "disclosure"):
            assert res.status_code == 403, path  # staff: holdings and transactions only (route matrix)
            continue
        assert res.status_code == 200, path
        assert text in res.get_data(as_text=True), path
    forms = client.get("/assets/transactions").get_data(as_text=True)
    assert ('name="quantity"' in forms) == (user == "mr")  # only who may trade gets the form


def test_a_refused_transaction_form_keeps_the_input_and_names_the_field(app, org, ledger):
    mr = signed_in(app, org["mr"])
    token = _token(mr, "/assets/transactions")
    res = mr.post("/assets/transactions", data={"csrf_token": token, "kind": "sale", "lot": "1", "account": "2",
                                                "quantity": "12abc", "price": "80", "counterparty": "某电厂<b>"})
    html = res.get_data(as_text=True)
    assert res.status_code == 400 and "数量必须是数字" in html and 'value="12abc"' in html and "某电厂&lt;b&gt;" in html
    res = mr.post("/assets/transactions", data={"csrf_token": token, "kind": "sale", "lot": "1", "account": "2",
                                                "quantity": "5", "price": "80", "counterparty": "某电厂"})
    assert res.status_code == 400 and "余额不能为负" in res.get_data(as_text=True)


def test_cycle_steps_on_the_cycle_page_and_the_dashboard_tiles(app, org, cycle):
    c, ver = cycle
    mr, top = signed_in(app, org["mr"]), signed_in(app, org["top"])
    url = f"/assets/cycles/{c['id']}"
    token = _token(mr, url)
    assert mr.post(f"{url}/steps/confirm_emissions", data={"csrf_token": token,
                                                           "verification_id": ver["id"]}).status_code == 302
    bad = mr.post(f"{url}/steps/propose_decision", data={"csrf_token": token, "decision": "sell",
                                                         "sell_quantity": "500", "note": "出售富余"})
    assert bad.status_code == 400 and "富余配额只有 200.00" in bad.get_data(as_text=True)
    sold = mr.post(f"{url}/steps/propose_decision", data={"csrf_token": token, "decision": "sell",
                                                          "sell_quantity": "200", "note": "出售富余"})
    assert sold.status_code == 302
    token = _token(top, url)
    wrong = top.post(f"{url}/steps/approve_decision", data={"csrf_token": token, "approval": "approve",
                                                            "password": "wrong"})
    assert wrong.status_code == 403
    assert top.post(f"{url}/steps/approve_decision", data={"csrf_token": token, "approval": "approve",
                                                           "password": PASSWORD}).status_code == 302
    assert "执行交易" in mr.get(url).get_data(as_text=True)
    home = mr.get("/").get_data(as_text=True)
    assert "配额盈缺" in home and '<b class="">200</b>' in home
    assert "距下一清缴期限" in home and "碳中和净排放" in home
