"""Gather the inputs of a management review from the records of its period.

Each input is a section ``{"key", "title", "clause", "summary", "figures": [{"label", "value"}],
"items": [str], "data": {...}}``: ``figures`` and ``items`` are what people read (report, page),
``data`` holds the raw numbers behind them (API, tests, charts). A record kind with nothing in it
gives an empty section that says so — never an invented figure.

Sections follow T/CECA-G §10.3.2 a)–f) and DB14/T 2970 §9.3.1 a)–e).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlmodel import Session, func, select

from cmsflow.audits.models import NONCONFORMING, RESULTS, Audit, AuditFinding
from cmsflow.auth.models import User
from cmsflow.compliance.models import RESULTS as COMPLIANCE_RESULTS
from cmsflow.compliance.models import ComplianceEvaluation
from cmsflow.core.clock import day_bounds, local_date
from cmsflow.documents.models import DocumentVersion
from cmsflow.nonconformities import service as nonconformities
from cmsflow.nonconformities.models import SOURCES, STATUSES, Nonconformity
from cmsflow.registers import models as reg
from cmsflow.reviews.models import ACTION_KINDS, ACTION_STATUSES, ManagementReview, ReviewAction

OBJECTIVE_STATUSES = {"planned": "计划", "in_progress": "实施中", "achieved": "已实现", "not_achieved": "未实现"}


@dataclass
class Section:
    key: str
    title: str
    clause: str
    summary: str = ""
    figures: list[dict] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    data: dict = field(default_factory=dict)

    def figure(self, label: str, value) -> None:
        self.figures.append({"label": label, "value": "—" if value is None else str(value)})

    def as_dict(self) -> dict:
        return {"key": self.key, "title": self.title, "clause": self.clause, "summary": self.summary,
                "figures": self.figures, "items": self.items, "data": self.data}


@dataclass
class Period:
    start: date
    end: date

    @property
    def t0(self) -> datetime:
        """Start of the first day in the organisation's time zone, as an aware UTC instant."""
        return day_bounds(self.start, self.end)[0]

    @property
    def t1(self) -> datetime:
        """End of the last day in the organisation's time zone, as an aware UTC instant."""
        return day_bounds(self.start, self.end)[1]

    def has(self, value) -> bool:
        if value is None:
            return False
        if isinstance(value, datetime):
            return self.start <= local_date(value) <= self.end
        return self.start <= value <= self.end


def gather(session: Session, start: date, end: date, review: ManagementReview | None = None) -> dict:
    """All inputs for a review of [start, end] (dates inclusive).

    Returns ``{"period": {"from", "to"}, "sections": [section dicts]}``; ``review`` excludes that
    review's own actions from "actions of previous reviews". Raises nothing for empty registers.
    """
    p = Period(start, end)
    sections = [
        _previous_actions(session, p, review), _context(session, p), _interested_parties(session, p),
        _objectives(session, p), _carbon(session, p), _nonconformities(session, p), _monitoring(session, p),
        _audits(session, p), _compliance(session, p), _system_changes(session, p), _resources(session, p),
        _communications(session, p), _opportunities(session, p),
    ]
    return {"period": {"from": start.isoformat(), "to": end.isoformat()},
            "sections": [s.as_dict() for s in sections]}


def _num(value) -> str:
    """A stored decimal without trailing zeros (800.0000 → 800, 0.8120 → 0.812)."""
    return f"{Decimal(value).normalize():f}" if value is not None else "—"


def _name(session: Session, user_id: int | None) -> str:
    user = session.get(User, user_id) if user_id else None
    return user.display_name if user else ""


def _previous_actions(session: Session, p: Period, review: ManagementReview | None) -> Section:
    s = Section("previous_actions", "以往管理评审措施的状况", "T/CECA-G 10.3.2 a)；DB14/T 2970 9.3.1 a)")
    q = (select(ReviewAction, ManagementReview.code).join(ManagementReview)
         .where(ManagementReview.planned_on <= p.end).order_by(ManagementReview.planned_on, ReviewAction.seq))
    if review is not None and review.id is not None:
        q = q.where(ReviewAction.review_id != review.id)
    rows = list(session.exec(q))
    today = date.today()
    counts = {k: sum(1 for a, _ in rows if a.status == k) for k in ACTION_STATUSES}
    overdue = sum(1 for a, _ in rows if a.status == "open" and a.due_on < today)
    s.data = {"total": len(rows), "by_status": counts, "overdue": overdue}
    s.figure("措施总数", len(rows))
    s.figure("已完成", counts["done"])
    s.figure("进行中", counts["open"])
    s.figure("其中逾期", overdue)
    for a, code in rows:
        state = "逾期" if a.status == "open" and a.due_on < today else ACTION_STATUSES[a.status]
        s.items.append(f"{code}-{a.seq} {ACTION_KINDS.get(a.kind, a.kind)}：{a.description}"
                       f"（{_name(session, a.owner_id)}，期限 {a.due_on}，{state}）")
    s.summary = "无以往管理评审措施" if not rows else \
        (f"以往管理评审共提出措施 {len(rows)} 项，已完成 {counts['done']} 项，"
         f"进行中 {counts['open']} 项（逾期 {overdue} 项）。")
    return s


def _changed(session: Session, model, p: Period) -> tuple[list, list]:
    """Records of a register created in the period, and those changed (not created) in it."""
    rows = list(session.exec(select(model).where(model.updated_at >= p.t0, model.updated_at <= p.t1)))
    new = [r for r in rows if p.has(r.created_at)]
    return new, [r for r in rows if not p.has(r.created_at)]


def _context(session: Session, p: Period) -> Section:
    s = Section("context_changes", "内外部问题、碳排放源和风险的变化",
                "T/CECA-G 10.3.2 b)；DB14/T 2970 9.3.1 b) 4)–6)")
    parts = []
    for label, model, title in (("内外部问题", reg.ContextIssue, "title"), ("碳排放源", reg.EmissionSource, "name"),
                                ("风险和机遇", reg.Risk, "title")):
        new, changed = _changed(session, model, p)
        s.data[model.__tablename__.removeprefix("reg_")] = {"new": len(new), "changed": len(changed)}
        s.figure(f"{label}：新增", len(new))
        s.figure(f"{label}：更新", len(changed))
        s.items += [f"{label}（新增）：{getattr(r, title)}" for r in new]
        s.items += [f"{label}（更新）：{getattr(r, title)}" for r in changed]
        if new or changed:
            parts.append(f"{label}新增 {len(new)} 项、更新 {len(changed)} 项")
    s.summary = "；".join(parts) + "。" if parts else "评审期间内外部问题、碳排放源和风险登记无变化。"
    return s


def _interested_parties(session: Session, p: Period) -> Section:
    s = Section("interested_parties", "相关方的需求和期望的变化", "T/CECA-G 10.3.2 c)")
    new, changed = _changed(session, reg.InterestedParty, p)
    open_ = session.exec(select(func.count()).select_from(reg.InterestedParty)
                         .where(reg.InterestedParty.addressed == False)).one()  # noqa: E712
    s.data = {"new": len(new), "changed": len(changed), "not_addressed": open_}
    s.figure("新识别的相关方", len(new))
    s.figure("需求有更新的相关方", len(changed))
    s.figure("尚未纳入体系的需求", open_)
    s.items = [f"{r.name}：{r.requirements}" for r in new + changed]
    s.summary = (f"新识别相关方 {len(new)} 个，需求更新 {len(changed)} 个；尚有 {open_} 项需求未纳入体系。"
                 if new or changed or open_ else "评审期间相关方及其需求无变化。")
    return s


def _objectives(session: Session, p: Period) -> Section:
    s = Section("objectives", "碳排放管理目标和指标的实现程度", "T/CECA-G 10.3.2 d)；DB14/T 2970 9.3.1 c) 2)")
    rows = list(session.exec(select(reg.Objective).order_by(reg.Objective.deadline)))
    due = [r for r in rows if r.deadline <= p.end]
    counts = {k: sum(1 for r in rows if r.status == k) for k in OBJECTIVE_STATUSES}
    met = sum(1 for r in due if r.status == "achieved")
    s.data = {"total": len(rows), "by_status": counts, "due_by_period_end": len(due), "met": met,
              "not_met": sum(1 for r in due if r.status == "not_achieved"),
              "due_open": sum(1 for r in due if r.status in ("planned", "in_progress"))}
    s.figure("目标总数", len(rows))
    for k, label in OBJECTIVE_STATUSES.items():
        s.figure(label, counts[k])
    s.figure("期末前到期的目标", len(due))
    s.figure("到期目标中已实现", met)
    s.items = [f"{r.title}（{r.indicator}：目标 {_num(r.target_value)} {r.unit}，期限 {r.deadline}）："
               f"{OBJECTIVE_STATUSES.get(r.status, r.status)}" for r in rows]
    s.summary = "尚未登记碳排放管理目标。" if not rows else \
        f"共 {len(rows)} 项目标，期末前到期 {len(due)} 项，其中已实现 {met} 项、未实现 {s.data['not_met']} 项。"
    return s


def _carbon(session: Session, p: Period) -> Section:
    from cmsflow.carbon import service as carbon
    from cmsflow.carbon.models import IntensityIndicator
    from cmsflow.core.errors import NotFound

    s = Section("carbon_performance", "碳排放绩效（排放量和强度与基准、目标的比较）", "DB14/T 2970 9.3.1 c) 1)")
    base = session.exec(select(reg.Baseline).order_by(reg.Baseline.base_year.desc())).first()
    s.data = {"baseline": None, "emissions_tco2e": None, "indicators": []}
    if base is not None:
        s.data["baseline"] = {"name": base.name, "base_year": base.base_year,
                              "emissions_tco2e": float(base.emissions_tco2e),
                              "intensity": float(base.intensity) if base.intensity is not None else None,
                              "intensity_unit": base.intensity_unit}
        s.figure("基准", f"{base.name}（{base.base_year} 年）")
        s.figure("基准排放量（tCO2e）", _num(base.emissions_tco2e))
        intensity = f"{_num(base.intensity)} {base.intensity_unit or ''}".strip() if base.intensity else None
        s.figure("基准排放强度", intensity)
    first = p.start.replace(day=1)
    totals = carbon.totals(session, first, p.end)
    if totals["groups"]:
        s.data["emissions_tco2e"] = float(totals["total"])
        s.figure("评审期间排放量（tCO2e）", _num(Decimal(totals["total"]).quantize(Decimal("0.01"))))
    else:
        s.figure("评审期间排放量（tCO2e）", None)
    for ind in session.exec(select(IntensityIndicator).where(IntensityIndicator.active == True)):  # noqa: E712
        try:
            data = carbon.intensity(session, ind.product, first, p.end)
        except NotFound:
            continue
        if data["intensity"] is None:
            continue
        value = Decimal(data["intensity"])
        pct = (value - ind.target) / ind.target * 100
        s.data["indicators"].append({"product": ind.product, "name": ind.name, "intensity": float(value),
                                     "target": float(ind.target), "deviation_percent": float(round(pct, 2)),
                                     "months": {m["month"]: float(m["intensity"]) for m in data["months"]
                                                if m["intensity"]}})
        s.figure(f"{ind.name}（{data['unit']}）", f"{value.quantize(Decimal('0.001'))}，目标 {_num(ind.target)}，"
                 f"{'高于' if pct > 0 else '低于'}目标 {abs(pct).quantize(Decimal('0.1'))}%")
    if s.data["emissions_tco2e"] is None:
        s.summary = ("系统中尚无评审期间的碳排放核算数据，排放量和强度无法与基准比较；请在会上提交核算结果。"
                     if base is not None else "尚未登记碳排放基准，也无评审期间的碳排放核算数据。")
    else:
        s.summary = f"评审期间排放量 {Decimal(totals['total']).quantize(Decimal('0.01'))} tCO2e" + "".join(
            f"；{i['name']} {i['intensity']:.3f}（目标 {i['target']:g}）" for i in s.data["indicators"]) + "。"
    return s


def _nonconformities(session: Session, p: Period) -> Section:
    s = Section("nonconformities", "不符合和纠正措施", "T/CECA-G 10.3.2 d)；DB14/T 2970 9.3.1 c) 3)")
    stats = nonconformities.statistics(session, p.start, p.end)
    still_open = session.exec(select(func.count()).select_from(Nonconformity).where(
        Nonconformity.raised_on < p.start, Nonconformity.status.not_in(("closed", "withdrawn")))).one()
    s.data = {**stats, "open_from_earlier": still_open}
    s.figure("期间提出的不符合项", stats["total"])
    for k, n in stats["by_status"].items():
        s.figure(f"状态：{STATUSES.get(k, k)}", n)
    for k, n in stats["by_source"].items():
        s.figure(f"来源：{SOURCES.get(k, k)}", n)
    s.figure("已关闭", stats["closed"])
    s.figure("平均关闭天数", stats["average_days_to_close"])
    s.figure("以前期间遗留未关闭", still_open)
    s.items = [f"{m}：{n} 项" for m, n in stats["by_month"].items()]
    s.summary = "评审期间未提出不符合项。" if not stats["total"] else \
        f"评审期间提出不符合项 {stats['total']} 项，已关闭 {stats['closed']} 项；以前期间遗留未关闭 {still_open} 项。"
    return s


def _monitoring(session: Session, p: Period) -> Section:
    s = Section("monitoring", "监视和测量结果", "T/CECA-G 10.3.2 d)")
    in_use = list(session.exec(select(reg.Instrument).where(reg.Instrument.status == "in_use")))
    overdue = [i for i in in_use if i.next_due and i.next_due < p.end]
    calibrated = [i for i in in_use if p.has(i.last_calibrated)]
    sources = session.exec(select(func.count()).select_from(reg.EmissionSource)).one()
    key = session.exec(select(func.count()).select_from(reg.EmissionSource)
                       .where(reg.EmissionSource.key_source == True)).one()  # noqa: E712
    deviations = session.exec(select(func.count()).select_from(Nonconformity).where(
        Nonconformity.source == "monitoring", Nonconformity.raised_on >= p.start,
        Nonconformity.raised_on <= p.end)).one()
    s.data = {"instruments_in_use": len(in_use), "calibrated_in_period": len(calibrated),
              "calibration_overdue": len(overdue), "emission_sources": sources, "key_sources": key,
              "monitoring_nonconformities": deviations}
    s.figure("在用计量器具", len(in_use))
    s.figure("期间完成检定/校准", len(calibrated))
    s.figure("期末检定/校准逾期", len(overdue))
    s.figure("登记的排放源（重点）", f"{sources}（{key}）")
    s.figure("监视测量偏差引起的不符合项", deviations)
    s.items = [f"检定/校准逾期：{i.code} {i.name}（应于 {i.next_due}）" for i in overdue]
    s.summary = "尚未登记计量器具和排放源。" if not in_use and not sources else \
        f"在用计量器具 {len(in_use)} 台，期间检定/校准 {len(calibrated)} 台，期末逾期 {len(overdue)} 台。"
    return s


def _audits(session: Session, p: Period) -> Section:
    s = Section("audits", "内部审核的结果", "T/CECA-G 10.3.2 d)；DB14/T 2970 9.3.1 c) 5)")
    rows = [a for a in session.exec(select(Audit).order_by(Audit.planned_month))
            if p.start <= a.planned_month <= p.end or p.has(a.end_date)]
    done = [a for a in rows if a.status == "closed"]
    findings = list(session.exec(select(AuditFinding).where(
        AuditFinding.audit_id.in_([a.id for a in done] or [-1]), AuditFinding.result.is_not(None))))
    by_result = {k: sum(1 for f in findings if f.result == k) for k in RESULTS}
    s.data = {"planned": len(rows), "done": len(done), "findings": by_result,
              "nonconformities": sum(by_result[k] for k in NONCONFORMING)}
    s.figure("期间计划的审核", len(rows))
    s.figure("已完成（报告已分发）", len(done))
    for k, label in RESULTS.items():
        s.figure(f"审核发现：{label}", by_result[k])
    s.items = [f"{a.code} {a.title}：{'已完成' if a.status == 'closed' else '进行中'}"
               + (f"，结论：{a.conclusion}" if a.conclusion and a.status == "closed" else "") for a in rows]
    s.summary = "评审期间没有计划的内部审核。" if not rows else \
        f"计划内部审核 {len(rows)} 次，已完成 {len(done)} 次，发现不符合 {s.data['nonconformities']} 项。"
    return s


def _compliance(session: Session, p: Period) -> Section:
    s = Section("compliance", "合规性评价的结果", "T/CECA-G 10.3.2 d)；DB14/T 2970 9.3.1 c) 4)")
    evaluations = list(session.exec(select(ComplianceEvaluation).where(
        ComplianceEvaluation.status == "closed", ComplianceEvaluation.confirmed_at >= p.t0,
        ComplianceEvaluation.confirmed_at <= p.t1).order_by(ComplianceEvaluation.confirmed_at)))
    total = session.exec(select(func.count()).select_from(reg.ComplianceObligation)).one()
    evaluated = {e.obligation_id for e in evaluations}
    by_result = {k: sum(1 for e in evaluations if e.result == k) for k in COMPLIANCE_RESULTS}
    s.data = {"obligations": total, "evaluations": len(evaluations), "obligations_evaluated": len(evaluated),
              "not_evaluated": total - len(evaluated), "by_result": by_result}
    s.figure("合规义务总数", total)
    s.figure("完成的评价", len(evaluations))
    s.figure("已评价的义务", len(evaluated))
    for k, label in COMPLIANCE_RESULTS.items():
        s.figure(f"评价结果：{label}", by_result[k])
    s.figure("期间未评价的义务", total - len(evaluated))
    s.items = [f"{e.code} {e.obligation_title}：{COMPLIANCE_RESULTS.get(e.result, '')}"
               for e in evaluations if e.result == "non_compliant"]
    s.summary = "尚未登记合规义务。" if not total else \
        f"{total} 项合规义务中 {len(evaluated)} 项在期间完成评价，不合规 {by_result['non_compliant']} 项。"
    return s


def _system_changes(session: Session, p: Period) -> Section:
    s = Section("system_changes", "碳排放管理体系变更的需求", "T/CECA-G 10.3.2 e)")
    versions = session.exec(select(DocumentVersion.id).where(DocumentVersion.effective_date >= p.start,
                                                            DocumentVersion.effective_date <= p.end)).all()
    needs = list(session.exec(select(Nonconformity).where(
        Nonconformity.system_change_needed == True, Nonconformity.raised_on >= p.start,  # noqa: E712
        Nonconformity.raised_on <= p.end)))
    s.data = {"document_versions_effective": len(versions), "nonconformities_needing_change": len(needs)}
    s.figure("期间生效的文件版本", len(versions))
    s.figure("需要变更体系的不符合项", len(needs))
    s.items = [f"{nc.code} {nc.title}：{nc.system_change_note or ''}" for nc in needs]
    s.summary = f"期间生效文件版本 {len(versions)} 个；不符合项提出体系变更需求 {len(needs)} 项。"
    return s


def _resources(session: Session, p: Period) -> Section:
    s = Section("resources", "资源配置的充分性", "DB14/T 2970 9.3.1 d)")
    rows = list(session.exec(select(reg.Training).where(reg.Training.date >= p.start, reg.Training.date <= p.end)))
    hours = sum(float(r.hours or 0) for r in rows)
    passed = sum(1 for r in rows if r.assessment == "pass")
    failed = sum(1 for r in rows if r.assessment == "fail")
    s.data = {"trainings": len(rows), "hours": hours, "passed": passed, "failed": failed}
    s.figure("期间培训记录", len(rows))
    s.figure("培训学时", f"{hours:g}")
    s.figure("考核合格 / 不合格", f"{passed} / {failed}")
    s.items = [f"目标所需资源：{o.title}：{o.resources}" for o in session.exec(select(reg.Objective))
               if o.resources and o.status in ("planned", "in_progress")]
    s.summary = "评审期间无培训记录。" if not rows else \
        f"期间培训 {len(rows)} 人次、{hours:g} 学时，考核不合格 {failed} 人次。"
    return s


def _communications(session: Session, p: Period) -> Section:
    s = Section("communications", "相关方的信息交流和反馈", "DB14/T 2970 9.3.1 e)")
    rows = list(session.exec(select(reg.Communication).where(reg.Communication.date >= p.start,
                                                             reg.Communication.date <= p.end)))
    external = [r for r in rows if r.direction == "external"]
    complaints = session.exec(select(func.count()).select_from(Nonconformity).where(
        Nonconformity.source == "interested_party", Nonconformity.raised_on >= p.start,
        Nonconformity.raised_on <= p.end)).one()
    s.data = {"total": len(rows), "external": len(external), "internal": len(rows) - len(external),
              "complaints": complaints}
    s.figure("信息交流记录", len(rows))
    s.figure("外部交流", len(external))
    s.figure("相关方投诉/反馈引起的不符合项", complaints)
    s.items = [f"{r.date} {r.party}：{r.topic}" + (f"（{r.decision}）" if r.decision else "") for r in external]
    s.summary = "评审期间无信息交流记录。" if not rows else \
        f"期间信息交流 {len(rows)} 次，其中外部 {len(external)} 次。"
    return s


def _opportunities(session: Session, p: Period) -> Section:
    s = Section("opportunities", "持续改进的机会", "T/CECA-G 10.3.2 f)")
    opps = list(session.exec(select(reg.Risk).where(reg.Risk.kind == "opportunity", reg.Risk.status != "closed")))
    observations = list(session.exec(select(AuditFinding).where(
        AuditFinding.result == "observation", AuditFinding.recorded_at >= p.t0, AuditFinding.recorded_at <= p.t1)))
    s.data = {"open_opportunities": len(opps), "audit_observations": len(observations)}
    s.figure("未关闭的机遇", len(opps))
    s.figure("内审观察项", len(observations))
    s.items = [f"机遇：{r.title}" + (f"（{r.treatment_action}）" if r.treatment_action else "") for r in opps]
    s.items += [f"观察项：{f.objective_evidence or f.question}" for f in observations]
    s.summary = f"已识别未关闭的机遇 {len(opps)} 项，内审观察项 {len(observations)} 项。"
    return s
