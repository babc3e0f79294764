"""Shared tables: named counters for document codes."""
from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Field, Session, SQLModel


class Sequence(SQLModel, table=True):
    """A named counter (e.g. one per document-code prefix)."""

    __tablename__ = "sequence"
    name: str = Field(primary_key=True, max_length=64)
    value: int = 0


def next_value(session: Session, name: str) -> int:
    """Increment and return counter ``name`` (starts at 1); the row lock of the UPDATE serialises concurrent
    callers until they commit, so no two transactions get the same value.

    The counter row is created with INSERT … ON CONFLICT DO NOTHING: two transactions creating the first one at
    the same moment (e.g. the first two documents of a type) both go on, where a plain INSERT failed one of them
    with a unique-key error."""
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        session.execute(insert(Sequence).values(name=name, value=0).on_conflict_do_nothing(index_elements=["name"]))
    elif session.get(Sequence, name) is None:
        session.add(Sequence(name=name, value=0))
        session.flush()
    return session.execute(update(Sequence).where(Sequence.name == name).values(value=Sequence.value + 1)
                           .returning(Sequence.value)).scalar_one()
