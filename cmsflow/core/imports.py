"""The one reader of uploaded tables (.xlsx / .csv) for every import (registers, carbon activity data): it streams
the file and stops at the row, column and cell-size limits while reading, so a hostile file is refused in well
under a second with bounded memory, whatever its sheet claims.

Why: a 4.9 KB .xlsx whose sheet declares ``<dimension ref="A1:XFD1048576"/>`` made openpyxl pad every row to
16 384 columns and yield 1 048 576 rows; ``list()`` of that drove a worker to 2.8 GB (issue 17 item 7). Here the
workbook is opened read-only, the declared dimension is never used (rows are parsed one at a time from the sheet
XML, each only as wide as its last non-blank cell, see :func:`_sheet_rows`), blank rows and blank trailing cells
are not counted (a formatted but empty tail is harmless up to ``BLANK_TAIL`` rows past the limit), and reading
stops at the first row or cell past a limit.

Sources: OWASP ASVS 4.0.3 V12.1 (file size and resource limits of uploads), V5.1.4 (structured data is checked
against limits), V13.1 / V11 (resources a single request may consume are bounded).
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from openpyxl import load_workbook

from cmsflow.core.errors import ValidationError
from cmsflow.core.exports import unquote_cell
from cmsflow.core.runtime import config
from cmsflow.core.uploads import check_upload

MAX_CELL_CHARS = 32767  # Excel's own limit for the text of one cell
BLANK_TAIL = 1000  # blank rows read past the row limit before the reader gives up looking for more data


class ImportTooLarge(ValidationError):
    """A table beyond the row / column / cell limits; nothing is stored. Codes ``too_many_rows``,
    ``too_many_columns``, ``cell_too_long``."""

    code = "too_many_rows"


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def _trim(values: Iterable) -> list:
    row = list(values)
    while row and _blank(row[-1]):
        row.pop()
    return row


def _limited(rows: Iterator[Iterable], max_rows: int, max_cols: int) -> tuple[list, list[tuple[int, list]]]:
    """Take (header, [(row number, values)]) from a row iterator, refusing as soon as a limit is passed.
    Row numbers are the spreadsheet's (header = 1); blank rows are skipped but keep the numbering."""
    header: list | None = None
    out: list[tuple[int, list]] = []
    number = 0
    for raw in rows:
        number += 1
        row = _trim(raw)
        if len(row) > max_cols:
            raise ImportTooLarge(f"第 {number} 行超过 {max_cols} 列的上限，文件未导入（请删除多余的列）",
                                 code="too_many_columns")
        for value in row:
            if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
                raise ImportTooLarge(f"第 {number} 行有单元格超过 {MAX_CELL_CHARS} 个字符，文件未导入",
                                     code="cell_too_long")
        if header is None:  # the first row of the sheet, as in the export
            header = row
            continue
        if not row:
            if number > max_rows + 1 + BLANK_TAIL:
                raise ImportTooLarge(f"文件超过 {max_rows} 行的上限（读到第 {number} 行仍未结束），文件未导入",
                                     code="too_many_rows")
            continue
        if len(out) >= max_rows:
            raise ImportTooLarge(f"一次最多导入 {max_rows} 行数据（第 {number} 行已超出），文件未导入，请分批导入",
                                 code="too_many_rows")
        out.append((number, [unquote_cell(v) for v in row]))
    return [unquote_cell(v) for v in header or []], out


def _sheet_rows(wb, ws, max_cols: int) -> Iterator[list]:
    """The values of each row of a read-only sheet, as wide as its last non-blank cell. Reads the sheet XML with
    openpyxl's own parser so the cost is that of the cells actually in the file: a cell far to the right
    (``XFD5``) is seen as a column number, never padded out to 16 384 values, and one with a value beyond
    ``max_cols`` ends the read (ImportTooLarge ``too_many_columns``). Missing rows come out as ``[]``.
    Falls back to ``iter_rows(max_col=max_cols + 1)`` should openpyxl's internals ever change."""
    try:
        from openpyxl.worksheet._reader import WorkSheetParser

        source = ws._get_source()
        parser = WorkSheetParser(source, ws._shared_strings, data_only=True, epoch=wb.epoch,
                                 date_formats=wb._date_formats, timedelta_formats=wb._timedelta_formats)
    except (ImportError, AttributeError, TypeError):
        ws.reset_dimensions()  # never trust the declared <dimension>
        yield from (list(r) for r in ws.iter_rows(max_col=max_cols + 1, values_only=True))
        return
    with source:
        expected = 1
        for number, cells in parser.parse():
            while expected < number:  # rows absent from the XML
                expected += 1
                yield []
            expected = number + 1
            values: dict[int, object] = {}
            for cell in cells:
                if _blank(cell["value"]):
                    continue
                if cell["column"] > max_cols:
                    raise ImportTooLarge(f"第 {number} 行超过 {max_cols} 列的上限，文件未导入（请删除多余的列）",
                                         code="too_many_columns")
                values[cell["column"]] = cell["value"]
            yield [values.get(col) for col in range(1, max(values, default=0) + 1)]


def _xlsx_rows(data: bytes, max_cols: int) -> Iterator[list]:
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged workbook
        raise ValidationError("Excel 文件已损坏或不是 .xlsx 格式", code="unreadable_file") from exc
    try:
        ws = wb.active
        if ws is None:
            raise ValidationError("Excel 文件没有工作表", code="unreadable_file")
        yield from _sheet_rows(wb, ws, max_cols)
    except ValidationError:
        raise
    except Exception as exc:
        raise ValidationError("Excel 文件已损坏或不是 .xlsx 格式", code="unreadable_file") from exc
    finally:
        wb.close()


def _csv_lines(text: str, max_cols: int) -> Iterator[str]:
    """Physical lines of ``text``, refusing one longer than ``max_cols`` full cells before csv splits it: a line of
    millions of commas would otherwise become a list of millions of fields (ImportTooLarge ``too_many_columns``)."""
    limit = max_cols * MAX_CELL_CHARS
    for number, line in enumerate(io.StringIO(text), start=1):
        if len(line) > limit:
            raise ImportTooLarge(f"第 {number} 行超过 {limit} 个字符（{max_cols} 列的上限），文件未导入",
                                 code="too_many_columns")
        yield line


def _csv_rows(data: bytes, max_cols: int) -> Iterator[list]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError("CSV 文件不是 UTF-8 编码，请另存为“CSV UTF-8”后再导入", code="unreadable_file") from exc
    try:
        # csv's own field limit (128 KB) also bounds one field; _csv_lines bounds the fields of one row
        yield from csv.reader(_csv_lines(text, max_cols))
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise ImportTooLarge(f"CSV 文件中有单元格超过 {MAX_CELL_CHARS} 个字符，文件未导入",
                                 code="cell_too_long") from exc
        raise ValidationError(f"无法读取 CSV 文件：{exc}", code="unreadable_file") from exc


def read_table(data: bytes, filename: str, max_rows: int | None = None,
               max_cols: int | None = None) -> tuple[list, list[tuple[int, list]]]:
    """Read an uploaded .xlsx/.csv → ``(header, rows)``: the header cells, and for every non-blank data row its
    spreadsheet row number (header is row 1) and its cell values (trailing blanks dropped; the leading ``'`` an
    export added is removed, :func:`cmsflow.core.exports.unquote_cell`). Cells are str, int, float, datetime or
    None (xlsx) and str (csv).

    Runs the shared upload checks first (:func:`cmsflow.core.uploads.check_upload`, kind ``import``). Limits:
    ``max_rows`` data rows (default config ``IMPORT_MAX_ROWS``, 5000), ``max_cols`` columns (``IMPORT_MAX_COLUMNS``,
    60), 32 767 characters per cell. Raises ValidationError (HTTP 400, Chinese message, nothing stored):
    ImportTooLarge ``too_many_rows`` / ``too_many_columns`` / ``cell_too_long`` (naming the limit and the row),
    ``empty_file``, ``unreadable_file``, or the upload codes of check_upload.
    """
    name = check_upload(filename, data, "import")[0].lower()
    cfg = config()
    max_rows = max_rows or cfg.get("IMPORT_MAX_ROWS", 5000)
    max_cols = max_cols or cfg.get("IMPORT_MAX_COLUMNS", 60)
    if name.endswith(".xlsx"):
        rows = _xlsx_rows(data, max_cols)
    elif name.endswith(".csv"):
        rows = _csv_rows(data, max_cols)
    else:  # check_upload accepts only these two
        raise ValidationError("只接受 .xlsx 或 .csv 文件", code="unsupported_file")
    try:
        header, body = _limited(rows, max_rows, max_cols)
    finally:
        rows.close()
    if not header and not body:
        raise ValidationError("文件为空", code="empty_file")
    return header, body
