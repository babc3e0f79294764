"""One table per register, plus the clause links shared by all of them."""
from __future__ import annotations

import datetime as dt
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Column, Index, Numeric, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from cmsflow.core.db import utcnow
from cmsflow.core.models import Versioned


def _long() -> Column:
    return Column(Text)


def _dec(scale: int = 4) -> Column:
    return Column(Numeric(18, scale))


class RegisterRecord(Versioned):
    """Columns every register record has."""

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id")


class ContextIssue(RegisterRecord, table=True):
    __tablename__ = "reg_context_issue"
    title: str = Field(max_length=200)
    kind: str = Field(max_length=20)
    category: str = Field(max_length=30)
    description: str | None = Field(default=None, sa_column=_long())
    effect: str | None = Field(default=None, max_length=20)
    review_date: date | None = None
    department_id: int | None = Field(default=None, foreign_key="department.id")


class InterestedParty(RegisterRecord, table=True):
    __tablename__ = "reg_interested_party"
    name: str = Field(max_length=200)
    party_type: str = Field(max_length=30)
    requirements: str = Field(sa_column=Column(Text, nullable=False))
    addressed: bool = False
    how_addressed: str | None = Field(default=None, sa_column=_long())
    department_id: int | None = Field(default=None, foreign_key="department.id")
    review_date: date | None = None


class Risk(RegisterRecord, table=True):
    __tablename__ = "reg_risk"
    title: str = Field(max_length=200)
    kind: str = Field(max_length=20)
    category: str = Field(max_length=20)
    description: str | None = Field(default=None, sa_column=_long())
    likelihood: int
    impact: int
    treatment_action: str | None = Field(default=None, sa_column=_long())
    owner_id: int | None = Field(default=None, foreign_key="user_account.id")
    due_date: date | None = None
    effectiveness_review: str | None = Field(default=None, sa_column=_long())
    status: str = Field(default="open", max_length=20)
    department_id: int | None = Field(default=None, foreign_key="department.id")


class ComplianceObligation(RegisterRecord, table=True):
    __tablename__ = "reg_compliance_obligation"
    title: str = Field(max_length=200)
    obligation_type: str = Field(max_length=30)
    issuing_body: str | None = Field(default=None, max_length=120)
    article: str | None = Field(default=None, max_length=60)
    requirement: str = Field(sa_column=Column(Text, nullable=False))
    applicability: str | None = Field(default=None, sa_column=_long())
    department_id: int = Field(foreign_key="department.id")
    evaluation_frequency: str = Field(max_length=20)
    effective_date: date | None = None


class EmissionSource(RegisterRecord, table=True):
    __tablename__ = "reg_emission_source"
    name: str = Field(max_length=200)
    facility: str = Field(max_length=200)
    source_category: str = Field(max_length=30)
    gases: str | None = Field(default=None, max_length=60)
    fuel_or_material: str | None = Field(default=None, max_length=120)
    monitoring_method: str | None = Field(default=None, sa_column=_long())
    monitoring_frequency: str | None = Field(default=None, max_length=20)
    instrument: str | None = Field(default=None, max_length=60)
    key_source: bool = False
    department_id: int | None = Field(default=None, foreign_key="department.id")


class Instrument(RegisterRecord, table=True):
    __tablename__ = "reg_instrument"
    __table_args__ = (UniqueConstraint("code"),)
    code: str = Field(max_length=60)
    name: str = Field(max_length=200)
    model: str | None = Field(default=None, max_length=120)
    location: str | None = Field(default=None, max_length=200)
    measured_quantity: str | None = Field(default=None, max_length=120)
    accuracy_class: str | None = Field(default=None, max_length=40)
    department_id: int | None = Field(default=None, foreign_key="department.id")
    calibration_interval_months: int | None = None
    last_calibrated: date | None = None
    next_due: date | None = Field(default=None, index=True)
    calibration_body: str | None = Field(default=None, max_length=200)
    certificate_no: str | None = Field(default=None, max_length=80)
    status: str = Field(default="in_use", max_length=20)
    reminded_for: date | None = None  # next_due value the worker already reminded about


class Objective(RegisterRecord, table=True):
    __tablename__ = "reg_objective"
    title: str = Field(max_length=200)
    level: str = Field(max_length=20)
    parent: str | None = Field(default=None, max_length=200)
    indicator: str = Field(max_length=200)
    unit: str = Field(max_length=40)
    base_value: Decimal | None = Field(default=None, sa_column=_dec())
    target_value: Decimal = Field(sa_column=Column(Numeric(18, 4), nullable=False))
    deadline: date
    action_plan: str | None = Field(default=None, sa_column=_long())
    resources: str | None = Field(default=None, sa_column=_long())
    department_id: int = Field(foreign_key="department.id")
    schedule: str | None = Field(default=None, sa_column=_long())
    verification_method: str | None = Field(default=None, sa_column=_long())
    status: str = Field(default="planned", max_length=20)


class Baseline(RegisterRecord, table=True):
    __tablename__ = "reg_baseline"
    name: str = Field(max_length=200)
    base_year: int
    emissions_tco2e: Decimal = Field(sa_column=Column(Numeric(18, 4), nullable=False))
    intensity: Decimal | None = Field(default=None, sa_column=_dec(6))
    intensity_unit: str | None = Field(default=None, max_length=40)
    boundary: str | None = Field(default=None, sa_column=_long())
    notes: str | None = Field(default=None, sa_column=_long())


class Training(RegisterRecord, table=True):
    __tablename__ = "reg_training"
    person: str = Field(max_length=120)
    department_id: int | None = Field(default=None, foreign_key="department.id")
    topic: str = Field(max_length=200)
    date: dt.date
    hours: Decimal | None = Field(default=None, sa_column=_dec(2))
    provider: str | None = Field(default=None, max_length=200)
    assessment: str | None = Field(default=None, max_length=20)
    evidence: str | None = Field(default=None, max_length=200)


class Communication(RegisterRecord, table=True):
    __tablename__ = "reg_communication"
    date: dt.date
    direction: str = Field(max_length=20)
    party: str = Field(max_length=200)
    topic: str = Field(max_length=200)
    channel: str | None = Field(default=None, max_length=120)
    summary: str | None = Field(default=None, sa_column=_long())
    decision: str | None = Field(default=None, sa_column=_long())
    department_id: int | None = Field(default=None, foreign_key="department.id")


class RegisterClause(SQLModel, table=True):
    """Clause link of any register record (``register_name`` names the register)."""

    __tablename__ = "register_clause"
    __table_args__ = (UniqueConstraint("register_name", "record_id", "clause"),)
    id: int | None = Field(default=None, primary_key=True)
    register_name: str = Field(max_length=40, index=True)
    record_id: int = Field(index=True)
    clause: str = Field(max_length=40, index=True)


# Indexes for the register filters (the list pages and API filter on these columns; booleans are left out,
# an index does not help a two-valued column).
FILTER_INDEXES = {
    ContextIssue: ("kind", "category", "department_id"),
    InterestedParty: ("party_type", "department_id"),
    Risk: ("kind", "category", "status", "department_id"),
    ComplianceObligation: ("obligation_type", "department_id"),
    EmissionSource: ("facility", "source_category", "department_id"),
    Instrument: ("department_id", "status"),
    Objective: ("level", "department_id", "status"),
    Training: ("department_id", "assessment"),
    Communication: ("direction", "department_id"),
}
for _model, _columns in FILTER_INDEXES.items():
    for _column in _columns:
        Index(f"ix_{_model.__tablename__}_{_column}", _model.__table__.c[_column])
