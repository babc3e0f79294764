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
