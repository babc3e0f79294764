"""Converting register values between storage, people (forms, Excel, CSV) and JSON."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from sqlmodel import Session, select

from cmsflow.auth.models import Department, User
from cmsflow.registers.specs import FieldSpec

TRUE = {"1", "true", "yes", "y", "是", "√", "✓"}
FALSE = {"0", "false", "no", "n", "否", ""}


class FieldError(ValueError):
    """One field's value is unusable; the message is shown next to the field / row."""


def _blank(raw) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def parse(session: Session, f: FieldSpec, raw):
    """A user-supplied value (form string, Excel cell, JSON) → the stored value; FieldError if invalid."""
    if _blank(raw):
        if f.required:
            raise FieldError("必填")
        return False if f.type == "bool" else None
    parser = _PARSERS[f.type]
    return parser(session, f, raw)


def _text(_s, _f, raw):
    return str(raw).strip()


def _choice(_s, f, raw):
    value = str(raw).strip()
    if value in f.choices:
        return value
    by_label = {label: key for key, label in f.choices.items()}
    if value in by_label:
        return by_label[value]
    raise FieldError(f"无效选项「{value}」，可选：{'、'.join(f.choices.values())}")


def _date(_s, _f, raw):
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    try:
        return date.fromisoformat(str(raw).strip()[:10])
    except ValueError as exc:
        raise FieldError(f"日期格式应为 YYYY-MM-DD，而不是「{raw}」") from exc


def _int(_s, f, raw):
    try:
        value = int(Decimal(str(raw).strip()))
        if Decimal(str(raw).strip()) != value:
            raise ValueError
    except (ValueError, InvalidOperation) as exc:
        raise FieldError(f"应为整数，而不是「{raw}」") from exc
    if (f.min is not None and value < f.min) or (f.max is not None and value > f.max):
        raise FieldError(f"应在 {f.min}–{f.max} 之间")
    return value


def _decimal(_s, _f, raw):
    try:
        value = Decimal(str(raw).strip().replace(",", ""))
    except InvalidOperation as exc:
        raise FieldError(f"应为数字，而不是「{raw}」") from exc
    if not value.is_finite():
        raise FieldError("应为有限数字")
    return value


def _bool(_s, _f, raw):
    if isinstance(raw, bool):
        return raw
    value = str(raw).strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise FieldError(f"应为 是/否，而不是「{raw}」")


def _user(session, _f, raw):
    user = session.exec(select(User).where(User.username == str(raw).strip())).first()
    if user is None:
        raise FieldError(f"用户 {raw} 不存在")
    return user.id


def _department(session, _f, raw):
    dept = session.exec(select(Department).where(Department.code == str(raw).strip().upper())).first()
    if dept is None:
        raise FieldError(f"部门 {raw} 不存在")
    return dept.id


_PARSERS = {"text": _text, "longtext": _text, "choice": _choice, "date": _date, "int": _int,
            "decimal": _decimal, "bool": _bool, "user": _user, "department": _department}


def external(session: Session, f: FieldSpec, value):
    """Stored value → what people and JSON see: choice key, username, department code, ISO date."""
    if value is None:
        return None
    if f.type == "user":
        user = session.get(User, value)
        return user.username if user else None
    if f.type == "department":
        dept = session.get(Department, value)
        return dept.code if dept else None
    if f.type == "date":
        return value.isoformat()
    if f.type == "decimal":
        return format(value.normalize(), "f") if isinstance(value, Decimal) else str(value)
    return value


def display(session: Session, f: FieldSpec, value) -> str:
    """Stored value → a label for pages and spreadsheets (choice labels, 是/否)."""
    if value is None:
        return ""
    if f.type == "choice":
        return f.choices.get(value, value)
    if f.type == "bool":
        return "是" if value else "否"
    if f.type == "department":
        dept = session.get(Department, value)
        return dept.name if dept else ""
    if f.type == "user":
        user = session.get(User, value)
        return user.display_name if user else ""
    return str(external(session, f, value))
