"""Carbon performance data: emission factors (versioned), how each emission source is accounted,
monthly activity data and production output, the stored results and their recalculations.

Per GB/T 32150-2015 (accounting), DB14/T 2970 §6.1.3 and §8.1 (accounting levels, data quality),
T/CECA-G formula (1) (intensity C = E / Q) and DB44/T 1944 §9.1 (monitoring deviations).
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, Column, Numeric, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from cmsflow.core.db import utcnow
from cmsflow.core.models import Versioned


def N_(text: str) -> str:
    """Mark a label for translation (extracted by pybabel, translated where displayed)."""
    return text


FACTOR_KINDS = {"ncv": N_("低位发热量"), "carbon_content": N_("单位热值含碳量"), "oxidation": N_("碳氧化率"),
                "emission_factor": N_("排放因子")}
METHODS = {
    "combustion": N_("化石燃料燃烧"), "process": N_("工业生产过程"), "electricity": N_("购入电力"),
    "heat": N_("购入热力"), "exported_electricity": N_("输出电力（扣减）"), "exported_heat": N_("输出热力（扣减）"),
}
# Factor roles each method needs (GB/T 32150-2015 formulas).
METHOD_ROLES = {"combustion": ("ncv", "carbon_content", "oxidation"), "process": ("emission_factor",),
                "electricity": ("emission_factor",), "heat": ("emission_factor",),
                "exported_electricity": ("emission_factor",), "exported_heat": ("emission_factor",)}
DATA_SOURCES = {"meter": N_("计量读数"), "invoice": N_("结算凭证"), "estimate": N_("估算")}


def _num(scale: int = 6, nullable: bool = False) -> Column:
    return Column(Numeric(24, scale), nullable=nullable)


class EmissionFactor(SQLModel, table=True):
    """One version of a factor; a new value is a new version, older results keep the one they used."""

    __tablename__ = "carbon_factor"
    __table_args__ = (UniqueConstraint("code", "year", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=80, index=True)  # e.g. ncv.bituminous_coal, ef.grid_electricity
    year: int
    version: int = 1
    name: str = Field(max_length=200)
    kind: str = Field(max_length=30)
    value: Decimal = Field(sa_column=_num(10))
    unit: str = Field(max_length=40)
    gas: str = Field(default="CO2", max_length=10)
    source: str = Field(sa_column=Column(Text, nullable=False))
    note: str | None = Field(default=None, sa_column=Column(Text))
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)
    superseded_at: datetime | None = None


class AccountingMethod(SQLModel, table=True):
    """How an emission source of the register is accounted: method, activity unit, factor codes by role."""

    __tablename__ = "carbon_method"
    id: int | None = Field(default=None, primary_key=True)
    emission_source_id: int = Field(foreign_key="reg_emission_source.id", unique=True)
    method: str = Field(max_length=30)
    unit: str = Field(max_length=40)
    factors: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))  # role -> factor code


class ActivityData(Versioned, table=True):
    """Activity data of one emission source for one month (the first day of the month)."""

    __tablename__ = "carbon_activity"
    __table_args__ = (UniqueConstraint("emission_source_id", "period"),)
    id: int | None = Field(default=None, primary_key=True)
    emission_source_id: int = Field(foreign_key="reg_emission_source.id", index=True)
    period: date = Field(index=True)
    quantity: Decimal = Field(sa_column=_num())
    unit: str = Field(max_length=40)
    data_source: str = Field(default="meter", max_length=20)
    instrument: str | None = Field(default=None, max_length=60)
    note: str | None = Field(default=None, sa_column=Column(Text))
    evidence_sha256: str | None = Field(default=None, foreign_key="stored_file.sha256", max_length=64)
    evidence_filename: str | None = Field(default=None, max_length=255)
    entered_by_id: int = Field(foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ProductionOutput(Versioned, table=True):
    """Output of one product for one month: the denominator of intensity."""

    __tablename__ = "carbon_output"
    __table_args__ = (UniqueConstraint("product", "period"),)
    id: int | None = Field(default=None, primary_key=True)
    product: str = Field(max_length=40, index=True)
    product_name: str = Field(max_length=80)
    period: date = Field(index=True)
    quantity: Decimal = Field(sa_column=_num())
    unit: str = Field(max_length=40)
    entered_by_id: int = Field(foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)


class RecalculationRun(SQLModel, table=True):
    """A logged, explicit recalculation of stored results with the factors current at the time."""

    __tablename__ = "carbon_recalculation"
    id: int | None = Field(default=None, primary_key=True)
    period_start: date
    period_end: date
    reason: str = Field(sa_column=Column(Text, nullable=False))
    actor_id: int = Field(foreign_key="user_account.id")
    at: datetime = Field(default_factory=utcnow)
    results_changed: int = 0
    total_before: Decimal = Field(sa_column=_num())
    total_after: Decimal = Field(sa_column=_num())


class EmissionResult(SQLModel, table=True):
    """Emissions of one activity record in tCO2e, with every input and factor version used."""

    __tablename__ = "carbon_result"
    id: int | None = Field(default=None, primary_key=True)
    activity_id: int = Field(foreign_key="carbon_activity.id", index=True)
    emission_source_id: int = Field(foreign_key="reg_emission_source.id", index=True)
    period: date = Field(index=True)
    method: str = Field(max_length=30)
    tco2e: Decimal = Field(sa_column=_num())
    breakdown: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    current: bool = Field(default=True, index=True)
    run_id: int | None = Field(default=None, foreign_key="carbon_recalculation.id")
    calculated_at: datetime = Field(default_factory=utcnow)
    calculated_by_id: int | None = Field(default=None, foreign_key="user_account.id")


class IntensityIndicator(SQLModel, table=True):
    """A monitored intensity (tCO2e per unit of a product) with its target and deviation threshold."""

    __tablename__ = "carbon_indicator"
    id: int | None = Field(default=None, primary_key=True)
    product: str = Field(max_length=40, unique=True)
    name: str = Field(max_length=120)
    target: Decimal = Field(sa_column=_num())  # tCO2e per unit of output
    threshold_percent: Decimal = Field(sa_column=_num(2))
    department_id: int = Field(foreign_key="department.id")
    # The indicator's boundary: the emission sources counted (e.g. the carbon-market boundary of clinker
    # excludes purchased electricity); empty = every source of the organisation.
    source_ids: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    active: bool = True


class Deviation(SQLModel, table=True):
    """A month whose intensity exceeded target by more than the threshold, and the nonconformity raised."""

    __tablename__ = "carbon_deviation"
    __table_args__ = (UniqueConstraint("indicator_id", "period"),)
    id: int | None = Field(default=None, primary_key=True)
    indicator_id: int = Field(foreign_key="carbon_indicator.id")
    period: date
    intensity: Decimal = Field(sa_column=_num())
    deviation_percent: Decimal = Field(sa_column=_num(2))
    nonconformity_id: int | None = Field(default=None, foreign_key="nonconformity.id")
    created_at: datetime = Field(default_factory=utcnow)


MATURITY_STATUSES = {"planning": N_("编制评价计划"), "document_review": N_("文件评价"), "onsite": N_("现场评价"),
                     "scoring": N_("评分"), "approval": N_("报告审批"), "issued": N_("已发布")}
MATURITY_TASK_STATUS = {"plan_evaluation": "planning", "document_review": "document_review",
                        "onsite_evaluation": "onsite", "score_evaluation": "scoring", "approve_report": "approval"}
PDCA_AREAS = {"plan": N_("策划（P）"), "do": N_("实施（D）"), "check": N_("检查（C）"), "act": N_("改进（A）")}


class MaturityEvaluation(Versioned, table=True):
    """A maturity evaluation of the system per T/CECA-G §12 (plan → document review → on site → scores →
    report → approval), valid three years from approval (§12.4.1)."""

    __tablename__ = "maturity_evaluation"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=40)
    title: str = Field(max_length=200)
    scheme_code: str = Field(max_length=40)
    period_start: date
    period_end: date
    product: str | None = Field(default=None, max_length=40)  # the output whose intensity is scored
    lead_id: int = Field(foreign_key="user_account.id")
    team: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # names
    status: str = Field(default="planning", max_length=20, index=True)
    objective: str | None = Field(default=None, sa_column=Column(Text))
    criteria: str | None = Field(default=None, sa_column=Column(Text))
    scope: str | None = Field(default=None, sa_column=Column(Text))
    schedule: str | None = Field(default=None, sa_column=Column(Text))
    document_review: str | None = Field(default=None, sa_column=Column(Text))
    focus_points: str | None = Field(default=None, sa_column=Column(Text))
    findings: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))  # PDCA area -> text
    intensity: Decimal | None = Field(default=None, sa_column=_num(nullable=True))
    industry_advanced: Decimal | None = Field(default=None, sa_column=_num(nullable=True))
    best_previous: Decimal | None = Field(default=None, sa_column=_num(nullable=True))
    quant_method: str | None = Field(default=None, max_length=30)
    quant_ratio: Decimal | None = Field(default=None, sa_column=_num(nullable=True))
    quant_score: Decimal | None = Field(default=None, sa_column=_num(2, nullable=True))
    qual_total: Decimal | None = Field(default=None, sa_column=_num(2, nullable=True))
    weights: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    composite: Decimal | None = Field(default=None, sa_column=_num(2, nullable=True))
    rating: str | None = Field(default=None, max_length=20)
    conclusion: str | None = Field(default=None, sa_column=Column(Text))
    report_sha256: str | None = Field(default=None, foreign_key="stored_file.sha256", max_length=64)
    record_sha256: str | None = Field(default=None, foreign_key="stored_file.sha256", max_length=64)
    approved_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    approved_at: datetime | None = None
    valid_until: date | None = None
    instance_id: int | None = Field(default=None, foreign_key="process_instance.id")
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class MaturityScore(SQLModel, table=True):
    """The evaluator's score of one item of the scheme, with the justification and evidence."""

    __tablename__ = "maturity_score"
    __table_args__ = (UniqueConstraint("evaluation_id", "item_code"),)
    id: int | None = Field(default=None, primary_key=True)
    evaluation_id: int = Field(foreign_key="maturity_evaluation.id", index=True)
    item_code: str = Field(max_length=20)
    score: Decimal = Field(sa_column=_num(2))
    justification: str | None = Field(default=None, sa_column=Column(Text))
    evidence: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
