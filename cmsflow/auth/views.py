"""Sign-in and sign-out; every other page requires a signed-in user (deny by default)."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from cmsflow.auth.forms import LoginForm
from cmsflow.auth.service import authenticate
from cmsflow.core.db import db_session
from cmsflow.history import service as history
from cmsflow.web.setup import commit

blueprint = Blueprint("auth", __name__, template_folder="templates")
OPEN_ENDPOINTS = {"auth.login", "static", "web.static", "web.set_language"}  # the login page needs its CSS


@blueprint.before_app_request
def _require_login():
    from flask import request as req

    if req.endpoint in OPEN_ENDPOINTS or (req.endpoint or "").startswith("api.") or req.endpoint is None:
        return None
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=req.full_path if req.method == "GET" else None))
    return None


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("web.home")


@blueprint.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(db_session(), form.username.data.strip(), form.password.data)
        if user is None:
            flash(_("用户名或密码错误"), "error")
        else:
            session.clear()
            login_user(user, remember=form.remember.data)
            history.record(db_session(), user, "signed_in", "user", user.id)
            commit()
            return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form)


@blueprint.post("/logout")
@login_required
def logout():
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))
