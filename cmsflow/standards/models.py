"""Which standards the organisation's carbon emission management system follows."""
from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from cmsflow.core.db import utcnow


class ApplicableStandard(SQLModel, table=True):
    __tablename__ = "applicable_standard"
    code: str = Field(primary_key=True, max_length=20)
    added_at: datetime = Field(default_factory=utcnow)
    added_by_id: int | None = Field(default=None, foreign_key="user_account.id")
