"""Carbon assets (碳资产): accounts, lots, transactions, prices, abatement measures; allowance compliance
cycles (履约期), third-party verifications (核查), carbon-neutrality statements and disclosures.

Per DB44/T 1944 §8.2.3 (abatement cost, market price, instruments, financial treatment), §8.3 and
A.4.2.4 (disclosure, verification); T/CECA-G §9.6 (allowances, CCER, carbon finance); DB14/T 2970 §8.5
(asset development, compliance); the carbon-neutrality standard §3, §6.4–6.5, §8.1.3–8.1.4 (offsets).

Quantities are tCO2e (green certificates: MWh), prices CNY per unit. Holdings are never stored: every
balance is the sum of the transactions that moved units into and out of an (account, lot, status).
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, BigInteger, Column, Numeric, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from cmsflow.core.db import utcnow
from cmsflow.core.models import Versioned


def N_(text: str) -> str:
    """Mark a label for translation (extracted by pybabel, translated where displayed)."""
    return text


def _num(scale: int = 6, nullable: bool = False) -> Column:
    return Column(Numeric(24, scale), nullable=nullable)


def _serial(nullable: bool = True) -> Column:
    return Column(BigInteger, nullable=nullable)


ASSET_TYPES = {"cea": N_("全国碳排放配额（CEA）"), "ccer": N_("国家核证自愿减排量（CCER）"),
               "other_credit": N_("其他碳信用"), "green_certificate": N_("绿色电力证书（绿证）"),
               "sink": N_("碳汇")}
UNITS = {"cea": "tCO2e", "ccer": "tCO2e", "other_credit": "tCO2e", "green_certificate": "MWh", "sink": "tCO2e"}
SERIAL_TYPES = ("ccer", "other_credit", "green_certificate", "sink")  # units identified by serial numbers
ACCOUNT_KINDS = {"registry": N_("注册登记账户"), "trading": N_("交易账户")}
HOLDING_STATUSES = {"held": N_("持有"), "pledged": N_("质押"), "surrendered": N_("已清缴"), "retired": N_("已注销"),
                    "sold": N_("已出售")}
TRANSACTION_KINDS = {"allocation": N_("配额分配"), "purchase": N_("购入"), "sale": N_("出售"),
                     "transfer": N_("账户间划转"), "pledge": N_("质押"), "release": N_("解除质押"),
                     "surrender": N_("清缴"), "retirement": N_("注销")}
CYCLE_STATUSES = {"emissions": N_("确认核查排放量"), "deciding": N_("制定履约方案"), "approving": N_("最高管理者审批"),
                  "executing": N_("执行交易"), "surrendering": N_("清缴"), "evidencing": N_("提交完成证据"),
                  "closed": N_("已完成")}
CYCLE_TASK_STATUS = {"confirm_emissions": "emissions", "propose_decision": "deciding",
                     "approve_decision": "approving", "execute_decision": "executing",
                     "surrender_allowances": "surrendering", "record_evidence": "evidencing"}
DECISIONS = {"buy": N_("买入配额"), "sell": N_("出售富余配额"), "offset": N_("使用抵销（CCER）"),
             "hold": N_("持有，无需交易")}
VERIFICATION_STATUSES = {"planned": N_("核查中"), "completed": N_("已完成")}
NEUTRALITY_STATUSES = {"neutral": N_("已实现碳中和"), "near_neutral": N_("接近碳中和"),
                       "not_neutral": N_("未实现碳中和")}
MEASURE_STATUSES = {"planned": N_("计划"), "implementing": N_("实施中"), "implemented": N_("已实施"),
                    "dropped": N_("已放弃")}
FREQUENCIES = {"annual": N_("每年"), "semiannual": N_("每半年"), "quarterly": N_("每季度"), "event": N_("按需")}


class AssetAccount(SQLModel, table=True):
    """A registry account (注册登记账户) or trading account (交易账户); locked while a movement is checked."""

    __tablename__ = "asset_account"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=40)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=20, index=True)
    institution: str = Field(max_length=200)  # e.g. 全国碳排放权注册登记系统
    number: str | None = Field(default=None, max_length=80)
    active: bool = True
    lock_version: int = 1
    created_at: datetime = Field(default_factory=utcnow)


class AssetLot(SQLModel, table=True):
    """One kind of unit: allowances of a compliance year, or a credit lot (project, methodology, vintage,
    serial range with a common prefix)."""

    __tablename__ = "asset_lot"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=60)
    asset_type: str = Field(max_length=30, index=True)
    unit: str = Field(max_length=10)
    name: str = Field(max_length=200)  # project name, or 2025 年度配额
    compliance_year: int | None = Field(default=None, index=True)
    methodology: str | None = Field(default=None, max_length=200)
    vintage: int | None = None
    registry_system: str | None = Field(default=None, max_length=200)  # e.g. 全国温室气体自愿减排注册登记系统
    serial_prefix: str | None = Field(default=None, max_length=120, index=True)
    serial_start: int | None = Field(default=None, sa_column=_serial())
    serial_end: int | None = Field(default=None, sa_column=_serial())
    note: str | None = Field(default=None, sa_column=Column(Text))
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)


class AssetTransaction(SQLModel, table=True):
    """One movement of units of a lot from (account, status) to (account, status); None = in from outside."""

    __tablename__ = "asset_transaction"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=40)
    kind: str = Field(max_length=20, index=True)
    lot_id: int = Field(foreign_key="asset_lot.id", index=True)
    quantity: Decimal = Field(sa_column=_num())
    from_account_id: int | None = Field(default=None, foreign_key="asset_account.id", index=True)
    from_status: str | None = Field(default=None, max_length=20)
    to_account_id: int = Field(foreign_key="asset_account.id", index=True)
    to_status: str = Field(max_length=20)
    occurred_on: date = Field(index=True)
    price: Decimal | None = Field(default=None, sa_column=_num(4, nullable=True))  # CNY per unit
    counterparty: str | None = Field(default=None, max_length=200)
    cycle_id: int | None = Field(default=None, foreign_key="asset_compliance_cycle.id", index=True)
    serial_start: int | None = Field(default=None, sa_column=_serial())
    serial_end: int | None = Field(default=None, sa_column=_serial())
    purpose: str | None = Field(default=None, max_length=200)
    note: str | None = Field(default=None, sa_column=Column(Text))
    evidence_sha256: str | None = Field(default=None, foreign_key="stored_file.sha256", max_length=64)
    evidence_filename: str | None = Field(default=None, max_length=255)
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)


class AssetPrice(SQLModel, table=True):
    """A market price of an asset type on a day (CNY per tCO2e, green certificates per MWh)."""

    __tablename__ = "asset_price"
    __table_args__ = (UniqueConstraint("asset_type", "price_date"),)
    id: int | None = Field(default=None, primary_key=True)
    asset_type: str = Field(max_length=30, index=True)
    price_date: date = Field(index=True)
    price: Decimal = Field(sa_column=_num(4))
    source: str = Field(max_length=200)
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)


class AbatementMeasure(Versioned, table=True):
    """A planned reduction measure and what a tonne abated by it costs (marginal abatement cost)."""

    __tablename__ = "asset_abatement"
    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    department_id: int = Field(foreign_key="department.id", index=True)
    annual_reduction: Decimal = Field(sa_column=_num())  # tCO2e per year
    investment: Decimal = Field(sa_column=_num(2))  # CNY
    lifetime_years: int
    annual_cost: Decimal = Field(sa_column=_num(2))  # CNY per year, net of savings (negative = saves money)
    status: str = Field(default="planned", max_length=20)
    note: str | None = Field(default=None, sa_column=Column(Text))
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Verification(Versioned, table=True):
    """A third-party verification (核查) of one year's emissions."""

    __tablename__ = "asset_verification"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=40)
    compliance_year: int = Field(index=True)
    period_start: date
    period_end: date
    scope: str = Field(sa_column=Column(Text, nullable=False))
    verifier: str = Field(max_length=200)
    lead_verifier: str | None = Field(default=None, max_length=120)
    status: str = Field(default="planned", max_length=20, index=True)
    accounting_emissions: Decimal | None = Field(default=None, sa_column=_num(nullable=True))
    verified_emissions: Decimal | None = Field(default=None, sa_column=_num(nullable=True))
    conclusion: str | None = Field(default=None, sa_column=Column(Text))
    completed_on: date | None = None
    report_sha256: str | None = Field(default=None, foreign_key="stored_file.sha256", max_length=64)
    report_filename: str | None = Field(default=None, max_length=255)
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class VerificationLine(SQLModel, table=True):
    """Our accounted and the verified emissions of one source (the difference is listed per source)."""

    __tablename__ = "asset_verification_line"
    __table_args__ = (UniqueConstraint("verification_id", "emission_source_id"),)
    id: int | None = Field(default=None, primary_key=True)
    verification_id: int = Field(foreign_key="asset_verification.id", index=True)
    emission_source_id: int = Field(foreign_key="reg_emission_source.id")
    accounted: Decimal = Field(sa_column=_num())
    verified: Decimal = Field(sa_column=_num())
    note: str | None = Field(default=None, sa_column=Column(Text))


class VerificationFinding(SQLModel, table=True):
    """A finding of the verifier; may raise a nonconformity."""

    __tablename__ = "asset_verification_finding"
    id: int | None = Field(default=None, primary_key=True)
    verification_id: int = Field(foreign_key="asset_verification.id", index=True)
    seq: int
    description: str = Field(sa_column=Column(Text, nullable=False))
    severity: str = Field(default="minor", max_length=20)
    emission_source_id: int | None = Field(default=None, foreign_key="reg_emission_source.id")
    nonconformity_id: int | None = Field(default=None, foreign_key="nonconformity.id")
    created_at: datetime = Field(default_factory=utcnow)


class ComplianceCycle(Versioned, table=True):
    """The allowance compliance (履约) of one compliance year, run by ``carbon_compliance.bpmn``."""

    __tablename__ = "asset_compliance_cycle"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=40)
    compliance_year: int = Field(unique=True)
    lot_id: int = Field(foreign_key="asset_lot.id")
    deadline: date = Field(index=True)
    department_id: int = Field(foreign_key="department.id")
    status: str = Field(default="emissions", max_length=20, index=True)
    verification_id: int | None = Field(default=None, foreign_key="asset_verification.id")
    verified_emissions: Decimal | None = Field(default=None, sa_column=_num(nullable=True))
    accounting_emissions: Decimal | None = Field(default=None, sa_column=_num(nullable=True))
    offset_limit_ratio: Decimal = Field(sa_column=_num(4))
    decision: str | None = Field(default=None, max_length=20)
    buy_quantity: Decimal | None = Field(default=None, sa_column=_num(nullable=True))
    sell_quantity: Decimal | None = Field(default=None, sa_column=_num(nullable=True))
    offset_quantity: Decimal | None = Field(default=None, sa_column=_num(nullable=True))
    price_limit: Decimal | None = Field(default=None, sa_column=_num(4, nullable=True))
    decision_note: str | None = Field(default=None, sa_column=Column(Text))
    decided_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    approved_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    approved_at: datetime | None = None
    evidence_sha256: str | None = Field(default=None, foreign_key="stored_file.sha256", max_length=64)
    evidence_filename: str | None = Field(default=None, max_length=255)
    evidence_note: str | None = Field(default=None, sa_column=Column(Text))
    closed_at: datetime | None = None
    nonconformity_id: int | None = Field(default=None, foreign_key="nonconformity.id")
    instance_id: int | None = Field(default=None, foreign_key="process_instance.id")
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class NeutralityStatement(SQLModel, table=True):
    """A carbon-neutrality balance of a period and boundary, issued as a statement with its claimed units."""

    __tablename__ = "asset_neutrality"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=40)
    period_start: date
    period_end: date
    boundary: str = Field(max_length=200)
    source_ids: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # empty = all sources
    emissions: Decimal = Field(sa_column=_num())
    offsets: Decimal = Field(sa_column=_num())
    net: Decimal = Field(sa_column=_num())
    tolerance: Decimal = Field(sa_column=_num(4))
    status: str = Field(max_length=20, index=True)
    statement_sha256: str | None = Field(default=None, foreign_key="stored_file.sha256", max_length=64)
    issued_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)


class NeutralityClaim(SQLModel, table=True):
    """A retirement claimed by a statement; the unique transaction makes a second claim impossible."""

    __tablename__ = "asset_neutrality_claim"
    id: int | None = Field(default=None, primary_key=True)
    statement_id: int = Field(foreign_key="asset_neutrality.id", index=True)
    transaction_id: int = Field(foreign_key="asset_transaction.id", unique=True)
    quantity: Decimal = Field(sa_column=_num())


class DisclosureCriteria(Versioned, table=True):
    """The organisation's carbon disclosure criteria (披露准则): mandatory or voluntary, frequency, scope."""

    __tablename__ = "asset_disclosure_criteria"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=40)
    title: str = Field(max_length=200)
    mandatory: bool = False
    frequency: str = Field(max_length=20)
    scope: str = Field(sa_column=Column(Text, nullable=False))
    audience: str | None = Field(default=None, max_length=200)
    department_id: int = Field(foreign_key="department.id")
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Disclosure(SQLModel, table=True):
    """A disclosure report of a year under a criteria: a controlled document approved before release."""

    __tablename__ = "asset_disclosure"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=40)
    criteria_id: int = Field(foreign_key="asset_disclosure_criteria.id", index=True)
    year: int = Field(index=True)
    document_id: int = Field(foreign_key="document.id", index=True)
    figures: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)
