"""/api/v1/maturity: the scoring scheme and maturity evaluations (plan, reviews, scores, report)."""
from __future__ import annotations

from flask import g, jsonify
from sqlmodel import select

from cmsflow.api.reviews import step_body
from cmsflow.api.views import blueprint, read_json
from cmsflow.carbon import evaluation
from cmsflow.carbon.models import MaturityEvaluation
from cmsflow.core.db import db_session
from cmsflow.nonconformities.presenters import username
from cmsflow.web.files import send_stored
from cmsflow.web.setup import commit
from cmsflow.workflow import service as workflow


def _s(value) -> str | None:
    return None if value is None else str(value)


def evaluation_json(ev: MaturityEvaluation, *, full: bool = False) -> dict:
    s = db_session()
    task = workflow.open_task(s, evaluation.SUBJECT, ev.id)
    out = {"id": ev.id, "code": ev.code, "title": ev.title, "status": ev.status, "scheme": ev.scheme_code,
           "period_start": ev.period_start.isoformat(), "period_end": ev.period_end.isoformat(),
           "lead": username(s, ev.lead_id), "current_step": task.name if task else None,
           "qualitative_total": _s(ev.qual_total), "quantitative_score": _s(ev.quant_score),
           "quantitative_method": ev.quant_method, "intensity": _s(ev.intensity), "ratio": _s(ev.quant_ratio),
           "composite": _s(ev.composite), "rating": ev.rating, "weights": ev.weights,
           "approved_by": username(s, ev.approved_by_id), "valid_until": _s(ev.valid_until)}
    if full:
        out.update({"team": ev.team, "objective": ev.objective, "criteria": ev.criteria, "scope": ev.scope,
                    "schedule": ev.schedule, "document_review": ev.document_review, "focus_points": ev.focus_points,
                    "findings": ev.findings, "conclusion": ev.conclusion,
                    "scores": {c: {"score": str(r.score), "justification": r.justification, "evidence": r.evidence}
                               for c, r in evaluation.scores_of(s, ev).items()},
                    "evidence_suggestions": evaluation.suggest_evidence(s, ev),
                    "files": {"report": f"/api/v1/maturity-evaluations/{ev.id}/report.docx"
                              if ev.record_sha256 or ev.report_sha256 else None}})
    return out


@blueprint.get("/maturity/scheme")
def maturity_scheme():
    sch = evaluation.scheme()
    return jsonify({"code": sch.code, "title": sch.title, **{k: sch.raw[k] for k in
                                                            ("qualitative", "quantitative", "weights", "stars")}})


@blueprint.get("/maturity-evaluations")
def maturity_list():
    rows = db_session().exec(select(MaturityEvaluation).order_by(MaturityEvaluation.id.desc()))
    return jsonify({"evaluations": [evaluation_json(ev) for ev in rows]})


@blueprint.post("/maturity-evaluations")
def maturity_create():
    b = read_json()
    ev = evaluation.create_evaluation(db_session(), g.api_user, title=str(b.get("title") or ""),
                                      period_start=b.get("period_start"), period_end=b.get("period_end"),
                                      lead=b.get("lead"), team=b.get("team") or [], product=b.get("product"))
    commit()
    return jsonify(evaluation_json(ev, full=True)), 201


@blueprint.get("/maturity-evaluations/<int:ev_id>")
def maturity_get(ev_id: int):
    return jsonify(evaluation_json(evaluation.get(db_session(), ev_id), full=True))


@blueprint.post("/maturity-evaluations/<int:ev_id>/steps/<step>")
def maturity_step(ev_id: int, step: str):
    body = step_body()
    evaluation.complete_step(db_session(), evaluation.get(db_session(), ev_id), g.api_user, step, **body)
    commit()
    return jsonify(evaluation_json(evaluation.get(db_session(), ev_id), full=True))


@blueprint.get("/maturity-evaluations/<int:ev_id>/report.docx")
def maturity_report(ev_id: int):
    ev = evaluation.get(db_session(), ev_id)
    return send_stored(ev.record_sha256 or ev.report_sha256, f"{ev.code}.docx", "评价报告尚未生成")
