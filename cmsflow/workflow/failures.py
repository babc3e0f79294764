"""Failed engine steps as an administrator sees them: what failed, for whom, when, and what to re-run.

A step that fails (a service task or script raising while a task is completed, or a timer step in the worker) is
rolled back whole: the instance, its tasks and the business records stay as they were. What is kept is a note in
``ProcessInstance.error`` (JSON, below), and the administrators get a notification the first time. The note
holds what ``workflow.service.retry_failed_step`` needs to re-run the step:

- ``{"kind": "task", "message", "at", "task_id", "title", "user_id", "decision", "comment", "data", "signed",
  "retry"}`` — a task completion; ``retry`` is false when the form data could not be kept (not JSON).
- ``{"kind": "timer", "message", "at"}`` — a timer step (the worker retries it by itself every 15 minutes).

A successful run of the same step clears the note. Notes written before this format (plain text) read as timer
failures.
"""
from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, select

from cmsflow.auth.service import notify_admins
from cmsflow.core.db import utcnow
from cmsflow.workflow.models import ProcessInstance

MESSAGE_CHARS = 2000


def task_note(message: str, task_id: int, title: str, user_id: int, decision: str | None, comment: str,
              data: dict, signed: bool) -> str:
    """The note of a failed task completion (see the module docstring); the submission is kept for a retry."""
    note = {"kind": "task", "message": message[:MESSAGE_CHARS], "at": utcnow().isoformat(), "task_id": task_id,
            "title": title, "user_id": user_id, "decision": decision, "comment": comment, "signed": signed,
            "data": data, "retry": True}
    try:
        return json.dumps(note, ensure_ascii=False)
    except (TypeError, ValueError):  # form data that is not JSON (e.g. bytes): the person has to submit again
        return json.dumps({**note, "data": None, "retry": False}, ensure_ascii=False)


def timer_note(message: str) -> str:
    """The note of a failed timer step."""
    return json.dumps({"kind": "timer", "message": message[:MESSAGE_CHARS], "at": utcnow().isoformat()},
                      ensure_ascii=False)


def failure_of(inst: ProcessInstance) -> dict | None:
    """The instance's failure note as a dict (``at`` as an aware datetime), or None when it has none."""
    if not inst.error:
        return None
    try:
        note = json.loads(inst.error)
    except ValueError:
        note = None
    if not isinstance(note, dict) or "kind" not in note:
        return {"kind": "timer", "message": inst.error, "at": inst.updated_at}
    note["at"] = datetime.fromisoformat(note["at"]) if isinstance(note.get("at"), str) else None
    return note


def record(session: Session, instance_id: int, note: str) -> None:
    """Write ``note`` on the instance (only that column: a concurrent step's state is not touched) and, when the
    instance had no failure yet, notify every active administrator. The caller commits."""
    inst = session.get(ProcessInstance, instance_id)
    if inst is None:
        return
    first = not inst.error
    session.execute(update(ProcessInstance).where(ProcessInstance.id == instance_id).values(error=note))
    session.refresh(inst)
    if not first:
        return
    failure = failure_of(inst)
    step = failure.get("title") or "定时步骤"
    notify_admins(session, f"流程异常：{inst.process_id} #{inst.id} 的「{step}」执行失败，未保存。"
                           "请在「流程异常」页处理后重试。", kind="workflow_error",
                  subject_type=inst.subject_type, subject_id=inst.subject_id)


def failed_instances(session: Session) -> list[tuple[ProcessInstance, dict]]:
    """Instances with a failure note, most recently changed first, each with its parsed note."""
    rows = session.exec(select(ProcessInstance).where(ProcessInstance.error.is_not(None))
                        .order_by(ProcessInstance.updated_at.desc(), ProcessInstance.id.desc()))
    return [(inst, failure_of(inst)) for inst in rows]
