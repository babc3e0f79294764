"""Sign-in (lockout and rate limit) and sign-out, the user's own account page (password, API tokens) and the
administrator's user page (role, department, active, unlock); every other page requires a signed-in user."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlmodel import select

from cmsflow.auth import permissions
from cmsflow.auth import service as accounts
from cmsflow.auth.forms import ChangePasswordForm, LoginForm
from cmsflow.auth.models import ROLES, Department, User
from cmsflow.core.db import db_session, utcnow
from cmsflow.core.errors import CmsflowError
from cmsflow.core.urls import safe_next
from cmsflow.web.setup import commit, limiter, login_rate_limit, login_rate_limit_off

blueprint = Blueprint("auth", __name__, template_folder="templates")


@blueprint.before_app_request
def _require_login():
    """Pages: sign-in first, then the route rule of cmsflow.auth.permissions (deny by default; the API checks
    the same rules after its token)."""
    from flask import request as req

    if req.endpoint is None or req.endpoint.startswith("api.") or permissions.is_public(req.endpoint):
        return None
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=req.full_path if req.method == "GET" else None))
    permissions.check_route(current_user, req.endpoint)
    return None


def _safe_next(target: str | None) -> str:
    return safe_next(target, url_for("web.home"))


def login_refused_message(exc: accounts.LoginRefused) -> str:
    """The page's message: the same for an unknown name and a wrong password; a lockout says for how long."""
    if exc.code == "account_locked":
        minutes = max(1, int((exc.locked_until - utcnow()).total_seconds() // 60) + 1)
        return _("登录失败次数过多，该账户已被锁定，请 %(n)s 分钟后再试或联系系统管理员解锁", n=minutes)
    return _("用户名或密码错误")


@blueprint.route("/login", methods=["GET", "POST"])
@limiter.limit(login_rate_limit, methods=["POST"], exempt_when=login_rate_limit_off)
def login():
    form = LoginForm()
    if form.validate_on_submit():
        cfg = current_app.config
        try:
            user = accounts.sign_in(db_session(), form.username.data.strip(), form.password.data, via="web",
                                    max_failures=cfg["LOGIN_MAX_FAILURES"],
                                    lockout_minutes=cfg["LOGIN_LOCKOUT_MINUTES"])
        except accounts.LoginRefused as exc:
            commit()  # the failure count and the history entries are kept
            flash(login_refused_message(exc), "error")
            return render_template("auth/login.html", form=form), 200
        session.clear()
        accounts.open_session(db_session(), user, remember=bool(form.remember.data))
        commit()
        login_user(user, remember=form.remember.data)
        return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form)


@blueprint.post("/logout")
@login_required
def logout():
    """End this sign-in session for good (its session and remember-me cookies, and any copy of them) and clear
    the cookies."""
    accounts.end_session(db_session(), current_user._get_current_object())
    commit()
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


@blueprint.route("/account", methods=["GET", "POST"])
def account():
    """The signed-in user's account: change the password, list and revoke API tokens."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            accounts.change_password(db_session(), current_user, form.current.data, form.new.data)
            commit()
            login_user(current_user._get_current_object(), fresh=True)  # this session goes on; the others end
            flash(_("密码已修改；其他会话已退出，API 令牌已全部吊销"), "success")
            return redirect(url_for(".account"))
        except CmsflowError as exc:
            db_session().rollback()
            if exc.code == "weak_password":
                form.new.errors.append(exc.message)
            else:
                form.current.errors.append(_("当前密码不正确"))
    tokens = accounts.tokens_of(db_session(), current_user)
    return render_template("auth/account.html", form=form, tokens=tokens, now=utcnow())


@blueprint.post("/account/tokens/<int:token_id>/revoke")
def revoke_token(token_id: int):
    accounts.revoke_token(db_session(), current_user, token_id)
    commit()
    flash(_("令牌已撤销"), "success")
    return redirect(url_for(".account"))


def _admin_only() -> None:
    if current_user.role != "admin":
        abort(403)


@blueprint.get("/admin/users")
def users():
    """User administration (administrator): role, department, active flag, unlock; every change is recorded."""
    _admin_only()
    s = db_session()
    return render_template("auth/users.html", users=s.exec(select(User).order_by(User.username)).all(),
                           departments=s.exec(select(Department).order_by(Department.code)).all(),
                           roles=ROLES, locked=accounts.locked_names(s))


@blueprint.post("/admin/users/<int:user_id>")
def update_user(user_id: int):
    _admin_only()
    s = db_session()
    user = s.get(User, user_id) or abort(404)
    f = request.form
    try:
        changes = accounts.update_user(s, current_user, user, role=f.get("role"),
                                       department_code=f.get("department", ""), active=f.get("active") == "1")
        commit()
    except CmsflowError as exc:
        s.rollback()
        flash(exc.message, "error")
        return redirect(url_for(".users"))
    flash(_("用户 %(u)s 已更新", u=user.username) if changes else _("没有变更"), "success")
    return redirect(url_for(".users"))


@blueprint.post("/admin/users/<int:user_id>/unlock")
def unlock_user(user_id: int):
    _admin_only()
    user = db_session().get(User, user_id) or abort(404)
    done = accounts.unlock(db_session(), current_user, user, via="web")
    commit()
    flash(_("账户 %(u)s 已解锁", u=user.username) if done else _("账户 %(u)s 未被锁定", u=user.username), "success")
    return redirect(url_for(".users"))
