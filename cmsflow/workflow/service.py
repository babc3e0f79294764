"""Run processes: start, complete a human task, fire due timers — each step in one locked transaction.

A step: lock the instance row → restore → refresh timers → complete → engine steps → sync human-task
rows → store the next timer time → save with a version check. The caller commits; on any error the
caller rolls back, so a failed step never saves state.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import update
from sqlmodel import Session, select

from cmsflow.auth import service as accounts
from cmsflow.auth.models import User
from cmsflow.core import signals
from cmsflow.core.db import conflict_from, is_postgres, utcnow
from cmsflow.core.errors import CmsflowError, Conflict, NotFound, PermissionDenied, ValidationError
from cmsflow.history import service as history
from cmsflow.workflow import engine, failures, segregation, signing, taskforms, taskschemas
from cmsflow.workflow.assignment import assign, inbox_filter, may_act
from cmsflow.workflow.models import HumanTask, ProcessInstance, ProcessSpec, Signature
from cmsflow.workflow.restricted import current_step

DECISIONS = ("approve", "reject")
log = logging.getLogger(__name__)


@dataclass
class StepContext:
    """What a registered service function may use while a step runs."""

    session: Session
    instance: ProcessInstance
    actor: User | None


def definitions() -> dict[str, engine.Definition]:
    return current_app.extensions["cmsflow_workflows"]


def _spec_row(session: Session, defn: engine.Definition) -> ProcessSpec:
    row = session.exec(select(ProcessSpec).where(ProcessSpec.content_hash == defn.content_hash)).first()
    if row is None:
        row = ProcessSpec(process_id=defn.process_id, file_name=defn.file_name,
                          content_hash=defn.content_hash, spec_json=defn.spec_json, bpmn_xml=defn.bpmn_xml)
        session.add(row)
        session.flush()
    elif row.bpmn_xml is None and defn.bpmn_xml:  # stored before diagrams were kept: same hash, same file
        row.bpmn_xml = defn.bpmn_xml
    return row


class WorkflowFailure(CmsflowError):
    """The engine failed inside a step (a broken condition or service); nothing was saved."""

    status = 500
    code = "workflow_error"


def _run(session: Session, inst: ProcessInstance, actor: User | None, fn) -> None:
    token = current_step.set(StepContext(session, inst, actor))
    try:
        fn()
    except (CmsflowError, engine.StepError):
        raise
    except Exception as exc:
        conflict = conflict_from(exc)  # a concurrent edit won inside the step: a 409 to retry, not a failure
        if conflict is not None:
            raise conflict from exc
        log.exception("workflow step failed: instance %s (%s)", inst.id, inst.process_id)
        raise WorkflowFailure(f"流程 {inst.process_id} 执行出错，操作未保存：{exc}") from exc
    finally:
        current_step.reset(token)


def start_process(session: Session, process_id: str, subject_type: str, subject_id: int,
                  data: dict, actor: User | None) -> ProcessInstance:
    """Start ``process_id`` for a subject with initial task data; raises NotFound for an unknown process."""
    defn = definitions().get(process_id)
    if defn is None:
        raise NotFound(f"流程 {process_id} 未定义")
    spec = _spec_row(session, defn)
    inst = ProcessInstance(process_id=process_id, spec_id=spec.id, subject_type=subject_type,
                           subject_id=subject_id, started_by_id=getattr(actor, "id", None))
    session.add(inst)
    session.flush()
    holder = {}
    _run(session, inst, actor, lambda: holder.setdefault("wf", engine.new_workflow(defn, data)))
    _save(session, inst, holder["wf"], actor, expected_version=None)
    history.record(session, actor, "process_started", subject_type, subject_id,
                   process=process_id, instance=inst.id)
    return inst


def _lock_instance(session: Session, instance_id: int) -> ProcessInstance:
    q = select(ProcessInstance).where(ProcessInstance.id == instance_id)
    if is_postgres(session):
        q = q.with_for_update()
    inst = session.exec(q.execution_options(populate_existing=True)).one()
    return inst


def _load(session: Session, inst: ProcessInstance):
    spec = session.get(ProcessSpec, inst.spec_id)
    return engine.restore(inst.state, spec.spec_json)


def _save(session: Session, inst: ProcessInstance, wf, actor, expected_version: int | None) -> None:
    """Fire due timers, sync human tasks, write state; Conflict if another step saved first."""
    _run(session, inst, actor, lambda: engine.fire_timers(wf))
    done = engine.is_completed(wf)
    values = {"state": engine.dump(wf), "status": "complete" if done else "running",
              "next_timer_at": None if done else engine.next_timer_at(wf), "updated_at": utcnow()}
    if expected_version is not None:
        res = session.execute(update(ProcessInstance)
                              .where(ProcessInstance.id == inst.id, ProcessInstance.version == expected_version)
                              .values(version=expected_version + 1, **values))
        if res.rowcount != 1:
            raise Conflict("该流程已被他人同时处理，请刷新后重试", code="concurrent_step")
        session.refresh(inst)
    else:
        for key, val in values.items():
            setattr(inst, key, val)
    _sync_tasks(session, inst, wf)
    signals.process_stepped.send(inst.process_id, instance=inst, session=session)
    if done:
        signals.process_completed.send(inst.process_id, instance=inst, session=session)


def _lanes_for(session: Session, inst: ProcessInstance) -> dict[str, str]:
    spec = session.get(ProcessSpec, inst.spec_id)
    for defn in definitions().values():
        if defn.content_hash == spec.content_hash:
            return defn.lanes
    return {}  # a retired definition: lanes fall back to their names


def _sync_tasks(session: Session, inst: ProcessInstance, wf) -> None:
    lanes = _lanes_for(session, inst)
    ready = {t.uuid: t for t in engine.ready_user_tasks(wf, lanes)}
    open_rows = session.exec(select(HumanTask).where(HumanTask.instance_id == inst.id,
                                                     HumanTask.status == "open")).all()
    for row in open_rows:
        if row.task_uuid not in ready:
            row.status = "cancelled"
        ready.pop(row.task_uuid, None)
    default_days = current_app.config["TASK_DUE_AFTER_DAYS"]
    for t in ready.values():
        due_days = int(t.data.get("step_due_days") or default_days)  # a process may set its own step period
        row = HumanTask(instance_id=inst.id, task_uuid=t.uuid, name=t.name, title=t.title,
                        process_id=inst.process_id, lane=t.lane, form=t.properties.get("form", "approval"),
                        signature_meaning=t.properties.get("signature"), subject_type=inst.subject_type,
                        subject_id=inst.subject_id, due_at=utcnow() + timedelta(days=due_days))
        assign(session, row, t.data)
        segregation.route(session, row, t.data)  # a signed step never goes to its author or another step's signer
        session.add(row)
    session.flush()


def complete_task(session: Session, task_id: int, user: User, decision: str | None = None,
                  comment: str = "", password: str | None = None, data: dict | None = None) -> HumanTask:
    """Complete a human task as ``user``; ``data`` is the form input, handed to the form's handler.

    Raises NotFound (unknown task), PermissionDenied (not the caller's task, wrong signature password, or
    ``segregation_of_duties``: the signer authored the version or signed another step of it —
    :mod:`cmsflow.workflow.segregation`), ValidationError (``invalid_task_input``: a field the form does not
    declare, or of the wrong type or length — :mod:`cmsflow.workflow.taskschemas`; missing/unknown decision,
    reject without comment) and Conflict (the task is no longer open, or a concurrent step won).
    WorkflowFailure (500) when the form handler, a script or a service task of the step raises: the session is
    then rolled back (the instance, its tasks and the business records stay as they were), the failure and the
    submission are noted on the instance for the administrator (``failures``) and that note alone is committed.
    """
    task = session.get(HumanTask, task_id)
    if task is None:
        raise NotFound("任务不存在")
    if not may_act(session, user, task):
        raise PermissionDenied("这不是您的任务")
    decision, comment, data = taskschemas.validate(task.form, decision, comment, password, data)
    segregation.check_signer(session, task, user)
    _check_decision(session, task, user, decision, comment, password)
    return _complete_or_note(session, task, user, taskforms.Submission(decision, comment or "", dict(data or {})))


def _complete_or_note(session: Session, task: HumanTask, user: User, submission: taskforms.Submission,
                      signed_at=None) -> HumanTask:
    instance_id, task_id, title, user_id = task.instance_id, task.id, task.title, user.id
    signed = bool(task.signature_meaning)
    try:
        return _complete(session, task, user, submission, signed_at)
    except WorkflowFailure as exc:
        session.rollback()
        note = failures.task_note(exc.message, task_id, title, user_id, submission.decision, submission.comment,
                                  submission.data, signed)
        failures.record(session, instance_id, note)
        session.commit()
        exc.message += "。已记录，系统管理员可在排除原因后重试"
        raise


def _complete(session: Session, task: HumanTask, user: User, submission: taskforms.Submission,
              signed_at=None) -> HumanTask:
    decision, comment = submission.decision, submission.comment
    inst = _lock_instance(session, task.instance_id)
    session.refresh(task)
    if task.status != "open":
        raise Conflict("任务已被处理，不能重复提交", code="task_closed")
    version = inst.version
    wf = _load(session, inst)
    handler = taskforms.handler_for(task.form)
    payload = {}
    if handler is not None:
        _run(session, inst, user, lambda: payload.update(handler(session, task, user, submission)))
    if decision:
        payload[f"{task.name}_decision"] = decision
    payload[f"{task.name}_comment"] = comment or ""
    payload["last_actor_id"] = user.id
    # the completion is recorded before the engine runs what follows it (a closing service task, the next
    # step), so the record reads in the order things happened; a later failure rolls it back with the rest
    # a signed step: the signature row first, so the step's history entry can carry it (and it the entry)
    sig = _sign(session, task, user, decision, comment, signed_at) if task.signature_meaning else None
    entry = history.record(session, user, f"task_{decision or 'completed'}", task.subject_type, task.subject_id,
                           task=task.name, title=task.title, comment=comment or "",
                           signature=task.signature_meaning or "", **({"signed": signing.binding(sig)} if sig else {}))
    if sig is not None:
        sig.activity_entry_id = entry.id
    try:
        _run(session, inst, user, lambda: engine.complete_user_task(wf, task.task_uuid, payload))
    except engine.StepError as exc:
        raise Conflict(str(exc), code="task_closed") from exc
    task.status, task.completed_at, task.completed_by_id = "completed", utcnow(), user.id
    task.decision, task.comment = decision, comment or None
    _save(session, inst, wf, user, expected_version=version)
    failure = failures.failure_of(inst)
    if failure and failure["kind"] == "task" and failure.get("task_id") == task.id:
        inst.error = None  # the failed step went through (retried, or submitted again)
    signals.task_completed.send(task.process_id, task=task, session=session, actor=user)
    return task


def verify_signature(session: Session, user: User, password: str | None) -> None:
    """The signer's password for an electronic signature; failures count towards the account lock
    (:func:`cmsflow.auth.service.verify_signature`, thresholds LOGIN_MAX_FAILURES / LOGIN_LOCKOUT_MINUTES)."""
    cfg = current_app.config
    accounts.verify_signature(session, user, password or "", max_failures=cfg["LOGIN_MAX_FAILURES"],
                              lockout_minutes=cfg["LOGIN_LOCKOUT_MINUTES"])


def _check_decision(session: Session, task: HumanTask, user: User, decision, comment, password) -> None:
    if task.form == "approval":
        if decision not in DECISIONS:
            raise ValidationError("请选择批准（approve）或退回（reject）", code="decision_required")
        if decision == "reject" and not (comment or "").strip():
            raise ValidationError("退回时必须填写意见", code="comment_required")
    if task.signature_meaning:
        verify_signature(session, user, password)


def _sign(session: Session, task: HumanTask, user: User, decision, comment, signed_at=None) -> Signature:
    """Add (and flush) the signature of ``task``, with the hash of what it signs (``signing``)."""
    sig = Signature(user_id=user.id, signer_name=user.display_name, signer_role=user.role,
                    meaning=task.signature_meaning, decision=decision or "", comment=comment or None,
                    subject_type=task.subject_type, subject_id=task.subject_id, human_task_id=task.id,
                    signed_at=signed_at or utcnow(),
                    signed_sha256=signing.signed_content_hash(session, task.subject_type, task.subject_id))
    session.add(sig)
    session.flush()
    return sig


def complete_step(session: Session, subject_type: str, subject_id: int, step: str, user: User,
                  **kwargs) -> HumanTask:
    """Complete the open task named ``step`` of a subject (``kwargs`` as for ``complete_task``).

    Raises Conflict ``step_not_open`` naming the step the subject is at, when it is not at ``step``.
    """
    open_rows = tasks_for_subject(session, subject_type, subject_id, status="open")
    match = [t for t in open_rows if t.name == step]
    if not match:
        current = "、".join(t.title for t in open_rows) or "无待办步骤"
        raise Conflict(f"当前不在此步骤（当前：{current}）", code="step_not_open")
    return complete_task(session, match[0].id, user, **kwargs)


def open_task(session: Session, subject_type: str, subject_id: int) -> HumanTask | None:
    """The subject's first open task (the step it is at), or None."""
    rows = tasks_for_subject(session, subject_type, subject_id, status="open")
    return rows[0] if rows else None


def follow_open_task(session: Session, record, subject_type: str, task_status: dict[str, str],
                     final: tuple[str, ...]) -> bool:
    """Set ``record.status`` to the status its open task stands for (``task_status``: task name → status).

    A record in a ``final`` status, without an open task, or at a task not in the map keeps its status.
    Returns True when the status changed (the caller then records the change).
    """
    if record is None or record.status in final:
        return False
    task = open_task(session, subject_type, record.id)
    status = task_status.get(task.name, record.status) if task else record.status
    if status == record.status:
        return False
    record.status = status
    return True


def claim_due_instance(session: Session) -> ProcessInstance | None:
    """The instance with the earliest due timer, or None.

    On PostgreSQL the row is claimed with ``FOR UPDATE SKIP LOCKED`` so several workers can run.
    """
    q = (select(ProcessInstance).where(ProcessInstance.status == "running",
                                       ProcessInstance.next_timer_at <= utcnow())
         .order_by(ProcessInstance.next_timer_at).limit(1))
    if is_postgres(session):
        q = q.with_for_update(skip_locked=True)
    return session.exec(q).first()


def fire_timers_of(session: Session, inst: ProcessInstance) -> None:
    """Step a claimed instance: fire its due timers and save; the caller commits. A timer failure noted on the
    instance is cleared when this succeeds."""
    _save(session, inst, _load(session, inst), None, expected_version=inst.version)
    failure = failures.failure_of(inst)
    if failure and failure["kind"] == "timer":
        inst.error = None


def postpone_timer(session: Session, instance_id: int, error: str, minutes: int = 15) -> None:
    """After a failed timer step: keep the instance, note the error (administrators are notified the first time),
    retry in ``minutes``. The caller commits."""
    inst = session.get(ProcessInstance, instance_id)
    if inst is not None:
        if not (failures.failure_of(inst) or {}).get("kind") == "task":  # a failed task completion stays noted
            failures.record(session, instance_id, failures.timer_note(error))
        inst.next_timer_at = utcnow() + timedelta(minutes=minutes)


def retry_failed_step(session: Session, instance_id: int, admin: User) -> str:
    """Re-run the failed step noted on an instance (administrator, after removing the cause); returns what was
    done, for the message. A timer step fires the instance's due timers now; a task completion is submitted again
    as recorded, in the name of the person who submitted it (their signature keeps the time they signed; their
    password was checked then). The retry is recorded in the history with the administrator.

    Raises NotFound (no failure noted), Conflict (the task is no longer open — the note is then cleared — or the
    person may no longer complete it, or the form data was not kept) and WorkflowFailure when the step fails
    again (noted anew, see ``complete_task``).
    """
    inst = session.get(ProcessInstance, instance_id)
    failure = failures.failure_of(inst) if inst is not None else None
    if failure is None:
        raise NotFound("该流程实例没有待处理的执行异常")
    subject = (inst.subject_type, inst.subject_id)
    outcome = _retry_timer(session, inst) if failure["kind"] == "timer" else _retry_task(session, inst, failure)
    history.record(session, admin, "workflow_step_retried", *subject, process=inst.process_id,
                   instance=instance_id, step=failure.get("title") or "timer", outcome=outcome)
    return outcome


def _retry_task(session: Session, inst: ProcessInstance, failure: dict) -> str:
    task = session.get(HumanTask, failure.get("task_id") or 0)
    if task is None or task.status != "open":
        inst.error = None
        return "任务已不在待办状态（已被办理或取消），异常记录已清除"
    user = session.get(User, failure.get("user_id") or 0)
    if user is None or not user.active or not may_act(session, user, task):
        raise Conflict("原提交人已不能办理该任务，请由有权办理的人重新提交", code="retry_not_possible")
    segregation.check_signer(session, task, user)  # the signer may since have become excluded (signed another step)
    if not failure.get("retry", True):
        raise Conflict("提交的表单数据未能保存，请原提交人重新提交", code="retry_not_possible")
    submission = taskforms.Submission(failure.get("decision"), failure.get("comment") or "", failure.get("data") or {})
    _complete_or_note(session, task, user, submission, signed_at=failure["at"] if failure.get("signed") else None)
    return f"任务「{task.title}」已按原提交重新执行"


def _retry_timer(session: Session, inst: ProcessInstance) -> str:
    instance_id = inst.id
    inst = _lock_instance(session, instance_id)
    try:
        fire_timers_of(session, inst)
    except WorkflowFailure as exc:
        session.rollback()
        postpone_timer(session, instance_id, exc.message)
        session.commit()
        raise
    inst.error = None
    return "定时步骤已重新执行"


def inbox_statement(user: User):
    """The caller's inbox as a ``Select``: open tasks assigned to them or to their role (and department),
    oldest first."""
    return select(HumanTask).where(inbox_filter(user)).order_by(HumanTask.created_at, HumanTask.id)


def open_tasks_for(session: Session, user: User, limit: int | None = None) -> list[HumanTask]:
    """The caller's open tasks, oldest first (the first ``limit`` when given)."""
    return list(session.exec(inbox_statement(user).limit(limit)))


def tasks_for_subject(session: Session, subject_type: str, subject_id: int,
                      status: str | None = None) -> list[HumanTask]:
    q = select(HumanTask).where(HumanTask.subject_type == subject_type, HumanTask.subject_id == subject_id)
    if status:
        q = q.where(HumanTask.status == status)
    return list(session.exec(q.order_by(HumanTask.id)))


def signatures_for(session: Session, subject_type: str, subject_id: int) -> list[Signature]:
    q = select(Signature).where(Signature.subject_type == subject_type, Signature.subject_id == subject_id)
    return list(session.exec(q.order_by(Signature.id)))


def cancel_process(session: Session, instance_id: int, actor: User | None, reason: str) -> None:
    """Stop a running instance for good: its open tasks are cancelled and its timers never fire again.

    Used when what the process was for is gone or superseded (e.g. an evaluation against an
    obligation text that has since been revised). A finished instance is left as it is.
    """
    inst = _lock_instance(session, instance_id)
    if inst.status != "running":
        return
    inst.status, inst.next_timer_at, inst.updated_at = "cancelled", None, utcnow()
    inst.version += 1
    for row in session.exec(select(HumanTask).where(HumanTask.instance_id == inst.id, HumanTask.status == "open")):
        row.status = "cancelled"
    session.flush()
    history.record(session, actor, "process_cancelled", inst.subject_type, inst.subject_id,
                   process=inst.process_id, instance=inst.id, reason=reason)
