"""Carbon assets of the demo company (``assets.yaml``): accounts, allowances of 2024 and 2025, one CCER purchase,
prices, reduction measures, the two verifications (2025 with one finding), the two compliance cycles — 2024
completed, 2025 waiting at "执行交易" — and a neutrality statement, driven through the same services and workflow
a user drives."""
from __future__ import annotations

import io
from datetime import date, timedelta
from pathlib import Path

import yaml
from docx import Document as DocxDocument
from sqlmodel import Session

from cmsflow.assets import compliance, disclosure, ledger, neutrality, valuation, verification
from cmsflow.auth.models import User

DATA = Path(__file__).with_name("assets.yaml")


def seed_assets(session: Session, users: dict[str, User]) -> None:
    """Add the carbon-asset content (the caller commits); needs the carbon data of ``seed_carbon``."""
    from cmsflow.demo.seed import DEMO_PASSWORD

    data = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    mr = users["li.daibiao"]
    for acc in data["accounts"]:
        ledger.create_account(session, mr, **acc)
    ledger.create_lot(session, mr, **data["ccer"])
    prices = data["prices"]
    for kind in ("cea", "ccer"):
        for day, price in prices[kind]:
            valuation.add_price(session, mr, asset_type=kind, price_date=day, price=price, source=prices["source"])
    for m in data["measures"]:
        valuation.save_measure(session, mr, None, **m)
    disclosure.save_criteria(session, mr, None, **data["disclosure_criteria"])
    _completed_cycle(session, users, data["cycles"][2024], DEMO_PASSWORD)
    _open_cycle(session, users, data["cycles"][2025], DEMO_PASSWORD)
    spec = data["neutrality"]
    retired = ledger.record_transaction(session, mr, **spec["retirement"])
    neutrality.issue_statement(session, mr, period_start=spec["period"][0], period_end=spec["period"][1],
                               boundary=spec["boundary"], source_ids=spec["sources"], transactions=[retired.id])


def _verification(session: Session, mr: User, year: int, spec: dict):
    ver = verification.create_verification(session, mr, compliance_year=year, period_start=spec["period"][0],
                                           period_end=spec["period"][1], scope=spec["scope"],
                                           verifier=spec["verifier"], lead_verifier=spec["lead_verifier"])
    verification.record_result(session, mr, ver, conclusion=spec["conclusion"],
                               verified_emissions=spec.get("verified_emissions"), lines=spec.get("lines"))
    if spec.get("finding"):
        verification.add_finding(session, mr, ver, description=spec["finding"], severity="minor",
                                 emission_source="生料碳酸盐分解（熟料煅烧过程排放）")
    return ver


def _record(session: Session, mr: User, rows: list[dict], cycle) -> None:
    for row in rows:
        row = dict(row)
        if row.pop("cycle", False):
            row["cycle_id"] = cycle.id
        ledger.record_transaction(session, mr, **row)


def _decide(session: Session, users: dict[str, User], cycle, spec: dict, password: str) -> None:
    mr = users["li.daibiao"]
    compliance.complete_step(session, cycle, mr, "confirm_emissions")
    compliance.complete_step(session, cycle, mr, "propose_decision", data=spec["decision"])
    compliance.complete_step(session, cycle, users["zhang.zong"], "approve_decision", decision="approve",
                             comment="同意。", password=password)


def _completed_cycle(session: Session, users: dict[str, User], spec: dict, password: str) -> None:
    """2024: a past cycle is recorded with its dated transactions before its workflow starts, so the deadline
    watch (already past) finds the allowances surrendered in time; then its steps are completed."""
    mr = users["li.daibiao"]
    _verification(session, mr, 2024, spec["verification"])
    cycle = compliance.new_cycle(session, mr, compliance_year=2024, department="FIN")
    _record(session, mr, spec["transactions"], cycle)
    compliance.start_workflow(session, cycle, mr)
    _decide(session, users, cycle, spec, password)
    compliance.complete_step(session, cycle, mr, "execute_decision")
    compliance.complete_step(session, cycle, mr, "surrender_allowances")
    compliance.attach_evidence(session, mr, cycle, "2024年度配额清缴确认.docx", _receipt(spec["evidence_note"]))
    compliance.complete_step(session, cycle, mr, "record_evidence", data={"evidence_note": spec["evidence_note"]})


def _open_cycle(session: Session, users: dict[str, User], spec: dict, password: str) -> None:
    """2025: verified, decided and approved; waiting for the trades (deadline 31 Dec 2026, or 40 days ahead when
    the demo is seeded later, so the cycle is still open)."""
    mr = users["li.daibiao"]
    _verification(session, mr, 2025, spec["verification"])
    deadline = max(date(2026, 12, 31), date.today() + timedelta(days=30))
    cycle = compliance.open_cycle(session, mr, compliance_year=2025, deadline=deadline, department="FIN")
    _record(session, mr, spec["transactions"], cycle)
    _decide(session, users, cycle, spec, password)


def _receipt(text: str) -> bytes:
    doc = DocxDocument()
    doc.add_heading("配额清缴完成确认", level=1)
    doc.add_paragraph(text)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()
