"""/api/v1/nonconformities: raise, list, export, step through corrective action, statistics."""
from __future__ import annotations

import io
from datetime import date

from flask import g, jsonify, request, send_file

from cmsflow.api.views import blueprint, read_json
from cmsflow.core.db import db_session
from cmsflow.core.errors import ValidationError
from cmsflow.nonconformities import service
from cmsflow.nonconformities.presenters import export_xlsx, nc_json
from cmsflow.registers.transfer import MIME
from cmsflow.web.pagination import paginate
from cmsflow.web.setup import commit


@blueprint.get("/nonconformities")
def nc_list():
    statement = service.statement(db_session(), request.args, g.api_user)
    page = paginate(statement, request.args, per_page=None, session=db_session())
    return jsonify({"nonconformities": [nc_json(db_session(), nc) for nc in page.items], **page.as_dict()})


@blueprint.post("/nonconformities")
def nc_raise():
    body = read_json()
    clauses = body.get("clauses") or []
    if not isinstance(clauses, list):
        raise ValidationError("clauses 必须是条款数组", code="invalid_json")
    raised_on = _date_arg(body.get("raised_on"), "raised_on") if body.get("raised_on") else None
    nc = service.raise_nonconformity(
        db_session(), g.api_user, title=str(body.get("title", "")), description=str(body.get("description", "")),
        source=str(body.get("source", "")), department=str(body.get("department", "")),
        severity=str(body.get("severity") or "minor"), clauses=clauses, evidence=str(body.get("evidence") or ""),
        verifier=body.get("verifier"), raised_on=raised_on)
    commit()
    return jsonify(nc_json(db_session(), nc, full=True)), 201


@blueprint.get("/nonconformities/<int:nc_id>")
def nc_get(nc_id: int):
    return jsonify(nc_json(db_session(), service.get(db_session(), nc_id, g.api_user), full=True))


@blueprint.post("/nonconformities/<int:nc_id>/steps/<step>")
def nc_step(nc_id: int, step: str):
    body = read_json()
    data = body.get("data") or {}
    if not isinstance(data, dict):
        raise ValidationError("data 必须是对象", code="invalid_json")
    nc = service.get(db_session(), nc_id, g.api_user)
    service.complete_step(db_session(), nc, g.api_user, step, decision=body.get("decision"),
                          comment=str(body.get("comment") or ""), password=body.get("password"), data=data)
    commit()
    return jsonify(nc_json(db_session(), service.get(db_session(), nc_id, g.api_user), full=True))


@blueprint.get("/nonconformities/export")
def nc_export():
    data = export_xlsx(db_session(), service.query(db_session(), request.args, g.api_user))
    return send_file(io.BytesIO(data), mimetype=MIME["xlsx"], as_attachment=True,
                     download_name="nonconformities.xlsx")


def _date_arg(raw, name: str) -> date:
    try:
        return date.fromisoformat(str(raw))
    except ValueError as exc:
        raise ValidationError(f"{name} 日期格式应为 YYYY-MM-DD", code="invalid_date") from exc


@blueprint.get("/nonconformities/statistics")
def nc_statistics():
    today = date.today()
    start = _date_arg(request.args.get("from") or f"{today.year}-01-01", "from")
    end = _date_arg(request.args.get("to") or today.isoformat(), "to")
    return jsonify(service.statistics(db_session(), start, end))
