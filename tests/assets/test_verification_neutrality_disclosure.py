"""Verification differences per source and findings raising nonconformities; the neutrality balance and
statement (every retired unit with its serials, a unit never claimed twice); the disclosure report as a
controlled document approved before release."""
from __future__ import annotations

import io
import shutil
import subprocess
from decimal import Decimal

import pytest
from docx import Document

from tests.assets.conftest import CCER_PREFIX, ok
from tests.conftest import PASSWORD


def test_verification_lists_differences_per_source_and_a_finding_raises_a_nonconformity(api, emissions):
    mr = api("mr")
    ver = ok(mr.post("/assets/verifications", json={"compliance_year": 2025, "scope": "熟料生产线全部排放源",
                                                    "verifier": "中环联合认证中心", "lead_verifier": "王工"}))
    assert ver["period_start"] == "2025-01-01" and ver["status"] == "planned"
    stale = mr.client.put(f"/api/v1/assets/verifications/{ver['id']}/result", headers=mr.headers, json={
        "conclusion": "x", "verified_emissions": "1", "lock_version": ver["lock_version"] + 1})
    assert stale.status_code == 409
    done = ok(mr.client.put(f"/api/v1/assets/verifications/{ver['id']}/result", headers=mr.headers, json={
        "conclusion": "熟料产量以出厂量核定", "lock_version": ver["lock_version"],
        "lines": [{"emission_source": "熟料煅烧过程", "verified": "1071", "note": "熟料产量按出厂量 2040 t 核定"}]}),
        200)
    # compared over the verified boundary (the one source with a line): 1071 verified against 1050 accounted
    assert Decimal(done["verified_emissions"]) == 1071 and Decimal(done["accounting_emissions"]) == 1050
    diffs = {d["source"]: d for d in done["differences"]}
    assert Decimal(diffs["熟料煅烧过程"]["difference"]) == 21 and Decimal(diffs["熟料煅烧过程"]["percent"]) == 2
    assert diffs["净购入电力"]["verified"] is None and Decimal(diffs["净购入电力"]["accounted"]) == Decimal("285.15")

    with_finding = ok(mr.post(f"/assets/verifications/{ver['id']}/findings", json={
        "description": "3月熟料产量统计与出厂量不一致", "severity": "minor", "emission_source": "熟料煅烧过程"}))
    finding = with_finding["findings"][0]
    raised = ok(mr.post(f"/assets/verification-findings/{finding['id']}/nonconformity", json={"department": "PRD"}))
    nc = ok(mr.get(f"/nonconformities/{raised['nonconformity_id']}"), 200)
    assert nc["source"] == "verification" and nc["department"] == "PRD" and "出厂量" in nc["title"]
    again = mr.post(f"/assets/verification-findings/{finding['id']}/nonconformity", json={"department": "PRD"})
    assert again.status_code == 409


def _retire(ledger, start: int, end: int, date: str) -> dict:
    return ok(ledger(kind="retirement", lot="CCER-WIND", quantity=str(end - start + 1), account="TRD",
                     serial_start=start, serial_end=end, date=date, purpose="碳中和"))


def test_neutrality_statement_lists_the_retired_units_and_a_unit_is_never_claimed_twice(app, api, ledger, emissions):
    mr = api("mr")
    ok(ledger(kind="purchase", lot="CCER-WIND", quantity="2000", account="TRD", price="60", counterparty="风电公司"))
    a = _retire(ledger, 100001, 101000, "2026-02-01")
    b = _retire(ledger, 101001, 101300, "2026-02-02")
    balance = ok(mr.get("/assets/neutrality/balance?from=2025-01-01&to=2025-12-31"), 200)
    # emissions 1335.15 − offsets 1300 = 35.15 ≤ 5 % × 1335.15 = 66.76: near-neutral
    assert Decimal(balance["emissions"]) == Decimal("1335.15") and Decimal(balance["net"]) == Decimal("35.15")
    assert balance["status"] == "near_neutral"
    only_process = ok(mr.get(f"/assets/neutrality/balance?from=2025-01-01&to=2025-12-31"
                             f"&source={emissions['熟料煅烧过程']}"), 200)
    assert only_process["status"] == "neutral" and Decimal(only_process["net"]) == -250

    stmt = ok(mr.post("/assets/neutrality", json={"period_start": "2025-01-01", "period_end": "2025-12-31",
                                                  "boundary": "熟料生产线", "transactions": [a["id"], b["id"]]}))
    assert stmt["status"] == "near_neutral" and [u["transaction"] for u in stmt["units"]] == [a["code"], b["code"]]
    twice = mr.post("/assets/neutrality", json={"period_start": "2026-01-01", "period_end": "2026-06-30",
                                                "boundary": "熟料生产线", "transactions": [b["id"]]})
    err = twice.get_json()["error"]
    assert twice.status_code == 409 and err["code"] == "already_claimed" and stmt["code"] in err["message"]
    assert len(ok(mr.get("/assets/neutrality"), 200)["statements"]) == 1
    assert ok(mr.get("/assets/neutrality/balance?from=2025-01-01&to=2025-12-31"), 200)["offsets"] == "0"

    res = api("head_ene").get(f"/assets/neutrality/{stmt['id']}/statement.docx")
    assert res.status_code == 200
    doc = Document(io.BytesIO(res.data))
    text = "\n".join([p.text for p in doc.paragraphs] + [c.text for t in doc.tables for r in t.rows for c in r.cells])
    for serials in (f"{CCER_PREFIX}100001–{CCER_PREFIX}101000", f"{CCER_PREFIX}101001–{CCER_PREFIX}101300"):
        assert serials in text
    assert stmt["code"] in text and "接近碳中和" in text and "1,335.15" in text


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_the_neutrality_statement_opens_in_libreoffice(api, ledger, emissions, tmp_path):
    mr = api("mr")
    ok(ledger(kind="purchase", lot="CCER-WIND", quantity="100", account="TRD", price="60", counterparty="风电公司"))
    unit = _retire(ledger, 100001, 100100, "2026-02-01")
    stmt = ok(mr.post("/assets/neutrality", json={"period_start": "2025-03-01", "period_end": "2025-03-31",
                                                  "boundary": "办公区", "transactions": [unit["id"]]}))
    (tmp_path / "statement.docx").write_bytes(mr.get(f"/assets/neutrality/{stmt['id']}/statement.docx").data)
    subprocess.run(["soffice", "--headless", "--convert-to", "txt:Text", "--outdir", str(tmp_path),
                    str(tmp_path / "statement.docx")], check=True, capture_output=True, timeout=120)
    assert f"{CCER_PREFIX}100001–{CCER_PREFIX}100100" in (tmp_path / "statement.txt").read_text(encoding="utf-8")


def test_disclosure_report_is_generated_and_released_through_document_approval(api, emissions):
    mr = api("mr")
    criteria = ok(mr.post("/assets/disclosure-criteria", json={
        "code": "PL-01", "title": "年度碳排放信息披露", "mandatory": False, "frequency": "annual",
        "scope": "组织边界内的直接和间接排放、强度、目标和减排行动", "audience": "公司网站", "department": "ENE"}))
    stale = mr.client.put(f"/api/v1/assets/disclosure-criteria/{criteria['id']}", headers=mr.headers,
                          json={**criteria, "department": "ENE", "lock_version": 99})
    assert stale.status_code == 409
    unverified = mr.post("/assets/disclosures", json={"criteria_id": criteria["id"], "year": 2025})
    assert unverified.status_code == 400 and unverified.get_json()["error"]["code"] == "no_verified_emissions"
    ver = ok(mr.post("/assets/verifications", json={"compliance_year": 2025, "scope": "全厂", "verifier": "核查机构"}))
    ok(mr.client.put(f"/api/v1/assets/verifications/{ver['id']}/result", headers=mr.headers, json={
        "conclusion": "无重大差异", "verified_emissions": "1340.5", "lock_version": ver["lock_version"]}), 200)
    rep = ok(mr.post("/assets/disclosures", json={"criteria_id": criteria["id"], "year": 2025}))
    assert rep["status"] == "in_review" and rep["figures"]["verified_emissions"] == "1,340.50"
    twice = mr.post("/assets/disclosures", json={"criteria_id": criteria["id"], "year": 2025})
    assert twice.status_code == 409

    doc = ok(mr.get(f"/documents/{rep['document_id']}"), 200)
    assert doc["doc_type"] == "record_form" and "DB44T1944:8.3" in doc["clauses"]
    text = "\n".join(c.text for t in Document(io.BytesIO(mr.get(
        f"/documents/{rep['document_id']}/versions/1/file").data)).tables for r in t.rows for c in r.cells)
    assert "年度碳排放信息披露" in text
    head = api("head_ene")
    (review,) = [t for t in ok(head.get("/tasks"), 200)["tasks"] if t["subject"]["id"] == rep["document_id"]]
    ok(head.post(f"/tasks/{review['id']}/complete", json={"decision": "approve", "password": PASSWORD}), 200)
    # the MR generated (authored) the report, so the approval goes to top management (segregation of duties)
    top = api("top")
    (approval,) = [t for t in ok(top.get("/tasks"), 200)["tasks"] if t["name"] == "mr_approval"]
    ok(top.post(f"/tasks/{approval['id']}/complete", json={"decision": "approve", "password": PASSWORD}), 200)
    assert ok(mr.get("/assets/disclosures"), 200)["disclosures"][0]["status"] == "released"
