"""Controlled documents (documented information): document, its versions and clause links."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from cmsflow.core.db import utcnow
from cmsflow.core.models import Versioned


def N_(text: str) -> str:
    """Mark a label for translation (extracted by pybabel, translated where displayed)."""
    return text


DOC_TYPES = {
    "manual": N_("手册"),
    "policy": N_("方针"),
    "procedure": N_("程序文件"),
    "rule": N_("管理制度"),
    "work_instruction": N_("作业文件"),
    "record_form": N_("记录表单"),
    "external": N_("外来文件"),
}
VERSION_STATUSES = {
    "draft": N_("草稿"),
    "in_review": N_("审批中"),
    "effective": N_("生效"),
    "superseded": N_("已替代"),
    "obsolete": N_("已作废"),
}
TOP_APPROVAL_TYPES = ("manual", "policy")


class Document(Versioned, table=True):
    __tablename__ = "document"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=40)
    title: str = Field(max_length=200, index=True)
    doc_type: str = Field(max_length=30, index=True)
    department_id: int = Field(foreign_key="department.id", index=True)
    status: str = Field(default="draft", max_length=20, index=True)  # status of the latest version
    current_version: int = 1  # latest version number
    effective_version: int | None = None
    author_id: int = Field(foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class DocumentClause(SQLModel, table=True):
    """Link from a document to a clause of a standard, e.g. ``TCECAG:8.2``."""

    __tablename__ = "document_clause"
    __table_args__ = (UniqueConstraint("document_id", "clause"),)
    id: int | None = Field(default=None, primary_key=True)
    document_id: int = Field(foreign_key="document.id", index=True)
    clause: str = Field(max_length=40, index=True)


class DocumentVersion(SQLModel, table=True):
    __tablename__ = "document_version"
    __table_args__ = (
        UniqueConstraint("document_id", "number"),
        # Exactly one effective version per document, enforced by the database too.
        Index("uq_document_version_one_effective", "document_id", unique=True,
              sqlite_where=text("status = 'effective'"), postgresql_where=text("status = 'effective'")),
    )
    id: int | None = Field(default=None, primary_key=True)
    document_id: int = Field(foreign_key="document.id", index=True)
    number: int
    status: str = Field(default="draft", max_length=20)
    source: str = Field(default="template", max_length=20)  # template | upload
    template: str | None = Field(default=None, max_length=60)
    fields: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    draft_sha256: str = Field(foreign_key="stored_file.sha256", max_length=64)
    effective_sha256: str | None = Field(default=None, foreign_key="stored_file.sha256", max_length=64)
    original_filename: str | None = Field(default=None, max_length=255)
    change_summary: str | None = Field(default=None, sa_column=Column(Text))
    effective_date: date | None = None
    approved_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    approved_at: datetime | None = None
    instance_id: int | None = Field(default=None, foreign_key="process_instance.id")
    created_by_id: int = Field(foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)

    @property
    def file_sha256(self) -> str:
        """The file to hand out: the stamped copy once effective, else the draft."""
        return self.effective_sha256 or self.draft_sha256
