"""Input checks shared by the carbon-asset services: numbers, dates, who may do what, record codes."""
from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from sqlmodel import Session

from cmsflow.auth.models import Department, User
from cmsflow.auth.service import department_by_code
from cmsflow.core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from cmsflow.core.models import next_value
from cmsflow.core.runtime import config

MANAGE_ROLES = ("management_representative", "admin")
PLACES = Decimal("0.000001")


def number(raw, field: str, label: str, errors: dict, *, required: bool = True, positive: bool = False,
           negative: bool = False) -> Decimal | None:
    """``raw`` as a Decimal; a message goes to ``errors[field]`` when missing, not a number, negative
    (unless ``negative``) or, with ``positive``, zero. Returns None when blank or refused."""
    if raw is None or str(raw).strip() == "":
        if required:
            errors[field] = f"请填写{label}"
        return None
    try:
        value = Decimal(str(raw).strip().replace(",", ""))
    except InvalidOperation:
        errors[field] = f"{label}必须是数字"
        return None
    if not value.is_finite() or (value < 0 and not negative) or (positive and value <= 0):
        errors[field] = f"{label}必须大于 0" if positive else f"{label}不能为负数"
        return None
    return value


BIGINT_MAX = 2**63 - 1  # the largest value any integer column holds (serial numbers are BIGINT)
YEARS = (1900, 2999)  # a year outside this range is a typing error (and dates end in 9999)
ID_RANGE = (1, 2**31 - 1)  # a record id (INTEGER primary keys)
INT_RANGE = (-(2**31 - 1), 2**31 - 1)  # an INTEGER column


def integer(raw, field: str, label: str, errors: dict, *, required: bool = True,
            bounds: tuple[int, int] = (-BIGINT_MAX, BIGINT_MAX)) -> int | None:
    """``raw`` as an int (a year: pass ``bounds=YEARS``, a serial number); messages as for :func:`number`, also
    when outside ``bounds`` (inclusive: a number the database cannot store is refused, not a server error)."""
    if raw is None or str(raw).strip() == "":
        if required:
            errors[field] = f"请填写{label}"
        return None
    try:
        value = int(str(raw).strip())
    except ValueError:
        errors[field] = f"{label}必须是整数"
        return None
    if not bounds[0] <= value <= bounds[1]:
        errors[field] = f"{label}应在 {bounds[0]} 至 {bounds[1]} 之间"
        return None
    return value


def day(raw, field: str, errors: dict, *, default: date | None = None) -> date | None:
    """A date or ISO string; ``default`` when blank; a message in ``errors[field]`` when malformed."""
    if raw is None or str(raw).strip() == "":
        if default is None:
            errors[field] = "请填写日期"
        return default
    if isinstance(raw, date):
        return raw
    try:
        return date.fromisoformat(str(raw).strip())
    except ValueError:
        errors[field] = f"日期格式应为 YYYY-MM-DD，而不是「{raw}」"
        return None


def text(raw, field: str, label: str, errors: dict, *, required: bool = True, limit: int = 0) -> str:
    """Stripped text; required and length checks report into ``errors``."""
    value = str(raw or "").strip()
    if required and not value:
        errors[field] = f"请填写{label}"
    elif limit and len(value) > limit:
        errors[field] = f"{label}不能超过 {limit} 个字"
    return value


def refuse(errors: dict, what: str, code: str) -> None:
    """Raise ValidationError listing every message in ``errors`` (``details.fields``), when there are any."""
    if errors:
        raise ValidationError(f"{what}：" + "；".join(errors.values()), code=code, details={"fields": errors})


def department(session: Session, ref, errors: dict, field: str = "department") -> Department | None:
    """A department by code (or id); a message in ``errors`` when unknown."""
    try:
        if isinstance(ref, int):
            dept = session.get(Department, ref)
            if dept is None:
                raise NotFound(f"部门 {ref} 不存在")
            return dept
        return department_by_code(session, str(ref or ""))
    except NotFound:
        errors[field] = f"部门「{ref}」不存在"
        return None


def asset_department(session: Session) -> Department | None:
    """The department keeping the accounts (config ``CARBON_ASSET_DEPARTMENT``), when it exists."""
    try:
        return department_by_code(session, config()["CARBON_ASSET_DEPARTMENT"])
    except NotFound:
        return None


def require_manager(user: User, what: str) -> None:
    """PermissionDenied unless the management representative or the administrator."""
    if user.role not in MANAGE_ROLES:
        raise PermissionDenied(f"只有管理者代表可以{what}")


def may_trade(session: Session, user: User) -> bool:
    """The management representative, the administrator, and the asset department's head and staff."""
    if user.role in MANAGE_ROLES:
        return True
    dept = asset_department(session)
    return user.role in ("department_head", "staff") and dept is not None and user.department_id == dept.id


def require_trader(session: Session, user: User) -> None:
    """PermissionDenied unless :func:`may_trade`."""
    if not may_trade(session, user):
        raise PermissionDenied("只有管理者代表和碳资产管理部门人员可以登记碳资产交易")


def next_code(session: Session, prefix: str, year: int) -> str:
    """``<prefix>-<year>-<nnnn>`` from a counter per prefix and year."""
    return f"{prefix}-{year}-{next_value(session, f'asset:{prefix}:{year}'):04d}"


def check_lock(row, expected) -> None:
    """Optimistic lock: ``expected`` must equal ``row.lock_version`` (then bumped); None skips the check."""
    if expected is not None and str(expected) != str(row.lock_version):
        raise Conflict("记录已被他人修改，请刷新后重试（您的修改未保存）", code="stale_edit")
    row.lock_version += 1


def fmt(value: Decimal | None, places: int = 2) -> str:
    """A quantity for people: thousands separators, ``places`` decimals, "—" for None."""
    if value is None:
        return "—"
    return f"{value:,.{places}f}"
