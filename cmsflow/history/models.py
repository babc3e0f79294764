"""The audit trail: an append-only, hash-chained log of every change and signature."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from cmsflow.core.db import utcnow


class ActivityEntry(SQLModel, table=True):
    """One event. ``hash`` = SHA-256 over the previous hash and this entry's canonical JSON."""

    __tablename__ = "activity_entry"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor_id: int | None = Field(default=None, foreign_key="user_account.id")
    actor_name: str = Field(default="", max_length=120)
    action: str = Field(max_length=64)
    subject_type: str = Field(max_length=40)
    subject_id: int = Field(index=True)
    details: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)
