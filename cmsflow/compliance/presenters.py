"""Compliance evaluations as JSON."""
from __future__ import annotations

from sqlmodel import Session, select

from cmsflow.auth import permissions
from cmsflow.auth.models import Department
from cmsflow.compliance import service
from cmsflow.compliance.models import ComplianceEvaluation
from cmsflow.nonconformities.models import Nonconformity
from cmsflow.nonconformities.presenters import history_json, username
from cmsflow.search.backend import Entry
from cmsflow.search.service import register_provider
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


def _entry(session: Session, ev_id: int) -> Entry | None:
    ev = session.get(ComplianceEvaluation, ev_id)
    if ev is None:
        return None
    body = " ".join(t for t in (ev.requirement, ev.evidence, ev.confirm_comment) if t)
    return Entry(key=f"compliance_evaluation:{ev.id}", type="compliance_evaluation", id=ev.id,
                 title=f"合规性评价：{ev.obligation_title}", code=ev.code, body=body, url=f"/compliance/{ev.id}",
                 visibility=permissions.SYSTEM_VISIBILITY)


register_provider(service.SUBJECT, _entry, lambda session: session.exec(select(ComplianceEvaluation.id)).all())
