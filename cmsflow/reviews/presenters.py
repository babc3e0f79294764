"""Management reviews and their actions as JSON."""
from __future__ import annotations

from datetime import date

from sqlmodel import Session, select

from cmsflow.auth import permissions
from cmsflow.nonconformities.models import Nonconformity
from cmsflow.nonconformities.presenters import history_json, username
from cmsflow.reviews import service
from cmsflow.reviews.models import ManagementReview, ReviewAction, ReviewSchedule
from cmsflow.search.backend import Entry
from cmsflow.search.service import register_provider
from cmsflow.workflow import service as workflow


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def action_json(session: Session, a: ReviewAction) -> dict:
    nc = session.get(Nonconformity, a.nonconformity_id) if a.nonconformity_id else None
    return {"id": a.id, "review_id": a.review_id, "seq": a.seq, "kind": a.kind, "description": a.description,
            "owner": username(session, a.owner_id), "due_on": a.due_on.isoformat(), "status": a.status,
            "overdue": a.status == "open" and a.due_on < date.today(),
            "nonconformity": nc.code if nc else None, "nonconformity_id": a.nonconformity_id,
            "completion_note": a.completion_note, "completed_at": _iso(a.completed_at)}


def review_json(session: Session, r: ManagementReview, *, full: bool = False) -> dict:
    task = workflow.open_task(session, service.SUBJECT, r.id)
    out = {"id": r.id, "code": r.code, "title": r.title, "status": r.status, "trigger": r.trigger,
           "period_start": r.period_start.isoformat(), "period_end": r.period_end.isoformat(),
           "planned_on": _iso(r.planned_on), "held_on": _iso(r.held_on),
           "current_step": task.name if task else None, "step_due_at": _iso(task.due_at) if task else None,
           "signed_by": username(session, r.signed_by_id), "signed_at": _iso(r.signed_at),
           "lock_version": r.lock_version}
    if full:
        out.update({
            "inputs": r.inputs, "inputs_gathered_at": _iso(r.inputs_gathered_at), "commentary": r.commentary,
            "attendees": r.attendees, "chair": username(session, r.chair_id),
            "outputs": {k: getattr(r, k) for k in ("suitability", "adequacy", "effectiveness", "conclusion",
                                                    "policy_changes", "objective_changes", "system_changes",
                                                    "improvement", "resource_needs")},
            "decisions": r.decisions,
            "actions": [action_json(session, a) for a in service.actions_of(session, r)],
            "files": {"input_report": f"/api/v1/management-reviews/{r.id}/input-report.docx"
                      if r.input_report_sha256 else None,
                      "minutes": f"/api/v1/management-reviews/{r.id}/minutes.docx"
                      if r.record_sha256 or r.minutes_sha256 else None,
                      "minutes_signed": bool(r.record_sha256)},
            "history": history_json(session, service.SUBJECT, r.id)})
    return out


def schedule_json(s: ReviewSchedule | None) -> dict | None:
    if s is None:
        return None
    return {"next_review_on": s.next_review_on.isoformat(), "interval_months": s.interval_months,
            "preparation_days": s.preparation_days, "active": s.active}


def _entry(session: Session, review_id: int) -> Entry | None:
    r = session.get(ManagementReview, review_id)
    if r is None:
        return None
    texts = [r.title, r.suitability, r.adequacy, r.effectiveness, r.conclusion, r.policy_changes,
             r.objective_changes, r.system_changes, r.improvement, r.resource_needs,
             " ".join(d["description"] for d in r.decisions), " ".join(r.commentary.values())]
    return Entry(key=f"management_review:{r.id}", type="management_review", id=r.id, title=f"管理评审：{r.title}",
                 code=r.code, body=" ".join(t for t in texts if t), url=f"/reviews/{r.id}",
                 visibility=permissions.review_visibility(a.owner_id for a in service.actions_of(session, r)))


register_provider(service.SUBJECT, _entry, lambda session: session.exec(select(ManagementReview.id)).all())
