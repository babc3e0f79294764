"""Raise nonconformities from any source and run them through ``corrective_action.bpmn``.

Each step of the process is a task form handled here: the handler checks the input, writes the
nonconformity's records and returns the variables the process needs. Status follows the open task
(``process_stepped`` signal), so timers fired by the worker keep it right too.
"""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from cmsflow.auth import permissions
from cmsflow.auth.models import Department, User
from cmsflow.auth.service import department_by_code, users_in_role
from cmsflow.core import signals
from cmsflow.core.clock import local_date
from cmsflow.core.db import utcnow
from cmsflow.core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from cmsflow.core.models import next_value
from cmsflow.core.runtime import config
from cmsflow.documents.models import Document
from cmsflow.history import service as history
from cmsflow.nonconformities.models import (
    CAUSE_CATEGORIES,
    OPEN_STATUSES,
    SEVERITIES,
    SOURCES,
    TASK_STATUS,
    CorrectiveActionItem,
    Nonconformity,
    NonconformityClause,
)
from cmsflow.standards.service import validate_refs
from cmsflow.workflow import service as workflow
from cmsflow.workflow import services, taskforms
from cmsflow.workflow.models import HumanTask

SUBJECT = "nonconformity"
PROCESS = "corrective_action"
RAISE_ROLES = ("management_representative", "internal_auditor", "department_head", "top_management",
               "staff", "admin")


def _text(value, label: str, errors: dict, name: str, required: bool = True) -> str:
    out = str(value or "").strip()
    if required and not out:
        errors[name] = f"请填写{label}"
    return out


def find_user(session: Session, ref, label: str = "用户") -> User:
    """A user by id or username; raises ValidationError naming the field when unknown or inactive."""
    user = None
    if isinstance(ref, int) or (isinstance(ref, str) and ref.strip().isdigit()):
        user = session.get(User, int(ref))
    elif isinstance(ref, str) and ref.strip():
        user = session.exec(select(User).where(User.username == ref.strip())).first()
    if user is None or not user.active:
        raise ValidationError(f"{label}「{ref}」不存在或已停用", code="unknown_user")
    return user


def _department(session: Session, ref) -> Department:
    if isinstance(ref, int):
        dept = session.get(Department, ref)
        if dept is None:
            raise ValidationError(f"部门 {ref} 不存在", code="unknown_department")
        return dept
    try:
        return department_by_code(session, str(ref or ""))
    except NotFound as exc:
        raise ValidationError(exc.message, code="unknown_department") from exc


def _durations() -> dict:
    cfg = config()
    return {"step_due_days": cfg["CA_STEP_DUE_DAYS"], "step_due": f"P{cfg['CA_STEP_DUE_DAYS']}D",
            "step_escalation": f"P{cfg['CA_STEP_ESCALATION_DAYS']}D",
            "verification_wait": f"P{cfg['CA_VERIFICATION_WAIT_DAYS']}D"}


def raise_nonconformity(session: Session, actor: User, *, title: str, description: str, source: str,
                        department, severity: str = "minor", clauses: list | None = None, evidence: str = "",
                        source_ref: str | None = None, verifier=None, raised_on: date | None = None
                        ) -> Nonconformity:
    """Record a nonconformity and start its corrective-action process.

    ``department`` is a department code or id; ``clauses`` refs like ``DB44T1944:7.5`` (checked
    against the clause library); ``verifier`` a username/id (default: the raiser when they are an
    internal auditor or the management representative, else any management representative).
    Raises ValidationError with ``details.fields`` for every invalid field.
    """
    errors: dict[str, str] = {}
    title = _text(title, "标题", errors, "title")
    description = _text(description, "不符合事实描述", errors, "description")
    if source not in SOURCES:
        errors["source"] = f"来源须为：{'、'.join(SOURCES)}"
    if severity not in SEVERITIES:
        errors["severity"] = "严重程度须为 minor（一般）或 major（严重）"
    refs: list[str] = []
    try:
        refs = validate_refs(clauses or [])
    except ValidationError as exc:
        errors["clauses"] = exc.message
    dept = None
    try:
        dept = _department(session, department)
    except ValidationError as exc:
        errors["department"] = exc.message
    if errors:
        raise ValidationError("不符合项信息不完整：" + "；".join(errors.values()), code="invalid_nonconformity",
                              details={"fields": errors})
    if actor.role not in RAISE_ROLES:
        raise PermissionDenied("无权提出不符合项")
    verifier_user = find_user(session, verifier, "验证人") if verifier else (
        actor if actor.role in ("internal_auditor", "management_representative") else None)
    raised_on = raised_on or date.today()
    nc = Nonconformity(code=_next_code(session, raised_on.year), title=title, description=description,
                       evidence=str(evidence or "").strip(), source=source, source_ref=source_ref,
                       severity=severity, department_id=dept.id, raised_by_id=actor.id, raised_on=raised_on,
                       verifier_id=verifier_user.id if verifier_user else None)
    session.add(nc)
    session.flush()
    for ref in refs:
        session.add(NonconformityClause(nonconformity_id=nc.id, clause=ref))
    history.record(session, actor, "nonconformity_raised", SUBJECT, nc.id, code=nc.code, source=source,
                   department=dept.code, severity=severity, clauses=refs)
    inst = workflow.start_process(session, PROCESS, SUBJECT, nc.id, {
        "nonconformity_id": nc.id, "code": nc.code, "department_id": dept.id,
        "verifier_id": nc.verifier_id, **_durations()}, actor)
    nc.instance_id = inst.id
    _changed(session, nc)
    return nc


def _next_code(session: Session, year: int) -> str:
    return f"NC-{year}-{next_value(session, f'nc:{year}'):03d}"


def _changed(session: Session, nc: Nonconformity) -> None:
    nc.updated_at = utcnow()
    session.flush()
    signals.subject_changed.send(SUBJECT, subject_id=nc.id, session=session)


def get(session: Session, nc_id: int, user: User | None = None) -> Nonconformity:
    """The nonconformity; with ``user``, only if they may see it
    (:func:`cmsflow.auth.permissions.nonconformity_condition`). Raises NotFound (the same for both)."""
    nc = session.get(Nonconformity, nc_id)
    if nc is None or (user is not None and not permissions.may_see(
            session, user, Nonconformity, nc.id, permissions.nonconformity_condition(user))):
        raise NotFound("不符合项不存在")
    return nc


def clauses_of(session: Session, nc: Nonconformity) -> list[str]:
    return list(session.exec(select(NonconformityClause.clause)
                             .where(NonconformityClause.nonconformity_id == nc.id)
                             .order_by(NonconformityClause.clause)))


def actions_of(session: Session, nc: Nonconformity, cycle: int | None = None) -> list[CorrectiveActionItem]:
    q = select(CorrectiveActionItem).where(CorrectiveActionItem.nonconformity_id == nc.id)
    if cycle is not None:
        q = q.where(CorrectiveActionItem.cycle == cycle)
    return list(session.exec(q.order_by(CorrectiveActionItem.cycle, CorrectiveActionItem.seq)))


def open_task(session: Session, nc: Nonconformity) -> HumanTask | None:
    return workflow.open_task(session, SUBJECT, nc.id)


# --- status follows the process ------------------------------------------------------------------

@signals.process_stepped.connect_via(PROCESS)
def _follow_process(_sender, instance, session: Session, **_kw) -> None:
    nc = session.get(Nonconformity, instance.subject_id)
    if nc is None or nc.status in ("closed", "withdrawn"):
        return
    task = open_task(session, nc)
    status = TASK_STATUS.get(task.name, nc.status) if task else (
        "awaiting_verification" if instance.status == "running" else nc.status)
    if status != nc.status:
        nc.status = status
        _changed(session, nc)


@services.register("close_nonconformity")
def close_nonconformity(step, data: dict, outcome: str) -> dict:
    """BPMN service: the case ends ``closed`` (verified effective) or ``withdrawn`` (dispute upheld)."""
    nc = step.session.get(Nonconformity, data["nonconformity_id"])
    nc.status, nc.closed_at = ("closed" if outcome == "closed" else "withdrawn"), utcnow()
    history.record(step.session, step.actor, f"nonconformity_{nc.status}", SUBJECT, nc.id, code=nc.code)
    _changed(step.session, nc)
    return {"status": nc.status}


# --- task forms ------------------------------------------------------------------------------------

def _nc_of(session: Session, task: HumanTask) -> Nonconformity:
    nc = get(session, task.subject_id)
    nc.lock_version += 1
    return nc


def _choose(decision, allowed: dict) -> str:
    if decision not in allowed:
        raise ValidationError("请选择：" + "、".join(f"{k}（{v}）" for k, v in allowed.items()),
                              code="decision_required")
    return decision


@taskforms.register("nc_accept")
def _accept(session: Session, task: HumanTask, user: User, sub: taskforms.Submission) -> dict:
    decision = _choose(sub.decision, {"accept": "确认", "dispute": "有异议"})
    nc = _nc_of(session, task)
    if decision == "dispute":
        if not sub.comment.strip():
            raise ValidationError("提出异议时须说明理由", code="comment_required")
        nc.dispute_reason = sub.comment.strip()
        return {}
    owner = find_user(session, sub.data["owner"], "整改责任人") if sub.data.get("owner") else user
    if owner.department_id != nc.department_id:
        raise ValidationError("整改责任人须为责任部门人员", code="owner_not_in_department")
    nc.owner_id = owner.id
    return {"owner_id": owner.id}


@taskforms.register("nc_dispute")
def _dispute(session: Session, task: HumanTask, _user: User, sub: taskforms.Submission) -> dict:
    decision = _choose(sub.decision, {"uphold": "维持不符合", "withdraw": "撤销不符合"})
    if not sub.comment.strip():
        raise ValidationError("裁定须说明理由", code="comment_required")
    if decision == "withdraw":
        return {}
    nc = _nc_of(session, task)
    heads = users_in_role(session, "department_head", nc.department_id)
    owner = find_user(session, sub.data["owner"], "整改责任人") if sub.data.get("owner") else (
        heads[0] if heads else None)
    if owner is None:
        raise ValidationError("责任部门没有负责人，请指定整改责任人（owner）", code="owner_required")
    nc.owner_id = owner.id
    return {"owner_id": owner.id}


@taskforms.register("nc_correction")
def _correction(session: Session, task: HumanTask, _user: User, sub: taskforms.Submission) -> dict:
    errors: dict[str, str] = {}
    correction = _text(sub.data.get("correction"), "纠正（已采取的处置）", errors, "correction")
    _raise_if(errors)
    nc = _nc_of(session, task)
    nc.correction = correction
    nc.consequences = str(sub.data.get("consequences") or "").strip() or None
    return {}


def _raise_if(errors: dict) -> None:
    if errors:
        raise ValidationError("；".join(errors.values()), code="invalid_step", details={"fields": errors})


def _str_list(value) -> list[str]:
    items = value.splitlines() if isinstance(value, str) else list(value or [])
    return [str(x).strip() for x in items if str(x).strip()]


def _flag(value) -> bool | None:
    if value in (True, "true", "1", "yes", "on", 1):
        return True
    if value in (False, "false", "0", "no", 0):
        return False
    return None


@taskforms.register("nc_cause")
def _cause(session: Session, task: HumanTask, _user: User, sub: taskforms.Submission) -> dict:
    d, errors = sub.data, {}
    whys, categories = _str_list(d.get("whys")), _str_list(d.get("cause_categories"))
    unknown = [c for c in categories if c not in CAUSE_CATEGORIES]
    if unknown:
        errors["cause_categories"] = f"未知的原因类别：{'、'.join(unknown)}"
    if not whys and not categories:
        errors["whys"] = "请用 5 个为什么或原因类别（人、机、料、法、环、测）分析原因"
    root = _text(d.get("root_cause"), "根本原因", errors, "root_cause")
    similar = _text(d.get("similar_check"), "类似不符合排查结果", errors, "similar_check")
    change = _flag(d.get("system_change_needed"))
    if change is None:
        errors["system_change_needed"] = "请说明是否需要变更管理体系"
    doc = _system_change_document(session, d.get("system_change_document"), errors)
    _raise_if(errors)
    nc = _nc_of(session, task)
    nc.whys, nc.cause_categories, nc.root_cause = whys, categories, root
    nc.similar_check, nc.similar_found = similar, bool(_flag(d.get("similar_found")))
    nc.system_change_needed = change
    nc.system_change_note = str(d.get("system_change_note") or "").strip() or None
    nc.system_change_document_id = doc.id if doc else None
    return {}


def _system_change_document(session: Session, ref, errors: dict) -> Document | None:
    if not ref:
        return None
    doc = session.exec(select(Document).where(Document.code == str(ref).strip())).first()
    if doc is None and str(ref).isdigit():
        doc = session.get(Document, int(ref))
    if doc is None:
        errors["system_change_document"] = f"文件 {ref} 不存在"
    return doc


def parse_date(raw, field: str, errors: dict) -> date | None:
    """A date or ISO string → date; on failure records a message under ``errors[field]`` and returns None."""
    try:
        return raw if isinstance(raw, date) else date.fromisoformat(str(raw or "").strip())
    except ValueError:
        errors[field] = f"日期格式应为 YYYY-MM-DD，而不是「{raw}」"
        return None


def _clean_action(session: Session, i: int, raw, errors: dict) -> dict | None:
    if not isinstance(raw, dict):
        errors[f"actions[{i}]"] = "每项措施须为对象 {description, owner, due_date}"
        return None
    desc = _text(raw.get("description"), f"第 {i + 1} 项措施内容", errors, f"actions[{i}].description")
    due = parse_date(raw.get("due_date"), f"actions[{i}].due_date", errors)
    if due and due < date.today():
        errors[f"actions[{i}].due_date"] = f"第 {i + 1} 项措施的完成期限不能早于今天"
    try:
        owner = find_user(session, raw.get("owner"), f"第 {i + 1} 项措施责任人")
    except ValidationError as exc:
        errors[f"actions[{i}].owner"] = exc.message
        owner = None
    return {"description": desc, "due_date": due, "owner_id": owner.id if owner else None}


@taskforms.register("nc_plan")
def _plan(session: Session, task: HumanTask, _user: User, sub: taskforms.Submission) -> dict:
    raw = sub.data.get("actions")
    errors: dict[str, str] = {}
    if not isinstance(raw, list) or not raw:
        errors["actions"] = "请至少制定一项纠正措施（内容、责任人、完成期限）"
        raw = []
    cleaned = [_clean_action(session, i, item, errors) for i, item in enumerate(raw)]
    _raise_if(errors)
    nc = _nc_of(session, task)
    for old in actions_of(session, nc, nc.cycle):
        session.delete(old)
    for seq, item in enumerate(cleaned, start=1):
        session.add(CorrectiveActionItem(nonconformity_id=nc.id, cycle=nc.cycle, seq=seq, **item))
    return {}


@taskforms.register("nc_implement")
def _implement(session: Session, task: HumanTask, user: User, sub: taskforms.Submission) -> dict:
    nc = _nc_of(session, task)
    given = {int(a["id"]): str(a.get("evidence") or "").strip()
             for a in sub.data.get("actions") or [] if isinstance(a, dict) and str(a.get("id", "")).isdigit()}
    missing = []
    for action in actions_of(session, nc, nc.cycle):
        evidence = given.get(action.id) or action.evidence
        if not evidence:
            missing.append(f"第 {action.seq} 项")
            continue
        if action.status != "done" or given.get(action.id):
            action.evidence, action.status = evidence, "done"
            action.completed_at, action.completed_by_id = utcnow(), user.id
    if missing:
        raise ValidationError(f"以下措施缺少实施证据：{'、'.join(missing)}", code="evidence_required",
                              details={"fields": {"actions": "、".join(missing)}})
    nc.implementer_id = user.id
    nc.verification_from = utcnow() + timedelta(days=config()["CA_VERIFICATION_WAIT_DAYS"])
    # An implementer never verifies their own action: route to the management representative instead.
    verifier = nc.verifier_id if nc.verifier_id != user.id else None
    return {"implementer_id": user.id, "verifier_id": verifier}


@taskforms.register("nc_verify")
def _verify(session: Session, task: HumanTask, user: User, sub: taskforms.Submission) -> dict:
    nc = _nc_of(session, task)
    if user.id == nc.implementer_id:
        raise PermissionDenied("实施人不能验证自己实施的纠正措施", code="verifier_is_implementer")
    decision = _choose(sub.decision, {"effective": "有效", "not_effective": "无效"})
    if not sub.comment.strip():
        raise ValidationError("请填写验证情况（检查了什么、结果如何）", code="comment_required")
    nc.verification_note, nc.verified_by_id, nc.verified_at = sub.comment.strip(), user.id, utcnow()
    if decision == "not_effective":
        nc.cycle += 1
    return {}


def complete_step(session: Session, nc: Nonconformity, user: User, step: str, *, decision=None,
                  comment: str = "", password=None, data: dict | None = None) -> HumanTask:
    """Complete the open step ``step`` (a task name of corrective_action.bpmn) of this nonconformity.

    Raises Conflict ``verification_too_early`` while the waiting period runs, ``step_not_open`` when
    the case is at another step, plus whatever the step's handler raises.
    """
    if step == "verification" and nc.status == "awaiting_verification":
        when = local_date(nc.verification_from).isoformat() if nc.verification_from else "等待期满后"
        raise Conflict(f"有效性验证最早于 {when} 进行（实施后须经过等待期）", code="verification_too_early")
    return workflow.complete_step(session, SUBJECT, nc.id, step, user, decision=decision, comment=comment,
                                  password=password, data=data)


# --- queries and statistics -----------------------------------------------------------------------

def overdue_ids(session: Session, among: list[int] | None = None) -> set[int]:
    """Ids of nonconformities with an open step past its due time (only those in ``among`` when given)."""
    q = select(HumanTask.subject_id).where(HumanTask.subject_type == SUBJECT, HumanTask.status == "open",
                                           HumanTask.due_at <= utcnow())
    if among is not None:
        q = q.where(HumanTask.subject_id.in_(among))
    return set(session.exec(q))


def statement(session: Session, filters: dict | None = None, user: User | None = None):
    """The register query (a ``Select`` of Nonconformity, newest first) for source, status (``open`` for any
    open status), department code, clause, overdue (an open step past its due time) and text ``q``; with
    ``user``, only the nonconformities they may see."""
    f = filters or {}
    q = select(Nonconformity)
    visible = permissions.nonconformity_condition(user) if user is not None else None
    if visible is not None:
        q = q.where(visible)
    if f.get("source"):
        q = q.where(Nonconformity.source == f["source"])
    if f.get("status") == "open":
        q = q.where(Nonconformity.status.in_(OPEN_STATUSES))
    elif f.get("status"):
        q = q.where(Nonconformity.status == f["status"])
    if f.get("department"):
        dept = session.exec(select(Department).where(Department.code == str(f["department"]).upper())).first()
        q = q.where(Nonconformity.department_id == (dept.id if dept else -1))
    if f.get("clause"):
        q = q.where(Nonconformity.id.in_(select(NonconformityClause.nonconformity_id)
                                         .where(NonconformityClause.clause == f["clause"])))
    if f.get("q"):
        like = f"%{f['q']}%"
        q = q.where(Nonconformity.title.like(like) | Nonconformity.code.like(like)
                    | Nonconformity.description.like(like))
    if str(f.get("overdue", "")).lower() in ("1", "true", "yes", "on"):
        q = q.where(Nonconformity.id.in_(select(HumanTask.subject_id).where(
            HumanTask.subject_type == SUBJECT, HumanTask.status == "open", HumanTask.due_at <= utcnow())))
    return q.order_by(Nonconformity.id.desc())


def query(session: Session, filters: dict | None = None, user: User | None = None) -> list[Nonconformity]:
    """Every nonconformity matching ``filters`` that ``user`` may see (see :func:`statement`), for exports."""
    return list(session.exec(statement(session, filters, user)))


def _count(session: Session, column, where) -> dict:
    return {k: n for k, n in session.exec(select(column, func.count()).where(*where).group_by(column))}


def statistics(session: Session, start: date, end: date) -> dict:
    """Counts of nonconformities raised in [start, end] (dates inclusive) for management review.

    Returns ``{"period", "total", "by_source", "by_status", "by_severity", "by_department" (codes),
    "by_clause", "by_month" ("YYYY-MM"), "closed", "average_days_to_close"}``; average over those
    closed, in days from raising to closure (None when none closed). Raises ValidationError if
    end < start.
    """
    if end < start:
        raise ValidationError("统计期间的结束日期早于开始日期", code="invalid_period")
    where = (Nonconformity.raised_on >= start, Nonconformity.raised_on <= end)
    rows = list(session.exec(select(Nonconformity).where(*where)))
    depts = {d.id: d.code for d in session.exec(select(Department))}
    by_clause = _count(session, NonconformityClause.clause,
                       (NonconformityClause.nonconformity_id.in_([r.id for r in rows] or [-1]),))
    closed = [r for r in rows if r.status == "closed" and r.closed_at]
    days = [(local_date(r.closed_at) - r.raised_on).days for r in closed]
    by_month: dict[str, int] = {}
    for r in rows:
        by_month[r.raised_on.strftime("%Y-%m")] = by_month.get(r.raised_on.strftime("%Y-%m"), 0) + 1
    return {"period": {"from": start.isoformat(), "to": end.isoformat()}, "total": len(rows),
            "by_source": _tally(r.source for r in rows), "by_status": _tally(r.status for r in rows),
            "by_severity": _tally(r.severity for r in rows),
            "by_department": _tally(depts.get(r.department_id, "?") for r in rows),
            "by_clause": by_clause, "by_month": dict(sorted(by_month.items())), "closed": len(closed),
            "average_days_to_close": round(sum(days) / len(days), 1) if days else None}


def _tally(values) -> dict:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out
