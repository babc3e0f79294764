"""Effective controlled documents as evidence in the clause-coverage view."""
from __future__ import annotations

from sqlmodel import Session, select

from cmsflow.documents.models import Document, DocumentClause
from cmsflow.standards.service import Evidence, register_evidence_provider


def document_evidence(session: Session, refs: set[str]) -> dict[str, list[Evidence]]:
    q = (select(DocumentClause.clause, Document)
         .join(Document, Document.id == DocumentClause.document_id)
         .where(DocumentClause.clause.in_(refs), Document.effective_version.is_not(None))
         .order_by(Document.code))
    out: dict[str, list[Evidence]] = {}
    for ref, doc in session.exec(q):
        out.setdefault(ref, []).append(Evidence("document", doc.id, f"{doc.code} {doc.title}", f"/documents/{doc.id}"))
    return out


register_evidence_provider(document_evidence)
