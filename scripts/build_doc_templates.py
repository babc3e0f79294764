"""Build the Word templates in doc_templates/ and the catalog describing their fields.

The templates are plain python-docx documents carrying docxtpl (Jinja2) tags. Every template
receives the renderer variables in RENDERER_VARS plus the fields declared for it in TEMPLATES;
doc_templates/catalog.yaml is written from the same declarations so the two never drift apart.

Usage:
    .venv/bin/python scripts/build_doc_templates.py             # build, write catalog, check
    .venv/bin/python scripts/build_doc_templates.py --samples D # also keep rendered samples in D

The check renders every template with sample values (StrictUndefined, so a missing variable
fails) and verifies that get_undeclared_template_variables() is covered by the declarations.
The header carries organisation and title only; the footer is left empty on purpose: the
application stamps code, version, effective date, approver and the 受控 mark at publication.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from docx import Document
from docx.enum.section import WD_SECTION
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_ROW_HEIGHT_RULE
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK, WD_TAB_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "doc_templates"

RENDERER_VARS = ("organisation", "title", "code", "version", "department", "author", "date",
                 "clauses")

BODY_FONT, HEADING_FONT, LATIN_FONT = "宋体", "黑体", "Times New Roman"
TEXT_WIDTH_CM = 21.0 - 3.0 - 2.6  # A4 width minus left and right margins
FORM_BODY_ROWS = 8


@dataclass(frozen=True)
class Field:
    """One form field of a template: a text (may hold newlines) or a list of lines."""

    name: str
    label: str
    label_en: str
    type: str = "text"
    required: bool = True


@dataclass(frozen=True)
class TemplateSpec:
    """A template: its file name, catalog titles, document type and fields."""

    name: str
    title: str
    title_en: str
    doc_type: str
    fields: tuple[Field, ...]


def _lines(name, label, label_en, required=True):
    return Field(name, label, label_en, "lines", required)


TEMPLATES = (
    TemplateSpec("manual", "碳排放管理手册模板", "Carbon emission management manual template",
                 "manual", (
                     Field("foreword", "颁布令", "Promulgation"),
                     Field("scope_boundary", "范围和边界", "Scope and boundaries"),
                     Field("policy_statement", "碳排放管理方针", "Carbon emission management policy"),
                     _lines("organisation_duties", "组织机构及职责",
                            "Organisation, roles and responsibilities"),
                     _lines("system_elements", "体系要素概要", "Summary of system elements"),
                     _lines("procedure_index", "程序文件目录", "List of procedures"),
                 )),
    TemplateSpec("policy", "碳排放管理方针模板", "Carbon emission management policy template",
                 "policy", (
                     _lines("policy_items", "方针内容", "Policy statements"),
                     Field("interpretation", "方针释义", "Interpretation", required=False),
                 )),
    TemplateSpec("procedure", "程序文件模板", "Procedure template", "procedure", (
        Field("purpose", "目的", "Purpose"),
        Field("scope", "适用范围", "Scope"),
        _lines("terms", "术语和定义", "Terms and definitions", required=False),
        _lines("responsibilities", "职责", "Responsibilities"),
        _lines("steps", "工作程序", "Procedure steps"),
        _lines("related_documents", "相关文件", "Related documents", required=False),
        _lines("records", "记录", "Records", required=False),
    )),
    TemplateSpec("rule", "管理制度模板", "Management rule template", "rule", (
        Field("purpose", "目的", "Purpose"),
        Field("scope", "适用范围", "Scope"),
        _lines("requirements", "管理要求", "Requirements"),
        _lines("assessment", "考核", "Assessment", required=False),
    )),
    TemplateSpec("work_instruction", "作业指导书模板", "Work instruction template",
                 "work_instruction", (
                     Field("purpose", "目的", "Purpose"),
                     Field("scope", "适用范围", "Scope"),
                     _lines("steps", "操作步骤", "Operating steps"),
                     _lines("precautions", "注意事项", "Precautions", required=False),
                 )),
    TemplateSpec("record_form", "记录表单模板", "Record form template", "record_form", (
        Field("instructions", "填写说明", "Instructions"),
        _lines("columns", "表格栏目", "Table columns"),
        Field("retention", "保存期限", "Retention period", required=False),
    )),
)


# --------------------------------------------------------------------------- styles

def _set_fonts(rpr, east_asia: str, latin: str = LATIN_FONT) -> None:
    """Set explicit fonts on an rPr element, dropping theme fonts that would override them."""
    rfonts = rpr.find(qn("w:rFonts"))
    if rfonts is None:
        rfonts = OxmlElement("w:rFonts")
        rpr.insert(0, rfonts)
    for attr in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        rfonts.attrib.pop(qn(attr), None)
    for attr, value in (("w:ascii", latin), ("w:hAnsi", latin), ("w:eastAsia", east_asia),
                        ("w:cs", latin)):
        rfonts.set(qn(attr), value)


def _style(doc, name, base="Normal", *, font=BODY_FONT, size=12, bold=False, align=None,
           indent=None, before=0, after=0, line=None):
    """Create or update a paragraph style with Chinese fonts and spacing."""
    styles = doc.styles
    style = styles[name] if name in [s.name for s in styles] else styles.add_style(name, 1)
    if name != "Normal":
        style.base_style = styles[base]
    _set_fonts(style.element.get_or_add_rPr(), font)
    style.font.size, style.font.bold, style.font.italic = Pt(size), bold, False
    style.font.color.rgb = RGBColor(0, 0, 0)
    pf = style.paragraph_format
    pf.space_before, pf.space_after = Pt(before), Pt(after)
    pf.first_line_indent = Pt(indent) if indent else None
    if line:
        pf.line_spacing = line
    if align is not None:
        pf.alignment = align
    return style


def _set_doc_defaults(doc) -> None:
    """Make 宋体 / Times New Roman and zh-CN the document defaults."""
    rpr = doc.styles.element.find(qn("w:docDefaults")).find(qn("w:rPrDefault")).find(qn("w:rPr"))
    _set_fonts(rpr, BODY_FONT)
    lang = rpr.find(qn("w:lang"))
    if lang is None:
        lang = OxmlElement("w:lang")
        rpr.append(lang)
    lang.set(qn("w:val"), "en-US")
    lang.set(qn("w:eastAsia"), "zh-CN")


def _setup_styles(doc) -> None:
    """Define every style the templates use."""
    _set_doc_defaults(doc)
    _style(doc, "Normal", size=12, line=1.5, align=WD_ALIGN_PARAGRAPH.JUSTIFY)
    _style(doc, "CEMS Title", font=HEADING_FONT, size=18, align=WD_ALIGN_PARAGRAPH.CENTER,
           before=12, after=18)
    for level, size in ((1, 14), (2, 12)):
        heading = _style(doc, f"Heading {level}", font=HEADING_FONT, size=size,
                         before=12 if level == 1 else 6, after=6)
        heading.paragraph_format.keep_with_next = True
    _style(doc, "CEMS Body", indent=24)
    _style(doc, "CEMS Item", indent=24)
    _style(doc, "CEMS Policy", font=HEADING_FONT, size=14, align=WD_ALIGN_PARAGRAPH.CENTER,
           before=6, after=6)
    _style(doc, "CEMS Plain", align=WD_ALIGN_PARAGRAPH.LEFT)
    _style(doc, "CEMS Note", indent=24, before=12)
    _style(doc, "CEMS Table", size=10.5, line=1.15, align=WD_ALIGN_PARAGRAPH.LEFT)
    _style(doc, "CEMS Table Label", base="CEMS Table", font=HEADING_FONT, size=10.5,
           align=WD_ALIGN_PARAGRAPH.CENTER)
    header = _style(doc, "Header", size=10.5, line=1.0)
    header.paragraph_format.tab_stops.clear_all()


def _setup_page(doc) -> None:
    """A4 portrait with margins suited to controlled documents."""
    section = doc.sections[0]
    section.start_type = WD_SECTION.NEW_PAGE
    section.page_width, section.page_height = Cm(21.0), Cm(29.7)
    section.top_margin, section.bottom_margin = Cm(2.54), Cm(2.54)
    section.left_margin, section.right_margin = Cm(3.0), Cm(2.6)
    section.header_distance, section.footer_distance = Cm(1.5), Cm(1.5)


def _bottom_border(paragraph) -> None:
    ppr = paragraph._p.get_or_add_pPr()
    pbdr = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for attr, value in (("w:val", "single"), ("w:sz", "6"), ("w:space", "1"),
                        ("w:color", "000000")):
        bottom.set(qn(attr), value)
    pbdr.append(bottom)
    ppr.append(pbdr)


def _setup_header(doc) -> None:
    """Header: organisation on the left, document title on the right; no footer part."""
    header = doc.sections[0].header
    header.is_linked_to_previous = False
    paragraph = header.paragraphs[0]
    paragraph.style = doc.styles["Header"]
    paragraph.paragraph_format.tab_stops.add_tab_stop(Cm(TEXT_WIDTH_CM), WD_TAB_ALIGNMENT.RIGHT)
    paragraph.add_run("{{ organisation }}\t{{ title }}")
    _bottom_border(paragraph)


def new_document():
    """A blank document with page, styles and header set up."""
    doc = Document()
    _setup_page(doc)
    _setup_styles(doc)
    _setup_header(doc)
    return doc


# --------------------------------------------------------------------------- blocks

def para(doc, text="", style="CEMS Body"):
    """Append a paragraph in the given style."""
    return doc.add_paragraph(text, style=doc.styles[style])


def heading(doc, text, level=1):
    """Append a heading."""
    return doc.add_paragraph(text, style=doc.styles[f"Heading {level}"])


def text_field(doc, name, optional=False):
    """A text field: one body paragraph per non-empty line of the value."""
    if optional:
        para(doc, "{%p if " + name + " %}")
    para(doc, "{%p for para in (" + name + ' or "").splitlines() if para.strip() %}')
    para(doc, "{{ para }}")
    para(doc, "{%p endfor %}")
    if optional:
        para(doc, "{%p else %}")
        para(doc, "无")
        para(doc, "{%p endif %}")


def lines_field(doc, name, prefix="{{ loop.index }}. ", style="CEMS Item"):
    """A lines field: one paragraph per item, numbered by prefix; "无" when empty."""
    para(doc, "{%p if " + name + " %}")
    para(doc, "{%p for item in " + name + " %}")
    para(doc, prefix + "{{ item }}", style)
    para(doc, "{%p endfor %}")
    para(doc, "{%p else %}")
    para(doc, "无", style)
    para(doc, "{%p endif %}")


def section_lines(doc, number, title, name):
    """A numbered section whose items are numbered number.1, number.2, ..."""
    heading(doc, f"{number}　{title}")
    lines_field(doc, name, prefix=f"{number}.{{{{ loop.index }}}}　")


def _cell(cell, text, style="CEMS Table", width=None):
    cell.paragraphs[0].text = text
    cell.paragraphs[0].style = cell.part.document.styles[style]
    cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
    if width is not None:
        cell.width = Cm(width)


def _shade(cell, fill="F2F2F2"):
    shd = OxmlElement("w:shd")
    shd.set(qn("w:val"), "clear")
    shd.set(qn("w:color"), "auto")
    shd.set(qn("w:fill"), fill)
    cell._tc.get_or_add_tcPr().append(shd)


def control_block(doc):
    """The document-control table shown under the title."""
    label_w, value_w = 2.6, TEXT_WIDTH_CM / 2 - 2.6
    rows = (("文件编号", "{{ code }}", "版本", "V{{ version }}"),
            ("编制部门", "{{ department }}", "编制人", "{{ author }}"),
            ("编制日期", "{{ date }}", None, None),
            ("依据条款", '{{ clauses|join("；") if clauses else "—" }}', None, None))
    table = doc.add_table(rows=len(rows), cols=4)
    table.style = doc.styles["Table Grid"]
    table.autofit = False
    for r, values in enumerate(rows):
        table.rows[r].height = Cm(0.75)
        table.rows[r].height_rule = WD_ROW_HEIGHT_RULE.AT_LEAST
        cells = table.rows[r].cells
        for c, width in enumerate((label_w, value_w, label_w, value_w)):
            _cell(cells[c], values[c] or "", width=width)
        for c in (0, 2):
            if values[c]:
                _cell(cells[c], values[c], "CEMS Table Label")
                _shade(cells[c])
        if values[2] is None:
            merged = cells[1].merge(cells[3])
            _cell(merged, values[1])
            for extra in merged.paragraphs[1:]:
                extra._p.getparent().remove(extra._p)
    para(doc, "", "Normal")
    return table


def title_block(doc):
    """Document title and control table."""
    para(doc, "{{ title }}", "CEMS Title")
    control_block(doc)


def page_break(doc):
    doc.add_paragraph(style=doc.styles["Normal"]).add_run().add_break(WD_BREAK.PAGE)


# --------------------------------------------------------------------------- templates

def build_manual(doc):
    title_block(doc)
    heading(doc, "颁布令")
    text_field(doc, "foreword")
    page_break(doc)
    heading(doc, "1　范围和边界")
    text_field(doc, "scope_boundary")
    heading(doc, "2　碳排放管理方针")
    text_field(doc, "policy_statement")
    section_lines(doc, 3, "组织机构及职责", "organisation_duties")
    section_lines(doc, 4, "体系要素概要", "system_elements")
    heading(doc, "5　程序文件目录")
    lines_field(doc, "procedure_index", prefix="（{{ loop.index }}）")


def build_policy(doc):
    title_block(doc)
    heading(doc, "1　方针内容")
    lines_field(doc, "policy_items", prefix="", style="CEMS Policy")
    heading(doc, "2　方针释义")
    text_field(doc, "interpretation", optional=True)
    para(doc, "本方针经最高管理者批准后发布，在公司内部宣贯并保持，可供相关方获取。", "CEMS Note")


def build_procedure(doc):
    title_block(doc)
    heading(doc, "1　目的")
    text_field(doc, "purpose")
    heading(doc, "2　适用范围")
    text_field(doc, "scope")
    section_lines(doc, 3, "术语和定义", "terms")
    section_lines(doc, 4, "职责", "responsibilities")
    section_lines(doc, 5, "工作程序", "steps")
    section_lines(doc, 6, "相关文件", "related_documents")
    section_lines(doc, 7, "记录", "records")


def build_rule(doc):
    title_block(doc)
    heading(doc, "1　目的")
    text_field(doc, "purpose")
    heading(doc, "2　适用范围")
    text_field(doc, "scope")
    section_lines(doc, 3, "管理要求", "requirements")
    section_lines(doc, 4, "考核", "assessment")


def build_work_instruction(doc):
    title_block(doc)
    heading(doc, "1　目的")
    text_field(doc, "purpose")
    heading(doc, "2　适用范围")
    text_field(doc, "scope")
    section_lines(doc, 3, "操作步骤", "steps")
    section_lines(doc, 4, "注意事项", "precautions")


def _form_row(cells, first, middle, style):
    """Fill one row: a fixed first cell, then a docxtpl column loop over `columns`."""
    _cell(cells[0], first, style, width=1.2)
    _cell(cells[1], "{%tc for c in columns %}", style)
    _cell(cells[2], middle, style)
    _cell(cells[3], "{%tc endfor %}", style)


def build_record_form(doc):
    title_block(doc)
    heading(doc, "填写说明")
    text_field(doc, "instructions")
    heading(doc, "记录")
    table = doc.add_table(rows=1 + FORM_BODY_ROWS, cols=4)
    table.style = doc.styles["Table Grid"]
    table.alignment = 1
    _form_row(table.rows[0].cells, "序号", "{{ c }}", "CEMS Table Label")
    for cell in table.rows[0].cells:
        _shade(cell)
    for i in range(1, FORM_BODY_ROWS + 1):
        row = table.rows[i]
        row.height, row.height_rule = Cm(0.85), WD_ROW_HEIGHT_RULE.AT_LEAST
        _form_row(row.cells, str(i), "", "CEMS Table")
        row.cells[0].paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
    para(doc, "", "Normal")
    para(doc, "填表人：＿＿＿＿＿　　审核人：＿＿＿＿＿　　日期：＿＿＿＿年＿＿月＿＿日", "CEMS Plain")
    para(doc, '保存期限：{{ retention or "按《文件和记录控制程序》的规定执行" }}', "CEMS Plain")


BUILDERS = {
    "manual": build_manual, "policy": build_policy, "procedure": build_procedure,
    "rule": build_rule, "work_instruction": build_work_instruction,
    "record_form": build_record_form,
}


def build_all(out_dir: Path = OUT_DIR) -> list[Path]:
    """Write every template to out_dir and return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for spec in TEMPLATES:
        doc = new_document()
        doc.core_properties.title = spec.title
        doc.core_properties.author = "cmsflow"
        BUILDERS[spec.name](doc)
        path = out_dir / f"{spec.name}.docx"
        doc.save(path)
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- catalog

def _yaml_scalar(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if set(text) & set(",:{}[]#&*!|>'\"%@`") else text


def catalog_text() -> str:
    """The catalog as YAML, one flow mapping per field."""
    out = ["# Generated by scripts/build_doc_templates.py: edit the declarations there and re-run.",
           "# Renderer variables available to every template: " + ", ".join(RENDERER_VARS),
           "# Field types: text (string, may contain newlines) | lines (list of strings)."]
    for spec in TEMPLATES:
        out += [f"- name: {spec.name}", f"  title: {spec.title}", f"  title_en: {spec.title_en}",
                f"  doc_type: {spec.doc_type}", "  fields:"]
        for f in spec.fields:
            items = ", ".join(f"{k}: {_yaml_scalar(getattr(f, k))}"
                              for k in ("name", "label", "label_en", "type", "required"))
            out.append(f"    - {{{items}}}")
    return "\n".join(out) + "\n"


def write_catalog(out_dir: Path = OUT_DIR) -> Path:
    path = out_dir / "catalog.yaml"
    path.write_text(catalog_text(), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- check

def sample_context(spec: TemplateSpec) -> dict:
    """Values for every variable of a template, as the renderer would pass them."""
    ctx = {"organisation": "示例有限公司", "title": spec.title.removesuffix("模板"),
           "code": "（待发布时编号）", "version": 1, "department": "综合管理部",
           "author": "张三", "date": "2025-01-01",
           "clauses": ["T/CECA-G 8.2", "DB44/T 1944-2016 7.5"]}
    for f in spec.fields:
        if f.name == "columns":
            ctx[f.name] = ["排放源", "设施", "排放类型", "活动数据", "数据来源", "责任部门"]
        elif f.type == "lines":
            ctx[f.name] = [f"{f.label}第一项 & <1>", f"{f.label}第二项"]
        else:
            ctx[f.name] = f"{f.label}第一段（A&B <C>）。\n{f.label}第二段。"
    return ctx


def check_all(out_dir: Path = OUT_DIR, samples_dir: Path | None = None) -> list[str]:
    """Render every template with sample values; return a list of problems (empty when fine)."""
    import yaml
    from docxtpl import DocxTemplate
    from jinja2 import Environment, StrictUndefined

    problems = []
    catalog = yaml.safe_load((out_dir / "catalog.yaml").read_text(encoding="utf-8"))
    expected = [{"name": s.name, "title": s.title, "title_en": s.title_en,
                 "doc_type": s.doc_type, "fields": [vars(f) for f in s.fields]}
                for s in TEMPLATES]
    if catalog != expected:
        problems.append("catalog.yaml does not match the declarations in TEMPLATES")
    samples_dir = samples_dir or Path(tempfile.mkdtemp(prefix="cmsflow-tpl-"))
    samples_dir.mkdir(parents=True, exist_ok=True)
    for spec in TEMPLATES:
        path = out_dir / f"{spec.name}.docx"
        allowed = set(RENDERER_VARS) | {f.name for f in spec.fields}
        extra = DocxTemplate(path).get_undeclared_template_variables() - allowed
        if extra:
            problems.append(f"{spec.name}: undeclared variables {sorted(extra)}")
        for empty in (False, True):
            ctx = sample_context(spec)
            if empty:  # optional fields left empty must render too
                ctx.update({f.name: [] if f.type == "lines" else ""
                            for f in spec.fields if not f.required})
            tpl = DocxTemplate(path)
            try:
                # autoescape as the application renders; StrictUndefined so a missing variable fails
                tpl.render(ctx, jinja_env=Environment(undefined=StrictUndefined, autoescape=True))
            except Exception as exc:  # noqa: BLE001 - report any rendering failure
                problems.append(f"{spec.name}: render failed: {exc}")
                continue
            tpl.save(samples_dir / f"{spec.name}{'_empty' if empty else ''}.docx")
    print(f"rendered samples in {samples_dir}")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, help="keep rendered sample documents here")
    args = parser.parse_args(argv)
    for path in build_all():
        print(f"wrote {path.relative_to(ROOT)}")
    print(f"wrote {write_catalog().relative_to(ROOT)}")
    problems = check_all(samples_dir=args.samples)
    for problem in problems:
        print("PROBLEM:", problem, file=sys.stderr)
    print("check: " + ("FAILED" if problems else "all templates render"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
