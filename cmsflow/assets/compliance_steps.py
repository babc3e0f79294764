"""The steps of ``carbon_compliance.bpmn``: the task forms of the management representative's steps and the
services of the process (position, closing) and of its deadline watch (reminder, escalation, the
nonconformity when the deadline is missed). See ``compliance`` for the rules they apply."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlmodel import Session

from cmsflow.assets import compliance, verification
from cmsflow.assets import values as v
from cmsflow.assets.models import DECISIONS, ComplianceCycle
from cmsflow.auth.models import User
from cmsflow.auth.service import users_in_role
from cmsflow.core.db import utcnow
from cmsflow.core.errors import ValidationError
from cmsflow.history import service as history
from cmsflow.workflow import segregation, services, taskforms
from cmsflow.workflow import service as workflow
from cmsflow.workflow.models import HumanTask, Notification

SUBJECT = compliance.SUBJECT
ZERO = Decimal(0)


@segregation.register_authors(SUBJECT)
def _plan_authors(session: Session, data: dict) -> set[int]:
    """The compliance plan's author is who proposed it: they do not approve it (segregation of duties)."""
    cycle = session.get(ComplianceCycle, data.get("cycle_id") or 0)
    return {cycle.decided_by_id} if cycle is not None and cycle.decided_by_id else set()


@taskforms.register("carbon_compliance_emissions")
def _confirm_emissions(session: Session, task: HumanTask, user: User, sub: taskforms.Submission) -> dict:
    """Take the verified emissions of a completed verification of the year (``data.verification_id``, else the
    one already linked or the latest completed)."""
    cycle = compliance.get(session, task.subject_id)
    errors: dict[str, str] = {}
    ref = v.integer(sub.data.get("verification_id"), "verification_id", "核查记录", errors, required=False,
                    bounds=v.ID_RANGE)
    v.refuse(errors, "核查记录无效", "invalid_verification")
    ref = ref or cycle.verification_id
    ver = verification.get(session, ref) if ref else verification.completed_for(session, cycle.compliance_year)
    if ver is None or ver.status != "completed" or ver.compliance_year != cycle.compliance_year:
        raise ValidationError(f"请先完成 {cycle.compliance_year} 年度的第三方核查并录入核查排放量",
                              code="verification_required", details={"fields": {"verification_id": "核查未完成"}})
    compliance.take_verification(cycle, ver)
    cycle.lock_version += 1
    history.record(session, user, "compliance_emissions_confirmed", SUBJECT, cycle.id, verification=ver.code,
                   verified=str(ver.verified_emissions), accounted=str(ver.accounting_emissions))
    compliance.changed(session, cycle)
    return {"verified_emissions": str(ver.verified_emissions)}


@services.register("compute_allowance_position")
def compute_allowance_position(step, data: dict) -> dict:
    """BPMN service: the position after the emissions are confirmed; ``{"position", "shortfall"}`` as strings."""
    cycle = compliance.get(step.session, data["cycle_id"])
    pos = compliance.position(step.session, cycle)
    history.record(step.session, step.actor, "compliance_position_computed", SUBJECT, cycle.id,
                   **{k: str(val) for k, val in pos.items()})
    return {"position": str(pos["position"]), "shortfall": str(max(-pos["position"], ZERO))}


def _plan(sub: taskforms.Submission, errors: dict) -> dict:
    d = sub.data
    plan = {"decision": str(d.get("decision") or sub.decision or ""),
            "buy": v.number(d.get("buy_quantity"), "buy_quantity", "买入数量", errors, required=False) or ZERO,
            "sell": v.number(d.get("sell_quantity"), "sell_quantity", "出售数量", errors, required=False) or ZERO,
            "offset": v.number(d.get("offset_quantity"), "offset_quantity", "抵销数量", errors, required=False) or ZERO,
            "price_limit": v.number(d.get("price_limit"), "price_limit", "价格上限", errors, required=False),
            "note": v.text(d.get("note") or sub.comment, "note", "方案说明（依据碳价、减排成本）", errors)}
    if plan["decision"] not in DECISIONS:
        errors["decision"] = "请选择：buy（买入）、sell（出售富余）、offset（使用抵销）或 hold（持有）"
    elif plan["decision"] != "hold" and not plan[plan["decision"]]:
        errors[f"{plan['decision']}_quantity"] = "请填写数量"
    return plan


def _plan_errors(pos: dict, plan: dict) -> dict:
    errors = {}
    surplus = max(pos["position"], ZERO)
    after = pos["position"] + plan["buy"] + plan["offset"] - plan["sell"]
    if plan["offset"] > pos["offset_room"]:
        errors["offset_quantity"] = compliance.offset_message(pos, plan["offset"])
    if plan["sell"] > surplus:
        errors["sell_quantity"] = f"富余配额只有 {v.fmt(surplus)} tCO2e"
    elif after < 0:
        errors["buy_quantity"] = f"方案实施后仍缺配额 {v.fmt(-after)} tCO2e"
    return errors


@taskforms.register("carbon_compliance_decision")
def _propose_decision(session: Session, task: HumanTask, user: User, sub: taskforms.Submission) -> dict:
    """The management representative's plan: ``data.decision`` buy|sell|offset|hold, ``buy_quantity``,
    ``sell_quantity``, ``offset_quantity`` (within the offset limit), ``price_limit``, ``note``."""
    cycle = compliance.get(session, task.subject_id)
    errors: dict[str, str] = {}
    plan = _plan(sub, errors)
    v.refuse(errors, "履约方案不完整", "invalid_decision")
    pos = compliance.position(session, cycle)
    errors = _plan_errors(pos, plan)
    if "offset_quantity" in errors:
        raise ValidationError(errors["offset_quantity"], code="offset_limit_exceeded", details={"fields": errors})
    v.refuse(errors, "履约方案不可行", "invalid_decision")
    cycle.decision, cycle.decision_note, cycle.price_limit = plan["decision"], plan["note"], plan["price_limit"]
    cycle.buy_quantity, cycle.sell_quantity, cycle.offset_quantity = plan["buy"], plan["sell"], plan["offset"]
    cycle.decided_by_id, cycle.approved_by_id, cycle.approved_at = user.id, None, None
    cycle.lock_version += 1
    history.record(session, user, "compliance_decision_proposed", SUBJECT, cycle.id, decision=plan["decision"],
                   buy=str(plan["buy"]), sell=str(plan["sell"]), offset=str(plan["offset"]))
    compliance.changed(session, cycle)
    return {"decision": plan["decision"]}


@taskforms.register("carbon_compliance_execution")
def _executed(session: Session, task: HumanTask, user: User, sub: taskforms.Submission) -> dict:
    """The approved trades are recorded: allowances plus planned offsets must cover the verified emissions."""
    cycle = compliance.get(session, task.subject_id)
    pos = compliance.position(session, cycle)
    covered = pos["position"] + max(cycle.offset_quantity or ZERO, pos["offsets_surrendered"])
    if covered < 0:
        raise ValidationError(f"已登记的交易尚不足以履约：还差 {v.fmt(-covered)} tCO2e（请先登记买入、出售或抵销交易）",
                              code="execution_incomplete")
    history.record(session, user, "compliance_trades_executed", SUBJECT, cycle.id, bought=str(pos["bought"]),
                   sold=str(pos["sold"]), note=sub.comment or "")
    return {}


@taskforms.register("carbon_compliance_surrender")
def _surrendered_all(session: Session, task: HumanTask, user: User, sub: taskforms.Submission) -> dict:
    """Every required unit has been surrendered (surrender transactions of this cycle)."""
    cycle = compliance.get(session, task.subject_id)
    pos = compliance.position(session, cycle)
    if pos["outstanding"] > 0:
        raise ValidationError(f"尚需清缴 {v.fmt(pos['outstanding'])} tCO2e：请先登记清缴交易",
                              code="surrender_incomplete")
    history.record(session, user, "compliance_surrendered", SUBJECT, cycle.id,
                   allowances=str(pos["surrendered_allowances"]), offsets=str(pos["offsets_surrendered"]))
    return {}


@taskforms.register("carbon_compliance_evidence")
def _evidence(session: Session, task: HumanTask, user: User, sub: taskforms.Submission) -> dict:
    """The evidence of completion: an attached file (see :func:`attach_evidence`) and a note."""
    cycle = compliance.get(session, task.subject_id)
    errors: dict[str, str] = {}
    note = v.text(sub.data.get("evidence_note") or sub.comment, "evidence_note", "完成情况说明", errors)
    if not cycle.evidence_sha256:
        errors["evidence"] = "请上传清缴完成的证明文件（注册登记系统清缴确认等）"
    v.refuse(errors, "完成证据不完整", "evidence_required")
    cycle.evidence_note = note
    cycle.lock_version += 1
    compliance.changed(session, cycle)
    return {}


@services.register("close_carbon_compliance")
def close_carbon_compliance(step, data: dict) -> dict:
    """BPMN service: the cycle is closed (the record of DB14/T 2970 §8.5.2)."""
    cycle = compliance.get(step.session, data["cycle_id"])
    cycle.status, cycle.closed_at = "closed", utcnow()
    history.record(step.session, step.actor, "compliance_cycle_closed", SUBJECT, cycle.id, code=cycle.code)
    compliance.changed(step.session, cycle)
    return {"status": "closed"}


def _notify(session: Session, cycle: ComplianceCycle, users: list[User], kind: str, message: str) -> int:
    for user in {u.id: u for u in users}.values():
        session.add(Notification(user_id=user.id, kind=kind, message=message[:500], subject_type=SUBJECT,
                                 subject_id=cycle.id))
    return len({u.id for u in users})


def _watch_message(session: Session, cycle: ComplianceCycle) -> str | None:
    """None when nothing is left to do, else what is still outstanding."""
    if cycle.status == "closed":
        return None
    pos = compliance.position(session, cycle)
    if pos["met_by_deadline"]:
        return None
    left = (cycle.deadline - date.today()).days
    what = f"尚需清缴 {v.fmt(pos['outstanding'])} tCO2e" if pos["outstanding"] is not None else "核查排放量尚未确认"
    return f"{cycle.compliance_year} 年度配额须于 {cycle.deadline} 前完成清缴，{what}（剩余 {max(left, 0)} 天）。"


@services.register("remind_allowance_surrender")
def remind_allowance_surrender(step, data: dict) -> dict:
    """BPMN timer: remind the management representative and the responsible department before the deadline."""
    cycle = compliance.get(step.session, data["cycle_id"])
    message = _watch_message(step.session, cycle)
    if message is None:
        return {"sent": 0}
    users = users_in_role(step.session, "management_representative") + users_in_role(
        step.session, "department_head", cycle.department_id)
    return {"sent": _notify(step.session, cycle, users, "reminder", "履约提醒：" + message)}


@services.register("escalate_allowance_surrender")
def escalate_allowance_surrender(step, data: dict) -> dict:
    """BPMN timer: shortly before the deadline, an unfinished cycle is escalated to top management."""
    cycle = compliance.get(step.session, data["cycle_id"])
    message = _watch_message(step.session, cycle)
    if message is None:
        return {"sent": 0}
    users = users_in_role(step.session, "top_management") + users_in_role(step.session, "management_representative")
    return {"sent": _notify(step.session, cycle, users, "escalation", "升级：" + message)}


@services.register("check_surrender_deadline")
def check_surrender_deadline(step, data: dict) -> dict:
    """BPMN timer at the end of the deadline day: when the required units were not surrendered by then, a
    major nonconformity of the responsible department is raised (once); ``{"met", "nonconformity_id"}``."""
    from cmsflow.nonconformities import service as nonconformities

    session: Session = step.session
    cycle = compliance.get(session, data["cycle_id"])
    pos = compliance.position(session, cycle)
    if pos["met_by_deadline"] or cycle.nonconformity_id:
        return {"met": pos["met_by_deadline"], "nonconformity_id": cycle.nonconformity_id}
    raiser = (users_in_role(session, "management_representative") or users_in_role(session, "top_management")
              or [None])[0]
    what = (f"核查排放量 {v.fmt(pos['required'])} tCO2e，截至期限已清缴配额 {v.fmt(pos['surrendered_allowances'])}、"
            f"抵销 {v.fmt(pos['offsets_surrendered'])}" if pos["required"] is not None else "核查排放量尚未确认")
    history.record(session, None, "compliance_deadline_missed", SUBJECT, cycle.id,
                   deadline=cycle.deadline.isoformat())
    task = workflow.open_task(session, SUBJECT, cycle.id)
    if raiser is None:
        return {"met": False, "nonconformity_id": None}
    nc = nonconformities.raise_nonconformity(
        session, raiser, title=f"{cycle.compliance_year} 年度配额未在 {cycle.deadline} 前足额清缴",
        description=f"履约期 {cycle.code} 的清缴期限 {cycle.deadline} 已过，{what}。",
        evidence=f"履约期 {cycle.code}，当前步骤：{task.title if task else '—'}",
        source="carbon_compliance", department=cycle.department_id, severity="major",
        clauses=["DB14T2970:8.5.2", "TCECAG:9.6.1"], source_ref=f"compliance_cycle:{cycle.id}")
    cycle.nonconformity_id = nc.id
    compliance.changed(session, cycle)
    return {"met": False, "nonconformity_id": nc.id}
