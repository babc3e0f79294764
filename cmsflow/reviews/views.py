"""Management review pages: the cycle, reviews with their inputs, outputs and actions, step forms."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlmodel import select

from cmsflow.auth.models import User
from cmsflow.core.db import db_session
from cmsflow.core.errors import CmsflowError, NotFound
from cmsflow.core.urls import safe_next
from cmsflow.history import service as history
from cmsflow.reviews import service
from cmsflow.reviews.models import ACTION_KINDS, ACTION_STATUSES, STATUSES, ManagementReview, ReviewAction
from cmsflow.web.files import send_stored
from cmsflow.web.setup import commit
from cmsflow.workflow.assignment import may_act

blueprint = Blueprint("reviews", __name__, template_folder="templates", url_prefix="/reviews")
DECISION_ROWS = 6


def _users() -> list[User]:
    return db_session().exec(select(User).where(User.active == True).order_by(User.username)).all()  # noqa: E712


def _index(values=None, errors=None, status: int = 200):
    s = db_session()
    reviews = s.exec(select(ManagementReview).order_by(ManagementReview.planned_on.desc())).all()
    return render_template("reviews/index.html", reviews=reviews, schedule=service.current_schedule(s),
                           actions=service.open_actions(s), statuses=STATUSES, kinds=ACTION_KINDS,
                           users_by_id={u.id: u for u in s.exec(select(User))}, today=date.today(),
                           values=values or {}, errors=errors or {}), status


@blueprint.get("/")
def index():
    return _index()


def _attempt(fn, on_error):
    s = db_session()
    try:
        out = fn(s)
        commit()
        return out
    except CmsflowError as exc:
        s.rollback()
        flash(exc.message, "error")
        return on_error((exc.details or {}).get("fields") or {}, exc.status)


@blueprint.post("/schedule")
def schedule():
    f = request.form

    def run(s):
        service.set_schedule(s, current_user, next_review_on=f.get("next_review_on"),
                             interval_months=f.get("interval_months"), preparation_days=f.get("preparation_days"))
        flash(_("管理评审计划已保存"), "success")
        return redirect(url_for(".index"))
    return _attempt(run, lambda errors, status: _index(f, errors, status))


@blueprint.post("/new")
def new():
    f = request.form

    def run(s):
        review = service.create_review(s, current_user, period_start=f.get("period_start"),
                                       period_end=f.get("period_end"), planned_on=f.get("planned_on") or None,
                                       title=f.get("title", ""))
        flash(_("管理评审 %(code)s 已发起，评审输入已汇总", code=review.code), "success")
        return redirect(url_for(".detail", review_id=review.id))
    return _attempt(run, lambda errors, status: _index(f, errors, status))


def _detail(review_id: int, values=None, errors=None, status: int = 200):
    s = db_session()
    review = service.get(s, review_id, current_user)
    task = service.workflow.open_task(s, service.SUBJECT, review.id)
    return render_template(
        "reviews/detail.html", review=review, task=task, can_act=bool(task and may_act(s, current_user, task)),
        actions=service.actions_of(s, review), statuses=STATUSES, kinds=ACTION_KINDS,
        action_statuses=ACTION_STATUSES, users=_users(), users_by_id={u.id: u for u in s.exec(select(User))},
        entries=history.for_subject(s, service.SUBJECT, review.id), values=values or {}, errors=errors or {},
        decision_rows=DECISION_ROWS, today=date.today()), status


@blueprint.get("/<int:review_id>")
def detail(review_id: int):
    return _detail(review_id)


def _form_data(step: str, review: ManagementReview, form) -> dict:
    if step == "prepare_review":
        keys = [s["key"] for s in review.inputs.get("sections", [])]
        return {"commentary": {k: form.get(f"c_{k}", "") for k in keys}, "attendees": form.get("attendees", ""),
                "planned_on": form.get("planned_on") or None}
    if step == "hold_review":
        rows = [{"kind": form.get(f"d{i}_kind", ""), "description": form.get(f"d{i}_description", ""),
                 "owner": form.get(f"d{i}_owner", ""), "due_on": form.get(f"d{i}_due_on", "")}
                for i in range(DECISION_ROWS)]
        names = ("suitability", "adequacy", "effectiveness", "conclusion", "policy_changes", "objective_changes",
                 "system_changes", "improvement", "resource_needs", "held_on", "attendees")
        return {**{n: form.get(n, "") for n in names},
                "decisions": [r for r in rows if r["description"].strip() or r["due_on"].strip()]}
    return {}


@blueprint.post("/<int:review_id>/steps/<step>")
def step(review_id: int, step: str):
    s = db_session()
    review = service.get(s, review_id)
    try:
        service.complete_step(s, review, current_user, step, decision=request.form.get("decision") or None,
                              comment=request.form.get("comment", ""), password=request.form.get("password"),
                              data=_form_data(step, review, request.form))
        commit()
        flash(_("已提交"), "success")
        return redirect(url_for(".detail", review_id=review_id))
    except CmsflowError as exc:
        s.rollback()
        flash(exc.message, "error")
        return _detail(review_id, values=request.form, errors=(exc.details or {}).get("fields") or {},
                       status=exc.status)


@blueprint.post("/<int:review_id>/refresh")
def refresh(review_id: int):
    def run(s):
        service.refresh_inputs(s, current_user, service.get(s, review_id))
        flash(_("评审输入已按最新记录重新汇总"), "success")
        return redirect(url_for(".detail", review_id=review_id))
    return _attempt(run, lambda errors, status: _detail(review_id, status=status))


@blueprint.get("/<int:review_id>/<kind>.docx")
def docx(review_id: int, kind: str):
    review = service.get(db_session(), review_id)
    sha = {"inputs": review.input_report_sha256, "minutes": review.record_sha256 or review.minutes_sha256}.get(kind)
    return send_stored(sha, f"{review.code}-{'评审输入报告' if kind == 'inputs' else '管理评审报告'}.docx")


@blueprint.post("/actions/<int:action_id>/complete")
def complete_action(action_id: int):
    action = db_session().get(ReviewAction, action_id)
    if action is None:
        raise NotFound("管理评审措施不存在")

    def run(s):
        service.complete_action(s, current_user, action_id, request.form.get("note", ""))
        flash(_("措施已完成"), "success")
        return redirect(safe_next(request.form.get("next"), url_for(".detail", review_id=action.review_id)))
    return _attempt(run, lambda errors, status: _detail(action.review_id, status=status))
