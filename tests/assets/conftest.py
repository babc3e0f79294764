"""Fixtures of the carbon-asset tests: a registry and a trading account, the allowance and a CCER lot, and
the plant's accounted emissions (two sources)."""
from __future__ import annotations

import pytest

CCER_PREFIX = "CCER-14-2024-HB-"


def ok(res, status: int = 201) -> dict:
    """The JSON of a response that must have ``status``."""
    assert res.status_code == status, res.get_json()
    return res.get_json()


@pytest.fixture
def ledger(api):
    """Accounts REG (registry) and TRD (trading), the 2025 allowance lot and a CCER lot of 10 000 units;
    returns a function recording a transaction as the management representative (the raw response)."""
    mr = api("mr")
    ok(mr.post("/assets/accounts", json={"code": "REG", "name": "注册登记账户", "kind": "registry",
                                         "institution": "全国碳排放权注册登记系统", "number": "R-001"}))
    ok(mr.post("/assets/accounts", json={"code": "TRD", "name": "交易账户", "kind": "trading",
                                         "institution": "全国碳排放权交易系统", "number": "T-001"}))
    ok(mr.post("/assets/lots", json={"asset_type": "cea", "compliance_year": 2025}))
    ok(mr.post("/assets/lots", json={"asset_type": "ccer", "code": "CCER-WIND", "name": "某海上风电项目",
                                     "methodology": "CCER-14-001-V01", "vintage": 2024, "serial_prefix": CCER_PREFIX,
                                     "serial_start": 100001, "serial_end": 110000}))

    def tx(**body):
        return mr.post("/assets/transactions", json=body)
    return tx


@pytest.fixture
def emissions(api):
    """Accounted emissions of 2025: clinker process 2000 t × 0.525 = 1050 tCO2 and purchased electricity
    500 MWh × 0.5703 = 285.15 tCO2 in March; returns {source name: id}."""
    mr, staff = api("mr"), api("staff_ene")
    for code, value, unit in (("ef.clinker", "0.525", "tCO2/t"), ("ef.grid", "0.5703", "tCO2/MWh")):
        ok(mr.post("/carbon/factors", json={"code": code, "year": 2025, "name": code, "kind": "emission_factor",
                                            "value": value, "unit": unit, "source": "GB/T 32151.8-2015"}))
    ids = {}
    sources = (("熟料煅烧过程", "process", "process", "t", "ef.clinker"),
               ("净购入电力", "purchased_electricity", "electricity", "MWh", "ef.grid"))
    for name, category, method, unit, factor in sources:
        ids[name] = ok(mr.post("/registers/emission_source", json={
            "name": name, "facility": "5000t/d熟料线", "source_category": category, "department": "ENE"}))["id"]
        ok(mr.client.put(f"/api/v1/carbon/methods/{ids[name]}", headers=mr.headers,
                         json={"method": method, "unit": unit, "factors": {"emission_factor": factor}}), 200)
    ok(staff.post("/carbon/activity", json={"emission_source": "熟料煅烧过程", "period": "2025-03", "quantity": "2000",
                                            "unit": "t"}))
    ok(staff.post("/carbon/activity", json={"emission_source": "净购入电力", "period": "2025-03", "quantity": "500",
                                            "unit": "MWh"}))
    return ids
