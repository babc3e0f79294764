"""Carbon accounting per GB/T 32150-2015 on a worked example, factor versions and logged recalculation,
intensity (T/CECA-G formula (1)) and the monthly deviation check."""
from __future__ import annotations

from decimal import Decimal

import pytest

# Worked example, March 2026 (hand calculation):
#   kiln coal: FC = 1000 t, NCV = 20.908 GJ/t, CC = 0.02618 tC/GJ, OF = 93 %
#     AD = 1000 × 20.908 = 20 908 GJ; EF = 0.02618 × 0.93 × 44/12 tCO2/GJ
#     E = 20 908 × 0.02618 × 0.93 × 44/12 = 1866.5366104 tCO2
#   purchased electricity: 500 000 kWh = 500 MWh × 0.5703 tCO2/MWh = 285.15 tCO2
#   clinker process: 2000 t × 0.525 tCO2/t = 1050 tCO2
#   total = 3201.6866104 tCO2; clinker intensity C = 3201.6866104 / 2000 = 1.6008433052 tCO2/t
COAL_E, TOTAL, INTENSITY = Decimal("1866.536610"), Decimal("3201.686610"), Decimal("1.600843")

FACTORS = [
    {"code": "ncv.coal", "year": 2026, "name": "烟煤低位发热量", "kind": "ncv", "value": "20.908", "unit": "GJ/t",
     "source": "GB/T 32150-2015 附录B 表B.1"},
    {"code": "cc.coal", "year": 2026, "name": "烟煤单位热值含碳量", "kind": "carbon_content", "value": "0.02618",
     "unit": "tC/GJ", "source": "GB/T 32150-2015 附录B 表B.1"},
    {"code": "of.coal", "year": 2026, "name": "燃煤碳氧化率", "kind": "oxidation", "value": "93", "unit": "percent",
     "source": "GB/T 32150-2015 附录B 表B.1"},
    {"code": "ef.grid", "year": 2026, "name": "全国电网平均排放因子", "kind": "emission_factor", "value": "0.5703",
     "unit": "tCO2/MWh", "source": "生态环境部公告"},
    {"code": "ef.clinker", "year": 2026, "name": "熟料过程排放因子", "kind": "emission_factor", "value": "0.525",
     "unit": "tCO2/t", "source": "GB/T 32151.8-2015"},
]
SOURCES = [("回转窑燃煤", "fossil_fuel", "combustion", "t", {"ncv": "ncv.coal", "carbon_content": "cc.coal",
                                                           "oxidation": "of.coal"}),
           ("净购入电力", "purchased_electricity", "electricity", "MWh", {"emission_factor": "ef.grid"}),
           ("熟料煅烧过程", "process", "process", "t", {"emission_factor": "ef.clinker"})]


@pytest.fixture
def plant(api):
    """The three sources with their methods and factors; returns {source name: id}."""
    mr = api("mr")
    for f in FACTORS:
        res = mr.post("/carbon/factors", json=f)
        assert res.status_code == 201, res.get_json()
    ids = {}
    for name, category, method, unit, factors in SOURCES:
        src = mr.post("/registers/emission_source", json={"name": name, "facility": "5000t/d熟料线",
                                                          "source_category": category, "department": "ENE"})
        assert src.status_code == 201, src.get_json()
        ids[name] = src.get_json()["id"]
        res = mr.client.put(f"/api/v1/carbon/methods/{ids[name]}", headers=mr.headers,
                            json={"method": method, "unit": unit, "factors": factors})
        assert res.status_code == 200, res.get_json()
    return ids


def _enter(api, plant, user="staff_ene"):
    a = api(user)
    coal = a.post("/carbon/activity", json={"emission_source": plant["回转窑燃煤"], "period": "2026-03",
                                            "quantity": "1000", "unit": "t", "data_source": "meter"})
    assert coal.status_code == 201, coal.get_json()
    power = a.post("/carbon/activity", json={"emission_source": "净购入电力", "period": "2026-03",
                                             "quantity": "500000", "unit": "kWh", "data_source": "invoice"})
    assert power.status_code == 201, power.get_json()
    clinker = a.post("/carbon/activity", json={"emission_source": plant["熟料煅烧过程"], "period": "2026-03",
                                               "quantity": "2000", "unit": "t"})
    assert clinker.status_code == 201, clinker.get_json()
    out = a.post("/carbon/output", json={"product": "clinker", "product_name": "熟料", "period": "2026-03",
                                         "quantity": "2000", "unit": "t"})
    assert out.status_code == 201, out.get_json()
    return coal.get_json(), power.get_json()


def test_worked_example_gives_the_hand_calculated_emissions_intensity_and_breakdown(api, plant):
    coal, power = _enter(api, plant)
    assert abs(Decimal(coal["result"]["tco2e"]) - COAL_E) <= Decimal("0.000001")
    assert Decimal(power["result"]["tco2e"]) == Decimal("285.15")  # 500 000 kWh converted to 500 MWh by pint
    mr = api("mr")
    totals = mr.get("/carbon/emissions?from=2026-03&to=2026-03&group=source").get_json()
    assert abs(Decimal(totals["total"]) - TOTAL) <= Decimal("0.000001")
    assert {g["label"]: Decimal(g["tco2e"]) for g in totals["groups"]}["熟料煅烧过程"] == Decimal("1050")
    by_dept = mr.get("/carbon/emissions?from=2026-03&to=2026-03&group=department").get_json()["groups"]
    assert [g["key"] for g in by_dept] == ["ENE"]
    c = mr.get("/carbon/intensity?product=clinker&from=2026-03&to=2026-03").get_json()
    assert Decimal(c["intensity"]) == INTENSITY and c["unit"] == "tCO2e/t"
    # an indicator's boundary (e.g. the carbon-market boundary of clinker, without purchased electricity)
    res = mr.client.put("/api/v1/carbon/indicators/clinker", headers=mr.headers, json={
        "name": "单位熟料二氧化碳排放", "target": "1.6", "threshold_percent": "5", "department": "ENE",
        "sources": ["回转窑燃煤", "熟料煅烧过程"]})
    assert res.status_code == 200, res.get_json()
    c = mr.get("/carbon/intensity?product=clinker&from=2026-03&to=2026-03").get_json()
    assert Decimal(c["intensity"]) == Decimal("1.458268")  # (1866.5366104 + 1050) / 2000

    breakdown = mr.get(f"/carbon/results/{coal['result']['id']}").get_json()["breakdown"]
    assert breakdown["method"] == "combustion" and breakdown["activity"]["quantity"] == "1000"
    assert {r: (f["code"], f["version"], f["value"]) for r, f in breakdown["factors"].items()} == {
        "ncv": ("ncv.coal", 1, "20.9080000000"), "carbon_content": ("cc.coal", 1, "0.0261800000"),
        "oxidation": ("of.coal", 1, "93.0000000000")}
    assert breakdown["steps"][0] == "AD = NCV × FC = 20908.000000 GJ"


def test_input_that_does_not_fit_is_refused_and_nothing_is_stored(api, plant):
    a = api("staff_ene")
    res = a.post("/carbon/activity", json={"emission_source": "净购入电力", "period": "2026-03",
                                           "quantity": "500", "unit": "t"})
    assert res.status_code == 400 and res.get_json()["error"]["code"] == "unit_mismatch"
    res = a.post("/carbon/activity", json={"emission_source": "净购入电力", "period": "2026-03",
                                           "quantity": "-5", "unit": "MWh"})
    assert res.status_code == 400 and "quantity" in res.get_json()["error"]["details"]["fields"]
    res = a.post("/carbon/activity", json={"emission_source": "净购入电力", "period": "2026-3x",
                                           "quantity": "5", "unit": "MWh"})
    assert res.status_code == 400 and res.get_json()["error"]["code"] == "invalid_period"
    assert a.get("/carbon/activity?from=2026-01&to=2026-12").get_json()["activity"] == []
    ok = a.post("/carbon/activity", json={"emission_source": "净购入电力", "period": "2026-03",
                                          "quantity": "500", "unit": "MWh"}).get_json()
    again = a.post("/carbon/activity", json={"emission_source": "净购入电力", "period": "2026-03",
                                             "quantity": "600", "unit": "MWh"})
    assert again.status_code == 409  # a second entry for the month never silently overwrites
    fixed = a.post("/carbon/activity", json={"emission_source": "净购入电力", "period": "2026-03", "quantity": "600",
                                             "unit": "MWh", "lock_version": ok["lock_version"]})
    assert fixed.status_code == 201 and Decimal(fixed.get_json()["result"]["tco2e"]) == Decimal("342.18")
    assert api("staff_ene").post("/carbon/factors", json=FACTORS[0]).status_code == 403
    import io

    aid = fixed.get_json()["id"]
    bad = a.post(f"/carbon/activity/{aid}/evidence", content_type="multipart/form-data",
                 data={"file": (io.BytesIO(b"MZ\x90"), "reading.exe")})
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "attachment_type"
    ok = a.post(f"/carbon/activity/{aid}/evidence", content_type="multipart/form-data",
                data={"file": (io.BytesIO(b"%PDF-1.4 invoice"), "2026-03 电费结算单.pdf")})
    assert ok.status_code == 201
    assert a.get(f"/carbon/activity/{aid}/evidence").data == b"%PDF-1.4 invoice"
    [row] = a.get("/carbon/activity?from=2026-03&to=2026-03").get_json()["activity"]
    assert row["evidence"] == "2026-03 电费结算单.pdf"


def test_a_new_factor_version_changes_results_only_through_a_logged_recalculation(api, plant):
    coal, power = _enter(api, plant)
    mr = api("mr")
    res = mr.post("/carbon/factors", json={**FACTORS[3], "value": "0.6000", "source": "生态环境部 2026 年更新公告"})
    assert res.status_code == 201 and res.get_json()["version"] == 2
    total = mr.get("/carbon/emissions?from=2026-03&to=2026-03").get_json()["total"]
    assert abs(Decimal(total) - TOTAL) <= Decimal("0.000001")  # stored results unchanged
    assert mr.post("/carbon/recalculations", json={"from": "2026-03", "to": "2026-03"}).status_code == 400
    assert api("staff_ene").post("/carbon/recalculations", json={"from": "2026-03", "to": "2026-03",
                                                                 "reason": "x"}).status_code == 403
    run = mr.post("/carbon/recalculations", json={"from": "2026-03", "to": "2026-03", "reason": "电网因子更新"})
    assert run.status_code == 201, run.get_json()
    body = run.get_json()
    assert body["results_changed"] == 1  # only the electricity result used the changed factor
    expected = TOTAL + Decimal("500") * (Decimal("0.6000") - Decimal("0.5703"))
    assert abs(Decimal(body["total_after"]) - expected) <= Decimal("0.000001")
    total = mr.get("/carbon/emissions?from=2026-03&to=2026-03").get_json()["total"]
    assert abs(Decimal(total) - expected) <= Decimal("0.000001")
    old = mr.get(f"/carbon/results/{power['result']['id']}").get_json()
    assert old["current"] is False and old["breakdown"]["factors"]["emission_factor"]["version"] == 1
    [run_row] = mr.get("/carbon/recalculations").get_json()["runs"]
    assert run_row["reason"] == "电网因子更新" and run_row["by"] == "mr"


def test_monthly_intensity_beyond_the_threshold_raises_one_nonconformity(api, plant):
    mr = api("mr")
    res = mr.client.put("/api/v1/carbon/indicators/clinker", headers=mr.headers, json={
        "name": "单位熟料二氧化碳排放", "target": "1.55", "threshold_percent": "5", "department": "ENE"})
    assert res.status_code == 200, res.get_json()
    _enter(api, plant)  # 1.600843 tCO2/t: +3.3 % over 1.55, within 5 %
    assert mr.get("/nonconformities?source=monitoring").get_json()["nonconformities"] == []
    res = mr.client.put("/api/v1/carbon/indicators/clinker", headers=mr.headers, json={
        "name": "单位熟料二氧化碳排放", "target": "1.50", "threshold_percent": "5", "department": "ENE"})
    a = api("staff_ene")
    out = a.post("/carbon/output", json={"product": "clinker", "period": "2026-03", "quantity": "2000", "unit": "t"})
    assert out.status_code == 201  # re-entering the output re-checks the month: +6.7 % over 1.50
    [nc] = mr.get("/nonconformities?source=monitoring").get_json()["nonconformities"]
    assert nc["department"] == "ENE" and "2026-03" in nc["title"] and nc["current_step"] == "accept"
    a.post("/carbon/output", json={"product": "clinker", "period": "2026-03", "quantity": "2000", "unit": "t"})
    assert len(mr.get("/nonconformities?source=monitoring").get_json()["nonconformities"]) == 1  # once per month
    dev = mr.get("/carbon/indicators").get_json()["indicators"][0]["deviations"]
    assert [(d["period"], d["deviation_percent"]) for d in dev] == [("2026-03", "6.72")]


def test_exported_electricity_is_deducted_and_non_co2_gases_count_with_their_gwp(api, plant):
    mr = api("mr")
    for f in ({"code": "ef.export", "year": 2026, "name": "输出电力排放因子", "kind": "emission_factor",
               "value": "0.5703", "unit": "tCO2/MWh", "source": "生态环境部公告"},
              {"code": "ef.ch4_wwt", "year": 2026, "name": "废水处理甲烷排放因子", "kind": "emission_factor",
               "value": "0.25", "unit": "tCH4/t", "gas": "CH4", "source": "GB/T 32150-2015 附录"}):
        assert mr.post("/carbon/factors", json=f).status_code == 201
    sources = (("余热电站上网电量", "other", "exported_electricity", "MWh", "ef.export"),
               ("厂区废水处理", "other", "process", "t", "ef.ch4_wwt"))
    for name, category, method, unit, factor in sources:
        src = mr.post("/registers/emission_source", json={"name": name, "facility": "全厂", "source_category": category,
                                                          "department": "ENE"}).get_json()
        res = mr.client.put(f"/api/v1/carbon/methods/{src['id']}", headers=mr.headers,
                            json={"method": method, "unit": unit, "factors": {"emission_factor": factor}})
        assert res.status_code == 200, res.get_json()
    a = api("staff_ene")
    out = a.post("/carbon/activity", json={"emission_source": "余热电站上网电量", "period": "2026-05",
                                           "quantity": "100", "unit": "MWh"}).get_json()
    assert Decimal(out["result"]["tco2e"]) == Decimal("-57.03")  # 100 MWh × 0.5703, deducted
    ch4 = a.post("/carbon/activity", json={"emission_source": "厂区废水处理", "period": "2026-05",
                                           "quantity": "2", "unit": "t"}).get_json()
    assert Decimal(ch4["result"]["tco2e"]) == Decimal("10.5")  # 2 t × 0.25 tCH4/t × GWP 21 (default)
    assert ch4["result"]["breakdown"]["gas"] == "CH4" and ch4["result"]["breakdown"]["gwp"] == "21"
    total = mr.get("/carbon/emissions?from=2026-05&to=2026-05").get_json()["total"]
    assert Decimal(total) == Decimal("-46.53")
