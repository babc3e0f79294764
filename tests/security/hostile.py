"""Hostile upload files built in memory (zip bombs, macro files renamed, XML external entities, renamed
binaries, lying zip headers, path-traversal names); each builder returns ``(filename, bytes)``."""
from __future__ import annotations

import functools
import io
import random
import struct
import zipfile

from docx import Document as DocxDocument
from openpyxl import Workbook

MB = 1024 * 1024
XXE = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
       b'<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n')
LAUGHS = (b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
          b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>\n')
DOCM_MAIN = b"application/vnd.ms-word.document.macroEnabled.main+xml"
DOCX_MAIN = b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
XLSM_MAIN = b"application/vnd.ms-excel.sheet.macroEnabled.main+xml"
XLSX_MAIN = b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
VBA_OVERRIDE = (b'<Override PartName="/word/vbaProject.bin" '
                b'ContentType="application/vnd.ms-office.vbaProject"/></Types>')


@functools.cache
def base_docx() -> bytes:
    doc = DocxDocument()
    doc.add_paragraph("温室气体排放管理程序（上传稿）")
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


@functools.cache
def base_xlsx(header: tuple) -> bytes:
    wb = Workbook()
    wb.active.append(list(header))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def rezip(data: bytes, replace: dict | None = None, add: dict | None = None, transform=None) -> bytes:
    """Copy an OOXML zip, replacing members (name → bytes or callable(old) → bytes) and adding new ones."""
    replace, add = replace or {}, add or {}
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename in replace:
                new = replace[info.filename]
                body = new(body) if callable(new) else new
            dst.writestr(info.filename, body)
        for name, body in add.items():
            dst.writestr(name, body)
    return out.getvalue()


def with_zeros(data: bytes, name: str, size: int) -> bytes:
    """Add a member of ``size`` zero bytes, written in chunks (a few hundred KB once compressed)."""
    out = io.BytesIO(rezip(data))
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED, compresslevel=9) as zf, \
            zf.open(name, "w", force_zip64=size > 2 ** 31) as fh:
        chunk = b"\0" * MB
        for _ in range(size // MB):
            fh.write(chunk)
    return out.getvalue()


def zeros_in_many(data: bytes, count: int) -> bytes:
    """``count`` members of exactly 1 MB of zeros: no single member is large, the archive as a whole is ~1000:1."""
    out = io.BytesIO(rezip(data))
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for i in range(count):
            zf.writestr(f"word/media/pad{i}.bin", b"\0" * MB)
    return out.getvalue()


def lying_sizes(data: bytes, name: str, declared: int) -> bytes:
    """Patch the local and central headers of ``name`` to declare ``declared`` uncompressed bytes."""
    raw = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo(name)
    struct.pack_into("<I", raw, info.header_offset + 22, declared)
    central = raw.find(b"PK\x01\x02")
    while central != -1:
        name_len = struct.unpack_from("<H", raw, central + 28)[0]
        if raw[central + 46:central + 46 + name_len] == name.encode():
            struct.pack_into("<I", raw, central + 24, declared)
            break
        central = raw.find(b"PK\x01\x02", central + 4)
    return bytes(raw)


def many_members(data: bytes, count: int) -> bytes:
    return rezip(data, add={f"customXml/pad{i}.xml": b"<a/>" for i in range(count)})


def entity_part(part: bytes, prolog: bytes, ref: bytes) -> bytes:
    """Put a DOCTYPE prolog before the part's root and an entity reference inside its first text."""
    body = part.split(b"?>", 1)[1] if part.startswith(b"<?xml") else part
    return prolog + body.replace(b"<w:t>", b"<w:t>" + ref, 1).replace(b"<t>", b"<t>" + ref, 1)


@functools.cache
def docx_cases() -> list[tuple[str, str, bytes]]:
    """(case id, filename, bytes) of hostile .docx uploads."""
    base = base_docx()
    doc_xml = "word/document.xml"
    return [
        ("zip_bomb_total", "程序.docx", with_zeros(base, "word/media/pad.bin", 101 * MB)),
        ("zip_bomb_ratio", "程序.docx", with_zeros(base, "word/media/pad.bin", 20 * MB)),
        ("zip_bomb_many_small", "程序.docx", zeros_in_many(base, 60)),
        ("zip_bomb_one_member", "程序.docx", rezip(with_zeros(base, "word/media/pad.bin", 2 * MB),
                                                  add={"word/media/noise.bin": random.randbytes(400 * 1024)})),
        ("lying_zip_header", "程序.docx",
         lying_sizes(rezip(base, add={"word/media/pad.bin": b"\0" * (3 * MB)}), "word/media/pad.bin", 100)),
        ("too_many_members", "程序.docx", many_members(base, 6000)),
        ("zip_slip_member", "程序.docx", rezip(base, add={"../../evil.xml": b"<a/>"})),
        ("vba_project", "程序.docx", rezip(base, add={"word/vbaProject.bin": b"\xd0\xcf\x11\xe0" + b"\0" * 500})),
        ("docm_renamed", "程序.docx", rezip(base, replace={"[Content_Types].xml": lambda b: b.replace(
            DOCX_MAIN, DOCM_MAIN).replace(b"</Types>", VBA_OVERRIDE)},
            add={"word/vbaProject.bin": b"\xd0\xcf\x11\xe0" + b"\0" * 500})),
        ("activex_control", "程序.docx", rezip(base, add={"word/activeX/activeX1.bin": b"\0" * 64,
                                                           "word/activeX/activeX1.xml": b"<ax:ocx/>"})),
        ("xxe_document", "程序.docx", rezip(base, replace={doc_xml: lambda b: entity_part(b, XXE, b"&xxe;")})),
        ("billion_laughs", "程序.docx", rezip(base, replace={doc_xml: lambda b: entity_part(b, LAUGHS, b"&d;")})),
        ("xxe_content_types", "程序.docx", rezip(base, replace={"[Content_Types].xml": lambda b: entity_part(
            b, XXE, b"")})),
        ("xxe_relationships", "程序.docx", rezip(base, replace={"word/_rels/document.xml.rels": lambda b: entity_part(
            b, XXE, b"")})),
        ("exe_renamed", "程序.docx", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\0" * 400),
        ("pdf_renamed", "程序.docx", b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n"),
        ("truncated_zip", "程序.docx", base[: len(base) // 2]),
        ("xlsx_renamed", "程序.docx", base_xlsx(("a",))),
        ("traversal_name", "../../etc/passwd.docx", base),
        ("absolute_name", "/etc/cron.d/evil.docx", base),
        # a multipart quoted-string escapes backslashes: the server receives ..\..\Windows\win.docx
        ("windows_traversal_name", "..\\\\..\\\\Windows\\\\win.docx", base),
        ("nul_byte_name", "程序.docx\x00.exe", base),
        ("rtl_override_name", "程序\u202excod.exe.docx", base),
    ]


@functools.cache
def xlsx_cases(header: tuple) -> list[tuple[str, str, bytes]]:
    """(case id, filename, bytes) of hostile .xlsx/.csv imports; ``header`` makes them otherwise valid."""
    base = base_xlsx(header)
    sheet = "xl/worksheets/sheet1.xml"
    return [
        ("zip_bomb_total", "导入.xlsx", with_zeros(base, "xl/media/pad.bin", 101 * MB)),
        ("zip_bomb_ratio", "导入.xlsx", with_zeros(base, "xl/media/pad.bin", 20 * MB)),
        ("xlsm_renamed", "导入.xlsx", rezip(base, replace={"[Content_Types].xml": lambda b: b.replace(
            XLSX_MAIN, XLSM_MAIN)}, add={"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0" + b"\0" * 500})),
        ("xxe_sheet", "导入.xlsx", rezip(base, replace={sheet: lambda b: entity_part(b, XXE, b"")})),
        ("billion_laughs", "导入.xlsx", rezip(base, replace={sheet: lambda b: entity_part(b, LAUGHS, b"")})),
        ("exe_renamed", "导入.xlsx", b"MZ\x90\x00" + b"\0" * 400),
        ("docx_renamed", "导入.xlsx", base_docx()),
        ("traversal_name", "../../导入.xlsx", base),
        ("nul_byte_name", "导入.xlsx\x00.sh", base),
        ("binary_csv", "导入.csv", ",".join(header).encode() + b"\n\x00\x01\x02MZ\x00\n"),
    ]


@functools.cache
def attachment_cases() -> list[tuple[str, str, bytes]]:
    """(case id, filename, bytes) of hostile evidence attachments."""
    base = base_docx()
    return [
        ("exe_as_pdf", "发票.pdf", b"MZ\x90\x00" + b"\0" * 400),
        ("html_as_png", "照片.png", b"<html><script>alert(document.cookie)</script></html>"),
        ("exe_as_jpg", "照片.jpg", b"MZ\x90\x00" + b"\0" * 400),
        ("zip_bomb_docx", "记录.docx", with_zeros(base, "word/media/pad.bin", 101 * MB)),
        ("docm_renamed", "记录.docx", rezip(base, replace={"[Content_Types].xml": lambda b: b.replace(
            DOCX_MAIN, DOCM_MAIN)}, add={"word/vbaProject.bin": b"\xd0\xcf\x11\xe0" + b"\0" * 500})),
        ("xxe_docx", "记录.docx", rezip(base, replace={"word/document.xml": lambda b: entity_part(b, XXE, b"&xxe;")})),
        ("traversal_name", "../../../var/www/发票.pdf", b"%PDF-1.4 invoice"),
        ("nul_byte_name", "发票.pdf\x00.html", b"%PDF-1.4 invoice"),
    ]
