"""Register records: create, update (optimistic lock), list with filters, clause links, history,
rules (risk rating, calibration due dates, baseline adjustments per DB14/T 2970 §6.3.2)."""
from __future__ import annotations

from dataclasses import dataclass

from dateutil.relativedelta import relativedelta
from sqlmodel import Session, select

from cmsflow.auth import permissions
from cmsflow.auth.models import User
from cmsflow.core import signals
from cmsflow.core.db import utcnow
from cmsflow.core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from cmsflow.history import service as history
from cmsflow.registers.models import RegisterClause
from cmsflow.registers.specs import BASELINE_ADJUSTMENT_REASONS, RegisterSpec
from cmsflow.registers.values import FieldError, external, parse
from cmsflow.standards import service as standards

EDIT_ROLES = ("management_representative", "admin", "department_head", "staff")
BASELINE_KEYS = ("base_year", "emissions_tco2e", "intensity")


class RecordInvalid(ValidationError):
    """Field-level errors: ``errors`` maps field name → message."""

    code = "invalid_record"

    def __init__(self, errors: dict[str, str], labels: dict[str, str]):
        self.errors = errors
        self.details = {"fields": errors}
        super().__init__("；".join(f"{labels.get(k, k)}：{v}" for k, v in errors.items()))


def subject_type(spec: RegisterSpec) -> str:
    return f"reg:{spec.name}"


def can_edit(user: User, spec: RegisterSpec) -> bool:
    if spec.name == "baseline":
        return user.role in ("management_representative", "admin")
    return user.role in EDIT_ROLES


def check_edit(user: User, spec: RegisterSpec) -> None:
    if not can_edit(user, spec):
        raise PermissionDenied(f"您无权维护「{spec.title}」")


def owned_by_department(spec: RegisterSpec) -> bool:
    """Whether the register's records belong to a department (a ``department`` field)."""
    return any(f.name == "department" for f in spec.fields)


def may_write(user: User, spec: RegisterSpec, row=None) -> bool:
    """Whether ``user`` may change ``row`` (None: add a record) of the register: the register's editors
    (:func:`can_edit`) and, for a department's records, only of their own department unless they are the
    management representative or the administrator (:func:`cmsflow.auth.permissions.may_write_department`)."""
    if not can_edit(user, spec):
        return False
    if not owned_by_department(spec):
        return True
    department_id = row.department_id if row is not None else user.department_id
    return permissions.may_write_department(user, department_id)


def check_write(user: User, spec: RegisterSpec, values: dict, row=None) -> None:
    """PermissionDenied unless ``user`` may store ``values`` (cleaned column values) as a new record (``row``
    None) or over ``row``: editors of the register (:func:`check_edit`), of the owning department; moving a
    record to another department is the management representative's and the administrator's alone. A new
    record of a department head or staff member without a department gets theirs (``values`` is updated)."""
    check_edit(user, spec)
    if not owned_by_department(spec):
        return
    what = f"「{spec.title}」记录"
    if row is None:
        if values.get("department_id") is None and user.role not in permissions.WRITE_ANY_DEPARTMENT:
            values["department_id"] = user.department_id
        permissions.check_department_write(user, values.get("department_id"), what)
        return
    permissions.check_department_write(user, row.department_id, what, moving=True,
                                       new_department_id=values.get("department_id"))


def clean(session: Session, spec: RegisterSpec, data: dict) -> tuple[dict, list[str]]:
    """Validate a whole record → (column values, clause refs); RecordInvalid lists every bad field."""
    errors, values = {}, {}
    unknown = set(data) - {f.name for f in spec.fields} - {"clauses", "lock_version", "adjustment_reason",
                                                           "adjustment_note"}
    for name in sorted(unknown):
        errors[name] = "未知字段"
    for f in spec.fields:
        try:
            values[f.column] = parse(session, f, data.get(f.name))
        except FieldError as exc:
            errors[f.name] = str(exc)
            continue
        limit = getattr(spec.model.__table__.c[f.column].type, "length", None)  # VARCHAR(n): PostgreSQL refuses more
        if limit and isinstance(values[f.column], str) and len(values[f.column]) > limit:
            errors[f.name] = f"最多 {limit} 个字符"
    refs: list[str] = []
    raw_refs = data.get("clauses") or []
    if isinstance(raw_refs, str):
        raw_refs = [r for r in raw_refs.replace("；", ",").replace(";", ",").split(",") if r.strip()]
    try:
        refs = standards.validate_refs(raw_refs)
    except ValidationError as exc:
        errors["clauses"] = exc.message
    _apply_rules(spec, values, errors)
    if errors:
        raise RecordInvalid(errors, {f.name: f.label for f in spec.fields} | {"clauses": "条款"})
    return values, refs


def _apply_rules(spec: RegisterSpec, values: dict, errors: dict) -> None:
    if spec.name == "instrument" and not values.get("next_due") and values.get("last_calibrated") \
            and values.get("calibration_interval_months"):
        values["next_due"] = values["last_calibrated"] + relativedelta(months=values["calibration_interval_months"])
    if spec.name == "risk" and values.get("kind") == "risk" and values.get("status") == "closed" \
            and not values.get("effectiveness_review"):
        errors["effectiveness_review"] = "关闭风险前须填写有效性评价"


def get(session: Session, spec: RegisterSpec, record_id: int):
    row = session.get(spec.model, record_id)
    if row is None:
        raise NotFound(f"{spec.title}记录 {record_id} 不存在")
    return row


def clauses_of(session: Session, spec: RegisterSpec, record_id: int) -> list[str]:
    q = select(RegisterClause.clause).where(RegisterClause.register_name == spec.name,
                                            RegisterClause.record_id == record_id)
    return list(session.exec(q.order_by(RegisterClause.clause)))


def _set_clauses(session: Session, spec: RegisterSpec, record_id: int, refs: list[str]) -> None:
    existing = session.exec(select(RegisterClause).where(RegisterClause.register_name == spec.name,
                                                         RegisterClause.record_id == record_id)).all()
    for link in existing:
        if link.clause not in refs:
            session.delete(link)
    have = {link.clause for link in existing}
    for ref in refs:
        if ref not in have:
            session.add(RegisterClause(register_name=spec.name, record_id=record_id, clause=ref))


def create(session: Session, actor: User, spec: RegisterSpec, data: dict):
    """Validate and store one record; raises RecordInvalid / PermissionDenied."""
    check_edit(actor, spec)
    return insert(session, actor, spec, *clean(session, spec, data))


def insert(session: Session, actor: User, spec: RegisterSpec, values: dict, refs: list[str]):
    """Store a record whose values ``clean`` already produced; PermissionDenied as :func:`check_write` (the same
    rule for pages, API and imports)."""
    check_write(actor, spec, values)
    row = spec.model(**values, created_by_id=actor.id)
    session.add(row)
    session.flush()
    _set_clauses(session, spec, row.id, refs)
    history.record(session, actor, "record_created", subject_type(spec), row.id,
                   **{k: _json(v) for k, v in values.items() if v is not None})
    signals.subject_changed.send(subject_type(spec), subject_id=row.id, session=session)
    return row


def _json(value):
    """A stored value as it goes into the activity log (JSON-safe)."""
    return value.isoformat() if hasattr(value, "isoformat") else (str(value) if value is not None else None)


@dataclass
class Change:
    field: str
    old: object
    new: object


def update(session: Session, actor: User, spec: RegisterSpec, record_id: int, data: dict):
    """Update a record. ``lock_version`` must match (else Conflict); changing the baseline needs an
    ``adjustment_reason`` (DB14/T 2970 §6.3.2 a–c), which the activity log keeps."""
    check_edit(actor, spec)
    row = get(session, spec, record_id)
    expected = data.get("lock_version")
    if expected is not None and str(expected) != str(row.lock_version):
        raise Conflict("记录已被他人修改，请刷新后重试（您的修改未保存）", code="stale_edit")
    values, refs = clean(session, spec, data)
    check_write(actor, spec, values, row)
    changes = [Change(k, getattr(row, k), v) for k, v in values.items() if getattr(row, k) != v]
    extra = {}
    if spec.name == "baseline" and any(c.field in BASELINE_KEYS for c in changes):
        reason = data.get("adjustment_reason")
        if reason not in BASELINE_ADJUSTMENT_REASONS:
            raise RecordInvalid({"adjustment_reason": "调整基准须选择调整原因（DB14/T 2970 §6.3.2）"},
                                {"adjustment_reason": "调整原因"})
        extra = {"adjustment_reason": reason, "adjustment_note": str(data.get("adjustment_note") or "")}
    for c in changes:
        setattr(row, c.field, c.new)
    row.lock_version += 1
    row.updated_at = utcnow()
    _set_clauses(session, spec, row.id, refs)
    action = "baseline_adjusted" if extra else "record_updated"
    history.record(session, actor, action, subject_type(spec), row.id,
                   changes={c.field: [_json(c.old), _json(c.new)] for c in changes}, **extra)
    signals.subject_changed.send(subject_type(spec), subject_id=row.id, session=session)
    return row


def as_json(session: Session, spec: RegisterSpec, row) -> dict:
    out = {"id": row.id, "lock_version": row.lock_version}
    for f in spec.fields:
        out[f.name] = external(session, f, getattr(row, f.column))
    for name, (_label, fn) in spec.derived.items():
        out[name] = fn(row)
    out["clauses"] = clauses_of(session, spec, row.id)
    return out


def statement(session: Session, spec: RegisterSpec, filters: dict | None = None, text: str | None = None):
    """The register query (a ``Select`` ordered by id): equality filters on filterable fields (external
    values) and a text search on the title field; raises ValidationError on a malformed filter value."""
    q = select(spec.model)
    for f in spec.fields:
        raw = (filters or {}).get(f.name)
        if f.filter and raw not in (None, ""):
            try:
                value = parse(session, f, raw)
            except FieldError as exc:
                raise ValidationError(f"筛选条件 {f.label}：{exc}", code="invalid_filter") from exc
            q = q.where(getattr(spec.model, f.column) == value)
    if text:
        title = getattr(spec.model, spec.title_field)
        q = q.where(title.ilike(f"%{text.strip()}%"))
    return q.order_by(spec.model.id)


def query(session: Session, spec: RegisterSpec, filters: dict | None = None, text: str | None = None) -> list:
    """Every record matching (see :func:`statement`), for exports and imports."""
    return list(session.exec(statement(session, spec, filters, text)))
