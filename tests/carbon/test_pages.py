"""Carbon pages: the activity form keeps the input on error and shows the result, the dashboard charts the
months, a result page traces the figure to its factors."""
from __future__ import annotations

import re

from tests.conftest import signed_in


def _token(client, path):
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def test_activity_form_dashboard_and_breakdown(app, api, org, plant):
    staff = signed_in(app, org["staff_ene"])
    token = _token(staff, "/carbon/activity?period=2026-03")
    bad = staff.post("/carbon/activity", data={"csrf_token": token, "emission_source": str(plant["净购入电力"]),
                                               "period": "2026-03", "quantity": "512.5", "unit": "tonnes"})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 400 and "不适用于此排放源" in html and 'value="512.5"' in html
    ok = staff.post("/carbon/activity", data={"csrf_token": token, "emission_source": str(plant["净购入电力"]),
                                              "period": "2026-03", "quantity": "512.5", "unit": "MWh"})
    assert ok.status_code == 302
    page = staff.get(ok.headers["Location"]).get_data(as_text=True)
    assert "292.278750" in page  # 512.5 MWh × 0.5703 tCO2/MWh

    mr = signed_in(app, org["mr"])
    dash = mr.get("/carbon/?from=2026-01&to=2026-06").get_data(as_text=True)
    assert "<svg" in dash and "292.278750" in dash
    result_id = re.search(r"/carbon/results/(\d+)", page).group(1)
    detail = mr.get(f"/carbon/results/{result_id}").get_data(as_text=True)
    assert "全国电网平均排放因子" in detail and "生态环境部公告" in detail and "E = AD × EF" in detail
    factors = mr.get("/carbon/factors").get_data(as_text=True)
    assert "ncv.coal" in factors and "新增因子或新版本" in factors


def _xlsx(rows: list[list]) -> bytes:
    import io

    from openpyxl import Workbook

    wb = Workbook()
    for row in rows:
        wb.active.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_bulk_import_validates_every_row_and_stores_all_or_nothing(app, api, org, plant):
    import io

    a = api("staff_ene")
    header = ["排放源", "月份", "数量", "单位", "数据来源"]
    bad = _xlsx([header, ["净购入电力", "2026-04", "480", "MWh", "结算凭证"],
                 ["回转窑燃煤", "2026-04", "900", "km", "计量读数"], ["不存在的源", "2026-04", "1", "t", ""]])
    res = a.post("/carbon/activity/import", content_type="multipart/form-data",
                 data={"file": (io.BytesIO(bad), "april.xlsx")})
    assert res.status_code == 400
    rows = res.get_json()["error"]["details"]["rows"]
    assert [(r["row"], r["field"]) for r in rows] == [(3, "单位"), (4, "排放源")]
    assert a.get("/carbon/activity?from=2026-04&to=2026-04").get_json()["activity"] == []  # nothing stored
    good = _xlsx([header, ["净购入电力", "2026-04", "480", "MWh", "结算凭证"],
                  ["回转窑燃煤", "2026-04", "900", "t", "计量读数"]])
    res = a.post("/carbon/activity/import", content_type="multipart/form-data",
                 data={"file": (io.BytesIO(good), "april.xlsx")})
    assert res.status_code == 201 and res.get_json() == {"imported": 2}
    stored = a.get("/carbon/activity?from=2026-04&to=2026-04").get_json()["activity"]
    assert {(r["quantity"], r["data_source"]) for r in stored} == {("480.000000", "invoice"), ("900.000000", "meter")}
    staff = signed_in(app, org["staff_ene"])
    assert staff.get("/carbon/activity/template.xlsx").status_code == 200


def test_dashboard_shows_the_intensity_trend_against_target(app, api, org, plant):
    from datetime import UTC, datetime

    import time_machine

    from tests.carbon.test_accounting import _enter

    mr = api("mr")
    mr.client.put("/api/v1/carbon/indicators/clinker", headers=mr.headers, json={
        "name": "单位熟料二氧化碳排放", "target": "1.6", "threshold_percent": "5", "department": "ENE"})
    _enter(api, plant)
    with time_machine.travel(datetime(2026, 6, 15, tzinfo=UTC), tick=False):
        home = signed_in(app, org["mr"]).get("/").get_data(as_text=True)
        page = signed_in(app, org["mr"]).get("/carbon/").get_data(as_text=True)
    assert "月度偏差超过 5.00% 时自动提出不符合项" in page
    assert "单位熟料二氧化碳排放" in home and "2026-03：1.601" in home and "<svg" in home


def test_maturity_evaluation_pages_keep_input_and_show_the_scoring_sheet(app, api, org):
    mr = signed_in(app, org["mr"])
    token = _token(mr, "/carbon/maturity/")
    bad = mr.post("/carbon/maturity/", data={"csrf_token": token, "title": "", "lead": "auditor",
                                             "period_start": "2026-01-01", "period_end": "2026-10-31",
                                             "team": "王晓敏，外部专家"})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 400 and "请填写评价名称" in html and "王晓敏，外部专家" in html
    ok = mr.post("/carbon/maturity/", data={"csrf_token": token, "title": "2026 成熟度评价", "lead": "auditor",
                                            "period_start": "2026-01-01", "period_end": "2026-10-31"})
    assert ok.status_code == 302
    lead = signed_in(app, org["auditor"])
    url = ok.headers["Location"]
    ev_id = url.rstrip("/").rsplit("/", 1)[1]
    token = _token(lead, url)
    res = lead.post(f"/carbon/maturity/{ev_id}/steps/plan_evaluation", data={
        "csrf_token": token, "objective": "确定成熟度等级", "criteria": "", "scope": "熟料线", "schedule": "11月"})
    assert res.status_code == 400 and "请填写评价准则" in res.get_data(as_text=True)
    assert "确定成熟度等级" in res.get_data(as_text=True)
    for step, data in (("plan_evaluation", {"objective": "确定成熟度等级", "criteria": "附录A", "scope": "熟料线",
                                            "schedule": "11月"}),
                       ("document_review", {"document_review": "文件齐全"}),
                       ("onsite_evaluation", {"f_check": "检定有效"})):
        res = lead.post(f"/carbon/maturity/{ev_id}/steps/{step}", data={"csrf_token": token, **data})
        assert res.status_code == 302
    sheet = lead.get(url).get_data(as_text=True)
    assert 'name="s_Q1.1.1"' in sheet and 'name="j_Q6.2.1"' in sheet
    assert "行业先进值" in sheet
