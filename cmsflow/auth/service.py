"""Users, departments and tokens: creation, lookup, authentication with lockout, password policy, account
changes and token revocation, each change in the history (no Flask imports).

Sources: OWASP ASVS 4.0.3 V2.1 (passwords), V2.2.1 (anti-automation), V3.5 (tokens), V7.1/7.2 (logging of
authentication events and admin actions); 21 CFR Part 11 §11.10(d)/(e)/(g), §11.300(d).
"""
from __future__ import annotations

import hashlib
import logging
import re
import secrets
import string
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select
from werkzeug.security import check_password_hash, generate_password_hash

from cmsflow.auth.models import ROLES, ApiToken, Department, LoginThrottle, SignInSession, User
from cmsflow.core.db import is_postgres, utcnow
from cmsflow.core.errors import CmsflowError, Conflict, NotFound, PermissionDenied, ValidationError
from cmsflow.history import service as history

PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 128
# Passwords seen at the top of leaked-password lists (and local favourites); compared lower-cased.
COMMON_PASSWORDS = frozenset({
    "1234567890", "12345678910", "123456789a", "1q2w3e4r5t", "1qaz2wsx3edc", "a123456789", "aa123456789",
    "abc1234567", "abcd123456", "admin12345", "admin@1234", "administrator", "iloveyou123", "p@ssw0rd123",
    "passw0rd123", "password", "password1", "password1!", "password12", "password123", "password@123",
    "qwerty123456", "qwertyuiop", "qwertyuiop123", "welcome123", "woaini1314", "woaini520", "zxcvbnm123",
    "changeme123", "letmein123", "admin123456", "root123456", "test123456", "abc123456789", "cmsflow123",
    "cmsflow1234", "carbon12345", "huawei12345", "1234qwer!@#$", "qwer1234!@#$", "asdf123456",
})
log = logging.getLogger(__name__)
_DUMMY_HASH = generate_password_hash("not-a-real-password-0")  # same work for unknown names (timing)


DEPARTMENT_CODE = re.compile(r"[A-Z0-9_-]{2,32}")
DEPARTMENT_NAME_MAX = 120


def _department_name(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError("部门名称不能为空", code="invalid_department")
    if len(name) > DEPARTMENT_NAME_MAX:
        raise ValidationError(f"部门名称不能超过 {DEPARTMENT_NAME_MAX} 个字符", code="invalid_department")
    return name


def create_department(session: Session, code: str, name: str, *, actor: User | None = None,
                      via: str = "cli") -> Department:
    """Create a department: ``code`` upper-cased, 2–32 characters of A–Z, 0–9, ``_`` and ``-``, unique; ``name``
    not blank, at most 120 characters. Raises ValidationError ``invalid_department`` (the message names the rule)
    or ``department_exists``. Recorded as ``department_created`` (by ``actor``; None: command line or demo seed).
    OWASP ASVS 4.0.3 V7.1 (admin actions logged); 21 CFR Part 11 §11.10(e)."""
    code = (code or "").strip().upper()
    if not DEPARTMENT_CODE.fullmatch(code):
        raise ValidationError("部门编码须为 2–32 位大写字母、数字、下划线或连字符", code="invalid_department")
    name = _department_name(name)
    if session.exec(select(Department).where(Department.code == code)).first():
        raise ValidationError(f"部门编码 {code} 已存在", code="department_exists")
    dept = Department(code=code, name=name)
    session.add(dept)
    session.flush()
    history.record(session, actor, "department_created", "department", dept.id, code=code, name=name, via=via)
    return dept


def rename_department(session: Session, actor: User | None, dept: Department, name: str,
                      via: str = "web") -> bool:
    """Give ``dept`` a new name (its code stays: records and imports refer to it). False when the name is the
    same; raises ValidationError ``invalid_department`` for a blank or too long name. Recorded as
    ``department_renamed`` with the names before and after (OWASP ASVS 4.0.3 V7.1; 21 CFR Part 11 §11.10(e))."""
    name = _department_name(name)
    if name == dept.name:
        return False
    before, dept.name = dept.name, name
    session.add(dept)
    session.flush()
    history.record(session, actor, "department_renamed", "department", dept.id, code=dept.code,
                   changes={"name": [before, name]}, via=via)
    return True


def departments_with_counts(session: Session) -> list[tuple[Department, int, int]]:
    """Every department by code with its number of users and of active users: ``[(dept, users, active)]``."""
    from sqlalchemy import case, func

    rows = session.exec(
        select(Department, func.count(User.id), func.coalesce(func.sum(case((User.active == True, 1), else_=0)), 0))  # noqa: E712
        .join(User, User.department_id == Department.id, isouter=True)
        .group_by(Department.id).order_by(Department.code)).all()
    return [(d, int(n), int(a)) for d, n, a in rows]


def department_by_code(session: Session, code: str) -> Department:
    dept = session.exec(select(Department).where(Department.code == code.strip().upper())).first()
    if dept is None:
        raise NotFound(f"部门 {code} 不存在")
    return dept


def create_user(session: Session, username: str, password: str, role: str,
                department_code: str | None = None, full_name: str = "", *, actor: User | None = None,
                via: str = "cli", temporary: bool = False) -> User:
    """Create a user; raises ValidationError on an unknown role, duplicate name or a password refused by
    :func:`check_password_policy` (code ``weak_password``). Recorded as ``user_created`` (by ``actor``, None for
    the command line or the demo seed). ``temporary``: the password was chosen by an administrator and must be
    changed at the first sign-in (``User.must_change_password``; OWASP ASVS 4.0.3 V2.1)."""
    username = (username or "").strip()
    if not username or len(username) > 64:
        raise ValidationError("用户名不能为空，且不超过 64 个字符", code="invalid_username")
    if len(full_name or "") > 120:
        raise ValidationError("姓名不能超过 120 个字符", code="invalid_name")
    if role not in ROLES:
        raise ValidationError(f"未知角色 {role}；可选：{', '.join(ROLES)}")
    check_password_policy(password, username)
    if session.exec(select(User).where(User.username == username)).first():
        raise ValidationError(f"用户名 {username} 已存在")
    if role in ("department_head", "staff") and not department_code:
        raise ValidationError(f"角色 {role} 必须指定部门（--department）")
    dept = department_by_code(session, department_code) if department_code else None
    user = User(username=username, full_name=full_name, role=role,
                department_id=dept.id if dept else None, password_hash="", must_change_password=temporary)
    user.set_password(password)
    session.add(user)
    session.flush()
    history.record(session, actor, "user_created", "user", user.id, username=username, role=role,
                   department=dept.code if dept else None, via=via, **({"temporary": True} if temporary else {}))
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with this name and password, else None (no lockout: use :func:`sign_in` for logins)."""
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        check_password_hash(_DUMMY_HASH, password or "x")
        return None
    if not user.active or not user.check_password(password):
        return None
    return user


class LoginRefused(CmsflowError):
    """A sign-in refused: ``invalid_credentials`` (the same for an unknown name, a wrong password and an
    inactive account) or ``account_locked`` (``locked_until`` set)."""

    status = 401
    code = "invalid_credentials"
    locked_until: datetime | None = None


def _throttle(session: Session, key: str) -> LoginThrottle | None:
    if is_postgres(session):  # attempts on one name one at a time, so the count is exact
        session.execute(text("SELECT pg_advisory_xact_lock(731003, hashtext(:k))"), {"k": key})
    return session.get(LoginThrottle, key, populate_existing=True)


def _is_locked(row: LoginThrottle | None, now: datetime) -> bool:
    return row is not None and row.locked_until is not None and row.locked_until > now


def _add_failure(session: Session, row: LoginThrottle | None, key: str, now: datetime) -> LoginThrottle:
    """Count one more failed attempt on ``key`` (the count starts again after a lock that has run out)."""
    if row is None or row.locked_until is not None:
        row = row or LoginThrottle(username=key)
        row.failures, row.locked_until = 0, None
        session.add(row)
    row.failures += 1
    row.last_failure_at = now
    return row


def _lock_if_due(session: Session, row: LoginThrottle, now: datetime, max_failures: int, lockout_minutes: int,
                 subject: int, what: str, **details) -> bool:
    """Lock the name once ``max_failures`` attempts failed in a row: recorded as ``account_locked`` and
    reported to the administrators (``what`` names the failures for them). True if it locked."""
    if row.failures < max_failures:
        return False
    row.locked_until = now + timedelta(minutes=lockout_minutes)
    history.record(session, None, "account_locked", "user", subject, username=row.username, failures=row.failures,
                   until=row.locked_until, **details)
    notify_admins(session, f"账户 {row.username} 连续 {row.failures} 次{what}，已锁定至 "
                           f"{row.locked_until:%Y-%m-%d %H:%M} (UTC)。如非本人操作，请核查。")
    return True


def _locked(key: str, until: datetime) -> LoginRefused:
    exc = LoginRefused(f"登录失败次数过多，账户 {key} 已锁定至 {until:%H:%M} (UTC)，请稍后再试或联系管理员解锁",
                       code="account_locked")
    exc.locked_until = until
    return exc


def sign_in(session: Session, username: str, password: str, *, via: str = "web", max_failures: int = 5,
            lockout_minutes: int = 15) -> User:
    """Sign in with lockout: ``max_failures`` wrong passwords in a row lock the name for ``lockout_minutes``
    (also a name no user has, so a lockout does not reveal which names exist); a success resets the count.

    Raises LoginRefused (``invalid_credentials`` or ``account_locked``). Every outcome is written to the history
    (``signed_in``, ``login_failed``, ``account_locked``) and flushed: the caller commits even when it raises.
    """
    key = (username or "").strip().lower()[:64]
    user = authenticate(session, (username or "").strip(), password)
    if user is None:  # the name may still exist (wrong password, inactive): it is the history's subject
        known = session.exec(select(User.id).where(User.username == (username or "").strip())).first()
    subject = user.id if user else known or 0
    row, now = _throttle(session, key), utcnow()
    if _is_locked(row, now):
        history.record(session, None, "login_failed", "user", subject, username=key, via=via, reason="locked")
        raise _locked(key, row.locked_until)
    if user is not None:
        if row is not None:
            session.delete(row)
        history.record(session, user, "signed_in", "user", user.id, via=via)
        return user
    row = _add_failure(session, row, key, now)
    history.record(session, None, "login_failed", "user", subject, username=key, via=via, attempt=row.failures)
    if _lock_if_due(session, row, now, max_failures, lockout_minutes, subject, f"登录失败（{via}）"):
        session.flush()
        raise _locked(key, row.locked_until)
    session.flush()
    raise LoginRefused("用户名或密码错误")


def verify_signature(session: Session, user: User, password: str, *, max_failures: int = 5,
                     lockout_minutes: int = 15) -> None:
    """Re-authentication for an electronic signature (21 CFR Part 11 §11.200(a)(1); §11.300(d): attempts at
    unauthorised use are detected and reported): the signer's own password.

    A wrong password counts with the failed sign-ins of the same account, and ``max_failures`` in a row lock the
    account for signing and signing in for ``lockout_minutes``; the administrators are notified. The count and
    the history entries (``signature_failed``, ``account_locked``, ``signature_refused``) are written in a
    transaction of their own, so they stay when the step being signed is rolled back.

    Raises PermissionDenied ``bad_signature`` (wrong password) or ``account_locked``.
    """
    key = user.username.lower()[:64]
    # read in the caller's transaction: a good signature opens nothing more
    locked = _is_locked(session.get(LoginThrottle, key), utcnow())
    if not locked and user.check_password(password or ""):
        return
    try:
        outcome = _count_signature_attempt(session.get_bind(), user, key, max_failures, lockout_minutes)
    except SQLAlchemyError:  # not counted (writer busy, no free connection): the signature is still refused
        log.warning("signature attempt of %s not counted: the database was busy", key, exc_info=True)
        outcome = "account_locked" if locked else "bad_signature"
    if outcome == "account_locked":
        raise PermissionDenied("登录或签名失败次数过多，账户已锁定，请稍后再试或联系系统管理员解锁",
                               code="account_locked")
    raise PermissionDenied("电子签名失败：密码不正确", code="bad_signature")


def _count_signature_attempt(bind, user: User, key: str, max_failures: int, lockout_minutes: int) -> str:
    """Record a refused signature in its own short transaction (a second connection, opened only for a refusal);
    returns "bad_signature" or "account_locked". Waits at most a few seconds for a lock (SQLAlchemyError
    otherwise)."""
    with Session(bind, expire_on_commit=False) as side:
        if is_postgres(side):
            side.execute(text("SET LOCAL lock_timeout = '5s'"))
        row, now = _throttle(side, key), utcnow()
        if _is_locked(row, now):
            history.record(side, user, "signature_refused", "user", user.id, reason="locked")
            side.commit()
            return "account_locked"
        row = _add_failure(side, row, key, now)
        history.record(side, user, "signature_failed", "user", user.id, attempt=row.failures)
        _lock_if_due(side, row, now, max_failures, lockout_minutes, user.id, "电子签名密码错误", via="signature")
        side.commit()
        return "bad_signature"


def notify_admins(session: Session, message: str, kind: str = "security", subject_type: str | None = None,
                  subject_id: int | None = None) -> None:
    """A notification to every active administrator (account locks, failed process steps); message cut to 500."""
    from cmsflow.workflow.models import Notification  # the workflow package imports this module's models

    for admin in session.exec(select(User).where(User.role == "admin", User.active == True)):  # noqa: E712
        session.add(Notification(user_id=admin.id, kind=kind, message=message[:500], subject_type=subject_type,
                                 subject_id=subject_id))


def locked_names(session: Session) -> dict[str, datetime]:
    """Account names locked right now → until when (for the user administration page)."""
    rows = session.exec(select(LoginThrottle).where(LoginThrottle.locked_until > utcnow()))
    return {r.username: r.locked_until for r in rows}


def unlock(session: Session, actor: User | None, user: User, via: str = "web") -> bool:
    """Clear the failure count and lock of ``user``; recorded as ``account_unlocked``. False if not locked."""
    row = session.get(LoginThrottle, user.username.lower())
    if row is None:
        return False
    was_locked = row.locked_until is not None and row.locked_until > utcnow()
    session.delete(row)
    history.record(session, actor, "account_unlocked", "user", user.id, username=user.username, via=via,
                   was_locked=was_locked, failures=row.failures)
    return True


def check_password_policy(password: str, username: str = "") -> None:
    """Refuse a weak password with ValidationError ``weak_password`` naming the rule: at least 10 characters
    (at most 128), not only digits or only letters, not the user name, not a common password.

    OWASP ASVS 2.1.1/2.1.2 (length; ASVS itself asks for 12), 2.1.7 (breached/common passwords).
    """
    pw = password or ""
    rule = None
    if len(pw) < PASSWORD_MIN_LENGTH:
        rule = f"密码至少 {PASSWORD_MIN_LENGTH} 位"
    elif len(pw) > PASSWORD_MAX_LENGTH:
        rule = f"密码不能超过 {PASSWORD_MAX_LENGTH} 位"
    elif pw.isdigit() or pw.isalpha():
        rule = "密码不能全是数字或全是字母，请混合字母、数字或符号"
    elif username and (pw.lower() == username.lower() or (len(username) >= 4 and username.lower() in pw.lower())):
        rule = "密码不能与用户名相同或包含用户名"
    elif pw.lower() in COMMON_PASSWORDS:
        rule = "密码过于常见，容易被猜中"
    if rule:
        raise ValidationError(rule, code="weak_password")


def change_password(session: Session, user: User, current: str, new: str) -> None:
    """The user's own change: the current password must be right (PermissionDenied ``bad_password``) and the
    new one pass :func:`check_password_policy` and differ from it; a temporary password is then no longer
    temporary (``must_change_password`` cleared). Recorded as ``password_changed``; the user's
    API tokens are revoked and their other sessions end (the session id carries a fingerprint of the hash)."""
    if not user.check_password(current or ""):
        raise PermissionDenied("当前密码不正确", code="bad_password")
    if user.check_password(new or ""):
        raise ValidationError("新密码不能与当前密码相同", code="weak_password")
    check_password_policy(new, user.username)
    user.set_password(new)
    user.must_change_password = False
    history.record(session, user, "password_changed", "user", user.id)
    revoke_all_tokens(session, user, user)
    end_all_sessions(session, user, user, "password_changed", keep=getattr(user, "session_key", None))


def reset_password(session: Session, actor: User | None, user: User, new: str, via: str = "cli",
                   temporary: bool = False) -> None:
    """Set another user's password (administrator or command line); policy as :func:`check_password_policy`
    (ValidationError ``weak_password``). ``temporary`` (the administrator's reset page, ``set-password
    --temporary``): the user must change it at the next sign-in (``must_change_password``). Recorded as
    ``password_reset``; the user's tokens are revoked, their sessions end and the account is unlocked too
    (OWASP ASVS 4.0.3 V2.1, V3.3.3; 21 CFR Part 11 §11.300(b))."""
    check_password_policy(new, user.username)
    user.set_password(new)
    user.must_change_password = temporary
    history.record(session, actor, "password_reset", "user", user.id, username=user.username, via=via,
                   **({"temporary": True} if temporary else {}))
    revoke_all_tokens(session, actor, user)
    end_all_sessions(session, actor, user, "password_reset")
    unlock(session, actor, user, via=via)


def temporary_password(length: int = 16) -> str:
    """A random password that passes :func:`check_password_policy` (letters, digits and a symbol; ~90 bits from
    :mod:`secrets`), for an administrator to hand over once; never stored in clear or logged."""
    alphabet = string.ascii_letters + string.digits
    while True:
        body = "".join(secrets.choice(alphabet) for _ in range(length - 1))
        pw = body[: length // 2] + secrets.choice("-_.!@#%") + body[length // 2:]
        if any(c.isdigit() for c in pw) and any(c.isalpha() for c in pw) and pw.lower() not in COMMON_PASSWORDS:
            return pw


def update_user(session: Session, actor: User | None, user: User, *, role: str | None = None,
                department_code: str | None = None, active: bool | None = None, via: str = "web") -> dict:
    """Change a user's role, department (``""`` for none) and/or active flag; returns ``{field: [before, after]}``
    and records it as ``user_changed`` (nothing recorded when nothing changed).

    Raises ValidationError (unknown role or department, heads/staff without a department) and Conflict when
    an administrator would demote or deactivate themselves (``self_lockout``).
    """
    if role is not None and role not in ROLES:
        raise ValidationError(f"未知角色 {role}；可选：{', '.join(ROLES)}", code="invalid_role")
    dept = None
    if department_code:
        dept = department_by_code(session, department_code)
    new = {"role": role if role is not None else user.role,
           "department_id": (dept.id if dept else None) if department_code is not None else user.department_id,
           "active": active if active is not None else user.active}
    if new["role"] in ("department_head", "staff") and new["department_id"] is None:
        raise ValidationError(f"角色 {new['role']} 必须指定部门", code="department_required")
    if actor is not None and actor.id == user.id and (new["role"] != user.role or not new["active"]):
        raise Conflict("不能取消自己的角色或停用自己的账号", code="self_lockout")
    changes = {k: [getattr(user, k), v] for k, v in new.items() if getattr(user, k) != v}
    if not changes:
        return {}
    depts = {d.id: d.code for d in session.exec(select(Department))}
    shown = {k: [depts.get(v[0]), depts.get(v[1])] if k == "department_id" else v for k, v in changes.items()}
    for key, (_, after) in changes.items():
        setattr(user, key, after)
    history.record(session, actor, "user_changed", "user", user.id, username=user.username, via=via,
                   changes={("department" if k == "department_id" else k): v for k, v in shown.items()})
    if "active" in changes and not user.active:  # for good: reactivating the account revives none of them
        revoke_all_tokens(session, actor, user)
        end_all_sessions(session, actor, user, "deactivated")
    return changes


# --- sign-in sessions of the pages (OWASP ASVS 3.3.1: logout and deactivation end them for good) ----------------

def open_session(session: Session, user: User, remember: bool = False) -> str:
    """Start a sign-in session for ``user`` (after the password was checked): a random key whose SHA-256 is
    stored; sets ``user.session_key`` so ``user.get_id()`` carries it into the session and remember-me
    cookies. Returns the key."""
    key = secrets.token_urlsafe(24)
    session.add(SignInSession(key_hash=_hash_token(key), user_id=user.id, remember=remember))
    session.flush()
    object.__setattr__(user, "session_key", key)  # not a column: this request's sign-in session
    return key


def session_user(session: Session, session_id: str | None) -> User | None:
    """The active user of a Flask-Login id ``<user id>.<password fingerprint>.<session key>`` (see
    ``User.get_id``), or None — signed out — for a malformed id, an ended or unknown session, a password changed
    since, or an inactive account. Never raises."""
    user_id, _sep, rest = (session_id or "").partition(".")
    fingerprint, _sep, key = rest.partition(".")
    if not user_id.isdigit() or not key:
        return None
    user = session.get(User, int(user_id))
    if user is None or not user.active or fingerprint != user.session_fingerprint:
        return None
    row = session.exec(select(SignInSession).where(SignInSession.key_hash == _hash_token(key))).first()
    if row is None or row.user_id != user.id or row.ended_at is not None:
        return None
    object.__setattr__(user, "session_key", key)  # not a column: this request's sign-in session
    return user


def end_session(session: Session, user: User, reason: str = "logout") -> bool:
    """End the sign-in session ``user.session_key`` names (logout): its session and remember-me cookies are
    refused from now on, copies included. True if a live session was ended."""
    key = getattr(user, "session_key", "")
    row = session.exec(select(SignInSession).where(SignInSession.key_hash == _hash_token(key))).first() \
        if key else None
    if row is None or row.ended_at is not None:
        return False
    row.ended_at, row.end_reason = utcnow(), reason
    history.record(session, user, "signed_out", "user", user.id, session_id=row.id)
    return True


def end_all_sessions(session: Session, actor: User | None, user: User, reason: str, keep: str | None = None) -> int:
    """End every live sign-in session of ``user`` (deactivation, password change or reset) but the one with
    key ``keep``; returns how many, recorded as ``sessions_ended``."""
    keep_hash = _hash_token(keep) if keep else None
    live = session.exec(select(SignInSession).where(SignInSession.user_id == user.id,
                                                    SignInSession.ended_at.is_(None))).all()
    ended = [row for row in live if row.key_hash != keep_hash]
    now = utcnow()
    for row in ended:
        row.ended_at, row.end_reason = now, reason
    if ended:
        history.record(session, actor, "sessions_ended", "user", user.id, count=len(ended), reason=reason)
    return len(ended)


def user_by_name(session: Session, username: str) -> User:
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFound(f"用户 {username} 不存在")
    return user


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user: User, ttl_hours: int) -> str:
    """Create a bearer token valid for ``ttl_hours``; only its SHA-256 is stored. Recorded as ``token_issued``."""
    token = secrets.token_urlsafe(32)
    row = ApiToken(token_hash=_hash_token(token), user_id=user.id, expires_at=utcnow() + timedelta(hours=ttl_hours))
    session.add(row)
    session.flush()
    history.record(session, user, "token_issued", "user", user.id, token_id=row.id, expires_at=row.expires_at)
    return token


class TokenRefused(CmsflowError):
    """A bearer token that is unknown (``token_invalid``), past its expiry (``token_expired``) or revoked
    (``token_revoked``); HTTP 401."""

    status = 401
    code = "token_invalid"


def token_user(session: Session, token: str) -> tuple[User, ApiToken]:
    """The active user of a bearer token and its row; raises TokenRefused with the reason."""
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == _hash_token(token))).first()
    if row is None:
        raise TokenRefused("令牌无效")
    if row.revoked_at is not None:
        raise TokenRefused("令牌已撤销，请重新获取", code="token_revoked")
    if row.expires_at < utcnow():
        raise TokenRefused("令牌已过期，请重新获取", code="token_expired")
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        raise TokenRefused("令牌所属账号已停用", code="token_invalid")
    return user, row


def user_for_token(session: Session, token: str) -> User | None:
    """The token's user, or None if the token is unknown, expired or revoked."""
    try:
        return token_user(session, token)[0]
    except TokenRefused:
        return None


def tokens_of(session: Session, user: User) -> list[ApiToken]:
    """The user's tokens, newest first (hashes only; the token values are never stored)."""
    return list(session.exec(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())))


def revoke_token(session: Session, actor: User, token_id: int) -> ApiToken:
    """Revoke one of the actor's own tokens (an administrator: anyone's); NotFound otherwise. Recorded as
    ``token_revoked``; revoking a revoked token changes nothing."""
    row = session.get(ApiToken, token_id)
    if row is None or (row.user_id != actor.id and actor.role != "admin"):
        raise NotFound("令牌不存在")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        history.record(session, actor, "token_revoked", "user", row.user_id, token_id=row.id)
    return row


def revoke_all_tokens(session: Session, actor: User | None, user: User) -> int:
    """Revoke every live API token of ``user`` (after a password change or reset: a stolen token must not
    outlive the password it was issued for). Returns how many; recorded as ``tokens_revoked``."""
    now = utcnow()
    live = session.exec(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None),
                                               ApiToken.expires_at > now)).all()
    for row in live:
        row.revoked_at = now
    if live:
        history.record(session, actor, "tokens_revoked", "user", user.id, count=len(live))
    return len(live)


def users_in_role(session: Session, role: str, department_id: int | None = None) -> list[User]:
    q = select(User).where(User.role == role, User.active == True)  # noqa: E712
    if department_id is not None:
        q = q.where(User.department_id == department_id)
    return list(session.exec(q.order_by(User.id)))
