"""Clause references, applicable standards and the clause-coverage view (documented information per
clause, and the gaps an auditor asks about first)."""
from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from flask import current_app
from sqlmodel import Session, select

from cmsflow.auth.models import User
from cmsflow.core.errors import NotFound, PermissionDenied, ValidationError
from cmsflow.history import service as history
from cmsflow.standards.library import Clause, Standard
from cmsflow.standards.models import ApplicableStandard

DOC_INFO_LABELS = {"maintain": "保持", "retain": "保留", "both": "保持并保留"}


@dataclass
class Evidence:
    """One piece of documented information linked to a clause."""

    kind: str  # "document" or a register name
    id: int
    label: str
    url: str
    via: str | None = None  # the equivalent clause it is linked to, when not linked directly


@dataclass
class CoverageRow:
    clause: Clause
    depth: int
    evidence: list[Evidence] = field(default_factory=list)

    @property
    def gap(self) -> bool:
        return self.clause.requires_documented_information and not self.evidence


EvidenceProvider = Callable[[Session, set[str]], dict[str, list[Evidence]]]
_PROVIDERS: list[EvidenceProvider] = []


def register_evidence_provider(provider: EvidenceProvider) -> None:
    """Domains add what they link to clauses (effective documents, register records)."""
    _PROVIDERS.append(provider)


def library() -> dict[str, Standard]:
    return current_app.extensions["cmsflow_clause_library"]


def standard(code: str) -> Standard:
    std = library().get(code)
    if std is None:
        raise NotFound(f"标准 {code} 不在条款库中")
    return std


def find(ref: str) -> Clause | None:
    code, _, number = ref.partition(":")
    std = library().get(code)
    return std.clauses.get(number) if std else None


def validate_refs(refs: Iterable) -> list[str]:
    """Normalise clause references (``TCECAG:8.2``); ValidationError (400) naming unknown ones."""
    out, unknown = [], []
    for raw in refs or []:
        ref = str(raw).strip()
        if find(ref) is None:
            unknown.append(ref)
        elif ref not in out:
            out.append(ref)
    if unknown:
        raise ValidationError(f"条款库中没有这些条款：{'、'.join(unknown)}（格式：标准代码:条款号，如 TCECAG:8.2）",
                              code="unknown_clause")
    return out


def label(ref: str) -> str:
    """``TCECAG:8.2`` → ``T/CECA-G 00XX—2023 8.2 文件和记录``-style short label: designation + number."""
    clause = find(ref)
    if clause is None:
        return ref
    return f"{library()[clause.standard].designation} {clause.number}"


def applicable_codes(session: Session) -> list[str]:
    return [row.code for row in session.exec(select(ApplicableStandard).order_by(ApplicableStandard.code))]


def set_applicable(session: Session, actor: User, codes: list[str]) -> list[str]:
    """Choose the standards the organisation follows (administrator or MR)."""
    if actor.role not in ("admin", "management_representative"):
        raise PermissionDenied("只有系统管理员或管理者代表可以选择适用标准")
    codes = list(dict.fromkeys(codes))
    for code in codes:
        standard(code)
    if not codes:
        raise ValidationError("至少选择一项适用标准", code="no_standard")
    for row in session.exec(select(ApplicableStandard)).all():
        if row.code not in codes:
            session.delete(row)
    existing = set(applicable_codes(session))
    for code in codes:
        if code not in existing:
            session.add(ApplicableStandard(code=code, added_by_id=actor.id))
    session.flush()
    history.record(session, actor, "applicable_standards_set", "organisation", 0, codes=codes)
    return codes


def _depth(std: Standard, clause: Clause) -> int:
    depth, parent = 0, clause.parent
    while parent:
        depth += 1
        parent = std.clauses[parent].parent
    return depth


def evidence_for(session: Session, clauses: Iterable[Clause]) -> dict[str, list[Evidence]]:
    """Evidence linked to each clause or to one of its equivalents (``via`` names the equivalent)."""
    clauses = list(clauses)
    refs = {c.ref for c in clauses}
    for c in clauses:
        refs.update(c.equivalents)
    found: dict[str, list[Evidence]] = {}
    for provider in _PROVIDERS:
        for ref, items in provider(session, refs).items():
            found.setdefault(ref, []).extend(items)
    out = {}
    for clause in clauses:
        evidence = list(found.get(clause.ref, []))
        seen = {(e.kind, e.id) for e in evidence}
        for eq in clause.equivalents:
            for e in found.get(eq, []):
                if (e.kind, e.id) not in seen:
                    seen.add((e.kind, e.id))
                    evidence.append(Evidence(e.kind, e.id, e.label, e.url, via=eq))
        out[clause.ref] = evidence
    return out


def coverage(session: Session, code: str) -> list[CoverageRow]:
    """Every clause of the standard in order, with evidence linked to it or to an equivalent clause."""
    std = standard(code)
    found = evidence_for(session, std.clauses.values())
    return [CoverageRow(clause=clause, depth=_depth(std, clause), evidence=found[clause.ref])
            for clause in std.clauses.values()]


def coverage_summary(rows: list[CoverageRow]) -> dict:
    required = [r for r in rows if r.clause.requires_documented_information]
    return {"clauses": len(rows), "requiring_documented_information": len(required),
            "covered": len([r for r in required if r.evidence]), "gaps": len([r for r in required if r.gap])}


def coverage_json(code: str, rows: list[CoverageRow]) -> dict:
    std = standard(code)
    return {
        "standard": {"code": std.code, "designation": std.designation, "title": std.title},
        "summary": coverage_summary(rows),
        "clauses": [{
            "ref": r.clause.ref, "number": r.clause.number, "parent": r.clause.parent, "title": r.clause.title,
            "title_en": r.clause.title_en, "documented_information": r.clause.documented_information,
            "gap": r.gap,
            "evidence": [{"type": e.kind, "id": e.id, "label": e.label, "url": e.url, "via": e.via}
                         for e in r.evidence],
        } for r in rows],
    }


def coverage_xlsx(code: str, rows: list[CoverageRow]) -> bytes:
    """The coverage view as an .xlsx workbook (one row per clause, gaps highlighted)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    std = standard(code)
    wb = Workbook()
    ws = wb.active
    ws.title = "条款覆盖"
    ws.append([f"{std.designation} {std.title} — 文件化信息覆盖情况"])
    ws["A1"].font = Font(bold=True, size=13)
    ws.append(["条款号", "条款名称", "Clause", "文件化信息要求", "证据", "经由等同条款", "状态"])
    for cell in ws[2]:
        cell.font = Font(bold=True)
    gap_fill = PatternFill("solid", fgColor="F8D7DA")
    for r in rows:
        direct = "\n".join(e.label for e in r.evidence if not e.via)
        via = "\n".join(f"{e.label}（{e.via}）" for e in r.evidence if e.via)
        status = "缺口" if r.gap else ("已覆盖" if r.evidence else "—")
        ws.append(["　" * r.depth + r.clause.number, r.clause.title, r.clause.title_en,
                   DOC_INFO_LABELS.get(r.clause.documented_information or "", ""), direct, via, status])
        if r.gap:
            for cell in ws[ws.max_row]:
                cell.fill = gap_fill
    for col, width in zip("ABCDEFG", (12, 34, 40, 14, 48, 48, 10), strict=True):
        ws.column_dimensions[col].width = width
    for row in ws.iter_rows(min_row=3):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    ws.freeze_panes = "A3"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
