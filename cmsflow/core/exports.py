"""Spreadsheet exports (.xlsx and .csv) that never carry a live formula — the one place every export writes cells.

A text value that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by Excel, LibreOffice
and Google Sheets as a formula (``=HYPERLINK(...)``, ``=cmd|' /C calc'!A0``, DDE). Following the OWASP guidance on
CSV injection (https://owasp.org/www-community/attacks/CSV_Injection) such a value is written with one leading
single quote ``'`` so it is shown as text; in .xlsx it is also stored as a string cell (``data_type = "s"``), so it
can never be a formula cell whatever the text. Numbers (int, float, Decimal, and text that is only a plain number
such as ``-5`` or ``-12.5``) are left alone: they cannot run anything and must stay numbers.

The quoting is reversible: :func:`unquote_cell` removes exactly the quote :func:`safe_cell` added, so an export
imported again gives the same record. A value that itself begins with quotes before a trigger character
(``'=x``) gets one more quote on export and loses exactly one on import, so the mapping is one-to-one.

Sources: OWASP CSV Injection; OWASP ASVS 4.0.3 V5.3 (output encoding for the interpreter that reads it).
"""
from __future__ import annotations

import csv
import re
from collections.abc import Iterable

from openpyxl.cell.cell import Cell
from openpyxl.worksheet.worksheet import Worksheet

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"
_QUOTED_TRIGGER = re.compile(r"^'*[=+\-@\t\r]")  # what safe_cell quotes: any quotes, then a trigger character
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def needs_quote(value) -> bool:
    """True for text that a spreadsheet would read as a formula (see module docstring); never for numbers."""
    return isinstance(value, str) and bool(_QUOTED_TRIGGER.match(value)) and not _PLAIN_NUMBER.match(value)


def safe_cell(value):
    """The value to write into an exported cell: text starting with ``= + - @ \\t \\r`` (after any quotes) gets one
    leading ``'``; everything else (numbers, dates, None, other text) is returned unchanged."""
    return QUOTE + value if needs_quote(value) else value


def unquote_cell(value):
    """Inverse of :func:`safe_cell` for importers: strip exactly one leading ``'`` when the rest is text that
    :func:`safe_cell` would have quoted; any other value is returned unchanged (``'abc`` stays ``'abc``)."""
    if isinstance(value, str) and value.startswith(QUOTE) and needs_quote(value[1:]):
        return value[1:]
    return value


def safe_row(values: Iterable) -> list:
    """A row with :func:`safe_cell` applied to every value."""
    return [safe_cell(v) for v in values]


def append_row(ws: Worksheet, values: Iterable) -> None:
    """Append one row to an openpyxl sheet (write mode) with every text value neutralised: quoted as
    :func:`safe_cell` says and stored as a string cell, so openpyxl never turns it into a formula."""
    ws.append(safe_row(values))
    for cell in ws[ws.max_row]:
        if isinstance(cell, Cell) and isinstance(cell.value, str):
            cell.data_type = "s"


def append_rows(ws: Worksheet, rows: Iterable[Iterable]) -> None:
    """:func:`append_row` for every row."""
    for values in rows:
        append_row(ws, values)


def write_csv_rows(writer: csv.writer, rows: Iterable[Iterable]) -> None:
    """Write rows through a ``csv.writer`` with every text value neutralised (:func:`safe_cell`)."""
    writer.writerows(safe_row(values) for values in rows)
