"""Test fixtures: one app and migrated database per run (SQLite by default, PostgreSQL when
CMSFLOW_TEST_DATABASE_URL is set); every test starts from empty tables and an empty search index."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel

from cmsflow import create_app
from cmsflow.cli import migrate_to_head
from cmsflow.core.db import make_engine, session_scope
from cmsflow.history import checkpoint, guard

PASSWORD = "correct-horse-9"
ROLE_USERS = [
    # username, role, department
    ("mr", "management_representative", "MGT"),
    ("top", "top_management", "MGT"),
    ("auditor", "internal_auditor", "QHS"),
    ("head_ene", "department_head", "ENE"),
    ("staff_ene", "staff", "ENE"),
    ("staff_ene2", "staff", "ENE"),
    ("head_prd", "department_head", "PRD"),
    ("staff_prd", "staff", "PRD"),
    ("admin", "admin", None),
]


def _reset_database(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def second_database(source_url: str, folder, suffix: str) -> str:
    """A second database of the same kind as the test database: a new SQLite file ``<suffix>.db`` in ``folder``,
    or the PostgreSQL database ``<name>_<suffix>`` (created when missing; its content is left as it is)."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    if source_url.startswith("sqlite"):
        return f"sqlite:///{folder / f'{suffix}.db'}"
    url = make_url(source_url)
    name = f"{url.database}_{suffix}"
    admin = create_engine(url.set(drivername="postgresql+psycopg", database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar():
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    instance = tmp_path_factory.mktemp("instance")
    url = os.environ.get("CMSFLOW_TEST_DATABASE_URL") or f"sqlite:///{instance / 'test.db'}"
    _reset_database(url)
    application = create_app({"INSTANCE_DIR": str(instance), "DATABASE_URL": url, "SECRET_KEY": "test",
                              "TESTING": True, "FILES_DIR": str(instance / "files"),
                              "INDEX_DIR": str(instance / "index"),
                              # many tokens from one address; tests/security turns it on to see the 429
                              "LOGIN_RATE_LIMIT_ENABLED": False,
                              # scrypt costs ~80 ms a hash; nine users a test made that minutes of the suite
                              "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    with application.app_context():
        migrate_to_head(url)
    yield application
    application.extensions["cmsflow_engine"].dispose()


@pytest.fixture(autouse=True)
def clean(app):
    """Empty every table, the search index and the history checkpoint before each test."""
    engine = app.extensions["cmsflow_engine"]
    tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:  # no TRUNCATE in SQLite: the history's append-only triggers are lifted for the cleanup
            guard.remove(conn)
            for t in tables:
                conn.execute(text(f'DELETE FROM "{t}"'))
            guard.install(conn)
    shutil.rmtree(app.config["INDEX_DIR"], ignore_errors=True)
    (Path(app.config["FILES_DIR"]) / checkpoint.FILE_NAME).unlink(missing_ok=True)  # the emptied chain's old head
    yield


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield app


@pytest.fixture
def org(app):
    """Departments and one user per role; returns {username: user_id}."""
    from cmsflow.auth.service import create_department, create_user

    ids = {}
    with app.app_context(), session_scope() as s:
        for code, name in [("MGT", "综合管理部"), ("ENE", "能源管理部"), ("PRD", "生产部"), ("QHS", "质量安全环保部")]:
            create_department(s, code, name)
        for username, role, dept in ROLE_USERS:
            ids[username] = create_user(s, username, PASSWORD, role, dept, full_name=username.upper()).id
    return ids


def signed_in(app, user_id: int):
    """A test client with a signed-in session (pages; CSRF stays on)."""
    from cmsflow.auth.models import User
    from cmsflow.auth.service import open_session

    with app.app_context(), session_scope() as s:
        user = s.get(User, user_id)
        open_session(s, user)
        session_id = user.get_id()
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["_user_id"] = session_id
        sess["_fresh"] = True
    return client


class Api:
    """A thin JSON client that signs in as a user with a bearer token."""

    def __init__(self, client, username: str, password: str = PASSWORD):
        self.client = client
        res = client.post("/api/v1/auth/token", json={"username": username, "password": password})
        assert res.status_code == 200, res.get_json()
        self.headers = {"Authorization": f"Bearer {res.get_json()['token']}"}

    def get(self, path, **kw):
        return self.client.get(f"/api/v1{path}", headers=self.headers, **kw)

    def post(self, path, **kw):
        return self.client.post(f"/api/v1{path}", headers=self.headers, **kw)


@pytest.fixture
def api(app, org):
    client = app.test_client()
    return lambda username: Api(client, username)


PROCEDURE_FIELDS = {
    "purpose": "规范温室气体排放的识别、监测、核算与报告，确保排放数据真实、准确、完整。",
    "scope": "适用于本公司熟料煅烧、燃料燃烧、外购电力及余热发电相关的温室气体排放管理。",
    "responsibilities": ["能源管理部负责排放源识别与数据汇总", "生产部负责生产数据记录"],
    "steps": ["每月5日前完成上月活动数据收集", "按 GB/T 32150 核算排放量", "管理者代表审核排放报告"],
}


@pytest.fixture
def new_procedure(api):
    """Create a procedure draft from the template as ENE staff; returns (api, document json)."""
    def make(title="温室气体排放管理程序", user="staff_ene", fields=None):
        a = api(user)
        res = a.post("/documents", json={"title": title, "doc_type": "procedure", "department": "ENE",
                                         "template": "procedure", "fields": fields or PROCEDURE_FIELDS,
                                         "clauses": ["TCECAG:8.2", "DB44T1944:7.5"]})
        assert res.status_code == 201, res.get_json()
        return a, res.get_json()
    return make
