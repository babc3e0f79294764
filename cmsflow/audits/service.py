"""One internal audit as ``internal_audit.bpmn``: plan (auditor independence checked), notice to the
auditees, checklist generated from the clause library with the evidence already in the system,
findings, nonconformities raised from them, report from a Word template, signed approval, distribution."""
from __future__ import annotations

import io
from datetime import date

from docxtpl import DocxTemplate
from flask import current_app
from sqlmodel import Session, select

from cmsflow.audits.models import NONCONFORMING, RESULTS, TASK_STATUS, Audit, AuditFinding, AuditProgramme
from cmsflow.audits.programmes import AUDIT, check_independence
from cmsflow.auth.models import Department, User
from cmsflow.auth.service import users_in_role
from cmsflow.core import signals
from cmsflow.core.attachments import store_attachment
from cmsflow.core.db import utcnow
from cmsflow.core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from cmsflow.core.runtime import config, file_store
from cmsflow.documents import templating
from cmsflow.history import service as history
from cmsflow.nonconformities import service as nonconformities
from cmsflow.nonconformities.service import find_user
from cmsflow.standards import service as standards
from cmsflow.workflow import service as workflow
from cmsflow.workflow import services, taskforms
from cmsflow.workflow.models import HumanTask, Notification

EDIT_STEPS = ("prepare_checklist", "record_findings")


def get(session: Session, audit_id: int) -> Audit:
    audit = session.get(Audit, audit_id)
    if audit is None:
        raise NotFound("审核不存在")
    return audit


def findings_of(session: Session, audit: Audit) -> list[AuditFinding]:
    return list(session.exec(select(AuditFinding).where(AuditFinding.audit_id == audit.id)
                             .order_by(AuditFinding.seq, AuditFinding.id)))


def open_task(session: Session, audit: Audit) -> HumanTask | None:
    return workflow.open_task(session, AUDIT, audit.id)


def _changed(session: Session, audit: Audit) -> None:
    audit.updated_at = utcnow()
    audit.lock_version += 1
    session.flush()
    signals.subject_changed.send(AUDIT, subject_id=audit.id, session=session)


@signals.process_stepped.connect_via("internal_audit")
def _follow_process(_sender, instance, session: Session, **_kw) -> None:
    audit = session.get(Audit, instance.subject_id)
    if workflow.follow_open_task(session, audit, AUDIT, TASK_STATUS, ("closed",)):
        _changed(session, audit)


# --- plan ------------------------------------------------------------------------------------------

def _users(session: Session, refs, label: str) -> list[User]:
    return [find_user(session, r, label) for r in (refs or [])]


@taskforms.register("audit_plan")
def _plan(session: Session, task: HumanTask, user: User, sub: taskforms.Submission) -> dict:
    audit = get(session, task.subject_id)
    d, errors = sub.data, {}
    start, end = _date(d.get("start_date"), "start_date", errors), _date(d.get("end_date"), "end_date", errors)
    if start and end and end < start:
        errors["end_date"] = "结束日期早于开始日期"
    if errors:
        raise ValidationError("；".join(errors.values()), code="invalid_plan", details={"fields": errors})
    team = _users(session, d.get("team"), "审核组成员")
    auditees = _users(session, d.get("auditees"), "受审核人员")
    if d.get("clauses"):
        audit.clauses = standards.validate_refs(d["clauses"])
    lead = session.get(User, audit.lead_auditor_id) if audit.lead_auditor_id else user
    check_independence(session, [lead, *team], audit.department_ids)
    audit.lead_auditor_id, audit.team_ids = lead.id, [u.id for u in team if u.id != lead.id]
    audit.auditee_ids = [u.id for u in auditees]
    audit.start_date, audit.end_date = start, end
    history.record(session, user, "audit_plan_set", AUDIT, audit.id, start=start, end=end,
                   team=[u.username for u in team])
    return {"lead_auditor_id": lead.id}


def _date(raw, name: str, errors: dict) -> date | None:
    try:
        return date.fromisoformat(str(raw or "").strip())
    except ValueError:
        errors[name] = f"请填写日期（YYYY-MM-DD），而不是「{raw or ''}」"
        return None


def _dept_names(session: Session, ids) -> list[str]:
    return [d.name for d in (session.get(Department, i) for i in ids) if d]


@services.register("notify_audit_plan")
def notify_audit_plan(step, data: dict) -> dict:
    """BPMN service: the audit plan notice goes to the auditee departments' heads and the auditees."""
    session: Session = step.session
    audit = session.get(Audit, data["audit_id"])
    recipients = {u.id for d in audit.department_ids for u in users_in_role(session, "department_head", d)}
    recipients.update(audit.auditee_ids)
    lead = session.get(User, audit.lead_auditor_id)
    text = (f"审核通知：{audit.code} {audit.title}，{audit.start_date} 至 {audit.end_date}，审核组长 "
            f"{lead.display_name if lead else ''}，范围 {'、'.join(_dept_names(session, audit.department_ids))}")
    for uid in sorted(recipients):
        session.add(Notification(user_id=uid, kind="audit_notice", message=text[:500], subject_type=AUDIT,
                                 subject_id=audit.id))
    history.record(session, step.actor, "audit_notice_sent", AUDIT, audit.id, recipients=len(recipients))
    return {"notified": len(recipients)}


# --- checklist and findings ---------------------------------------------------------------------------

@services.register("generate_audit_checklist")
def generate_audit_checklist(step, data: dict) -> dict:
    """BPMN service: one checklist line per clause in scope, with the evidence the coverage view knows."""
    session: Session = step.session
    audit = session.get(Audit, data["audit_id"])
    existing = findings_of(session, audit)
    if existing:
        return {"lines": len(existing)}
    clauses = [c for c in (standards.find(ref) for ref in audit.clauses) if c is not None]
    evidence = standards.evidence_for(session, clauses)
    dept = audit.department_ids[0] if len(audit.department_ids) == 1 else None
    for seq, clause in enumerate(clauses, start=1):
        links = [{"kind": e.kind, "id": e.id, "label": e.label, "url": e.url, "via": e.via}
                 for e in evidence[clause.ref].items]
        session.add(AuditFinding(audit_id=audit.id, seq=seq, clause=clause.ref, department_id=dept,
                                 question=f"{standards.label(clause.ref)} {clause.title}：核查要求的落实情况及证据",
                                 evidence_links=links))
    session.flush()
    return {"lines": len(clauses)}


def _editable(session: Session, audit: Audit, user: User) -> None:
    task = open_task(session, audit)
    if task is None or task.name not in EDIT_STEPS:
        raise Conflict("只有在准备检查表或现场审核步骤才能修改检查表", code="checklist_locked")
    if user.id not in (audit.lead_auditor_id, *audit.team_ids):
        raise PermissionDenied("只有本次审核的审核组成员可以修改检查表")


def add_line(session: Session, user: User, audit: Audit, *, clause: str | None, question: str,
             department=None) -> AuditFinding:
    """Add a checklist line (clause optional, question required)."""
    _editable(session, audit, user)
    if not str(question or "").strip():
        raise ValidationError("请填写检查内容", code="question_required", details={"fields": {"question": "必填"}})
    ref = standards.validate_refs([clause])[0] if clause else None
    seq = max([f.seq for f in findings_of(session, audit)] or [0]) + 1
    line = AuditFinding(audit_id=audit.id, seq=seq, clause=ref, question=str(question).strip(),
                        department_id=_dept_id(session, department, audit))
    session.add(line)
    session.flush()
    return line


def _dept_id(session: Session, ref, audit: Audit) -> int | None:
    if not ref:
        return audit.department_ids[0] if len(audit.department_ids) == 1 else None
    dept = session.exec(select(Department).where(Department.code == str(ref).upper())).first()
    if dept is None or dept.id not in audit.department_ids:
        raise ValidationError(f"部门 {ref} 不在本次审核范围内", code="department_not_in_scope",
                              details={"fields": {"department": "不在审核范围内"}})
    return dept.id


def get_line(session: Session, audit: Audit, line_id: int) -> AuditFinding:
    line = session.get(AuditFinding, line_id)
    if line is None or line.audit_id != audit.id:
        raise NotFound("检查表条目不存在")
    return line


def record(session: Session, user: User, audit: Audit, line: AuditFinding, values: dict) -> AuditFinding:
    """Edit a line: ``question``, ``result`` (conformity|observation|minor|major), ``objective_evidence``,
    ``department`` (code). A nonconformity needs objective evidence and a department."""
    _editable(session, audit, user)
    result = values.get("result", line.result) or None
    if result is not None and result not in RESULTS:
        raise ValidationError(f"结论须为：{'、'.join(RESULTS)}", code="invalid_result",
                              details={"fields": {"result": "无效"}})
    if line.nonconformity_id and result != line.result:
        raise Conflict("已据此提出不符合项，结论不能再修改", code="finding_has_nonconformity")
    evidence = str(values.get("objective_evidence", line.objective_evidence) or "").strip()
    dept = _dept_id(session, values["department"], audit) if "department" in values else line.department_id
    if result in NONCONFORMING and (not evidence or dept is None):
        raise ValidationError("不符合项须填写客观证据并指明责任部门", code="evidence_required",
                              details={"fields": {"objective_evidence": "必填", "department": "必填"}})
    if str(values.get("question") or "").strip():
        line.question = str(values["question"]).strip()
    line.result, line.objective_evidence, line.department_id = result, evidence or None, dept
    line.recorded_by_id, line.recorded_at = user.id, utcnow()
    history.record(session, user, "finding_recorded", AUDIT, audit.id, line=line.seq, clause=line.clause or "",
                   result=result or "")
    _changed(session, audit)
    return line


def remove_line(session: Session, user: User, audit: Audit, line: AuditFinding) -> None:
    _editable(session, audit, user)
    if line.nonconformity_id:
        raise Conflict("已据此提出不符合项，不能删除", code="finding_has_nonconformity")
    session.delete(line)
    session.flush()


def attach(session: Session, user: User, audit: Audit, line: AuditFinding, filename: str, data: bytes) -> None:
    """Store an evidence file (PDF, image, Word, Excel) for a line; refused with a reason otherwise."""
    _editable(session, audit, user)
    sha, name = store_attachment(session, filename, data)
    line.attachments = [*line.attachments, {"sha256": sha, "filename": name}]
    session.flush()


@taskforms.register("audit_checklist")
def _checklist_done(session: Session, task: HumanTask, _user: User, _sub: taskforms.Submission) -> dict:
    if not findings_of(session, get(session, task.subject_id)):
        raise ValidationError("检查表为空，请至少保留一条检查内容", code="checklist_empty")
    return {}


@taskforms.register("audit_findings")
def _findings_done(session: Session, task: HumanTask, _user: User, _sub: taskforms.Submission) -> dict:
    open_lines = [str(f.seq) for f in findings_of(session, get(session, task.subject_id)) if f.result is None]
    if open_lines:
        raise ValidationError(f"检查表第 {'、'.join(open_lines)} 条尚未记录审核结论", code="findings_incomplete")
    return {}


@services.register("raise_audit_nonconformities")
def raise_audit_nonconformities(step, data: dict) -> dict:
    """BPMN service: every minor/major finding becomes a nonconformity (source internal audit), verified
    later by the lead auditor; the finding links to it."""
    session: Session = step.session
    audit = session.get(Audit, data["audit_id"])
    raiser = session.get(User, audit.lead_auditor_id) or step.actor
    raised = 0
    for line in findings_of(session, audit):
        if line.result in NONCONFORMING and line.nonconformity_id is None:
            label = standards.label(line.clause) if line.clause else ""
            nc = nonconformities.raise_nonconformity(
                session, raiser, title=f"{audit.code} {label} {line.question}"[:200],
                description=line.objective_evidence or line.question, source="internal_audit",
                department=line.department_id, severity=line.result, clauses=[line.clause] if line.clause else [],
                evidence=line.objective_evidence or "", source_ref=f"audit_finding:{line.id}", verifier=raiser.id)
            line.nonconformity_id = nc.id
            raised += 1
    session.flush()
    return {"raised": raised}


# --- report ---------------------------------------------------------------------------------------------

def _report_context(session: Session, audit: Audit, prepared_by: User) -> dict:
    prog = session.get(AuditProgramme, audit.programme_id)
    names = lambda ids: [u.display_name for u in (session.get(User, i) for i in ids) if u]  # noqa: E731
    lines = [f for f in findings_of(session, audit) if f.result]
    counts = {k: sum(1 for f in lines if f.result == k) for k in RESULTS}
    nc_codes = {f.nonconformity_id: nonconformities.get(session, f.nonconformity_id).code
                for f in lines if f.nonconformity_id}
    shown = [f for f in lines if f.result != "conformity"]
    lib = standards.library()
    return {
        "organisation": config()["ORGANISATION_NAME"], "code": audit.code, "title": audit.title,
        "programme": f"{prog.code} {prog.title}", "objectives": prog.objectives,
        "criteria": [f"{lib[c].designation} {lib[c].title}" for c in prog.criteria if c in lib],
        "scope_departments": _dept_names(session, audit.department_ids),
        "scope_clauses": [f"{standards.label(r)} {standards.find(r).title}" for r in audit.clauses
                          if standards.find(r)],
        "lead_auditor": names([audit.lead_auditor_id])[0] if audit.lead_auditor_id else "",
        "team": names(audit.team_ids), "auditees": names(audit.auditee_ids),
        "dates": f"{audit.start_date} 至 {audit.end_date}", "summary": audit.summary or "",
        "conclusion": audit.conclusion or "", "counts": counts,
        "findings": [{"no": i, "clause": standards.label(f.clause) if f.clause else "",
                      "department": "、".join(_dept_names(session, [f.department_id])) if f.department_id else "",
                      "result": RESULTS[f.result], "evidence": f.objective_evidence or f.question,
                      "nc_code": nc_codes.get(f.nonconformity_id, "")} for i, f in enumerate(shown, start=1)],
        "prepared_by": prepared_by.display_name, "prepared_on": date.today().isoformat(),
        "approved_by": "", "approved_on": ""}


def render_report(session: Session, audit: Audit, prepared_by: User, approved_by: User | None = None) -> bytes:
    """The audit report .docx from ``doc_templates/records/audit_report.docx``."""
    ctx = _report_context(session, audit, prepared_by)
    if approved_by is not None:
        ctx["approved_by"], ctx["approved_on"] = approved_by.display_name, date.today().isoformat()
    tpl = DocxTemplate(f"{current_app.config['DOC_TEMPLATES_DIR']}/records/audit_report.docx")
    tpl.render(ctx, autoescape=True)
    buf = io.BytesIO()
    tpl.save(buf)
    return buf.getvalue()


@taskforms.register("audit_report")
def _draft_report(session: Session, task: HumanTask, user: User, sub: taskforms.Submission) -> dict:
    audit = get(session, task.subject_id)
    errors = {k: "必填" for k in ("summary", "conclusion") if not str(sub.data.get(k) or "").strip()}
    if errors:
        raise ValidationError("请填写审核概述和审核结论", code="report_incomplete", details={"fields": errors})
    audit.summary, audit.conclusion = str(sub.data["summary"]).strip(), str(sub.data["conclusion"]).strip()
    audit.report_sha256 = file_store().put(session, render_report(session, audit, user), templating.DOCX_MIME)
    history.record(session, user, "audit_report_drafted", AUDIT, audit.id, sha256=audit.report_sha256)
    _changed(session, audit)
    return {}


@services.register("distribute_audit_report")
def distribute_audit_report(step, data: dict) -> dict:
    """BPMN service: the approved report becomes a controlled record (approver and date in the sign-off
    table, 受控 stamp), and goes to top management, the MR, the audit team and the auditee departments."""
    session: Session = step.session
    audit = session.get(Audit, data["audit_id"])
    approver = session.get(User, data.get("last_actor_id")) if data.get("last_actor_id") else step.actor
    drafter = session.get(User, audit.lead_auditor_id) or approver
    rendered = render_report(session, audit, drafter, approved_by=approver)
    stamped = templating.stamp(rendered, code=audit.code, version=1, effective_date=date.today().isoformat(),
                               approver=approver.display_name if approver else "")
    audit.record_sha256 = file_store().put(session, stamped, templating.DOCX_MIME)
    audit.report_approved_by_id, audit.report_approved_at = getattr(approver, "id", None), utcnow()
    readers = {u.id for role in ("top_management", "management_representative")
               for u in users_in_role(session, role)}
    readers.update(u.id for d in audit.department_ids for u in users_in_role(session, "department_head", d))
    readers.update([audit.lead_auditor_id, *audit.team_ids])
    for uid in sorted(r for r in readers if r):
        session.add(Notification(user_id=uid, kind="audit_report", subject_type=AUDIT, subject_id=audit.id,
                                 message=f"审核报告已批准发布：{audit.code} {audit.title}"))
    history.record(session, approver, "audit_report_distributed", AUDIT, audit.id, sha256=audit.record_sha256)
    return {"distributed_to": len(readers)}


@services.register("close_audit")
def close_audit(step, data: dict) -> dict:
    """BPMN service: close once every nonconformity finding has its nonconformity (raising any missing)."""
    session: Session = step.session
    audit = session.get(Audit, data["audit_id"])
    missing = [f for f in findings_of(session, audit) if f.result in NONCONFORMING and not f.nonconformity_id]
    if missing:
        raise_audit_nonconformities(step, data)
    audit.status, audit.closed_at = "closed", utcnow()
    history.record(session, step.actor, "audit_closed", AUDIT, audit.id)
    _changed(session, audit)
    return {"closed": True}


def report_file(session: Session, audit: Audit) -> tuple[str, bytes]:
    """(filename, bytes) of the approved record, else the draft report; NotFound before drafting."""
    sha = audit.record_sha256 or audit.report_sha256
    if not sha:
        raise NotFound("审核报告尚未编写")
    kind = "审核报告" if audit.record_sha256 else "审核报告（草稿）"
    return f"{audit.code} {kind}.docx", file_store().get(sha)
