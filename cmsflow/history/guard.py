"""The history table refuses UPDATE and DELETE in the database itself (triggers), so "append-only" does not
depend on the application alone: a stray script, a console session or an ORM bug cannot rewrite an entry. The
hash chain still detects what someone with the rights to drop the triggers changes (``verify-history``).

Installed by the Alembic revision ``e1a7c0d9b2f4``; :func:`remove` / :func:`install` exist for the test suite's
cleanup (SQLite has no TRUNCATE) and for a deliberate, documented maintenance step. PostgreSQL's TRUNCATE is not
a row change and is not refused (it needs table ownership).
"""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

MESSAGE = "activity_entry is append-only: history entries cannot be changed or deleted"

POSTGRESQL_INSTALL = [
    f"""CREATE OR REPLACE FUNCTION cmsflow_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '{MESSAGE} (%)', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$""",
    "DROP TRIGGER IF EXISTS activity_entry_append_only ON activity_entry",
    """CREATE TRIGGER activity_entry_append_only BEFORE UPDATE OR DELETE ON activity_entry
FOR EACH ROW EXECUTE FUNCTION cmsflow_history_append_only()""",
]
POSTGRESQL_REMOVE = ["DROP TRIGGER IF EXISTS activity_entry_append_only ON activity_entry",
                     "DROP FUNCTION IF EXISTS cmsflow_history_append_only()"]
SQLITE_INSTALL = [
    f"""CREATE TRIGGER IF NOT EXISTS activity_entry_no_update BEFORE UPDATE ON activity_entry
BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS activity_entry_no_delete BEFORE DELETE ON activity_entry
BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
]
SQLITE_REMOVE = ["DROP TRIGGER IF EXISTS activity_entry_no_update", "DROP TRIGGER IF EXISTS activity_entry_no_delete"]


def _statements(conn: Connection, install: bool) -> list[str]:
    if conn.dialect.name == "postgresql":
        return POSTGRESQL_INSTALL if install else POSTGRESQL_REMOVE
    return SQLITE_INSTALL if install else SQLITE_REMOVE


def install(conn: Connection) -> None:
    """Create the triggers (idempotent)."""
    for statement in _statements(conn, True):
        conn.execute(text(statement))


def remove(conn: Connection) -> None:
    """Drop the triggers (idempotent)."""
    for statement in _statements(conn, False):
        conn.execute(text(statement))
