"""Allowance compliance (履约) through carbon_compliance.bpmn: the position the test computes by hand, offsets
refused beyond the limit, surrender transactions closing the cycle, and a missed deadline raising a
nonconformity when the worker runs past it."""
from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import time_machine

from tests.assets.conftest import ok
from tests.conftest import PASSWORD

TZ = ZoneInfo("Asia/Shanghai")


def _verified(mr, emissions: str, year: int = 2025) -> dict:
    ver = ok(mr.post("/assets/verifications", json={"compliance_year": year, "scope": "全厂排放源",
                                                    "verifier": "中环联合认证中心"}))
    return ok(mr.client.put(f"/api/v1/assets/verifications/{ver['id']}/result", headers=mr.headers, json={
        "verified_emissions": emissions, "conclusion": "数据真实、准确", "lock_version": ver["lock_version"]}), 200)


def _step(user, cycle_id: int, step: str, **body):
    return user.post(f"/assets/cycles/{cycle_id}/steps/{step}", json=body)


def test_cycle_position_offset_limit_surrender_and_close(app, api, ledger):
    mr, top = api("mr"), api("top")
    with time_machine.travel(datetime(2026, 6, 1, 9, 0, tzinfo=TZ), tick=False):
        _verified(mr, "110000")
        cycle = ok(mr.post("/assets/cycles", json={"compliance_year": 2025, "department": "ENE"}))
        assert cycle["deadline"] == "2026-12-31" and cycle["current_step"] == "confirm_emissions"
        cid = cycle["id"]
        ok(ledger(kind="allocation", lot="CEA-2025", quantity="100000", account="REG"))
        ok(ledger(kind="transfer", lot="CEA-2025", quantity="10000", account="REG", to_account="TRD"))
        ok(ledger(kind="purchase", lot="CEA-2025", quantity="5000", account="TRD", price="85", counterparty="某电厂"))
        ok(ledger(kind="sale", lot="CEA-2025", quantity="2000", account="TRD", price="92", counterparty="某钢厂"))
        done = ok(_step(mr, cid, "confirm_emissions"), 200)
        # by hand: allocated 100 000 + bought 5 000 − sold 2 000 − verified 110 000 = −7 000 tCO2e
        pos = {k: Decimal(val) for k, val in done["position"].items() if isinstance(val, str)}
        assert pos["position"] == Decimal(-7000) and pos["required"] == 110000 and pos["offset_limit"] == 5500
        assert done["status"] == "deciding"

        beyond = _step(mr, cid, "propose_decision", data={"decision": "offset", "offset_quantity": "6000",
                                                         "buy_quantity": "1000", "note": "CCER 价格低于配额"})
        assert beyond.status_code == 400 and beyond.get_json()["error"]["code"] == "offset_limit_exceeded"
        short = _step(mr, cid, "propose_decision", data={"decision": "buy", "buy_quantity": "1000", "note": "买入"})
        assert short.status_code == 400  # does not cover the 7 000 shortfall
        assert ok(mr.get(f"/assets/cycles/{cid}"), 200)["decision"] is None  # nothing saved
        ok(_step(mr, cid, "propose_decision", data={"decision": "buy", "buy_quantity": "2000",
                                                   "offset_quantity": "5000", "note": "买入 2000，抵销 5000"}), 200)
        approved = ok(_step(top, cid, "approve_decision", decision="approve", password=PASSWORD), 200)
        assert approved["approved_by"] == "top"

        early = _step(mr, cid, "execute_decision")
        assert early.status_code == 400 and early.get_json()["error"]["code"] == "execution_incomplete"
        ok(ledger(kind="purchase", lot="CEA-2025", quantity="2000", account="TRD", price="86", counterparty="某电厂"))
        ok(ledger(kind="purchase", lot="CCER-WIND", quantity="6000", account="TRD", price="60", counterparty="风电"))
        assert ok(_step(mr, cid, "execute_decision"), 200)["status"] == "surrendering"

        ok(ledger(kind="transfer", lot="CEA-2025", quantity="15000", account="TRD", to_account="REG"))
        ok(ledger(kind="transfer", lot="CCER-WIND", quantity="6000", account="TRD", to_account="REG"))
        ok(ledger(kind="surrender", lot="CEA-2025", quantity="100000", account="REG", cycle_id=cid, date="2026-11-20"))
        not_yet = _step(mr, cid, "surrender_allowances")
        assert not_yet.get_json()["error"]["code"] == "surrender_incomplete"
        ok(ledger(kind="surrender", lot="CEA-2025", quantity="5000", account="REG", cycle_id=cid, date="2026-11-20"))
        ok(ledger(kind="surrender", lot="CCER-WIND", quantity="5000", account="REG", cycle_id=cid,
                  serial_start=100001, serial_end=105000, date="2026-11-20"))
        over = ledger(kind="surrender", lot="CCER-WIND", quantity="501", account="REG", cycle_id=cid,
                      serial_start=105001, serial_end=105501)
        assert over.status_code == 400 and over.get_json()["error"]["code"] == "offset_limit_exceeded"
        after = ok(_step(mr, cid, "surrender_allowances"), 200)
        assert Decimal(after["position"]["outstanding"]) == 0 and after["status"] == "evidencing"

        assert _step(mr, cid, "record_evidence", data={"evidence_note": "已清缴"}).status_code == 400  # no file
        ok(mr.post(f"/assets/cycles/{cid}/evidence", data={"file": (io.BytesIO(b"%PDF-1.4 receipt"), "清缴确认.pdf")}))
        closed = ok(_step(mr, cid, "record_evidence", data={"evidence_note": "注册登记系统显示已足额清缴"}), 200)
        assert closed["status"] == "closed" and closed["current_step"] is None and closed["position"]["met_by_deadline"]
    with time_machine.travel(datetime(2027, 1, 1, 0, 30, tzinfo=TZ), tick=False):
        assert app.test_cli_runner().invoke(args=["cmsflow", "worker", "--once"]).exit_code == 0
        mr = api("mr")  # a fresh token at this time
        assert ok(mr.get(f"/assets/cycles/{cid}"), 200)["nonconformity_id"] is None  # surrendered in time
        assert ok(mr.get("/nonconformities?source=carbon_compliance"), 200)["nonconformities"] == []


def test_open_cycle_past_its_deadline_raises_a_nonconformity_through_the_worker(app, api, org, ledger):
    mr = api("mr")
    with time_machine.travel(datetime(2026, 11, 1, 9, 0, tzinfo=TZ), tick=False):
        cid = ok(mr.post("/assets/cycles", json={"compliance_year": 2025, "department": "ENE"}))["id"]
        ok(ledger(kind="allocation", lot="CEA-2025", quantity="100000", account="REG"))
    run = app.test_cli_runner().invoke
    with time_machine.travel(datetime(2026, 12, 2, 9, 0, tzinfo=TZ), tick=False):
        assert run(args=["cmsflow", "worker", "--once"]).exit_code == 0  # the reminder, no nonconformity yet
        mr = api("mr")
        assert ok(mr.get(f"/assets/cycles/{cid}"), 200)["nonconformity_id"] is None
    with time_machine.travel(datetime(2026, 12, 31, 20, 0, tzinfo=TZ), tick=False):
        run(args=["cmsflow", "worker", "--once"])
        mr = api("mr")
        assert ok(mr.get(f"/assets/cycles/{cid}"), 200)["nonconformity_id"] is None  # the deadline day is not over
    with time_machine.travel(datetime(2027, 1, 1, 0, 30, tzinfo=TZ), tick=False):
        result = run(args=["cmsflow", "worker", "--once"])
        assert result.exit_code == 0, result.output
        mr = api("mr")
        cycle = ok(mr.get(f"/assets/cycles/{cid}"), 200)
        assert cycle["nonconformity_id"] is not None and cycle["status"] == "emissions"
        nc = ok(mr.get(f"/nonconformities/{cycle['nonconformity_id']}"), 200)
        assert nc["source"] == "carbon_compliance" and nc["severity"] == "major" and nc["department"] == "ENE"
        assert "2026-12-31" in nc["title"] and nc["source_ref"] == f"compliance_cycle:{cid}"
        run(args=["cmsflow", "worker", "--once"])
        assert len(ok(mr.get("/nonconformities?source=carbon_compliance"), 200)["nonconformities"]) == 1


def test_reminder_and_escalation_before_the_deadline(app, api, org, ledger):
    from sqlmodel import select

    from cmsflow.core.db import session_scope
    from cmsflow.workflow.models import Notification

    mr = api("mr")
    with time_machine.travel(datetime(2026, 11, 1, 9, 0, tzinfo=TZ), tick=False):
        ok(mr.post("/assets/cycles", json={"compliance_year": 2025, "department": "ENE"}))
    with time_machine.travel(datetime(2026, 12, 25, 9, 0, tzinfo=TZ), tick=False), app.app_context():
        app.test_cli_runner().invoke(args=["cmsflow", "worker", "--once"])
        with session_scope() as s:
            notes = {(n.user_id, n.kind) for n in s.exec(select(Notification).where(
                Notification.subject_type == "compliance_cycle"))}
    assert {(org["mr"], "reminder"), (org["head_ene"], "reminder"), (org["top"], "escalation")} <= notes
    assert (org["head_prd"], "reminder") not in notes
