"""Registers: CRUD through the API, export → import round trips, all-or-nothing imports, rules."""
from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import delete
from sqlmodel import select

from cmsflow.cli import worker_pass
from cmsflow.core.db import session_scope
from cmsflow.registers.models import RegisterClause
from cmsflow.registers.specs import SPECS
from cmsflow.workflow.models import Notification
from tests.conftest import signed_in

SAMPLE_BY_TYPE = {
    "choice": lambda f, i: list(f.choices)[i % len(f.choices)],
    "date": lambda f, i: (date(2026, 1, 15) + timedelta(days=30 * i)).isoformat(),
    "int": lambda f, i: (f.min or 1) + i,
    "decimal": lambda f, i: f"{1234.5 + i}",
    "bool": lambda f, i: i % 2 == 0,
    "user": lambda f, i: "head_ene",
    "department": lambda f, i: "ENE",
    "longtext": lambda f, i: f"第{i}条说明\n第二行：水泥窑协同处置",
    "text": lambda f, i: f"{f.label}-{i}",
}


def sample(spec_name: str, i: int) -> dict:
    """A valid record for any register, built from its field spec."""
    values = {f.name: SAMPLE_BY_TYPE[f.type](f, i) for f in SPECS[spec_name].fields}
    if spec_name == "risk":
        values["status"] = "open"
    values["clauses"] = SPECS[spec_name].default_clauses
    return values


def test_risk_rating_is_likelihood_times_impact(api):
    rec = api("mr").post("/registers/risk", json={**sample("risk", 0), "likelihood": 4, "impact": 5}).get_json()
    assert rec["rating"] == "20（高）"


def _strip(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in ("id", "lock_version")}


@pytest.mark.parametrize("name", sorted(SPECS))
@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_register_round_trips_through_export_and_import(app, api, name, fmt):
    mr = api("mr")
    created = []
    for i in range(2):
        res = mr.post(f"/registers/{name}", json=sample(name, i))
        assert res.status_code == 201, res.get_json()
        created.append(_strip(res.get_json()))
    exported = mr.get(f"/registers/{name}/export", query_string={"format": fmt})
    assert exported.status_code == 200
    spec = SPECS[name]
    with app.app_context(), session_scope() as s:  # empty the register (and the evaluation schedules hanging off it)
        if name == "compliance_obligation":
            from cmsflow.compliance.models import ObligationSchedule

            s.execute(delete(ObligationSchedule))
        s.execute(delete(spec.model))
        s.execute(delete(RegisterClause).where(RegisterClause.register_name == name))
    assert mr.get(f"/registers/{name}").get_json()["records"] == []
    res = mr.post(f"/registers/{name}/import", content_type="multipart/form-data",
                  data={"file": (io.BytesIO(exported.data), f"{name}.{fmt}")})
    assert res.status_code == 201, res.get_json()
    assert res.get_json() == {"imported": 2}
    again = [_strip(r) for r in mr.get(f"/registers/{name}").get_json()["records"]]
    assert again == created


def test_import_with_one_bad_row_stores_nothing_and_names_row_and_field(api):
    mr = api("mr")
    for i in range(3):
        mr.post("/registers/risk", json=sample("risk", i))
    data = mr.get("/registers/risk/export", query_string={"format": "xlsx"}).data
    wb = load_workbook(io.BytesIO(data))
    ws = wb.active
    headers = [c.value for c in ws[1]]
    ws.cell(row=3, column=headers.index("可能性（1–5）") + 1, value=9)
    buf = io.BytesIO()
    wb.save(buf)
    before = mr.get("/registers/risk").get_json()["records"]
    res = mr.post("/registers/risk/import", content_type="multipart/form-data",
                  data={"file": (io.BytesIO(buf.getvalue()), "risk.xlsx")})
    assert res.status_code == 400
    err = res.get_json()["error"]
    assert err["code"] == "import_rejected"
    assert err["details"]["rows"] == [{"row": 3, "field": "可能性（1–5）", "message": "应在 1–5 之间"}]
    assert "第 3 行" in err["message"]
    assert mr.get("/registers/risk").get_json()["records"] == before


def test_unknown_clause_on_a_record_is_400(api):
    res = api("mr").post("/registers/context_issue", json={**sample("context_issue", 0), "clauses": ["DB44T1944:4.9"]})
    assert res.status_code == 400
    assert "DB44T1944:4.9" in res.get_json()["error"]["details"]["fields"]["clauses"]


def test_field_errors_are_listed_per_field(api):
    res = api("mr").post("/registers/objective", json={"title": "", "level": "galaxy", "deadline": "明年"})
    fields = res.get_json()["error"]["details"]["fields"]
    assert res.status_code == 400
    assert {"title", "level", "deadline", "indicator", "unit", "target_value", "department", "status"} <= set(fields)


def test_stale_update_is_409(api):
    mr = api("mr")
    rec = mr.post("/registers/communication", json=sample("communication", 0)).get_json()
    first = mr.client.put(f"/api/v1/registers/communication/{rec['id']}", headers=mr.headers,
                          json={**sample("communication", 0), "topic": "甲", "lock_version": rec["lock_version"]})
    assert first.status_code == 200
    second = mr.client.put(f"/api/v1/registers/communication/{rec['id']}", headers=mr.headers,
                           json={**sample("communication", 0), "topic": "乙", "lock_version": rec["lock_version"]})
    assert second.status_code == 409
    assert mr.get(f"/registers/communication/{rec['id']}").get_json()["topic"] == "甲"


def test_baseline_adjustment_needs_a_reason_and_is_logged(app, api):
    mr = api("mr")
    rec = mr.post("/registers/baseline", json={"name": "公司级基准", "base_year": 2023,
                                               "emissions_tco2e": "1320000", "intensity": "0.852",
                                               "intensity_unit": "tCO2/t熟料"}).get_json()
    body = {"name": "公司级基准", "base_year": 2023, "emissions_tco2e": "1290000", "intensity": "0.852",
            "intensity_unit": "tCO2/t熟料", "lock_version": rec["lock_version"]}
    res = mr.client.put(f"/api/v1/registers/baseline/{rec['id']}", headers=mr.headers, json=body)
    assert res.status_code == 400 and "adjustment_reason" in res.get_json()["error"]["details"]["fields"]
    res = mr.client.put(f"/api/v1/registers/baseline/{rec['id']}", headers=mr.headers,
                        json={**body, "adjustment_reason": "sources_changed", "adjustment_note": "余热发电扩容"})
    assert res.status_code == 200 and res.get_json()["emissions_tco2e"] == "1290000"
    from cmsflow.history.service import for_subject
    with app.app_context(), session_scope() as s:
        entry = for_subject(s, "reg:baseline", rec["id"])[-1]
        assert entry.action == "baseline_adjusted"
        assert entry.details["adjustment_reason"] == "sources_changed"
        assert entry.details["changes"]["emissions_tco2e"] == ["1320000.0000", "1290000"]
    staff = api("staff_ene")
    assert staff.post("/registers/baseline", json={"name": "x", "base_year": 2023,
                                                   "emissions_tco2e": "1"}).status_code == 403


def test_instrument_due_date_is_computed_and_overdue_ones_are_reminded(app, api, org):
    mr = api("mr")
    rec = mr.post("/registers/instrument", json={
        "code": "JL-ENE-001", "name": "入窑煤粉转子秤", "department": "ENE", "status": "in_use",
        "last_calibrated": "2025-08-01", "calibration_interval_months": 12}).get_json()
    assert rec["next_due"] == "2026-08-01"
    with app.app_context():
        assert worker_pass()["calibrations"] == 1
        assert worker_pass()["calibrations"] == 0  # once per due date
        with session_scope() as s:
            notes = s.exec(select(Notification).where(Notification.user_id == org["head_ene"])).all()
            assert [n.kind for n in notes] == ["calibration"] and "已逾期" in notes[0].message


def test_records_are_evidence_in_coverage_and_searchable(api):
    mr = api("mr")
    rec = mr.post("/registers/interested_party", json={
        "name": "河北省生态环境厅", "party_type": "government", "requirements": "按时报送年度温室气体排放报告",
        "addressed": True, "clauses": ["DB44T1944:4.2"]}).get_json()
    body = mr.get("/standards/DB44T1944/coverage").get_json()
    row = next(c for c in body["clauses"] if c["ref"] == "DB44T1944:4.2")
    assert [(e["type"], e["id"]) for e in row["evidence"]] == [("interested_party", rec["id"])]
    assert row["gap"] is False
    hits = mr.get("/search", query_string={"q": "生态环境厅"}).get_json()["results"]
    assert [(h["type"], h["id"]) for h in hits] == [("interested_party", rec["id"])]


def test_filters(api):
    mr = api("mr")
    for i in range(4):
        mr.post("/registers/emission_source", json=sample("emission_source", i))
    all_rows = mr.get("/registers/emission_source").get_json()["records"]
    key = mr.get("/registers/emission_source", query_string={"key_source": "1"}).get_json()["records"]
    assert len(all_rows) == 4 and len(key) == 2 and all(r["key_source"] for r in key)
    res = mr.get("/registers/emission_source", query_string={"source_category": "nonsense"})
    assert res.status_code == 400


def test_spreadsheet_headers_are_unambiguous():
    from cmsflow.registers.transfer import CLAUSE_HEADER
    for spec in SPECS.values():
        labels = [f.label for f in spec.fields] + [CLAUSE_HEADER]
        assert len(labels) == len(set(labels)), spec.name


def _token(client, path):
    import re
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def test_invalid_form_re_renders_with_the_users_input(app, org):
    client = signed_in(app, org["mr"])
    form = {"csrf_token": _token(client, "/registers/risk/new"), "title": "熟料线停窑检修延误", "kind": "risk",
            "category": "operational", "likelihood": "7", "impact": "3", "status": "open",
            "clauses": "DB44T1944:6.1"}
    res = client.post("/registers/risk/new", data=form)
    html = res.get_data(as_text=True)
    assert res.status_code == 400
    assert "熟料线停窑检修延误" in html and "应在 1–5 之间" in html and 'value="7"' in html


def test_web_import_shows_row_errors_and_stores_nothing(app, org):
    client = signed_in(app, org["mr"])
    csv_text = ("日期,内部/外部,交流对象,主题\n"
                "2026-03-01,外部,河北省生态环境厅,年度排放报告报送\n"
                "2026-13-01,外部,核查机构,现场核查\n")
    res = client.post("/registers/communication/import", content_type="multipart/form-data",
                      data={"file": (io.BytesIO(csv_text.encode("utf-8-sig")), "comm.csv"),
                            "csrf_token": _token(client, "/registers/communication/")})
    html = res.get_data(as_text=True)
    assert res.status_code == 400
    assert "<td>3</td><td>日期</td>" in html
    assert "暂无记录" in html
