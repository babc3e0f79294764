"""Segregation of duties on signed steps: nobody signs a step of a version they authored, and nobody signs two
steps of the same version (e.g. review and approval).

Sources: ISO 9001:2015 / GB/T 23331-2020 §7.5.2 (documented information is reviewed and approved for
suitability and adequacy — by someone other than its author); 21 CFR Part 11 §11.10(g) (authority checks: only
authorised individuals sign) and EU GMP Annex 11 §12 (security, authority to approve).

Scope: every user task with a ``signature`` property (``HumanTask.signature_meaning``). "The version" is the
process instance: one submission of one version of a record (a document version, an audit programme, a
report); a revision inside the same instance (returned → revised → reviewed again) is still that version, so
its signers stay excluded from the *other* signed steps. Repeating the same step (review again after a
revision) is not a second step.

Who is excluded from a signed step (``excluded(session, inst_id, task_name, subject_type, data)``):

* the authors: ``data["author_id"]`` (who submitted) and what the subject's resolver adds (registered with
  :func:`register_authors`): documents — who created the version being approved; audits — the lead auditor
  (author of the report); maturity evaluations — the lead evaluator; carbon compliance cycles — who proposed
  the plan. Management-review minutes are signed by the chair who recorded them, as is usual;
* everyone who signed another step of the same instance.

Who gets the task instead ("the next person entitled", :data:`FALLBACK`):

* the lane's other holders first (another department head of the department, another holder of the role);
* ``department_head`` → management representative → top management;
* ``management_representative`` → top management;
* ``internal_auditor`` and person lanes (``author``, ``owner``, ``lead_auditor``…) → management
  representative → top management;
* ``top_management`` → nobody else (another top-management account if there is one).

A rerouted task gets ``assignment_note`` (e.g. "管理者代表为本文件作者，已转由最高管理者审批"), shown in the
inbox, on the task page and in the API, and a ``task_reassigned`` history entry. When nobody entitled is left
the step is refused with :class:`ValidationError` ``no_eligible_signer`` before anything is stored (the whole
step rolls back; for documents :func:`precheck` refuses the submission itself).

Defence in depth: :func:`check_signer` refuses (``PermissionDenied`` 403, ``segregation_of_duties``) a signer who
is excluded even when the task somehow reached them (``HumanTask.excluded_user_ids`` keeps the authors known when
the task was created; other signers are read from the signatures again).

Setting ``SEGREGATION_OF_DUTIES`` (default True; env ``CMSFLOW_SEGREGATION_OF_DUTIES=0``): a very small
organisation may relax it. Tasks are then assigned by lane as before, and each time an excluded person signs, a
``segregation_of_duties_relaxed`` history entry records it (who, which step, why they would be excluded).
"""
from __future__ import annotations

from collections.abc import Callable

from flask import current_app
from sqlmodel import Session, select

from cmsflow.auth.models import User
from cmsflow.core.errors import PermissionDenied, ValidationError
from cmsflow.history import service as history
from cmsflow.workflow.models import HumanTask, Signature

ROLE_WORDS = {"top_management": "最高管理者", "management_representative": "管理者代表",
              "internal_auditor": "内审员", "department_head": "部门负责人", "staff": "部门人员", "admin": "系统管理员"}
FALLBACK: dict[str, tuple[str, ...]] = {
    "department_head": ("management_representative", "top_management"),
    "management_representative": ("top_management",),
    "top_management": (),
}
PERSON_FALLBACK = ("management_representative", "top_management")
SUBJECT_WORDS = {"document": "本文件", "audit_programme": "本审核方案", "audit": "本审核报告",
                 "management_review": "本管理评审", "compliance_cycle": "本履约方案",
                 "maturity_evaluation": "本评价报告", "compliance_evaluation": "本合规性评价"}
VERBS = {"reviewed": "审核", "approved": "审批"}

AuthorResolver = Callable[[Session, dict], set[int]]
_AUTHORS: dict[str, AuthorResolver] = {}


def register_authors(subject_type: str) -> Callable[[AuthorResolver], AuthorResolver]:
    """Decorator: ``resolver(session, task_data) -> {user id}`` — the authors of the version a process of
    ``subject_type`` runs for (besides ``data["author_id"]``)."""
    def wrap(fn: AuthorResolver) -> AuthorResolver:
        _AUTHORS[subject_type] = fn
        return fn
    return wrap


def enabled() -> bool:
    return bool(current_app.config.get("SEGREGATION_OF_DUTIES", True))


def _subject_word(subject_type: str) -> str:
    return SUBJECT_WORDS.get(subject_type, "本事项")


def authors(session: Session, subject_type: str, data: dict) -> set[int]:
    found = set()
    if data.get("author_id"):
        found.add(int(data["author_id"]))
    resolver = _AUTHORS.get(subject_type)
    if resolver is not None:
        found |= {int(x) for x in resolver(session, data) if x}
    return found


def other_signers(session: Session, instance_id: int, task_name: str) -> dict[int, str]:
    """{user id: title of the other step they signed} in this instance."""
    rows = session.exec(select(Signature.user_id, HumanTask.title)
                        .where(Signature.human_task_id == HumanTask.id, HumanTask.instance_id == instance_id,
                               HumanTask.name != task_name)).all()
    return {uid: title for uid, title in rows}


def reasons(session: Session, instance_id: int, task_name: str, subject_type: str,
            author_ids: set[int]) -> dict[int, str]:
    """{user id: why they may not sign this step} (Chinese, e.g. "为本文件作者")."""
    why = {uid: f"已签署本版本的「{title}」" for uid, title in other_signers(session, instance_id, task_name).items()}
    for uid in author_ids:
        why[uid] = f"为{_subject_word(subject_type)}作者"
    return why


def _holders(session: Session, role: str, department_id: int | None) -> list[User]:
    q = select(User).where(User.role == role, User.active == True)  # noqa: E712
    if department_id is not None:
        q = q.where(User.department_id == department_id)
    return list(session.exec(q.order_by(User.id)))


def _first_holders(session: Session, task: HumanTask) -> list[User]:
    if task.assignee_id is not None:
        user = session.get(User, task.assignee_id)
        return [user] if user else []
    return _holders(session, task.role, task.department_id)


def _who(session: Session, task: HumanTask) -> str:
    """Words for whom the task points to (before rerouting)."""
    if task.assignee_id is not None:
        user = session.get(User, task.assignee_id)
        return user.display_name if user else "指定人员"
    return ROLE_WORDS.get(task.role, task.role or "")


def route(session: Session, task: HumanTask, data: dict) -> None:
    """After :func:`cmsflow.workflow.assignment.assign` on a new signed task row: exclude authors and signers of
    other steps; reroute to the next person entitled with a note, or raise ValidationError ``no_eligible_signer``.
    Does nothing for an unsigned step or when segregation is relaxed (then :func:`check_signer` records it)."""
    if not task.signature_meaning:
        return
    author_ids = authors(session, task.subject_type, data)
    task.excluded_user_ids = sorted(author_ids) or None
    if not enabled():
        return
    why = reasons(session, task.instance_id, task.name, task.subject_type, author_ids)
    if not why:
        return
    holders = _first_holders(session, task)
    blocked = [u for u in holders if u.id in why]
    if not blocked:
        return  # nobody the lane points to is excluded
    who, reason = _who(session, task), why[blocked[0].id]
    verb = VERBS.get(task.signature_meaning, "签署")
    left = [u for u in holders if u.id not in why]
    if left:
        target = left[0].display_name
        task.assignee_id, task.role, task.department_id = left[0].id, None, None
    else:
        lane_role = task.role if task.assignee_id is None else None
        chain = FALLBACK.get(lane_role, ()) if lane_role else PERSON_FALLBACK
        target = None
        for role in chain:
            people = _holders(session, role, None)
            eligible = [u for u in people if u.id not in why]
            if not eligible:
                continue
            if len(eligible) == len(people):
                task.assignee_id, task.role, task.department_id = None, role, None
                target = ROLE_WORDS.get(role, role)
            else:
                task.assignee_id, task.role, task.department_id = eligible[0].id, None, None
                target = eligible[0].display_name
            break
        if target is None:
            raise ValidationError(f"「{task.title}」无人可以签署：{who}{reason}，且没有其他有权人员"
                                  f"（签署人不得为作者，也不得签署同一版本的两个步骤）。请联系管理者代表或系统管理员调整人员",
                                  code="no_eligible_signer",
                                  details={"task": task.name, "excluded": sorted(why)})
    task.assignment_note = f"{who}{reason}，已转由{target}{verb}"
    history.record(session, None, "task_reassigned", task.subject_type, task.subject_id, task=task.name,
                   title=task.title, note=task.assignment_note)


def check_signer(session: Session, task: HumanTask, user: User) -> None:
    """Before a signed task is completed: PermissionDenied ``segregation_of_duties`` (403) when ``user`` authored
    the version or signed another step of it; when relaxed, records ``segregation_of_duties_relaxed`` instead."""
    if not task.signature_meaning:
        return
    why = reasons(session, task.instance_id, task.name, task.subject_type, set(task.excluded_user_ids or []))
    if user.id not in why:
        return
    if enabled():
        raise PermissionDenied(f"您{why[user.id]}，不能签署「{task.title}」（职责分离：签署人不得为作者，"
                               f"也不得签署同一版本的两个步骤）", code="segregation_of_duties")
    history.record(session, user, "segregation_of_duties_relaxed", task.subject_type, task.subject_id,
                   task=task.name, title=task.title, reason=why[user.id],
                   note="职责分离已按设置放宽（SEGREGATION_OF_DUTIES=False）")


def precheck(session: Session, subject_type: str, steps: list[tuple[str, str, int | None]],
             author_ids: set[int]) -> None:
    """Before a submission: each signed step ``(title, lane role, department id)`` on the path needs a distinct
    entitled person who is not an author (simulated as :func:`route` would assign; first holder by id). Raises
    ValidationError ``no_eligible_signer`` naming the step nobody is left for. Nothing when relaxed."""
    if not enabled():
        return
    excluded = set(author_ids)
    for title, role, department_id in steps:
        lane = _holders(session, role, department_id)
        if not lane:
            continue  # a lane nobody holds is not a segregation question (the task waits for its role)
        chosen = None
        for r, dept in ((role, department_id), *((f, None) for f in FALLBACK.get(role, PERSON_FALLBACK))):
            eligible = [u for u in _holders(session, r, dept) if u.id not in excluded]
            if eligible:
                chosen = eligible[0]
                break
        if chosen is None:
            word = _subject_word(subject_type)
            raise ValidationError(f"无法提交：「{title}」没有可签署的人员（签署人不得为{word}作者，"
                                  f"也不得签署同一版本的两个步骤）。请联系管理者代表或系统管理员调整人员",
                                  code="no_eligible_signer", details={"task": title})
        excluded.add(chosen.id)
