"""Carbon-neutrality balance (carbon-neutrality standard §3, §6.4–6.5, §8.1.3–8.1.4) and the neutrality
statement (碳中和声明).

For a period and a boundary (emission sources; none = all): emissions (current accounting results, tCO2e)
minus the offsets claimed (retired credits, sinks and — where config ``NEUTRALITY_OFFSET_TYPES`` allows
— allowances) = net. Net ≤ 0 is neutral, net up to ``NEUTRALITY_TOLERANCE`` × emissions near-neutral,
more not neutral. Issuing a statement claims its retirements for good: a retirement already claimed is
refused naming the statement that claimed it, so a unit is never counted twice. The statement is a Word
record from ``doc_templates/records/neutrality_statement.docx`` listing every unit with its serials.
"""
from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

from docxtpl import DocxTemplate
from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from cmsflow.assets import ledger
from cmsflow.assets import values as v
from cmsflow.assets.models import (
    ASSET_TYPES,
    NEUTRALITY_STATUSES,
    AssetLot,
    AssetTransaction,
    NeutralityClaim,
    NeutralityStatement,
)
from cmsflow.auth.models import User
from cmsflow.carbon import service as carbon
from cmsflow.core.clock import local_date
from cmsflow.core.errors import Conflict, NotFound, ValidationError
from cmsflow.core.runtime import config, file_store
from cmsflow.documents.templating import DOCX_MIME
from cmsflow.history import service as history

SUBJECT = "asset_neutrality"


def tolerance() -> Decimal:
    """Share of the emissions a net balance may reach and still count as near-neutral."""
    return Decimal(str(config()["NEUTRALITY_TOLERANCE"]))


def classify(emissions: Decimal, net: Decimal, tol: Decimal) -> str:
    """``neutral`` (net ≤ 0), ``near_neutral`` (net ≤ tol × emissions) or ``not_neutral``."""
    if net <= 0:
        return "neutral"
    return "near_neutral" if net <= tol * emissions else "not_neutral"


def get(session: Session, stmt_id: int) -> NeutralityStatement:
    """A statement by id; NotFound otherwise."""
    stmt = session.get(NeutralityStatement, stmt_id)
    if stmt is None:
        raise NotFound("碳中和声明不存在")
    return stmt


def statements(session: Session) -> list[NeutralityStatement]:
    """Every statement, newest first."""
    return list(session.exec(select(NeutralityStatement).order_by(NeutralityStatement.id.desc())))


def latest(session: Session) -> NeutralityStatement | None:
    """The statement of the latest period (the dashboard's net position), or None."""
    return session.exec(select(NeutralityStatement).order_by(NeutralityStatement.period_end.desc(),
                                                             NeutralityStatement.id.desc())).first()


def boundary_sources(session: Session, refs) -> list[int]:
    """Emission source ids of a boundary given as ids or names ([] = every source); ValidationError."""
    if refs in (None, "", []):
        return []
    if not isinstance(refs, list):
        raise ValidationError("source_ids 须为排放源编号或名称的数组", code="invalid_boundary")
    return sorted({carbon.source_by_ref(session, ref).id for ref in refs})


def emissions_for(session: Session, start: date, end: date, source_ids: list[int]) -> Decimal:
    """Accounted emissions of the months of [start, end] within the boundary, tCO2e."""
    res = carbon.totals(session, start.replace(day=1), end, "source")
    return sum((Decimal(g["tco2e"]) for g in res["groups"] if not source_ids or int(g["key"]) in source_ids),
               Decimal(0))


def claim_of(session: Session, transaction_id: int) -> NeutralityStatement | None:
    """The statement that claimed a retirement, or None."""
    return session.exec(select(NeutralityStatement).join(
        NeutralityClaim, NeutralityClaim.statement_id == NeutralityStatement.id).where(
        NeutralityClaim.transaction_id == transaction_id)).first()


def candidates(session: Session) -> list[tuple[AssetTransaction, AssetLot]]:
    """Retirements of the allowed asset types not claimed by any statement, oldest first."""
    claimed = select(NeutralityClaim.transaction_id)
    q = (select(AssetTransaction, AssetLot).join(AssetLot, AssetLot.id == AssetTransaction.lot_id)
         .where(AssetTransaction.kind == "retirement", AssetLot.asset_type.in_(config()["NEUTRALITY_OFFSET_TYPES"]),
                AssetTransaction.id.not_in(claimed))
         .order_by(AssetTransaction.occurred_on, AssetTransaction.id))
    return list(session.exec(q))


def _claimable(session: Session, ids) -> list[tuple[AssetTransaction, AssetLot]]:
    """The retirements ``ids`` if every one may be claimed; ValidationError / Conflict ``already_claimed``."""
    if not isinstance(ids, list) or not ids:
        raise ValidationError("请选择要声明的注销交易", code="no_offsets", details={"fields": {"transactions": "必填"}})
    out = []
    for ref in dict.fromkeys(str(i) for i in ids):
        txn = session.get(AssetTransaction, int(ref)) if str(ref).isdigit() else None
        lot = session.get(AssetLot, txn.lot_id) if txn else None
        if txn is None or txn.kind != "retirement":
            raise ValidationError(f"交易 {ref} 不是注销交易", code="not_a_retirement")
        if lot.asset_type not in config()["NEUTRALITY_OFFSET_TYPES"]:
            raise ValidationError(f"{ASSET_TYPES[lot.asset_type]}不能计入碳抵销量（{txn.code}）", code="not_an_offset")
        earlier = claim_of(session, txn.id)
        if earlier is not None:
            serials = ledger.serial_label(lot.serial_prefix, txn.serial_start, txn.serial_end)
            on = local_date(earlier.created_at)
            raise Conflict(f"注销交易 {txn.code}（{serials}）已由碳中和声明 {earlier.code}（{on}）声明，"
                           "同一单位不能重复声明", code="already_claimed",
                           details={"earlier": {"code": earlier.code, "date": on.isoformat()}})
        out.append((txn, lot))
    return out


def balance(session: Session, start: date, end: date, source_ids: list[int], units) -> dict:
    """``{"emissions", "offsets", "net", "tolerance", "status", "units": [(txn, lot)]}`` for the period and
    boundary with ``units`` (retirements) as offsets; quantities tCO2e."""
    if end < start:
        raise ValidationError("结束日期早于开始日期", code="invalid_period")
    emissions = emissions_for(session, start, end, source_ids)
    offsets = sum((Decimal(t.quantity) for t, _ in units), Decimal(0))
    tol = tolerance()
    return {"emissions": emissions, "offsets": offsets, "net": emissions - offsets, "tolerance": tol,
            "status": classify(emissions, emissions - offsets, tol), "units": units}


def issue_statement(session: Session, actor: User, *, period_start, period_end, boundary, source_ids=None,
                    transactions=None) -> NeutralityStatement:
    """Claim the retirements ``transactions`` (ids) for the period and boundary and issue the statement.

    Raises PermissionDenied (MR/admin), ValidationError (bad period, unknown sources, a transaction that is
    no retirement of an allowed type) and Conflict ``already_claimed`` naming the earlier statement.
    """
    v.require_manager(actor, "发布碳中和声明")
    errors: dict[str, str] = {}
    start = v.day(period_start, "period_start", errors)
    end = v.day(period_end, "period_end", errors)
    boundary = v.text(boundary, "boundary", "核算边界", errors, limit=200)
    v.refuse(errors, "碳中和声明信息不完整", "invalid_statement")
    sources = boundary_sources(session, source_ids)
    res = balance(session, start, end, sources, _claimable(session, transactions))
    stmt = NeutralityStatement(code=v.next_code(session, "TZH", end.year), period_start=start, period_end=end,
                               boundary=boundary, source_ids=sources,
                               emissions=res["emissions"], offsets=res["offsets"], net=res["net"],
                               tolerance=res["tolerance"], status=res["status"], issued_by_id=actor.id)
    session.add(stmt)
    session.flush()
    for txn, _lot in res["units"]:
        session.add(NeutralityClaim(statement_id=stmt.id, transaction_id=txn.id, quantity=txn.quantity))
    try:
        session.flush()
    except IntegrityError as exc:  # another statement claimed one of them at the same moment
        raise Conflict("所选注销单位刚被另一份碳中和声明声明，请刷新后重试", code="already_claimed") from exc
    stmt.statement_sha256 = file_store().put(session, render(session, stmt, res["units"], actor), DOCX_MIME)
    history.record(session, actor, "neutrality_statement_issued", SUBJECT, stmt.id, code=stmt.code,
                   emissions=str(stmt.emissions), offsets=str(stmt.offsets), net=str(stmt.net), status=stmt.status,
                   transactions=[t.code for t, _ in res["units"]])
    return stmt


def claimed_units(session: Session, stmt: NeutralityStatement) -> list[tuple[AssetTransaction, AssetLot]]:
    """The retirements a statement claims, with their lots, by date."""
    q = (select(AssetTransaction, AssetLot).join(AssetLot, AssetLot.id == AssetTransaction.lot_id)
         .join(NeutralityClaim, NeutralityClaim.transaction_id == AssetTransaction.id)
         .where(NeutralityClaim.statement_id == stmt.id).order_by(AssetTransaction.occurred_on, AssetTransaction.id))
    return list(session.exec(q))


def _conclusion(stmt: NeutralityStatement) -> str:
    pct = f"{stmt.tolerance * 100:.1f}%"
    if stmt.status == "neutral":
        return "本期碳抵销量不小于碳排放量，在上述边界内实现碳中和。"
    if stmt.status == "near_neutral":
        return f"本期净排放量不超过排放量的 {pct}（容差），在上述边界内接近碳中和。"
    return f"本期净排放量超过排放量的 {pct}（容差），在上述边界内尚未实现碳中和。"


def render(session: Session, stmt: NeutralityStatement, units, actor: User) -> bytes:
    """The statement .docx: balance, conclusion and one row per claimed retirement with its serials."""
    rows = [{"no": i, "type": str(ASSET_TYPES.get(lot.asset_type, lot.asset_type)), "project": lot.name,
             "methodology": lot.methodology or "", "vintage": str(lot.vintage or lot.compliance_year or ""),
             "serials": ledger.serial_label(lot.serial_prefix, txn.serial_start, txn.serial_end),
             "quantity": v.fmt(Decimal(txn.quantity), 0), "unit": lot.unit, "transaction": txn.code,
             "retired_on": txn.occurred_on.isoformat(), "registry": lot.registry_system or ""}
            for i, (txn, lot) in enumerate(units, start=1)]
    tpl = DocxTemplate(f"{current_app.config['DOC_TEMPLATES_DIR']}/records/neutrality_statement.docx")
    tpl.render({"organisation": config()["ORGANISATION_NAME"], "code": stmt.code,
                "period_start": stmt.period_start.isoformat(), "period_end": stmt.period_end.isoformat(),
                "boundary": stmt.boundary, "emissions": v.fmt(stmt.emissions), "offsets": v.fmt(stmt.offsets),
                "net": v.fmt(stmt.net), "tolerance": f"{stmt.tolerance * 100:.1f}%",
                "status": str(NEUTRALITY_STATUSES[stmt.status]), "conclusion": _conclusion(stmt), "units": rows,
                "issued_by": actor.display_name, "issued_on": date.today().isoformat()}, autoescape=True)
    buf = io.BytesIO()
    tpl.save(buf)
    return buf.getvalue()
