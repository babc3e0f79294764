"""Sign-in (lockout and rate limit) and sign-out, the user's own account page (password, API tokens) and the
administrator's pages: users (create, role, department, deactivate/reactivate, unlock, password reset to a
temporary password) and departments (create, rename); every other page requires a signed-in user, and a user
with a temporary password reaches only /account until they change it.

Every administrator change goes through cmsflow.auth.service, which checks the password policy and records it in
the history — the same functions as the command line (OWASP ASVS 4.0.3 V2.1, V3.3, V7.1; 21 CFR Part 11
§11.10(d), §11.300)."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlmodel import select

from cmsflow.auth import permissions
from cmsflow.auth import service as accounts
from cmsflow.auth.forms import ChangePasswordForm, DepartmentForm, LoginForm, NewUserForm, ResetPasswordForm
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
    if current_user.must_change_password and req.endpoint not in WHILE_TEMPORARY:
        flash(_("请先修改临时密码"), "error")
        return redirect(url_for("auth.account"))
    return None


# What a user whose password is temporary (set by an administrator) may still open: their account page to change
# it, the sign-out, static files and the language switch (OWASP ASVS 4.0.3 V2.1; 21 CFR Part 11 §11.300(b)). The
# last three are public routes too (the hook returns before this check); they are listed so the rule reads whole.
WHILE_TEMPORARY = frozenset({"auth.account", "auth.logout", "static", "web.static", "web.set_language"})


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


def _role_choices() -> list[tuple[str, str]]:
    from cmsflow.web.views import ROLE_LABELS  # the one label map of the roles (translated)

    return [(r, str(ROLE_LABELS.get(r, r))) for r in ROLES]


def _departments() -> list[Department]:
    return list(db_session().exec(select(Department).order_by(Department.code)))


def _new_user_form() -> NewUserForm:
    form = NewUserForm()
    form.role.choices = _role_choices()
    form.department.choices = [("", "—")] + [(d.code, f"{d.code} {d.name}") for d in _departments()]
    return form


def _users_page(form: NewUserForm | None = None, status: int = 200):
    s = db_session()
    return render_template("auth/users.html", users=s.exec(select(User).order_by(User.username)).all(),
                           departments=_departments(), roles=ROLES, locked=accounts.locked_names(s),
                           form=form or _new_user_form()), status


@blueprint.get("/admin/users")
def users():
    """User administration (administrator): create users, role, department, deactivate/reactivate, unlock,
    reset a password; every change is recorded."""
    _admin_only()
    return _users_page()


def _shown_once(title: str, user: User, password: str):
    """The page that shows a generated temporary password, this once (pages are sent ``no-store``)."""
    return render_template("auth/temporary_password.html", title=title, user=user, password=password)


def _field_of(form: NewUserForm, exc: CmsflowError):
    """The field a refusal of :func:`accounts.create_user` is about (its message is shown under it)."""
    if exc.code == "weak_password":
        return form.password
    if "部门" in exc.message:
        return form.department
    if "角色" in exc.message:
        return form.role
    return form.full_name if exc.code == "invalid_name" else form.username


@blueprint.post("/admin/users/new")
def create_user():
    """Create a user: username, full name, role, department, and an initial password that passes the policy or
    a generated one shown once. The password is temporary: the user changes it at the first sign-in. Invalid
    input re-renders the page (400) with the message and the input, except the password."""
    _admin_only()
    form = _new_user_form()
    if not form.validate_on_submit():
        return _users_page(form, 400)
    generated = bool(form.generate.data)
    password = accounts.temporary_password() if generated else (form.password.data or "")
    s = db_session()
    try:
        user = accounts.create_user(s, form.username.data.strip(), password, form.role.data,
                                    form.department.data or None, (form.full_name.data or "").strip(),
                                    actor=current_user, via="web", temporary=True)
        commit()
    except CmsflowError as exc:
        s.rollback()
        _field_of(form, exc).errors.append(exc.message)
        return _users_page(form, 400)
    flash(_("用户 %(u)s 已创建；首次登录时须修改密码", u=user.username), "success")
    if generated:
        return _shown_once(_("新用户的临时密码"), user, password)
    return redirect(url_for(".users"))


@blueprint.post("/admin/users/<int:user_id>/active")
def set_user_active(user_id: int):
    """Deactivate (``active=0``: their sessions end and API tokens are revoked, for good) or reactivate a user;
    an administrator cannot deactivate themselves (the service refuses)."""
    _admin_only()
    s = db_session()
    user = s.get(User, user_id) or abort(404)
    active = request.form.get("active") == "1"
    try:
        changes = accounts.update_user(s, current_user, user, active=active, via="web")
        commit()
    except CmsflowError as exc:
        s.rollback()
        flash(exc.message, "error")
        return redirect(url_for(".users"))
    if not changes:
        flash(_("没有变更"), "success")
    elif active:
        flash(_("用户 %(u)s 已启用", u=user.username), "success")
    else:
        flash(_("用户 %(u)s 已停用；其会话已结束，API 令牌已吊销", u=user.username), "success")
    return redirect(url_for(".users"))


@blueprint.route("/admin/users/<int:user_id>/password", methods=["GET", "POST"])
def reset_password(user_id: int):
    """Reset another user's password to a temporary one (typed, policy checked, or generated and shown once):
    their sessions end, their tokens are revoked, the account is unlocked, and they must change it at the next
    sign-in. One's own password is changed on /account."""
    _admin_only()
    s = db_session()
    user = s.get(User, user_id) or abort(404)
    if user.id == current_user.id:
        flash(_("请在“我的账户”中修改自己的密码"), "error")
        return redirect(url_for(".account"))
    form = ResetPasswordForm()
    if form.validate_on_submit():
        generated = bool(form.generate.data)
        password = accounts.temporary_password() if generated else (form.password.data or "")
        try:
            accounts.reset_password(s, current_user, user, password, via="web", temporary=True)
            commit()
        except CmsflowError as exc:
            s.rollback()
            form.password.errors.append(exc.message)
            return render_template("auth/reset_password.html", form=form, user=user), 400
        flash(_("用户 %(u)s 的密码已重置；其下次登录时须修改密码", u=user.username), "success")
        if generated:
            return _shown_once(_("重置后的临时密码"), user, password)
        return redirect(url_for(".users"))
    return render_template("auth/reset_password.html", form=form, user=user), 400 if form.errors else 200


@blueprint.post("/admin/users/<int:user_id>")
def update_user(user_id: int):
    """Role and department (and, without ``keep_active=1``, the active flag: ticked ``active=1`` or not)."""
    _admin_only()
    s = db_session()
    user = s.get(User, user_id) or abort(404)
    f = request.form
    try:
        # the page's row form leaves the active flag alone (``keep_active``; deactivation has its own button), so a
        # save never revives an account another administrator deactivated meanwhile
        active = None if f.get("keep_active") == "1" else f.get("active") == "1"
        changes = accounts.update_user(s, current_user, user, role=f.get("role"),
                                       department_code=f.get("department", ""), active=active)
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


# --- departments ----------------------------------------------------------------------------------------------

def _departments_page(form: DepartmentForm | None = None, rename: dict | None = None, status: int = 200):
    """``rename``: ``{"id": department id, "name": the input, "error": message}`` of a refused rename."""
    return render_template("auth/departments.html", rows=accounts.departments_with_counts(db_session()),
                           form=form or DepartmentForm(), rename=rename or {}), status


@blueprint.get("/admin/departments")
def departments():
    """Departments with their numbers of users; create and rename (administrator). A department is never
    deleted here: users and records refer to it."""
    _admin_only()
    return _departments_page()


@blueprint.post("/admin/departments/new")
def create_department():
    """Create a department (code 2–32 of A–Z 0–9 _ -, unique; a refused one re-renders the form, 400)."""
    _admin_only()
    form = DepartmentForm()
    if not form.validate_on_submit():
        return _departments_page(form, status=400)
    s = db_session()
    try:
        dept = accounts.create_department(s, form.code.data, form.name.data, actor=current_user, via="web")
        commit()
    except CmsflowError as exc:
        s.rollback()
        (form.name if "名称" in exc.message else form.code).errors.append(exc.message)
        return _departments_page(form, status=400)
    flash(_("部门 %(c)s 已创建", c=dept.code), "success")
    return redirect(url_for(".departments"))


@blueprint.post("/admin/departments/<int:department_id>")
def rename_department(department_id: int):
    """Rename a department (its code stays); a blank or too long name re-renders the page with the input (400)."""
    _admin_only()
    s = db_session()
    dept = s.get(Department, department_id) or abort(404)
    name = request.form.get("name", "")
    try:
        changed = accounts.rename_department(s, current_user, dept, name, via="web")
        commit()
    except CmsflowError as exc:
        s.rollback()
        return _departments_page(rename={"id": dept.id, "name": name, "error": exc.message}, status=400)
    flash(_("部门 %(c)s 已更名为 %(n)s", c=dept.code, n=dept.name) if changed else _("没有变更"), "success")
    return redirect(url_for(".departments"))
