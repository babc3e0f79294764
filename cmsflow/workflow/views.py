"""Inbox and task forms."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from cmsflow.core.db import db_session
from cmsflow.core.errors import CmsflowError
from cmsflow.web.pagination import paginate
from cmsflow.web.setup import commit
from cmsflow.workflow import service as workflow
from cmsflow.workflow import taskforms
from cmsflow.workflow.assignment import may_act
from cmsflow.workflow.forms import ApprovalForm, SimpleTaskForm
from cmsflow.workflow.models import HumanTask

blueprint = Blueprint("workflow", __name__, template_folder="templates", url_prefix="/tasks")


@blueprint.get("/")
def inbox():
    page = paginate(workflow.inbox_statement(current_user), request.args, session=db_session())
    return render_template("workflow/inbox.html", tasks=page.items, page=page, subject_url=subject_url)


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
    return render_template("workflow/task.html", task=row, form=form, subject_url=subject_url(row))
