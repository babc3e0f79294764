"""The maturity evaluation report (after T/CECA-G Annex B) from ``doc_templates/records/maturity_report.docx``."""
from __future__ import annotations

import io
from datetime import date

from docxtpl import DocxTemplate
from flask import current_app
from sqlmodel import Session, select

from cmsflow.auth.models import User
from cmsflow.carbon import evaluation
from cmsflow.carbon.models import PDCA_AREAS, MaturityEvaluation
from cmsflow.core.runtime import config
from cmsflow.nonconformities.models import STATUSES, Nonconformity

METHOD_LABELS = {"industry_advanced": "与行业先进值比较", "historical": "与历史最优年度比较"}
METHOD_TEXT = ("按 T/CECA-G 第12章实施：成立评价组并编制评价工作计划；开展文件评价，识别现场评价重点；"
               "通过现场查看、查阅记录、人员访谈开展现场评价；按附录A表A.1逐项进行定性评分，按表A.2对碳排放强度"
               "进行定量评分；按公式（2）计算综合得分并按表22确定评价等级。")


def _fmt(value) -> str:
    return "" if value is None else f"{value.normalize():f}" if hasattr(value, "normalize") else str(value)


def _qualitative_rows(ev: MaturityEvaluation, scores: dict) -> list[dict]:
    rows = []
    for ind in evaluation.scheme().indicators:
        ind_score = sum((scores[i["code"]].score for c in ind["children"] for i in c["items"]
                         if i["code"] in scores), start=0)
        rows.append({"level": 1, "code": ind["code"], "title": ind["title"], "points": str(ind["points"]),
                     "score": _fmt(ind_score) if scores else "", "justification": ""})
        for child in ind["children"]:
            c_score = sum((scores[i["code"]].score for i in child["items"] if i["code"] in scores), start=0)
            rows.append({"level": 2, "code": child["code"], "title": child["title"], "points": str(child["points"]),
                         "score": _fmt(c_score) if scores else "", "justification": ""})
            for item in child["items"]:
                s = scores.get(item["code"])
                rows.append({"level": 3, "code": item["code"], "title": item["text"], "points": str(item["points"]),
                             "score": _fmt(s.score) if s else "",
                             "justification": (s.justification or "") if s else ""})
    return rows


def context(session: Session, ev: MaturityEvaluation) -> dict:
    sch = evaluation.scheme()
    scores = evaluation.scores_of(session, ev)
    lead = session.get(User, ev.lead_id)
    approver = session.get(User, ev.approved_by_id) if ev.approved_by_id else None
    ncs = session.exec(select(Nonconformity).where(Nonconformity.raised_on >= ev.period_start,
                                                   Nonconformity.raised_on <= ev.period_end)
                       .order_by(Nonconformity.id)).all()
    reference = ev.industry_advanced if ev.quant_method == "industry_advanced" else ev.best_previous
    stars = sch.raw["stars"]
    bands = [{"range": f"{b['min']}–{stars[i - 1]['min'] - 1 if i else 100}", "label": b["label"]}
             for i, b in enumerate(stars)]
    rating = next((b["label"] for b in stars if b["rating"] == ev.rating), "")
    return {
        "organisation": config()["ORGANISATION_NAME"], "code": ev.code, "title": ev.title,
        "period_start": ev.period_start.isoformat(), "period_end": ev.period_end.isoformat(),
        "evaluated_on": date.today().isoformat(), "lead": lead.display_name if lead else "", "team": list(ev.team),
        "objective": ev.objective or "", "criteria": ev.criteria or "", "scope": ev.scope or "",
        "schedule": ev.schedule or "",
        "method": METHOD_TEXT + (f"\n文件评价：{ev.document_review}" if ev.document_review else ""),
        "overview": (f"{config()['ORGANISATION_NAME']}碳排放管理体系成熟度评价，评价期间 {ev.period_start} 至 "
                     f"{ev.period_end}。" + (f"\n现场评价重点：{ev.focus_points}" if ev.focus_points else "")),
        "findings": [{"area": PDCA_AREAS[k], "text": ev.findings[k]} for k in PDCA_AREAS if ev.findings.get(k)],
        "qualitative": _qualitative_rows(ev, scores), "qual_total": _fmt(ev.qual_total),
        "quant": {"indicator": sch.raw["quantitative"]["indicator"],
                  "method": METHOD_LABELS.get(ev.quant_method or "", ""), "intensity": _fmt(ev.intensity),
                  "reference": _fmt(reference), "ratio": _fmt(ev.quant_ratio), "score": _fmt(ev.quant_score)},
        "weights": {"qualitative": str(ev.weights.get("qualitative", "")),
                    "quantitative": str(ev.weights.get("quantitative", ""))},
        "composite": _fmt(ev.composite), "rating": rating, "stars": bands, "conclusion": ev.conclusion or "",
        "nonconformities": [{"no": i, "code": n.code, "title": n.title, "status": str(STATUSES.get(n.status, n.status))}
                            for i, n in enumerate(ncs, start=1)],
        "approved_by": approver.display_name if approver else "",
        "approved_on": ev.approved_at.date().isoformat() if ev.approved_at else "",
        "valid_until": ev.valid_until.isoformat() if ev.valid_until else ""}


def render(session: Session, ev: MaturityEvaluation) -> bytes:
    """The report .docx (draft until approved: sign-off and validity show "—")."""
    tpl = DocxTemplate(f"{current_app.config['DOC_TEMPLATES_DIR']}/records/maturity_report.docx")
    tpl.render(context(session, ev), autoescape=True)
    buf = io.BytesIO()
    tpl.save(buf)
    return buf.getvalue()
