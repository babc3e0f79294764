"""Login manager, CSRF, Babel, rate limiter, error pages, security headers and the commit helper."""
from __future__ import annotations

import logging
from datetime import UTC
from zoneinfo import ZoneInfo

from flask import Flask, current_app, g, jsonify, render_template, request, session
from flask_babel import Babel, get_locale
from flask_babel import gettext as _
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import func, select
from werkzeug.routing import IntegerConverter

from cmsflow.core.db import conflict_from, db_session
from cmsflow.core.errors import CmsflowError
from cmsflow.web.links import can

log = logging.getLogger(__name__)
csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "请先登录"
# Per client address; limits are declared on the sign-in endpoints (see ``login_rate_limit``).
limiter = Limiter(get_remote_address)
# No inline scripts anywhere (templates use none); inline style attributes are allowed, nothing else.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                           "img-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; "
                           "frame-ancestors 'none'")


class RecordIdConverter(IntegerConverter):
    """``<int:…>`` in every route (all are record ids or version numbers, counted from 1): a number over
    2**31 − 1 (an INTEGER primary key) becomes 0, which no record has, so it is 404 like any unknown id
    instead of a database overflow error (500). (A ``max`` on the converter would make werkzeug answer 405
    where another method shares the path.)"""

    MAX = 2**31 - 1

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        return number if number <= self.MAX else 0


def login_rate_limit() -> str:
    """The limit on POST /login and POST /api/v1/auth/token (config ``LOGIN_RATE_LIMIT``, e.g. "30 per minute")."""
    return current_app.config["LOGIN_RATE_LIMIT"]


def login_rate_limit_off() -> bool:
    return not current_app.config.get("LOGIN_RATE_LIMIT_ENABLED", True)


def _select_locale():
    if request.args.get("lang") in ("zh_CN", "en"):
        session["lang"] = request.args["lang"]
    return session.get("lang", "zh_CN")


@login_manager.user_loader
def _load_user(session_id: str):
    """The active user of a session id ``<id>.<fingerprint>.<session key>`` (see ``User.get_id`` and
    :func:`cmsflow.auth.service.session_user`); None — signed out — when the session ended (logout,
    deactivation), the password changed since it began, or for a malformed id."""
    from cmsflow.auth.service import session_user

    return session_user(db_session(), session_id)


def wants_json() -> bool:
    return request.path.startswith("/api/")


def setup_web(app: Flask) -> None:
    app.url_map.converters["int"] = RecordIdConverter  # before the blueprints add their rules
    csrf.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)
    Babel(app, locale_selector=_select_locale)

    @app.context_processor
    def _globals():
        return {"current_locale": "zh_CN" if str(get_locale()).startswith("zh") else "en",
                "inbox_count": _inbox_count, "unread_notifications": _unread_count}

    # globals, not context: macros imported without context (``{% from ... import ... %}``) call them too
    app.jinja_env.globals.update(can=can, may=can)

    tz = ZoneInfo(app.config["TIMEZONE"])

    @app.template_filter("dt")
    def _dt(value, fmt: str = "%Y-%m-%d %H:%M"):
        """Stored UTC → the organisation's local time for display."""
        if value is None:
            return ""
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(tz).strftime(fmt)

    app.after_request(_security_headers)
    app.before_request(_refuse_unstorable_fields)

    app.register_error_handler(CmsflowError, _domain_error)

    @app.errorhandler(CSRFError)
    def _csrf_error(exc):
        return render_template("error.html", message=_("表单已过期，请重新提交"), status=400), 400

    for status in (403, 404, 405, 413, 429, 500):
        app.register_error_handler(status, _http_error)
    app.register_error_handler(OSError, _storage_or_internal_error)
    app.register_error_handler(SQLAlchemyError, _storage_or_internal_error)


def _refuse_unstorable_fields() -> None:
    """Every request: a NUL or unpaired surrogate in the query string or a form field is a 400 with a message
    (on PostgreSQL it would otherwise fail inside a statement as a 500)."""
    from cmsflow.core.inputs import check_fields

    fields = [request.args, request.form] if request.method in ("POST", "PUT", "PATCH") else [request.args]
    check_fields(*fields)


def _security_headers(resp):
    """Headers on every response (OWASP ASVS 14.4.1–14.4.7, 8.2.1): CSP, no framing, no sniffing, referrer,
    no caching of pages with personal data; HSTS when cookies are Secure (the site is served over HTTPS)."""
    headers = resp.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if current_app.config.get("SESSION_COOKIE_SECURE"):
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if request.endpoint not in ("static", "web.static"):
        headers.setdefault("Cache-Control", "no-store")
    return resp


def _domain_error(exc: CmsflowError):
    db_session().rollback()
    if wants_json():
        body = {"code": exc.code, "message": exc.message}
        if exc.details is not None:
            body["details"] = exc.details
        return jsonify({"error": body}), exc.status
    # the page shows the message; flashing it as well printed it twice (issue 20 item 2)
    return render_template("error.html", message=exc.message, status=exc.status), exc.status


def _storage_or_internal_error(exc: Exception):
    """An OSError or database error nobody handled, in this order: a full disk or quota (ENOSPC, EDQUOT, SQLite
    "database or disk is full", PostgreSQL 53100) is StorageFull — 507 with its message; a race the database
    settled (unique key, optimistic lock: :func:`cmsflow.core.db.conflict_from`) is a 409 with its message —
    the session rolled back in both; anything else is re-raised, so it stays the usual logged 500 (and
    propagates in tests)."""
    from cmsflow.core.errors import StorageFull, is_storage_full

    if is_storage_full(exc):
        log.error("storage full: %s", exc)
        return _domain_error(StorageFull())
    conflict = conflict_from(exc) if isinstance(exc, SQLAlchemyError) else None
    if conflict is not None:
        log.info("refused a concurrent write: %s", exc.__class__.__name__)
        return _domain_error(conflict)
    raise exc


def _http_error(exc):
    status = getattr(exc, "code", 500) or 500
    if status == 500:
        log.exception("unhandled error", exc_info=exc)
        db_session().rollback()
    messages = {403: "无权访问", 404: "页面不存在", 405: "不支持的请求方法", 500: "服务器内部错误，已记录"}
    msg = messages.get(status, "请求错误")
    if status == 413:
        limit = (current_app.config.get("MAX_CONTENT_LENGTH") or 0) / (1024 * 1024)
        msg = _("上传的文件过大（上限 %(mb)s MB），未保存任何内容", mb=f"{limit:.0f}" if limit >= 1 else f"{limit:.2f}")
    elif status == 429:
        msg = _("尝试次数过多，请稍后再试")
    if wants_json():
        codes = {403: "forbidden", 404: "not_found", 405: "method_not_allowed", 413: "file_too_large",
                 429: "rate_limited", 500: "internal_error"}
        return jsonify({"error": {"code": codes.get(status, "error"), "message": msg}}), status
    return render_template("error.html", message=msg, status=status), status


def _inbox_count() -> int:
    if not current_user.is_authenticated:
        return 0
    if "inbox_count" not in g:
        from cmsflow.workflow.assignment import inbox_filter
        from cmsflow.workflow.models import HumanTask

        g.inbox_count = db_session().exec(select(func.count()).select_from(HumanTask)
                                          .where(inbox_filter(current_user))).one()
    return g.inbox_count


def _unread_count() -> int:
    if not current_user.is_authenticated:
        return 0
    from cmsflow.workflow.models import Notification

    return db_session().exec(select(func.count()).select_from(Notification).where(
        Notification.user_id == current_user.id, Notification.read_at.is_(None))).one()


def commit() -> None:
    """Commit the request's session, then apply pending search updates (best effort)."""
    from cmsflow.search.service import process_outbox

    session = db_session()
    session.commit()
    try:
        process_outbox(session)
    except Exception:  # the worker retries; a search hiccup must not fail a saved change
        log.exception("search outbox processing failed")
        session.rollback()

