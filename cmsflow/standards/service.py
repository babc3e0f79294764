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
    evidence: list[Evidence] = field(default_factory=list)  # the first EVIDENCE_SHOWN items
    total: int = 0  # every item linked to the clause or an equivalent (links, so an item on both counts twice)

    @property
    def gap(self) -> bool:
        return self.clause.requires_documented_information and not self.total

    @property
    def more(self) -> int:
        return self.total - len(self.evidence)


@dataclass
class Found:
    """What one provider has for one clause reference: how many items, and the first ``limit`` of them."""

    total: int = 0
    items: list[Evidence] = field(default_factory=list)


EVIDENCE_SHOWN = 10  # per clause on the coverage page and in the export: a group has thousands of documents
# A provider answers for a set of clause references with at most ``limit`` items each (counting the rest).
EvidenceProvider = Callable[[Session, set[str], int], dict[str, Found]]
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


def evidence_for(session: Session, clauses: Iterable[Clause], limit: int = EVIDENCE_SHOWN) -> dict[str, Found]:
    """Evidence linked to each clause or to one of its equivalents (``via`` names the equivalent): the total
    and the first ``limit`` items, direct links first."""
    clauses = list(clauses)
    refs = {c.ref for c in clauses}
    for c in clauses:
        refs.update(c.equivalents)
    found: dict[str, Found] = {}
    for provider in _PROVIDERS:
        for ref, got in provider(session, refs, limit).items():
            mine = found.setdefault(ref, Found())
            mine.total += got.total
            mine.items.extend(got.items)
    out = {}
    for clause in clauses:
        direct = found.get(clause.ref, Found())
        result = Found(direct.total, list(direct.items[:limit]))
        seen = {(e.kind, e.id) for e in result.items}
        for eq in clause.equivalents:
            other = found.get(eq, Found())
            result.total += other.total
            for e in other.items:
                if (e.kind, e.id) not in seen and len(result.items) < limit:
                    seen.add((e.kind, e.id))
                    result.items.append(Evidence(e.kind, e.id, e.label, e.url, via=eq))
        out[clause.ref] = result
    return out


def coverage(session: Session, code: str, limit: int = EVIDENCE_SHOWN) -> list[CoverageRow]:
    """Every clause of the standard in order, with the evidence linked to it or to an equivalent clause
    (the first ``limit`` items and the total)."""
    std = standard(code)
    found = evidence_for(session, std.clauses.values(), limit)
    return [CoverageRow(clause=clause, depth=_depth(std, clause), evidence=found[clause.ref].items,
                        total=found[clause.ref].total)
            for clause in std.clauses.values()]


def coverage_summary(rows: list[CoverageRow]) -> dict:
    required = [r for r in rows if r.clause.requires_documented_information]
    return {"clauses": len(rows), "requiring_documented_information": len(required),
            "covered": len([r for r in required if r.total]), "gaps": len([r for r in required if r.gap])}


def coverage_json(code: str, rows: list[CoverageRow]) -> dict:
    std = standard(code)
    return {
        "standard": {"code": std.code, "designation": std.designation, "title": std.title},
        "summary": coverage_summary(rows),
        "clauses": [{
            "ref": r.clause.ref, "number": r.clause.number, "parent": r.clause.parent, "title": r.clause.title,
            "title_en": r.clause.title_en, "documented_information": r.clause.documented_information,
            "gap": r.gap, "evidence_total": r.total,
            "evidence": [{"type": e.kind, "id": e.id, "label": e.label, "url": e.url, "via": e.via}
                         for e in r.evidence],
        } for r in rows],
    }


def coverage_xlsx(code: str, rows: list[CoverageRow]) -> bytes:
    """The coverage view as an .xlsx workbook (one row per clause, gaps highlighted)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    from cmsflow.core.exports import append_row

    std = standard(code)
    wb = Workbook()
    ws = wb.active
    ws.title = "条款覆盖"
    append_row(ws, [f"{std.designation} {std.title} — 文件化信息覆盖情况"])
    ws["A1"].font = Font(bold=True, size=13)
    append_row(ws, ["条款号", "条款名称", "Clause", "文件化信息要求", "证据", "经由等同条款", "状态"])
    for cell in ws[2]:
        cell.font = Font(bold=True)
    gap_fill = PatternFill("solid", fgColor="F8D7DA")
    for r in rows:
        direct = "\n".join([e.label for e in r.evidence if not e.via] + ([f"……共 {r.total} 项"] if r.more else []))
        via = "\n".join(f"{e.label}（{e.via}）" for e in r.evidence if e.via)
        status = "缺口" if r.gap else ("已覆盖" if r.evidence else "—")
        append_row(ws, ["　" * r.depth + r.clause.number, r.clause.title, r.clause.title_en,
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
