"""Compliance evaluations as JSON."""
from __future__ import annotations

from sqlmodel import Session

from cmsflow.auth.models import Department
from cmsflow.compliance import service
from cmsflow.compliance.models import ComplianceEvaluation
from cmsflow.nonconformities.models import Nonconformity
from cmsflow.nonconformities.presenters import history_json, username
from cmsflow.workflow import service as workflow


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def evaluation_json(session: Session, ev: ComplianceEvaluation, *, full: bool = False) -> dict:
    task = workflow.open_task(session, service.SUBJECT, ev.id)
    dept = session.get(Department, ev.department_id)
    nc = session.get(Nonconformity, ev.nonconformity_id) if ev.nonconformity_id else None
    out = {"id": ev.id, "code": ev.code, "obligation_id": ev.obligation_id, "obligation": ev.obligation_title,
           "department": dept.code if dept else None, "trigger": ev.trigger, "due_on": ev.due_on.isoformat(),
           "status": ev.status, "result": ev.result, "current_step": task.name if task else None,
           "step_due_at": _iso(task.due_at) if task else None, "evaluated_by": username(session, ev.evaluated_by_id),
           "evaluated_at": _iso(ev.evaluated_at), "confirmed_by": username(session, ev.confirmed_by_id),
           "confirmed_at": _iso(ev.confirmed_at), "nonconformity": nc.code if nc else None,
           "nonconformity_id": ev.nonconformity_id, "lock_version": ev.lock_version}
    if full:
        out.update({"requirement": ev.requirement, "evidence": ev.evidence, "confirm_comment": ev.confirm_comment,
                    "history": history_json(session, service.SUBJECT, ev.id)})
    return out
