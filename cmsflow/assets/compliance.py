"""Allowance compliance (履约) of a compliance year, run by ``workflows/carbon_compliance.bpmn``
(T/CECA-G §9.6.1 e), DB14/T 2970 §8.5.2, DB44/T 1944 §8.2.3).

The management representative confirms the verified emissions (from the accounting results and the
third-party verification record), the allowance position is computed, the management representative
proposes buying, selling the surplus or using offsets within the offset limit, top management approves
with a signature, the trades are recorded as transactions, the allowances are surrendered before the
deadline and the evidence of completion closes the cycle. In parallel a watch reminds (config
``SURRENDER_REMINDER_DAYS``), escalates (``SURRENDER_ESCALATION_DAYS``) and, when the deadline passes
without the required units surrendered, raises a nonconformity.

The task forms and services of the process are in ``compliance_steps``.

Position (tCO2e) = allocated + bought − sold − required, over the allowance lot of the compliance year;
required = verified emissions. Offsets (config ``CARBON_OFFSET_TYPES``, default CCER) may cover at most
``CARBON_OFFSET_LIMIT`` (default 5 %) of the verified emissions.
"""
from __future__ import annotations

from datetime import date, time, timedelta
from decimal import Decimal

from sqlmodel import Session, select

from cmsflow.assets import ledger, verification
from cmsflow.assets import values as v
from cmsflow.assets.models import CYCLE_TASK_STATUS, AssetLot, AssetTransaction, ComplianceCycle
from cmsflow.auth.models import User
from cmsflow.core import signals
from cmsflow.core.attachments import store_attachment
from cmsflow.core.clock import at_local
from cmsflow.core.db import utcnow
from cmsflow.core.errors import Conflict, NotFound, ValidationError
from cmsflow.core.runtime import config
from cmsflow.history import service as history
from cmsflow.workflow import service as workflow
from cmsflow.workflow.models import HumanTask

SUBJECT = "compliance_cycle"
PROCESS = "carbon_compliance"
ZERO = Decimal(0)


def offset_ratio() -> Decimal:
    """Share of the verified emissions offsets may cover (config ``CARBON_OFFSET_LIMIT``)."""
    return Decimal(str(config()["CARBON_OFFSET_LIMIT"]))


def watch_times(deadline: date) -> dict:
    """ISO instants of the reminder, the escalation (08:00 local, days before the deadline) and the moment
    the deadline is missed (the end of the deadline day)."""
    cfg = config()
    return {"reminder_at": at_local(deadline - timedelta(days=cfg["SURRENDER_REMINDER_DAYS"])).isoformat(),
            "escalation_at": at_local(deadline - timedelta(days=cfg["SURRENDER_ESCALATION_DAYS"])).isoformat(),
            "deadline_at": at_local(deadline + timedelta(days=1), time(0, 0)).isoformat()}


def get(session: Session, cycle_id: int) -> ComplianceCycle:
    """A cycle by id; NotFound otherwise."""
    cycle = session.get(ComplianceCycle, cycle_id)
    if cycle is None:
        raise NotFound("履约期不存在")
    return cycle


def cycles(session: Session) -> list[ComplianceCycle]:
    """Every compliance cycle, newest compliance year first."""
    return list(session.exec(select(ComplianceCycle).order_by(ComplianceCycle.compliance_year.desc())))


def open_cycle(session: Session, actor: User, *, compliance_year, deadline=None, department=None) -> ComplianceCycle:
    """Open the compliance cycle of ``compliance_year`` and start ``carbon_compliance`` (:func:`new_cycle`, then
    :func:`start_workflow`). Raises PermissionDenied (MR/admin), ValidationError, Conflict ``cycle_exists``."""
    cycle = new_cycle(session, actor, compliance_year=compliance_year, deadline=deadline, department=department)
    start_workflow(session, cycle, actor)
    return cycle


def new_cycle(session: Session, actor: User, *, compliance_year, deadline=None, department=None) -> ComplianceCycle:
    """The cycle of ``compliance_year`` without its process yet (deadline default 31 December of the next year;
    department default config ``CARBON_ASSET_DEPARTMENT``, else the actor's). The allowance lot of the year is
    registered when missing; a completed verification of the year is taken over. Recording a past cycle, its
    transactions are entered before :func:`start_workflow`, whose deadline watch then sees them."""
    v.require_manager(actor, "开启履约期")
    errors: dict[str, str] = {}
    year = v.integer(compliance_year, "compliance_year", "履约年度", errors, bounds=v.YEARS)
    due = v.day(deadline, "deadline", errors, default=date(year + 1, 12, 31) if year else None)
    dept = v.department(session, department, errors) if department else (v.asset_department(session) or (
        v.department(session, actor.department_id, errors) if actor.department_id else None))
    if dept is None and "department" not in errors:
        errors["department"] = "请指定负责履约的部门"
    v.refuse(errors, "履约期信息不完整", "invalid_cycle")
    if session.exec(select(ComplianceCycle).where(ComplianceCycle.compliance_year == year)).first():
        raise Conflict(f"{year} 年度履约期已存在", code="cycle_exists")
    lot = ledger.cea_lot(session, year) or ledger.create_lot(session, actor, asset_type="cea", compliance_year=year)
    cycle = ComplianceCycle(code=f"LY-{year}", compliance_year=year, lot_id=lot.id, deadline=due,
                            department_id=dept.id, offset_limit_ratio=offset_ratio(), created_by_id=actor.id)
    session.add(cycle)
    session.flush()
    done = verification.completed_for(session, year)
    if done is not None:
        take_verification(cycle, done)
    history.record(session, actor, "compliance_cycle_opened", SUBJECT, cycle.id, code=cycle.code,
                   deadline=due.isoformat(), lot=lot.code)
    changed(session, cycle)
    return cycle


def start_workflow(session: Session, cycle: ComplianceCycle, actor: User | None) -> None:
    """Start ``carbon_compliance`` for the cycle (its deadline watch fires at once for dates already past)."""
    inst = workflow.start_process(session, PROCESS, SUBJECT, cycle.id, {
        "cycle_id": cycle.id, "department_id": cycle.department_id, "watch": watch_times(cycle.deadline)}, actor)
    cycle.instance_id = inst.id
    changed(session, cycle)


def take_verification(cycle: ComplianceCycle, ver) -> None:
    """Copy a completed verification's verified and accounted emissions onto the cycle."""
    cycle.verification_id = ver.id
    cycle.verified_emissions, cycle.accounting_emissions = ver.verified_emissions, ver.accounting_emissions


def changed(session: Session, cycle: ComplianceCycle) -> None:
    """Flush a changed cycle and queue it for the search index."""
    cycle.updated_at = utcnow()
    session.flush()
    signals.subject_changed.send(SUBJECT, subject_id=cycle.id, session=session)


# --- position -----------------------------------------------------------------------------------------------

def _surrendered(session: Session, cycle: ComplianceCycle, until: date | None = None) -> tuple[Decimal, Decimal]:
    """(allowances, offsets) surrendered for the cycle, optionally only those dated on or before ``until``."""
    q = (select(AssetTransaction, AssetLot).join(AssetLot, AssetLot.id == AssetTransaction.lot_id)
         .where(AssetTransaction.cycle_id == cycle.id, AssetTransaction.kind == "surrender"))
    if until is not None:
        q = q.where(AssetTransaction.occurred_on <= until)
    allowances, offsets = ZERO, ZERO
    for txn, lot in session.exec(q):
        if lot.asset_type == "cea":
            allowances += Decimal(txn.quantity)
        else:
            offsets += Decimal(txn.quantity)
    return allowances, offsets


def position(session: Session, cycle: ComplianceCycle) -> dict:
    """The allowance position of a cycle, Decimals in tCO2e (None where the verified emissions are unknown):
    ``allocated``, ``bought``, ``sold``, ``required``, ``position`` (allocated + bought − sold − required;
    negative = shortfall), ``surrendered_allowances``, ``offsets_surrendered``, ``offset_limit``,
    ``offset_room``, ``outstanding`` (required − surrendered), ``met_by_deadline`` (bool)."""
    totals = ledger.lot_totals(session, cycle.lot_id)
    required = cycle.verified_emissions
    allowances, offsets = _surrendered(session, cycle)
    on_time = sum(_surrendered(session, cycle, cycle.deadline), ZERO)
    limit = (required * cycle.offset_limit_ratio).quantize(v.PLACES) if required is not None else None
    base = totals["allocation"] + totals["purchase"] - totals["sale"]
    return {"allocated": totals["allocation"], "bought": totals["purchase"], "sold": totals["sale"],
            "required": required, "position": base - required if required is not None else None,
            "surrendered_allowances": allowances, "offsets_surrendered": offsets, "offset_limit": limit,
            "offset_room": limit - offsets if limit is not None else None,
            "outstanding": max(required - allowances - offsets, ZERO) if required is not None else None,
            "met_by_deadline": required is not None and on_time >= required}


def check_surrender(session: Session, cycle: ComplianceCycle, lot: AssetLot, quantity: Decimal) -> None:
    """Refuse a surrender that this cycle cannot take: a closed cycle, allowances of a later year, an asset
    type that is no offset, or offsets beyond the limit (ValidationError ``offset_limit_exceeded``)."""
    if cycle.status == "closed":
        raise ValidationError(f"履约期 {cycle.code} 已完成", code="cycle_closed")
    if lot.asset_type == "cea":
        if lot.compliance_year > cycle.compliance_year:
            raise ValidationError("不能用以后年度的配额清缴本年度", code="invalid_surrender")
        return
    if lot.asset_type not in config()["CARBON_OFFSET_TYPES"]:
        raise ValidationError("此类资产不能用于履约抵销", code="invalid_surrender")
    pos = position(session, cycle)
    if pos["offset_limit"] is None:
        raise ValidationError("核查排放量确认前不能使用抵销", code="offset_limit_unknown")
    if pos["offsets_surrendered"] + quantity > pos["offset_limit"]:
        raise ValidationError(offset_message(pos, quantity), code="offset_limit_exceeded",
                              details={"fields": {"quantity": f"抵销余量 {pos['offset_room']}"}})


def offset_message(pos: dict, quantity: Decimal) -> str:
    """Why ``quantity`` of offsets is refused: the limit, what is used and what is left."""
    return (f"抵销量超过上限：上限为核查排放量的 {pos['offset_limit'] / pos['required'] * 100:.1f}%"
            f"（{v.fmt(pos['offset_limit'])} tCO2e），已使用 {v.fmt(pos['offsets_surrendered'])}，"
            f"本次 {v.fmt(quantity)}，尚可使用 {v.fmt(pos['offset_room'])}")


def attach_evidence(session: Session, actor: User, cycle: ComplianceCycle, filename: str, data: bytes) -> None:
    """Store the evidence of completion (the registry's surrender confirmation)."""
    v.require_trader(session, actor)
    cycle.evidence_sha256, cycle.evidence_filename = store_attachment(session, filename, data, "履约证据")
    history.record(session, actor, "compliance_evidence_attached", SUBJECT, cycle.id, filename=cycle.evidence_filename)
    changed(session, cycle)


def complete_step(session: Session, cycle: ComplianceCycle, user: User, step: str, *, decision=None,
                  comment: str = "", password=None, data: dict | None = None) -> HumanTask:
    """Complete the cycle's open step (see :data:`CYCLE_TASK_STATUS`); Conflict ``step_not_open`` otherwise."""
    return workflow.complete_step(session, SUBJECT, cycle.id, step, user, decision=decision, comment=comment,
                                  password=password, data=data)


@signals.process_stepped.connect_via(PROCESS)
def _follow_process(_sender, instance, session: Session, **_kw) -> None:
    cycle = session.get(ComplianceCycle, instance.subject_id)
    if workflow.follow_open_task(session, cycle, SUBJECT, CYCLE_TASK_STATUS, ("closed",)):
        changed(session, cycle)


@signals.task_completed.connect_via(PROCESS)
def _approved(_sender, task: HumanTask, session: Session, actor: User, **_kw) -> None:
    if task.name == "approve_decision" and task.decision == "approve":
        cycle = session.get(ComplianceCycle, task.subject_id)
        cycle.approved_by_id, cycle.approved_at = actor.id, utcnow()
        history.record(session, actor, "compliance_decision_approved", SUBJECT, cycle.id, decision=cycle.decision)


# --- dashboard ---------------------------------------------------------------------------------------------

def overview(session: Session) -> dict:
    """Dashboard figures: ``cycle`` (the open cycle with the nearest deadline, else the latest), its
    ``position`` dict, ``days_left`` to the nearest open deadline (negative when missed), or None."""
    open_ = list(session.exec(select(ComplianceCycle).where(ComplianceCycle.status != "closed")
                              .order_by(ComplianceCycle.deadline)))
    cycle = open_[0] if open_ else session.exec(select(ComplianceCycle)
                                                .order_by(ComplianceCycle.compliance_year.desc())).first()
    return {"cycle": cycle, "position": position(session, cycle) if cycle else None,
            "days_left": (open_[0].deadline - date.today()).days if open_ else None}
