"""Export registers to .xlsx/.csv and import them back: every row is validated first and a file
with any bad row stores nothing, with errors naming the row and the field."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from openpyxl import Workbook
from openpyxl.styles import Font
from sqlmodel import Session

from cmsflow.auth.models import User
from cmsflow.core.errors import ValidationError
from cmsflow.core.exports import append_row, append_rows, write_csv_rows
from cmsflow.core.imports import read_table
from cmsflow.registers import service
from cmsflow.registers.specs import RegisterSpec
from cmsflow.registers.values import external

CLAUSE_HEADER = "依据条款"
MIME = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "csv": "text/csv"}


@dataclass
class RowError:
    row: int  # spreadsheet row number (header is row 1)
    field: str  # label of the field
    message: str

    def as_dict(self) -> dict:
        return {"row": self.row, "field": self.field, "message": self.message}


class ImportRejected(ValidationError):
    """The file has errors; nothing was stored."""

    code = "import_rejected"

    def __init__(self, errors: list[RowError]):
        self.errors = errors
        self.details = {"rows": [e.as_dict() for e in errors]}
        head = "；".join(f"第 {e.row} 行「{e.field}」：{e.message}" for e in errors[:5])
        more = f"（另有 {len(errors) - 5} 处）" if len(errors) > 5 else ""
        super().__init__(f"导入被拒绝，未保存任何记录。{head}{more}")


def _headers(spec: RegisterSpec) -> list[str]:
    return [f.label for f in spec.fields] + [CLAUSE_HEADER]


def _rows(session: Session, spec: RegisterSpec, records) -> list[list]:
    out = []
    for row in records:
        values = [external(session, f, getattr(row, f.column)) for f in spec.fields]
        values = [spec.fields[i].choices.get(v, v) if spec.fields[i].type == "choice" and v else v
                  for i, v in enumerate(values)]
        values = ["是" if v is True else "否" if v is False else v for v in values]
        out.append(values + ["；".join(service.clauses_of(session, spec, row.id))])
    return out


def export_xlsx(session: Session, spec: RegisterSpec, records) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = spec.title[:31]
    append_row(ws, _headers(spec))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    append_rows(ws, _rows(session, spec, records))
    ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def export_csv(session: Session, spec: RegisterSpec, records) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    write_csv_rows(writer, [_headers(spec), *_rows(session, spec, records)])
    return buf.getvalue().encode("utf-8-sig")  # BOM so Excel opens Chinese CSV correctly


def export(session: Session, spec: RegisterSpec, records, fmt: str) -> bytes:
    """Records as ``xlsx`` or ``csv`` bytes; ValidationError for any other format."""
    if fmt not in MIME:
        raise ValidationError("导出格式只支持 xlsx 或 csv", code="unsupported_format")
    return (export_xlsx if fmt == "xlsx" else export_csv)(session, spec, records)


def _column_map(spec: RegisterSpec, header: list) -> dict[int, str]:
    by_label = {f.label: f.name for f in spec.fields} | {f.name: f.name for f in spec.fields}
    by_label |= {CLAUSE_HEADER: "clauses", "clauses": "clauses"}
    mapping, unknown = {}, []
    for i, cell in enumerate(header):
        key = str(cell or "").strip()
        if not key:
            continue
        if key not in by_label:
            unknown.append(key)
        mapping[i] = by_label.get(key, key)
    if unknown:
        raise ImportRejected([RowError(1, h, "未知列") for h in unknown])
    return mapping


def import_file(session: Session, actor: User, spec: RegisterSpec, filename: str, data: bytes) -> int:
    """Validate every row, then store all of them; ImportRejected (nothing stored) on any error. The file is read
    by :func:`cmsflow.core.imports.read_table` (streamed, row/column limits, export quotes removed), which raises
    ValidationError for an unreadable, empty or oversized file."""
    service.check_edit(actor, spec)
    header, rows = read_table(data, filename)
    mapping = _column_map(spec, header)
    labels = {f.name: f.label for f in spec.fields} | {"clauses": CLAUSE_HEADER}
    records, errors = [], []
    for number, raw in rows:
        data_row = {key: raw[i] if i < len(raw) else None for i, key in mapping.items()}
        try:
            records.append(service.clean(session, spec, data_row))
        except service.RecordInvalid as exc:
            errors.extend(RowError(number, labels.get(k, k), msg) for k, msg in exc.errors.items())
    if errors:
        raise ImportRejected(errors)
    for values, refs in records:
        service.insert(session, actor, spec, values, refs)
    return len(records)
