"""Internal audit programmes (审核方案), audits and their checklist lines / findings.

Per DB44/T 1944 §9.3, T/CECA-G §10.2 (programme §10.2.2), DB14/T 2970 §9.2: planned intervals,
every requirement and department covered, objective and impartial auditors, results reported to
management, nonconformities followed up.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

from cmsflow.core.db import utcnow
from cmsflow.core.models import Versioned


def N_(text: str) -> str:
    """Mark a label for translation (extracted by pybabel, translated where displayed)."""
    return text


PROGRAMME_STATUSES = {"draft": N_("草稿"), "in_approval": N_("审批中"), "approved": N_("已批准")}
AUDIT_STATUSES = {
    "scheduled": N_("已列入计划"), "planning": N_("编制审核计划"), "checklist": N_("准备检查表"),
    "on_site": N_("现场审核"), "reporting": N_("编写报告"), "report_approval": N_("报告审批"),
    "closed": N_("已关闭"),
}
TASK_STATUS = {"plan_audit": "planning", "prepare_checklist": "checklist", "record_findings": "on_site",
               "draft_report": "reporting", "approve_report": "report_approval"}
RESULTS = {"conformity": N_("符合"), "observation": N_("观察项"), "minor": N_("一般不符合"),
           "major": N_("严重不符合")}
NONCONFORMING = ("minor", "major")


class AuditProgramme(Versioned, table=True):
    __tablename__ = "audit_programme"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=40)
    title: str = Field(max_length=200)
    period_start: date
    period_end: date
    objectives: str = Field(default="", sa_column=Column(Text, nullable=False))
    criteria: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # standard codes
    status: str = Field(default="draft", max_length=20, index=True)
    author_id: int = Field(foreign_key="user_account.id")
    approved_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    approved_at: datetime | None = None
    instance_id: int | None = Field(default=None, foreign_key="process_instance.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Audit(Versioned, table=True):
    """One planned internal audit of a programme; runs as its own ``internal_audit`` process."""

    __tablename__ = "audit"
    id: int | None = Field(default=None, primary_key=True)
    programme_id: int = Field(foreign_key="audit_programme.id", index=True)
    code: str = Field(unique=True, max_length=40)
    title: str = Field(max_length=200)
    planned_month: date  # first day of the month the audit is planned for
    department_ids: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    clauses: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    lead_auditor_id: int | None = Field(default=None, foreign_key="user_account.id")
    team_ids: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    auditee_ids: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    start_date: date | None = None
    end_date: date | None = None
    status: str = Field(default="scheduled", max_length=20, index=True)
    summary: str | None = Field(default=None, sa_column=Column(Text))
    conclusion: str | None = Field(default=None, sa_column=Column(Text))
    report_sha256: str | None = Field(default=None, foreign_key="stored_file.sha256", max_length=64)
    record_sha256: str | None = Field(default=None, foreign_key="stored_file.sha256", max_length=64)
    report_approved_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    report_approved_at: datetime | None = None
    closed_at: datetime | None = None
    instance_id: int | None = Field(default=None, foreign_key="process_instance.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class AuditFinding(SQLModel, table=True):
    """A checklist line; once it has a result it is an audit finding (符合/观察项/不符合)."""

    __tablename__ = "audit_finding"
    id: int | None = Field(default=None, primary_key=True)
    audit_id: int = Field(foreign_key="audit.id", index=True)
    seq: int = 1
    clause: str | None = Field(default=None, max_length=40, index=True)
    question: str = Field(sa_column=Column(Text, nullable=False))
    department_id: int | None = Field(default=None, foreign_key="department.id")
    evidence_links: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    result: str | None = Field(default=None, max_length=20)
    objective_evidence: str | None = Field(default=None, sa_column=Column(Text))
    attachments: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    nonconformity_id: int | None = Field(default=None, foreign_key="nonconformity.id")
    recorded_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    recorded_at: datetime | None = None
