"""Audit programmes and audits as JSON and in search."""
from __future__ import annotations

from sqlmodel import Session, select

from cmsflow.audits import programmes, service
from cmsflow.audits.models import RESULTS, Audit, AuditProgramme
from cmsflow.auth import permissions
from cmsflow.auth.models import Department
from cmsflow.nonconformities.models import Nonconformity
from cmsflow.nonconformities.presenters import history_json, username
from cmsflow.search.backend import Entry
from cmsflow.search.service import register_provider
from cmsflow.standards import service as standards


def _codes(session: Session, ids) -> list[str]:
    return [d.code for d in (session.get(Department, i) for i in ids) if d]


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def audit_json(session: Session, audit: Audit, *, full: bool = False) -> dict:
    task = service.open_task(session, audit)
    out = {"id": audit.id, "code": audit.code, "title": audit.title, "programme_id": audit.programme_id,
           "planned_month": audit.planned_month.strftime("%Y-%m"), "departments": _codes(session, audit.department_ids),
           "clauses": audit.clauses, "lead_auditor": username(session, audit.lead_auditor_id),
           "status": audit.status, "current_step": task.name if task else None,
           "start_date": _iso(audit.start_date), "end_date": _iso(audit.end_date), "lock_version": audit.lock_version}
    if full:
        out.update({
            "team": [username(session, i) for i in audit.team_ids],
            "auditees": [username(session, i) for i in audit.auditee_ids],
            "summary": audit.summary, "conclusion": audit.conclusion,
            "report": bool(audit.report_sha256), "report_approved": bool(audit.record_sha256),
            "report_approved_by": username(session, audit.report_approved_by_id),
            "checklist": [line_json(session, f) for f in service.findings_of(session, audit)],
            "history": history_json(session, programmes.AUDIT, audit.id)})
    return out


def line_json(session: Session, f) -> dict:
    nc = session.get(Nonconformity, f.nonconformity_id) if f.nonconformity_id else None
    dept = session.get(Department, f.department_id) if f.department_id else None
    return {"id": f.id, "seq": f.seq, "clause": f.clause,
            "clause_label": standards.label(f.clause) if f.clause else None,
            "question": f.question, "department": dept.code if dept else None, "evidence_links": f.evidence_links,
            "result": f.result, "objective_evidence": f.objective_evidence,
            "attachments": [a["filename"] for a in f.attachments],
            "nonconformity": {"id": nc.id, "code": nc.code} if nc else None}


def programme_json(session: Session, prog: AuditProgramme) -> dict:
    cov = programmes.coverage(session, prog)
    return {"id": prog.id, "code": prog.code, "title": prog.title, "period_start": prog.period_start.isoformat(),
            "period_end": prog.period_end.isoformat(), "objectives": prog.objectives, "criteria": prog.criteria,
            "status": prog.status, "approved_by": username(session, prog.approved_by_id),
            "approved_at": _iso(prog.approved_at),
            "audits": [audit_json(session, a) for a in programmes.audits_of(session, prog)],
            "coverage": {"complete": cov.complete, "covered_clauses": cov.covered_clauses,
                         "total_clauses": cov.total_clauses, "uncovered_clauses": cov.uncovered_clauses,
                         "uncovered_departments": [d.code for d in cov.uncovered_departments]}}


def _audit_entry(session: Session, audit_id: int) -> Entry | None:
    audit = session.get(Audit, audit_id)
    if audit is None:
        return None
    lines = service.findings_of(session, audit)
    body = " ".join(filter(None, [audit.summary, audit.conclusion, " ".join(audit.clauses),
                                  *(f"{f.question} {RESULTS.get(f.result or '', '')} {f.objective_evidence or ''}"
                                    for f in lines)]))
    return Entry(key=f"audit:{audit.id}", type="audit", id=audit.id, title=f"内部审核：{audit.title}",
                 code=audit.code, body=body, url=f"/audits/{audit.id}", visibility=permissions.SYSTEM_VISIBILITY)


def _programme_entry(session: Session, prog_id: int) -> Entry | None:
    prog = session.get(AuditProgramme, prog_id)
    if prog is None:
        return None
    return Entry(key=f"audit_programme:{prog.id}", type="audit_programme", id=prog.id,
                 title=f"审核方案：{prog.title}", code=prog.code, body=prog.objectives,
                 url=f"/audits/programmes/{prog.id}", visibility=permissions.SYSTEM_VISIBILITY)


register_provider(programmes.AUDIT, _audit_entry, lambda s: s.exec(select(Audit.id)).all())
register_provider(programmes.PROGRAMME, _programme_entry, lambda s: s.exec(select(AuditProgramme.id)).all())
