"""/api/v1/carbon: emission factors, accounting methods, activity data, output, results with breakdowns,
totals, intensity, recalculations, intensity indicators."""
from __future__ import annotations

from datetime import date

from flask import g, jsonify, request
from sqlmodel import select

from cmsflow.api.views import blueprint, read_json
from cmsflow.carbon import service, transfer
from cmsflow.carbon.models import (
    AccountingMethod,
    ActivityData,
    Deviation,
    EmissionFactor,
    EmissionResult,
    IntensityIndicator,
    ProductionOutput,
    RecalculationRun,
)
from cmsflow.core.db import db_session
from cmsflow.core.errors import NotFound, ValidationError
from cmsflow.nonconformities.presenters import username
from cmsflow.registers.models import EmissionSource
from cmsflow.web.files import send_stored
from cmsflow.web.setup import commit


def factor_json(f: EmissionFactor) -> dict:
    return {"id": f.id, "code": f.code, "year": f.year, "version": f.version, "name": f.name, "kind": f.kind,
            "value": str(f.value), "unit": f.unit, "gas": f.gas, "source": f.source, "note": f.note,
            "current": f.superseded_at is None, "created_at": f.created_at.isoformat()}


def result_json(r: EmissionResult, *, full: bool = False) -> dict:
    out = {"id": r.id, "activity_id": r.activity_id, "emission_source_id": r.emission_source_id,
           "period": r.period.strftime("%Y-%m"), "method": r.method, "tco2e": str(r.tco2e), "current": r.current,
           "run_id": r.run_id, "calculated_at": r.calculated_at.isoformat()}
    if full:
        out["breakdown"] = r.breakdown
    return out


def activity_json(a: ActivityData, result: EmissionResult | None) -> dict:
    return {"id": a.id, "emission_source_id": a.emission_source_id, "period": a.period.strftime("%Y-%m"),
            "quantity": str(a.quantity), "unit": a.unit, "data_source": a.data_source, "instrument": a.instrument,
            "note": a.note, "entered_by": username(db_session(), a.entered_by_id), "lock_version": a.lock_version,
            "evidence": a.evidence_filename,
            "result": result_json(result, full=True) if result else None}


def _months() -> tuple[date, date]:
    today = date.today()
    start = service.parse_period(request.args.get("from") or f"{today.year}-01")
    end = service.parse_period(request.args.get("to") or today.strftime("%Y-%m"))
    return start, end


@blueprint.get("/carbon/factors")
def carbon_factors():
    q = select(EmissionFactor).order_by(EmissionFactor.code, EmissionFactor.year, EmissionFactor.version)
    if request.args.get("code"):
        q = q.where(EmissionFactor.code == request.args["code"])
    return jsonify({"factors": [factor_json(f) for f in db_session().exec(q)]})


@blueprint.post("/carbon/factors")
def carbon_factor_add():
    b = read_json()
    f = service.add_factor(db_session(), g.api_user, code=b.get("code"), year=b.get("year"),
                           name=str(b.get("name") or ""), kind=str(b.get("kind") or ""), value=b.get("value"),
                           unit=str(b.get("unit") or ""), source=str(b.get("source") or ""),
                           gas=str(b.get("gas") or "CO2"), note=str(b.get("note") or ""))
    commit()
    return jsonify(factor_json(f)), 201


@blueprint.get("/carbon/methods")
def carbon_methods():
    s = db_session()
    out = []
    for m, src in s.exec(select(AccountingMethod, EmissionSource).join(
            EmissionSource, EmissionSource.id == AccountingMethod.emission_source_id)):
        out.append({"emission_source_id": src.id, "emission_source": src.name, "method": m.method, "unit": m.unit,
                    "factors": m.factors})
    return jsonify({"methods": out})


@blueprint.put("/carbon/methods/<int:source_id>")
def carbon_method_set(source_id: int):
    b = read_json()
    m = service.set_method(db_session(), g.api_user, source_id, method=str(b.get("method") or ""),
                           unit=str(b.get("unit") or ""), factors=b.get("factors") or {})
    commit()
    return jsonify({"emission_source_id": m.emission_source_id, "method": m.method, "unit": m.unit,
                    "factors": m.factors})


@blueprint.get("/carbon/activity")
def carbon_activity_list():
    start, end = _months()
    s = db_session()
    q = select(ActivityData).where(ActivityData.period >= start, ActivityData.period <= end)
    if request.args.get("source"):
        q = q.where(ActivityData.emission_source_id == service.source_by_ref(s, request.args["source"]).id)
    rows = list(s.exec(q.order_by(ActivityData.period, ActivityData.emission_source_id)))
    current = {r.activity_id: r for r in s.exec(select(EmissionResult).where(
        EmissionResult.current == True, EmissionResult.activity_id.in_([a.id for a in rows] or [-1])))}  # noqa: E712
    return jsonify({"activity": [activity_json(a, current.get(a.id)) for a in rows]})


@blueprint.post("/carbon/activity")
def carbon_activity_add():
    b = read_json()
    result = service.record_activity(
        db_session(), g.api_user, emission_source=b.get("emission_source"), period=b.get("period"),
        quantity=b.get("quantity"), unit=str(b.get("unit") or ""), data_source=str(b.get("data_source") or "meter"),
        instrument=b.get("instrument"), note=str(b.get("note") or ""), lock_version=b.get("lock_version"))
    commit()
    return jsonify(activity_json(db_session().get(ActivityData, result.activity_id), result)), 201


@blueprint.post("/carbon/activity/import")
def carbon_activity_import():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationError("请以 multipart 字段 file 上传 .xlsx 或 .csv", code="file_required")
    n = transfer.import_activity(db_session(), g.api_user, upload.filename, upload.read())
    commit()
    return jsonify({"imported": n}), 201


@blueprint.post("/carbon/activity/<int:activity_id>/evidence")
def carbon_activity_evidence(activity_id: int):
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationError("请以 multipart 字段 file 上传证据文件", code="file_required")
    row = service.attach_evidence(db_session(), g.api_user, activity_id, upload.filename, upload.read())
    commit()
    return jsonify({"id": row.id, "evidence": row.evidence_filename, "sha256": row.evidence_sha256}), 201


@blueprint.get("/carbon/activity/<int:activity_id>/evidence")
def carbon_activity_evidence_get(activity_id: int):
    row = db_session().get(ActivityData, activity_id)
    if row is None:
        raise NotFound("活动数据不存在")
    return send_stored(row.evidence_sha256, row.evidence_filename or "evidence", "没有证据文件")


@blueprint.get("/carbon/output")
def carbon_output_list():
    start, end = _months()
    q = select(ProductionOutput).where(ProductionOutput.period >= start, ProductionOutput.period <= end)
    rows = db_session().exec(q.order_by(ProductionOutput.product, ProductionOutput.period))
    return jsonify({"output": [{"id": r.id, "product": r.product, "product_name": r.product_name,
                                "period": r.period.strftime("%Y-%m"), "quantity": str(r.quantity), "unit": r.unit}
                               for r in rows]})


@blueprint.post("/carbon/output")
def carbon_output_add():
    b = read_json()
    row = service.record_output(db_session(), g.api_user, product=str(b.get("product") or ""), period=b.get("period"),
                                quantity=b.get("quantity"), unit=str(b.get("unit") or ""),
                                product_name=str(b.get("product_name") or ""))
    commit()
    return jsonify({"id": row.id, "product": row.product, "period": row.period.strftime("%Y-%m"),
                    "quantity": str(row.quantity), "unit": row.unit}), 201


@blueprint.get("/carbon/results/<int:result_id>")
def carbon_result(result_id: int):
    row = db_session().get(EmissionResult, result_id)
    if row is None:
        raise NotFound("核算结果不存在")
    return jsonify(result_json(row, full=True))


@blueprint.get("/carbon/emissions")
def carbon_emissions():
    start, end = _months()
    return jsonify(service.totals(db_session(), start, end, request.args.get("group") or "source"))


@blueprint.get("/carbon/intensity")
def carbon_intensity():
    start, end = _months()
    return jsonify(service.intensity(db_session(), request.args.get("product") or "", start, end))


@blueprint.get("/carbon/recalculations")
def carbon_recalculations():
    rows = db_session().exec(select(RecalculationRun).order_by(RecalculationRun.id.desc()))
    return jsonify({"runs": [{"id": r.id, "from": r.period_start.strftime("%Y-%m"),
                              "to": r.period_end.strftime("%Y-%m"),
                              "reason": r.reason, "by": username(db_session(), r.actor_id), "at": r.at.isoformat(),
                              "results_changed": r.results_changed, "total_before": str(r.total_before),
                              "total_after": str(r.total_after)} for r in rows]})


@blueprint.post("/carbon/recalculations")
def carbon_recalculate():
    b = read_json()
    run = service.recalculate(db_session(), g.api_user, b.get("from"), b.get("to"), str(b.get("reason") or ""))
    commit()
    return jsonify({"id": run.id, "results_changed": run.results_changed, "total_before": str(run.total_before),
                    "total_after": str(run.total_after)}), 201


@blueprint.get("/carbon/indicators")
def carbon_indicators():
    s = db_session()
    out = []
    for ind in s.exec(select(IntensityIndicator)):
        devs = s.exec(select(Deviation).where(Deviation.indicator_id == ind.id).order_by(Deviation.period)).all()
        out.append({"product": ind.product, "name": ind.name, "target": str(ind.target), "sources": ind.source_ids,
                    "threshold_percent": str(ind.threshold_percent), "active": ind.active,
                    "deviations": [{"period": d.period.strftime("%Y-%m"), "intensity": str(d.intensity),
                                    "deviation_percent": str(d.deviation_percent),
                                    "nonconformity_id": d.nonconformity_id} for d in devs]})
    return jsonify({"indicators": out})


@blueprint.put("/carbon/indicators/<product>")
def carbon_indicator_set(product: str):
    b = read_json()
    ind = service.set_indicator(db_session(), g.api_user, product=product, name=str(b.get("name") or product),
                                target=b.get("target"), threshold_percent=b.get("threshold_percent"),
                                department=b.get("department"), sources=b.get("sources"))
    commit()
    return jsonify({"product": ind.product, "target": str(ind.target),
                    "threshold_percent": str(ind.threshold_percent)})
