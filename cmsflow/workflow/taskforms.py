"""Task forms: what a domain does when one of its user tasks is completed.

A user task names its form in the BPMN (``spiffworkflow:property name="form"``). ``approval``,
``revise`` and ``acknowledge`` are built in. A domain registers a handler for any other form; the
handler validates the submitted input, writes its own records, and returns the process variables
the rest of the process needs (gateway conditions, assignees). Only those variables reach the
process: raw client input never does.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import Session

from cmsflow.auth.models import User
from cmsflow.workflow.models import HumanTask

BUILT_IN = ("approval", "revise", "acknowledge")


@dataclass
class Submission:
    """What the person submitted: a decision (if the form has one), a comment and form data."""

    decision: str | None
    comment: str
    data: dict


Handler = Callable[[Session, HumanTask, User, Submission], dict]
_HANDLERS: dict[str, Handler] = {}


def register(form: str) -> Callable[[Handler], Handler]:
    """Decorator: ``handler(session, task, user, submission) -> dict`` of process variables.

    The handler raises ValidationError / PermissionDenied / Conflict to refuse the submission; the
    step is then rolled back and nothing is saved.
    """
    def wrap(fn: Handler) -> Handler:
        _HANDLERS[form] = fn
        return fn
    return wrap


def handler_for(form: str) -> Handler | None:
    return _HANDLERS.get(form)
