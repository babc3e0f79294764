"""The carbon asset register (DB44/T 1944 §8.2.3, T/CECA-G §9.6.1, DB14/T 2970 §8.5): accounts, lots and
every movement of units as a transaction.

A transaction moves ``quantity`` units of one lot from (account, status) to (account, status):

================  =========================  ==========================  ========================
kind              from                       to                          account
================  =========================  ==========================  ========================
allocation        — (allocated by the state)  account, held               registry, allowances only
purchase          — (bought)                 account, held               trading
sale              account, held              account, sold               trading
transfer          account, held              to_account, held            any two accounts
pledge / release  account, held / pledged    account, pledged / held     any
surrender (清缴)  account, held              account, surrendered        registry, for a cycle
retirement (注销) account, held              account, retired            any
================  =========================  ==========================  ========================

Balances are never stored: a balance is the sum of what moved into a bucket minus what moved out. A
movement that would leave its source bucket negative is refused and stores nothing: the accounts are
locked first (``SELECT … FOR UPDATE`` on PostgreSQL; on SQLite a write to the account rows takes the
database write lock), then the balance is read, then the row is written.

Units of credit lots (CCER, other credits, green certificates, sinks) carry serial numbers: a common
prefix per lot and an integer range. A surrender or retirement names the range it uses; a range
overlapping one used before (by any lot with the same prefix) is refused naming the earlier transaction.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import or_, update
from sqlmodel import Session, select

from cmsflow.assets import values as v
from cmsflow.assets.models import (
    ACCOUNT_KINDS,
    ASSET_TYPES,
    SERIAL_TYPES,
    TRANSACTION_KINDS,
    UNITS,
    AssetAccount,
    AssetLot,
    AssetTransaction,
    ComplianceCycle,
)
from cmsflow.auth.models import User
from cmsflow.core.db import is_postgres
from cmsflow.core.errors import Conflict, NotFound, ValidationError
from cmsflow.history import service as history

# kind -> (status the units leave or None, status they arrive in, account kind required or None)
MOVES = {"allocation": (None, "held", "registry"), "purchase": (None, "held", "trading"),
         "sale": ("held", "sold", "trading"), "transfer": ("held", "held", None),
         "pledge": ("held", "pledged", None), "release": ("pledged", "held", None),
         "surrender": ("held", "surrendered", "registry"), "retirement": ("held", "retired", None)}
TX_FIELDS = ("kind", "lot", "quantity", "account", "to_account", "date", "price", "counterparty", "cycle_id",
             "serial_start", "serial_end", "purpose", "note")
LOT_FIELDS = ("asset_type", "code", "name", "compliance_year", "methodology", "vintage", "registry", "serial_prefix",
              "serial_start", "serial_end", "note")
CONSUMING = ("surrender", "retirement")  # units used for good: their serial numbers can never be used again
SUBJECT = "asset_transaction"


def serial_label(prefix: str | None, start: int | None, end: int | None) -> str:
    """``CCER-…-000101–000200`` style range for people ("" when the transaction has none)."""
    if start is None:
        return ""
    return f"{prefix or ''}{start}" if start == end else f"{prefix or ''}{start}–{prefix or ''}{end}"


# --- accounts and lots -------------------------------------------------------------------------------------

def _by_ref(session: Session, model, ref):
    if ref is None or str(ref).strip() == "":
        return None
    if isinstance(ref, int) or str(ref).strip().isdigit():
        return session.get(model, int(ref))
    return session.exec(select(model).where(model.code == str(ref).strip())).first()


def account(session: Session, ref) -> AssetAccount:
    """An account by id or code; NotFound otherwise."""
    row = _by_ref(session, AssetAccount, ref)
    if row is None:
        raise NotFound(f"账户「{ref}」不存在")
    return row


def lot(session: Session, ref) -> AssetLot:
    """A lot by id or code; NotFound otherwise."""
    row = _by_ref(session, AssetLot, ref)
    if row is None:
        raise NotFound(f"碳资产批次「{ref}」不存在")
    return row


def create_account(session: Session, actor: User, *, code, name, kind, institution, number=None) -> AssetAccount:
    """Open a registry (注册登记) or trading (交易) account. Raises PermissionDenied (MR/admin) and
    ValidationError (missing fields, unknown kind, code in use)."""
    v.require_manager(actor, "开立碳资产账户")
    errors: dict[str, str] = {}
    code = v.text(code, "code", "账户代码", errors, limit=40)
    name = v.text(name, "name", "账户名称", errors, limit=200)
    institution = v.text(institution, "institution", "开户系统/机构", errors, limit=200)
    if kind not in ACCOUNT_KINDS:
        errors["kind"] = "账户类型须为 registry（注册登记账户）或 trading（交易账户）"
    if code and _by_ref(session, AssetAccount, code) is not None:
        errors["code"] = f"账户代码 {code} 已存在"
    v.refuse(errors, "账户信息不完整", "invalid_account")
    row = AssetAccount(code=code, name=name, kind=kind, institution=institution,
                       number=str(number or "").strip() or None)
    session.add(row)
    session.flush()
    history.record(session, actor, "asset_account_opened", "asset_account", row.id, code=code, kind=kind)
    return row


def _lot_errors(session: Session, data: dict, errors: dict) -> dict:
    """Checked lot columns; messages in ``errors``."""
    kind = str(data.get("asset_type") or "")
    if kind not in ASSET_TYPES:
        errors["asset_type"] = f"资产类型须为：{'、'.join(ASSET_TYPES)}"
    out = {"asset_type": kind, "unit": UNITS.get(kind, "tCO2e"),
           "name": v.text(data.get("name"), "name", "名称（项目）", errors, required=kind != "cea", limit=200),
           "compliance_year": v.integer(data.get("compliance_year"), "compliance_year", "履约年度", errors,
                                        required=kind == "cea", bounds=v.YEARS),
           "vintage": v.integer(data.get("vintage"), "vintage", "减排量产生年份", errors, required=False,
                                bounds=v.YEARS),
           "methodology": v.text(data.get("methodology"), "methodology", "方法学", errors, required=False, limit=200),
           "registry_system": v.text(data.get("registry"), "registry", "登记系统", errors, required=False,
                                     limit=200),
           "note": v.text(data.get("note"), "note", "说明", errors, required=False)}
    if kind in SERIAL_TYPES:
        out["serial_prefix"] = v.text(data.get("serial_prefix"), "serial_prefix", "序列号前缀", errors, limit=120)
        out["serial_start"] = v.integer(data.get("serial_start"), "serial_start", "起始序列号", errors)
        out["serial_end"] = v.integer(data.get("serial_end"), "serial_end", "终止序列号", errors)
        if out["serial_start"] is not None and out["serial_end"] is not None and \
                not 0 <= out["serial_start"] <= out["serial_end"]:
            errors["serial_end"] = "序列号区间无效（终止号须不小于起始号）"
    if kind == "cea" and out["compliance_year"] and cea_lot(session, out["compliance_year"]) is not None:
        errors["compliance_year"] = f"{out['compliance_year']} 年度配额批次已存在"
    return out


def create_lot(session: Session, actor: User, **data) -> AssetLot:
    """Register a lot: ``asset_type`` cea (``compliance_year``) or a credit type (``name`` = project,
    ``methodology``, ``vintage``, ``serial_prefix``/``serial_start``/``serial_end``). A credit lot whose
    range overlaps a lot with the same prefix is refused. Raises ValidationError / PermissionDenied."""
    v.require_trader(session, actor)
    errors: dict[str, str] = {}
    cols = _lot_errors(session, data, errors)
    v.refuse(errors, "碳资产批次信息不完整", "invalid_lot")
    if cols["asset_type"] in SERIAL_TYPES:
        other = session.exec(select(AssetLot).where(
            AssetLot.serial_prefix == cols["serial_prefix"], AssetLot.serial_start <= cols["serial_end"],
            AssetLot.serial_end >= cols["serial_start"])).first()
        if other is not None:
            raise Conflict(f"序列号区间与已登记的批次 {other.code} "
                           f"（{serial_label(other.serial_prefix, other.serial_start, other.serial_end)}）重叠",
                           code="serial_overlap")
    if cols["asset_type"] == "cea":
        cols["name"] = cols["name"] or f"{cols['compliance_year']} 年度配额"
        code = f"CEA-{cols['compliance_year']}"
    else:
        code = str(data.get("code") or "").strip() or v.next_code(session, cols["asset_type"].upper(),
                                                                   date.today().year)
    if _by_ref(session, AssetLot, code) is not None:
        raise ValidationError(f"批次代码 {code} 已存在", code="invalid_lot", details={"fields": {"code": "已存在"}})
    row = AssetLot(code=code, created_by_id=actor.id, **{k: (val or None) if isinstance(val, str) else val
                                                          for k, val in cols.items()})
    row.unit, row.name = cols["unit"], cols["name"]
    session.add(row)
    session.flush()
    history.record(session, actor, "asset_lot_registered", "asset_lot", row.id, code=code, type=row.asset_type)
    return row


def cea_lot(session: Session, year: int) -> AssetLot | None:
    """The allowance lot of compliance year ``year``, or None."""
    return session.exec(select(AssetLot).where(AssetLot.asset_type == "cea", AssetLot.compliance_year == year)).first()


# --- balances ------------------------------------------------------------------------------------------------

def balances(session: Session, *, account_id: int | None = None, lot_id: int | None = None
             ) -> dict[tuple[int, int, str], Decimal]:
    """Units per (account id, lot id, status), summed from the transactions (Decimal, exact on SQLite too)."""
    q = select(AssetTransaction.to_account_id, AssetTransaction.from_account_id, AssetTransaction.lot_id,
               AssetTransaction.to_status, AssetTransaction.from_status, AssetTransaction.quantity)
    if lot_id is not None:
        q = q.where(AssetTransaction.lot_id == lot_id)
    if account_id is not None:
        q = q.where(or_(AssetTransaction.to_account_id == account_id, AssetTransaction.from_account_id == account_id))
    out: dict[tuple[int, int, str], Decimal] = defaultdict(Decimal)
    for to_acc, from_acc, lot_id_, to_status, from_status, qty in session.exec(q):
        out[(to_acc, lot_id_, to_status)] += Decimal(qty)
        if from_acc is not None:
            out[(from_acc, lot_id_, from_status)] -= Decimal(qty)
    return out


def balance(session: Session, account_id: int, lot_id: int, status: str = "held") -> Decimal:
    """Units of one lot in one account and status."""
    return balances(session, account_id=account_id, lot_id=lot_id).get((account_id, lot_id, status), Decimal(0))


def lot_totals(session: Session, lot_id: int) -> dict[str, Decimal]:
    """Per kind, the units of a lot moved by transactions of that kind (allocation, purchase, sale, …)."""
    out = dict.fromkeys(TRANSACTION_KINDS, Decimal(0))
    for kind, qty in session.exec(select(AssetTransaction.kind, AssetTransaction.quantity)
                                  .where(AssetTransaction.lot_id == lot_id)):
        out[kind] += Decimal(qty)
    return out


# --- transactions -----------------------------------------------------------------------------------------

@dataclass
class Movement:
    """A checked request to move units (not stored yet)."""

    kind: str
    lot: AssetLot
    quantity: Decimal
    account: AssetAccount
    to_account: AssetAccount
    occurred_on: date
    price: Decimal | None
    counterparty: str
    cycle: ComplianceCycle | None
    serial_start: int | None
    serial_end: int | None
    purpose: str
    note: str


def _lookup(session: Session, model, ref, field: str, label: str, errors: dict):
    row = _by_ref(session, model, ref)
    if row is None:
        errors[field] = f"请选择{label}" if ref in (None, "") else f"{label}「{ref}」不存在"
    return row


def _parse(session: Session, data: dict) -> Movement:
    errors: dict[str, str] = {}
    kind = str(data.get("kind") or "")
    if kind not in MOVES:
        errors["kind"] = f"交易类型须为：{'、'.join(MOVES)}"
    trade = kind in ("purchase", "sale")
    lot_ = _lookup(session, AssetLot, data.get("lot"), "lot", "碳资产批次", errors)
    acc = _lookup(session, AssetAccount, data.get("account"), "account", "账户", errors)
    to_acc = _lookup(session, AssetAccount, data.get("to_account"), "to_account", "转入账户", errors) \
        if kind == "transfer" else acc
    cycle = _lookup(session, ComplianceCycle, data.get("cycle_id"), "cycle_id", "履约期", errors) \
        if kind == "surrender" else None
    mv = Movement(kind=kind, lot=lot_, account=acc, to_account=to_acc, cycle=cycle,
                  quantity=v.number(data.get("quantity"), "quantity", "数量", errors, positive=True),
                  occurred_on=v.day(data.get("date"), "date", errors, default=date.today()),
                  price=v.number(data.get("price"), "price", "成交价格（元/单位）", errors, required=trade),
                  counterparty=v.text(data.get("counterparty"), "counterparty", "交易对方", errors, required=trade,
                                      limit=200),
                  serial_start=v.integer(data.get("serial_start"), "serial_start", "起始序列号", errors,
                                         required=False),
                  serial_end=v.integer(data.get("serial_end"), "serial_end", "终止序列号", errors, required=False),
                  purpose=v.text(data.get("purpose"), "purpose", "用途", errors, required=False, limit=200),
                  note=v.text(data.get("note"), "note", "说明", errors, required=False))
    v.refuse(errors, "交易信息不完整", "invalid_transaction")
    v.refuse(_rule_errors(mv), "交易不符合规则", "invalid_transaction")
    return mv


def _account_errors(mv: Movement, errors: dict) -> None:
    need = MOVES[mv.kind][2]
    if need and mv.account.kind != need:
        errors["account"] = f"{TRANSACTION_KINDS[mv.kind]}须使用{ACCOUNT_KINDS[need]}"
    if not mv.account.active or not mv.to_account.active:
        errors["account"] = "账户已停用"
    if mv.kind == "transfer" and mv.to_account.id == mv.account.id:
        errors["to_account"] = "转入账户须与转出账户不同"


def _serial_errors(mv: Movement, errors: dict) -> None:
    lot_ = mv.lot
    if lot_.asset_type not in SERIAL_TYPES or mv.kind not in CONSUMING:
        if mv.serial_start is not None or mv.serial_end is not None:
            errors["serial_start"] = "只有碳信用、绿证和碳汇的清缴或注销登记序列号"
        return
    if mv.serial_start is None or mv.serial_end is None:
        errors["serial_start"] = "清缴或注销碳信用须登记序列号区间"
        return
    if not lot_.serial_start <= mv.serial_start <= mv.serial_end <= lot_.serial_end:
        errors["serial_end"] = (f"序列号须在本批次区间 "
                                f"{serial_label(lot_.serial_prefix, lot_.serial_start, lot_.serial_end)} 内")
    elif Decimal(mv.serial_end - mv.serial_start + 1) != mv.quantity:
        errors["quantity"] = f"数量须等于序列号个数（{mv.serial_end - mv.serial_start + 1}）"


def _rule_errors(mv: Movement) -> dict:
    errors: dict[str, str] = {}
    if mv.kind == "allocation" and mv.lot.asset_type != "cea":
        errors["lot"] = "只有配额可以分配"
    if mv.lot.asset_type in SERIAL_TYPES and mv.quantity != mv.quantity.to_integral_value():
        errors["quantity"] = "碳信用、绿证和碳汇按整数单位登记"
    _account_errors(mv, errors)
    _serial_errors(mv, errors)
    return errors


def _lock_accounts(session: Session, ids: set[int]) -> None:
    """Serialise movements of these accounts until the commit (checked balances cannot change meanwhile)."""
    ordered = sorted(ids)
    if is_postgres(session):
        session.exec(select(AssetAccount.id).where(AssetAccount.id.in_(ordered))
                     .order_by(AssetAccount.id).with_for_update()).all()
    else:  # SQLite: the first write of the transaction takes the database write lock
        session.execute(update(AssetAccount).where(AssetAccount.id.in_(ordered))
                        .values(lock_version=AssetAccount.lock_version + 1))


def _check_available(session: Session, mv: Movement) -> None:
    source = MOVES[mv.kind][0]
    if source is not None:
        have = balance(session, mv.account.id, mv.lot.id, source)
        if have < mv.quantity:
            raise ValidationError(
                f"{mv.account.name}中{mv.lot.name}{'可用' if source == 'held' else '质押'}余额为 {v.fmt(have, 6)} "
                f"{mv.lot.unit}，不足 {v.fmt(mv.quantity, 6)}：余额不能为负，交易未保存",
                code="insufficient_balance", details={"fields": {"quantity": f"余额 {have}"}, "available": str(have)})
    elif mv.lot.asset_type in SERIAL_TYPES:
        came_in = sum((q for k, q in lot_totals(session, mv.lot.id).items() if k in ("allocation", "purchase")),
                      Decimal(0))
        size = Decimal(mv.lot.serial_end - mv.lot.serial_start + 1)
        if came_in + mv.quantity > size:
            raise ValidationError(f"本批次序列号共 {size} 个，已登记购入 {came_in}，不能再增加 {mv.quantity}",
                                  code="serial_range_exceeded")


def used_serials(session: Session, prefix: str | None, start: int, end: int) -> AssetTransaction | None:
    """The earliest surrender or retirement whose serial range overlaps [start, end] under ``prefix``."""
    q = (select(AssetTransaction).join(AssetLot, AssetLot.id == AssetTransaction.lot_id)
         .where(AssetLot.serial_prefix == prefix, AssetTransaction.kind.in_(CONSUMING),
                AssetTransaction.serial_start <= end, AssetTransaction.serial_end >= start)
         .order_by(AssetTransaction.occurred_on, AssetTransaction.id))
    return session.exec(q).first()


def _check_serials(session: Session, mv: Movement) -> None:
    if mv.serial_start is None:
        return
    earlier = used_serials(session, mv.lot.serial_prefix, mv.serial_start, mv.serial_end)
    if earlier is not None:
        raise Conflict(f"序列号 {serial_label(mv.lot.serial_prefix, mv.serial_start, mv.serial_end)} 已被"
                       f"{TRANSACTION_KINDS[earlier.kind]}交易 {earlier.code}（{earlier.occurred_on}）使用"
                       f"（{serial_label(mv.lot.serial_prefix, earlier.serial_start, earlier.serial_end)}），"
                       "同一单位不能重复清缴或注销", code="serial_already_used",
                       details={"earlier": {"code": earlier.code, "date": earlier.occurred_on.isoformat()}})


def record_transaction(session: Session, actor: User, **data) -> AssetTransaction:
    """Record one movement (``kind``, ``lot``, ``quantity``, ``account``, ``to_account`` for transfers,
    ``date``, ``price`` CNY/unit and ``counterparty`` for purchases and sales, ``cycle_id`` for surrenders,
    ``serial_start``/``serial_end`` for surrendered or retired credits, ``purpose``, ``note``).

    Checks first, then writes: ValidationError (missing or inconsistent fields, ``insufficient_balance``
    when the source would go negative, an offset beyond the cycle's limit), Conflict
    (``serial_already_used`` naming the earlier transaction), PermissionDenied. A refused movement
    stores nothing.
    """
    v.require_trader(session, actor)
    mv = _parse(session, data)
    _lock_accounts(session, {mv.account.id, mv.to_account.id})
    if mv.kind == "surrender":
        from cmsflow.assets import compliance  # the cycle rules build on this ledger

        compliance.check_surrender(session, mv.cycle, mv.lot, mv.quantity)
    _check_available(session, mv)
    _check_serials(session, mv)
    source, target, _ = MOVES[mv.kind]
    row = AssetTransaction(code=v.next_code(session, "TX", mv.occurred_on.year), kind=mv.kind, lot_id=mv.lot.id,
                           quantity=mv.quantity, from_account_id=mv.account.id if source else None,
                           from_status=source, to_account_id=mv.to_account.id, to_status=target,
                           occurred_on=mv.occurred_on, price=mv.price, counterparty=mv.counterparty or None,
                           cycle_id=mv.cycle.id if mv.cycle else None, serial_start=mv.serial_start,
                           serial_end=mv.serial_end, purpose=mv.purpose or None, note=mv.note or None,
                           created_by_id=actor.id)
    session.add(row)
    session.flush()
    history.record(session, actor, "asset_transaction_recorded", SUBJECT, row.id, code=row.code, kind=row.kind,
                   lot=mv.lot.code, quantity=str(row.quantity), account=mv.account.code,
                   to_account=mv.to_account.code, date=row.occurred_on.isoformat(),
                   price=str(row.price) if row.price is not None else None,
                   serials=serial_label(mv.lot.serial_prefix, row.serial_start, row.serial_end) or None)
    return row


def attach_evidence(session: Session, actor: User, transaction_id: int, filename: str, data: bytes) -> AssetTransaction:
    """Store the evidence of a transaction (contract, trade confirmation, registry notice)."""
    from cmsflow.core.attachments import store_attachment

    v.require_trader(session, actor)
    row = session.get(AssetTransaction, transaction_id)
    if row is None:
        raise NotFound("交易不存在")
    row.evidence_sha256, row.evidence_filename = store_attachment(session, filename, data, "交易凭证")
    history.record(session, actor, "asset_transaction_evidence", SUBJECT, row.id, filename=row.evidence_filename,
                   sha256=row.evidence_sha256)
    return row


def transactions(session: Session, filters: dict | None = None) -> list[AssetTransaction]:
    """Transactions filtered by kind, lot (id/code), account (id/code, either side), cycle id; by date."""
    f = filters or {}
    q = select(AssetTransaction)
    if f.get("kind"):
        q = q.where(AssetTransaction.kind == f["kind"])
    if f.get("lot"):
        q = q.where(AssetTransaction.lot_id == lot(session, f["lot"]).id)
    if f.get("account"):
        acc = account(session, f["account"]).id
        q = q.where(or_(AssetTransaction.to_account_id == acc, AssetTransaction.from_account_id == acc))
    if f.get("cycle"):
        q = q.where(AssetTransaction.cycle_id == int(f["cycle"]))
    return list(session.exec(q.order_by(AssetTransaction.occurred_on, AssetTransaction.id)))
