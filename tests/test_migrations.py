"""Upgrading a database that holds data: every revision since the last release applies to an instance with users,
tokens and tasks pointing at them (SQLite enforces foreign keys, so a migration that rebuilds a referenced table
fails here, as it did for a demo instance on ``make run``)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import text

from cmsflow.core import backup as backup_module
from cmsflow.core.db import make_engine
from tests.conftest import _reset_database
from tests.security.test_audit_trail import _migration_url

LAST_RELEASED = "b7d21e4f0a11"  # the head on main before this session's migrations


def test_every_new_revision_applies_to_a_database_with_data(app, tmp_path):
    url = _migration_url(app, tmp_path)
    cfg = backup_module._alembic_config(url)
    _reset_database(url)
    command.upgrade(cfg, LAST_RELEASED)
    engine = make_engine(url)
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO department (id, code, name) VALUES (1, 'ENE', '能源管理部')"))
            conn.execute(text(
                "INSERT INTO user_account (id, username, full_name, password_hash, role, department_id, active, "
                "created_at) VALUES (1, 'qian', '钱', 'x', 'staff', 1, :t, :now)"), {"t": True, "now": now})
            conn.execute(text("INSERT INTO api_token (id, token_hash, user_id, created_at, expires_at) "
                              "VALUES (1, 'h', 1, :now, :later)"), {"now": now, "later": now + timedelta(hours=1)})
        command.upgrade(cfg, "head")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT username FROM user_account")).scalars().all() == ["qian"]
            assert conn.execute(text("SELECT user_id FROM api_token")).scalars().all() == [1]
            assert not conn.execute(text("SELECT must_change_password FROM user_account")).scalar()
    finally:
        engine.dispose()
        _reset_database(url)
