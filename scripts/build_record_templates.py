"""Build the record templates in doc_templates/records/ (currently: the internal audit report).

Records are filled by the application from its own data (an audit, its findings, its sign-off),
not from catalog fields, so they are not listed in doc_templates/catalog.yaml. Each record
template declares the exact set of variables it receives in RECORDS; the look (page, fonts,
header, heading and table styles) is the one of scripts/build_doc_templates.py.

Usage:
    .venv/bin/python scripts/build_record_templates.py             # build and check
    .venv/bin/python scripts/build_record_templates.py --samples D # also keep rendered samples in D

The check renders every template with a full and an empty sample (StrictUndefined and
autoescape, as the application renders, so a missing variable fails), prints the undeclared
variables and verifies that they are exactly the declared set.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from docx.enum.table import WD_ROW_HEIGHT_RULE, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_doc_templates import (  # noqa: E402
    HEADING_FONT,
    ROOT,
    TEXT_WIDTH_CM,
    _cell,
    _style,
    heading,
    new_document,
    para,
)

OUT_DIR = ROOT / "doc_templates" / "records"
NONE_MARK = "—"


# --------------------------------------------------------------------------- tag snippets

def _text_lines(expr: str) -> list[str]:
    """Paragraph texts rendering a (possibly multi-line) string one line per paragraph, or "—"."""
    return ["{%p for line in (" + expr + ' or "").splitlines() if line.strip() %}',
            "{{ line }}", "{%p else %}", NONE_MARK, "{%p endfor %}"]


def _list_lines(expr: str) -> list[str]:
    """Paragraph texts rendering a list one item per paragraph, or "—" when empty."""
    return ["{%p for item in " + expr + " %}", "{{ item }}", "{%p else %}", NONE_MARK,
            "{%p endfor %}"]


def _joined(expr: str, sep: str = "、") -> str:
    """A run rendering a list joined on one line, or "—" when empty."""
    return "{{ " + expr + '|join("' + sep + '") or "' + NONE_MARK + '" }}'


# --------------------------------------------------------------------------- table helpers

def _styles(doc) -> None:
    """Styles used by records on top of the shared ones."""
    _style(doc, "CEMS Title", font=HEADING_FONT, size=18, align=WD_ALIGN_PARAGRAPH.CENTER,
           before=12, after=6)
    _style(doc, "CEMS Subtitle", size=12, align=WD_ALIGN_PARAGRAPH.CENTER, after=12)
    _style(doc, "CEMS Table Center", base="CEMS Table", size=10.5,
           align=WD_ALIGN_PARAGRAPH.CENTER)


def _table(doc, rows: int, widths: tuple[float, ...]):
    """A full-width grid table with fixed column widths (grid and cells, for Word and LibreOffice)."""
    assert abs(sum(widths) - TEXT_WIDTH_CM) < 0.01, widths
    table = doc.add_table(rows=rows, cols=len(widths))
    table.style = doc.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False  # fixed layout
    for column, width in zip(table.columns, widths, strict=True):
        column.width = Cm(width)
        for cell in column.cells:
            cell.width = Cm(width)
    return table


def _fill(cell, texts: str | list[str], style: str = "CEMS Table") -> None:
    """Write one paragraph per text into a cell (first paragraph reused)."""
    texts = [texts] if isinstance(texts, str) else texts
    _cell(cell, texts[0], style)
    for text in texts[1:]:
        cell.add_paragraph(text, style=cell.part.document.styles[style])


def _shade(cell, fill: str = "F2F2F2") -> None:
    """Grey background, placed where the schema wants it in tcPr (before vAlign)."""
    shd = OxmlElement("w:shd")
    for attr, value in (("w:val", "clear"), ("w:color", "auto"), ("w:fill", fill)):
        shd.set(qn(attr), value)
    cell._tc.get_or_add_tcPr().insert_element_before(
        shd, "w:noWrap", "w:tcMar", "w:textDirection", "w:tcFitText", "w:vAlign", "w:hideMark")


def _label(cell, text: str) -> None:
    _fill(cell, text, "CEMS Table Label")
    _shade(cell)


def _min_height(row, cm: float) -> None:
    row.height, row.height_rule = Cm(cm), WD_ROW_HEIGHT_RULE.AT_LEAST


def _repeat_header(row) -> None:
    """Repeat this row at the top of every page the table runs onto."""
    flag = OxmlElement("w:tblHeader")
    flag.set(qn("w:val"), "true")
    row._tr.get_or_add_trPr().insert_element_before(
        flag, "w:tblCellSpacing", "w:jc", "w:hidden", "w:ins", "w:del", "w:trPrChange")


# --------------------------------------------------------------------------- audit report

AUDIT_REPORT_VARS = frozenset({
    "organisation", "code", "title", "programme", "objectives", "criteria",
    "scope_departments", "scope_clauses", "lead_auditor", "team", "auditees", "dates",
    "summary", "conclusion", "counts", "findings",
    "prepared_by", "prepared_on", "approved_by", "approved_on",
})

FINDING_COLUMNS = (  # label, width (cm), cell texts, cell style
    ("序号", 1.2, "{{ f.no }}", "CEMS Table Center"),
    ("条款", 2.8, "{{ f.clause }}", "CEMS Table"),
    ("部门", 1.9, "{{ f.department }}", "CEMS Table"),
    ("结论", 2.3, "{{ f.result }}", "CEMS Table Center"),
    ("客观证据", 4.6, _text_lines("f.evidence"), "CEMS Table"),
    ("不符合项编号", 2.6, '{{ f.nc_code or "' + NONE_MARK + '" }}', "CEMS Table Center"),
)


def _audit_info(doc) -> None:
    rows = (("审核编号", "{{ code }}"),
            ("审核方案", "{{ programme }}"),
            ("审核目的", _text_lines("objectives")),
            ("审核准则", _list_lines("criteria")),
            ("审核范围（部门）", _joined("scope_departments")),
            ("审核范围（条款）", _list_lines("scope_clauses")),
            ("审核组长", "{{ lead_auditor }}"),
            ("审核组成员", _joined("team")),
            ("受审核部门", _joined("auditees")),
            ("审核日期", "{{ dates }}"))
    label_w = 3.4
    table = _table(doc, len(rows), (label_w, TEXT_WIDTH_CM - label_w))
    for row, (label, value) in zip(table.rows, rows, strict=True):
        _min_height(row, 0.75)
        _label(row.cells[0], label)
        _fill(row.cells[1], value)


def _audit_findings(doc) -> None:
    para(doc, "符合 {{ counts.conformity }} 项，观察项 {{ counts.observation }} 项，"
              "一般不符合 {{ counts.minor }} 项，严重不符合 {{ counts.major }} 项。")
    para(doc, "{%p if findings %}")
    table = _table(doc, 4, tuple(width for _, width, _, _ in FINDING_COLUMNS))
    header, loop_start, body, loop_end = table.rows
    _min_height(header, 0.75)
    _min_height(body, 0.75)
    _repeat_header(header)
    for c, (label, _, texts, style) in enumerate(FINDING_COLUMNS):
        _label(header.cells[c], label)
        _fill(body.cells[c], texts, style)
    # docxtpl drops the two tag rows and repeats the body row once per finding
    _fill(loop_start.cells[0], "{%tr for f in findings %}")
    _fill(loop_end.cells[0], "{%tr endfor %}")
    para(doc, "{%p else %}")
    para(doc, "无审核发现")
    para(doc, "{%p endif %}")


def _audit_signoff(doc) -> None:
    label_w = 2.2
    value_w = TEXT_WIDTH_CM / 2 - label_w
    table = _table(doc, 2, (label_w, value_w, label_w, value_w))
    for row, (who, name, when) in zip(table.rows, (("编制", "prepared_by", "prepared_on"),
                                                   ("批准", "approved_by", "approved_on")),
                                      strict=True):
        _min_height(row, 1.0)
        _label(row.cells[0], who)
        _fill(row.cells[1], "{{ " + name + " }}")
        _label(row.cells[2], "日期")
        _fill(row.cells[3], "{{ " + when + " }}")


def build_audit_report(doc) -> None:
    """内部审核报告: info table, overview, findings (counts + table), conclusion, sign-off."""
    para(doc, "内部审核报告", "CEMS Title")
    para(doc, "{{ title }}", "CEMS Subtitle")
    _audit_info(doc)
    heading(doc, "一、审核概述")
    for text in _text_lines("summary"):
        para(doc, text)
    heading(doc, "二、审核发现")
    _audit_findings(doc)
    heading(doc, "三、审核结论")
    for text in _text_lines("conclusion"):
        para(doc, text)
    para(doc, "", "Normal")
    _audit_signoff(doc)
    para(doc, "", "Normal")


def audit_report_samples() -> dict[str, dict]:
    """A full sample (with characters that must be escaped) and an empty one."""
    full = {
        "organisation": "示例有限公司", "code": "IA-2026-02", "title": "2026年第二次内部审核",
        "programme": "IAP-2026 2026年度碳排放管理体系内部审核方案",
        "objectives": "评价碳排放管理体系与 DB44/T 1944-2021 要求的符合性（A&B <C>）。\n"
                      "评价体系运行的有效性，识别改进机会。",
        "criteria": ["DB44/T 1944-2021 碳排放管理体系 要求", "公司碳排放管理手册及程序文件",
                     "适用的法律法规及其他要求"],
        "scope_departments": ["生产部", "设备部", "质量安全环保部"],
        "scope_clauses": ["DB44/T 1944 7.5 文件化信息", "DB44/T 1944 8.2 碳排放数据管理",
                          "DB44/T 1944 9.2 内部审核"],
        "lead_auditor": "李四", "team": ["李四", "王五", "赵六"],
        "auditees": ["生产部", "设备部", "质量安全环保部"],
        "dates": "2026-05-12 至 2026-05-13",
        "summary": "审核组按审核计划对生产部、设备部和质量安全环保部实施了现场审核。\n"
                   "审核采用查阅文件记录、现场观察和人员面谈的方式进行。\n\n"
                   "各受审核部门积极配合，审核按计划完成。",
        "conclusion": "碳排放管理体系总体符合 DB44/T 1944-2021 的要求，运行基本有效；"
                      "对发现的不符合项，责任部门应在30日内完成纠正措施。",
        "counts": {"conformity": 12, "observation": 1, "minor": 2, "major": 0},
        "findings": [
            {"no": 1, "clause": "DB44/T 1944 7.5 文件化信息", "department": "生产部",
             "result": "一般不符合",
             "evidence": "抽查2026年3月燃料消耗台账，3月12日至15日记录缺失。\n"
                         "现场询问操作员，称数据暂存于交接班本（A&B <C>）。",
             "nc_code": "NC-2026-007"},
            {"no": 2, "clause": "DB44/T 1944 8.2 碳排放数据管理", "department": "设备部",
             "result": "一般不符合", "evidence": "2号锅炉天然气流量计校准证书已于2026-02-28过期。",
             "nc_code": "NC-2026-008"},
            {"no": 3, "clause": "DB44/T 1944 9.2 内部审核", "department": "质量安全环保部",
             "result": "观察项", "evidence": "内审员培训记录未注明培训学时，建议完善。",
             "nc_code": ""},
        ],
        "prepared_by": "李四", "prepared_on": "2026-05-15",
        "approved_by": "张三", "approved_on": "2026-05-18",
    }
    empty = dict(full, objectives="", criteria=[], scope_departments=[], scope_clauses=[],
                 team=[], auditees=[], summary="", conclusion="",
                 counts={"conformity": 0, "observation": 0, "minor": 0, "major": 0},
                 findings=[], approved_by="", approved_on="")
    return {"": full, "_empty": empty}


# --------------------------------------------------------------------------- registry

@dataclass(frozen=True)
class RecordSpec:
    """A record template: file name, title, exact variables, builder and sample contexts."""

    name: str
    title: str
    variables: frozenset[str]
    build: Callable
    samples: Callable[[], dict[str, dict]]


RECORDS = (
    RecordSpec("audit_report", "内部审核报告模板", AUDIT_REPORT_VARS, build_audit_report,
               audit_report_samples),
)


def build_all(out_dir: Path = OUT_DIR) -> list[Path]:
    """Write every record template to out_dir and return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for spec in RECORDS:
        doc = new_document()
        _styles(doc)
        doc.core_properties.title = spec.title
        doc.core_properties.author = "cmsflow"
        spec.build(doc)
        path = out_dir / f"{spec.name}.docx"
        doc.save(path)
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- check

def _all_text(data: bytes) -> tuple[str, list]:
    """Text of header, body paragraphs and tables of a rendered document, and its tables."""
    from docx import Document

    doc = Document(io.BytesIO(data))
    parts = [p.text for s in doc.sections for p in s.header.paragraphs]
    parts += [p.text for p in doc.paragraphs]
    parts += [c.text for t in doc.tables for r in t.rows for c in r.cells]
    return "\n".join(parts), doc.tables


def _check_rendered(spec: RecordSpec, ctx: dict, data: bytes) -> list[str]:
    """Content checks on a rendered document: no tags left, escaping, findings rows."""
    text, tables = _all_text(data)
    problems = []
    if "{{" in text or "{%" in text:
        problems.append("template tags left in the output")
    if "A&B <C>" in str(ctx) and "A&B <C>" not in text:
        problems.append("special characters were not rendered literally")
    if spec.name == "audit_report":
        findings = ctx["findings"]
        if ("无审核发现" in text) == bool(findings):
            problems.append("'无审核发现' shown/hidden wrongly")
        finding_tables = [t for t in tables if t.rows[0].cells[-1].text == "不符合项编号"]
        rows = len(finding_tables[0].rows) - 1 if finding_tables else 0
        if rows != len(findings):
            problems.append(f"findings table has {rows} rows for {len(findings)} findings")
    return problems


def check_all(out_dir: Path = OUT_DIR, samples_dir: Path | None = None) -> list[str]:
    """Render every record template with its samples; return a list of problems."""
    from docxtpl import DocxTemplate
    from jinja2 import Environment, StrictUndefined

    problems = []
    samples_dir = samples_dir or Path(tempfile.mkdtemp(prefix="cmsflow-rec-"))
    samples_dir.mkdir(parents=True, exist_ok=True)
    for spec in RECORDS:
        path = out_dir / f"{spec.name}.docx"
        found = set(DocxTemplate(path).get_undeclared_template_variables())
        print(f"{spec.name}: undeclared variables: {', '.join(sorted(found))}")
        if found != spec.variables:
            problems.append(f"{spec.name}: unexpected {sorted(found - spec.variables)}, "
                            f"missing {sorted(spec.variables - found)}")
        for suffix, ctx in spec.samples().items():
            label = spec.name + suffix
            tpl = DocxTemplate(path)
            try:
                # autoescape as the application renders; StrictUndefined so a missing variable fails
                tpl.render(ctx, jinja_env=Environment(undefined=StrictUndefined, autoescape=True))
            except Exception as exc:  # noqa: BLE001 - report any rendering failure
                problems.append(f"{label}: render failed: {exc}")
                continue
            buf = io.BytesIO()
            tpl.save(buf)
            problems += [f"{label}: {p}" for p in _check_rendered(spec, ctx, buf.getvalue())]
            (samples_dir / f"{label}.docx").write_bytes(buf.getvalue())
    print(f"rendered samples in {samples_dir}")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, help="keep rendered sample documents here")
    args = parser.parse_args(argv)
    for path in build_all():
        print(f"wrote {path.relative_to(ROOT)}")
    problems = check_all(samples_dir=args.samples)
    for problem in problems:
        print("PROBLEM:", problem, file=sys.stderr)
    print("check: " + ("FAILED" if problems else "all record templates render"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
