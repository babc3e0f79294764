"""Valuation of carbon assets (DB44/T 1944 §8.2.3 a)–c), A.6.2.3): market prices per asset type and day,
holdings valued at the latest price, and the abatement cost of each planned reduction measure against the
allowance price, so the management representative sees whether to abate or to buy.

Prices are CNY per unit (tCO2e; green certificates per MWh). The abatement cost of a measure, CNY/tCO2e,
is (investment / lifetime + annual net cost) / annual reduction: the annualised cost of a tonne abated.
"""
from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlmodel import Session, select

from cmsflow.assets import ledger
from cmsflow.assets import values as v
from cmsflow.assets.models import ASSET_TYPES, MEASURE_STATUSES, AbatementMeasure, AssetAccount, AssetLot, AssetPrice
from cmsflow.auth.models import User
from cmsflow.core.db import utcnow
from cmsflow.core.errors import NotFound
from cmsflow.history import service as history

STATUSES = ("held", "pledged", "surrendered", "retired", "sold")
MEASURE_FIELDS = ("title", "department", "annual_reduction", "investment", "lifetime_years", "annual_cost", "status",
                  "note", "lock_version")


def add_price(session: Session, actor: User, *, asset_type, price_date, price, source) -> AssetPrice:
    """Enter the market price of ``asset_type`` on ``price_date`` (CNY per unit; a second entry for the same
    day replaces the first). Raises PermissionDenied and ValidationError with ``details.fields``."""
    v.require_trader(session, actor)
    errors: dict[str, str] = {}
    if asset_type not in ASSET_TYPES:
        errors["asset_type"] = f"资产类型须为：{'、'.join(ASSET_TYPES)}"
    on = v.day(price_date, "price_date", errors, default=date.today())
    value = v.number(price, "price", "价格（元/单位）", errors, positive=True)
    source = v.text(source, "source", "价格来源", errors, limit=200)
    v.refuse(errors, "价格信息不完整", "invalid_price")
    row = session.exec(select(AssetPrice).where(AssetPrice.asset_type == asset_type,
                                                AssetPrice.price_date == on)).first()
    row = row or AssetPrice(asset_type=asset_type, price_date=on, price=value, source=source)
    row.price, row.source, row.created_by_id, row.created_at = value, source, actor.id, utcnow()
    session.add(row)
    session.flush()
    history.record(session, actor, "asset_price_entered", "asset_price", row.id, type=asset_type,
                   date=on.isoformat(), price=str(value), source=source)
    return row


def latest_prices(session: Session, on: date | None = None) -> dict[str, AssetPrice]:
    """Per asset type its latest price on or before ``on`` (default today)."""
    out: dict[str, AssetPrice] = {}
    q = select(AssetPrice).where(AssetPrice.price_date <= (on or date.today())).order_by(AssetPrice.price_date)
    for row in session.exec(q):
        out[row.asset_type] = row
    return out


def holdings(session: Session) -> list[dict]:
    """One row per (lot, account) that ever held units: ``lot``, ``account``, a Decimal per status (held,
    pledged, surrendered, retired, sold), ``price`` (the latest AssetPrice of the lot's type or None) and
    ``value`` (CNY of held + pledged units at that price, or None)."""
    lots = {lot.id: lot for lot in session.exec(select(AssetLot))}
    accounts = {a.id: a for a in session.exec(select(AssetAccount))}
    prices = latest_prices(session)
    rows: dict[tuple[int, int], dict] = {}
    for (acc_id, lot_id, status), qty in ledger.balances(session).items():
        row = rows.setdefault((lot_id, acc_id), {"lot": lots[lot_id], "account": accounts[acc_id],
                                                 **dict.fromkeys(STATUSES, Decimal(0))})
        row[status] += qty
    out = sorted((r for r in rows.values() if any(r[k] for k in STATUSES)),
                 key=lambda r: (r["lot"].asset_type, r["lot"].code, r["account"].code))
    for row in out:
        row["price"] = prices.get(row["lot"].asset_type)
        row["value"] = ((row["held"] + row["pledged"]) * row["price"].price).quantize(Decimal("0.01")) \
            if row["price"] else None
    return out


def by_type(rows: list[dict]) -> list[dict]:
    """Holdings summed per asset type: ``{asset_type, unit, held, pledged, surrendered, retired, sold, value}``."""
    out: dict[str, dict] = {}
    for row in rows:
        kind = row["lot"].asset_type
        agg = out.setdefault(kind, {"asset_type": kind, "unit": row["lot"].unit, "value": Decimal(0),
                                    **dict.fromkeys(STATUSES, Decimal(0))})
        for status in STATUSES:
            agg[status] += row[status]
        agg["value"] += row["value"] or Decimal(0)
    return [out[k] for k in ASSET_TYPES if k in out]


# --- abatement measures -------------------------------------------------------------------------------------

def _measure_fields(session: Session, data: dict, errors: dict) -> dict:
    dept = v.department(session, data.get("department"), errors)
    status = str(data.get("status") or "planned")
    if status not in MEASURE_STATUSES:
        errors["status"] = f"状态须为：{'、'.join(MEASURE_STATUSES)}"
    lifetime = v.integer(data.get("lifetime_years"), "lifetime_years", "使用年限", errors, bounds=v.INT_RANGE)
    if lifetime is not None and lifetime <= 0:
        errors["lifetime_years"] = "使用年限必须大于 0"
    return {"title": v.text(data.get("title"), "title", "措施名称", errors, limit=200),
            "department_id": dept.id if dept else None, "status": status, "lifetime_years": lifetime,
            "annual_reduction": v.number(data.get("annual_reduction"), "annual_reduction", "年减排量（tCO2e）",
                                         errors, positive=True),
            "investment": v.number(data.get("investment"), "investment", "投资（元）", errors),
            "annual_cost": v.number(data.get("annual_cost"), "annual_cost", "年运行成本（元，节约为负）", errors,
                                    negative=True),
            "note": v.text(data.get("note"), "note", "说明", errors, required=False) or None}


def save_measure(session: Session, actor: User, measure_id: int | None = None, **data) -> AbatementMeasure:
    """Create (``measure_id`` None) or update a reduction measure; an update needs ``lock_version``
    (Conflict ``stale_edit`` when someone saved first). Raises PermissionDenied and ValidationError."""
    v.require_manager(actor, "维护减排措施")
    errors: dict[str, str] = {}
    cols = _measure_fields(session, data, errors)
    v.refuse(errors, "减排措施信息不完整", "invalid_measure")
    if measure_id is None:
        row = AbatementMeasure(created_by_id=actor.id, **cols)
        session.add(row)
    else:
        row = session.get(AbatementMeasure, measure_id)
        if row is None:
            raise NotFound("减排措施不存在")
        v.check_lock(row, data.get("lock_version"))
        for key, val in cols.items():
            setattr(row, key, val)
        row.updated_at = utcnow()
    session.flush()
    history.record(session, actor, "abatement_measure_saved", "asset_abatement", row.id, title=row.title,
                   cost_per_t=str(cost_per_tonne(row)))
    return row


def cost_per_tonne(m: AbatementMeasure) -> Decimal:
    """Annualised abatement cost of a measure, CNY per tCO2e (negative: it saves money)."""
    annual = Decimal(m.investment) / Decimal(m.lifetime_years) + Decimal(m.annual_cost)
    return (annual / Decimal(m.annual_reduction)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def abatement_comparison(session: Session) -> dict:
    """Measures (not dropped) by abatement cost against the latest allowance price: ``{"price": AssetPrice or
    None, "measures": [{measure, cost, advice ("abate" | "buy" | None without a price), difference}]}``;
    difference = (price − cost) × annual reduction, CNY per year saved by abating instead of buying."""
    price = latest_prices(session).get("cea")
    rows = []
    for m in session.exec(select(AbatementMeasure).where(AbatementMeasure.status != "dropped")):
        cost = cost_per_tonne(m)
        advice = None if price is None else ("abate" if cost <= price.price else "buy")
        diff = ((price.price - cost) * m.annual_reduction).quantize(Decimal("0.01")) if price else None
        rows.append({"measure": m, "cost": cost, "advice": advice, "difference": diff})
    return {"price": price, "measures": sorted(rows, key=lambda r: r["cost"])}
