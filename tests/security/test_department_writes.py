"""Writes across departments (issue 17 item 1): a department's records are written by its head and staff, by the
management representative and by the administrator; giving a record to another department is for the last two.
The same table holds for the API, the pages and imports (cmsflow.auth.permissions.check_department_write).

Each row of WRITES is (user, whose record: "own" / "other" department, allowed?).
"""
from __future__ import annotations

import io
import re

import pytest

from cmsflow.registers.specs import SPECS
from tests.carbon.test_pages import _xlsx
from tests.conftest import signed_in
from tests.registers.test_registers import sample

DEPT_OF = {"mr": "MGT", "top": "MGT", "auditor": "QHS", "head_ene": "ENE", "staff_ene": "ENE", "head_prd": "PRD",
           "staff_prd": "PRD", "admin": None}
WRITES = [
    ("mr", "own", True), ("mr", "other", True),
    ("admin", "own", True), ("admin", "other", True),
    ("head_ene", "own", True), ("head_ene", "other", False),
    ("staff_ene", "own", True), ("staff_ene", "other", False),
    ("staff_prd", "own", True), ("staff_prd", "other", False),
    ("top", "own", False), ("top", "other", False),  # reads every register, maintains none
    ("auditor", "own", False), ("auditor", "other", False),  # audits the registers, does not keep them
]
DEPARTMENT_REGISTERS = [name for name, sp in SPECS.items() if any(f.name == "department" for f in sp.fields)]


def _department(user: str, whose: str) -> str:
    own = DEPT_OF[user] or "MGT"
    return own if whose == "own" else ("PRD" if own == "ENE" else "ENE")


def _token(client, path: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def _register_xlsx(spec_name: str, record: dict) -> bytes:
    fields = SPECS[spec_name].fields
    return _xlsx([[f.label for f in fields], [record.get(f.name) for f in fields]])


def _unique(name: str, i: int, tag: str, dept: str) -> dict:
    """A valid record whose text fields (codes, names) carry ``tag``: no unique key meets another test row."""
    record = {**sample(name, i % 3), "department": dept}
    for f in SPECS[name].fields:
        if f.type == "text":
            record[f.name] = f"{record[f.name]}-{tag}"
    return record


def _records(api, name: str) -> list[dict]:
    return api("mr").get(f"/registers/{name}").get_json()["records"]


@pytest.mark.parametrize("name", DEPARTMENT_REGISTERS)
def test_register_writes_follow_the_owning_department_on_api_pages_and_imports(app, api, org, name):
    mr = api("mr")
    refused = []
    for n, (user, whose, allowed) in enumerate(WRITES):
        dept = _department(user, whose)
        record = _unique(name, n, f"c{n}", dept)
        a = api(user)
        # API: create
        res = a.post(f"/registers/{name}", json=record)
        assert (res.status_code == 201) == allowed, (user, whose, "create", res.get_json())
        if not allowed:
            assert res.status_code == 403, res.get_json()
            refused.append(res.get_json()["error"]["message"])
        # API: update a record of that department made by the management representative
        target = mr.post(f"/registers/{name}", json=_unique(name, 1, f"t{n}", dept)).get_json()
        res = a.client.put(f"/api/v1/registers/{name}/{target['id']}", headers=a.headers,
                           json={**_unique(name, 2, f"u{n}", dept), "lock_version": target["lock_version"]})
        assert (res.status_code == 200) == allowed, (user, whose, "update", res.get_json())
        if not allowed:
            assert res.status_code == 403
            kept = mr.get(f"/registers/{name}/{target['id']}").get_json()
            assert kept["lock_version"] == target["lock_version"]  # nothing was written
        # import
        before = len(_records(api, name))
        res = a.client.post(f"/api/v1/registers/{name}/import", headers=a.headers, content_type="multipart/form-data",
                            data={"file": (io.BytesIO(_register_xlsx(name, _unique(name, n, f"i{n}", dept))),
                                           "import.xlsx")})
        assert (res.status_code == 201) == allowed, (user, whose, "import", res.get_json())
        assert len(_records(api, name)) == before + (1 if allowed else 0)
    assert all("部门" in m or "无权" in m for m in refused), refused


@pytest.mark.parametrize("user,whose,allowed", WRITES)
def test_register_pages_follow_the_owning_department(app, api, org, user, whose, allowed):
    name = "risk"
    dept = _department(user, whose)
    client = signed_in(app, org[user])
    form = {k: ("1" if v is True else "" if v is False else v) for k, v in sample(name, 0).items() if k != "clauses"}
    form.update(department=dept, title="熟料线停窑检修延误", csrf_token=_token(client, f"/registers/{name}/new"))
    res = client.post(f"/registers/{name}/new", data=form)
    assert (res.status_code == 302) == allowed, (user, whose, res.status_code)
    if not allowed:
        assert res.status_code == 403
        assert "熟料线停窑检修延误" in res.get_data(as_text=True)  # the form comes back with the input
    target = api("mr").post(f"/registers/{name}", json={**sample(name, 1), "department": dept}).get_json()
    page = client.get(f"/registers/{name}/{target['id']}").get_data(as_text=True)
    assert ('type="submit">' + "保存" in page) == allowed  # a save button only where saving is allowed
    form.update(title="改过的标题", lock_version=str(target["lock_version"]),
                csrf_token=_token(client, f"/registers/{name}/{target['id']}"))
    res = client.post(f"/registers/{name}/{target['id']}", data=form)
    assert (res.status_code == 302) == allowed, (user, whose, res.status_code)
    shown = api("mr").get(f"/registers/{name}/{target['id']}").get_json()["title"]
    assert (shown == "改过的标题") == allowed


@pytest.mark.parametrize("user,allowed", [("staff_ene", False), ("head_ene", False), ("mr", True), ("admin", True)])
def test_moving_a_record_to_another_department_is_for_managers(app, api, org, user, allowed):
    a = api(user)
    rec = api("mr").post("/registers/risk", json={**sample("risk", 0), "department": "ENE"}).get_json()
    res = a.client.put(f"/api/v1/registers/risk/{rec['id']}", headers=a.headers,
                       json={**sample("risk", 0), "department": "PRD", "lock_version": rec["lock_version"]})
    assert (res.status_code == 200) == allowed, res.get_json()
    if not allowed:
        assert res.get_json()["error"]["code"] == "move_refused"
    assert api("mr").get(f"/registers/risk/{rec['id']}").get_json()["department"] == ("PRD" if allowed else "ENE")


def test_staff_without_a_department_field_get_their_own(app, api, org):
    record = {k: v for k, v in sample("risk", 0).items() if k != "department"}
    res = api("staff_prd").post("/registers/risk", json=record)
    assert res.status_code == 201 and res.get_json()["department"] == "PRD"


def test_the_register_form_offers_only_ones_own_department(app, org):
    page = signed_in(app, org["staff_ene"]).get("/registers/risk/new").get_data(as_text=True)
    options = re.findall(r'<option value="([A-Z]{3})"', page)
    assert options == ["ENE"]
    page = signed_in(app, org["mr"]).get("/registers/risk/new").get_data(as_text=True)
    assert set(re.findall(r'<option value="([A-Z]{3})"', page)) == {"ENE", "MGT", "PRD", "QHS"}


def test_the_baseline_is_kept_by_managers_only(app, api, org):
    body = {"name": "公司级基准", "base_year": 2023, "emissions_tco2e": "1320000"}
    for user, allowed in (("staff_ene", False), ("head_ene", False), ("top", False), ("mr", True), ("admin", True)):
        assert (api(user).post("/registers/baseline", json=body).status_code == 201) == allowed, user


# --- monthly activity data and its evidence ---------------------------------------------------------------------

ACTIVITY_WRITES = [("staff_ene", True), ("head_ene", True), ("staff_prd", False), ("head_prd", False),
                   ("mr", True), ("admin", True), ("top", False), ("auditor", False)]


@pytest.mark.parametrize("user,allowed", ACTIVITY_WRITES)
def test_activity_data_of_a_source_is_written_by_its_department(app, api, org, plant, user, allowed):
    """The plant's sources belong to ENE (tests/carbon/test_accounting.py)."""
    a = api(user)
    entry = {"emission_source": "净购入电力", "period": "2026-03", "quantity": "500", "unit": "MWh"}
    res = a.post("/carbon/activity", json=entry)
    assert (res.status_code == 201) == allowed, res.get_json()
    first = api("staff_ene").post("/carbon/activity", json={**entry, "period": "2026-04"}).get_json()
    res = a.post("/carbon/activity", json={**entry, "period": "2026-04", "quantity": "600",
                                          "lock_version": first["lock_version"]})
    assert (res.status_code in (200, 201)) == allowed, res.get_json()
    res = a.client.post(f"/api/v1/carbon/activity/{first['id']}/evidence", headers=a.headers,
                        content_type="multipart/form-data",
                        data={"file": (io.BytesIO(b"%PDF-1.4\n%%EOF\n"), "meter.pdf")})
    assert (res.status_code in (200, 201)) == allowed, res.get_json()
    if not allowed:
        assert res.status_code == 403
        row = next(r for r in api("mr").get("/carbon/activity?from=2026-04&to=2026-04").get_json()["activity"])
        assert float(row["quantity"]) == 500 and not row.get("evidence")


@pytest.mark.parametrize("user,allowed", [("staff_prd", False), ("staff_ene", True)])
def test_activity_import_follows_the_same_rule(app, api, org, plant, user, allowed):
    data = _xlsx([["排放源", "月份", "数量", "单位"], ["净购入电力", "2026-05", 700, "MWh"]])
    a = api(user)
    res = a.client.post("/api/v1/carbon/activity/import", headers=a.headers, content_type="multipart/form-data",
                        data={"file": (io.BytesIO(data), "activity.xlsx")})
    assert (res.status_code == 201) == allowed, res.get_json()
    stored = api("mr").get("/carbon/activity?from=2026-05&to=2026-05").get_json()["activity"]
    assert len(stored) == (1 if allowed else 0)


def test_the_activity_form_offers_only_the_sources_one_may_enter(app, org, plant):
    page = signed_in(app, org["staff_prd"]).get("/carbon/activity").get_data(as_text=True)
    assert "净购入电力（" not in page
    page = signed_in(app, org["staff_ene"]).get("/carbon/activity").get_data(as_text=True)
    assert "净购入电力（" in page
