"""Carbon performance pages: monthly emissions and intensity with charts, activity data entry, factors,
the breakdown of any figure."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlmodel import select

from cmsflow.auth import permissions
from cmsflow.carbon import service
from cmsflow.carbon.models import (
    DATA_SOURCES,
    FACTOR_KINDS,
    METHODS,
    AccountingMethod,
    ActivityData,
    Deviation,
    EmissionFactor,
    EmissionResult,
    IntensityIndicator,
)
from cmsflow.core.db import db_session
from cmsflow.core.errors import CmsflowError, NotFound
from cmsflow.registers.models import EmissionSource
from cmsflow.web.files import send_stored
from cmsflow.web.setup import commit

blueprint = Blueprint("carbon", __name__, template_folder="templates", url_prefix="/carbon")


def _range() -> tuple[date, date]:
    this = date.today().replace(day=1)
    try:
        start = service.parse_period(request.args["from"]) if request.args.get("from") else this - relativedelta(
            months=11)
        end = service.parse_period(request.args["to"]) if request.args.get("to") else this
    except CmsflowError:
        start, end = this - relativedelta(months=11), this
    return start, end


def bars(items: list[tuple[str, Decimal]], target: Decimal | None = None) -> dict:
    """Geometry of a simple SVG bar chart (drawn by the template). With a target (an intensity) the axis
    starts at 85 % of the smallest value so month-to-month differences stay visible."""
    values = [v for _, v in items] + ([target] if target else [])
    top = max(values + [Decimal(1) if not target else Decimal(0)]) or Decimal(1)
    floor = min(values) * Decimal("0.85") if target and values else Decimal(0)
    span = (top - floor) or Decimal(1)
    width = max(len(items), 1)
    scale = lambda v: float((v - floor) / span * 160)  # noqa: E731
    return {"bars": [{"label": k, "value": v, "h": scale(v), "x": i * 600 / width, "w": 600 / width * 0.7}
                     for i, (k, v) in enumerate(items)],
            "target_y": float(180 - scale(target)) if target else None, "floor": floor}


@blueprint.get("/")
def index():
    s = db_session()
    start, end = _range()
    monthly = service.totals(s, start, end, "month")
    by_source = service.totals(s, start, end, "source")
    indicators = []
    for ind in s.exec(select(IntensityIndicator).where(IntensityIndicator.active == True)):  # noqa: E712
        try:
            data = service.intensity(s, ind.product, start, end)
        except NotFound:
            continue
        series = [(m["month"], Decimal(m["intensity"])) for m in data["months"] if m["intensity"] is not None]
        indicators.append({"ind": ind, "data": data, "chart": bars(series, ind.target)})
    deviations = s.exec(select(Deviation).order_by(Deviation.period.desc()).limit(12)).all()
    chart = bars([(g["label"], Decimal(g["tco2e"])) for g in monthly["groups"]])
    from cmsflow.registers.models import Baseline

    baseline = s.exec(select(Baseline).order_by(Baseline.base_year.desc())).first()
    return render_template("carbon/index.html", start=start, end=end, monthly=monthly, by_source=by_source,
                           chart=chart, indicators=indicators, deviations=deviations, baseline=baseline)


def _activity_page(values=None, errors=None, status: int = 200):
    s = db_session()
    methods = {m.emission_source_id: m for m in s.exec(select(AccountingMethod))}
    accounted = [src for src in s.exec(select(EmissionSource).order_by(EmissionSource.name)) if src.id in methods]
    # the form offers only the sources whose data the user may enter (their department's; all for managers)
    sources = [src for src in accounted if permissions.may_write_department(current_user, src.department_id)]
    month = service.parse_period((values or {}).get("period") or request.args.get("period")
                                 or (date.today().replace(day=1) - relativedelta(months=1)))
    rows = s.exec(select(ActivityData, EmissionResult).join(
        EmissionResult, EmissionResult.activity_id == ActivityData.id).where(
        ActivityData.period == month, EmissionResult.current == True)).all()  # noqa: E712
    return render_template("carbon/activity.html", sources=sources, methods=methods, rows=rows, month=month,
                           names={src.id: src.name for src in accounted}, data_sources=DATA_SOURCES,
                           method_labels=METHODS, values=values or {}, errors=errors or {}), status


@blueprint.route("/activity", methods=["GET", "POST"])
def activity():
    if request.method == "GET":
        return _activity_page()
    f = request.form
    s = db_session()
    try:
        result = service.record_activity(s, current_user, emission_source=f.get("emission_source"),
                                         period=f.get("period"), quantity=f.get("quantity"), unit=f.get("unit", ""),
                                         data_source=f.get("data_source", "meter"), instrument=f.get("instrument"),
                                         note=f.get("note", ""), lock_version=f.get("lock_version") or None)
        upload = request.files.get("evidence")
        if upload is not None and upload.filename:
            service.attach_evidence(s, current_user, result.activity_id, upload.filename, upload.read())
        commit()
        flash(_("已保存：%(t)s tCO2e", t=result.tco2e), "success")
        return redirect(url_for(".activity", period=result.period.strftime("%Y-%m")))
    except CmsflowError as exc:
        s.rollback()
        flash(exc.message, "error")
        return _activity_page(f, (exc.details or {}).get("fields") or {}, exc.status)


@blueprint.route("/factors", methods=["GET", "POST"])
def factors():
    s = db_session()
    values, errors, status = {}, {}, 200
    if request.method == "POST":
        f = request.form
        try:
            service.add_factor(s, current_user, code=f.get("code"), year=f.get("year"), name=f.get("name", ""),
                               kind=f.get("kind", ""), value=f.get("value"), unit=f.get("unit", ""),
                               source=f.get("source", ""), gas=f.get("gas") or "CO2", note=f.get("note", ""))
            commit()
            flash(_("已添加新版本；已存结果不变，需要时请重新核算"), "success")
            return redirect(url_for(".factors"))
        except CmsflowError as exc:
            s.rollback()
            flash(exc.message, "error")
            values, errors, status = f, (exc.details or {}).get("fields") or {}, exc.status
    rows = s.exec(select(EmissionFactor).order_by(EmissionFactor.code, EmissionFactor.year.desc(),
                                                  EmissionFactor.version.desc())).all()
    return render_template("carbon/factors.html", rows=rows, kinds=FACTOR_KINDS, values=values,
                           errors=errors), status


@blueprint.get("/results/<int:result_id>")
def result(result_id: int):
    s = db_session()
    row = s.get(EmissionResult, result_id)
    if row is None:
        raise NotFound("核算结果不存在")
    history = s.exec(select(EmissionResult).where(EmissionResult.activity_id == row.activity_id)
                     .order_by(EmissionResult.id)).all()
    return render_template("carbon/result.html", r=row, source=s.get(EmissionSource, row.emission_source_id),
                           versions=history, method_labels=METHODS)


# --- maturity evaluations ----------------------------------------------------------------------------------

def _maturity_index(values=None, errors=None, status: int = 200):
    from cmsflow.auth.models import User
    from cmsflow.carbon.models import MATURITY_STATUSES, MaturityEvaluation

    s = db_session()
    rows = s.exec(select(MaturityEvaluation).order_by(MaturityEvaluation.id.desc())).all()
    users = s.exec(select(User).where(User.active == True).order_by(User.username)).all()  # noqa: E712
    return render_template("carbon/maturity_index.html", rows=rows, users=users, statuses=MATURITY_STATUSES,
                           values=values or {}, errors=errors or {}), status


@blueprint.get("/maturity/")
def maturity_index():
    return _maturity_index()


@blueprint.post("/maturity/")
def maturity_new():
    from cmsflow.carbon import evaluation

    f = request.form
    s = db_session()
    try:
        ev = evaluation.create_evaluation(s, current_user, title=f.get("title", ""), period_start=f.get("period_start"),
                                          period_end=f.get("period_end"), lead=f.get("lead"),
                                          team=[t for t in f.get("team", "").replace("，", ",").split(",")],
                                          product=f.get("product") or None)
        commit()
        return redirect(url_for(".maturity_detail", ev_id=ev.id))
    except CmsflowError as exc:
        s.rollback()
        flash(exc.message, "error")
        return _maturity_index(f, (exc.details or {}).get("fields") or {}, exc.status)


def _maturity_detail(ev_id: int, values=None, errors=None, status: int = 200):
    from cmsflow.carbon import evaluation
    from cmsflow.carbon.models import MATURITY_STATUSES, PDCA_AREAS
    from cmsflow.workflow.assignment import may_act

    s = db_session()
    ev = evaluation.get(s, ev_id)
    task = service_open_task(s, ev.id)
    return render_template("carbon/maturity_detail.html", ev=ev, task=task, statuses=MATURITY_STATUSES,
                           can_act=bool(task and may_act(s, current_user, task)), areas=PDCA_AREAS,
                           scheme=evaluation.scheme(), scores=evaluation.scores_of(s, ev),
                           suggestions=evaluation.suggest_evidence(s, ev), values=values or {},
                           errors=errors or {}), status


def service_open_task(session, ev_id: int):
    from cmsflow.workflow import service as workflow

    return workflow.open_task(session, "maturity_evaluation", ev_id)


@blueprint.get("/maturity/<int:ev_id>")
def maturity_detail(ev_id: int):
    return _maturity_detail(ev_id)


def _maturity_form(step: str, form) -> dict:
    if step == "plan_evaluation":
        return {k: form.get(k, "") for k in ("objective", "criteria", "scope", "schedule")}
    if step == "document_review":
        return {k: form.get(k, "") for k in ("document_review", "focus_points")}
    if step == "onsite_evaluation":
        return {"findings": {k[2:]: v for k, v in form.items() if k.startswith("f_")}}
    if step == "score_evaluation":
        scores = {k[2:]: {"score": v, "justification": form.get(f"j_{k[2:]}", "")}
                  for k, v in form.items() if k.startswith("s_") and v.strip()}
        return {"scores": scores, **{k: form.get(k, "") for k in ("intensity", "industry_advanced", "best_previous",
                                                                  "conclusion")}}
    return {}


@blueprint.post("/maturity/<int:ev_id>/steps/<step>")
def maturity_step(ev_id: int, step: str):
    from cmsflow.carbon import evaluation

    s = db_session()
    ev = evaluation.get(s, ev_id)
    try:
        evaluation.complete_step(s, ev, current_user, step, decision=request.form.get("decision") or None,
                                 comment=request.form.get("comment", ""), data=_maturity_form(step, request.form))
        commit()
        flash(_("已提交"), "success")
        return redirect(url_for(".maturity_detail", ev_id=ev_id))
    except CmsflowError as exc:
        s.rollback()
        flash(exc.message, "error")
        return _maturity_detail(ev_id, request.form, (exc.details or {}).get("fields") or {}, exc.status)


@blueprint.get("/maturity/<int:ev_id>/report.docx")
def maturity_report(ev_id: int):
    from cmsflow.carbon import evaluation

    ev = evaluation.get(db_session(), ev_id)
    return send_stored(ev.record_sha256 or ev.report_sha256, f"{ev.code}-成熟度评价报告.docx", "评价报告尚未生成")


@blueprint.get("/activity/template.xlsx")
def activity_template():
    import io

    from flask import send_file

    from cmsflow.carbon.transfer import template_xlsx
    from cmsflow.registers.transfer import MIME

    return send_file(io.BytesIO(template_xlsx()), mimetype=MIME["xlsx"], as_attachment=True,
                     download_name="活动数据导入模板.xlsx")


@blueprint.post("/activity/import")
def activity_import():
    from cmsflow.carbon.transfer import import_activity

    s = db_session()
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            from cmsflow.core.errors import ValidationError

            raise ValidationError("请选择要导入的 .xlsx 或 .csv 文件", code="file_required")
        n = import_activity(s, current_user, upload.filename, upload.read())
        commit()
        flash(_("已导入 %(n)s 行活动数据并完成核算", n=n), "success")
        return redirect(url_for(".activity"))
    except CmsflowError as exc:
        s.rollback()
        flash(exc.message, "error")
        return _activity_page(status=exc.status)


@blueprint.get("/activity/<int:activity_id>/evidence")
def activity_evidence(activity_id: int):
    row = db_session().get(ActivityData, activity_id)
    if row is None:
        raise NotFound("活动数据不存在")
    return send_stored(row.evidence_sha256, row.evidence_filename or "evidence", "没有证据文件")
