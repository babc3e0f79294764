"""Nonconformities (不符合项) and their corrective actions (纠正措施).

Per T/CECA-G §11.2, DB44/T 1944 §10, DB14/T 2970 §10: reaction and correction, cause analysis,
check for similar nonconformities, actions, effectiveness review, need for system change, records.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from cmsflow.core.db import utcnow
from cmsflow.core.models import Versioned


def N_(text: str) -> str:
    """Mark a label for translation (extracted by pybabel, translated where displayed)."""
    return text


SOURCES = {
    "internal_audit": N_("内部审核"),
    "compliance_evaluation": N_("合规性评价"),
    "monitoring": N_("监视测量偏差"),
    "management_review": N_("管理评审"),
    "interested_party": N_("投诉/相关方反馈"),
    "external_audit": N_("外部审核"),
    "verification": N_("第三方核查"),
    "carbon_compliance": N_("配额履约"),
    "other": N_("其他"),
}
SEVERITIES = {"minor": N_("一般不符合"), "major": N_("严重不符合")}
STATUSES = {
    "raised": N_("待部门确认"),
    "disputed": N_("争议裁定中"),
    "correction": N_("纠正处置中"),
    "cause_analysis": N_("原因分析中"),
    "action_plan": N_("制定措施中"),
    "implementation": N_("措施实施中"),
    "awaiting_verification": N_("等待验证期"),
    "verification": N_("有效性验证中"),
    "closed": N_("已关闭"),
    "withdrawn": N_("已撤销"),
}
OPEN_STATUSES = tuple(s for s in STATUSES if s not in ("closed", "withdrawn"))
# The six cause categories (人、机、料、法、环、测).
CAUSE_CATEGORIES = {
    "people": N_("人员"), "equipment": N_("设备"), "material": N_("物料"),
    "method": N_("方法"), "environment": N_("环境"), "measurement": N_("测量"),
}
# Open user task of corrective_action.bpmn -> status shown to people.
TASK_STATUS = {"accept": "raised", "decide_dispute": "disputed", "correction": "correction",
               "cause_analysis": "cause_analysis", "action_plan": "action_plan",
               "implementation": "implementation", "verification": "verification"}


class Nonconformity(Versioned, table=True):
    __tablename__ = "nonconformity"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=40)
    title: str = Field(max_length=200)
    description: str = Field(sa_column=Column(Text, nullable=False))
    evidence: str = Field(default="", sa_column=Column(Text, nullable=False))
    source: str = Field(max_length=40, index=True)
    source_ref: str | None = Field(default=None, max_length=80, index=True)  # e.g. "audit_finding:12"
    severity: str = Field(default="minor", max_length=10)
    department_id: int = Field(foreign_key="department.id", index=True)
    raised_by_id: int = Field(foreign_key="user_account.id")
    raised_on: date
    status: str = Field(default="raised", max_length=30, index=True)
    owner_id: int | None = Field(default=None, foreign_key="user_account.id")
    verifier_id: int | None = Field(default=None, foreign_key="user_account.id")
    implementer_id: int | None = Field(default=None, foreign_key="user_account.id")
    dispute_reason: str | None = Field(default=None, sa_column=Column(Text))
    # 纠正: what was done at once and how consequences were dealt with
    correction: str | None = Field(default=None, sa_column=Column(Text))
    consequences: str | None = Field(default=None, sa_column=Column(Text))
    # 原因分析
    whys: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    cause_categories: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    root_cause: str | None = Field(default=None, sa_column=Column(Text))
    similar_check: str | None = Field(default=None, sa_column=Column(Text))
    similar_found: bool | None = None
    # T/CECA-G §11.2 e: does the management system itself need changing?
    system_change_needed: bool | None = None
    system_change_note: str | None = Field(default=None, sa_column=Column(Text))
    system_change_document_id: int | None = Field(default=None, foreign_key="document.id")
    # 有效性验证
    cycle: int = 1  # incremented each time verification finds the actions not effective
    verification_from: datetime | None = None
    verification_note: str | None = Field(default=None, sa_column=Column(Text))
    verified_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    verified_at: datetime | None = None
    closed_at: datetime | None = None
    instance_id: int | None = Field(default=None, foreign_key="process_instance.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class NonconformityClause(SQLModel, table=True):
    __tablename__ = "nonconformity_clause"
    __table_args__ = (UniqueConstraint("nonconformity_id", "clause"),)
    id: int | None = Field(default=None, primary_key=True)
    nonconformity_id: int = Field(foreign_key="nonconformity.id", index=True)
    clause: str = Field(max_length=40, index=True)


class CorrectiveActionItem(SQLModel, table=True):
    """One action of a corrective action plan, with its owner, due date and implementation evidence."""

    __tablename__ = "corrective_action_item"
    id: int | None = Field(default=None, primary_key=True)
    nonconformity_id: int = Field(foreign_key="nonconformity.id", index=True)
    cycle: int = 1
    seq: int = 1
    description: str = Field(sa_column=Column(Text, nullable=False))
    owner_id: int = Field(foreign_key="user_account.id")
    due_date: date
    status: str = Field(default="planned", max_length=20)  # planned | done
    evidence: str | None = Field(default=None, sa_column=Column(Text))
    evidence_sha256: str | None = Field(default=None, foreign_key="stored_file.sha256", max_length=64)
    evidence_filename: str | None = Field(default=None, max_length=255)
    completed_at: datetime | None = None
    completed_by_id: int | None = Field(default=None, foreign_key="user_account.id")
