"""Word files: render ``doc_templates/`` with docxtpl, stamp the controlled copy, extract text, and
refuse uploads that are not real OOXML Word documents."""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from docx import Document as DocxDocument
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Pt, RGBColor
from docxtpl import DocxTemplate

from cmsflow.core.errors import ValidationError
from cmsflow.core.uploads import check_upload

DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
SYSTEM_VARIABLES = {"organisation", "title", "code", "version", "department", "author", "date", "clauses"}


@dataclass
class TemplateField:
    name: str
    label: str
    label_en: str = ""
    type: str = "text"  # text | lines
    required: bool = False


@dataclass
class TemplateInfo:
    name: str
    title: str
    doc_type: str
    path: Path
    title_en: str = ""
    fields: list[TemplateField] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"name": self.name, "title": self.title, "title_en": self.title_en, "doc_type": self.doc_type,
                "fields": [vars(f) for f in self.fields]}


def load_catalog(directory: str | Path) -> dict[str, TemplateInfo]:
    """Read ``catalog.yaml``; raises ValueError if a listed file is missing or uses undeclared tags."""
    directory = Path(directory)
    entries = yaml.safe_load((directory / "catalog.yaml").read_text(encoding="utf-8")) or []
    catalog = {}
    for entry in entries:
        info = TemplateInfo(name=entry["name"], title=entry["title"], title_en=entry.get("title_en", ""),
                            doc_type=entry["doc_type"], path=directory / f"{entry['name']}.docx",
                            fields=[TemplateField(**f) for f in entry.get("fields", [])])
        if not info.path.exists():
            raise ValueError(f"doc_templates/catalog.yaml: {info.path.name} 不存在")
        undeclared = DocxTemplate(str(info.path)).get_undeclared_template_variables()
        unknown = set(undeclared) - SYSTEM_VARIABLES - {f.name for f in info.fields}
        if unknown:
            raise ValueError(f"{info.path.name}: 模板变量未在 catalog.yaml 声明: {sorted(unknown)}")
        catalog[info.name] = info
    return catalog


def clean_fields(info: TemplateInfo, values: dict | None) -> dict:
    """Validate user field values against the template; ``lines`` accept a list or newline text.

    Raises ValidationError listing every missing required field and every unknown field.
    """
    values = dict(values or {})
    unknown = set(values) - {f.name for f in info.fields}
    if unknown:
        raise ValidationError(f"模板 {info.name} 没有字段: {', '.join(sorted(unknown))}", code="unknown_field")
    out, missing = {}, []
    for f in info.fields:
        raw = values.get(f.name)
        if f.type == "lines":
            items = raw.splitlines() if isinstance(raw, str) else list(raw or [])
            val = [str(x).strip() for x in items if str(x).strip()]
        else:
            val = str(raw or "").strip()
        if f.required and not val:
            missing.append(f.label)
        out[f.name] = val
    if missing:
        raise ValidationError(f"必填字段未填写: {'、'.join(missing)}", code="missing_field")
    return out


def render(info: TemplateInfo, context: dict) -> bytes:
    """Render the template with ``context`` (system variables + fields) into .docx bytes."""
    tpl = DocxTemplate(str(info.path))
    tpl.render(context, autoescape=True)
    buf = io.BytesIO()
    tpl.save(buf)
    return buf.getvalue()


def _mark_run(paragraph, text: str, *, bold=False, red=False, size=9):
    run = paragraph.add_run(text)
    run.bold = bold
    run.font.size = Pt(size)
    run.font.name = "SimSun"
    run._element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), "宋体")
    if red:
        run.font.color.rgb = RGBColor(0xC0, 0x00, 0x00)
    return run


def stamp(data: bytes, *, code: str, version: int, effective_date: str, approver: str) -> bytes:
    """Return a controlled copy: header gets 受控 + code/version, footer effective date and approver."""
    doc = DocxDocument(io.BytesIO(data))
    for section in doc.sections:
        header = section.header
        header.is_linked_to_previous = False
        p = header.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        _mark_run(p, "【受控】", bold=True, red=True, size=11)
        _mark_run(p, f"  文件编号：{code}    版本：V{version}")
        footer = section.footer
        footer.is_linked_to_previous = False
        fp = footer.add_paragraph()
        fp.alignment = WD_ALIGN_PARAGRAPH.CENTER
        _mark_run(fp, f"受控文件 {code} V{version}    生效日期：{effective_date}    批准：{approver}")
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def extract_text(data: bytes) -> str:
    """Plain text of body paragraphs, tables, headers and footers (for search)."""
    doc = DocxDocument(io.BytesIO(data))
    parts = [p.text for p in doc.paragraphs]
    for table in doc.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    for section in doc.sections:
        parts.extend(p.text for p in section.header.paragraphs)
        parts.extend(p.text for p in section.footer.paragraphs)
    return "\n".join(t for t in parts if t.strip())


def validate_docx(data: bytes, filename: str) -> str:
    """Refuse anything that is not a real, safe .docx (OOXML WordprocessingML); returns the clean file name.

    The shared upload checks (:func:`cmsflow.core.uploads.check_upload`: name, size, zip bomb, macros, DTDs /
    XML entities, main part type) come first, then python-docx must open it. Raises ValidationError with the
    reason (codes of ``check_upload``, or ``corrupt_docx``); nothing is stored by the caller in that case.
    """
    name, _ = check_upload(filename, data, "docx")
    try:
        DocxDocument(io.BytesIO(data))
    except Exception as exc:
        raise ValidationError("Word 文档已损坏或无法读取", code="corrupt_docx") from exc
    return name
