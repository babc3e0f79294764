"""Nonconformity pages: register with filters and export, raise form, detail with the current step."""
from __future__ import annotations

import io
from datetime import date

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlmodel import select

from cmsflow.auth.models import Department, User
from cmsflow.core.db import db_session
from cmsflow.core.errors import CmsflowError
from cmsflow.history import service as history
from cmsflow.nonconformities import service
from cmsflow.nonconformities.models import CAUSE_CATEGORIES, SEVERITIES, SOURCES, STATUSES
from cmsflow.nonconformities.presenters import export_xlsx
from cmsflow.registers.transfer import MIME
from cmsflow.web.pagination import paginate
from cmsflow.web.setup import commit
from cmsflow.workflow.assignment import may_act

blueprint = Blueprint("nonconformities", __name__, template_folder="templates", url_prefix="/nonconformities")
PLAN_ROWS = 5


def _choices(users: bool = True) -> dict:
    """Choice lists of the forms; the register's filters need no user list (500 users in a large group)."""
    s = db_session()
    people = s.exec(select(User).where(User.active == True).order_by(User.username)).all() if users else []  # noqa: E712
    return {"departments": s.exec(select(Department).order_by(Department.code)).all(), "users": people,
            "sources": SOURCES, "severities": SEVERITIES, "statuses": STATUSES, "categories": CAUSE_CATEGORIES}


@blueprint.get("/")
def index():
    s = db_session()
    page = paginate(service.statement(s, request.args, current_user), request.args, session=s)
    depts = {d.id: d for d in s.exec(select(Department))}
    return render_template("nonconformities/list.html", rows=page.items, page=page, args=request.args, depts=depts,
                           overdue=service.overdue_ids(s, [nc.id for nc in page.items]), **_choices(users=False))


@blueprint.get("/export.xlsx")
def export():
    s = db_session()
    return send_file(io.BytesIO(export_xlsx(s, service.query(s, request.args, current_user))), mimetype=MIME["xlsx"],
                     as_attachment=True, download_name="不符合项台账.xlsx")


@blueprint.route("/new", methods=["GET", "POST"])
def new():
    errors: dict = {}
    values = request.form if request.method == "POST" else {}
    if request.method == "POST":
        s = db_session()
        try:
            nc = service.raise_nonconformity(
                s, current_user, title=values.get("title", ""), description=values.get("description", ""),
                source=values.get("source", ""), department=values.get("department", ""),
                severity=values.get("severity", "minor"), evidence=values.get("evidence", ""),
                clauses=[c for c in values.get("clauses", "").replace("，", ",").replace(";", ",").split(",")
                         if c.strip()], verifier=values.get("verifier") or None)
            commit()
            flash(_("不符合项 %(code)s 已提出，已通知责任部门负责人确认", code=nc.code), "success")
            return redirect(url_for(".detail", nc_id=nc.id))
        except CmsflowError as exc:
            s.rollback()
            errors = (exc.details or {}).get("fields") or {"_": exc.message}
            flash(exc.message, "error")
    return render_template("nonconformities/new.html", values=values, errors=errors, **_choices()), \
        400 if errors else 200


def _detail(nc_id: int, values=None, errors=None, status: int = 200):
    s = db_session()
    nc = service.get(s, nc_id, current_user)
    task = service.open_task(s, nc)
    return render_template(
        "nonconformities/detail.html", nc=nc, task=task, can_act=bool(task and may_act(s, current_user, task)),
        clauses=service.clauses_of(s, nc), actions=service.actions_of(s, nc), plan_rows=PLAN_ROWS,
        users_by_id={u.id: u for u in s.exec(select(User))}, dept=s.get(Department, nc.department_id),
        entries=history.for_subject(s, service.SUBJECT, nc.id), values=values or {}, errors=errors or {},
        today=date.today(), **_choices()), status


@blueprint.get("/<int:nc_id>")
def detail(nc_id: int):
    return _detail(nc_id)


def _form_data(step: str, form) -> dict:
    """HTML form fields → the data the step's handler expects."""
    if step in ("accept", "decide_dispute"):
        return {"owner": form.get("owner") or None}
    if step == "correction":
        return {"correction": form.get("correction", ""), "consequences": form.get("consequences", "")}
    if step == "cause_analysis":
        return {"whys": [form.get(f"why{i}", "") for i in range(1, 6)],
                "cause_categories": form.getlist("cause_categories"), "root_cause": form.get("root_cause", ""),
                "similar_check": form.get("similar_check", ""), "similar_found": form.get("similar_found") == "1",
                "system_change_needed": form.get("system_change_needed"),
                "system_change_note": form.get("system_change_note", ""),
                "system_change_document": form.get("system_change_document", "")}
    if step == "action_plan":
        rows = [{"description": form.get(f"a{i}_description", ""), "owner": form.get(f"a{i}_owner", ""),
                 "due_date": form.get(f"a{i}_due_date", "")} for i in range(PLAN_ROWS)]
        return {"actions": [r for r in rows if r["description"].strip() or r["due_date"].strip()]}
    if step == "implementation":
        return {"actions": [{"id": key[9:], "evidence": val} for key, val in form.items()
                            if key.startswith("evidence_") and val.strip()]}
    return {}


@blueprint.post("/<int:nc_id>/steps/<step>")
def step(nc_id: int, step: str):
    s = db_session()
    nc = service.get(s, nc_id, current_user)
    try:
        service.complete_step(s, nc, current_user, step, decision=request.form.get("decision") or None,
                              comment=request.form.get("comment", ""), data=_form_data(step, request.form))
        commit()
        flash(_("已提交"), "success")
        return redirect(url_for(".detail", nc_id=nc_id))
    except CmsflowError as exc:
        s.rollback()
        flash(exc.message, "error")
        return _detail(nc_id, values=request.form, errors=(exc.details or {}).get("fields") or {},
                       status=exc.status)
