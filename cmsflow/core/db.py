"""Database engine and sessions (SQLModel on SQLAlchemy 2); one session per request or command."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from flask import current_app, g
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, create_engine

# Constraint names that Alembic can reproduce on SQLite and PostgreSQL alike.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Current time, timezone-aware UTC (SQLModel's UTCDateTime columns require aware values)."""
    return datetime.now(UTC)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.close()


def make_engine(url: str) -> Engine:
    """Create the engine for ``url``; SQLite gets foreign keys, WAL and a busy timeout."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
    return engine


def get_engine() -> Engine:
    return current_app.extensions["cmsflow_engine"]


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def db_session() -> Session:
    """The request's session, created on first use and closed at teardown."""
    if "db_session" not in g:
        g.db_session = Session(get_engine(), expire_on_commit=False)
    return g.db_session


def close_session(_exc=None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session for CLI commands and the worker: commit on success, roll back on error."""
    session = Session(engine or get_engine(), expire_on_commit=False)
    try:
        yield session
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


# --- races the database settles: answered 409 with a message, never a 500 --------------------------------------

def conflict_from(exc: Exception):
    """The :class:`~cmsflow.core.errors.Conflict` a lost race stands for, or None for any other error.

    - ``StaleDataError``: an optimistic-lock write matched no row (another edit of the same version won;
      :class:`cmsflow.core.models.Versioned`) → ``stale_edit``;
    - ``IntegrityError`` of a unique key (PostgreSQL SQLSTATE 23505, SQLite "UNIQUE constraint failed"): two
      users entered the same record at once (e.g. one source's activity data for one month) → ``duplicate``;
      any other integrity error (a referenced record removed meanwhile) → ``integrity_conflict``.
    The message says nothing was saved; the caller rolls the session back."""
    from sqlalchemy.exc import IntegrityError
    from sqlalchemy.orm.exc import StaleDataError

    from cmsflow.core.errors import Conflict

    if isinstance(exc, StaleDataError):
        return Conflict("记录已被他人修改，请刷新后重试（您的修改未保存）", code="stale_edit")
    if isinstance(exc, IntegrityError):
        orig = getattr(exc, "orig", None)
        text = str(orig or exc)
        if getattr(orig, "sqlstate", None) == "23505" or getattr(orig, "pgcode", None) == "23505" \
                or "UNIQUE constraint failed" in text:
            return Conflict("同一记录已由他人同时录入，您的提交未保存；请刷新后查看已有记录", code="duplicate")
        return Conflict("相关记录已被他人同时修改，您的提交未保存；请刷新后重试", code="integrity_conflict")
    return None
