"""Evaluate every compliance obligation at its frequency, and again at once when its text changes.

Each obligation of the register has one ``compliance_evaluation_schedule`` process: a timer waits
until the next due date, a service starts one ``compliance_evaluation`` process and works out the
following due date from the obligation's *current* frequency (calendar months, so "monthly" stays
on the same day of the month). The owning department's head evaluates (compliant / non-compliant /
not applicable, with evidence), the management representative confirms or returns it; a confirmed
non-compliance raises a nonconformity (source ``compliance_evaluation``).

When an obligation's text (title, article or requirement) changes, e.g. a new revision of a law, a
re-evaluation starts at once (DB14/T 2970 §9.1.2) and an evaluation still open against the old
text is cancelled; a changed frequency re-plans the schedule from today.
"""
from __future__ import annotations

import hashlib
from datetime import date

from dateutil.relativedelta import relativedelta
from sqlmodel import Session, select

from cmsflow.auth.models import User
from cmsflow.compliance.models import RESULTS, TASK_STATUS, ComplianceEvaluation, ObligationSchedule
from cmsflow.core import signals
from cmsflow.core.clock import at_local
from cmsflow.core.db import utcnow
from cmsflow.core.errors import NotFound, PermissionDenied, ValidationError
from cmsflow.core.models import next_value
from cmsflow.core.runtime import config
from cmsflow.history import service as history
from cmsflow.nonconformities import service as nonconformities
from cmsflow.registers.models import ComplianceObligation
from cmsflow.workflow import service as workflow
from cmsflow.workflow import services, taskforms
from cmsflow.workflow.models import HumanTask

SUBJECT = "compliance_evaluation"
SCHEDULE_SUBJECT = "obligation_schedule"
PROCESS = "compliance_evaluation"
SCHEDULE_PROCESS = "compliance_evaluation_schedule"
OBLIGATION_SUBJECT = "reg:compliance_obligation"
# Register frequency -> period between evaluations. "continuous" obligations (e.g. emission limits
# monitored online) are evaluated monthly: an evaluation is a review of the monitoring, not the monitoring.
PERIODS = {"continuous": relativedelta(months=1), "daily": relativedelta(days=1),
           "monthly": relativedelta(months=1), "quarterly": relativedelta(months=3),
           "semiannual": relativedelta(months=6), "annual": relativedelta(years=1)}
CONFIRM_DECISIONS = {"confirm": "确认", "return": "退回重新评价"}


def text_hash(ob: ComplianceObligation) -> str:
    """SHA-256 of what the obligation requires (title, article, requirement): a change means re-evaluate."""
    text = "\n".join([ob.title or "", ob.article or "", ob.requirement or ""])
    return hashlib.sha256(text.encode()).hexdigest()


def next_due(after: date, frequency: str) -> date:
    """The due date one period of ``frequency`` after ``after``; ValueError for an unknown frequency."""
    if frequency not in PERIODS:
        raise ValueError(f"unknown evaluation frequency {frequency!r}")
    return after + PERIODS[frequency]


def timer_at(day: date) -> str:
    """ISO instant (with offset) of 08:00 local time on ``day``: when a due evaluation starts."""
    return at_local(day).isoformat()


def _durations() -> dict:
    cfg = config()
    return {"step_due_days": cfg["COMPLIANCE_STEP_DUE_DAYS"], "step_due": f"P{cfg['COMPLIANCE_STEP_DUE_DAYS']}D",
            "step_escalation": f"P{cfg['COMPLIANCE_STEP_DUE_DAYS'] * 2}D"}


# --- schedule -----------------------------------------------------------------------------------------

def schedule_for(session: Session, obligation_id: int) -> ObligationSchedule | None:
    return session.exec(select(ObligationSchedule).where(ObligationSchedule.obligation_id == obligation_id)).first()


def schedule_obligation(session: Session, ob: ComplianceObligation, first_due: date | None = None,
                        actor: User | None = None) -> ObligationSchedule:
    """Start (or restart) the evaluation schedule of ``ob``; the first evaluation is due one period
    from today unless ``first_due`` says otherwise."""
    sched = schedule_for(session, ob.id)
    due = first_due or next_due(date.today(), ob.evaluation_frequency)
    if sched is None:
        sched = ObligationSchedule(obligation_id=ob.id, next_due_on=due, requirement_sha256=text_hash(ob),
                                   frequency=ob.evaluation_frequency)
        session.add(sched)
        session.flush()
    elif sched.instance_id is not None:
        workflow.cancel_process(session, sched.instance_id, actor, "评价频次变更，重新排期")
    sched.next_due_on, sched.active, sched.updated_at = due, True, utcnow()
    sched.frequency = ob.evaluation_frequency
    inst = workflow.start_process(session, SCHEDULE_PROCESS, SCHEDULE_SUBJECT, sched.id, {
        "schedule_id": sched.id, "obligation_id": ob.id,
        "scheduled": {"next_evaluation_at": timer_at(due), "active": True}}, actor)
    sched.instance_id = inst.id
    return sched


@services.register("start_scheduled_evaluation")
def start_scheduled_evaluation(step, data: dict) -> dict:
    """BPMN timer service: start the evaluation due now and plan the next one from the current frequency.

    Returns ``{"active", "next_evaluation_at", "evaluation_id"}``; ``active`` False ends the schedule.
    Every due period gets its own evaluation: when the worker was down, the timer, already past, fires
    again at once for each missed period, so none is silently skipped.
    """
    session: Session = step.session
    sched = session.get(ObligationSchedule, data["schedule_id"])
    ob = session.get(ComplianceObligation, sched.obligation_id) if sched else None
    if sched is None or ob is None or not sched.active:
        return {"active": False, "next_evaluation_at": None, "evaluation_id": None}
    ev = start_evaluation(session, ob, "scheduled", sched.next_due_on, None)
    sched.frequency = ob.evaluation_frequency
    sched.next_due_on, sched.updated_at = next_due(sched.next_due_on, ob.evaluation_frequency), utcnow()
    return {"active": True, "next_evaluation_at": timer_at(sched.next_due_on), "evaluation_id": ev.id}


@signals.subject_changed.connect_via(OBLIGATION_SUBJECT)
def _obligation_changed(_sender, subject_id: int, session: Session, **_kw) -> None:
    """New obligation → schedule it; text revised → re-evaluate now; frequency changed → re-plan."""
    ob = session.get(ComplianceObligation, subject_id)
    if ob is None:
        return
    sched = schedule_for(session, ob.id)
    if sched is None:
        schedule_obligation(session, ob)
        return
    digest = text_hash(ob)
    if digest != sched.requirement_sha256:
        sched.requirement_sha256 = digest
        start_evaluation(session, ob, "text_changed", date.today(), None)
    if sched.frequency != ob.evaluation_frequency:
        schedule_obligation(session, ob, next_due(date.today(), ob.evaluation_frequency))


# --- evaluations ----------------------------------------------------------------------------------------

def open_evaluations(session: Session, obligation_id: int) -> list[ComplianceEvaluation]:
    return list(session.exec(select(ComplianceEvaluation).where(
        ComplianceEvaluation.obligation_id == obligation_id,
        ComplianceEvaluation.status.in_(("evaluating", "confirming")))))


def start_evaluation(session: Session, ob: ComplianceObligation, trigger: str, due_on: date,
                     actor: User | None) -> ComplianceEvaluation:
    """Start one evaluation of ``ob`` (due ``due_on``) against its current text.

    One evaluation per due period, so an evaluation of an earlier period may still be open; a text
    change (``text_changed``) cancels the open ones, which were made against the old text.
    """
    still_open = open_evaluations(session, ob.id) if trigger == "text_changed" else []
    for old in still_open:
        old.status, old.updated_at = "cancelled", utcnow()
        if old.instance_id:
            workflow.cancel_process(session, old.instance_id, actor, "合规义务内容已变更，按新内容重新评价")
    year = due_on.year
    ev = ComplianceEvaluation(code=f"CE-{year}-{next_value(session, f'ce:{year}'):04d}", obligation_id=ob.id,
                              department_id=ob.department_id, trigger=trigger, due_on=due_on,
                              obligation_title=ob.title, requirement=ob.requirement,
                              requirement_sha256=text_hash(ob))
    session.add(ev)
    session.flush()
    history.record(session, actor, "evaluation_started", SUBJECT, ev.id, code=ev.code, obligation=ob.id,
                   trigger=trigger)
    inst = workflow.start_process(session, PROCESS, SUBJECT, ev.id, {
        "evaluation_id": ev.id, "department_id": ob.department_id, **_durations()}, actor)
    ev.instance_id = inst.id
    _changed(session, ev)
    return ev


def start_manual(session: Session, actor: User, obligation_id: int) -> ComplianceEvaluation:
    """The management representative starts an evaluation now (besides any scheduled one still open).

    Raises PermissionDenied for other roles, NotFound for an unknown obligation."""
    if actor.role not in ("management_representative", "admin"):
        raise PermissionDenied("只有管理者代表可以发起合规性评价")
    ob = session.get(ComplianceObligation, obligation_id)
    if ob is None:
        raise NotFound("合规义务不存在")
    return start_evaluation(session, ob, "manual", date.today(), actor)


def get(session: Session, ev_id: int) -> ComplianceEvaluation:
    ev = session.get(ComplianceEvaluation, ev_id)
    if ev is None:
        raise NotFound("合规性评价不存在")
    return ev


def _changed(session: Session, ev: ComplianceEvaluation) -> None:
    ev.updated_at = utcnow()
    session.flush()
    signals.subject_changed.send(SUBJECT, subject_id=ev.id, session=session)


@signals.process_stepped.connect_via(PROCESS)
def _follow_process(_sender, instance, session: Session, **_kw) -> None:
    ev = session.get(ComplianceEvaluation, instance.subject_id)
    if workflow.follow_open_task(session, ev, SUBJECT, TASK_STATUS, ("closed", "cancelled")):
        _changed(session, ev)


@taskforms.register("compliance_evaluate")
def _evaluate(session: Session, task: HumanTask, user: User, sub: taskforms.Submission) -> dict:
    ev = get(session, task.subject_id)
    result = str(sub.data.get("result") or sub.decision or "").strip()
    evidence = str(sub.data.get("evidence") or "").strip()
    errors = {}
    if result not in RESULTS:
        errors["result"] = "请选择评价结果：合规、不合规或不适用"
    if not evidence:
        errors["evidence"] = "请填写评价依据和证据（监测数据、报告、许可证编号等）"
    if errors:
        raise ValidationError("；".join(errors.values()), code="evaluation_incomplete", details={"fields": errors})
    ev.result, ev.evidence, ev.evaluated_by_id, ev.evaluated_at = result, evidence, user.id, utcnow()
    ev.lock_version += 1
    history.record(session, user, "obligation_evaluated", SUBJECT, ev.id, result=result)
    _changed(session, ev)
    return {"evaluation_result": result}


@taskforms.register("compliance_confirm")
def _confirm(session: Session, task: HumanTask, user: User, sub: taskforms.Submission) -> dict:
    ev = get(session, task.subject_id)
    if sub.decision not in CONFIRM_DECISIONS:
        raise ValidationError("请选择确认（confirm）或退回（return）", code="decision_required")
    if sub.decision == "return" and not sub.comment.strip():
        raise ValidationError("退回时必须说明原因", code="comment_required", details={"fields": {"comment": "必填"}})
    ev.confirm_comment = sub.comment.strip() or None
    if sub.decision == "confirm":
        ev.confirmed_by_id, ev.confirmed_at = user.id, utcnow()
    ev.lock_version += 1
    _changed(session, ev)
    return {}


@services.register("raise_compliance_nonconformity")
def raise_compliance_nonconformity(step, data: dict) -> dict:
    """BPMN service: a confirmed non-compliance becomes a nonconformity of the owning department,
    raised in the name of the representative who confirmed it."""
    session: Session = step.session
    ev = session.get(ComplianceEvaluation, data["evaluation_id"])
    confirmer = session.get(User, ev.confirmed_by_id) if ev.confirmed_by_id else step.actor
    ob = session.get(ComplianceObligation, ev.obligation_id)
    nc = nonconformities.raise_nonconformity(
        session, confirmer, title=f"不符合合规义务：{ev.obligation_title}"[:200],
        description=f"合规性评价 {ev.code} 结论为不合规。\n义务：{ev.obligation_title}"
                    f"{'（' + ob.article + '）' if ob and ob.article else ''}\n要求：{ev.requirement}",
        evidence=ev.evidence or "", source="compliance_evaluation", department=ev.department_id,
        severity="major", clauses=["TCECAG:10.1.3"], source_ref=f"compliance_evaluation:{ev.id}")
    ev.nonconformity_id = nc.id
    _changed(session, ev)
    return {"nonconformity_id": nc.id, "code": nc.code}


@services.register("close_compliance_evaluation")
def close_compliance_evaluation(step, data: dict) -> dict:
    """BPMN service: the confirmed evaluation is closed (the record of DB14/T 2970 §9.1)."""
    session: Session = step.session
    ev = session.get(ComplianceEvaluation, data["evaluation_id"])
    ev.status = "closed"
    history.record(session, step.actor, "evaluation_closed", SUBJECT, ev.id, code=ev.code, result=ev.result)
    _changed(session, ev)
    return {"status": ev.status}


def complete_step(session: Session, ev: ComplianceEvaluation, user: User, step: str, *, decision=None,
                  comment: str = "", data: dict | None = None) -> HumanTask:
    """Complete the evaluation's open step (``evaluate_obligation`` or ``confirm_evaluation``)."""
    return workflow.complete_step(session, SUBJECT, ev.id, step, user, decision=decision, comment=comment,
                                  data=data)


# --- queries ---------------------------------------------------------------------------------------------

def query(session: Session, filters: dict | None = None) -> list[ComplianceEvaluation]:
    """Filter by status, result, obligation id, department id; newest first."""
    f = filters or {}
    q = select(ComplianceEvaluation)
    for name in ("status", "result", "trigger"):
        if f.get(name):
            q = q.where(getattr(ComplianceEvaluation, name) == f[name])
    if f.get("obligation"):
        q = q.where(ComplianceEvaluation.obligation_id == int(f["obligation"]))
    return list(session.exec(q.order_by(ComplianceEvaluation.id.desc())))


def due_overview(session: Session, horizon_days: int = 30) -> dict:
    """Obligations by evaluation state for the dashboard: ``{"overdue": [...], "due": [...]}`` where
    overdue = an open evaluation past its task deadline, due = next scheduled evaluation within
    ``horizon_days``. Each item ``{"obligation_id", "title", "date"}``."""
    today = date.today()
    late = {t.subject_id: t.due_at for t in session.exec(select(HumanTask).where(
        HumanTask.subject_type == SUBJECT, HumanTask.status == "open", HumanTask.due_at <= utcnow()))}
    overdue = []
    for ev in session.exec(select(ComplianceEvaluation).where(ComplianceEvaluation.id.in_(list(late) or [-1]))):
        overdue.append({"obligation_id": ev.obligation_id, "title": ev.obligation_title, "date": ev.due_on,
                        "evaluation_id": ev.id, "code": ev.code})
    due = []
    q = (select(ObligationSchedule, ComplianceObligation)
         .join(ComplianceObligation, ComplianceObligation.id == ObligationSchedule.obligation_id)
         .where(ObligationSchedule.active == True,  # noqa: E712
                ObligationSchedule.next_due_on <= today + relativedelta(days=horizon_days))
         .order_by(ObligationSchedule.next_due_on))
    for sched, ob in session.exec(q):
        due.append({"obligation_id": ob.id, "title": ob.title, "date": sched.next_due_on})
    return {"overdue": overdue, "due": due}
