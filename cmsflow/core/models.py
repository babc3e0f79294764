"""Shared tables: named counters for document codes; the optimistic lock every edited record carries."""
from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import declared_attr
from sqlmodel import Field, Session, SQLModel


class Versioned(SQLModel):
    """A record edited by several people: ``lock_version`` is the optimistic lock (OWASP ASVS 4.0.3 V11.1.6;
    21 CFR Part 11 §11.10(e): no acknowledged edit may be lost).

    The services compare the version a user read with ``lock_version`` and add one; the ORM then writes with
    ``UPDATE … WHERE id = :id AND lock_version = :loaded`` (SQLAlchemy ``version_id_col``, the counter set by
    the application), so the check and the write are one statement: of concurrent edits of one version exactly
    one matches a row, the others raise ``sqlalchemy.orm.exc.StaleDataError``, answered 409 ``stale_edit``
    (:mod:`cmsflow.web.setup`) with the whole transaction rolled back, on SQLite and PostgreSQL alike."""

    lock_version: int = 1

    @declared_attr
    def __mapper_args__(cls) -> dict:  # noqa: N805 - SQLAlchemy's declared_attr receives the class
        return {"version_id_col": cls.__table__.c.lock_version, "version_id_generator": False}


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
