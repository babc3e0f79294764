"""Management reviews as ``management_review.bpmn``: scheduled by the review cycle or started by hand.

The management representative prepares (inputs gathered from the records of the period, with a
commentary per input), top management holds the review and records the outputs (T/CECA-G §10.3.3
a–e), then signs the minutes. Signing turns each decision into a tracked action with owner and due
date (a corrective action is raised as a nonconformity) and files the signed minutes as a record.

The cycle (``management_review_schedule``) waits until ``preparation_days`` before the next planned
date, opens that review and plans the one after from the interval in months (calendar months, so
the date does not drift). Changing the schedule restarts the cycle.
"""
from __future__ import annotations

from datetime import date

from dateutil.relativedelta import relativedelta
from sqlmodel import Session, func, select

from cmsflow.auth import permissions
from cmsflow.auth.models import User
from cmsflow.core import signals
from cmsflow.core.clock import at_local
from cmsflow.core.db import utcnow
from cmsflow.core.errors import NotFound, PermissionDenied, ValidationError
from cmsflow.core.models import next_value
from cmsflow.core.runtime import config, file_store
from cmsflow.documents import templating
from cmsflow.history import service as history
from cmsflow.nonconformities import service as nonconformities
from cmsflow.nonconformities.service import find_user, parse_date
from cmsflow.reviews import inputs, reports
from cmsflow.reviews.models import ACTION_KINDS, TASK_STATUS, ManagementReview, ReviewAction, ReviewSchedule
from cmsflow.workflow import service as workflow
from cmsflow.workflow import services, taskforms
from cmsflow.workflow.models import HumanTask, Notification

SUBJECT = "management_review"
PROCESS = "management_review"
SCHEDULE_PROCESS = "management_review_schedule"
SCHEDULE_SUBJECT = "review_schedule"
MANAGE_ROLES = ("management_representative", "top_management", "admin")
OUTPUT_TEXTS = {"suitability": "体系的适宜性", "adequacy": "体系的充分性", "effectiveness": "体系的有效性",
                "conclusion": "总体结论"}
OPTIONAL_TEXTS = ("policy_changes", "objective_changes", "system_changes", "improvement", "resource_needs")


def _durations() -> dict:
    days = config()["REVIEW_STEP_DUE_DAYS"]
    return {"step_due_days": days, "step_due": f"P{days}D", "step_escalation": f"P{days * 2}D"}


def _date(raw, name: str, label: str, errors: dict) -> date | None:
    """A required date field: blank → "请填写…", malformed → the format message."""
    if raw in (None, "") or (isinstance(raw, str) and not raw.strip()):
        errors[name] = f"请填写{label}"
        return None
    return parse_date(raw, name, errors)


def _check_role(actor: User) -> None:
    if actor.role not in MANAGE_ROLES:
        raise PermissionDenied("只有管理者代表、最高管理者可以安排管理评审")


def get(session: Session, review_id: int, user: User | None = None) -> ManagementReview:
    """The review; with ``user``, only if they may see it (:func:`cmsflow.auth.permissions.review_condition`).
    Raises NotFound (the same for both)."""
    review = session.get(ManagementReview, review_id)
    if review is None or (user is not None and not permissions.may_see(
            session, user, ManagementReview, review.id, permissions.review_condition(user))):
        raise NotFound("管理评审不存在")
    return review


# --- starting a review ------------------------------------------------------------------------------

def create_review(session: Session, actor: User | None, *, period_start, period_end, planned_on=None,
                  title: str = "", trigger: str = "manual") -> ManagementReview:
    """Open a review of [period_start, period_end] (ISO strings or dates) and start its process.

    ``planned_on`` (meeting date) defaults to the day after the period. Raises ValidationError with
    ``details.fields`` for missing/invalid dates or a period ending before it starts, PermissionDenied
    unless the actor is the MR, top management or admin (``actor`` None: the schedule).
    """
    if actor is not None:
        _check_role(actor)
    errors: dict[str, str] = {}
    start = _date(period_start, "period_start", "评审期间的开始日期", errors)
    end = _date(period_end, "period_end", "评审期间的结束日期", errors)
    planned = parse_date(planned_on, "planned_on", errors) if planned_on else None
    if start and end and end < start:
        errors["period_end"] = "评审期间的结束日期早于开始日期"
    if errors:
        raise ValidationError("；".join(errors.values()), code="invalid_review", details={"fields": errors})
    planned = planned or end + relativedelta(days=1)
    code = f"MR-{planned.year}-{next_value(session, f'mr:{planned.year}'):02d}"
    review = ManagementReview(code=code, title=title.strip() or f"{planned.year} 年度管理评审",
                              period_start=start, period_end=end, planned_on=planned, trigger=trigger,
                              created_by_id=getattr(actor, "id", None))
    session.add(review)
    session.flush()
    history.record(session, actor, "review_opened", SUBJECT, review.id, code=code, trigger=trigger,
                   period=[start.isoformat(), end.isoformat()])
    inst = workflow.start_process(session, PROCESS, SUBJECT, review.id, {"review_id": review.id, **_durations()},
                                  actor)
    review.instance_id = inst.id
    _changed(session, review)
    return review


def _changed(session: Session, review: ManagementReview) -> None:
    review.updated_at = utcnow()
    session.flush()
    signals.subject_changed.send(SUBJECT, subject_id=review.id, session=session)


@services.register("gather_review_inputs")
def gather_review_inputs(step, data: dict) -> dict:
    """BPMN service: snapshot the inputs from the records of the review period."""
    review = step.session.get(ManagementReview, data["review_id"])
    _gather(step.session, review)
    return {"sections": len(review.inputs.get("sections", []))}


def _gather(session: Session, review: ManagementReview) -> None:
    review.inputs = inputs.gather(session, review.period_start, review.period_end, review)
    review.inputs_gathered_at = utcnow()
    _changed(session, review)


def refresh_inputs(session: Session, actor: User, review: ManagementReview) -> ManagementReview:
    """Gather the inputs again (records changed since); only while the MR prepares the review."""
    if actor.role not in ("management_representative", "admin"):
        raise PermissionDenied("只有管理者代表可以更新评审输入")
    if review.status != "preparing":
        raise ValidationError("评审输入只能在准备阶段更新", code="not_preparing")
    _gather(session, review)
    history.record(session, actor, "review_inputs_refreshed", SUBJECT, review.id)
    return review


@signals.process_stepped.connect_via(PROCESS)
def _follow_process(_sender, instance, session: Session, **_kw) -> None:
    review = session.get(ManagementReview, instance.subject_id)
    if workflow.follow_open_task(session, review, SUBJECT, TASK_STATUS, ("closed",)):
        _changed(session, review)


# --- the schedule (review cycle) -------------------------------------------------------------------------

def current_schedule(session: Session) -> ReviewSchedule | None:
    return session.exec(select(ReviewSchedule).order_by(ReviewSchedule.id.desc())).first()


def set_schedule(session: Session, actor: User, *, next_review_on, interval_months=None,
                 preparation_days=None) -> ReviewSchedule:
    """Plan the review cycle: next review date, interval in months (1–36), preparation lead in days.

    Restarts the ``management_review_schedule`` process. Raises ValidationError for a date in the
    past or out-of-range numbers, PermissionDenied unless MR/top management/admin.
    """
    _check_role(actor)
    errors: dict[str, str] = {}
    nxt = _date(next_review_on, "next_review_on", "下次管理评审日期", errors)
    months = _int(interval_months, config()["REVIEW_INTERVAL_MONTHS"], 1, 36, "interval_months", errors)
    lead = _int(preparation_days, config()["REVIEW_PREPARATION_DAYS"], 0, 180, "preparation_days", errors)
    if nxt is not None and nxt < date.today():
        errors["next_review_on"] = "下次管理评审日期不能早于今天"
    if errors:
        raise ValidationError("；".join(errors.values()), code="invalid_schedule", details={"fields": errors})
    sched = current_schedule(session)
    if sched is None:
        sched = ReviewSchedule(next_review_on=nxt)
        session.add(sched)
    elif sched.instance_id is not None:
        workflow.cancel_process(session, sched.instance_id, actor, "管理评审计划已调整")
    sched.next_review_on, sched.interval_months, sched.preparation_days = nxt, months, lead
    sched.active, sched.updated_by_id, sched.updated_at = True, actor.id, utcnow()
    session.flush()
    inst = workflow.start_process(session, SCHEDULE_PROCESS, SCHEDULE_SUBJECT, sched.id, {
        "schedule_id": sched.id,
        "scheduled": {"next_review_at": at_local(nxt - relativedelta(days=lead)).isoformat(), "active": True}}, actor)
    sched.instance_id = inst.id
    history.record(session, actor, "review_schedule_set", SCHEDULE_SUBJECT, sched.id,
                   next_review_on=nxt.isoformat(), interval_months=months, preparation_days=lead)
    return sched


def _int(raw, default: int, low: int, high: int, name: str, errors: dict) -> int:
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        errors[name] = f"{name} 必须是整数"
        return default
    if not low <= value <= high:
        errors[name] = f"{name} 须在 {low}–{high} 之间"
    return value


@services.register("start_scheduled_review")
def start_scheduled_review(step, data: dict) -> dict:
    """BPMN timer service: open the review planned on ``next_review_on`` (period: from the end of the
    last review, or one interval back) and plan the next one an interval later.

    Returns ``{"active", "next_review_at", "review_id"}``; ``active`` False ends the cycle.
    """
    session: Session = step.session
    sched = session.get(ReviewSchedule, data["schedule_id"])
    if sched is None or not sched.active:
        return {"active": False, "next_review_at": None, "review_id": None}
    planned = sched.next_review_on
    last = session.exec(select(func.max(ManagementReview.period_end))).one()
    start = last + relativedelta(days=1) if last and last < planned else planned - relativedelta(
        months=sched.interval_months)
    review = create_review(session, None, period_start=start, period_end=planned - relativedelta(days=1),
                           planned_on=planned, trigger="scheduled")
    nxt = planned + relativedelta(months=sched.interval_months)
    while nxt - relativedelta(days=sched.preparation_days) <= date.today():
        nxt += relativedelta(months=sched.interval_months)
    sched.next_review_on, sched.updated_at = nxt, utcnow()
    return {"active": True, "next_review_at": at_local(nxt - relativedelta(days=sched.preparation_days)).isoformat(),
            "review_id": review.id}


# --- task forms --------------------------------------------------------------------------------------

def _review_of(session: Session, task: HumanTask) -> ManagementReview:
    review = get(session, task.subject_id)
    review.lock_version += 1
    return review


def _names(value) -> list[str]:
    items = value if isinstance(value, list) else str(value or "").replace("，", ",").replace("、", ",").split(",")
    return [str(v).strip() for v in items if str(v).strip()]


@taskforms.register("review_prepare")
def _prepare(session: Session, task: HumanTask, user: User, sub: taskforms.Submission) -> dict:
    """MR: commentary per input (``commentary`` {section key: text}), attendees, meeting date."""
    review = _review_of(session, task)
    errors: dict[str, str] = {}
    keys = {s["key"] for s in review.inputs.get("sections", [])}
    raw = sub.data.get("commentary") or {}
    if not isinstance(raw, dict):
        raise ValidationError("commentary 必须是对象（评审输入 → 评价）", code="invalid_json")
    unknown = set(raw) - keys
    if unknown:
        errors["commentary"] = f"未知的评审输入：{'、'.join(sorted(unknown))}"
    planned = parse_date(sub.data.get("planned_on"), "planned_on", errors) if sub.data.get("planned_on") else None
    if errors:
        raise ValidationError("；".join(errors.values()), code="invalid_preparation", details={"fields": errors})
    review.commentary = {k: str(v).strip() for k, v in raw.items() if str(v or "").strip()}
    review.attendees = _names(sub.data.get("attendees")) or review.attendees
    review.planned_on = planned or review.planned_on
    review.input_report_sha256 = file_store().put(session, reports.render_inputs(session, review, user),
                                                  templating.DOCX_MIME)
    history.record(session, user, "review_inputs_prepared", SUBJECT, review.id, sha256=review.input_report_sha256)
    _changed(session, review)
    return {}


def _clean_decision(session: Session, i: int, raw, held_on: date | None, errors: dict) -> dict | None:
    if not isinstance(raw, dict):
        errors[f"decisions.{i}"] = "每项决定必须是对象"
        return None
    kind, text = str(raw.get("kind") or ""), str(raw.get("description") or "").strip()
    if kind not in ACTION_KINDS:
        errors[f"decisions.{i}.kind"] = f"第 {i + 1} 项：类别须为 {'、'.join(ACTION_KINDS)}"
    if not text:
        errors[f"decisions.{i}.description"] = f"第 {i + 1} 项：请填写决定/措施内容"
    owner = None
    try:
        owner = find_user(session, raw.get("owner"), f"第 {i + 1} 项责任人") if raw.get("owner") else None
    except ValidationError as exc:
        errors[f"decisions.{i}.owner"] = exc.message
    if owner is None and f"decisions.{i}.owner" not in errors:
        errors[f"decisions.{i}.owner"] = f"第 {i + 1} 项：请指定责任人"
    elif owner is not None and kind == "corrective" and owner.department_id is None:
        errors[f"decisions.{i}.owner"] = f"第 {i + 1} 项：纠正措施的责任人须属于某个部门"
    due = _date(raw.get("due_on"), f"decisions.{i}.due_on", f"第 {i + 1} 项的完成期限", errors)
    if due is not None and held_on is not None and due < held_on:
        errors[f"decisions.{i}.due_on"] = f"第 {i + 1} 项：完成期限早于评审日期"
    if owner is None or due is None or kind not in ACTION_KINDS or not text:
        return None
    return {"kind": kind, "description": text, "owner_id": owner.id, "department_id": owner.department_id,
            "due_on": due.isoformat()}


@taskforms.register("review_outputs")
def _outputs(session: Session, task: HumanTask, user: User, sub: taskforms.Submission) -> dict:
    """Top management: decision ``record`` (outputs below) or ``return`` (to the MR, comment required)."""
    review = _review_of(session, task)
    if sub.decision not in ("record", "return"):
        raise ValidationError("请选择记录评审输出（record）或退回补充输入（return）", code="decision_required")
    if sub.decision == "return":
        if not sub.comment.strip():
            raise ValidationError("退回时必须说明需补充的输入", code="comment_required",
                                  details={"fields": {"comment": "必填"}})
        return {}
    d, errors = sub.data, {}
    texts = {k: str(d.get(k) or "").strip() for k in (*OUTPUT_TEXTS, *OPTIONAL_TEXTS)}
    for k, label in OUTPUT_TEXTS.items():
        if not texts[k]:
            errors[k] = f"请填写{label}的评价"
    held = parse_date(d.get("held_on"), "held_on", errors) if d.get("held_on") else date.today()
    if held and held > date.today():
        errors["held_on"] = "评审日期不能晚于今天"
    raw = d.get("decisions") or []
    if not isinstance(raw, list):
        raise ValidationError("decisions 必须是数组", code="invalid_json")
    decisions = [x for x in (_clean_decision(session, i, r, held, errors) for i, r in enumerate(raw)) if x]
    if errors:
        raise ValidationError("评审输出不完整：" + "；".join(errors.values()), code="invalid_outputs",
                              details={"fields": errors})
    for k, v in texts.items():
        setattr(review, k, v or None)
    review.held_on, review.chair_id, review.decisions = held, user.id, decisions
    review.attendees = _names(d.get("attendees")) or review.attendees
    review.minutes_sha256 = file_store().put(session, reports.render_minutes(session, review), templating.DOCX_MIME)
    history.record(session, user, "review_outputs_recorded", SUBJECT, review.id, decisions=len(decisions))
    _changed(session, review)
    return {}


@services.register("draft_review_minutes")
def draft_review_minutes(step, data: dict) -> dict:
    """BPMN service: the outputs are recorded; top management is asked to sign the draft minutes."""
    review = step.session.get(ManagementReview, data["review_id"])
    return {"decisions": len(review.decisions), "minutes": review.minutes_sha256}


@services.register("issue_review_minutes")
def issue_review_minutes(step, data: dict) -> dict:
    """BPMN service: after signature, each decision becomes a tracked action (a corrective action is
    raised as a nonconformity of the owner's department) and the signed minutes are filed as a
    controlled record; owners are notified."""
    session: Session = step.session
    review = session.get(ManagementReview, data["review_id"])
    signer = session.get(User, data.get("last_actor_id")) if data.get("last_actor_id") else step.actor
    for seq, d in enumerate(review.decisions, start=1):
        action = ReviewAction(review_id=review.id, seq=seq, kind=d["kind"], description=d["description"],
                              owner_id=d["owner_id"], department_id=d.get("department_id"),
                              due_on=date.fromisoformat(d["due_on"]))
        if d["kind"] == "corrective":
            nc = nonconformities.raise_nonconformity(
                session, signer, title=d["description"][:200], source="management_review",
                description=f"管理评审 {review.code} 决定采取纠正措施：{d['description']}",
                department=d["department_id"], source_ref=f"management_review:{review.id}:{seq}")
            action.nonconformity_id = nc.id
        session.add(action)
        session.add(Notification(user_id=d["owner_id"], kind="review_action", subject_type=SUBJECT,
                                 subject_id=review.id,
                                 message=f"管理评审 {review.code} 措施：{d['description']}（期限 {d['due_on']}）"))
    review.signed_by_id, review.signed_at = getattr(signer, "id", None), utcnow()
    session.flush()
    minutes = reports.render_minutes(session, review, signed_by=signer)
    review.record_sha256 = file_store().put(session, templating.stamp(
        minutes, code=review.code, version=1, effective_date=date.today().isoformat(),
        approver=signer.display_name if signer else ""), templating.DOCX_MIME)
    review.status, review.closed_at = "closed", utcnow()
    history.record(session, signer, "review_minutes_issued", SUBJECT, review.id, sha256=review.record_sha256,
                   actions=len(review.decisions))
    _changed(session, review)
    return {"actions": len(review.decisions)}


def complete_step(session: Session, review: ManagementReview, user: User, step: str, **kwargs) -> HumanTask:
    """Complete the review's open step (``prepare_review``, ``hold_review`` or ``sign_minutes``)."""
    return workflow.complete_step(session, SUBJECT, review.id, step, user, **kwargs)


# --- actions ----------------------------------------------------------------------------------------------

def actions_of(session: Session, review: ManagementReview) -> list[ReviewAction]:
    return list(session.exec(select(ReviewAction).where(ReviewAction.review_id == review.id)
                             .order_by(ReviewAction.seq)))


def complete_action(session: Session, actor: User, action_id: int, note: str) -> ReviewAction:
    """The owner (or the MR) reports an action done with a note of what was done.

    A corrective action is done when its nonconformity is closed. Raises NotFound, PermissionDenied,
    ValidationError (no note, nonconformity still open, action not open).
    """
    action = session.get(ReviewAction, action_id)
    if action is None:
        raise NotFound("管理评审措施不存在")
    if actor.id != action.owner_id and actor.role not in ("management_representative", "admin"):
        raise PermissionDenied("只有责任人或管理者代表可以完成此措施")
    if action.status != "open":
        raise ValidationError("此措施已完成或已取消", code="action_not_open")
    if not str(note or "").strip():
        raise ValidationError("请说明完成情况", code="note_required", details={"fields": {"note": "必填"}})
    if action.nonconformity_id:
        nc = nonconformities.get(session, action.nonconformity_id)
        if nc.status not in ("closed", "withdrawn"):
            raise ValidationError(f"纠正措施对应的不符合项 {nc.code} 尚未关闭", code="nonconformity_open")
    action.status, action.completion_note = "done", str(note).strip()
    action.completed_at, action.completed_by_id = utcnow(), actor.id
    history.record(session, actor, "review_action_done", SUBJECT, action.review_id, seq=action.seq)
    return action


def open_actions(session: Session, user: User | None = None, viewer: User | None = None) -> list[ReviewAction]:
    """Open actions (of ``user`` when given), earliest due first; with ``viewer``, only the actions of reviews
    the viewer may open (:func:`cmsflow.auth.permissions.review_condition`: the same rule as the review page)."""
    q = select(ReviewAction).where(ReviewAction.status == "open")
    if user is not None:
        q = q.where(ReviewAction.owner_id == user.id)
    condition = permissions.review_condition(viewer) if viewer is not None else None
    if condition is not None:
        q = q.where(ReviewAction.review_id.in_(select(ManagementReview.id).where(condition)))
    return list(session.exec(q.order_by(ReviewAction.due_on)))


def remind_overdue_actions(session: Session, today: date | None = None) -> int:
    """Worker: notify the owner and the management representatives, once, of each open action past its
    due date; returns the number of actions reminded."""
    today = today or date.today()
    rows = session.exec(select(ReviewAction).where(ReviewAction.status == "open", ReviewAction.due_on < today,
                                                   ReviewAction.overdue_notified_at.is_(None))).all()
    reps = [u.id for u in session.exec(select(User).where(User.role == "management_representative",
                                                          User.active == True))]  # noqa: E712
    for action in rows:
        review = session.get(ManagementReview, action.review_id)
        for user_id in {action.owner_id, *reps}:
            session.add(Notification(user_id=user_id, kind="overdue", subject_type=SUBJECT, subject_id=review.id,
                                     message=f"逾期：管理评审 {review.code} 措施「{action.description}」"
                                             f"已超过完成期限 {action.due_on}"))
        action.overdue_notified_at = utcnow()
    return len(rows)
