"""Compliance evaluations (合规性评价) of the obligations in the compliance-obligation register.

Per T/CECA-G §10.1.3, DB14/T 2970 §9.1 (§9.1.2: re-evaluate when an obligation changes) and the
carbon-neutrality standard §9.1.2: every obligation is evaluated at its planned frequency, results
and the actions taken are kept as documented information.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from cmsflow.core.db import utcnow
from cmsflow.core.models import Versioned


def N_(text: str) -> str:
    """Mark a label for translation (extracted by pybabel, translated where displayed)."""
    return text


RESULTS = {"compliant": N_("合规"), "non_compliant": N_("不合规"), "not_applicable": N_("不适用")}
TRIGGERS = {"scheduled": N_("按频次"), "text_changed": N_("义务变更"), "manual": N_("手动发起")}
STATUSES = {"evaluating": N_("部门评价中"), "confirming": N_("管理者代表确认中"), "closed": N_("已完成"),
            "cancelled": N_("已取消")}
TASK_STATUS = {"evaluate_obligation": "evaluating", "confirm_evaluation": "confirming"}


class ComplianceEvaluation(Versioned, table=True):
    """One evaluation of one obligation, against the obligation text as it was when evaluated."""

    __tablename__ = "compliance_evaluation"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=40)
    obligation_id: int = Field(foreign_key="reg_compliance_obligation.id", index=True)
    department_id: int = Field(foreign_key="department.id", index=True)
    trigger: str = Field(default="scheduled", max_length=20)
    due_on: date
    obligation_title: str = Field(max_length=200)
    requirement: str = Field(sa_column=Column(Text, nullable=False))  # the text evaluated against
    requirement_sha256: str = Field(max_length=64)
    status: str = Field(default="evaluating", max_length=20, index=True)
    result: str | None = Field(default=None, max_length=20, index=True)
    evidence: str | None = Field(default=None, sa_column=Column(Text))
    evaluated_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    evaluated_at: datetime | None = None
    confirmed_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    confirmed_at: datetime | None = None
    confirm_comment: str | None = Field(default=None, sa_column=Column(Text))
    nonconformity_id: int | None = Field(default=None, foreign_key="nonconformity.id")
    instance_id: int | None = Field(default=None, foreign_key="process_instance.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ObligationSchedule(SQLModel, table=True):
    """The running ``compliance_evaluation_schedule`` process of one obligation."""

    __tablename__ = "obligation_schedule"
    id: int | None = Field(default=None, primary_key=True)
    obligation_id: int = Field(foreign_key="reg_compliance_obligation.id", unique=True)
    next_due_on: date
    frequency: str = Field(max_length=20)  # the register frequency the schedule was planned with
    active: bool = True
    instance_id: int | None = Field(default=None, foreign_key="process_instance.id")
    requirement_sha256: str = Field(max_length=64)  # last text seen, to notice revisions
    updated_at: datetime = Field(default_factory=utcnow)
