"""Pages of compliance cycles (履约), verifications (核查), neutrality statements and disclosure, on the
``assets`` blueprint of ``views.py``."""
from __future__ import annotations

from datetime import date

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlmodel import select

from cmsflow.assets import compliance, disclosure, neutrality, presenters, verification
from cmsflow.assets.models import (
    FREQUENCIES,
    NEUTRALITY_STATUSES,
    VERIFICATION_STATUSES,
    DisclosureCriteria,
    Verification,
)
from cmsflow.assets.views import blueprint, refused
from cmsflow.auth.models import User
from cmsflow.core.db import db_session
from cmsflow.core.errors import CmsflowError, ValidationError
from cmsflow.history import service as history
from cmsflow.registers.models import EmissionSource
from cmsflow.web.files import send_stored
from cmsflow.web.setup import commit
from cmsflow.workflow.assignment import may_act

# --- compliance cycles ----------------------------------------------------------------------------------------


def _cycles(values=None, errors=None, status: int = 200):
    s = db_session()
    rows = [(c, compliance.position(s, c)) for c in compliance.cycles(s)]
    return render_template("assets/cycles.html", rows=rows, values=values or {}, errors=errors or {},
                           next_year=date.today().year - 1), status


@blueprint.get("/cycles/")
def cycles():
    return _cycles()


@blueprint.post("/cycles/")
def open_cycle():
    f = request.form
    try:
        cycle = compliance.open_cycle(db_session(), current_user, compliance_year=f.get("compliance_year"),
                                      deadline=f.get("deadline") or None, department=f.get("department") or None)
        commit()
        flash(_("履约期 %(code)s 已开启", code=cycle.code), "success")
        return redirect(url_for(".cycle", cycle_id=cycle.id))
    except CmsflowError as exc:
        return refused(exc, _cycles)


def _cycle(cycle_id: int, values=None, errors=None, status: int = 200):
    s = db_session()
    c = compliance.get(s, cycle_id)
    task = compliance.workflow.open_task(s, compliance.SUBJECT, c.id)
    approver = s.get(User, c.approved_by_id) if c.approved_by_id else None
    return render_template("assets/cycle.html", c=c, data=presenters.cycle_json(s, c, full=True), task=task,
                           pos=compliance.position(s, c), approver=approver.display_name if approver else None,
                           can_act=bool(task and may_act(s, current_user, task)),
                           verifications=s.exec(select(Verification).where(
                               Verification.compliance_year == c.compliance_year,
                               Verification.status == "completed")).all(),
                           entries=history.for_subject(s, compliance.SUBJECT, c.id), values=values or {},
                           errors=errors or {}), status


@blueprint.get("/cycles/<int:cycle_id>")
def cycle(cycle_id: int):
    return _cycle(cycle_id)


@blueprint.post("/cycles/<int:cycle_id>/steps/<step>")
def cycle_step(cycle_id: int, step: str):
    s = db_session()
    f = request.form
    try:
        c = compliance.get(s, cycle_id)
        upload = request.files.get("evidence")
        if step == "record_evidence" and upload is not None and upload.filename:
            compliance.attach_evidence(s, current_user, c, upload.filename, upload.read())
        data = {k: f.get(k) for k in ("verification_id", "decision", "buy_quantity", "sell_quantity",
                                      "offset_quantity", "price_limit", "note", "evidence_note") if f.get(k)}
        compliance.complete_step(s, c, current_user, step, decision=f.get("approval") or None,
                                 comment=f.get("comment", ""), password=f.get("password") or None, data=data)
        commit()
        flash(_("已提交"), "success")
        return redirect(url_for(".cycle", cycle_id=cycle_id))
    except CmsflowError as exc:
        return refused(exc, _cycle, cycle_id)


@blueprint.get("/cycles/<int:cycle_id>/evidence")
def cycle_evidence(cycle_id: int):
    c = compliance.get(db_session(), cycle_id)
    return send_stored(c.evidence_sha256, c.evidence_filename or "evidence", "尚未上传完成证据")


# --- verifications ----------------------------------------------------------------------------------------------

def _verifications(values=None, errors=None, status: int = 200):
    s = db_session()
    rows = s.exec(select(Verification).order_by(Verification.compliance_year.desc(), Verification.id.desc())).all()
    return render_template("assets/verifications.html", rows=rows, statuses=VERIFICATION_STATUSES,
                           values=values or {}, errors=errors or {}, last_year=date.today().year - 1), status


@blueprint.get("/verifications/")
def verifications():
    return _verifications()


@blueprint.post("/verifications/")
def new_verification():
    f = request.form
    try:
        ver = verification.create_verification(db_session(), current_user, **{k: f.get(k) or None for k in (
            "compliance_year", "period_start", "period_end", "scope", "verifier", "lead_verifier")})
        commit()
        return redirect(url_for(".verification_page", ver_id=ver.id))
    except CmsflowError as exc:
        return refused(exc, _verifications)


def _verification(ver_id: int, values=None, errors=None, status: int = 200):
    s = db_session()
    ver = verification.get(s, ver_id)
    return render_template("assets/verification.html", ver=ver, statuses=VERIFICATION_STATUSES,
                           differences=verification.differences(s, ver), findings=verification.findings(s, ver),
                           sources=s.exec(select(EmissionSource).order_by(EmissionSource.name)).all(),
                           entries=history.for_subject(s, verification.SUBJECT, ver.id), values=values or {},
                           errors=errors or {}), status


@blueprint.get("/verifications/<int:ver_id>")
def verification_page(ver_id: int):
    return _verification(ver_id)


@blueprint.post("/verifications/<int:ver_id>/result")
def verification_result(ver_id: int):
    s = db_session()
    f = request.form
    lines = [{"emission_source": key[2:], "verified": val} for key, val in f.items()
             if key.startswith("v_") and val.strip()]
    try:
        ver = verification.get(s, ver_id)
        verification.record_result(s, current_user, ver, conclusion=f.get("conclusion"),
                                   verified_emissions=f.get("verified_emissions") or None, lines=lines,
                                   lock_version=f.get("lock_version"))
        upload = request.files.get("report")
        if upload is not None and upload.filename:
            verification.attach_report(s, current_user, ver, upload.filename, upload.read())
        commit()
        flash(_("核查结果已保存"), "success")
        return redirect(url_for(".verification_page", ver_id=ver_id))
    except CmsflowError as exc:
        return refused(exc, _verification, ver_id)


@blueprint.post("/verifications/<int:ver_id>/findings")
def verification_finding(ver_id: int):
    s = db_session()
    f = request.form
    try:
        ver = verification.get(s, ver_id)
        if f.get("finding_id"):
            verification.raise_nonconformity(s, current_user, int(f["finding_id"]), f.get("department"))
        else:
            verification.add_finding(s, current_user, ver, description=f.get("description"),
                                     severity=f.get("severity", "minor"), emission_source=f.get("emission_source"))
        commit()
        flash(_("已保存"), "success")
        return redirect(url_for(".verification_page", ver_id=ver_id))
    except CmsflowError as exc:
        return refused(exc, _verification, ver_id)


@blueprint.get("/verifications/<int:ver_id>/report")
def verification_report(ver_id: int):
    ver = verification.get(db_session(), ver_id)
    return send_stored(ver.report_sha256, ver.report_filename or "report", "尚未上传核查报告")


# --- carbon neutrality -----------------------------------------------------------------------------------------

def _period(src) -> tuple[date, date]:
    year = date.today().year - 1
    try:
        return (date.fromisoformat(src.get("period_start") or f"{year}-01-01"),
                date.fromisoformat(src.get("period_end") or f"{year}-12-31"))
    except ValueError as exc:
        raise ValidationError("日期格式应为 YYYY-MM-DD", code="invalid_date") from exc


def _neutrality(values=None, errors=None, status: int = 200):
    s = db_session()
    src = values or request.args
    start, end = _period(src if src.get("period_start") else {})
    ids = [int(i) for i in (src.getlist("transactions") if hasattr(src, "getlist") else []) if str(i).isdigit()]
    units = [(t, lot) for t, lot in neutrality.candidates(s) if t.id in ids]
    return render_template("assets/neutrality.html", start=start, end=end, candidates=neutrality.candidates(s),
                           preview=neutrality.balance(s, start, end, [], units), selected=ids,
                           statements=neutrality.statements(s),
                           statuses=NEUTRALITY_STATUSES, values=values or {}, errors=errors or {}), status


@blueprint.get("/neutrality/")
def neutrality_index():
    return _neutrality()


@blueprint.post("/neutrality/")
def issue_statement():
    f = request.form
    try:
        stmt = neutrality.issue_statement(db_session(), current_user, period_start=f.get("period_start"),
                                          period_end=f.get("period_end"), boundary=f.get("boundary"),
                                          transactions=f.getlist("transactions"))
        commit()
        flash(_("碳中和声明 %(code)s 已发布", code=stmt.code), "success")
        return redirect(url_for(".statement", stmt_id=stmt.id))
    except CmsflowError as exc:
        return refused(exc, _neutrality)


@blueprint.get("/neutrality/<int:stmt_id>")
def statement(stmt_id: int):
    s = db_session()
    stmt = neutrality.get(s, stmt_id)
    return render_template("assets/statement.html", stmt=stmt, units=neutrality.claimed_units(s, stmt),
                           statuses=NEUTRALITY_STATUSES)


@blueprint.get("/neutrality/<int:stmt_id>/statement.docx")
def statement_docx(stmt_id: int):
    stmt = neutrality.get(db_session(), stmt_id)
    return send_stored(stmt.statement_sha256, f"{stmt.code}-碳中和声明.docx")


# --- disclosure -----------------------------------------------------------------------------------------------

def _disclosure(values=None, errors=None, status: int = 200):
    s = db_session()
    return render_template("assets/disclosure.html", frequencies=FREQUENCIES,
                           criteria=s.exec(select(DisclosureCriteria).order_by(DisclosureCriteria.code)).all(),
                           reports=[presenters.disclosure_json(s, d) for d in disclosure.disclosures(s)],
                           last_year=date.today().year - 1, values=values or {}, errors=errors or {}), status


@blueprint.get("/disclosure/")
def disclosure_index():
    return _disclosure()


@blueprint.post("/disclosure/criteria")
def save_criteria():
    f = request.form
    try:
        disclosure.save_criteria(db_session(), current_user, int(f["criteria_id"]) if f.get("criteria_id") else None,
                                 **{k: f.get(k) for k in disclosure.CRITERIA_FIELDS if k != "active"})
        commit()
        flash(_("披露准则已保存"), "success")
        return redirect(url_for(".disclosure_index"))
    except CmsflowError as exc:
        return refused(exc, _disclosure)


@blueprint.post("/disclosure/reports")
def prepare_report():
    f = request.form
    try:
        row = disclosure.prepare_report(db_session(), current_user, criteria_id=f.get("criteria_id") or 0,
                                        year=f.get("year"))
        commit()
        flash(_("披露报告已生成并提交文件审批"), "success")
        return redirect(url_for("documents.detail", doc_id=row.document_id))
    except CmsflowError as exc:
        return refused(exc, _disclosure)
