"""Compliance evaluation pages: evaluations with filters, what is due, the period report, step forms."""
from __future__ import annotations

import io
from datetime import date

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlmodel import select

from cmsflow.auth.models import Department, User
from cmsflow.compliance import report, service
from cmsflow.compliance.models import RESULTS, STATUSES, TRIGGERS, ComplianceEvaluation
from cmsflow.core.db import db_session
from cmsflow.core.errors import CmsflowError, ValidationError
from cmsflow.documents.templating import DOCX_MIME
from cmsflow.history import service as history
from cmsflow.registers.models import ComplianceObligation
from cmsflow.web.setup import commit
from cmsflow.workflow.assignment import may_act

blueprint = Blueprint("compliance", __name__, template_folder="templates", url_prefix="/compliance")


def _labels() -> dict:
    s = db_session()
    return {"results": RESULTS, "statuses": STATUSES, "triggers": TRIGGERS,
            "depts": {d.id: d for d in s.exec(select(Department))},
            "users_by_id": {u.id: u for u in s.exec(select(User))}}


@blueprint.get("/")
def index():
    s = db_session()
    rows = service.query(s, {k: v for k, v in request.args.items() if k in ("status", "result", "trigger")})
    obligations = s.exec(select(ComplianceObligation).order_by(ComplianceObligation.title)).all()
    today = date.today()
    return render_template("compliance/index.html", rows=rows, args=request.args, obligations=obligations,
                           due=service.due_overview(s), year_start=date(today.year, 1, 1), today=today,
                           **_labels())


@blueprint.post("/start")
def start():
    s = db_session()
    try:
        ev = service.start_manual(s, current_user, int(request.form.get("obligation_id") or 0))
        commit()
        flash(_("合规性评价 %(code)s 已发起，已通知责任部门负责人", code=ev.code), "success")
        return redirect(url_for(".detail", ev_id=ev.id))
    except CmsflowError as exc:
        s.rollback()
        flash(exc.message, "error")
        return redirect(url_for(".index"))


@blueprint.get("/report.docx")
def report_docx():
    try:
        start_ = date.fromisoformat(request.args.get("from", ""))
        end = date.fromisoformat(request.args.get("to", ""))
    except ValueError as exc:
        raise ValidationError("请填写评价期间（YYYY-MM-DD）", code="invalid_date") from exc
    data = report.render(db_session(), start_, end, current_user)
    return send_file(io.BytesIO(data), mimetype=DOCX_MIME, as_attachment=True,
                     download_name=f"合规性评价报告-{start_}-{end}.docx")


def _detail(ev_id: int, values=None, errors=None, status: int = 200):
    s = db_session()
    ev = service.get(s, ev_id)
    task = service.workflow.open_task(s, service.SUBJECT, ev.id)
    ob = s.get(ComplianceObligation, ev.obligation_id)
    earlier = s.exec(select(ComplianceEvaluation).where(ComplianceEvaluation.obligation_id == ev.obligation_id,
                                                        ComplianceEvaluation.id != ev.id)
                     .order_by(ComplianceEvaluation.id.desc())).all()
    return render_template("compliance/detail.html", ev=ev, ob=ob, task=task, earlier=earlier,
                           can_act=bool(task and may_act(s, current_user, task)),
                           text_changed=ob is not None and service.text_hash(ob) != ev.requirement_sha256,
                           entries=history.for_subject(s, service.SUBJECT, ev.id), values=values or {},
                           errors=errors or {}, **_labels()), status


@blueprint.get("/<int:ev_id>")
def detail(ev_id: int):
    return _detail(ev_id)


@blueprint.post("/<int:ev_id>/steps/<step>")
def step(ev_id: int, step: str):
    s = db_session()
    ev = service.get(s, ev_id)
    f = request.form
    try:
        service.complete_step(s, ev, current_user, step, decision=f.get("decision") or None,
                              comment=f.get("comment", ""),
                              data={"result": f.get("result", ""), "evidence": f.get("evidence", "")}
                              if step == "evaluate_obligation" else {})  # the fields the step declares
        commit()
        flash(_("已提交"), "success")
        return redirect(url_for(".detail", ev_id=ev_id))
    except CmsflowError as exc:
        s.rollback()
        flash(exc.message, "error")
        return _detail(ev_id, values=f, errors=(exc.details or {}).get("fields") or {}, status=exc.status)
