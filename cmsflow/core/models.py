"""Shared tables: named counters for document codes."""
from __future__ import annotations

from sqlalchemy import update
from sqlmodel import Field, Session, SQLModel, select


class Sequence(SQLModel, table=True):
    """A named counter (e.g. one per document-code prefix)."""

    __tablename__ = "sequence"
    name: str = Field(primary_key=True, max_length=64)
    value: int = 0


def next_value(session: Session, name: str) -> int:
    """Increment and return counter ``name`` (starts at 1); the row lock serialises concurrent callers."""
    if session.get(Sequence, name) is None:
        session.add(Sequence(name=name, value=0))
        session.flush()
    session.execute(update(Sequence).where(Sequence.name == name).values(value=Sequence.value + 1))
    return session.exec(select(Sequence.value).where(Sequence.name == name)).one()
