"""Build the record templates in doc_templates/records/ (audit, management review, compliance, maturity,
neutrality statement, disclosure report).

Records are filled by the application from its own data (an audit, its findings, its sign-off),
not from catalog fields, so they are not listed in doc_templates/catalog.yaml. Each record
template declares the exact set of variables it receives in RECORDS; the look (page, fonts,
header, heading and table styles) is the one of scripts/build_doc_templates.py.

The records are: audit_report (内部审核报告), management_review_inputs (管理评审输入报告),
management_review_minutes (管理评审报告), compliance_evaluation_report (合规性评价报告),
maturity_report (碳排放管理体系成熟度评价报告, after T/CECA-G Annex B), neutrality_statement
(碳中和声明, every retired unit with its serials) and disclosure_report (碳排放信息披露报告, DB44/T 1944 §8.3).
Images (the trend charts of the review inputs) are docxtpl InlineImage objects, which belong to
the DocxTemplate being rendered: create DocxTemplate(path), build the context with
InlineImage(tpl, png_file, width=...), then tpl.render(ctx, autoescape=True).

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
from functools import cache
from pathlib import Path
from typing import Any

from docx.enum.table import WD_ROW_HEIGHT_RULE, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_doc_templates import (  # noqa: E402
    BODY_FONT,
    HEADING_FONT,
    ROOT,
    TEXT_WIDTH_CM,
    _cell,
    _style,
    heading,
    new_document,
    page_break,
    para,
)

OUT_DIR = ROOT / "doc_templates" / "records"
NONE_MARK = "—"


# --------------------------------------------------------------------------- tag snippets

def _text_lines(expr: str) -> list[str]:
    """Paragraph texts rendering a (possibly multi-line) string one line per paragraph, or "—"."""
    return ["{%p for line in (" + expr + ' or "").splitlines() if line.strip() %}',
            "{{ line }}", "{%p else %}", NONE_MARK, "{%p endfor %}"]


def _list_lines(expr: str, prefix: str = "") -> list[str]:
    """Paragraph texts rendering a list one item per paragraph (after prefix), or "—" when empty."""
    return ["{%p for item in " + expr + " %}", prefix + "{{ item }}", "{%p else %}", NONE_MARK,
            "{%p endfor %}"]


def _joined(expr: str, sep: str = "、") -> str:
    """A run rendering a list joined on one line, or "—" when empty."""
    return "{{ " + expr + '|join("' + sep + '") or "' + NONE_MARK + '" }}'


def _value(expr: str) -> str:
    """A run rendering a value, or "—" when empty."""
    return "{{ " + expr + ' or "' + NONE_MARK + '" }}'


# --------------------------------------------------------------------------- table helpers

def _styles(doc) -> None:
    """Styles used by records on top of the shared ones."""
    _style(doc, "CEMS Title", font=HEADING_FONT, size=18, align=WD_ALIGN_PARAGRAPH.CENTER,
           before=12, after=6)
    _style(doc, "CEMS Subtitle", size=12, align=WD_ALIGN_PARAGRAPH.CENTER, after=12)
    _style(doc, "CEMS Table Center", base="CEMS Table", size=10.5,
           align=WD_ALIGN_PARAGRAPH.CENTER)


def _review_styles(doc) -> None:
    """Styles of the management review and compliance records (the audit report does not use them)."""
    _style(doc, "CEMS Small", size=9, line=1.15, align=WD_ALIGN_PARAGRAPH.LEFT, after=3)
    _style(doc, "CEMS Point", indent=24, before=3)  # list items, apart from a table above
    _style(doc, "CEMS Field", font=HEADING_FONT, size=12, align=WD_ALIGN_PARAGRAPH.LEFT, before=6)
    figure = _style(doc, "CEMS Figure", size=10.5, line=1.0, align=WD_ALIGN_PARAGRAPH.CENTER, before=6)
    figure.paragraph_format.keep_with_next = True  # the caption stays under its image
    _style(doc, "CEMS Caption", size=10.5, line=1.15, align=WD_ALIGN_PARAGRAPH.CENTER, after=6)
    for name, base, font, align in (  # 9pt table text, for many-column tables
            ("CEMS Table Small", "CEMS Table", BODY_FONT, WD_ALIGN_PARAGRAPH.LEFT),
            ("CEMS Table Small Center", "CEMS Table", BODY_FONT, WD_ALIGN_PARAGRAPH.CENTER),
            ("CEMS Table Small Label", "CEMS Table Label", HEADING_FONT, WD_ALIGN_PARAGRAPH.CENTER)):
        _style(doc, name, base=base, font=font, size=9, line=1.0, align=align)


def _fixed_header(doc, title: str) -> None:
    """Header with a fixed title instead of {{ title }} (for records without a title variable)."""
    doc.sections[0].header.paragraphs[0].runs[0].text = "{{ organisation }}\t" + title


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


def _label(cell, text: str, style: str = "CEMS Table Label") -> None:
    _fill(cell, text, style)
    _shade(cell)


def _min_height(row, cm: float) -> None:
    row.height, row.height_rule = Cm(cm), WD_ROW_HEIGHT_RULE.AT_LEAST


def _repeat_header(row) -> None:
    """Repeat this row at the top of every page the table runs onto."""
    flag = OxmlElement("w:tblHeader")
    flag.set(qn("w:val"), "true")
    row._tr.get_or_add_trPr().insert_element_before(
        flag, "w:tblCellSpacing", "w:jc", "w:hidden", "w:ins", "w:del", "w:trPrChange")


def _narrow_margins(table, cm: float = 0.1) -> None:
    """Smaller left and right cell margins (Word's default is 0.19 cm), for many-column tables."""
    mar = OxmlElement("w:tblCellMar")
    for side in ("w:left", "w:right"):
        edge = OxmlElement(side)
        edge.set(qn("w:w"), str(round(cm * 567)))
        edge.set(qn("w:type"), "dxa")
        mar.append(edge)
    table._tbl.tblPr.insert_element_before(mar, "w:tblLook", "w:tblCaption", "w:tblDescription",
                                           "w:tblPrChange")


def _loop_table(doc, columns, loop: str, empty: str | None = None, *, label_style: str = "CEMS Table Label",
                empty_style: str = "CEMS Table Center", height: float = 0.75):
    """A header row and a body row repeated by {%tr for <loop> %}; columns are (label, width, cell
    texts, cell style). With `empty`, a {%tr else %} row shows it in one merged cell."""
    table = _table(doc, 4 if empty is None else 6, tuple(width for _, width, _, _ in columns))
    header, loop_start, body, *rest = table.rows
    _min_height(header, height)
    _min_height(body, height)
    _repeat_header(header)
    for c, (label, _, texts, style) in enumerate(columns):
        _label(header.cells[c], label, label_style)
        _fill(body.cells[c], texts, style)
    # docxtpl drops the tag rows and repeats the body row once per item
    _fill(loop_start.cells[0], "{%tr for " + loop + " %}")
    if empty is not None:
        loop_else, none_row, _ = rest
        _fill(loop_else.cells[0], "{%tr else %}")
        _min_height(none_row, height)
        _fill(none_row.cells[0].merge(none_row.cells[-1]), empty, empty_style)
    _fill(rest[-1].cells[0], "{%tr endfor %}")
    return table


def _labelled_rows(doc, rows, label_w: float = 3.4, height: float = 0.75):
    """A two-column table of (label, value texts) rows."""
    table = _table(doc, len(rows), (label_w, TEXT_WIDTH_CM - label_w))
    for row, (label, value) in zip(table.rows, rows, strict=True):
        _min_height(row, height)
        _label(row.cells[0], label)
        _fill(row.cells[1], value)
    return table


def _signoff_row(doc, pairs, label_w: float = 2.2):
    """One row of (label, value) pairs: label cells shaded, value cells "—" when empty."""
    value_w = TEXT_WIDTH_CM / len(pairs) - label_w
    table = _table(doc, 1, (label_w, value_w) * len(pairs))
    row = table.rows[0]
    _min_height(row, 1.0)
    for c, (label, expr) in enumerate(pairs):
        _label(row.cells[2 * c], label)
        _fill(row.cells[2 * c + 1], _value(expr))
    return table


def _body(doc, texts: list[str], style: str = "CEMS Body") -> None:
    """One paragraph per text."""
    for text in texts:
        para(doc, text, style)


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
    _labelled_rows(doc, rows)


def _audit_findings(doc) -> None:
    para(doc, "符合 {{ counts.conformity }} 项，观察项 {{ counts.observation }} 项，"
              "一般不符合 {{ counts.minor }} 项，严重不符合 {{ counts.major }} 项。")
    para(doc, "{%p if findings %}")
    _loop_table(doc, FINDING_COLUMNS, "f in findings")
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


def audit_report_samples(tpl) -> dict[str, dict]:
    """A full sample (with characters that must be escaped) and an empty one (tpl unused: no image)."""
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


# --------------------------------------------------------------------------- management review inputs

MR_INPUTS_VARS = frozenset({
    "organisation", "code", "title", "period_start", "period_end", "planned_on",
    "prepared_by", "prepared_on", "sections", "charts",
})

FIGURE_COLUMNS = (
    ("项目", 10.0, "{{ f.label }}", "CEMS Table"),
    ("数值", 5.4, "{{ f.value }}", "CEMS Table Center"),
)


def _review_section(doc) -> None:
    """One numbered input per section: clause, summary, figures, items, commentary."""
    para(doc, "{%p for s in sections %}")
    heading(doc, "{{ s.no }}. {{ s.title }}", 2)
    para(doc, "对应条款：{{ s.clause }}", "CEMS Small")
    _body(doc, _text_lines("s.summary"))
    _loop_table(doc, FIGURE_COLUMNS, "f in s.figures", empty=NONE_MARK)
    # s["items"]: s.items would be the dict method
    _body(doc, ['{%p for item in s["items"] %}', "（{{ loop.index }}）{{ item }}", "{%p endfor %}"],
          "CEMS Point")
    para(doc, "管理者代表评价：", "CEMS Field")
    _body(doc, _text_lines("s.commentary"))
    para(doc, "{%p else %}")
    para(doc, NONE_MARK)
    para(doc, "{%p endfor %}")


def build_review_inputs(doc) -> None:
    """管理评审输入报告: info table, the inputs one section each, the trend charts."""
    _review_styles(doc)
    para(doc, "管理评审输入报告", "CEMS Title")
    para(doc, "{{ title }}（{{ code }}）", "CEMS Subtitle")
    _labelled_rows(doc, (("组织", "{{ organisation }}"),
                         ("评审期间", "{{ period_start }} 至 {{ period_end }}"),
                         ("计划评审日期", _value("planned_on")),
                         ("编制人", "{{ prepared_by }}"),
                         ("编制日期", "{{ prepared_on }}")))
    heading(doc, "一、评审输入")
    _review_section(doc)
    para(doc, "{%p if charts %}")
    heading(doc, "二、趋势图")
    para(doc, "{%p for c in charts %}")
    para(doc, "{{ c.image }}", "CEMS Figure")
    para(doc, "图{{ loop.index }} {{ c.title }}", "CEMS Caption")
    para(doc, "{%p endfor %}")
    para(doc, "{%p endif %}")


@cache
def _chart_png(values: tuple[float, ...], ylabel: str) -> bytes:
    """A small bar chart (ASCII labels: no CJK font needed) as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 2.6), dpi=150)
    years = [str(2023 + i) for i in range(len(values))]
    bars = ax.bar(years, values, color="#4a7ab0", width=0.5)
    ax.bar_label(bars, fmt="%g", fontsize=8)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.tick_params(labelsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_ylim(0, max(values) * 1.2)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def review_inputs_samples(tpl) -> dict[str, dict]:
    """A full sample with two charts (InlineImage bound to tpl) and an empty one."""
    from docxtpl import InlineImage

    def chart(values, ylabel):
        return InlineImage(tpl, io.BytesIO(_chart_png(values, ylabel)), width=Cm(15))

    full = {
        "organisation": "示例有限公司", "code": "MR-2026", "title": "2026年度管理评审",
        "period_start": "2025-06-01", "period_end": "2026-05-31", "planned_on": "2026-06-20",
        "prepared_by": "王五", "prepared_on": "2026-06-05",
        "sections": [
            {"no": 1, "title": "以往管理评审所采取措施的状况",
             "clause": "T/CECA-G 10.3.2 a)；DB14/T 2970 9.3.1 a)",
             "summary": "2025年度管理评审共提出措施5项，已完成4项，1项延期至2026年7月。",
             "figures": [{"label": "措施总数", "value": "5"}, {"label": "已完成", "value": "4"},
                         {"label": "完成率", "value": "80%"}],
             "items": ["余热回收改造项目已于2026年3月投运（A&B <C>）。",
                       "能源计量器具配备率提升至98%。"],
             "commentary": "措施落实总体到位。\n延期项目应明确新的完成期限并跟踪。"},
            {"no": 2, "title": "碳排放绩效及目标、指标的实现程度",
             "clause": "T/CECA-G 10.3.2 d)；DB14/T 2970 9.3.1 c)",
             "summary": "2025年温室气体排放总量 41,360 tCO2e，同比下降 3.2%；"
                        "单位产品排放强度 0.82 tCO2e/t，完成年度目标。\n"
                        "3项目标中2项已实现，1项部分实现。",
             "figures": [{"label": "排放总量（tCO2e）", "value": "41,360"},
                         {"label": "单位产品排放强度（tCO2e/t）", "value": "0.82"},
                         {"label": "目标实现率", "value": "2/3"}],
             "items": [], "commentary": ""},
            {"no": 3, "title": "不符合及纠正措施", "clause": "T/CECA-G 10.3.2 e)",
             "summary": "", "figures": [],
             "items": ["不符合项共7项，已关闭5项，逾期1项。"],
             "commentary": "逾期不符合项应在下次评审前关闭。"},
        ],
        "charts": [{"title": "温室气体排放总量（tCO2e）", "image": chart((43500, 42720, 41360), "tCO2e")},
                   {"title": "单位产品排放强度（tCO2e/t）", "image": chart((0.88, 0.85, 0.82), "tCO2e/t")}],
    }
    empty = dict(full, planned_on="", charts=[],
                 sections=[{"no": 1, "title": "以往管理评审所采取措施的状况", "clause": "T/CECA-G 10.3.2 a)",
                            "summary": "", "figures": [], "items": [], "commentary": ""}])
    return {"": full, "_empty": empty}


# --------------------------------------------------------------------------- management review minutes

MR_MINUTES_VARS = frozenset({
    "organisation", "code", "title", "period_start", "period_end", "held_on", "chair", "attendees",
    "inputs_summary", "suitability", "adequacy", "effectiveness", "conclusion",
    "policy_changes", "objective_changes", "system_changes", "improvement", "resource_needs",
    "actions", "signed_by", "signed_on",
})

INPUT_COLUMNS = (
    ("输入", 4.4, "{{ i.title }}", "CEMS Table"),
    ("概要", 11.0, _text_lines("i.summary"), "CEMS Table"),
)

ACTION_COLUMNS = (  # dates and codes fit on one line even with wider fallback fonts (DejaVu)
    ("序号", 1.2, "{{ a.no }}", "CEMS Table Center"),
    ("类别", 2.0, "{{ a.kind }}", "CEMS Table Center"),
    ("措施", 4.6, _text_lines("a.description"), "CEMS Table"),
    ("责任人", 2.0, "{{ a.owner }}", "CEMS Table Center"),
    ("完成期限", 2.6, _value("a.due_on"), "CEMS Table Center"),
    ("不符合项编号", 3.0, _value("a.nonconformity"), "CEMS Table Center"),
)


def build_review_minutes(doc) -> None:
    """管理评审报告: info, inputs summary, conclusions, outputs, actions, approval."""
    _review_styles(doc)
    para(doc, "管理评审报告", "CEMS Title")
    para(doc, "{{ title }}（{{ code }}）", "CEMS Subtitle")
    _labelled_rows(doc, (("组织", "{{ organisation }}"),
                         ("评审期间", "{{ period_start }} 至 {{ period_end }}"),
                         ("会议日期", "{{ held_on }}"),
                         ("主持人", "{{ chair }}"),
                         ("参加人员", _joined("attendees"))))
    heading(doc, "一、评审输入概要")
    _loop_table(doc, INPUT_COLUMNS, "i in inputs_summary", empty=NONE_MARK)
    heading(doc, "二、评审结论")
    _labelled_rows(doc, tuple((label, _text_lines(name)) for label, name in (
        ("体系的适宜性", "suitability"), ("体系的充分性", "adequacy"),
        ("体系的有效性", "effectiveness"), ("总体结论", "conclusion"))))
    heading(doc, "三、评审输出")
    _labelled_rows(doc, tuple((label, _text_lines(name)) for label, name in (
        ("方针的变更", "policy_changes"), ("目标、指标和基准的调整", "objective_changes"),
        ("体系变更的决定", "system_changes"), ("改进的决定", "improvement"),
        ("资源需求", "resource_needs"))))
    heading(doc, "四、措施清单")
    _loop_table(doc, ACTION_COLUMNS, "a in actions", empty=NONE_MARK)
    heading(doc, "五、批准")
    _signoff_row(doc, (("批准人", "signed_by"), ("批准日期", "signed_on")))
    para(doc, "", "Normal")


def review_minutes_samples(tpl) -> dict[str, dict]:
    """A full (signed) sample and an empty draft (tpl unused: no image)."""
    full = {
        "organisation": "示例有限公司", "code": "MR-2026", "title": "2026年度管理评审",
        "period_start": "2025-06-01", "period_end": "2026-05-31", "held_on": "2026-06-20",
        "chair": "张三", "attendees": ["张三", "李四", "王五", "赵六", "孙七"],
        "inputs_summary": [
            {"title": "以往管理评审所采取措施的状况", "summary": "5项措施完成4项，1项延期。"},
            {"title": "碳排放绩效", "summary": "排放总量同比下降3.2%（A&B <C>）。\n单位产品排放强度完成年度目标。"},
            {"title": "合规性评价结果", "summary": "12项合规义务评价10项，不合规1项。"},
            {"title": "内部审核结果", "summary": "一般不符合2项，观察项1项。"},
        ],
        "suitability": "体系范围和边界与公司当前生产经营活动相适应。",
        "adequacy": "体系文件覆盖标准全部要求。\n碳排放数据管理程序需补充计量器具校准要求。",
        "effectiveness": "碳排放目标基本实现，体系运行有效。",
        "conclusion": "碳排放管理体系适宜、充分、有效（A&B <C>）。",
        "policy_changes": "方针保持不变。",
        "objective_changes": "2027年单位产品排放强度目标调整为 0.80 tCO2e/t。\n基准年保持2023年。",
        "system_changes": "", "improvement": "实施2号锅炉节能改造。\n推进碳排放数据自动采集。",
        "resource_needs": "节能改造预算 120 万元。",
        "actions": [
            {"no": 1, "kind": "改进", "description": "实施2号锅炉节能改造，年减排约 800 tCO2e。",
             "owner": "设备部", "due_on": "2026-12-31", "nonconformity": ""},
            {"no": 2, "kind": "纠正措施", "description": "修订碳排放数据管理程序，补充流量计校准要求。",
             "owner": "质量安全环保部", "due_on": "2026-08-31", "nonconformity": "NC-2026-008"},
            {"no": 3, "kind": "资源", "description": "配备碳排放数据自动采集系统。", "owner": "生产部",
             "due_on": "", "nonconformity": ""},
        ],
        "signed_by": "张三", "signed_on": "2026-06-25",
    }
    empty = dict(full, attendees=[], inputs_summary=[], suitability="", adequacy="", effectiveness="",
                 conclusion="", policy_changes="", objective_changes="", system_changes="",
                 improvement="", resource_needs="", actions=[], signed_by="", signed_on="")
    return {"": full, "_empty": empty}


# --------------------------------------------------------------------------- compliance evaluation

COMPLIANCE_VARS = frozenset({
    "organisation", "period_start", "period_end", "prepared_by", "prepared_on",
    "totals", "rows", "not_evaluated", "conclusion",
})

TOTALS = (("合规义务总数", "obligations"), ("已评价", "evaluated"), ("合规", "compliant"),
          ("不合规", "non_compliant"), ("不适用", "not_applicable"), ("未评价", "not_evaluated"))

EVALUATION_COLUMNS = (  # 9pt, narrow cell margins; dates on one line even with DejaVu fonts
    ("序号", 0.9, "{{ r.no }}", "CEMS Table Small Center"),
    ("法律法规/要求", 2.5, ["{{ r.title }}", "频次：" + _value("r.frequency")], "CEMS Table Small"),
    ("条文", 1.5, _value("r.article"), "CEMS Table Small"),
    ("责任部门", 1.5, _value("r.department"), "CEMS Table Small Center"),
    ("评价结果", 1.5, _value("r.result"), "CEMS Table Small Center"),
    ("评价人/确认人", 1.4, [_value("r.evaluated_by") + "/", _value("r.confirmed_by")],
     "CEMS Table Small Center"),
    ("评价日期", 2.1, _value("r.evaluated_on"), "CEMS Table Small Center"),
    ("证据", 2.1, _text_lines("r.evidence"), "CEMS Table Small"),
    ("不符合项", 1.9, _value("r.nonconformity"), "CEMS Table Small Center"),
)


def _compliance_totals(doc) -> None:
    first_w = 3.0  # 合规义务总数 on one line
    rest_w = (TEXT_WIDTH_CM - first_w) / (len(TOTALS) - 1)
    table = _table(doc, 2, (first_w,) + (rest_w,) * (len(TOTALS) - 1))
    labels, values = table.rows
    _min_height(labels, 0.75)
    _min_height(values, 0.75)
    for c, (label, key) in enumerate(TOTALS):
        _label(labels.cells[c], label)
        _fill(values.cells[c], "{{ totals." + key + " }}", "CEMS Table Center")


def build_compliance_report(doc) -> None:
    """合规性评价报告: info, totals, one row per evaluation, obligations not evaluated, conclusion."""
    _review_styles(doc)
    _fixed_header(doc, "合规性评价报告")
    para(doc, "合规性评价报告", "CEMS Title")
    para(doc, "评价期间：{{ period_start }} 至 {{ period_end }}", "CEMS Subtitle")
    _labelled_rows(doc, (("组织", "{{ organisation }}"), ("编制人", "{{ prepared_by }}"),
                         ("编制日期", "{{ prepared_on }}")))
    heading(doc, "一、评价概况")
    _compliance_totals(doc)
    heading(doc, "二、评价明细")
    table = _loop_table(doc, EVALUATION_COLUMNS, "r in rows", empty=NONE_MARK, height=0.7,
                        label_style="CEMS Table Small Label", empty_style="CEMS Table Small Center")
    _narrow_margins(table)
    heading(doc, "三、未评价的义务")
    _body(doc, _list_lines("not_evaluated", "（{{ loop.index }}）"), "CEMS Item")
    heading(doc, "四、评价结论")
    _body(doc, _text_lines("conclusion"))


def compliance_samples(tpl) -> dict[str, dict]:
    """A full sample and an empty one (tpl unused: no image)."""
    row = {"no": 1, "title": "中华人民共和国节约能源法", "article": "第二十七条", "department": "生产部",
           "frequency": "每年", "result": "合规", "evaluated_on": "2026-05-12", "evaluated_by": "李四",
           "confirmed_by": "张三", "evidence": "能源计量器具台账、2025年能源统计报表。",
           "nonconformity": ""}
    full = {
        "organisation": "示例有限公司", "period_start": "2025-06-01", "period_end": "2026-05-31",
        "prepared_by": "李四", "prepared_on": "2026-06-02",
        "totals": {"obligations": 12, "evaluated": 10, "compliant": 8, "non_compliant": 1,
                   "not_applicable": 1, "not_evaluated": 2},
        "rows": [
            row,
            dict(row, no=2, title="碳排放权交易管理暂行条例", article="第十一条", department="质量安全环保部",
                 frequency="每季度", result="不合规", evaluated_on="2026-04-20",
                 evidence="2025年度排放报告提交晚于规定期限（A&B <C>）。\n主管部门通知书。",
                 nonconformity="NC-2026-011"),
            dict(row, no=3, title="DB44/T 1944-2021 碳排放管理体系 要求", article="8.2",
                 department="设备部", result="合规", confirmed_by="", evidence=""),
            dict(row, no=4, title="锅炉大气污染物排放标准", article="", department="",
                 result="不适用", evaluated_on="", evaluated_by="", confirmed_by="", evidence=""),
        ],
        "not_evaluated": ["温室气体自愿减排交易管理办法（试行）", "广东省碳排放管理试行办法"],
        "conclusion": "公司总体满足适用的法律法规及其他要求（A&B <C>）。\n"
                      "对不合规项已开具不符合项报告，责任部门应在30日内完成纠正。",
    }
    empty = dict(full, totals=dict.fromkeys(full["totals"], 0), rows=[], not_evaluated=[],
                 conclusion="")
    return {"": full, "_empty": empty}


# --------------------------------------------------------------------------- maturity evaluation report

MATURITY_VARS = frozenset({
    "organisation", "code", "title", "period_start", "period_end", "evaluated_on", "lead", "team",
    "objective", "criteria", "scope", "schedule", "method", "overview", "findings",
    "qualitative", "qual_total", "quant", "weights", "composite", "rating", "stars",
    "conclusion", "nonconformities", "approved_by", "approved_on", "valid_until",
})

MATURITY_TITLE = "碳排放管理体系成熟度评价报告"
INDENT_L3 = "　　"  # two full-width spaces before a level-3 item (评分项)

QUALITATIVE_COLUMNS = (  # label, width (cm), cell text, centred; level-1 rows bold and shaded
    ("代码", 1.8, "{{ row.code }}", True),
    ("指标/评分项", 6.0, "{% if row.level == 3 %}" + INDENT_L3 + "{% endif %}{{ row.title }}", False),
    ("分值", 1.2, "{{ row.points }}", True),
    ("得分", 1.2, "{{ row.score }}", True),
    ("评分说明", 5.2, "{{ row.justification }}", False),  # blank when empty; newlines become line breaks
)

QUANT_COLUMNS = (  # label, width (cm), quant key
    ("评价指标", 2.8, "indicator"), ("评价方法", 2.4, "method"), ("碳排放强度", 2.8, "intensity"),
    ("行业先进值或历史最优值", 3.2, "reference"), ("比值", 1.8, "ratio"), ("得分", 2.4, "score"),
)

STAR_COLUMNS = (
    ("等级", 4.0, "{{ s.label }}", "CEMS Table Center"),
    ("综合得分", 6.0, "{{ s.range }}", "CEMS Table Center"),
    ("本次结果", 5.4, "{% if s.label == rating %}本次评价等级{% endif %}", "CEMS Table Center"),
)

NC_LIST_COLUMNS = (
    ("序号", 1.2, "{{ n.no }}", "CEMS Table Center"),
    ("不符合项编号", 3.0, "{{ n.code }}", "CEMS Table Center"),
    ("不符合项", 8.6, "{{ n.title }}", "CEMS Table"),
    ("状态", 2.6, "{{ n.status }}", "CEMS Table Center"),
)


def _maturity_styles(doc) -> None:
    """Cover page and bold (level-1) table styles of the maturity report."""
    _style(doc, "CEMS Cover Org", font=HEADING_FONT, size=16, align=WD_ALIGN_PARAGRAPH.CENTER, before=110, after=18)
    _style(doc, "CEMS Cover Title", font=HEADING_FONT, size=24, align=WD_ALIGN_PARAGRAPH.CENTER, after=12)
    _style(doc, "CEMS Cover Space", size=12, before=90)
    _style(doc, "CEMS Formula", line=1.5, align=WD_ALIGN_PARAGRAPH.CENTER, before=6, after=6)
    for name, align in (("CEMS Table Small Bold", WD_ALIGN_PARAGRAPH.LEFT),
                        ("CEMS Table Small Bold Center", WD_ALIGN_PARAGRAPH.CENTER)):
        _style(doc, name, base="CEMS Table", size=9, line=1.0, bold=True, align=align)


def _maturity_cover(doc) -> None:
    """Cover (Annex B.2): organisation, report title, evaluation title, fields table, page break."""
    para(doc, "{{ organisation }}", "CEMS Cover Org")
    para(doc, MATURITY_TITLE, "CEMS Cover Title")
    para(doc, "{{ title }}", "CEMS Subtitle")
    para(doc, "", "CEMS Cover Space")
    _labelled_rows(doc, (("报告编号", "{{ code }}"),
                         ("组织名称", "{{ organisation }}"),
                         ("评价期间", "{{ period_start }} 至 {{ period_end }}"),
                         ("评价日期", _value("evaluated_on")),
                         ("评价组组长", _value("lead")),
                         ("评价结果", _value("rating"))), height=0.9)
    page_break(doc)


def _qualitative_row(cells, level1: bool) -> None:
    for cell, (_, _, text, centred) in zip(cells, QUALITATIVE_COLUMNS, strict=True):
        style = "CEMS Table Small " + ("Bold " if level1 else "") + ("Center" if centred else "")
        _fill(cell, text, style.strip())
        if level1:
            _shade(cell)


def _qualitative_table(doc) -> None:
    """One table of level-1 indicators (bold, shaded), level-2 indicators and level-3 items (indented),
    "—" when empty, and the total row. docxtpl keeps the {%tr %} rows as plain Jinja tags."""
    table = _table(doc, 11, tuple(width for _, width, _, _ in QUALITATIVE_COLUMNS))
    header, loop, cond, top, other, item, endif, loop_else, none_row, endloop, total = table.rows
    _repeat_header(header)
    for row in (header, top, item, none_row, total):
        _min_height(row, 0.7)
    for cell, (label, *_) in zip(header.cells, QUALITATIVE_COLUMNS, strict=True):
        _label(cell, label, "CEMS Table Small Label")
    for row, tag in ((loop, "for row in qualitative"), (cond, "if row.level == 1"), (other, "else"),
                     (endif, "endif"), (loop_else, "else"), (endloop, "endfor")):
        _fill(row.cells[0], "{%tr " + tag + " %}")
    _qualitative_row(top.cells, True)
    _qualitative_row(item.cells, False)
    _fill(none_row.cells[0].merge(none_row.cells[-1]), NONE_MARK, "CEMS Table Small Center")
    _label(total.cells[0].merge(total.cells[1]), "定性评价得分 S定性", "CEMS Table Small Label")
    _fill(total.cells[2], "100", "CEMS Table Small Center")
    _fill(total.cells[3], _value("qual_total"), "CEMS Table Small Bold Center")
    _fill(total.cells[4], "", "CEMS Table Small")
    _narrow_margins(table)


def _quant_table(doc) -> None:
    table = _table(doc, 2, tuple(width for _, width, _ in QUANT_COLUMNS))
    labels, values = table.rows
    _min_height(labels, 0.7)
    _min_height(values, 0.75)
    for c, (label, _, key) in enumerate(QUANT_COLUMNS):
        _label(labels.cells[c], label, "CEMS Table Small Label")
        _fill(values.cells[c], _value("quant." + key), "CEMS Table Small Center")
    _narrow_margins(table)


def _maturity_scores(doc) -> None:
    """四、评分结果: qualitative table, quantitative table, composite formula, rating, star bands."""
    heading(doc, "四、评分结果")
    heading(doc, "（一）定性评价", 2)
    _qualitative_table(doc)
    heading(doc, "（二）定量评价", 2)
    _quant_table(doc)
    heading(doc, "（三）综合得分与评价等级", 2)
    para(doc, "I = a1 × S定性 + a2 × S定量 = " + _value("weights.qualitative") + " × " + _value("qual_total")
         + " + " + _value("weights.quantitative") + " × " + _value("quant.score") + " = " + _value("composite"),
         "CEMS Formula")
    para(doc, "式中：I——综合得分；S定性——定性评价得分；S定量——定量评价得分；"
              "a1、a2——定性、定量评价指标权重。", "CEMS Small")
    para(doc, "成熟度评价等级：").add_run(_value("rating")).bold = True
    para(doc, "评价等级按综合得分划分如下：").paragraph_format.keep_with_next = True  # stays with the table
    _loop_table(doc, STAR_COLUMNS, "s in stars", empty=NONE_MARK)


def _maturity_findings(doc) -> None:
    """三、评价发现: one sub-heading per area (策划（P）…) with its text, or "—"."""
    heading(doc, "三、评价发现")
    para(doc, "{%p for f in findings %}")
    heading(doc, "{{ loop.index }}. {{ f.area }}", 2)
    _body(doc, _text_lines("f.text"))
    para(doc, "{%p else %}")
    para(doc, NONE_MARK)
    para(doc, "{%p endfor %}")


def build_maturity_report(doc) -> None:
    """碳排放管理体系成熟度评价报告 (T/CECA-G Annex B): cover, overview, process and methods, findings,
    scores, conclusion, annex (nonconformities), approval."""
    _review_styles(doc)
    _maturity_styles(doc)
    _fixed_header(doc, MATURITY_TITLE + "　{{ code }}")
    _maturity_cover(doc)
    heading(doc, "一、概述")
    _body(doc, _text_lines("overview"))
    _labelled_rows(doc, (("评价目的", _text_lines("objective")), ("评价准则", _text_lines("criteria")),
                         ("评价范围", _text_lines("scope"))))
    heading(doc, "二、评价过程和方法")
    _labelled_rows(doc, (("评价组组长", _value("lead")), ("评价组成员", _joined("team")),
                         ("评价日程", _text_lines("schedule")), ("评价方法", _text_lines("method"))))
    _maturity_findings(doc)
    _maturity_scores(doc)
    heading(doc, "五、评价结论")
    _body(doc, _text_lines("conclusion"))
    heading(doc, "附件：不符合项清单")
    _loop_table(doc, NC_LIST_COLUMNS, "n in nonconformities", empty=NONE_MARK)
    heading(doc, "批准")
    _signoff_row(doc, (("批准人", "approved_by"), ("批准日期", "approved_on"), ("有效期至", "valid_until")))
    para(doc, "", "Normal")


def _maturity_rows() -> list[dict]:
    """Scores of a cement plant: six level-1 indicators, some level-2 indicators and level-3 items."""
    def row(level, code, title, points, score, justification=""):
        return {"level": level, "code": code, "title": title, "points": points, "score": score,
                "justification": justification}

    return [
        row(1, "Q1", "组织构建", "14", "13"),
        row(2, "Q1.1", "最高管理者及承诺", "7", "7", "总经理签发管理手册，任命管理者代表，批准碳排放管理专项预算。"),
        row(2, "Q1.3", "组织的角色、职责和权限", "3", "2"),
        row(3, "Q1.3.1", "管理者代表经授权组织开展碳排放管理，并向最高管理者报告绩效", "1", "1"),
        row(3, "Q1.3.3", "在组织内明确规定并传达碳排放管理相关职责和权限", "1", "0",
            "烧成车间岗位职责未包含碳排放数据记录要求。"),
        row(1, "Q2", "策划", "25", "21"),
        row(2, "Q2.3", "温室气体排放源、基准年、碳排放管理绩效参数等", "8", "6"),
        row(3, "Q2.3.2", "确定绩效参数及其监测方法，并论证参数的先进水平", "2", "1",
            "熟料单位产品碳排放强度未与行业先进值对标论证。"),
        row(3, "Q2.3.4", "规定绩效数据的种类及收集途径、频次和方法，并形成文件", "2", "1",
            "替代燃料（生物质、废轮胎）消耗量未规定收集频次。\n数据由物流部月底汇总，A&B <C> 两班记录口径不一。"),
        row(2, "Q2.5", "法律法规和其他要求", "8", "6", "法律法规清单未按规定每半年评审一次。"),
        row(1, "Q3", "支持", "18", "15"),
        row(2, "Q3.2", "能力和意识", "8", "6", "中控室操作员未接受碳排放核算培训。"),
        row(1, "Q4", "运行", "17", "14"),
        row(2, "Q4.2", "运行控制", "4", "3"),
        row(3, "Q4.2.1", "对活动数据和排放因子从采集到报送的全过程规定数据质量控制要求", "2", "1",
            "入窑生料碳酸盐含量化验频次低于核算指南要求。"),
        row(2, "Q4.4", "碳资产管理", "4", "4", "2024年度配额已按期足额清缴。"),
        row(1, "Q5", "绩效评价", "20", "16"),
        row(2, "Q5.1", "监视、测量、分析和评价", "8", "6"),
        row(3, "Q5.1.3", "监测设备定期检定或校准，数据准确且可重现", "2", "0", "2号窑头煤粉秤校准证书已过期。"),
        row(1, "Q6", "改进", "6", "5"),
    ]


def maturity_samples(tpl) -> dict[str, dict]:
    """A full (approved) report of a cement plant and an empty draft (tpl unused: no image)."""
    full = {
        "organisation": "示例水泥有限公司", "code": "ME-2026-01", "title": "2025年度碳排放管理体系成熟度评价",
        "period_start": "2025-01-01", "period_end": "2025-12-31", "evaluated_on": "2026-03-20",
        "lead": "李四", "team": ["李四", "王五", "赵六"],
        "objective": "评价公司碳排放管理体系建设实施效果，确定成熟度等级。\n识别体系的薄弱环节和改进机会。",
        "criteria": "T/CECA-G 00XX—2023 碳排放管理体系建设与评价指南\n公司碳排放管理手册及程序文件\n"
                    "中国水泥生产企业温室气体排放核算方法与报告指南",
        "scope": "2条5000 t/d新型干法熟料生产线、水泥粉磨系统和9 MW余热发电系统的碳排放管理活动。",
        "schedule": "2026-03-09 至 2026-03-13 文件评价\n2026-03-18 首次会议、查阅材料、人员访谈\n"
                    "2026-03-19 现场察看窑系统、煤磨和余热发电系统\n2026-03-20 评价组内部会议、总结会",
        "method": "文件评价：审查管理手册、程序文件、2025年度碳排放报告和核查报告。\n"
                  "现场评价：查阅记录、访谈管理层和岗位人员、察看主要排放设施及计量器具。\n"
                  "评分：按定性评价指标评分细则逐项评分，按碳排放强度计算定量评价得分。",
        "overview": "示例水泥有限公司主要生产P·O 42.5水泥，2025年生产熟料 312 万吨、水泥 405 万吨。\n"
                    "公司于2024年建立碳排放管理体系，纳入全国碳排放权交易市场管理。",
        "findings": [
            {"area": "策划（P）", "text": "已识别窑系统燃料燃烧、碳酸盐分解和外购电力等排放源，并设定2023年为基准年。\n"
                                         "绩效参数未与行业先进值对标论证。"},
            {"area": "实施（D）", "text": "数据质量控制计划已执行，配额按期清缴。\n"
                                         "替代燃料消耗量收集频次未作规定（A&B <C>）。"},
            {"area": "检查（C）", "text": "2号窑头煤粉秤校准证书已过期，开具不符合项。"},
            {"area": "改进（A）", "text": "2025年内审发现的3项不符合均已关闭，纠正措施有效。"},
        ],
        "qualitative": _maturity_rows(), "qual_total": "84",
        "quant": {"indicator": "熟料单位产品碳排放强度", "method": "行业先进值法",
                  "intensity": "0.842 tCO2/t", "reference": "0.820 tCO2/t", "ratio": "1.027", "score": "80"},
        "weights": {"qualitative": "0.6", "quantitative": "0.4"}, "composite": "82.4", "rating": "二星",
        "stars": [{"range": "90–100", "label": "三星"}, {"range": "80–89", "label": "二星"},
                  {"range": "60–79", "label": "一星"}, {"range": "0–59", "label": "不合格"}],
        "conclusion": "公司碳排放管理体系建设基本完整，运行有效，综合得分82.4分，成熟度等级为二星。\n"
                      "建议加强绩效参数对标和计量器具管理。",
        "nonconformities": [
            {"no": 1, "code": "NC-2026-012", "title": "2号窑头煤粉秤校准证书已过期", "status": "整改中"},
            {"no": 2, "code": "NC-2026-013", "title": "法律法规清单未按规定间隔评审", "status": "已关闭"},
        ],
        "approved_by": "张三", "approved_on": "2026-04-02", "valid_until": "2029-04-01",
    }
    empty = dict(full, evaluated_on="", team=[], objective="", criteria="", scope="", schedule="", method="",
                 overview="", findings=[], qualitative=[], qual_total="", quant=dict.fromkeys(full["quant"], ""),
                 weights={"qualitative": "", "quantitative": ""}, composite="", rating="", stars=[],
                 conclusion="", nonconformities=[], approved_by="", approved_on="", valid_until="")
    return {"": full, "_empty": empty}


# --------------------------------------------------------------------------- registry

# --------------------------------------------------------------------------- carbon-neutrality statement

NEUTRALITY_VARS = frozenset({
    "organisation", "code", "period_start", "period_end", "boundary", "emissions", "offsets", "net",
    "tolerance", "status", "conclusion", "units", "issued_by", "issued_on",
})

NEUTRALITY_BALANCE = (("碳排放量（tCO2e）", "emissions", 3.0), ("碳抵销量（tCO2e）", "offsets", 3.0),
                      ("净排放量（tCO2e）", "net", 3.0), ("容差", "tolerance", 2.0), ("结论", "status", 4.4))

UNIT_COLUMNS = (  # every retired unit with its serial numbers, 9pt
    ("序号", 0.9, "{{ u.no }}", "CEMS Table Small Center"),
    ("类型", 1.7, "{{ u.type }}", "CEMS Table Small"),
    ("项目/批次", 2.8, ["{{ u.project }}", _value("u.methodology")], "CEMS Table Small"),
    ("产生年份", 1.2, _value("u.vintage"), "CEMS Table Small Center"),
    ("序列号", 4.6, [_value("u.serials"), _value("u.registry")], "CEMS Table Small"),
    ("数量", 1.6, "{{ u.quantity }} {{ u.unit }}", "CEMS Table Small Center"),
    ("注销交易/日期", 2.6, ["{{ u.transaction }}", "{{ u.retired_on }}"], "CEMS Table Small Center"),
)


def _balance_table(doc, columns, height: float = 0.75) -> None:
    """Two rows: shaded labels, then the values; columns are (label, variable, width)."""
    table = _table(doc, 2, tuple(width for _, _, width in columns))
    labels, values = table.rows
    _min_height(labels, height)
    _min_height(values, height)
    for c, (label, key, _) in enumerate(columns):
        _label(labels.cells[c], label)
        _fill(values.cells[c], "{{ " + key + " }}", "CEMS Table Center")


def build_neutrality_statement(doc) -> None:
    """碳中和声明: period and boundary, the balance, every retired unit with its serials, the statement."""
    _review_styles(doc)
    _fixed_header(doc, "碳中和声明")
    para(doc, "碳中和声明", "CEMS Title")
    para(doc, "编号：{{ code }}", "CEMS Subtitle")
    _labelled_rows(doc, (("组织", "{{ organisation }}"),
                         ("核算期间", "{{ period_start }} 至 {{ period_end }}"),
                         ("核算边界", "{{ boundary }}")))
    heading(doc, "一、碳排放量与碳抵销量")
    _balance_table(doc, NEUTRALITY_BALANCE)
    heading(doc, "二、用于抵销的已注销单位")
    table = _loop_table(doc, UNIT_COLUMNS, "u in units", empty=NONE_MARK, height=0.7,
                        label_style="CEMS Table Small Label", empty_style="CEMS Table Small Center")
    _narrow_margins(table)
    heading(doc, "三、声明")
    _body(doc, _text_lines("conclusion"))
    para(doc, "上表所列单位均已在登记系统注销，仅用于本声明，不再用于其他抵销或声明。")
    para(doc, "", "Normal")
    _signoff_row(doc, (("声明人", "issued_by"), ("日期", "issued_on")))


def neutrality_samples(tpl) -> dict[str, dict]:
    """A statement with three units (one with characters to escape) and an empty one (tpl unused)."""
    unit = {"no": 1, "type": "国家核证自愿减排量（CCER）", "project": "某风电场项目",
            "methodology": "CCER-14-001-V01 并网海上风力发电", "vintage": "2024",
            "serials": "CCER-14-2024-HB-100001–CCER-14-2024-HB-102000", "quantity": "2,000", "unit": "tCO2e",
            "transaction": "TX-2026-0012", "retired_on": "2026-10-15", "registry": "全国温室气体自愿减排注册登记系统"}
    full = {
        "organisation": "示例有限公司", "code": "TZH-2026-0001", "period_start": "2026-01-01",
        "period_end": "2026-12-31", "boundary": "办公楼（A&B <C>）", "emissions": "2,150.00", "offsets": "2,200.00",
        "net": "-50.00", "tolerance": "5.0%", "status": "已实现碳中和",
        "conclusion": "本期碳抵销量不小于碳排放量，在上述边界内实现碳中和。",
        "units": [unit, dict(unit, no=2, type="碳汇", project="林业碳汇（A&B <C>）", methodology="", vintage="2025",
                             serials="FC-2025-1–FC-2025-150", quantity="150", transaction="TX-2026-0013"),
                  dict(unit, no=3, serials="CCER-14-2024-HB-102001", quantity="1", registry="")],
        "issued_by": "张三", "issued_on": "2027-01-20",
    }
    empty = dict(full, units=[], conclusion="")
    return {"": full, "_empty": empty}


# --------------------------------------------------------------------------- disclosure report

DISCLOSURE_VARS = frozenset({
    "organisation", "criteria", "mandatory", "frequency", "scope", "audience", "department", "prepared_by",
    "prepared_on", "year", "verified_emissions", "verifier", "verification", "accounted_emissions",
    "compliance", "intensities", "targets", "actions", "neutrality",
})

INTENSITY_COLUMNS = (("指标", 6.4, "{{ i.name }}", "CEMS Table"), ("本年度", 3.0, "{{ i.value }}", "CEMS Table Center"),
                     ("目标值", 3.0, "{{ i.target }}", "CEMS Table Center"),
                     ("单位", 3.0, "{{ i.unit }}", "CEMS Table Small Center"))
TARGET_COLUMNS = (("目标", 4.2, "{{ t.title }}", "CEMS Table Small"),
                  ("指标", 3.8, "{{ t.indicator }}", "CEMS Table Small"),
                  ("基准值", 1.6, _value("t.base"), "CEMS Table Small Center"),
                  ("目标值", 1.6, "{{ t.target }}", "CEMS Table Small Center"),
                  ("单位", 1.8, "{{ t.unit }}", "CEMS Table Small Center"),
                  ("期限", 2.4, "{{ t.deadline }}", "CEMS Table Small Center"))
DISCLOSURE_ACTION_COLUMNS = (("减排措施", 9.4, "{{ a.title }}", "CEMS Table"),
                             ("年减排量（tCO2e）", 3.6, "{{ a.reduction }}", "CEMS Table Center"),
                             ("实施状态", 2.4, "{{ a.status }}", "CEMS Table Center"))


def build_disclosure_report(doc) -> None:
    """碳排放信息披露报告: criteria, verified emissions, compliance, intensity, targets, actions, neutrality."""
    _review_styles(doc)
    _fixed_header(doc, "碳排放信息披露报告")
    para(doc, "{{ year }} 年度碳排放信息披露报告", "CEMS Title")
    para(doc, "{{ organisation }}", "CEMS Subtitle")
    _labelled_rows(doc, (("披露准则", "{{ criteria }}"), ("披露性质", "{{ mandatory }}"),
                         ("披露频次", "{{ frequency }}"), ("披露范围", _text_lines("scope")),
                         ("披露对象和渠道", _value("audience")), ("编制部门", "{{ department }}"),
                         ("编制人", "{{ prepared_by }}"), ("编制日期", "{{ prepared_on }}")))
    heading(doc, "一、经核查的温室气体排放量")
    para(doc, "{{ year }} 年度经第三方核查机构{{ verifier }}核查（{{ verification }}）的温室气体排放量为 "
              "{{ verified_emissions }} tCO2e，企业核算值为 {{ accounted_emissions }} tCO2e。")
    heading(doc, "二、碳排放配额履约")
    _body(doc, _text_lines("compliance"))
    heading(doc, "三、碳排放强度")
    _loop_table(doc, INTENSITY_COLUMNS, "i in intensities", empty=NONE_MARK)
    heading(doc, "四、碳排放管理目标")
    table = _loop_table(doc, TARGET_COLUMNS, "t in targets", empty=NONE_MARK, height=0.7,
                        label_style="CEMS Table Small Label", empty_style="CEMS Table Small Center")
    _narrow_margins(table)
    heading(doc, "五、减排行动")
    _loop_table(doc, DISCLOSURE_ACTION_COLUMNS, "a in actions", empty=NONE_MARK)
    heading(doc, "六、碳中和")
    _body(doc, _list_lines("neutrality"))


def disclosure_samples(tpl) -> dict[str, dict]:
    """A full report of a cement plant and an empty one (tpl unused: no image)."""
    full = {
        "organisation": "示例水泥有限公司", "criteria": "年度碳排放信息披露准则", "mandatory": "自愿性披露",
        "frequency": "每年", "scope": "组织边界内全部排放源的直接和间接排放（A&B <C>）。\n排放强度和减排行动。",
        "audience": "公司网站、社会责任报告", "department": "能源管理部", "prepared_by": "李四",
        "prepared_on": "2026-05-20", "year": 2025, "verified_emissions": "1,203,456.00",
        "verifier": "某核查机构", "verification": "HC-2025-0001", "accounted_emissions": "1,204,120.50",
        "compliance": "LY-2025：已完成清缴，核定配额 1,180,000.00 tCO2e，已清缴 1,203,456.00 tCO2e",
        "intensities": [{"name": "单位熟料二氧化碳排放", "value": "0.8120", "target": "0.8000",
                         "unit": "tCO2e/t"}],
        "targets": [{"title": "单位熟料二氧化碳排放降至800 kgCO2/t", "indicator": "单位熟料二氧化碳排放",
                     "base": "815.8", "target": "800", "unit": "kgCO2/t", "deadline": "2026-12-31",
                     "action": ""}],
        "actions": [{"title": "篦冷机改造", "reduction": "18,000.00", "status": "已实施"},
                    {"title": "电石渣替代石灰石", "reduction": "60,000.00", "status": "实施中"}],
        "neutrality": ["TZH-2025-0001（2025-01-01–2025-12-31，办公楼）：已实现碳中和，净排放 -12.00 tCO2e"],
    }
    empty = dict(full, audience="", intensities=[], targets=[], actions=[], neutrality=[], scope="")
    return {"": full, "_empty": empty}


SAMPLES = ("", "_empty")  # suffixes of the full and the empty sample of every record


@dataclass(frozen=True)
class RecordSpec:
    """A record template: file name, title, exact variables, builder, sample factory and checks.

    samples(tpl) returns {suffix: context} for the DocxTemplate about to be rendered (an
    InlineImage belongs to one template), so it is called again for every rendering. check(ctx,
    text, doc) returns content problems of a rendered document.
    """

    name: str
    title: str
    variables: frozenset[str]
    build: Callable
    samples: Callable[[Any], dict[str, dict]]
    check: Callable[[dict, str, Any], list[str]] | None = None


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

def _all_text(data: bytes) -> tuple[str, Any]:
    """Text of header, body paragraphs and tables of a rendered document, and the document."""
    from docx import Document

    doc = Document(io.BytesIO(data))
    parts = [p.text for s in doc.sections for p in s.header.paragraphs]
    parts += [p.text for p in doc.paragraphs]
    parts += [c.text for t in doc.tables for r in t.rows for c in r.cells]
    return "\n".join(parts), doc


def _body_rows(doc, last_header: str) -> list[int]:
    """Body row counts of the tables whose header row ends with last_header."""
    return [len(t.rows) - 1 for t in doc.tables if t.rows[0].cells[-1].text == last_header]


def _check_rows(what: str, found: list[int], items: list[list]) -> list[str]:
    """One body row per item, or the single "—" row of an empty list, in each table."""
    expected = [len(i) or 1 for i in items]
    return [] if found == expected else [f"{what} tables have {found} rows, expected {expected}"]


def _check_audit(ctx: dict, text: str, doc) -> list[str]:
    findings = ctx["findings"]
    problems = []
    if ("无审核发现" in text) == bool(findings):
        problems.append("'无审核发现' shown/hidden wrongly")
    rows = (_body_rows(doc, "不符合项编号") or [0])[0]
    if rows != len(findings):
        problems.append(f"findings table has {rows} rows for {len(findings)} findings")
    return problems


def _check_review_inputs(ctx: dict, text: str, doc) -> list[str]:
    charts = ctx["charts"]
    problems = _check_rows("figures", _body_rows(doc, "数值"), [s["figures"] for s in ctx["sections"]])
    if len(doc.inline_shapes) != len(charts):
        problems.append(f"{len(doc.inline_shapes)} images for {len(charts)} charts")
    if ("二、趋势图" in text) != bool(charts):
        problems.append("'二、趋势图' shown/hidden wrongly")
    return problems


def _check_review_minutes(ctx: dict, text: str, doc) -> list[str]:
    return (_check_rows("inputs", _body_rows(doc, "概要"), [ctx["inputs_summary"]])
            + _check_rows("actions", _body_rows(doc, "不符合项编号"), [ctx["actions"]]))


def _check_compliance(ctx: dict, text: str, doc) -> list[str]:
    return _check_rows("evaluation", _body_rows(doc, "不符合项"), [ctx["rows"]])


def _check_qualitative(rows: list[dict], doc) -> list[str]:
    """One row per item plus the total row; level-1 rows bold, level-3 titles indented."""
    tables = [t for t in doc.tables if t.rows[0].cells[-1].text == "评分说明"]
    if len(tables) != 1 or len(tables[0].rows) != (len(rows) or 1) + 2:
        return [f"qualitative table: {[len(t.rows) for t in tables]} rows for {len(rows)} items"]
    problems = []
    for row, cells in zip(rows, (r.cells for r in tables[0].rows[1:]), strict=False):
        if (cells[0].paragraphs[0].style.name == "CEMS Table Small Bold Center") != (row["level"] == 1):
            problems.append(f"qualitative row {row['code']}: bold wrong")
        if cells[1].text.startswith(INDENT_L3) != (row["level"] == 3):
            problems.append(f"qualitative row {row['code']}: indent wrong")
    return problems


def _check_maturity(ctx: dict, text: str, doc) -> list[str]:
    problems = _check_qualitative(ctx["qualitative"], doc)
    problems += _check_rows("star band", _body_rows(doc, "本次结果"), [ctx["stars"]])
    problems += _check_rows("nonconformity", _body_rows(doc, "状态"), [ctx["nonconformities"]])
    if text.count("本次评价等级") != sum(s["label"] == ctx["rating"] for s in ctx["stars"]):
        problems.append("'本次评价等级' marks the wrong star band")
    if any(f["area"] not in text for f in ctx["findings"]):
        problems.append("a finding area is missing")
    if 'w:type="page"' not in doc.element.xml:
        problems.append("no page break after the cover")
    signoff = [t for t in doc.tables if t.rows[0].cells[-2].text == "有效期至"]
    if not signoff or signoff[0].rows[0].cells[-1].text != (ctx["valid_until"] or NONE_MARK):
        problems.append("valid_until not shown in the sign-off")
    return problems


def _check_neutrality(ctx: dict, text: str, doc) -> list[str]:
    problems = _check_rows("unit", _body_rows(doc, "注销交易/日期"), [ctx["units"]])
    if any(u["serials"] not in text for u in ctx["units"]):
        problems.append("a serial range is missing")
    return problems


def _check_disclosure(ctx: dict, text: str, doc) -> list[str]:
    return (_check_rows("intensity", _body_rows(doc, "单位"), [ctx["intensities"]])
            + _check_rows("target", _body_rows(doc, "期限"), [ctx["targets"]])
            + _check_rows("action", _body_rows(doc, "实施状态"), [ctx["actions"]]))


def _check_rendered(spec: RecordSpec, ctx: dict, data: bytes) -> list[str]:
    """Content checks on a rendered document: no tags left, escaping, then the record's own."""
    text, doc = _all_text(data)
    problems = []
    if "{{" in text or "{%" in text:
        problems.append("template tags left in the output")
    if "A&B <C>" in str(ctx) and "A&B <C>" not in text:
        problems.append("special characters were not rendered literally")
    return problems + (spec.check(ctx, text, doc) if spec.check else [])


RECORDS = (
    RecordSpec("audit_report", "内部审核报告模板", AUDIT_REPORT_VARS, build_audit_report,
               audit_report_samples, _check_audit),
    RecordSpec("management_review_inputs", "管理评审输入报告模板", MR_INPUTS_VARS, build_review_inputs,
               review_inputs_samples, _check_review_inputs),
    RecordSpec("management_review_minutes", "管理评审报告模板", MR_MINUTES_VARS, build_review_minutes,
               review_minutes_samples, _check_review_minutes),
    RecordSpec("compliance_evaluation_report", "合规性评价报告模板", COMPLIANCE_VARS,
               build_compliance_report, compliance_samples, _check_compliance),
    RecordSpec("maturity_report", "碳排放管理体系成熟度评价报告模板", MATURITY_VARS, build_maturity_report,
               maturity_samples, _check_maturity),
    RecordSpec("neutrality_statement", "碳中和声明模板", NEUTRALITY_VARS, build_neutrality_statement,
               neutrality_samples, _check_neutrality),
    RecordSpec("disclosure_report", "碳排放信息披露报告模板", DISCLOSURE_VARS, build_disclosure_report,
               disclosure_samples, _check_disclosure),
)


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
        for suffix in SAMPLES:
            label = spec.name + suffix
            tpl = DocxTemplate(path)
            ctx = spec.samples(tpl)[suffix]  # a context per rendering: an InlineImage belongs to tpl
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
