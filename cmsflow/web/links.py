"""Which links and buttons a page draws: ``can(endpoint, **values)`` in every template (issue 20 item 2).

A control is drawn only when the permission layer would let the signed-in user through: the route rule
(:func:`cmsflow.auth.permissions.route_allowed`) and, for the endpoints whose target is one record, the same
object rule the target page applies (:data:`OBJECT_RULES`): a nonconformity only for who may see it, a task
only for who may complete it, a document or management review only for who may see it. A link to a page that
would answer 403 or 404 is therefore never drawn; ``tests/web/test_link_crawl.py`` walks every demo role.
"""
from __future__ import annotations

from collections.abc import Callable

from flask import g
from flask_login import current_user

from cmsflow.auth import permissions


def _nonconformity(session, user, nc_id=None, **_values) -> bool:
    from cmsflow.nonconformities.models import Nonconformity

    return nc_id is None or permissions.may_see(session, user, Nonconformity, int(nc_id),
                                                permissions.nonconformity_condition(user))


def _document(session, user, doc_id=None, **_values) -> bool:
    from cmsflow.documents.models import Document

    return doc_id is None or permissions.may_see(session, user, Document, int(doc_id),
                                                 permissions.document_condition(user))


def _review(session, user, review_id=None, **_values) -> bool:
    from cmsflow.reviews.models import ManagementReview

    return review_id is None or permissions.may_see(session, user, ManagementReview, int(review_id),
                                                    permissions.review_condition(user))


def _task(session, user, task_id=None, **_values) -> bool:
    """An open task only for who may complete it (the task page refuses the others with a 403); a closed
    task's link redirects to its subject, which is allowed."""
    from cmsflow.workflow.assignment import may_act
    from cmsflow.workflow.models import HumanTask

    if task_id is None:
        return True
    task = session.get(HumanTask, int(task_id))
    return task is not None and (task.status != "open" or may_act(session, user, task))


# endpoint → check(session, user, **url values) -> bool, run after the route rule allowed the role
OBJECT_RULES: dict[str, Callable[..., bool]] = {
    "nonconformities.detail": _nonconformity,
    "documents.detail": _document,
    "reviews.detail": _review,
    "workflow.task": _task,
}


def can(endpoint: str, **values) -> bool:
    """Templates: whether the signed-in user may follow a link to ``endpoint`` with the URL ``values`` (the
    same keyword arguments as ``url_for``). Route rule first, then the endpoint's object rule, if any; the
    answers are remembered for the request. False when not signed in (except for public endpoints)."""
    role = current_user.role if current_user.is_authenticated else None
    if not permissions.route_allowed(role, endpoint):
        return False
    rule = OBJECT_RULES.get(endpoint)
    if rule is None or role is None:
        return True
    key = (endpoint, tuple(sorted(values.items())))
    cache = g.setdefault("_can", {})
    if key not in cache:
        from cmsflow.core.db import db_session

        cache[key] = bool(rule(db_session(), current_user._get_current_object(), **values))
    return cache[key]
