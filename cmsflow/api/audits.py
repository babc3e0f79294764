"""/api/v1/audit-programmes and /api/v1/audits: programmes with coverage, audits, checklists, findings, report."""
from __future__ import annotations

import io

from flask import g, jsonify, request, send_file
from sqlmodel import select

from cmsflow.api.views import blueprint, read_json
from cmsflow.audits import programmes, service
from cmsflow.audits.models import Audit, AuditProgramme
from cmsflow.audits.presenters import audit_json, line_json, programme_json
from cmsflow.core.db import db_session
from cmsflow.core.errors import ValidationError
from cmsflow.documents.templating import DOCX_MIME
from cmsflow.web.setup import commit
from cmsflow.workflow import service as workflow


def _list(body: dict, name: str) -> list:
    value = body.get(name) or []
    if not isinstance(value, list):
        raise ValidationError(f"{name} 必须是数组", code="invalid_json")
    return value


@blueprint.get("/audit-programmes")
def programme_list():
    rows = db_session().exec(select(AuditProgramme).order_by(AuditProgramme.period_start.desc()))
    return jsonify({"programmes": [programme_json(db_session(), p) for p in rows]})


@blueprint.post("/audit-programmes")
def programme_create():
    body = read_json()
    prog = programmes.create_programme(db_session(), g.api_user, title=str(body.get("title", "")),
                                       period_start=body.get("period_start"), period_end=body.get("period_end"),
                                       objectives=str(body.get("objectives") or ""),
                                       criteria=_list(body, "criteria"))
    for item in _list(body, "audits"):
        if not isinstance(item, dict):
            raise ValidationError("audits 的每一项必须是对象", code="invalid_json")
        _add(prog, item)
    commit()
    return jsonify(programme_json(db_session(), prog)), 201


def _add(prog: AuditProgramme, item: dict) -> Audit:
    return programmes.add_audit(db_session(), g.api_user, prog, title=str(item.get("title") or ""),
                                month=item.get("month"), departments=_list(item, "departments"),
                                clauses=_list(item, "clauses"), lead_auditor=item.get("lead_auditor"))


@blueprint.get("/audit-programmes/<int:prog_id>")
def programme_get(prog_id: int):
    return jsonify(programme_json(db_session(), programmes.get_programme(db_session(), prog_id)))


@blueprint.post("/audit-programmes/<int:prog_id>/audits")
def programme_add_audit(prog_id: int):
    prog = programmes.get_programme(db_session(), prog_id)
    audit = _add(prog, read_json())
    commit()
    return jsonify(audit_json(db_session(), audit)), 201


@blueprint.post("/audit-programmes/<int:prog_id>/submit")
def programme_submit(prog_id: int):
    prog = programmes.get_programme(db_session(), prog_id)
    programmes.submit_programme(db_session(), g.api_user, prog)
    commit()
    return jsonify(programme_json(db_session(), prog))


@blueprint.get("/audits")
def audit_list():
    rows = db_session().exec(select(Audit).order_by(Audit.planned_month, Audit.id))
    return jsonify({"audits": [audit_json(db_session(), a) for a in rows]})


@blueprint.get("/audits/<int:audit_id>")
def audit_get(audit_id: int):
    return jsonify(audit_json(db_session(), service.get(db_session(), audit_id), full=True))


@blueprint.post("/audits/<int:audit_id>/steps/<step>")
def audit_step(audit_id: int, step: str):
    body = read_json()
    data = body.get("data") or {}
    if not isinstance(data, dict):
        raise ValidationError("data 必须是对象", code="invalid_json")
    audit = service.get(db_session(), audit_id)
    workflow.complete_step(db_session(), programmes.AUDIT, audit.id, step, g.api_user,
                           decision=body.get("decision"), comment=str(body.get("comment") or ""),
                           password=body.get("password"), data=data)
    commit()
    return jsonify(audit_json(db_session(), service.get(db_session(), audit_id), full=True))


@blueprint.post("/audits/<int:audit_id>/checklist")
def checklist_add(audit_id: int):
    body = read_json()
    audit = service.get(db_session(), audit_id)
    line = service.add_line(db_session(), g.api_user, audit, clause=body.get("clause"),
                            question=str(body.get("question") or ""), department=body.get("department"))
    if any(k in body for k in ("result", "objective_evidence")):
        service.record(db_session(), g.api_user, audit, line, body)
    commit()
    return jsonify(line_json(db_session(), line)), 201


@blueprint.put("/audits/<int:audit_id>/checklist/<int:line_id>")
def checklist_record(audit_id: int, line_id: int):
    audit = service.get(db_session(), audit_id)
    line = service.record(db_session(), g.api_user, audit, service.get_line(db_session(), audit, line_id),
                          read_json())
    commit()
    return jsonify(line_json(db_session(), line))


@blueprint.delete("/audits/<int:audit_id>/checklist/<int:line_id>")
def checklist_remove(audit_id: int, line_id: int):
    audit = service.get(db_session(), audit_id)
    service.remove_line(db_session(), g.api_user, audit, service.get_line(db_session(), audit, line_id))
    commit()
    return "", 204


@blueprint.post("/audits/<int:audit_id>/checklist/<int:line_id>/attachments")
def checklist_attach(audit_id: int, line_id: int):
    audit = service.get(db_session(), audit_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationError("请以 multipart 字段 file 上传附件", code="file_required")
    line = service.get_line(db_session(), audit, line_id)
    service.attach(db_session(), g.api_user, audit, line, upload.filename, upload.read())
    commit()
    return jsonify(line_json(db_session(), line)), 201


@blueprint.get("/audits/<int:audit_id>/report")
def audit_report(audit_id: int):
    name, data = service.report_file(db_session(), service.get(db_session(), audit_id))
    return send_file(io.BytesIO(data), mimetype=DOCX_MIME, as_attachment=True, download_name=name)
