"""Carbon disclosure (DB44/T 1944 §8.3 and A.6.3): the disclosure criteria (mandatory or voluntary,
frequency, scope) and the disclosure report of a year, generated from
``doc_templates/records/disclosure_report.docx`` with the verified emissions, intensity, targets and
actions. The report becomes a controlled document (record form) and goes through
``document_approval.bpmn``: it is released when that version becomes effective.
"""
from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

from docxtpl import DocxTemplate
from flask import current_app
from sqlmodel import Session, select

from cmsflow.assets import compliance, valuation, verification
from cmsflow.assets import values as v
from cmsflow.assets.models import FREQUENCIES, NEUTRALITY_STATUSES, Disclosure, DisclosureCriteria, NeutralityStatement
from cmsflow.auth.models import Department, User
from cmsflow.carbon import service as carbon
from cmsflow.carbon.models import IntensityIndicator
from cmsflow.core.errors import Conflict, NotFound, ValidationError
from cmsflow.core.runtime import config
from cmsflow.documents import service as documents
from cmsflow.documents.models import Document
from cmsflow.history import service as history
from cmsflow.registers.models import Objective

SUBJECT = "asset_disclosure"
CLAUSES = ["DB44T1944:8.3"]
CRITERIA_FIELDS = ("code", "title", "mandatory", "frequency", "scope", "audience", "department", "active",
                   "lock_version")


def get_criteria(session: Session, criteria_id: int) -> DisclosureCriteria:
    """Disclosure criteria by id; NotFound otherwise."""
    row = session.get(DisclosureCriteria, criteria_id)
    if row is None:
        raise NotFound("披露准则不存在")
    return row


def save_criteria(session: Session, actor: User, criteria_id: int | None = None, **data) -> DisclosureCriteria:
    """Create or update disclosure criteria: ``code``, ``title``, ``mandatory`` (bool), ``frequency``
    (annual|semiannual|quarterly|event), ``scope``, ``audience``, ``department`` (code), ``active``; an update
    needs ``lock_version``. Raises PermissionDenied, ValidationError, Conflict ``stale_edit``."""
    v.require_manager(actor, "维护信息披露准则")
    errors: dict[str, str] = {}
    dept = v.department(session, data.get("department"), errors)
    cols = {"code": v.text(data.get("code"), "code", "准则编号", errors, limit=40),
            "title": v.text(data.get("title"), "title", "准则名称", errors, limit=200),
            "scope": v.text(data.get("scope"), "scope", "披露范围和内容", errors),
            "audience": v.text(data.get("audience"), "audience", "披露对象和渠道", errors, required=False,
                               limit=200) or None,
            "frequency": str(data.get("frequency") or ""), "department_id": dept.id if dept else None,
            "mandatory": str(data.get("mandatory")).lower() in ("1", "true", "on", "yes"),
            "active": str(data.get("active", True)).lower() not in ("0", "false", "off", "no")}
    if cols["frequency"] not in FREQUENCIES:
        errors["frequency"] = f"披露频次须为：{'、'.join(FREQUENCIES)}"
    other = session.exec(select(DisclosureCriteria).where(DisclosureCriteria.code == cols["code"])).first()
    if other is not None and other.id != criteria_id:
        errors["code"] = f"编号 {cols['code']} 已存在"
    v.refuse(errors, "披露准则信息不完整", "invalid_criteria")
    row = DisclosureCriteria(**cols) if criteria_id is None else get_criteria(session, criteria_id)
    if criteria_id is not None:
        v.check_lock(row, data.get("lock_version"))
        for key, val in cols.items():
            setattr(row, key, val)
    session.add(row)
    session.flush()
    history.record(session, actor, "disclosure_criteria_saved", "asset_disclosure_criteria", row.id, code=row.code,
                   mandatory=row.mandatory, frequency=row.frequency)
    return row


def _intensities(session: Session, year: int) -> list[dict]:
    out = []
    for ind in session.exec(select(IntensityIndicator).where(IntensityIndicator.active == True)):  # noqa: E712
        try:
            res = carbon.intensity(session, ind.product, date(year, 1, 1), date(year, 12, 1))
        except NotFound:
            continue
        if res["intensity"] is not None:
            out.append({"name": ind.name, "value": f"{Decimal(res['intensity']):.4f}", "unit": res["unit"],
                        "target": f"{ind.target:.4f}"})
    return out


def _targets(session: Session) -> list[dict]:
    rows = session.exec(select(Objective).order_by(Objective.level, Objective.deadline)).all()
    return [{"title": o.title, "indicator": o.indicator, "target": f"{o.target_value:g}", "unit": o.unit,
             "base": f"{o.base_value:g}" if o.base_value is not None else "", "deadline": o.deadline.isoformat(),
             "action": o.action_plan or ""} for o in rows if o.level == "organisation"]


def figures(session: Session, year: int) -> dict:
    """The figures of the report of ``year`` (JSON-safe strings): verified and accounted emissions, the
    compliance status, intensities, organisation-level targets, reduction measures and neutrality
    statements. ValidationError ``no_verified_emissions`` without a completed verification of the year."""
    ver = verification.completed_for(session, year)
    if ver is None:
        raise ValidationError(f"{year} 年度尚无完成的第三方核查：披露报告应以核查确认的排放量为准",
                              code="no_verified_emissions")
    cycle = next((c for c in compliance.cycles(session) if c.compliance_year == year), None)
    pos = compliance.position(session, cycle) if cycle else None
    measures = valuation.abatement_comparison(session)["measures"]
    statements = session.exec(select(NeutralityStatement).where(NeutralityStatement.period_end >= date(year, 1, 1),
                                                                NeutralityStatement.period_end <= date(year, 12, 31)))
    return {"year": year, "verified_emissions": v.fmt(ver.verified_emissions), "verifier": ver.verifier,
            "verification": ver.code, "accounted_emissions": v.fmt(ver.accounting_emissions),
            "compliance": (f"{cycle.code}：{'已完成清缴' if cycle.status == 'closed' else '进行中'}，"
                           f"核定配额 {v.fmt(pos['allocated'])} tCO2e，已清缴 "
                           f"{v.fmt(pos['surrendered_allowances'] + pos['offsets_surrendered'])} tCO2e"
                           if cycle else "本年度未纳入配额履约"),
            "intensities": _intensities(session, year), "targets": _targets(session),
            "actions": [{"title": r["measure"].title, "reduction": v.fmt(r["measure"].annual_reduction),
                         "status": str(valuation.MEASURE_STATUSES[r["measure"].status])} for r in measures],
            "neutrality": [f"{s.code}（{s.period_start}–{s.period_end}，{s.boundary}）："
                           f"{NEUTRALITY_STATUSES[s.status]}，净排放 {v.fmt(s.net)} tCO2e" for s in statements]}


def render(criteria: DisclosureCriteria, fig: dict, dept: Department, actor: User) -> bytes:
    """The disclosure report .docx of the figures under ``criteria``."""
    tpl = DocxTemplate(f"{current_app.config['DOC_TEMPLATES_DIR']}/records/disclosure_report.docx")
    tpl.render({"organisation": config()["ORGANISATION_NAME"], "criteria": criteria.title,
                "mandatory": "强制性披露" if criteria.mandatory else "自愿性披露",
                "frequency": str(FREQUENCIES[criteria.frequency]), "scope": criteria.scope,
                "audience": criteria.audience or "", "department": dept.name, "prepared_by": actor.display_name,
                "prepared_on": date.today().isoformat(), **fig}, autoescape=True)
    buf = io.BytesIO()
    tpl.save(buf)
    return buf.getvalue()


def prepare_report(session: Session, actor: User, *, criteria_id, year) -> Disclosure:
    """Generate the report of ``year`` under the criteria, file it as a controlled document of the criteria's
    department and submit it to ``document_approval``. Raises PermissionDenied, ValidationError, Conflict
    (a report of that year and criteria is already in approval or released)."""
    v.require_manager(actor, "编制信息披露报告")
    errors: dict[str, str] = {}
    year = v.integer(year, "year", "披露年度", errors, bounds=v.YEARS)
    ref = v.integer(criteria_id, "criteria_id", "披露准则", errors, bounds=v.ID_RANGE)
    v.refuse(errors, "披露报告信息不完整", "invalid_disclosure")
    criteria = get_criteria(session, ref)
    if not criteria.active:
        raise ValidationError("该披露准则已停用", code="criteria_inactive")
    for old in session.exec(select(Disclosure).where(Disclosure.criteria_id == criteria.id, Disclosure.year == year)):
        if status_of(session, old) in ("in_review", "released"):
            raise Conflict(f"{year} 年度报告已有 {old.code}（{status_of(session, old)}）", code="disclosure_exists")
    fig = figures(session, year)
    dept = session.get(Department, criteria.department_id)
    title = f"{year} 年度碳排放信息披露报告（{criteria.title}）"[:200]
    doc = documents.create_document(session, actor, title=title, doc_type="record_form", department=dept.code,
                                    clauses=CLAUSES, upload=(f"{title}.docx", render(criteria, fig, dept, actor)))
    documents.submit(session, actor, doc)
    row = Disclosure(code=v.next_code(session, "PL", year), criteria_id=criteria.id, year=year, document_id=doc.id,
                     figures=fig, created_by_id=actor.id)
    session.add(row)
    session.flush()
    history.record(session, actor, "disclosure_report_prepared", SUBJECT, row.id, code=row.code, document=doc.code)
    return row


def status_of(session: Session, row: Disclosure) -> str:
    """``released`` once the document version is effective, else the document's status (in_review, draft …)."""
    doc = session.get(Document, row.document_id)
    return "released" if doc.effective_version is not None else doc.status


def disclosures(session: Session) -> list[Disclosure]:
    """Every disclosure report, newest year first."""
    return list(session.exec(select(Disclosure).order_by(Disclosure.year.desc(), Disclosure.id.desc())))
