"""Inbox and task forms."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlmodel import col, select

from cmsflow.auth.models import User
from cmsflow.core.db import db_session
from cmsflow.core.errors import CmsflowError
from cmsflow.web.pagination import paginate
from cmsflow.web.setup import commit
from cmsflow.workflow import failures, subjects, taskforms
from cmsflow.workflow import service as workflow
from cmsflow.workflow.assignment import may_act
from cmsflow.workflow.forms import ApprovalForm, SimpleTaskForm
from cmsflow.workflow.models import HumanTask

blueprint = Blueprint("workflow", __name__, template_folder="templates", url_prefix="/tasks")


@blueprint.get("/")
def inbox():
    page = paginate(workflow.inbox_statement(current_user), request.args, session=db_session())
    return render_template("workflow/inbox.html", tasks=page.items, page=page, subject_url=subject_url,
                           names=subjects.names(db_session(), page.items))


def subject_url(task: HumanTask) -> str:
    if task.subject_type == "document":
        return url_for("documents.detail", doc_id=task.subject_id)
    if task.subject_type == "nonconformity":
        return url_for("nonconformities.detail", nc_id=task.subject_id)
    if task.subject_type == "audit":
        return url_for("audits.detail", audit_id=task.subject_id)
    if task.subject_type == "audit_programme":
        return url_for("audits.programme", prog_id=task.subject_id)
    if task.subject_type == "management_review":
        return url_for("reviews.detail", review_id=task.subject_id)
    if task.subject_type == "compliance_evaluation":
        return url_for("compliance.detail", ev_id=task.subject_id)
    if task.subject_type == "compliance_cycle":
        return url_for("assets.cycle", cycle_id=task.subject_id)
    if task.subject_type == "maturity_evaluation":
        return url_for("carbon.maturity_detail", ev_id=task.subject_id)
    return url_for("workflow.inbox")


@blueprint.route("/<int:task_id>", methods=["GET", "POST"])
def task(task_id: int):
    s = db_session()
    row = s.get(HumanTask, task_id)
    if row is None:
        abort(404)
    if row.status != "open":
        flash(_("该任务已处理"), "error")
        return redirect(subject_url(row))
    if not may_act(s, current_user, row):
        abort(403)
    if row.form not in taskforms.BUILT_IN:
        return redirect(subject_url(row))  # domain forms live on the subject's page
    form = ApprovalForm() if row.form == "approval" else SimpleTaskForm()
    if form.validate_on_submit():
        decision = form.decision.data if row.form == "approval" else None
        password = form.password.data if row.form == "approval" else None
        try:
            workflow.complete_task(s, task_id, current_user, decision=decision,
                                   comment=form.comment.data or "", password=password)
            commit()
            flash(_("任务已完成"), "success")
            return redirect(url_for(".inbox"))
        except CmsflowError as exc:
            s.rollback()
            flash(exc.message, "error")
            if row.form == "approval":
                form.password.errors = [*form.password.errors, exc.message] if exc.code == "bad_signature" \
                    else form.password.errors
    return render_template("workflow/task.html", task=row, form=form, subject_url=subject_url(row),
                           names=subjects.names(s, [row]))


def _admin_only() -> None:
    if current_user.role != "admin":
        abort(403)


@blueprint.get("/failures", endpoint="failures")
def failures_page():
    """Administrator: process steps that failed (nothing of them was saved), with the error and a retry."""
    _admin_only()
    s = db_session()
    rows = failures.failed_instances(s)
    ids = {note.get("user_id") for _inst, note in rows if note.get("user_id")}
    people = {u.id: u.display_name for u in s.exec(select(User).where(col(User.id).in_(ids)))} if ids else {}
    return render_template("workflow/failures.html", rows=rows, people=people, subject_url=subject_url)


@blueprint.post("/failures/<int:instance_id>/retry")
def retry_failure(instance_id: int):
    """Administrator: re-run the failed step of an instance once its cause is removed."""
    _admin_only()
    s = db_session()
    try:
        flash(workflow.retry_failed_step(s, instance_id, current_user), "success")
        commit()
    except CmsflowError as exc:
        s.rollback()
        flash(exc.message, "error")
    return redirect(url_for(".failures"))
