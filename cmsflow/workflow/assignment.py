"""Who may act on a human task: lanes name roles; task data narrows to a department or a person.

Conventions for task data: ``<lane>_id`` names the one person for a lane that is not a role
(``author_id`` for lane ``author``, ``owner_id`` for ``owner``, ``verifier_id``, ``lead_auditor_id``…),
``reader`` (a multi-instance item holding a user id), ``department_id`` (scopes ``department_head`` and
``staff`` lanes to one department). A person lane without its ``<lane>_id`` goes to the management
representative, never nowhere.
"""
from __future__ import annotations

from sqlalchemy import and_, or_
from sqlmodel import Session, select

from cmsflow.auth.models import ROLES, User
from cmsflow.workflow.models import HumanTask

DEPARTMENT_SCOPED = ("department_head", "staff")


def assign(session: Session, task: HumanTask, data: dict) -> None:
    """Fill ``assignee_id`` or ``role``/``department_id`` on a new task row from its lane and data."""
    person = data.get(f"{task.lane}_id") if task.lane and task.lane not in ROLES else None
    if person:
        task.assignee_id = int(person)
    elif data.get("reader") is not None and task.lane == "staff":
        task.assignee_id = int(data["reader"])
    elif task.lane in ROLES:
        task.role = task.lane
        if task.lane in DEPARTMENT_SCOPED:
            task.department_id = data.get("department_id")
    else:
        task.role = "management_representative"  # a person lane with nobody named is never lost


def may_act(_session: Session, user: User, task: HumanTask) -> bool:
    """True if ``user`` may complete ``task``."""
    if task.assignee_id is not None:
        return task.assignee_id == user.id
    if task.role != user.role:
        return False
    return task.department_id is None or task.department_id == user.department_id


def holder_filter(user: User):
    """SQL condition matching the tasks, in any status, that are or were ``user``'s: assigned to them, or to their
    role (in their department) (mirror of ``may_act``)."""
    by_role = and_(HumanTask.assignee_id.is_(None), HumanTask.role == user.role,
                   or_(HumanTask.department_id.is_(None), HumanTask.department_id == user.department_id))
    return or_(HumanTask.assignee_id == user.id, by_role)


def inbox_filter(user: User):
    """SQL condition matching the open tasks ``user`` may complete."""
    return and_(HumanTask.status == "open", holder_filter(user))


def users_for(session: Session, task: HumanTask) -> list[User]:
    """Everyone who may complete ``task`` (for reminders)."""
    if task.assignee_id is not None:
        user = session.get(User, task.assignee_id)
        return [user] if user else []
    q = select(User).where(User.role == task.role, User.active == True)  # noqa: E712
    if task.department_id is not None:
        q = q.where(User.department_id == task.department_id)
    return list(session.exec(q))
