"""Carbon assets as JSON and .xlsx; compliance cycles and verifications in search and clause coverage."""
from __future__ import annotations

import io
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.styles import Font
from sqlmodel import Session, select

from cmsflow.assets import compliance, disclosure, ledger, neutrality, valuation, verification
from cmsflow.assets import compliance_steps as _steps  # noqa: F401 - registers the task forms and BPMN services
from cmsflow.assets.models import (
    ASSET_TYPES,
    CYCLE_STATUSES,
    TRANSACTION_KINDS,
    AbatementMeasure,
    AssetAccount,
    AssetLot,
    AssetTransaction,
    ComplianceCycle,
    Disclosure,
    DisclosureCriteria,
    NeutralityStatement,
    Verification,
)
from cmsflow.auth import permissions
from cmsflow.auth.models import Department
from cmsflow.core.clock import local_date
from cmsflow.core.exports import append_row, append_rows
from cmsflow.documents.models import Document
from cmsflow.nonconformities.models import Nonconformity
from cmsflow.nonconformities.presenters import history_json, username
from cmsflow.search.backend import Entry
from cmsflow.search.service import register_provider
from cmsflow.standards.service import Evidence, Found, register_evidence_provider
from cmsflow.workflow import service as workflow


def _s(value) -> str | None:
    return None if value is None else str(value)


def account_json(a: AssetAccount) -> dict:
    return {"id": a.id, "code": a.code, "name": a.name, "kind": a.kind, "institution": a.institution,
            "number": a.number, "active": a.active}


def lot_json(lot: AssetLot) -> dict:
    return {"id": lot.id, "code": lot.code, "asset_type": lot.asset_type, "unit": lot.unit, "name": lot.name,
            "compliance_year": lot.compliance_year, "methodology": lot.methodology, "vintage": lot.vintage,
            "registry": lot.registry_system, "serial_prefix": lot.serial_prefix, "serial_start": lot.serial_start,
            "serial_end": lot.serial_end}


def transaction_json(session: Session, t: AssetTransaction) -> dict:
    lot = session.get(AssetLot, t.lot_id)
    accounts = {a.id: a.code for a in session.exec(select(AssetAccount))}
    return {"id": t.id, "code": t.code, "kind": t.kind, "lot": lot.code, "asset_type": lot.asset_type,
            "quantity": str(t.quantity), "unit": lot.unit, "from_account": accounts.get(t.from_account_id),
            "from_status": t.from_status, "to_account": accounts.get(t.to_account_id), "to_status": t.to_status,
            "date": t.occurred_on.isoformat(), "price": _s(t.price),
            "amount": _s((t.price * t.quantity).quantize(Decimal("0.01"))) if t.price is not None else None,
            "counterparty": t.counterparty, "cycle_id": t.cycle_id, "serial_start": t.serial_start,
            "serial_end": t.serial_end, "serials": ledger.serial_label(lot.serial_prefix, t.serial_start, t.serial_end)
            or None, "purpose": t.purpose, "note": t.note, "evidence": t.evidence_filename,
            "created_by": username(session, t.created_by_id)}


def holding_json(row: dict) -> dict:
    return {"lot": row["lot"].code, "asset_type": row["lot"].asset_type, "unit": row["lot"].unit,
            "account": row["account"].code, **{k: str(row[k]) for k in valuation.STATUSES},
            "price": _s(row["price"].price) if row["price"] else None,
            "price_date": row["price"].price_date.isoformat() if row["price"] else None, "value": _s(row["value"])}


def measure_json(m: AbatementMeasure, price=None) -> dict:
    cost = valuation.cost_per_tonne(m)
    return {"id": m.id, "title": m.title, "department_id": m.department_id, "annual_reduction": str(m.annual_reduction),
            "investment": str(m.investment), "lifetime_years": m.lifetime_years, "annual_cost": str(m.annual_cost),
            "status": m.status, "cost_per_tonne": str(cost), "lock_version": m.lock_version,
            "advice": None if price is None else ("abate" if cost <= price.price else "buy")}


def position_json(pos: dict | None) -> dict | None:
    return None if pos is None else {k: (val if isinstance(val, bool) else _s(val)) for k, val in pos.items()}


def cycle_json(session: Session, c: ComplianceCycle, *, full: bool = False) -> dict:
    task = workflow.open_task(session, compliance.SUBJECT, c.id)
    nc = session.get(Nonconformity, c.nonconformity_id) if c.nonconformity_id else None
    out = {"id": c.id, "code": c.code, "compliance_year": c.compliance_year, "deadline": c.deadline.isoformat(),
           "status": c.status, "current_step": task.name if task else None, "lot": session.get(AssetLot, c.lot_id).code,
           "verified_emissions": _s(c.verified_emissions), "accounting_emissions": _s(c.accounting_emissions),
           "offset_limit_ratio": str(c.offset_limit_ratio), "decision": c.decision,
           "buy_quantity": _s(c.buy_quantity), "sell_quantity": _s(c.sell_quantity),
           "offset_quantity": _s(c.offset_quantity), "approved_by": username(session, c.approved_by_id),
           "closed_at": c.closed_at.isoformat() if c.closed_at else None, "nonconformity": nc.code if nc else None,
           "nonconformity_id": c.nonconformity_id, "position": position_json(compliance.position(session, c)),
           "lock_version": c.lock_version}
    if full:
        out.update({"decision_note": c.decision_note, "evidence": c.evidence_filename, "evidence_note": c.evidence_note,
                    "transactions": [transaction_json(session, t) for t in _cycle_transactions(session, c)],
                    "history": history_json(session, compliance.SUBJECT, c.id)})
    return out


def _cycle_transactions(session: Session, c: ComplianceCycle) -> list[AssetTransaction]:
    """The movements of the year's allowance lot and every surrender for the cycle, by date."""
    rows = {t.id: t for t in ledger.transactions(session, {"lot": c.lot_id})}
    rows.update({t.id: t for t in ledger.transactions(session, {"cycle": c.id})})
    return sorted(rows.values(), key=lambda t: (t.occurred_on, t.id))


def verification_json(session: Session, ver: Verification, *, full: bool = False) -> dict:
    out = {"id": ver.id, "code": ver.code, "compliance_year": ver.compliance_year,
           "period_start": ver.period_start.isoformat(), "period_end": ver.period_end.isoformat(), "scope": ver.scope,
           "verifier": ver.verifier, "lead_verifier": ver.lead_verifier, "status": ver.status,
           "accounting_emissions": _s(ver.accounting_emissions), "verified_emissions": _s(ver.verified_emissions),
           "conclusion": ver.conclusion, "completed_on": ver.completed_on.isoformat() if ver.completed_on else None,
           "report": ver.report_filename, "lock_version": ver.lock_version}
    if full:
        out["differences"] = [{k: (_s(val) if isinstance(val, Decimal) else val) for k, val in row.items()}
                              for row in verification.differences(session, ver)]
        out["findings"] = [{"id": f.id, "seq": f.seq, "description": f.description, "severity": f.severity,
                            "emission_source_id": f.emission_source_id, "nonconformity_id": f.nonconformity_id}
                           for f in verification.findings(session, ver)]
    return out


def statement_json(session: Session, s: NeutralityStatement) -> dict:
    return {"id": s.id, "code": s.code, "period_start": s.period_start.isoformat(),
            "period_end": s.period_end.isoformat(), "boundary": s.boundary, "source_ids": s.source_ids,
            "emissions": str(s.emissions), "offsets": str(s.offsets), "net": str(s.net),
            "tolerance": str(s.tolerance), "status": s.status, "issued_on": local_date(s.created_at).isoformat(),
            "units": [{"transaction": t.code, "lot": lot.code, "quantity": str(t.quantity), "unit": lot.unit,
                       "serials": ledger.serial_label(lot.serial_prefix, t.serial_start, t.serial_end) or None}
                      for t, lot in neutrality.claimed_units(session, s)]}


def criteria_json(session: Session, c: DisclosureCriteria) -> dict:
    dept = session.get(Department, c.department_id)
    return {"id": c.id, "code": c.code, "title": c.title, "mandatory": c.mandatory, "frequency": c.frequency,
            "scope": c.scope, "audience": c.audience, "department": dept.code if dept else None, "active": c.active,
            "lock_version": c.lock_version}


def disclosure_json(session: Session, d: Disclosure) -> dict:
    doc = session.get(Document, d.document_id)
    return {"id": d.id, "code": d.code, "criteria_id": d.criteria_id, "year": d.year, "document_id": doc.id,
            "document": doc.code, "status": disclosure.status_of(session, d), "figures": d.figures}


# --- .xlsx export -----------------------------------------------------------------------------------------

def _sheet(wb: Workbook, title: str, headers: list[str], rows: list[list], widths: list[int]) -> None:
    ws = wb.create_sheet(title)
    append_row(ws, headers)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    append_rows(ws, rows)
    for i, width in enumerate(widths):
        ws.column_dimensions[chr(ord("A") + i)].width = width


def export_xlsx(session: Session) -> bytes:
    """The register as .xlsx: holdings by lot and account, every transaction, the compliance cycles.
    Quantities are numbers (tCO2e or MWh), prices CNY per unit."""
    wb = Workbook()
    wb.remove(wb.active)
    _sheet(wb, "持仓", ["批次", "资产类型", "单位", "账户", "持有", "质押", "已清缴", "已注销", "已出售", "最新价格",
                      "市值（元）"],
           [[r["lot"].code, ASSET_TYPES[r["lot"].asset_type], r["lot"].unit, r["account"].code,
             *[float(r[k]) for k in valuation.STATUSES], float(r["price"].price) if r["price"] else None,
             float(r["value"]) if r["value"] is not None else None] for r in valuation.holdings(session)],
           [14, 24, 8, 14, 12, 10, 12, 12, 12, 12, 16])
    accounts = {a.id: a.code for a in session.exec(select(AssetAccount))}
    lots = {lot.id: lot for lot in session.exec(select(AssetLot))}
    _sheet(wb, "交易", ["编号", "日期", "类型", "批次", "数量", "单位", "转出账户", "转入账户", "价格（元/单位）",
                      "交易对方", "序列号", "用途", "说明"],
           [[t.code, t.occurred_on, TRANSACTION_KINDS[t.kind], lots[t.lot_id].code, float(t.quantity),
             lots[t.lot_id].unit, accounts.get(t.from_account_id, ""), accounts.get(t.to_account_id, ""),
             float(t.price) if t.price is not None else None, t.counterparty or "",
             ledger.serial_label(lots[t.lot_id].serial_prefix, t.serial_start, t.serial_end), t.purpose or "",
             t.note or ""] for t in ledger.transactions(session)],
           [14, 12, 10, 14, 12, 8, 14, 14, 12, 24, 40, 20, 30])
    rows = []
    for c in compliance.cycles(session):
        pos = compliance.position(session, c)
        rows.append([c.code, c.compliance_year, c.deadline, str(CYCLE_STATUSES[c.status]),
                     *[float(pos[k]) if pos[k] is not None else None for k in (
                         "allocated", "bought", "sold", "required", "position", "surrendered_allowances",
                         "offsets_surrendered", "outstanding")]])
    _sheet(wb, "履约", ["履约期", "年度", "清缴期限", "状态", "分配", "买入", "卖出", "应清缴", "盈缺", "已清缴配额",
                      "已抵销", "尚需清缴"], rows, [10, 8, 12, 14, 14, 12, 12, 14, 14, 14, 12, 12])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# --- search and clause coverage ------------------------------------------------------------------------

def _cycle_entry(session: Session, cycle_id: int) -> Entry | None:
    c = session.get(ComplianceCycle, cycle_id)
    if c is None:
        return None
    body = " ".join(t for t in (c.decision_note, c.evidence_note, f"{c.compliance_year} 年度配额清缴 履约") if t)
    return Entry(key=f"compliance_cycle:{c.id}", type="compliance_cycle", id=c.id, title=f"配额履约：{c.code}",
                 code=c.code, body=body, url=f"/assets/cycles/{c.id}", visibility=permissions.SYSTEM_VISIBILITY)


def _verification_entry(session: Session, ver_id: int) -> Entry | None:
    ver = session.get(Verification, ver_id)
    if ver is None:
        return None
    body = " ".join([ver.scope, ver.verifier, ver.conclusion or "",
                     *[f.description for f in verification.findings(session, ver)]])
    return Entry(key=f"asset_verification:{ver.id}", type="asset_verification", id=ver.id,
                 title=f"第三方核查：{ver.compliance_year} 年度（{ver.verifier}）", code=ver.code, body=body,
                 url=f"/assets/verifications/{ver.id}", visibility=permissions.SYSTEM_VISIBILITY)


register_provider(compliance.SUBJECT, _cycle_entry, lambda s: s.exec(select(ComplianceCycle.id)).all())
register_provider(verification.SUBJECT, _verification_entry, lambda s: s.exec(select(Verification.id)).all())


def asset_evidence(session: Session, refs: set[str], limit: int) -> dict[str, Found]:
    """Closed compliance cycles, completed verifications and issued neutrality statements as evidence of their
    clauses (a handful of rows a year: one query per kind)."""
    items: list[tuple[tuple[str, ...], Evidence]] = []
    for c in session.exec(select(ComplianceCycle).where(ComplianceCycle.status == "closed")
                          .order_by(ComplianceCycle.compliance_year.desc())):
        items.append((("DB14T2970:8.5.2", "TCECAG:9.6.1", "DB44T1944:8.2.3"),
                      Evidence("compliance_cycle", c.id, f"配额履约 {c.code}", f"/assets/cycles/{c.id}")))
    for ver in session.exec(select(Verification).where(Verification.status == "completed")
                            .order_by(Verification.compliance_year.desc())):
        items.append((("DB44T1944:A.4.2.4",), Evidence("asset_verification", ver.id, f"第三方核查 {ver.code}",
                                                        f"/assets/verifications/{ver.id}")))
    for s in session.exec(select(NeutralityStatement).order_by(NeutralityStatement.id.desc())):
        items.append((("CNMS:8.1.4", "CNMS:6.5"),
                      Evidence("neutrality_statement", s.id, f"碳中和声明 {s.code}", f"/assets/neutrality/{s.id}")))
    out: dict[str, Found] = {}
    for clause_refs, item in items:
        for ref in clause_refs:
            if ref in refs:
                found = out.setdefault(ref, Found())
                found.total += 1
                if len(found.items) < limit:
                    found.items.append(item)
    return out


register_evidence_provider(asset_evidence)
