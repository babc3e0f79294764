"""Inbox and task forms."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func
from sqlmodel import col, select

from cmsflow.auth.models import User
from cmsflow.core.db import db_session
from cmsflow.core.errors import CmsflowError
from cmsflow.web.pagination import paginate
from cmsflow.web.setup import commit
from cmsflow.workflow import failures, progress, subjects, taskforms
from cmsflow.workflow import service as workflow
from cmsflow.workflow.assignment import may_act
from cmsflow.workflow.forms import ApprovalForm, SimpleTaskForm
from cmsflow.workflow.models import HumanTask, ProcessSpec

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
            for name, msg in ((exc.details or {}).get("fields") or {}).items() if exc.code == "invalid_task_input" \
                    else ():
                if name in form:  # the field keeps its input and shows why it was refused
                    form[name].errors = [*form[name].errors, msg]
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


# --- where a process stands: the diagram of each instance, and the workflow definitions (issue 21) -----------

def _diagram_words() -> dict[str, str]:
    return {"current": _("当前步骤"), "waiting": _("等待中"), "completed": _("已完成"), "title": _("流程图")}


@blueprint.app_context_processor
def _process_diagrams():
    """``process_diagrams(subject_type, subject_id, role_label)`` for the subject pages: the subject's page has
    already checked that the user may see it, and the diagram shows nothing the page does not."""
    def process_diagrams(subject_type: str, subject_id: int, role_label=str):
        return progress.subject_views(db_session(), subject_type, subject_id, role_label=role_label,
                                      words=_diagram_words())
    return {"process_diagrams": process_diagrams}


@blueprint.get("/processes", endpoint="definitions")
def definitions_page():
    """Administrator and management representative: each BPMN workflow file, its stored versions and how many
    instances run on each (``/tasks/processes/<process_id>`` draws a version)."""
    s = db_session()
    defs = sorted(workflow.definitions().values(), key=lambda d: (d.file_name, d.process_id))
    stored = {pid: n for pid, n in s.exec(select(ProcessSpec.process_id, func.count())
                                          .group_by(ProcessSpec.process_id))}
    return render_template("workflow/definitions.html", defs=defs, stored=stored,
                           counts=progress.instance_counts(s))


@blueprint.get("/processes/<process_id>", endpoint="definition")
def definition_page(process_id: str):
    """One workflow: today's file, its stored versions (hash, stored at, instances running / finished) and the
    diagram of the chosen version (``?version=<spec id>``; today's file by default)."""
    s = db_session()
    defn = workflow.definitions().get(process_id)
    versions = progress.versions(s, process_id)
    if defn is None and not versions:
        abort(404)
    chosen = None
    if request.args.get("version"):
        chosen = next((v.spec for v in versions if str(v.spec.id) == request.args["version"]), None)
        if chosen is None:
            abort(404)
    svg = progress.definition_svg(process_id, chosen)
    return render_template("workflow/definition.html", defn=defn, process_id=process_id, versions=versions,
                           chosen=chosen, svg=svg)
