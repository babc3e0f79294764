"""The carbon asset register: balances are the sum of the transactions, a movement that would make a balance
negative stores nothing (also when two sales race), serial ranges are used once, the register exports to .xlsx."""
from __future__ import annotations

import io
import threading
import time
from collections import defaultdict
from decimal import Decimal

from openpyxl import load_workbook

from cmsflow.assets import ledger as ledger_service
from cmsflow.auth.models import User
from cmsflow.core.db import session_scope
from cmsflow.core.errors import ValidationError
from tests.assets.conftest import CCER_PREFIX, ok


def _sums_of(transactions: list[dict]) -> dict:
    """Balances computed by hand from the transaction list: into (to account, to status), out of (from, status)."""
    out = defaultdict(Decimal)
    for t in transactions:
        out[(t["to_account"], t["lot"], t["to_status"])] += Decimal(t["quantity"])
        if t["from_account"]:
            out[(t["from_account"], t["lot"], t["from_status"])] -= Decimal(t["quantity"])
    return {k: val for k, val in out.items() if val}


def _holdings(mr) -> dict:
    rows = ok(mr.get("/assets/holdings"), 200)["holdings"]
    return {(h["account"], h["lot"], status): Decimal(h[status]) for h in rows
            for status in ("held", "pledged", "surrendered", "retired", "sold") if Decimal(h[status])}


def test_balances_are_the_sum_of_transactions_and_a_negative_movement_stores_nothing(api, ledger):
    mr = api("mr")
    ok(ledger(kind="allocation", lot="CEA-2025", quantity="100000", account="REG", date="2026-06-30"))
    ok(ledger(kind="transfer", lot="CEA-2025", quantity="30000", account="REG", to_account="TRD"))
    ok(ledger(kind="sale", lot="CEA-2025", quantity="5000", account="TRD", price="82.50", counterparty="某电厂"))
    ok(ledger(kind="purchase", lot="CEA-2025", quantity="2000.5", account="TRD", price="80", counterparty="某钢厂"))
    ok(ledger(kind="pledge", lot="CEA-2025", quantity="1000", account="REG", note="配额质押融资"))
    txns = ok(mr.get("/assets/transactions"), 200)["transactions"]
    assert _holdings(mr) == _sums_of(txns)
    held = _holdings(mr)
    assert held[("REG", "CEA-2025", "held")] == Decimal("69000") and held[("REG", "CEA-2025", "pledged")] == 1000
    assert held[("TRD", "CEA-2025", "held")] == Decimal("27000.5") and held[("TRD", "CEA-2025", "sold")] == 5000

    too_much = ledger(kind="sale", lot="CEA-2025", quantity="27000.6", account="TRD", price="80", counterparty="x")
    assert too_much.status_code == 400 and too_much.get_json()["error"]["code"] == "insufficient_balance"
    assert "27,000.500000" in too_much.get_json()["error"]["message"]  # the available balance is named
    unpledge = ledger(kind="release", lot="CEA-2025", quantity="1000.01", account="REG")
    assert unpledge.get_json()["error"]["code"] == "insufficient_balance"
    assert ok(mr.get("/assets/transactions"), 200)["transactions"] == txns  # nothing stored
    assert _holdings(mr) == held

    wrong = ledger(kind="allocation", lot="CEA-2025", quantity="10", account="TRD")
    assert wrong.status_code == 400 and "account" in wrong.get_json()["error"]["details"]["fields"]
    unpriced = ledger(kind="purchase", lot="CEA-2025", quantity="10", account="TRD")
    assert set(unpriced.get_json()["error"]["details"]["fields"]) == {"price", "counterparty"}
    assert ledger(kind="sale", lot="CEA-2025", quantity="-5", account="TRD", price="1",
                  counterparty="x").status_code == 400
    assert api("staff_ene").post("/assets/transactions", json={
        "kind": "allocation", "lot": "CEA-2025", "quantity": "1", "account": "REG"}).status_code == 403


def test_a_serial_range_is_retired_once_and_a_second_retirement_names_the_first(api, ledger):
    mr = api("mr")
    ok(ledger(kind="purchase", lot="CCER-WIND", quantity="2000", account="TRD", price="65", counterparty="某风电公司",
              date="2026-03-02"))
    first = ok(ledger(kind="retirement", lot="CCER-WIND", quantity="500", account="TRD", serial_start=100001,
                      serial_end=100500, date="2026-03-10", purpose="2025 年度办公楼碳中和"))
    assert first["serials"] == f"{CCER_PREFIX}100001–{CCER_PREFIX}100500"
    before = ok(mr.get("/assets/transactions"), 200)["transactions"]

    again = ledger(kind="retirement", lot="CCER-WIND", quantity="200", account="TRD", serial_start=100401,
                   serial_end=100600)
    err = again.get_json()["error"]
    assert again.status_code == 409 and err["code"] == "serial_already_used"
    assert first["code"] in err["message"] and "2026-03-10" in err["message"]
    assert err["details"]["earlier"] == {"code": first["code"], "date": "2026-03-10"}
    miscount = ledger(kind="retirement", lot="CCER-WIND", quantity="10", account="TRD", serial_start=100501,
                      serial_end=100600)
    assert miscount.status_code == 400 and "quantity" in miscount.get_json()["error"]["details"]["fields"]
    outside = ledger(kind="retirement", lot="CCER-WIND", quantity="10", account="TRD", serial_start=109995,
                     serial_end=110004)
    assert outside.status_code == 400 and "serial_end" in outside.get_json()["error"]["details"]["fields"]
    assert ok(mr.get("/assets/transactions"), 200)["transactions"] == before  # nothing stored

    overlapping = mr.post("/assets/lots", json={"asset_type": "ccer", "name": "同前缀的另一批",
                                                "serial_prefix": CCER_PREFIX, "serial_start": 109000,
                                                "serial_end": 120000})
    assert overlapping.status_code == 409 and "CCER-WIND" in overlapping.get_json()["error"]["message"]
    too_many = ledger(kind="purchase", lot="CCER-WIND", quantity="8001", account="TRD", price="65", counterparty="x")
    assert too_many.get_json()["error"]["code"] == "serial_range_exceeded"
    ok(ledger(kind="retirement", lot="CCER-WIND", quantity="100", account="TRD", serial_start=100501,
              serial_end=100600))


def test_two_concurrent_sales_cannot_both_pass(app, org, ledger):
    """The first sale holds the account lock until it commits; the second then sees the lower balance."""
    ok(ledger(kind="purchase", lot="CEA-2025", quantity="1000", account="TRD", price="80", counterparty="x"))
    sale = {"kind": "sale", "lot": "CEA-2025", "quantity": "600", "account": "TRD", "price": "90", "counterparty": "y"}
    outcome = {}

    def second():
        with app.app_context():
            try:
                with session_scope() as s:
                    ledger_service.record_transaction(s, s.get(User, org["mr"]), **sale)
                outcome["second"] = "stored"
            except ValidationError as exc:
                outcome["second"] = exc.code

    with app.app_context():
        with session_scope() as s:
            ledger_service.record_transaction(s, s.get(User, org["mr"]), **sale)
            racer = threading.Thread(target=second)
            racer.start()
            time.sleep(0.5)  # the second sale is waiting for the lock
            assert "second" not in outcome
        racer.join(timeout=30)
        assert outcome == {"second": "insufficient_balance"}
        with session_scope() as s:
            assert ledger_service.balance(s, ledger_service.account(s, "TRD").id,
                                          ledger_service.lot(s, "CEA-2025").id) == Decimal(400)


def test_register_exports_holdings_and_transactions_to_xlsx(api, ledger):
    ok(ledger(kind="allocation", lot="CEA-2025", quantity="1200", account="REG"))
    ok(ledger(kind="purchase", lot="CCER-WIND", quantity="300", account="TRD", price="65", counterparty="某风电公司"))
    ok(api("mr").post("/assets/prices", json={"asset_type": "cea", "date": "2026-01-05", "price": "85.20",
                                              "source": "全国碳市场收盘价"}))
    res = api("staff_prd").get("/assets/export.xlsx")
    assert res.status_code == 200
    wb = load_workbook(io.BytesIO(res.data))
    assert wb.sheetnames == ["持仓", "交易", "履约"]
    rows = list(wb["持仓"].iter_rows(min_row=2, values_only=True))
    assert ("CEA-2025", "REG", 1200, 1200 * 85.2) in [(r[0], r[3], r[4], r[10]) for r in rows]
    kinds = [r[2] for r in wb["交易"].iter_rows(min_row=2, values_only=True)]
    assert kinds == ["配额分配", "购入"]
