"""/api/v1/compliance-evaluations: evaluations of compliance obligations, what is due, the period report."""
from __future__ import annotations

import io
from datetime import date

from flask import g, jsonify, request, send_file

from cmsflow.api.reviews import step_body
from cmsflow.api.views import blueprint, read_json
from cmsflow.compliance import report, service
from cmsflow.compliance.presenters import evaluation_json
from cmsflow.core.db import db_session
from cmsflow.core.errors import ValidationError
from cmsflow.documents.templating import DOCX_MIME
from cmsflow.web.setup import commit


def period_args() -> tuple[date, date]:
    """``from``/``to`` query arguments (default: this calendar year to today); ValidationError if malformed."""
    today = date.today()
    try:
        start = date.fromisoformat(request.args.get("from") or f"{today.year}-01-01")
        end = date.fromisoformat(request.args.get("to") or today.isoformat())
    except ValueError as exc:
        raise ValidationError("from/to 日期格式应为 YYYY-MM-DD", code="invalid_date") from exc
    return start, end


@blueprint.get("/compliance-evaluations")
def evaluation_list():
    filters = dict(request.args)
    if filters.get("obligation") and not str(filters["obligation"]).isdigit():
        raise ValidationError("obligation 必须是合规义务的编号（整数）", code="invalid_filter")
    rows = service.query(db_session(), filters)
    return jsonify({"evaluations": [evaluation_json(db_session(), e) for e in rows]})


@blueprint.post("/compliance-evaluations")
def evaluation_start():
    body = read_json()
    try:
        obligation_id = int(body.get("obligation_id"))
    except (TypeError, ValueError) as exc:
        raise ValidationError("请指定合规义务 obligation_id", code="invalid_json") from exc
    ev = service.start_manual(db_session(), g.api_user, obligation_id)
    commit()
    return jsonify(evaluation_json(db_session(), ev, full=True)), 201


@blueprint.get("/compliance-evaluations/<int:ev_id>")
def evaluation_get(ev_id: int):
    return jsonify(evaluation_json(db_session(), service.get(db_session(), ev_id), full=True))


@blueprint.post("/compliance-evaluations/<int:ev_id>/steps/<step>")
def evaluation_step(ev_id: int, step: str):
    body = step_body()
    body.pop("password", None)
    service.complete_step(db_session(), service.get(db_session(), ev_id), g.api_user, step, **body)
    commit()
    return jsonify(evaluation_json(db_session(), service.get(db_session(), ev_id), full=True))


@blueprint.get("/compliance-evaluations/due")
def evaluation_due():
    raw = request.args.get("days") or "30"
    if not raw.isdigit() or not 0 < int(raw) <= 3660:
        raise ValidationError("days 须为 1–3660 的整数", code="invalid_filter")
    out = service.due_overview(db_session(), int(raw))
    for key in out:
        for item in out[key]:
            item["date"] = item["date"].isoformat()
    return jsonify(out)


@blueprint.get("/compliance-evaluations/summary")
def evaluation_summary():
    start, end = period_args()
    res = report.period_results(db_session(), start, end)
    return jsonify({"period": {"from": start.isoformat(), "to": end.isoformat()}, "totals": res["totals"],
                    "results": [{"obligation_id": ob.id, "obligation": ob.title, "evaluation": ev.code,
                                 "result": ev.result} for ob, ev in res["rows"]],
                    "not_evaluated": [{"obligation_id": ob.id, "obligation": ob.title}
                                      for ob in res["not_evaluated"]]})


@blueprint.get("/compliance-evaluations/report.docx")
def evaluation_report():
    start, end = period_args()
    data = report.render(db_session(), start, end, g.api_user)
    return send_file(io.BytesIO(data), mimetype=DOCX_MIME, as_attachment=True,
                     download_name=f"compliance-evaluation-{start}-{end}.docx")
