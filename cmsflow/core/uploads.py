"""Checks shared by every upload path — Word documents, evidence attachments, register and activity imports —
run before anything is stored: the file name, the size, the content against the extension, and for Office
Open XML (.docx/.xlsx) zip bombs, macros and ActiveX, unsafe member paths and DTDs / XML entities.

Sources: OWASP ASVS 4.0.3 V12.1.1 (size), 12.1.2 (compressed files: uncompressed size and file count),
12.2.1 (content matches the type), 12.3.1 (file name never used as a path), 5.5.2 (XXE); 21 CFR Part 11
§11.10(a) (records as accepted are exactly what was uploaded).
"""
from __future__ import annotations

import io
import unicodedata
import zipfile
from dataclasses import dataclass

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser, ParseError

from cmsflow.core.errors import ValidationError
from cmsflow.core.runtime import config

DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# The main part's content type that a real file of each OOXML extension declares in [Content_Types].xml.
OOXML_MAIN = {".docx": DOCX_MIME + ".main+xml", ".xlsx": XLSX_MIME.replace(".sheet", ".sheet.main+xml")}
MAGIC = {".pdf": (b"%PDF-",), ".png": (b"\x89PNG\r\n\x1a\n",), ".jpg": (b"\xff\xd8\xff",),
         ".jpeg": (b"\xff\xd8\xff",)}
ACTIVE_CONTENT = ("vbaproject", "vbadata", "activex", "macroenabled", "ms-office.vbaproject")
MAX_NAME = 200
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Kind:
    """What an upload path accepts: extensions → content type, the config key of its size limit, the error
    code for a wrong type and how the accepted types are named in messages."""

    types: dict
    limit_key: str
    type_code: str
    label: str


KINDS = {
    "docx": Kind({".docx": DOCX_MIME}, "MAX_UPLOAD_BYTES", "not_docx", "Word 文档（.docx）"),
    "attachment": Kind({".pdf": "application/pdf", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
                        ".docx": DOCX_MIME, ".xlsx": XLSX_MIME},
                       "MAX_UPLOAD_BYTES", "attachment_type", "PDF、图片（JPG/PNG）、Word 或 Excel 文件"),
    "import": Kind({".xlsx": XLSX_MIME, ".csv": "text/csv"}, "MAX_IMPORT_BYTES", "unsupported_file",
                   ".xlsx 或 .csv 文件"),
}


class UploadRefused(ValidationError):
    """An upload refused before anything was stored; ``code`` says why (see :func:`check_upload`)."""


def _refuse(message: str, code: str) -> None:
    raise UploadRefused(f"{message}，文件未保存", code=code)


def clean_filename(filename: str) -> str:
    """The name to show and store, or UploadRefused ``unsafe_filename``: no directories (``/``, ``\\``,
    ``..``, drive letters), no NUL or control characters, no bidirectional overrides, at most 200 characters.
    The stored name is only ever displayed and offered as a download name, never used as a path."""
    name = (filename or "").strip()
    if not name:
        _refuse("文件名为空", "unsafe_filename")
    if "/" in name or "\\" in name or name in (".", "..") or (len(name) > 1 and name[1] == ":"):
        _refuse("文件名不能包含路径（如 ../ 或 C:\\）", "unsafe_filename")
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in name):
        _refuse("文件名含有控制字符或不可见字符", "unsafe_filename")
    if len(name) > MAX_NAME:
        _refuse(f"文件名超过 {MAX_NAME} 个字符", "unsafe_filename")
    return name


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MB" if n >= 1024 * 1024 else f"{max(n // 1024, 1)} KB"


def check_upload(filename: str, data: bytes, kind: str) -> tuple[str, str]:
    """Check an upload of ``kind`` (``docx``, ``attachment`` or ``import``) → (clean file name, content type).

    Raises UploadRefused (a ValidationError, HTTP 400) with a Chinese message and one of the codes
    ``unsafe_filename``, ``empty_file``, ``file_too_large`` (over the kind's limit: ``MAX_UPLOAD_BYTES``, or
    ``MAX_IMPORT_BYTES`` for imports), the kind's type code (``not_docx``, ``attachment_type``,
    ``unsupported_file``: wrong extension or content not matching it), ``zip_bomb``, ``unsafe_archive``,
    ``macro_document``, ``xml_dtd`` or ``corrupt_file``. Callers store nothing when it raises.
    """
    spec = KINDS[kind]
    name = clean_filename(filename)
    if not data:
        _refuse("上传的文件为空", "empty_file")
    limit = config()[spec.limit_key]
    if len(data) > limit:
        _refuse(f"文件超过大小上限 {_megabytes(limit)}", "file_too_large")
    ext = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in spec.types:
        _refuse(f"只接受{spec.label}", spec.type_code)
    if ext in OOXML_MAIN:
        check_ooxml(data, ext, spec)
    elif ext in MAGIC and not data.startswith(MAGIC[ext]):
        _refuse(f"文件内容与扩展名 {ext} 不符", spec.type_code)
    elif ext == ".csv" and b"\x00" in data:
        _refuse("文件内容不是文本格式的 CSV", spec.type_code)
    return name, spec.types[ext]


def _open_zip(data: bytes, ext: str, spec: Kind) -> zipfile.ZipFile:
    if not data.startswith(b"PK\x03\x04") or not zipfile.is_zipfile(io.BytesIO(data)):
        _refuse(f"文件内容不是 {ext} 格式（可能是改了扩展名的其他文件）", spec.type_code)
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError):
        _refuse(f"文件内容不是 {ext} 格式", spec.type_code)


def unsafe_member_path(name: str) -> bool:
    """True when an archive member's path could leave the folder it is extracted to: absolute (``/``, ``\\``),
    with a ``..`` part, or starting with a drive letter (``C:``). Used for .docx/.xlsx parts and backup archives."""
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]


def _check_members(infos: list[zipfile.ZipInfo], compressed: int) -> None:
    """Zip bomb (declared sizes, member count, compression ratio), unsafe member paths, active content."""
    cfg = config()
    if len(infos) > cfg["UPLOAD_MAX_ZIP_MEMBERS"]:
        _refuse(f"压缩包内文件数超过 {cfg['UPLOAD_MAX_ZIP_MEMBERS']} 个（疑似压缩炸弹）", "zip_bomb")
    total = sum(i.file_size for i in infos)
    if total > cfg["UPLOAD_MAX_UNCOMPRESSED_BYTES"]:
        _refuse(f"解压后大小超过 {_megabytes(cfg['UPLOAD_MAX_UNCOMPRESSED_BYTES'])}（疑似压缩炸弹）", "zip_bomb")
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > CHUNK and ratio > cfg["UPLOAD_MAX_ZIP_RATIO"]:
            _refuse(f"压缩比 {ratio:.0f}:1 异常（疑似压缩炸弹）", "zip_bomb")
        if unsafe_member_path(info.filename):
            _refuse("压缩包内含有不安全的路径", "unsafe_archive")
        if any(word in info.filename.lower() for word in ACTIVE_CONTENT):
            _refuse("不接受含宏或 ActiveX 控件的文档", "macro_document")
    if total > compressed * cfg["UPLOAD_MAX_ZIP_RATIO"] and total > CHUNK:
        _refuse("整体压缩比异常（疑似压缩炸弹）", "zip_bomb")


class _NoTree:
    """A parser target that keeps nothing: the parts are only checked, never built into a tree."""

    def close(self) -> None:
        return None


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes | None:
    """Decompress a member in chunks; XML parts go through defusedxml, which refuses any DTD, entity
    declaration or external reference. zipfile never returns more than the declared size, and a member whose
    header lies about it fails its CRC (BadZipFile → ``corrupt_file``). Returns [Content_Types].xml's bytes."""
    is_xml = info.filename.lower().endswith((".xml", ".rels"))
    parser = DefusedXMLParser(target=_NoTree(), forbid_dtd=True, forbid_entities=True, forbid_external=True)
    keep = info.filename == "[Content_Types].xml"
    kept = []
    with zf.open(info) as fh:
        while chunk := fh.read(CHUNK):
            if is_xml:
                parser.feed(chunk)
            if keep:
                kept.append(chunk)
    if is_xml:
        parser.close()
    return b"".join(kept) if keep else None


def check_ooxml(data: bytes, ext: str, spec: Kind) -> None:
    """Refuse a .docx/.xlsx that is not a zip, is a zip bomb, holds macros/ActiveX or unsafe paths, declares a
    DTD or entities in any XML part, or is not the declared type (main part content type)."""
    zf = _open_zip(data, ext, spec)
    with zf:
        infos = zf.infolist()
        _check_members(infos, len(data))
        types = b""
        try:
            for info in infos:
                types = _read_member(zf, info) or types
        except DefusedXmlException:
            _refuse("文档中的 XML 含有 DTD 或实体声明（可能是 XML 外部实体攻击）", "xml_dtd")
        except ParseError:
            _refuse("文档中的 XML 部件已损坏", "corrupt_file")
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, NotImplementedError):
            _refuse("压缩包已损坏（校验失败或大小不符）", "corrupt_file")
    lowered = types.lower()
    if any(word.encode() in lowered for word in ACTIVE_CONTENT):
        _refuse("不接受含宏或 ActiveX 控件的文档", "macro_document")
    if OOXML_MAIN[ext].encode() not in types:
        _refuse(f"文件内容不是 {ext} 格式（缺少主文档部件）", spec.type_code)
