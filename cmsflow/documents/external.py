"""External documents (外来文件): turn a regulation's text (Markdown by article) into a .docx copy."""
from __future__ import annotations

import io
import re

from docx import Document as DocxDocument
from docx.oxml.ns import qn


def parse_law_markdown(text: str) -> tuple[str, list[str]]:
    """Return (title, paragraphs) from a regulation in Markdown; raises ValueError without a ``#`` title."""
    lines = [ln.strip() for ln in text.splitlines()]
    title = next((ln.lstrip("#").strip() for ln in lines if ln.startswith("#")), "")
    if not title:
        raise ValueError("法规文本缺少标题（# 开头的行）")
    body = [ln.lstrip("#").strip() for ln in lines
            if ln and not ln.startswith("<!--") and ln.lstrip("#").strip() != title]
    return title, body


def law_to_docx(text: str) -> tuple[str, bytes]:
    """Render a regulation to .docx (headings for 章/节, one paragraph per article paragraph)."""
    title, paragraphs = parse_law_markdown(text)
    doc = DocxDocument()
    style = doc.styles["Normal"]
    style.font.name = "SimSun"
    style.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), "宋体")
    doc.add_heading(title, level=0)
    for para in paragraphs:
        if re.match(r"^第[一二三四五六七八九十百]+[章节]", para):
            doc.add_heading(para, level=1)
        else:
            doc.add_paragraph(para)
    buf = io.BytesIO()
    doc.save(buf)
    return title, buf.getvalue()
