"""Process specs (once per content hash), instances (JSON state, optimistic version), human tasks,
electronic signatures and in-app notifications."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

from cmsflow.core.db import utcnow


class ProcessSpec(SQLModel, table=True):
    __tablename__ = "process_spec"
    id: int | None = Field(default=None, primary_key=True)
    process_id: str = Field(max_length=80, index=True)
    file_name: str = Field(max_length=200)
    content_hash: str = Field(max_length=64, unique=True)
    spec_json: str = Field(sa_column=Column(Text, nullable=False))
    # the BPMN file's text as it was when this spec was stored: the instance diagram is drawn from it, so a
    # changed workflow file never redraws (or breaks) the diagram of instances running on an older version
    bpmn_xml: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow)


class ProcessInstance(SQLModel, table=True):
    """One running or finished process. ``version`` guards against concurrent steps."""

    __tablename__ = "process_instance"
    id: int | None = Field(default=None, primary_key=True)
    process_id: str = Field(max_length=80, index=True)
    spec_id: int = Field(foreign_key="process_spec.id")
    subject_type: str = Field(max_length=40)
    subject_id: int = Field(index=True)
    status: str = Field(default="running", max_length=20, index=True)  # running | complete | error
    state: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    version: int = 1
    next_timer_at: datetime | None = Field(default=None, index=True)
    error: str | None = Field(default=None, sa_column=Column(Text))
    started_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class HumanTask(SQLModel, table=True):
    """Mirror of one READY user task, so the inbox is a plain query."""

    __tablename__ = "human_task"
    id: int | None = Field(default=None, primary_key=True)
    instance_id: int = Field(foreign_key="process_instance.id", index=True)
    task_uuid: str = Field(max_length=36, index=True)
    name: str = Field(max_length=80)
    title: str = Field(max_length=200)
    process_id: str = Field(max_length=80)
    lane: str | None = Field(default=None, max_length=80)
    form: str = Field(default="approval", max_length=40)
    signature_meaning: str | None = Field(default=None, max_length=40)
    subject_type: str = Field(max_length=40)
    subject_id: int = Field(index=True)
    assignee_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    role: str | None = Field(default=None, max_length=40, index=True)
    department_id: int | None = Field(default=None, foreign_key="department.id")
    status: str = Field(default="open", max_length=20, index=True)  # open | completed | cancelled
    created_at: datetime = Field(default_factory=utcnow)
    due_at: datetime | None = None
    reminded_at: datetime | None = None
    overdue_notified_at: datetime | None = None
    escalated_at: datetime | None = None
    completed_at: datetime | None = None
    completed_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    decision: str | None = Field(default=None, max_length=20)
    comment: str | None = Field(default=None, sa_column=Column(Text))
    # segregation of duties (cmsflow/workflow/segregation.py): why the task went to someone other than the lane's
    # holder ("管理者代表为本文件作者，已转由最高管理者审批"), and the authors excluded from signing it
    assignment_note: str | None = Field(default=None, max_length=500)
    excluded_user_ids: list | None = Field(default=None, sa_column=Column(JSON))


class Signature(SQLModel, table=True):
    """An electronic signature: who signed what, when, and with which meaning (reviewed/approved).

    Bound to the audit trail (21 CFR Part 11 §11.70): ``activity_entry_id`` is the hash-chained history entry of
    the signed step, whose details repeat signer, name, role, meaning, decision, time and ``signed_sha256`` (the
    hash of what was signed, see :func:`cmsflow.workflow.signing.signed_content_hash`). Both are NULL only for
    signatures made before the binding existed (listed by migration ``c4a9e2d7f318`` in the history).
    """

    __tablename__ = "signature"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id")
    signer_name: str = Field(max_length=120)
    signer_role: str = Field(max_length=40)
    meaning: str = Field(max_length=40)
    decision: str = Field(max_length=20)
    comment: str | None = Field(default=None, sa_column=Column(Text))
    signed_at: datetime = Field(default_factory=utcnow)
    subject_type: str = Field(max_length=40)
    subject_id: int = Field(index=True)
    human_task_id: int = Field(foreign_key="human_task.id")
    activity_entry_id: int | None = Field(default=None, foreign_key="activity_entry.id")
    signed_sha256: str | None = Field(default=None, max_length=64)


class Notification(SQLModel, table=True):
    """An in-app message (reminders, escalations, read requests)."""

    __tablename__ = "notification"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    kind: str = Field(max_length=40)
    message: str = Field(max_length=500)
    subject_type: str | None = Field(default=None, max_length=40)
    subject_id: int | None = None
    created_at: datetime = Field(default_factory=utcnow)
    read_at: datetime | None = None
