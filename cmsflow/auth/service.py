"""Users, departments and tokens: creation, lookup and authentication (no Flask imports)."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlmodel import Session, select

from cmsflow.auth.models import ROLES, ApiToken, Department, User
from cmsflow.core.db import utcnow
from cmsflow.core.errors import NotFound, ValidationError


def create_department(session: Session, code: str, name: str) -> Department:
    """Create a department; raises ValidationError if the code exists or is blank."""
    code = code.strip().upper()
    if not code or not name.strip():
        raise ValidationError("部门编码和名称不能为空")
    if session.exec(select(Department).where(Department.code == code)).first():
        raise ValidationError(f"部门编码 {code} 已存在")
    dept = Department(code=code, name=name.strip())
    session.add(dept)
    session.flush()
    return dept


def department_by_code(session: Session, code: str) -> Department:
    dept = session.exec(select(Department).where(Department.code == code.strip().upper())).first()
    if dept is None:
        raise NotFound(f"部门 {code} 不存在")
    return dept


def create_user(session: Session, username: str, password: str, role: str,
                department_code: str | None = None, full_name: str = "") -> User:
    """Create a user; raises ValidationError on an unknown role, duplicate name or short password."""
    if role not in ROLES:
        raise ValidationError(f"未知角色 {role}；可选：{', '.join(ROLES)}")
    if len(password) < 8:
        raise ValidationError("密码至少 8 位")
    if session.exec(select(User).where(User.username == username)).first():
        raise ValidationError(f"用户名 {username} 已存在")
    if role in ("department_head", "staff") and not department_code:
        raise ValidationError(f"角色 {role} 必须指定部门（--department）")
    dept = department_by_code(session, department_code) if department_code else None
    user = User(username=username, full_name=full_name, role=role,
                department_id=dept.id if dept else None, password_hash="")
    user.set_password(password)
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None or not user.active or not user.check_password(password):
        return None
    return user


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user: User, ttl_hours: int) -> str:
    """Create a bearer token valid for ``ttl_hours``; only its hash is stored."""
    token = secrets.token_urlsafe(32)
    session.add(ApiToken(token_hash=_hash_token(token), user_id=user.id,
                         expires_at=utcnow() + timedelta(hours=ttl_hours)))
    return token


def user_for_token(session: Session, token: str) -> User | None:
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == _hash_token(token))).first()
    if row is None or row.expires_at < utcnow():
        return None
    user = session.get(User, row.user_id)
    return user if user and user.active else None


def users_in_role(session: Session, role: str, department_id: int | None = None) -> list[User]:
    q = select(User).where(User.role == role, User.active == True)  # noqa: E712
    if department_id is not None:
        q = q.where(User.department_id == department_id)
    return list(session.exec(q.order_by(User.id)))
