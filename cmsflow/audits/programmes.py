"""Audit programmes: create, add planned audits, submit for the management representative's signed
approval, and the coverage check (every clause of the criteria and every department in the period)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlmodel import Session, select

from cmsflow.audits.models import Audit, AuditProgramme
from cmsflow.auth.models import Department, User
from cmsflow.core import signals
from cmsflow.core.clock import at_local
from cmsflow.core.db import utcnow
from cmsflow.core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from cmsflow.core.models import next_value
from cmsflow.core.runtime import config
from cmsflow.history import service as history
from cmsflow.nonconformities.service import find_user, parse_date
from cmsflow.standards import service as standards
from cmsflow.standards.library import Standard
from cmsflow.workflow import segregation, services
from cmsflow.workflow import service as workflow

PROGRAMME = "audit_programme"
AUDIT = "audit"
PLANNERS = ("management_representative", "internal_auditor", "admin")


def _month(raw, errors: dict, name: str) -> date | None:
    text = str(raw or "").strip()
    try:
        return date.fromisoformat(f"{text[:7]}-01")
    except ValueError:
        errors[name] = f"计划月份格式应为 YYYY-MM，而不是「{raw}」"
        return None


def _check_planner(user: User) -> None:
    if user.role not in PLANNERS:
        raise PermissionDenied("只有管理者代表或内审员可以编制审核方案")


def get_programme(session: Session, programme_id: int) -> AuditProgramme:
    row = session.get(AuditProgramme, programme_id)
    if row is None:
        raise NotFound("审核方案不存在")
    return row


def create_programme(session: Session, actor: User, *, title: str, period_start, period_end, objectives: str,
                     criteria: list | None = None) -> AuditProgramme:
    """A draft programme for a period; ``criteria`` are standard codes (default: the applicable ones).

    Raises ValidationError with ``details.fields`` (missing title, bad dates, unknown standard).
    """
    _check_planner(actor)
    errors: dict[str, str] = {}
    title = str(title or "").strip()
    if not title:
        errors["title"] = "请填写方案名称"
    start = parse_date(period_start, "period_start", errors)
    end = parse_date(period_end, "period_end", errors)
    if start and end and end < start:
        errors["period_end"] = "结束日期早于开始日期"
    criteria = [str(c) for c in (criteria or standards.applicable_codes(session))]
    unknown = [c for c in criteria if c not in standards.library()]
    if unknown or not criteria:
        errors["criteria"] = f"审核准则须为条款库中的标准：{'、'.join(unknown) or '未选择'}"
    if errors:
        raise ValidationError("审核方案信息有误：" + "；".join(errors.values()), code="invalid_programme",
                              details={"fields": errors})
    n = next_value(session, f"iap:{start.year}")
    prog = AuditProgramme(code=f"IAP-{start.year}" + (f"-{n}" if n > 1 else ""), title=title, period_start=start,
                          period_end=end, objectives=str(objectives or "").strip(), criteria=criteria,
                          author_id=actor.id)
    session.add(prog)
    session.flush()
    history.record(session, actor, "programme_created", PROGRAMME, prog.id, code=prog.code)
    return prog


def _departments(session: Session, codes, errors: dict) -> list[int]:
    ids = []
    for code in codes or []:
        dept = session.exec(select(Department).where(Department.code == str(code).strip().upper())).first()
        if dept is None:
            errors["departments"] = f"部门 {code} 不存在"
        else:
            ids.append(dept.id)
    if not codes:
        errors["departments"] = "请选择受审核部门"
    return ids


def check_independence(session: Session, auditors: list[User], department_ids: list[int]) -> None:
    """An auditor never audits their own department (T/CECA-G §10.2.2 b); raises ValidationError naming who."""
    clashes = [u for u in auditors if u.department_id in department_ids]
    if clashes:
        names = "、".join(f"{u.display_name}（{session.get(Department, u.department_id).name}）" for u in clashes)
        raise ValidationError(f"审核员不能审核本部门：{names}。请更换审核员或调整审核范围（T/CECA-G 10.2.2 b）",
                              code="auditor_not_independent")


def add_audit(session: Session, actor: User, prog: AuditProgramme, *, title: str, month, departments: list,
              clauses: list, lead_auditor=None) -> Audit:
    """Add a planned audit (month ``YYYY-MM`` inside the period) to a draft programme."""
    _check_planner(actor)
    if prog.status != "draft":
        raise Conflict("审核方案已提交或已批准，不能再增加审核", code="programme_not_draft")
    errors: dict[str, str] = {}
    planned = _month(month, errors, "month")
    if planned and not (prog.period_start.replace(day=1) <= planned <= prog.period_end):
        errors["month"] = f"计划月份须在方案期间 {prog.period_start} 至 {prog.period_end} 内"
    dept_ids = _departments(session, departments, errors)
    refs: list[str] = []
    try:
        refs = standards.validate_refs(clauses)
    except ValidationError as exc:
        errors["clauses"] = exc.message
    if not clauses:
        errors["clauses"] = "请选择审核条款"
    lead = None
    if lead_auditor:
        try:
            lead = find_user(session, lead_auditor, "审核组长")
        except ValidationError as exc:
            errors["lead_auditor"] = exc.message
    if errors:
        raise ValidationError("审核计划有误：" + "；".join(errors.values()), code="invalid_audit",
                              details={"fields": errors})
    if lead:
        check_independence(session, [lead], dept_ids)
    n = next_value(session, f"ia:{planned.year}")
    audit = Audit(programme_id=prog.id, code=f"IA-{planned.year}-{n:02d}", title=str(title or "").strip() or
                  f"{planned.year}年{planned.month}月内部审核", planned_month=planned, department_ids=dept_ids,
                  clauses=refs, lead_auditor_id=lead.id if lead else None)
    session.add(audit)
    session.flush()
    history.record(session, actor, "audit_planned", PROGRAMME, prog.id, audit=audit.code)
    return audit


def audits_of(session: Session, prog: AuditProgramme) -> list[Audit]:
    return list(session.exec(select(Audit).where(Audit.programme_id == prog.id)
                             .order_by(Audit.planned_month, Audit.id)))


def submit_programme(session: Session, actor: User, prog: AuditProgramme) -> None:
    """Send a draft programme with at least one audit to the management representative for approval."""
    _check_planner(actor)
    if prog.status != "draft":
        raise Conflict("审核方案已提交", code="programme_not_draft")
    if not audits_of(session, prog):
        raise ValidationError("审核方案中还没有任何审核", code="programme_empty")
    prog.status = "in_approval"
    inst = workflow.start_process(session, "audit_programme_approval", PROGRAMME, prog.id,
                                  {"programme_id": prog.id, "author_id": actor.id}, actor)
    prog.instance_id = inst.id
    _changed(session, prog)


def _changed(session: Session, prog: AuditProgramme) -> None:
    prog.updated_at = utcnow()
    prog.lock_version += 1
    session.flush()
    signals.subject_changed.send(PROGRAMME, subject_id=prog.id, session=session)


def preparation_start(month: date) -> datetime:
    """When preparation of an audit planned for ``month`` starts: AUDIT_PREPARATION_DAYS before its first
    day, at 08:00 in the organisation's time zone (aware datetime)."""
    return at_local(month) - timedelta(days=config()["AUDIT_PREPARATION_DAYS"])


@services.register("approve_audit_programme")
def approve_audit_programme(step, data: dict) -> dict:
    """BPMN service: the programme is approved; each planned audit starts its own ``internal_audit``
    process, waiting on a timer until its preparation date."""
    session: Session = step.session
    prog = session.get(AuditProgramme, data["programme_id"])
    prog.status, prog.approved_at = "approved", utcnow()
    prog.approved_by_id = data.get("last_actor_id")
    started = 0
    for audit in audits_of(session, prog):
        if audit.instance_id is None:
            start_audit_process(session, audit, step.actor)
            started += 1
    history.record(session, step.actor, "programme_approved", PROGRAMME, prog.id, audits=started)
    _changed(session, prog)
    return {"audits_started": started}


@segregation.register_authors(AUDIT)
def _report_authors(session: Session, data: dict) -> set[int]:
    """The audit report's author is the lead auditor: they do not approve it (segregation of duties)."""
    audit = session.get(Audit, data.get("audit_id") or 0)
    return {audit.lead_auditor_id} if audit is not None and audit.lead_auditor_id else set()


def start_audit_process(session: Session, audit: Audit, actor) -> None:
    inst = workflow.start_process(session, "internal_audit", AUDIT, audit.id, {
        "audit_id": audit.id, "prepare_at": preparation_start(audit.planned_month).isoformat(),
        "lead_auditor_id": audit.lead_auditor_id, "department_id": None,
        "step_due": f"P{config()['TASK_DUE_AFTER_DAYS']}D"}, actor)
    audit.instance_id = inst.id


# --- coverage -----------------------------------------------------------------------------------------

@dataclass
class ProgrammeCoverage:
    uncovered_clauses: list[str] = field(default_factory=list)  # refs, collapsed to the highest level
    uncovered_departments: list[Department] = field(default_factory=list)
    covered_clauses: int = 0
    total_clauses: int = 0

    @property
    def complete(self) -> bool:
        return not self.uncovered_clauses and not self.uncovered_departments


def _uncovered(std: Standard, number: str | None, scope: set[str], out: list[str]) -> tuple[bool, int, int]:
    """Walk the clause tree; returns (entirely uncovered, covered leaves, leaves) for the subtree."""
    children = std.children(number)
    if number is not None and f"{std.code}:{number}" in scope:
        leaves = _count_leaves(std, number)
        return False, leaves, leaves
    if not children:
        return True, 0, 1
    results, found = [], []
    for child in children:
        sub: list[str] = []
        results.append((child, _uncovered(std, child.number, scope, sub)))
        found.append(sub)
    whole = all(r[1][0] for r in results)
    if whole and number is not None:
        return True, 0, sum(r[1][2] for r in results)
    for (child, (entire, _c, _n)), sub in zip(results, found, strict=True):
        out.extend([child.ref] if entire else sub)
    return False, sum(r[1][1] for r in results), sum(r[1][2] for r in results)


def _count_leaves(std: Standard, number: str) -> int:
    children = std.children(number)
    return sum(_count_leaves(std, c.number) for c in children) if children else 1


def coverage(session: Session, prog: AuditProgramme) -> ProgrammeCoverage:
    """Which clauses of the criteria standards and which departments no audit of the programme covers.

    A clause is covered when it or a parent clause is in an audit's scope; a parent whose sub-clauses
    are all uncovered is reported as one entry.
    """
    audits = audits_of(session, prog)
    scope = {ref for a in audits for ref in a.clauses}
    result = ProgrammeCoverage()
    for code in prog.criteria:
        std = standards.library().get(code)
        if std is None:
            continue
        out: list[str] = []
        entire, covered, total = _uncovered(std, None, scope, out)
        result.uncovered_clauses.extend(out if not entire else [c.ref for c in std.children(None)])
        result.covered_clauses += covered
        result.total_clauses += total
    audited = {d for a in audits for d in a.department_ids}
    result.uncovered_departments = [d for d in session.exec(select(Department).order_by(Department.code))
                                    if d.id not in audited]
    return result
