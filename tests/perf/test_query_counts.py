"""No N+1 queries: every list page runs the same number of SQL statements whatever the number of rows
it shows (counted with a SQLAlchemy event, so the check is deterministic, unlike a timing)."""
from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import event

from tests.conftest import signed_in


@contextmanager
def counting(app):
    """Yields a list that collects every SQL statement run on the app's engine inside the block."""
    statements: list[str] = []
    engine = app.extensions["cmsflow_engine"]

    def _count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", _count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", _count)


def queries(app, client, path: str) -> int:
    with counting(app) as statements:
        res = client.get(path)
    assert res.status_code == 200, (path, res.status_code)
    return len(statements)


def _nc(api, i: int) -> None:
    res = api("auditor").post("/nonconformities", json={
        "title": f"不符合 {i}", "description": "描述", "source": "internal_audit", "department": "PRD",
        "severity": "minor", "clauses": ["DB44T1944:9.1"]})
    assert res.status_code == 201


def _risk(api, i: int) -> None:
    res = api("mr").post("/registers/risk", json={
        "title": f"风险 {i}", "kind": "risk", "category": "operational", "likelihood": 3, "impact": 4,
        "status": "open", "owner": "head_ene", "department": "ENE"})
    assert res.status_code == 201, res.get_json()


def _obligation(api, i: int) -> None:
    res = api("mr").post("/registers/compliance_obligation", json={
        "title": f"法规 {i}", "obligation_type": "rule", "requirement": "要求", "department": "ENE",
        "evaluation_frequency": "daily"})
    ob = res.get_json()
    assert api("mr").post("/compliance-evaluations", json={"obligation_id": ob["id"]}).status_code == 201


def _review(api, i: int) -> None:
    res = api("mr").post("/management-reviews", json={"period_start": f"20{10 + i}-01-01",
                                                      "period_end": f"20{10 + i}-12-31"})
    assert res.status_code == 201, res.get_json()


def _programme(api, i: int) -> None:
    res = api("mr").post("/audit-programmes", json={
        "title": f"{2010 + i}年度内部审核方案", "period_start": f"{2010 + i}-01-01", "period_end": f"{2010 + i}-12-31",
        "objectives": "评价体系符合性", "criteria": ["DB44T1944"],
        "audits": [{"title": f"生产部专项审核 {i}", "month": f"{2010 + i}-06", "departments": ["PRD"],
                    "clauses": ["DB44T1944:9.1"], "lead_auditor": "auditor"}]})
    assert res.status_code == 201, res.get_json()


def _factor(api, i: int) -> None:
    res = api("mr").post("/carbon/factors", json={
        "code": f"ef.grid.{i}", "year": 2026, "name": f"区域电网排放因子 {i}", "kind": "emission_factor",
        "value": "0.5703", "unit": "tCO2/MWh", "source": "生态环境部公告"})
    assert res.status_code == 201, res.get_json()


def _activity(api, i: int) -> None:
    mr = api("mr")
    if i == 0:
        _factor(api, 0)
        src = mr.post("/registers/emission_source", json={"name": "净购入电力", "facility": "全厂",
                                                          "source_category": "purchased_electricity",
                                                          "department": "ENE"}).get_json()
        res = mr.client.put(f"/api/v1/carbon/methods/{src['id']}", headers=mr.headers, json={
            "method": "electricity", "unit": "MWh", "factors": {"emission_factor": "ef.grid.0"}})
        assert res.status_code == 200, res.get_json()
    res = api("staff_ene").post("/carbon/activity", json={
        "emission_source": "净购入电力", "period": f"2026-{i + 1:02d}", "quantity": "500", "unit": "MWh",
        "data_source": "meter"})
    assert res.status_code == 201, res.get_json()


def _maturity(api, i: int) -> None:
    res = api("mr").post("/maturity-evaluations", json={
        "title": f"{2010 + i} 年度成熟度评价", "period_start": f"{2010 + i}-01-01", "period_end": f"{2010 + i}-10-31",
        "lead": "auditor", "team": []})
    assert res.status_code == 201, res.get_json()


PAGES = [  # (page, how to add one row it lists, user)
    ("/nonconformities/", _nc, "mr"),
    ("/nonconformities/?status=open&department=PRD", _nc, "mr"),
    ("/", _nc, "mr"),  # dashboard: overdue items, tasks, notifications
    ("/tasks/", _nc, "head_prd"),
    ("/registers/risk/", _risk, "mr"),
    ("/search/?q=风险", _risk, "mr"),
    ("/compliance/", _obligation, "mr"),
    ("/reviews/", _review, "mr"),
    ("/notifications", _nc, "head_prd"),
    ("/audits/", _programme, "mr"),
    ("/carbon/factors", _factor, "mr"),
    ("/carbon/activity", _activity, "mr"),
    ("/carbon/", _activity, "mr"),  # totals, trend, deviations
    ("/carbon/maturity/", _maturity, "mr"),
    ("/documents/?status=draft", _nc, "staff_prd"),  # visibility filter in SQL for a staff member
]


@pytest.mark.parametrize(("path", "add", "user"), PAGES, ids=[p[0] for p in PAGES])
def test_list_pages_run_the_same_queries_for_3_rows_as_for_12(app, api, org, path, add, user):
    client = signed_in(app, org[user])
    for i in range(3):
        add(api, i)
    few = queries(app, client, path)
    for i in range(3, 12):
        add(api, i)
    many = queries(app, client, path)
    assert many == few, f"{path}: {few} queries for 3 rows, {many} for 12 (N+1)"


def test_document_register_and_coverage_run_the_same_queries_for_3_documents_as_for_12(app, org, new_procedure):
    client = signed_in(app, org["mr"])
    for i in range(3):
        new_procedure(title=f"温室气体排放管理程序{i}")
    few = {p: queries(app, client, p) for p in ("/documents/", "/standards/TCECAG", "/search/?q=排放")}
    for i in range(3, 12):
        new_procedure(title=f"温室气体排放管理程序{i}")
    many = {p: queries(app, client, p) for p in few}
    assert many == few


def test_registers_are_paged_and_keep_their_filters(app, api, org):
    from cmsflow.web.pagination import PER_PAGE

    for i in range(PER_PAGE + 3):
        _nc(api, i)
    client = signed_in(app, org["mr"])
    first = client.get("/nonconformities/?department=PRD").get_data(as_text=True)
    assert first.count("/nonconformities/") - first.count('href="/nonconformities/new"') >= PER_PAGE
    assert "第 1 / 2 页，共 53 条" in first and "department=PRD&amp;page=2" in first
    second = client.get("/nonconformities/?department=PRD&page=2").get_data(as_text=True)
    assert "第 2 / 2 页" in second and "不符合 0<" in second and "不符合 52<" not in second
    assert client.get("/nonconformities/?page=abc").status_code == 200  # a malformed page shows page 1


def test_api_lists_come_a_page_at_a_time_with_their_total(api, org):
    for i in range(7):
        _risk(api, i)
    body = api("mr").get("/registers/risk?per_page=5&page=2").get_json()
    assert (body["total"], body["pages"], body["page"], len(body["records"])) == (7, 2, 2, 2)
    assert [r["title"] for r in body["records"]] == ["风险 5", "风险 6"]
    assert api("mr").get("/registers/risk?per_page=abc").get_json()["per_page"] == 100


def test_register_shows_drafts_only_to_their_department_head_author_and_system_owners(app, api, org, new_procedure):
    new_procedure(title="能源计量管理程序（草稿）")  # an ENE draft by staff_ene
    for user, sees in (("staff_prd", False), ("head_prd", False), ("staff_ene2", False), ("staff_ene", True),
                       ("head_ene", True), ("mr", True), ("top", True)):
        page = signed_in(app, org[user]).get("/documents/").get_data(as_text=True)
        assert ("能源计量管理程序（草稿）" in page) is sees, user
        listed = [d["title"] for d in api(user).get("/documents").get_json()["documents"]]
        assert ("能源计量管理程序（草稿）" in listed) is sees, user


def test_coverage_lists_the_first_evidence_of_a_clause_and_counts_the_rest(app, api, org):
    from cmsflow.standards.service import EVIDENCE_SHOWN

    mr = api("mr")
    for i in range(EVIDENCE_SHOWN + 4):
        res = mr.post("/registers/interested_party", json={
            "name": f"相关方{i:02d}", "party_type": "government", "requirements": "按时报送排放报告",
            "addressed": True, "clauses": ["DB44T1944:4.2"]})
        assert res.status_code == 201, res.get_json()
    row = next(c for c in mr.get("/standards/DB44T1944/coverage").get_json()["clauses"]
               if c["ref"] == "DB44T1944:4.2")
    assert row["evidence_total"] == EVIDENCE_SHOWN + 4 and len(row["evidence"]) == EVIDENCE_SHOWN
    assert [e["label"] for e in row["evidence"]][:2] == ["相关方及其需求：相关方00", "相关方及其需求：相关方01"]
    page = signed_in(app, org["mr"]).get("/standards/DB44T1944").get_data(as_text=True)
    assert f"……共 {EVIDENCE_SHOWN + 4} 项" in page and "相关方09<" in page and "相关方10<" not in page
