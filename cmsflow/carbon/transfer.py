"""Bulk import of monthly activity data from .xlsx/.csv: every row is validated (and accounted) first;
one bad row rejects the file and nothing is stored."""
from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.styles import Font
from sqlmodel import Session

from cmsflow.auth.models import User
from cmsflow.carbon import service
from cmsflow.carbon.models import DATA_SOURCES
from cmsflow.core.errors import CmsflowError, PermissionDenied, ValidationError
from cmsflow.core.exports import append_row
from cmsflow.core.imports import read_table
from cmsflow.registers.transfer import ImportRejected, RowError

COLUMNS = {"排放源": "emission_source", "月份": "period", "数量": "quantity", "单位": "unit",
           "数据来源": "data_source", "计量器具编号": "instrument", "说明": "note"}
REQUIRED = ("emission_source", "period", "quantity", "unit")
SOURCE_LABELS = {label: key for key, label in DATA_SOURCES.items()}


def template_xlsx() -> bytes:
    """An empty import sheet with the expected headers and one example row."""
    wb = Workbook()
    ws = wb.active
    ws.title = "活动数据"
    append_row(ws, list(COLUMNS))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    append_row(ws, ["净购入电力", "2026-10", "12345.6", "MWh", "结算凭证", "JL-ENE-006", ""])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _header(row: list) -> dict[int, str]:
    mapping = {}
    for i, cell in enumerate(row):
        key = str(cell or "").strip()
        if key:
            if key not in COLUMNS and key not in COLUMNS.values():
                raise ImportRejected([RowError(1, key, "未知列")])
            mapping[i] = COLUMNS.get(key, key)
    missing = [label for label, key in COLUMNS.items() if key in REQUIRED and key not in mapping.values()]
    if missing:
        raise ImportRejected([RowError(1, m, "缺少此列") for m in missing])
    return mapping


def import_activity(session: Session, actor: User, filename: str, data: bytes) -> int:
    """Import every row (each accounted like a form entry); ImportRejected naming row and field on any
    error — the caller must then roll back, so nothing is stored. Returns the rows imported."""
    if actor.role not in service.EDIT_ROLES:
        raise PermissionDenied("无权录入活动数据")
    header, rows = read_table(data, filename)
    mapping = _header(header)
    labels = {v: k for k, v in COLUMNS.items()}
    errors, clean, seen = [], [], set()
    for number, raw in rows:
        row = {key: raw[i] if i < len(raw) else None for i, key in mapping.items()}
        source = str(row.get("data_source") or "meter").strip()
        values = {"emission_source": str(row.get("emission_source") or ""), "period": str(row.get("period") or ""),
                  "quantity": row.get("quantity"), "unit": str(row.get("unit") or "").strip(),
                  "data_source": SOURCE_LABELS.get(source, source)}
        try:
            src, month, _ = service.check_activity(session, **values)
            if (src.id, month) in seen or service.activity_of(session, src.id, month) is not None:
                raise ValidationError(f"{src.name} {month:%Y-%m} 的活动数据已存在", code="duplicate",
                                      details={"fields": {"period": "该月数据已存在"}})
            seen.add((src.id, month))
        except CmsflowError as exc:
            fields = (exc.details or {}).get("fields") or {"": exc.message}
            errors.extend(RowError(number, labels.get(k, k or "—"), exc.message) for k in fields)
            continue
        clean.append({**values, "instrument": str(row.get("instrument") or "") or None,
                      "note": str(row.get("note") or "")})
    if errors:
        raise ImportRejected(errors)
    for values in clean:  # all rows are valid: store and account them
        service.record_activity(session, actor, **values)
    return len(clean)
