"""Departments, users with one role each, and API bearer tokens."""
from __future__ import annotations

import hashlib
from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlmodel import Field, SQLModel
from werkzeug.security import check_password_hash, generate_password_hash

from cmsflow.core.db import utcnow

# How new password hashes are made (werkzeug method string). scrypt by default; create_app sets it from the
# PASSWORD_HASH_METHOD setting, which the tests lower to a cheap pbkdf2 (stored hashes name their own method, so
# verification never depends on this).
PASSWORD_HASH_METHOD = {"method": "scrypt"}

ROLES = (
    "top_management",
    "management_representative",
    "internal_auditor",
    "department_head",
    "staff",
    "admin",
)


class Department(SQLModel, table=True):
    __tablename__ = "department"
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, max_length=32)
    name: str = Field(max_length=120)


class User(UserMixin, SQLModel, table=True):
    __tablename__ = "user_account"
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True, max_length=64)
    full_name: str = Field(default="", max_length=120)
    password_hash: str = Field(max_length=256)
    role: str = Field(max_length=40, index=True)
    department_id: int | None = Field(default=None, foreign_key="department.id", index=True)
    active: bool = True
    # a password set by an administrator (reset on /admin/users, ``set-password --temporary``) is temporary: until
    # the user changes it, the pages lead only to /account and the API issues no token (OWASP ASVS 4.0.3 V2.1)
    must_change_password: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    created_at: datetime = Field(default_factory=utcnow)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password, method=PASSWORD_HASH_METHOD["method"])

    def check_password(self, password: str) -> bool:
        return bool(password) and check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    def get_id(self) -> str:
        """Flask-Login's session id: ``<id>.<fingerprint of the password hash>.<sign-in session key>``. The key
        names a :class:`SignInSession` row, ended at logout and on deactivation, so neither a copied session
        cookie nor the remember-me cookie signs anyone in after that; the fingerprint ends every session and
        remember-me cookie at a password change or reset (OWASP ASVS 3.3.1, 3.3.3, 3.3.4). The key is set by
        :func:`cmsflow.auth.service.open_session` (and by the loader for the current request)."""
        return f"{self.id}.{self.session_fingerprint}.{getattr(self, 'session_key', '')}"

    @property
    def session_fingerprint(self) -> str:
        return hashlib.sha256(self.password_hash.encode()).hexdigest()[:16]

    @property
    def display_name(self) -> str:
        return self.full_name or self.username


class SignInSession(SQLModel, table=True):
    """One sign-in through the pages: its random key travels in the (signed) session and remember-me cookies;
    only the key's SHA-256 is stored. ``ended_at`` set (logout, deactivation, password change): the cookies
    carrying it are refused for good (OWASP ASVS 3.3.1)."""

    __tablename__ = "sign_in_session"
    id: int | None = Field(default=None, primary_key=True)
    key_hash: str = Field(unique=True, max_length=64)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    remember: bool = False
    ended_at: datetime | None = None
    end_reason: str | None = Field(default=None, max_length=40)


class ApiToken(SQLModel, table=True):
    """A bearer token; only its SHA-256 is stored. Refused after ``expires_at`` or once ``revoked_at`` is set
    (OWASP ASVS 3.5.2, 3.3.1)."""

    __tablename__ = "api_token"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True, max_length=64)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    revoked_at: datetime | None = None


class LoginThrottle(SQLModel, table=True):
    """Consecutive failed sign-ins of one account name (lower-cased, whether or not such a user exists, so a
    lockout does not tell which names exist); locked until ``locked_until`` (OWASP ASVS 2.2.1)."""

    __tablename__ = "login_throttle"
    username: str = Field(primary_key=True, max_length=64)
    failures: int = 0
    last_failure_at: datetime = Field(default_factory=utcnow)
    locked_until: datetime | None = None
