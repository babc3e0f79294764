"""The compliance evaluation report of a period (合规性评价报告), from
``doc_templates/records/compliance_evaluation_report.docx``."""
from __future__ import annotations

import io
from datetime import date

from docxtpl import DocxTemplate
from flask import current_app
from sqlmodel import Session, select

from cmsflow.auth.models import Department, User
from cmsflow.compliance.models import RESULTS, ComplianceEvaluation
from cmsflow.core.clock import day_bounds, local_date
from cmsflow.core.errors import ValidationError
from cmsflow.core.runtime import config
from cmsflow.nonconformities.models import Nonconformity
from cmsflow.registers.models import ComplianceObligation
from cmsflow.registers.specs import FREQ


def period_results(session: Session, start: date, end: date) -> dict:
    """Per obligation, its latest evaluation confirmed in [start, end] (local dates, inclusive).

    Returns ``{"totals": {obligations, evaluated, compliant, non_compliant, not_applicable,
    not_evaluated}, "rows": [(obligation, evaluation)], "not_evaluated": [obligation]}``. Raises
    ValidationError when end < start.
    """
    if end < start:
        raise ValidationError("评价期间的结束日期早于开始日期", code="invalid_period")
    t0, t1 = day_bounds(start, end)
    latest: dict[int, ComplianceEvaluation] = {}
    for ev in session.exec(select(ComplianceEvaluation).where(
            ComplianceEvaluation.status == "closed", ComplianceEvaluation.confirmed_at >= t0,
            ComplianceEvaluation.confirmed_at <= t1).order_by(ComplianceEvaluation.confirmed_at)):
        latest[ev.obligation_id] = ev
    obligations = list(session.exec(select(ComplianceObligation).order_by(ComplianceObligation.id)))
    rows = [(ob, latest[ob.id]) for ob in obligations if ob.id in latest]
    missing = [ob for ob in obligations if ob.id not in latest]
    totals = {"obligations": len(obligations), "evaluated": len(rows), "not_evaluated": len(missing),
              **{k: sum(1 for _, ev in rows if ev.result == k) for k in RESULTS}}
    return {"totals": totals, "rows": rows, "not_evaluated": missing}


def render(session: Session, start: date, end: date, prepared_by: User) -> bytes:
    """The report .docx for [start, end]; ValidationError when end < start."""
    res = period_results(session, start, end)
    depts = {d.id: d.name for d in session.exec(select(Department))}
    name = lambda uid: (session.get(User, uid).display_name if uid and session.get(User, uid) else "")  # noqa: E731
    rows = []
    for i, (ob, ev) in enumerate(res["rows"], start=1):
        nc = session.get(Nonconformity, ev.nonconformity_id) if ev.nonconformity_id else None
        rows.append({"no": i, "title": ob.title, "article": ob.article or "",
                     "department": depts.get(ob.department_id, ""),
                     "frequency": FREQ.get(ob.evaluation_frequency, ob.evaluation_frequency),
                     "result": RESULTS.get(ev.result, ev.result or ""),
                     "evaluated_on": local_date(ev.evaluated_at).isoformat() if ev.evaluated_at else "",
                     "evaluated_by": name(ev.evaluated_by_id), "confirmed_by": name(ev.confirmed_by_id),
                     "evidence": ev.evidence or "", "nonconformity": nc.code if nc else ""})
    t = res["totals"]
    conclusion = (f"本期共 {t['obligations']} 项合规义务，完成评价 {t['evaluated']} 项：合规 {t['compliant']} 项，"
                  f"不合规 {t['non_compliant']} 项，不适用 {t['not_applicable']} 项；未评价 {t['not_evaluated']} 项。")
    if t["non_compliant"]:
        conclusion += "\n不合规事项已按不符合项处理，见明细中的不符合项编号。"
    tpl = DocxTemplate(f"{current_app.config['DOC_TEMPLATES_DIR']}/records/compliance_evaluation_report.docx")
    tpl.render({"organisation": config()["ORGANISATION_NAME"], "period_start": start.isoformat(),
                "period_end": end.isoformat(), "prepared_by": prepared_by.display_name,
                "prepared_on": date.today().isoformat(), "totals": t, "rows": rows,
                "not_evaluated": [f"{ob.title}{'（' + ob.article + '）' if ob.article else ''}"
                                  for ob in res["not_evaluated"]],
                "conclusion": conclusion}, autoescape=True)
    buf = io.BytesIO()
    tpl.save(buf)
    return buf.getvalue()

