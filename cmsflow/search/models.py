"""The search outbox: rows written in the same transaction as the change, applied by the indexer."""
from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from cmsflow.core.db import utcnow


class SearchOutbox(SQLModel, table=True):
    __tablename__ = "search_outbox"
    id: int | None = Field(default=None, primary_key=True)
    subject_type: str = Field(max_length=40)
    subject_id: int
    created_at: datetime = Field(default_factory=utcnow)
    processed_at: datetime | None = Field(default=None, index=True)
