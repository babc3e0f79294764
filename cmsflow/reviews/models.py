"""Management reviews (管理评审), their schedule and the actions their decisions create.

Per T/CECA-G §10.3 (inputs 10.3.2 a–f, outputs 10.3.3 a–e), DB14/T 2970 §9.3 and DB44/T 1944 §9.4:
top management reviews the system at planned intervals; inputs are gathered from the records of the
review period; decisions become tracked actions; minutes are kept as documented information.
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


STATUSES = {"scheduled": N_("待准备"), "preparing": N_("准备评审输入"), "in_review": N_("评审会议"),
            "signing": N_("报告签署"), "closed": N_("已完成")}
TASK_STATUS = {"prepare_review": "preparing", "hold_review": "in_review", "sign_minutes": "signing"}
# T/CECA-G §10.3.3 b–e and DB14/T 2970 §9.3.1 b), d): what a decision of the review is about.
ACTION_KINDS = {
    "improvement": N_("持续改进"), "system_change": N_("体系变更"), "policy": N_("方针变更"),
    "objectives": N_("目标、指标和基准调整"), "resources": N_("资源需求"), "corrective": N_("纠正措施"),
}
ACTION_STATUSES = {"open": N_("进行中"), "done": N_("已完成"), "cancelled": N_("已取消")}


class ReviewSchedule(SQLModel, table=True):
    """The organisation's review cycle: the next planned review date and the interval in months."""

    __tablename__ = "review_schedule"
    id: int | None = Field(default=None, primary_key=True)
    interval_months: int = 12
    next_review_on: date
    preparation_days: int = 30
    active: bool = True
    instance_id: int | None = Field(default=None, foreign_key="process_instance.id")
    updated_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    updated_at: datetime = Field(default_factory=utcnow)


class ManagementReview(Versioned, table=True):
    __tablename__ = "management_review"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=40)
    title: str = Field(max_length=200)
    period_start: date
    period_end: date
    planned_on: date
    held_on: date | None = None
    trigger: str = Field(default="manual", max_length=20)  # manual | scheduled
    status: str = Field(default="preparing", max_length=20, index=True)
    inputs: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    inputs_gathered_at: datetime | None = None
    commentary: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))  # section -> text
    attendees: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # names
    chair_id: int | None = Field(default=None, foreign_key="user_account.id")
    # 10.3.3 a) overall conclusion on suitability, adequacy, effectiveness
    suitability: str | None = Field(default=None, sa_column=Column(Text))
    adequacy: str | None = Field(default=None, sa_column=Column(Text))
    effectiveness: str | None = Field(default=None, sa_column=Column(Text))
    conclusion: str | None = Field(default=None, sa_column=Column(Text))
    # 10.3.3 b)–e) and DB14/T 2970 9.3.1 d)
    policy_changes: str | None = Field(default=None, sa_column=Column(Text))
    objective_changes: str | None = Field(default=None, sa_column=Column(Text))
    system_changes: str | None = Field(default=None, sa_column=Column(Text))
    improvement: str | None = Field(default=None, sa_column=Column(Text))
    resource_needs: str | None = Field(default=None, sa_column=Column(Text))
    # decisions as recorded by top management; they become ReviewAction rows when the minutes are signed
    decisions: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    input_report_sha256: str | None = Field(default=None, foreign_key="stored_file.sha256", max_length=64)
    minutes_sha256: str | None = Field(default=None, foreign_key="stored_file.sha256", max_length=64)
    record_sha256: str | None = Field(default=None, foreign_key="stored_file.sha256", max_length=64)
    signed_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    signed_at: datetime | None = None
    closed_at: datetime | None = None
    instance_id: int | None = Field(default=None, foreign_key="process_instance.id")
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ReviewAction(SQLModel, table=True):
    """A decision of a review, tracked to completion by its owner (a corrective action is a
    nonconformity with its own process; the action then follows that nonconformity)."""

    __tablename__ = "review_action"
    id: int | None = Field(default=None, primary_key=True)
    review_id: int = Field(foreign_key="management_review.id", index=True)
    seq: int = 1
    kind: str = Field(max_length=20)
    description: str = Field(sa_column=Column(Text, nullable=False))
    owner_id: int = Field(foreign_key="user_account.id", index=True)
    department_id: int | None = Field(default=None, foreign_key="department.id")
    due_on: date
    status: str = Field(default="open", max_length=20, index=True)
    nonconformity_id: int | None = Field(default=None, foreign_key="nonconformity.id")
    completion_note: str | None = Field(default=None, sa_column=Column(Text))
    completed_at: datetime | None = None
    completed_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    overdue_notified_at: datetime | None = None  # the worker's one overdue notice
    created_at: datetime = Field(default_factory=utcnow)
