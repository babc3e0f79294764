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
