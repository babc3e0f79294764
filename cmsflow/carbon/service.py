"""Carbon accounting per GB/T 32150-2015, intensity per T/CECA-G formula (1), deviations as nonconformities.

- Fossil-fuel combustion: E = AD × EF with AD = NCV × FC (GJ) and EF = CC × OF × 44/12 (tCO2/GJ);
  activity already in heat units is taken as AD directly.
- Process emissions, purchased electricity and heat: E = AD × EF; exported electricity and heat are
  deducted (negative results).
- Non-CO2 gases: E(tCO2e) = E(t gas) × GWP (config ``CARBON_GWP``).

Each activity record gets a stored result with its breakdown (inputs, factor id/version/value/unit,
the steps). Adding a factor version never changes stored results; ``recalculate`` is the explicit,
logged action that does.
"""
from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func
from sqlmodel import Session, select

from cmsflow.auth import permissions
from cmsflow.auth.models import Department, User
from cmsflow.carbon import units
from cmsflow.carbon.models import (
    DATA_SOURCES,
    FACTOR_KINDS,
    METHOD_ROLES,
    METHODS,
    AccountingMethod,
    ActivityData,
    Deviation,
    EmissionFactor,
    EmissionResult,
    IntensityIndicator,
    ProductionOutput,
    RecalculationRun,
)
from cmsflow.core.attachments import store_attachment
from cmsflow.core.db import utcnow
from cmsflow.core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from cmsflow.core.runtime import config
from cmsflow.history import service as history
from cmsflow.registers.models import EmissionSource

C_TO_CO2 = Decimal(44) / Decimal(12)
EDIT_ROLES = ("management_representative", "department_head", "staff", "admin")
MANAGE_ROLES = ("management_representative", "admin")
PLACES = Decimal("0.000001")


def _round(value: Decimal) -> Decimal:
    return value.quantize(PLACES, rounding=ROUND_HALF_UP)


def parse_period(raw) -> date:
    """"YYYY-MM" (or a date) → the first day of that month; ValidationError otherwise."""
    if isinstance(raw, date):
        return raw.replace(day=1)
    try:
        year, month = str(raw or "").strip()[:7].split("-")
        return date(int(year), int(month), 1)
    except ValueError as exc:
        raise ValidationError(f"期间应为 YYYY-MM，而不是「{raw}」", code="invalid_period",
                              details={"fields": {"period": "期间应为 YYYY-MM"}}) from exc


def _decimal(raw, name: str, label: str, *, negative: bool = False) -> Decimal:
    try:
        value = Decimal(str(raw).strip())
    except Exception as exc:
        raise ValidationError(f"{label}必须是数字", code="invalid_number",
                              details={"fields": {name: "必须是数字"}}) from exc
    if not value.is_finite() or (value < 0 and not negative):
        raise ValidationError(f"{label}不能为负数", code="negative_value", details={"fields": {name: "不能为负数"}})
    return value


# --- factors ------------------------------------------------------------------------------------------

def add_factor(session: Session, actor: User, *, code: str, year, name: str, kind: str, value, unit: str,
               source: str, gas: str = "CO2", note: str = "") -> EmissionFactor:
    """Add a factor, or a new version of (code, year): earlier versions stay for the results that used them.

    Raises PermissionDenied (MR/admin only) and ValidationError (unknown kind, unparseable unit, a
    different unit dimension from the earlier version, missing source).
    """
    if actor.role not in MANAGE_ROLES:
        raise PermissionDenied("只有管理者代表可以维护排放因子")
    errors = {}
    code = str(code or "").strip()
    if not code:
        errors["code"] = "请填写因子代码"
    if kind not in FACTOR_KINDS:
        errors["kind"] = f"类型须为：{'、'.join(FACTOR_KINDS)}"
    if not str(source or "").strip():
        errors["source"] = "请注明因子来源（标准、表号或政府公告）"
    try:
        year = int(year)
    except (TypeError, ValueError):
        errors["year"] = "年份必须是整数"
    if errors:
        raise ValidationError("；".join(errors.values()), code="invalid_factor", details={"fields": errors})
    number = _decimal(value, "value", "因子数值")
    units.quantity(number, unit)
    latest = current_factor(session, code, year, exact=True)
    if latest is not None:
        units.convert(1, unit, latest.unit)  # same dimension as before, or ValidationError
        latest.superseded_at = utcnow()
    factor = EmissionFactor(code=code, year=year, version=(latest.version + 1) if latest else 1, name=name.strip(),
                            kind=kind, value=number, unit=unit, gas=gas or "CO2", source=source.strip(),
                            note=(note or "").strip() or None, created_by_id=actor.id)
    session.add(factor)
    session.flush()
    history.record(session, actor, "factor_added", "carbon_factor", factor.id, code=code, year=year,
                   version=factor.version, value=str(number), unit=unit)
    return factor


def current_factor(session: Session, code: str, year: int, *, exact: bool = False) -> EmissionFactor | None:
    """The newest version of ``code`` for ``year``; unless ``exact``, else the latest earlier year, else the
    earliest later year (a year not yet published uses the nearest published value)."""
    rows = list(session.exec(select(EmissionFactor).where(EmissionFactor.code == code)
                             .order_by(EmissionFactor.year, EmissionFactor.version)))
    same = [f for f in rows if f.year == year]
    if same or exact:
        return same[-1] if same else None
    earlier = [f for f in rows if f.year < year]
    if earlier:
        top = max(f.year for f in earlier)
        return [f for f in earlier if f.year == top][-1]
    later = [f for f in rows if f.year > year]
    if later:
        low = min(f.year for f in later)
        return [f for f in later if f.year == low][-1]
    return None


# --- accounting methods ----------------------------------------------------------------------------------

def source_by_ref(session: Session, ref) -> EmissionSource:
    """An emission source by id or exact name; ValidationError when unknown."""
    row = None
    if isinstance(ref, int) or (isinstance(ref, str) and ref.strip().isdigit()):
        row = session.get(EmissionSource, int(ref))
    elif isinstance(ref, str) and ref.strip():
        row = session.exec(select(EmissionSource).where(EmissionSource.name == ref.strip())).first()
    if row is None:
        raise ValidationError(f"排放源「{ref}」不存在", code="unknown_source",
                              details={"fields": {"emission_source": "排放源不存在"}})
    return row


def set_method(session: Session, actor: User, source_ref, *, method: str, unit: str,
               factors: dict) -> AccountingMethod:
    """Say how a source is accounted: method, activity unit and the factor code for each role it needs.

    Raises ValidationError for an unknown method, a unit not fitting it, a missing role or an unknown
    factor code; PermissionDenied unless MR/admin.
    """
    if actor.role not in MANAGE_ROLES:
        raise PermissionDenied("只有管理者代表可以设置核算方法")
    source = source_by_ref(session, source_ref)
    if method not in METHODS:
        raise ValidationError(f"核算方法须为：{'、'.join(METHODS)}", code="invalid_method")
    units.check_unit(unit, method)
    factors = {k: str(v) for k, v in (factors or {}).items()}
    missing = [r for r in METHOD_ROLES[method] if not factors.get(r)]
    unknown = [c for c in factors.values() if session.exec(select(EmissionFactor.id)
                                                           .where(EmissionFactor.code == c)).first() is None]
    if missing or unknown:
        raise ValidationError(f"缺少因子：{'、'.join(missing)}；未知因子：{'、'.join(unknown)}".strip("；"),
                              code="invalid_factors", details={"fields": {"factors": "因子不完整或不存在"}})
    row = session.exec(select(AccountingMethod).where(AccountingMethod.emission_source_id == source.id)).first()
    row = row or AccountingMethod(emission_source_id=source.id, method=method, unit=unit)
    row.method, row.unit, row.factors = method, unit, {r: factors[r] for r in METHOD_ROLES[method]}
    session.add(row)
    session.flush()
    history.record(session, actor, "accounting_method_set", "reg:emission_source", source.id, method=method,
                   unit=unit, factors=row.factors)
    return row


def method_of(session: Session, source_id: int) -> AccountingMethod:
    row = session.exec(select(AccountingMethod).where(AccountingMethod.emission_source_id == source_id)).first()
    if row is None:
        raise ValidationError("此排放源尚未设置核算方法", code="no_method",
                              details={"fields": {"emission_source": "尚未设置核算方法"}})
    return row


# --- calculation ---------------------------------------------------------------------------------------

def _factor_entry(f: EmissionFactor) -> dict:
    return {"id": f.id, "code": f.code, "year": f.year, "version": f.version, "name": f.name, "value": str(f.value),
            "unit": f.unit, "gas": f.gas, "source": f.source}


def _factors_for(session: Session, method: AccountingMethod, year: int) -> dict[str, EmissionFactor]:
    out = {}
    for role, code in method.factors.items():
        f = current_factor(session, code, year)
        if f is None:
            raise ValidationError(f"因子 {code} 没有可用的数值", code="missing_factor")
        out[role] = f
    return out


def calculate(session: Session, activity: ActivityData, method: AccountingMethod) -> tuple[Decimal, dict]:
    """Emissions in tCO2e of one activity record, and the breakdown behind the figure.

    Formulas per GB/T 32150-2015 (see module docstring); raises ValidationError when a factor is
    missing or a unit cannot be converted.
    """
    f = _factors_for(session, method, activity.period.year)
    q = units.quantity(activity.quantity, activity.unit)
    steps = []
    if method.method == "combustion":
        heat = q if q.check("[energy]") else q * units.quantity(f["ncv"].value, f["ncv"].unit)
        ad = Decimal(heat.to("GJ").magnitude)
        cc = Decimal(units.quantity(f["carbon_content"].value, f["carbon_content"].unit).to("tC/GJ").magnitude)
        of = Decimal(units.quantity(f["oxidation"].value, f["oxidation"].unit).to("dimensionless").magnitude)
        ef = cc * of * C_TO_CO2
        gas_t = ad * ef
        steps = [f"AD = NCV × FC = {_round(ad)} GJ",
                 f"EF = CC × OF × 44/12 = {cc} × {of} × 44/12 = {_round(ef)} tCO2/GJ",
                 f"E = AD × EF = {_round(gas_t)} t"]
        gas = f["carbon_content"].gas
    else:
        ef_row = f["emission_factor"]
        product = q * units.quantity(ef_row.value, ef_row.unit)
        gas_t = Decimal(product.to("t").magnitude)
        if method.method.startswith("exported_"):
            gas_t = -gas_t
        steps = [f"E = AD × EF = {activity.quantity} {activity.unit} × {ef_row.value} {ef_row.unit}"
                 f"{'（输出，扣减）' if gas_t < 0 else ''} = {_round(gas_t)} t"]
        gas = ef_row.gas
    gwp = Decimal(str(config()["CARBON_GWP"].get(gas, 1)))
    tco2e = _round(gas_t * gwp)
    if gas != "CO2":
        steps.append(f"tCO2e = E × GWP({gas}) = {_round(gas_t)} × {gwp} = {tco2e}")
    breakdown = {"method": method.method, "formula": FORMULAS[method.method], "gas": gas, "gwp": str(gwp),
                 "activity": {"id": activity.id, "quantity": str(activity.quantity), "unit": activity.unit,
                              "period": activity.period.strftime("%Y-%m"), "data_source": activity.data_source},
                 "factors": {role: _factor_entry(row) for role, row in f.items()}, "steps": steps,
                 "tco2e": str(tco2e)}
    return tco2e, breakdown


FORMULAS = {
    "combustion": "E = Σ ADᵢ × EFᵢ；ADᵢ = NCVᵢ × FCᵢ；EFᵢ = CCᵢ × OFᵢ × 44/12（GB/T 32150-2015）",
    "process": "E = AD × EF（GB/T 32150-2015 工业生产过程排放）",
    "electricity": "E = AD × EF（购入电力，GB/T 32150-2015）", "heat": "E = AD × EF（购入热力，GB/T 32150-2015）",
    "exported_electricity": "E = −AD × EF（输出电力扣减）", "exported_heat": "E = −AD × EF（输出热力扣减）",
}


def _store_result(session: Session, activity: ActivityData, actor: User | None,
                  run: RecalculationRun | None = None) -> EmissionResult:
    method = method_of(session, activity.emission_source_id)
    tco2e, breakdown = calculate(session, activity, method)
    for old in session.exec(select(EmissionResult).where(EmissionResult.activity_id == activity.id,
                                                         EmissionResult.current == True)):  # noqa: E712
        old.current = False
    result = EmissionResult(activity_id=activity.id, emission_source_id=activity.emission_source_id,
                            period=activity.period, method=method.method, tco2e=tco2e, breakdown=breakdown,
                            run_id=run.id if run else None, calculated_by_id=getattr(actor, "id", None))
    session.add(result)
    session.flush()
    return result


# --- activity data and output ------------------------------------------------------------------------------

def check_activity(session: Session, *, emission_source, period, quantity, unit: str,
                   data_source: str = "meter") -> tuple[EmissionSource, date, Decimal]:
    """Validate one month's activity data without storing anything: known source with a method, month,
    quantity ≥ 0, unit fitting the method, data source, and factors available for that year.

    Returns (source, month, quantity); raises ValidationError with ``details.fields``.
    """
    source = source_by_ref(session, emission_source)
    method = method_of(session, source.id)
    month = parse_period(period)
    number = _decimal(quantity, "quantity", "活动数据")
    units.check_unit(unit, method.method)
    if data_source not in DATA_SOURCES:
        raise ValidationError(f"数据来源须为：{'、'.join(DATA_SOURCES)}", code="invalid_data_source",
                              details={"fields": {"data_source": "数据来源无效"}})
    _factors_for(session, method, month.year)
    return source, month, number


def check_source_write(actor: User, source: EmissionSource) -> None:
    """PermissionDenied unless ``actor`` may write the activity data of ``source``: its department's head and
    staff, the management representative, the administrator (:func:`cmsflow.auth.permissions.
    check_department_write`)."""
    permissions.check_department_write(actor, source.department_id, f"排放源「{source.name}」的活动数据")


def record_activity(session: Session, actor: User, *, emission_source, period, quantity, unit: str,
                    data_source: str = "meter", instrument: str | None = None, note: str = "",
                    lock_version=None, evidence: tuple[str, str] | None = None) -> EmissionResult:
    """Enter (or correct) a month's activity data of a source; returns the stored result.

    ``quantity`` ≥ 0 in ``unit`` (must fit the source's method); a second entry for the same month
    is a correction and needs the ``lock_version`` it was read with (else Conflict). ``evidence`` is
    (sha256, filename) of a stored file. Raises ValidationError with ``details.fields``.
    """
    if actor.role not in EDIT_ROLES:
        raise PermissionDenied("无权录入活动数据")
    source, month, number = check_activity(session, emission_source=emission_source, period=period,
                                           quantity=quantity, unit=unit, data_source=data_source)
    check_source_write(actor, source)
    row = session.exec(select(ActivityData).where(ActivityData.emission_source_id == source.id,
                                                  ActivityData.period == month)).first()
    if row is not None:
        if lock_version is None or str(lock_version) != str(row.lock_version):
            raise Conflict(f"{source.name} {month:%Y-%m} 的活动数据已存在（或已被他人修改）；修改请基于最新版本",
                           code="stale_edit")
        row.lock_version += 1
        row.updated_at = utcnow()
        action = "activity_corrected"
    else:
        row = ActivityData(emission_source_id=source.id, period=month, quantity=number, unit=unit,
                           entered_by_id=actor.id)
        action = "activity_recorded"
    row.quantity, row.unit, row.data_source, row.entered_by_id = number, unit, data_source, actor.id
    row.instrument, row.note = (instrument or "").strip() or None, (note or "").strip() or None
    if evidence:
        row.evidence_sha256, row.evidence_filename = evidence
    session.add(row)
    session.flush()
    result = _store_result(session, row, actor)
    history.record(session, actor, action, "carbon_activity", row.id, source=source.name,
                   period=month.strftime("%Y-%m"), quantity=str(number), unit=unit, tco2e=str(result.tco2e))
    check_deviations(session, month)
    return result


def activity_of(session: Session, source_id: int, month: date) -> ActivityData | None:
    return session.exec(select(ActivityData).where(ActivityData.emission_source_id == source_id,
                                                   ActivityData.period == month)).first()


def record_output(session: Session, actor: User, *, product: str, period, quantity, unit: str,
                  product_name: str = "") -> ProductionOutput:
    """Enter a month's production output of a product (replaces an earlier figure for that month)."""
    if actor.role not in EDIT_ROLES:
        raise PermissionDenied("无权录入产量")
    product = str(product or "").strip()
    if not product:
        raise ValidationError("请填写产品", code="invalid_output", details={"fields": {"product": "必填"}})
    month = parse_period(period)
    number = _decimal(quantity, "quantity", "产量")
    units.quantity(number, unit)
    row = session.exec(select(ProductionOutput).where(ProductionOutput.product == product,
                                                      ProductionOutput.period == month)).first()
    if row is None:
        row = ProductionOutput(product=product, product_name=product_name or product, period=month,
                               quantity=number, unit=unit, entered_by_id=actor.id)
    else:
        units.convert(1, unit, row.unit)
        row.lock_version += 1
    row.quantity, row.unit, row.entered_by_id = number, unit, actor.id
    row.product_name = product_name or row.product_name
    session.add(row)
    session.flush()
    history.record(session, actor, "output_recorded", "carbon_output", row.id, product=product,
                   period=month.strftime("%Y-%m"), quantity=str(number), unit=unit)
    check_deviations(session, month)
    return row


# --- totals, intensity ------------------------------------------------------------------------------------

GROUPS = ("source", "department", "facility", "month", "year", "method")


def totals(session: Session, start: date, end: date, group: str = "source") -> dict:
    """Current results of months [start, end] summed per ``group``; ``{"total", "groups": [{key, label, tco2e}]}``
    in tCO2e. Raises ValidationError for an unknown group or end < start."""
    if group not in GROUPS:
        raise ValidationError(f"group 须为：{'、'.join(GROUPS)}", code="invalid_group")
    if end < start:
        raise ValidationError("结束月份早于开始月份", code="invalid_period")
    rows = session.exec(select(EmissionResult, EmissionSource).join(
        EmissionSource, EmissionSource.id == EmissionResult.emission_source_id).where(
        EmissionResult.current == True, EmissionResult.period >= start, EmissionResult.period <= end))  # noqa: E712
    depts = {d.id: d for d in session.exec(select(Department))}
    sums: dict[str, list] = {}
    for result, source in rows:
        key, label = _group_key(group, result, source, depts)
        entry = sums.setdefault(key, [label, Decimal(0)])
        entry[1] += result.tco2e
    groups = [{"key": k, "label": v[0], "tco2e": str(_round(v[1]))} for k, v in sorted(sums.items())]
    return {"period": {"from": start.strftime("%Y-%m"), "to": end.strftime("%Y-%m")}, "group": group,
            "total": str(_round(sum((v[1] for v in sums.values()), Decimal(0)))), "groups": groups}


def _group_key(group: str, result: EmissionResult, source: EmissionSource, depts: dict) -> tuple[str, str]:
    if group == "source":
        return str(source.id), source.name
    if group == "department":
        dept = depts.get(source.department_id)
        return (dept.code, dept.name) if dept else ("-", "未指定部门")
    if group == "facility":
        return source.facility, source.facility
    if group == "month":
        return result.period.strftime("%Y-%m"), result.period.strftime("%Y-%m")
    if group == "year":
        return str(result.period.year), str(result.period.year)
    return result.method, str(METHODS.get(result.method, result.method))


def _boundary(session: Session, product: str, source_ids: list[int] | None) -> list[int] | None:
    """Sources counted for a product's intensity: as given, else the product's indicator boundary, else all."""
    if source_ids is not None:
        return source_ids or None
    ind = session.exec(select(IntensityIndicator).where(IntensityIndicator.product == product)).first()
    return (ind.source_ids or None) if ind else None


def _month_sums(session: Session, start: date, end: date, source_ids: list[int] | None) -> dict[date, Decimal]:
    q = select(EmissionResult.period, func.sum(EmissionResult.tco2e)).where(
        EmissionResult.current == True, EmissionResult.period >= start,  # noqa: E712
        EmissionResult.period <= end)
    if source_ids:
        q = q.where(EmissionResult.emission_source_id.in_(source_ids))
    return {period: Decimal(total) for period, total in session.exec(q.group_by(EmissionResult.period)).all()}


def intensity(session: Session, product: str, start: date, end: date, source_ids: list[int] | None = None) -> dict:
    """C = E_total / Q (T/CECA-G formula (1)) for months [start, end], overall and per month.

    E counts the sources of the product's indicator boundary (``source_ids``; default: the indicator's,
    else every source); months without output are left out (intensity undefined).

    Returns ``{"product", "unit", "emissions_tco2e", "output", "intensity", "months": [{month,
    emissions_tco2e, output, intensity}]}``; intensity in tCO2e per output unit, None where output is 0.
    """
    outputs = list(session.exec(select(ProductionOutput).where(
        ProductionOutput.product == product, ProductionOutput.period >= start, ProductionOutput.period <= end)
        .order_by(ProductionOutput.period)))
    if not outputs:
        raise NotFound(f"产品 {product} 在此期间没有产量数据")
    unit = outputs[0].unit
    boundary = _boundary(session, product, source_ids)
    emissions = _month_sums(session, start, end, boundary)
    months, e_total, q_total = [], Decimal(0), Decimal(0)
    for out in outputs:
        if not out.quantity:
            continue
        q = units.convert(out.quantity, out.unit, unit)
        e = Decimal(emissions.get(out.period) or 0)
        e_total, q_total = e_total + e, q_total + q
        months.append({"month": out.period.strftime("%Y-%m"), "emissions_tco2e": str(_round(e)), "output": str(q),
                       "intensity": str(_round(e / q)) if q else None})
    return {"product": product, "unit": f"tCO2e/{unit}", "boundary": boundary, "emissions_tco2e": str(_round(e_total)),
            "output": str(q_total), "intensity": str(_round(e_total / q_total)) if q_total else None,
            "months": months}


# --- deviations --------------------------------------------------------------------------------------------

def check_deviations(session: Session, month: date) -> list[Deviation]:
    """Compare the month's intensity of every active indicator with its target; a deviation above the
    threshold raises one nonconformity (source ``monitoring``, DB44/T 1944 §9.1) per indicator and month."""
    from cmsflow.nonconformities import service as nonconformities

    raised = []
    for ind in session.exec(select(IntensityIndicator).where(IntensityIndicator.active == True)):  # noqa: E712
        out = session.exec(select(ProductionOutput).where(ProductionOutput.product == ind.product,
                                                          ProductionOutput.period == month)).first()
        if out is None or not out.quantity or session.exec(select(Deviation).where(
                Deviation.indicator_id == ind.id, Deviation.period == month)).first():
            continue
        e = _month_sums(session, month, month, ind.source_ids or None).get(month, Decimal(0))
        c = e / out.quantity
        pct = (c - ind.target) / ind.target * 100
        if pct <= ind.threshold_percent:
            continue
        raiser = session.exec(select(User).where(User.role == "management_representative",
                                                 User.active == True)).first()  # noqa: E712
        dev = Deviation(indicator_id=ind.id, period=month, intensity=_round(c), deviation_percent=pct.quantize(
            Decimal("0.01")))
        if raiser is not None:
            nc = nonconformities.raise_nonconformity(
                session, raiser, title=f"{month:%Y-%m} {ind.name}超出目标 {dev.deviation_percent}%",
                description=(f"{month:%Y-%m} {ind.name} 为 {_round(c)} tCO2e/{out.unit}，目标 {ind.target}，"
                             f"偏差 {dev.deviation_percent}%，超过阈值 {ind.threshold_percent}%。"),
                source="monitoring", department=ind.department_id, clauses=["DB44T1944:9.1"],
                source_ref=f"carbon_deviation:{ind.id}:{month:%Y-%m}")
            dev.nonconformity_id = nc.id
        session.add(dev)
        session.flush()
        raised.append(dev)
    return raised


def set_indicator(session: Session, actor: User, *, product: str, name: str, target, threshold_percent,
                  department, sources=None) -> IntensityIndicator:
    """Create or update the monitored intensity of a product (target in tCO2e per unit, threshold in %,
    ``sources``: the emission sources in its boundary by id or name; None keeps, [] = all)."""
    if actor.role not in MANAGE_ROLES:
        raise PermissionDenied("只有管理者代表可以设置强度指标")
    dept = session.exec(select(Department).where(Department.code == str(department or "").upper())).first()
    if dept is None:
        raise ValidationError(f"部门「{department}」不存在", code="unknown_department",
                              details={"fields": {"department": "部门不存在"}})
    row = session.exec(select(IntensityIndicator).where(IntensityIndicator.product == product)).first()
    row = row or IntensityIndicator(product=product, name=name, target=Decimal(0), threshold_percent=Decimal(0),
                                    department_id=dept.id)
    row.name, row.department_id = name or row.name, dept.id
    if sources is not None:
        row.source_ids = [source_by_ref(session, ref).id for ref in sources]
    row.target = _decimal(target, "target", "目标值")
    row.threshold_percent = _decimal(threshold_percent, "threshold_percent", "偏差阈值")
    if row.target == 0:
        raise ValidationError("目标值必须大于 0", code="invalid_target", details={"fields": {"target": "必须大于 0"}})
    session.add(row)
    session.flush()
    return row


# --- recalculation ------------------------------------------------------------------------------------------

def recalculate(session: Session, actor: User, start, end, reason: str) -> RecalculationRun:
    """Recompute every activity record of months [start, end] with the current factors (logged run).

    Only results whose figure or factor versions change get a new version; the others stay. Raises
    PermissionDenied (MR/admin) and ValidationError (no reason, bad months).
    """
    if actor.role not in MANAGE_ROLES:
        raise PermissionDenied("只有管理者代表可以重新核算")
    if not str(reason or "").strip():
        raise ValidationError("请说明重新核算的原因（如因子更新）", code="reason_required",
                              details={"fields": {"reason": "必填"}})
    first, last = parse_period(start), parse_period(end)
    if last < first:
        raise ValidationError("结束月份早于开始月份", code="invalid_period")
    activities = list(session.exec(select(ActivityData).where(ActivityData.period >= first,
                                                              ActivityData.period <= last)))
    current = {r.activity_id: r for r in session.exec(select(EmissionResult).where(
        EmissionResult.current == True, EmissionResult.activity_id.in_([a.id for a in activities] or [-1])))}  # noqa: E712
    before = sum((r.tco2e for r in current.values()), Decimal(0))
    run = RecalculationRun(period_start=first, period_end=last, reason=reason.strip(), actor_id=actor.id,
                           total_before=before, total_after=before)
    session.add(run)
    session.flush()
    after, changed = Decimal(0), 0
    for act in activities:
        tco2e, breakdown = calculate(session, act, method_of(session, act.emission_source_id))
        old = current.get(act.id)
        if old is None or old.tco2e != tco2e or old.breakdown.get("factors") != breakdown["factors"]:
            _store_result(session, act, actor, run)
            changed += 1
        after += tco2e
    run.results_changed, run.total_after = changed, after
    history.record(session, actor, "emissions_recalculated", "carbon_recalculation", run.id,
                   period=[first.strftime("%Y-%m"), last.strftime("%Y-%m")], reason=run.reason, changed=changed,
                   total_before=str(before), total_after=str(after))
    return run


def attach_evidence(session: Session, actor: User, activity_id: int, filename: str, data: bytes) -> ActivityData:
    """Store the evidence of a month's activity data (meter photo, invoice: PDF, image, Word, Excel).

    Raises NotFound, PermissionDenied, ValidationError (file type or size refused, with the reason).
    """
    if actor.role not in EDIT_ROLES:
        raise PermissionDenied("无权上传活动数据证据")
    row = session.get(ActivityData, activity_id)
    if row is None:
        raise NotFound("活动数据不存在")
    check_source_write(actor, session.get(EmissionSource, row.emission_source_id))
    row.evidence_sha256, row.evidence_filename = store_attachment(session, filename, data, "证据")
    name = row.evidence_filename
    history.record(session, actor, "activity_evidence_attached", "carbon_activity", row.id, filename=name,
                   sha256=row.evidence_sha256)
    return row
