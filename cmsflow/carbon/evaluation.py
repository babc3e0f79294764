"""Maturity evaluations as ``maturity_evaluation.bpmn`` (T/CECA-G §12.4): the lead evaluator plans,
reviews the documents, evaluates on site (findings by PDCA area) and scores every item of the scheme
plus the carbon-intensity indicator; the report is generated from ``maturity_report.docx``, top
management approves it with a signature, it is filed as a controlled record valid three years, and a
timer reminds management before it expires.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from sqlmodel import Session, func, select

from cmsflow.auth.models import User
from cmsflow.auth.service import users_in_role
from cmsflow.carbon import maturity, service
from cmsflow.carbon.models import (
    MATURITY_TASK_STATUS,
    PDCA_AREAS,
    ActivityData,
    EmissionFactor,
    MaturityEvaluation,
    MaturityScore,
)
from cmsflow.core import signals
from cmsflow.core.clock import at_local
from cmsflow.core.db import utcnow
from cmsflow.core.errors import NotFound, PermissionDenied, ValidationError
from cmsflow.core.models import next_value
from cmsflow.core.runtime import config, file_store
from cmsflow.documents import templating
from cmsflow.history import service as history
from cmsflow.nonconformities.service import find_user, parse_date
from cmsflow.workflow import segregation, services, taskforms
from cmsflow.workflow import service as workflow
from cmsflow.workflow.models import HumanTask, Notification

SUBJECT = "maturity_evaluation"
PROCESS = "maturity_evaluation"
VALID_YEARS = 3  # T/CECA-G §12.4.1


def scheme() -> maturity.Scheme:
    return maturity.load_scheme(config().get("MATURITY_SCHEME") or None)


def get(session: Session, ev_id: int) -> MaturityEvaluation:
    ev = session.get(MaturityEvaluation, ev_id)
    if ev is None:
        raise NotFound("成熟度评价不存在")
    return ev


def create_evaluation(session: Session, actor: User, *, title: str, period_start, period_end, lead,
                      team=None, product: str | None = None) -> MaturityEvaluation:
    """Open an evaluation of [period_start, period_end] led by ``lead`` (username/id) and start its process.

    Raises PermissionDenied unless MR/top management/admin, ValidationError for missing title, bad
    dates or an unknown lead.
    """
    if actor.role not in ("management_representative", "top_management", "admin"):
        raise PermissionDenied("只有管理者代表或最高管理者可以发起成熟度评价")
    errors: dict[str, str] = {}
    if not str(title or "").strip():
        errors["title"] = "请填写评价名称"
    start = parse_date(period_start, "period_start", errors)
    end = parse_date(period_end, "period_end", errors)
    if start and end and end < start:
        errors["period_end"] = "评价期间的结束日期早于开始日期"
    lead_user = None
    try:
        lead_user = find_user(session, lead, "评价组长")
    except ValidationError as exc:
        errors["lead"] = exc.message
    if errors:
        raise ValidationError("；".join(errors.values()), code="invalid_evaluation", details={"fields": errors})
    year = end.year
    ev = MaturityEvaluation(code=f"ME-{year}-{next_value(session, f'me:{year}'):02d}", title=title.strip(),
                            scheme_code=scheme().code, period_start=start, period_end=end, product=product or None,
                            lead_id=lead_user.id, team=[str(t).strip() for t in (team or []) if str(t).strip()],
                            created_by_id=actor.id)
    session.add(ev)
    session.flush()
    history.record(session, actor, "maturity_evaluation_opened", SUBJECT, ev.id, code=ev.code)
    days = config()["TASK_DUE_AFTER_DAYS"] * 2
    inst = workflow.start_process(session, PROCESS, SUBJECT, ev.id, {
        "evaluation_id": ev.id, "lead_evaluator_id": lead_user.id, "step_due_days": days,
        "step_due": f"P{days}D"}, actor)
    ev.instance_id = inst.id
    _changed(session, ev)
    return ev


def _changed(session: Session, ev: MaturityEvaluation) -> None:
    ev.updated_at = utcnow()
    session.flush()
    signals.subject_changed.send(SUBJECT, subject_id=ev.id, session=session)


@signals.process_stepped.connect_via(PROCESS)
def _follow_process(_sender, instance, session: Session, **_kw) -> None:
    ev = session.get(MaturityEvaluation, instance.subject_id)
    if workflow.follow_open_task(session, ev, SUBJECT, MATURITY_TASK_STATUS, ("issued",)):
        _changed(session, ev)


def _texts(data: dict, required: dict[str, str], optional=()) -> dict:
    out = {k: str(data.get(k) or "").strip() for k in (*required, *optional)}
    errors = {k: f"请填写{label}" for k, label in required.items() if not out[k]}
    if errors:
        raise ValidationError("；".join(errors.values()), code="incomplete", details={"fields": errors})
    return out


def _ev(session: Session, task: HumanTask) -> MaturityEvaluation:
    ev = get(session, task.subject_id)
    ev.lock_version += 1
    return ev


@segregation.register_authors(SUBJECT)
def _report_authors(_session: Session, data: dict) -> set[int]:
    """The evaluation report's author is the lead evaluator: they do not approve it (segregation of duties)."""
    return {int(data["lead_evaluator_id"])} if data.get("lead_evaluator_id") else set()


@taskforms.register("maturity_plan")
def _plan(session: Session, task: HumanTask, user: User, sub: taskforms.Submission) -> dict:
    ev = _ev(session, task)
    t = _texts(sub.data, {"objective": "评价目的", "criteria": "评价准则", "scope": "评价范围", "schedule": "评价日程"})
    ev.objective, ev.criteria, ev.scope, ev.schedule = t["objective"], t["criteria"], t["scope"], t["schedule"]
    if isinstance(sub.data.get("team"), list):
        ev.team = [str(x).strip() for x in sub.data["team"] if str(x).strip()]
    history.record(session, user, "maturity_plan_set", SUBJECT, ev.id)
    _changed(session, ev)
    return {}


@taskforms.register("maturity_document_review")
def _documents(session: Session, task: HumanTask, user: User, sub: taskforms.Submission) -> dict:
    ev = _ev(session, task)
    t = _texts(sub.data, {"document_review": "文件评价结论"}, ("focus_points",))
    ev.document_review, ev.focus_points = t["document_review"], t["focus_points"] or None
    _changed(session, ev)
    return {}


@taskforms.register("maturity_onsite")
def _onsite(session: Session, task: HumanTask, user: User, sub: taskforms.Submission) -> dict:
    ev = _ev(session, task)
    raw = sub.data.get("findings") or {}
    if not isinstance(raw, dict):
        raise ValidationError("findings 必须是对象（plan/do/check/act → 文字）", code="invalid_json")
    findings = {k: str(raw.get(k) or "").strip() for k in PDCA_AREAS if str(raw.get(k) or "").strip()}
    if not findings:
        raise ValidationError("请至少填写一个方面的现场评价发现", code="incomplete",
                              details={"fields": {f"findings.{k}": "必填其一" for k in PDCA_AREAS}})
    ev.findings = findings
    _changed(session, ev)
    return {}


def _decimal_or_none(raw, name: str, errors: dict) -> Decimal | None:
    if raw in (None, ""):
        return None
    try:
        value = Decimal(str(raw))
    except Exception:
        errors[name] = "必须是数字"
        return None
    if value <= 0:
        errors[name] = "必须大于 0"
    return value


def period_intensity(session: Session, ev: MaturityEvaluation) -> Decimal | None:
    """The product's intensity over the evaluation period from the stored results, or None."""
    if not ev.product:
        return None
    try:
        data = service.intensity(session, ev.product, ev.period_start.replace(day=1), ev.period_end)
    except NotFound:
        return None
    return Decimal(data["intensity"]) if data["intensity"] else None


def _clean_scores(items: dict, raw: dict, errors: dict) -> dict[str, tuple[Decimal, str, list]]:
    """Item code → (score, justification, evidence); every item must be scored, deductions explained."""
    missing = [code for code in items if code not in raw]
    if missing:
        more = "…" if len(missing) > 5 else ""
        errors["scores"] = f"尚有 {len(missing)} 个评分项未评分：{'、'.join(missing[:5])}{more}"
    clean: dict[str, tuple[Decimal, str, list]] = {}
    for code, entry in raw.items():
        entry = entry if isinstance(entry, dict) else {"score": entry}
        try:
            score = Decimal(str(entry.get("score")))
        except Exception:
            errors[code] = "得分必须是数字"
            continue
        note = str(entry.get("justification") or "").strip()
        if code in items and score < items[code].points and not note:
            errors[code] = "扣分须说明理由"
        clean[code] = (score, note, [str(e) for e in entry.get("evidence") or []])
    return clean


def apply_scores(session: Session, ev: MaturityEvaluation, data: dict) -> None:
    """Store every item's score and compute S_qual, S_quant, I and the rating (all items must be scored;
    a score below the item's points needs a justification). Raises ValidationError with the fields."""
    sch = scheme()
    items = sch.items()
    raw = data.get("scores") or {}
    if not isinstance(raw, dict):
        raise ValidationError("scores 必须是对象（评分项代码 → {score, justification, evidence}）",
                              code="invalid_json")
    errors: dict[str, str] = {}
    clean = _clean_scores(items, raw, errors)
    intensity = _decimal_or_none(data.get("intensity"), "intensity", errors)
    advanced = _decimal_or_none(data.get("industry_advanced"), "industry_advanced", errors)
    best = _decimal_or_none(data.get("best_previous"), "best_previous", errors)
    conclusion = str(data.get("conclusion") or "").strip()
    if not conclusion:
        errors["conclusion"] = "请填写评价结论"
    if errors:
        raise ValidationError("评分不完整：" + "；".join(errors.values()), code="invalid_scores",
                              details={"fields": errors})
    s_qual = maturity.qualitative_total(sch, {c: v[0] for c, v in clean.items()})
    intensity = intensity or period_intensity(session, ev)
    if intensity is None:
        raise ValidationError("缺少评价期的碳排放强度（填写，或设置产品并录入碳排放数据）",
                              code="intensity_required", details={"fields": {"intensity": "必填"}})
    s_quant, method, ratio = maturity.quantitative_score(sch, intensity, advanced=advanced, best_previous=best)
    total = maturity.composite(sch, s_qual, s_quant)
    a1, a2 = sch.weights
    for row in session.exec(select(MaturityScore).where(MaturityScore.evaluation_id == ev.id)):
        session.delete(row)
    session.flush()
    for code, (score, note, evidence) in clean.items():
        session.add(MaturityScore(evaluation_id=ev.id, item_code=code, score=score, justification=note or None,
                                  evidence=evidence))
    ev.intensity, ev.industry_advanced, ev.best_previous = intensity, advanced, best
    ev.quant_method, ev.quant_ratio, ev.quant_score = method, ratio.quantize(Decimal("0.0001")), s_quant
    ev.qual_total, ev.composite, ev.rating = s_qual, total, maturity.rating(sch, total)["rating"]
    ev.weights, ev.conclusion = {"qualitative": str(a1), "quantitative": str(a2)}, conclusion


@taskforms.register("maturity_score")
def _score(session: Session, task: HumanTask, user: User, sub: taskforms.Submission) -> dict:
    ev = _ev(session, task)
    apply_scores(session, ev, sub.data)
    history.record(session, user, "maturity_scored", SUBJECT, ev.id, qualitative=str(ev.qual_total),
                   quantitative=str(ev.quant_score), composite=str(ev.composite), rating=ev.rating)
    _changed(session, ev)
    return {}


@services.register("render_maturity_report")
def render_maturity_report(step, data: dict) -> dict:
    """BPMN service: the draft report (scores, rating, findings) for top management's approval."""
    from cmsflow.carbon import report

    session: Session = step.session
    ev = session.get(MaturityEvaluation, data["evaluation_id"])
    ev.report_sha256 = file_store().put(session, report.render(session, ev), templating.DOCX_MIME)
    _changed(session, ev)
    return {"sha256": ev.report_sha256}


@services.register("issue_maturity_report")
def issue_maturity_report(step, data: dict) -> dict:
    """BPMN service: the approved report becomes a stamped controlled record valid three years; returns
    ``{"remind_at"}``, when the validity timer reminds management to plan the next evaluation."""
    from cmsflow.carbon import report

    session: Session = step.session
    ev = session.get(MaturityEvaluation, data["evaluation_id"])
    approver = session.get(User, data.get("last_actor_id")) if data.get("last_actor_id") else step.actor
    ev.approved_by_id, ev.approved_at = getattr(approver, "id", None), utcnow()
    ev.valid_until = date.today() + relativedelta(years=VALID_YEARS)
    rendered = report.render(session, ev)
    ev.record_sha256 = file_store().put(session, templating.stamp(
        rendered, code=ev.code, version=1, effective_date=date.today().isoformat(),
        approver=approver.display_name if approver else ""), templating.DOCX_MIME)
    ev.status = "issued"
    history.record(session, approver, "maturity_report_issued", SUBJECT, ev.id, rating=ev.rating,
                   valid_until=ev.valid_until.isoformat())
    _changed(session, ev)
    remind = ev.valid_until - timedelta(days=config()["MATURITY_EXPIRY_REMINDER_DAYS"])
    return {"remind_at": at_local(remind).isoformat()}


@services.register("remind_maturity_expiry")
def remind_maturity_expiry(step, data: dict) -> dict:
    """BPMN timer service: tell top management and the MR that the evaluation result expires soon."""
    session: Session = step.session
    ev = session.get(MaturityEvaluation, data["evaluation_id"])
    users = users_in_role(session, "top_management") + users_in_role(session, "management_representative")
    for user in users:
        session.add(Notification(user_id=user.id, kind="reminder", subject_type=SUBJECT, subject_id=ev.id,
                                 message=f"成熟度评价 {ev.code} 的结果将于 {ev.valid_until} 到期，请安排重新评价"))
    return {"notified": len(users)}


def complete_step(session: Session, ev: MaturityEvaluation, user: User, step: str, **kwargs) -> HumanTask:
    return workflow.complete_step(session, SUBJECT, ev.id, step, user, **kwargs)


def scores_of(session: Session, ev: MaturityEvaluation) -> dict[str, MaturityScore]:
    return {s.item_code: s for s in session.exec(select(MaturityScore).where(MaturityScore.evaluation_id == ev.id))}


# --- evidence suggestions ----------------------------------------------------------------------------------

def suggest_evidence(session: Session, ev: MaturityEvaluation) -> dict[str, list[str]]:
    """For each second-level indicator, what the records of the period offer as evidence (by the
    scheme's evidence kinds): e.g. management reviews held, audits closed, a baseline, calibrations."""
    from cmsflow.audits.models import Audit
    from cmsflow.compliance.models import ComplianceEvaluation
    from cmsflow.nonconformities.models import Nonconformity
    from cmsflow.registers import models as reg
    from cmsflow.reviews.models import ManagementReview
    from cmsflow.standards.service import evidence_for, find

    start, end = ev.period_start, ev.period_end
    in_period = lambda d: d is not None and start <= (d.date() if isinstance(d, datetime) else d) <= end  # noqa: E731
    months = session.exec(select(ActivityData.period).distinct().where(ActivityData.period >= start,
                                                                       ActivityData.period <= end)).all()
    factors = session.exec(select(func.count()).select_from(EmissionFactor)).one()
    facts = {
        "management_review": [f"管理评审 {r.code}（{r.held_on}）" for r in session.exec(select(ManagementReview))
                              if r.status == "closed" and in_period(r.held_on)],
        "internal_audit": [f"内部审核 {a.code}（已关闭）" for a in session.exec(select(Audit))
                           if a.status == "closed" and in_period(a.end_date)],
        "baseline": [f"基准 {b.name}（{b.base_year} 年）" for b in session.exec(select(reg.Baseline))],
        "compliance_evaluation": [f"合规性评价 {c.code}" for c in session.exec(select(ComplianceEvaluation))
                                  if c.status == "closed" and in_period(c.confirmed_at)],
        "nonconformity": [f"不符合项 {n.code}（已关闭）" for n in session.exec(select(Nonconformity))
                          if n.status == "closed" and in_period(n.closed_at)],
        "activity_data": [f"活动数据 {len(months)} 个月"] if months else [],
        "emission_factor": [f"排放因子 {factors} 条（含来源）"],
    }
    counts = {"instrument": (reg.Instrument, "计量器具"), "objective": (reg.Objective, "目标和指标"),
              "training": (reg.Training, "培训记录"), "communication": (reg.Communication, "信息交流记录"),
              "context_issue": (reg.ContextIssue, "内外部问题"), "interested_party": (reg.InterestedParty, "相关方"),
              "risk": (reg.Risk, "风险和机遇"), "compliance_obligation": (reg.ComplianceObligation, "合规义务"),
              "emission_source": (reg.EmissionSource, "排放源")}
    for kind, (model, label) in counts.items():
        n = session.exec(select(func.count()).select_from(model)).one()
        facts[kind] = [f"{label}台账 {n} 条"] if n else []
    out = {}
    for ind in scheme().indicators:
        for child in ind["children"]:
            lines = [line for kind in child.get("evidence", []) if kind != "document" for line in facts.get(kind, [])]
            if "document" in child.get("evidence", []):
                clauses = [c for c in (find(ref) for ref in child.get("clauses", [])) if c is not None]
                docs = evidence_for(session, clauses)
                lines += sorted({f"文件：{e.label}" for got in docs.values() for e in got.items
                                 if e.kind == "document"})
            out[child["code"]] = lines
    return out
