"""Reminders: the BPMN ``send_reminder`` service and the worker's overdue-task sweep."""
from __future__ import annotations

from sqlmodel import Session, select

from cmsflow.auth.models import User
from cmsflow.core.db import utcnow
from cmsflow.workflow import services
from cmsflow.workflow.assignment import users_for
from cmsflow.workflow.models import HumanTask, Notification


def notify(session: Session, task: HumanTask, kind: str, message: str) -> int:
    """Send ``message`` to everyone who may complete ``task``; returns the number of recipients."""
    users = users_for(session, task)
    for user in users:
        session.add(Notification(user_id=user.id, kind=kind, message=message,
                                 subject_type=task.subject_type, subject_id=task.subject_id))
    return len(users)


@services.register("send_reminder")
def send_reminder(step, _data: dict, task_name: str) -> dict:
    """BPMN timer → remind the assignees of the still-open task ``task_name`` of this instance."""
    rows = step.session.exec(select(HumanTask).where(HumanTask.instance_id == step.instance.id,
                                                     HumanTask.name == task_name,
                                                     HumanTask.status == "open")).all()
    sent = 0
    for task in rows:
        now = utcnow()
        overdue = task.due_at is not None and task.due_at <= now
        kind, text = ("overdue", f"逾期：待办任务「{task.title}」已超过办理期限，请尽快办理。") if overdue else \
            ("reminder", f"提醒：待办任务「{task.title}」尚未处理，请尽快办理。")
        sent += notify(step.session, task, kind, text)
        task.reminded_at = now
        if overdue:  # this timer is the overdue notice: the worker's sweep must not send a second one
            task.overdue_notified_at = now
    return {"sent": sent}


@services.register("escalate_overdue")
def escalate_overdue(step, _data: dict, task_name: str) -> dict:
    """BPMN timer → the still-open task ``task_name`` is escalated to every management representative.

    Returns ``{"escalated": n}`` with the number of tasks escalated (0 when the task was done in time).
    """
    rows = step.session.exec(select(HumanTask).where(HumanTask.instance_id == step.instance.id,
                                                     HumanTask.name == task_name,
                                                     HumanTask.status == "open")).all()
    reps = step.session.exec(select(User).where(User.role == "management_representative",
                                                User.active == True)).all()  # noqa: E712
    for task in rows:
        for rep in reps:
            step.session.add(Notification(user_id=rep.id, kind="escalation",
                                          message=f"升级：待办任务「{task.title}」已超期未办，请督办。",
                                          subject_type=task.subject_type, subject_id=task.subject_id))
        notify(step.session, task, "escalation", f"升级：待办任务「{task.title}」已超期，已报告管理者代表。")
        task.escalated_at = utcnow()
    return {"escalated": len(rows)}


def remind_overdue(session: Session) -> int:
    """Notify assignees of open tasks past their due date (once per task); returns tasks reminded."""
    rows = session.exec(select(HumanTask).where(HumanTask.status == "open", HumanTask.due_at <= utcnow(),
                                                HumanTask.overdue_notified_at.is_(None))).all()
    for task in rows:
        notify(session, task, "overdue", f"逾期：待办任务「{task.title}」已超过办理期限。")
        task.overdue_notified_at = utcnow()
    return len(rows)
