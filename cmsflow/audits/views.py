"""Audit pages: programmes (with coverage), audits with their plan, checklist, findings and report."""
from __future__ import annotations

import io

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlmodel import select

from cmsflow.audits import programmes, service
from cmsflow.audits.models import AUDIT_STATUSES, PROGRAMME_STATUSES, RESULTS, Audit, AuditFinding, AuditProgramme
from cmsflow.auth.models import Department, User
from cmsflow.core.db import db_session
from cmsflow.core.errors import CmsflowError
from cmsflow.documents.templating import DOCX_MIME
from cmsflow.history import service as history
from cmsflow.nonconformities.models import Nonconformity
from cmsflow.standards import service as standards
from cmsflow.web.setup import commit
from cmsflow.workflow import service as workflow
from cmsflow.workflow.assignment import may_act

blueprint = Blueprint("audits", __name__, template_folder="templates", url_prefix="/audits")


def _lookups() -> dict:
    s = db_session()
    return {"departments": s.exec(select(Department).order_by(Department.code)).all(),
            "users": s.exec(select(User).where(User.active == True).order_by(User.username)).all(),  # noqa: E712
            "users_by_id": {u.id: u for u in s.exec(select(User))},
            "depts_by_id": {d.id: d for d in s.exec(select(Department))},
            "programme_statuses": PROGRAMME_STATUSES, "audit_statuses": AUDIT_STATUSES, "results": RESULTS,
            "standards_lib": standards.library()}


@blueprint.get("/")
def index():
    s = db_session()
    progs = s.exec(select(AuditProgramme).order_by(AuditProgramme.period_start.desc())).all()
    audits = s.exec(select(Audit).order_by(Audit.planned_month, Audit.id)).all()
    return render_template("audits/index.html", programmes=progs, audits=audits,
                           can_plan=current_user.role in programmes.PLANNERS, **_lookups())


@blueprint.route("/programmes/new", methods=["GET", "POST"])
def new_programme():
    values, errors = (request.form if request.method == "POST" else {}), {}
    if request.method == "POST":
        s = db_session()
        try:
            prog = programmes.create_programme(s, current_user, title=values.get("title", ""),
                                               period_start=values.get("period_start"),
                                               period_end=values.get("period_end"),
                                               objectives=values.get("objectives", ""),
                                               criteria=request.form.getlist("criteria"))
            commit()
            return redirect(url_for(".programme", prog_id=prog.id))
        except CmsflowError as exc:
            s.rollback()
            errors = (exc.details or {}).get("fields") or {"_": exc.message}
            flash(exc.message, "error")
    return render_template("audits/programme_new.html", values=values, errors=errors,
                           applicable=standards.applicable_codes(db_session()), **_lookups()), 400 if errors else 200


def _programme_page(prog_id: int, values=None, errors=None, status=200):
    s = db_session()
    prog = programmes.get_programme(s, prog_id)
    task = workflow.open_task(s, programmes.PROGRAMME, prog.id)
    return render_template("audits/programme.html", prog=prog, audits=programmes.audits_of(s, prog),
                           cov=programmes.coverage(s, prog), task=task,
                           can_act=bool(task and may_act(s, current_user, task)),
                           can_plan=current_user.role in programmes.PLANNERS, values=values or {},
                           errors=errors or {}, **_lookups()), status


@blueprint.get("/programmes/<int:prog_id>")
def programme(prog_id: int):
    return _programme_page(prog_id)


@blueprint.post("/programmes/<int:prog_id>/audits")
def add_audit(prog_id: int):
    s = db_session()
    prog = programmes.get_programme(s, prog_id)
    form = request.form
    try:
        programmes.add_audit(s, current_user, prog, title=form.get("title", ""), month=form.get("month"),
                             departments=form.getlist("departments"),
                             clauses=[c.strip() for c in form.get("clauses", "").replace("，", ",").split(",")
                                      if c.strip()], lead_auditor=form.get("lead_auditor") or None)
        commit()
        flash(_("审核已加入方案"), "success")
        return redirect(url_for(".programme", prog_id=prog_id))
    except CmsflowError as exc:
        s.rollback()
        flash(exc.message, "error")
        return _programme_page(prog_id, values=form, errors=(exc.details or {}).get("fields") or {},
                               status=exc.status)


@blueprint.post("/programmes/<int:prog_id>/submit")
def submit_programme(prog_id: int):
    s = db_session()
    try:
        programmes.submit_programme(s, current_user, programmes.get_programme(s, prog_id))
        commit()
        flash(_("已提交管理者代表批准"), "success")
    except CmsflowError as exc:
        s.rollback()
        flash(exc.message, "error")
    return redirect(url_for(".programme", prog_id=prog_id))


def _audit_page(audit_id: int, values=None, errors=None, status=200):
    s = db_session()
    audit = service.get(s, audit_id)
    task = service.open_task(s, audit)
    ncs = {n.id: n for n in s.exec(select(Nonconformity).where(Nonconformity.source_ref.like("audit_finding:%")))}
    team = (audit.lead_auditor_id, *audit.team_ids)
    return render_template(
        "audits/audit.html", audit=audit, prog=s.get(AuditProgramme, audit.programme_id), task=task,
        can_act=bool(task and may_act(s, current_user, task)), lines=service.findings_of(s, audit), ncs=ncs,
        editable=bool(task and task.name in service.EDIT_STEPS and current_user.id in team),
        entries=history.for_subject(s, programmes.AUDIT, audit.id), values=values or {}, errors=errors or {},
        **_lookups()), status


@blueprint.get("/<int:audit_id>")
def detail(audit_id: int):
    return _audit_page(audit_id)


@blueprint.get("/findings/<int:line_id>")
def finding(line_id: int):
    line = db_session().get(AuditFinding, line_id)
    if line is None:
        return redirect(url_for(".index"))
    return redirect(url_for(".detail", audit_id=line.audit_id, _anchor=f"line-{line.id}"))


def _step_data(step: str, form) -> dict:
    if step == "plan_audit":
        return {"start_date": form.get("start_date"), "end_date": form.get("end_date"),
                "team": form.getlist("team"), "auditees": form.getlist("auditees")}
    if step == "draft_report":
        return {"summary": form.get("summary", ""), "conclusion": form.get("conclusion", "")}
    return {}


@blueprint.post("/<int:audit_id>/steps/<step>")
def step(audit_id: int, step: str):
    s = db_session()
    audit = service.get(s, audit_id)
    try:
        workflow.complete_step(s, programmes.AUDIT, audit.id, step, current_user,
                               decision=request.form.get("decision") or None,
                               comment=request.form.get("comment", ""), password=request.form.get("password"),
                               data=_step_data(step, request.form))
        commit()
        flash(_("已提交"), "success")
        return redirect(url_for(".detail", audit_id=audit_id))
    except CmsflowError as exc:
        s.rollback()
        flash(exc.message, "error")
        return _audit_page(audit_id, values=request.form, errors=(exc.details or {}).get("fields") or {},
                           status=exc.status)


@blueprint.post("/<int:audit_id>/checklist")
def add_line(audit_id: int):
    s = db_session()
    audit = service.get(s, audit_id)
    try:
        service.add_line(s, current_user, audit, clause=request.form.get("clause") or None,
                         question=request.form.get("question", ""), department=request.form.get("department"))
        commit()
        return redirect(url_for(".detail", audit_id=audit_id))
    except CmsflowError as exc:
        s.rollback()
        flash(exc.message, "error")
        return _audit_page(audit_id, values=request.form, status=exc.status)


@blueprint.post("/<int:audit_id>/checklist/<int:line_id>")
def record_line(audit_id: int, line_id: int):
    s = db_session()
    audit = service.get(s, audit_id)
    form = request.form
    try:
        line = service.get_line(s, audit, line_id)
        service.record(s, current_user, audit, line, {"result": form.get("result") or None,
                                                      "objective_evidence": form.get("objective_evidence", ""),
                                                      "department": form.get("department") or None})
        upload = request.files.get("file")
        if upload is not None and upload.filename:
            service.attach(s, current_user, audit, line, upload.filename, upload.read())
        commit()
        return redirect(url_for(".detail", audit_id=audit_id, _anchor=f"line-{line_id}"))
    except CmsflowError as exc:
        s.rollback()
        flash(exc.message, "error")
        return _audit_page(audit_id, values={f"{k}_{line_id}": v for k, v in form.items()}, status=exc.status)


@blueprint.get("/<int:audit_id>/report.docx")
def report(audit_id: int):
    name, data = service.report_file(db_session(), service.get(db_session(), audit_id))
    return send_file(io.BytesIO(data), mimetype=DOCX_MIME, as_attachment=True, download_name=name)
