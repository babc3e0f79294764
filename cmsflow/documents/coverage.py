"""Effective controlled documents as evidence in the clause-coverage view."""
from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, select

from cmsflow.documents.models import Document, DocumentClause
from cmsflow.standards.service import Evidence, Found, register_evidence_provider


def document_evidence(session: Session, refs: set[str], limit: int) -> dict[str, Found]:
    """Per clause reference: how many effective documents are linked, and the first ``limit`` by code
    (one count, then one query per linked clause, whatever the number of documents)."""
    linked = (DocumentClause.clause.in_(refs), Document.effective_version.is_not(None))
    out = {ref: Found(total) for ref, total in session.exec(
        select(DocumentClause.clause, func.count()).join(Document, Document.id == DocumentClause.document_id)
        .where(*linked).group_by(DocumentClause.clause))}
    for ref in out:  # one small query per clause that has documents (a handful), not per document
        rows = session.exec(select(Document.id, Document.code, Document.title)
                            .join(DocumentClause, DocumentClause.document_id == Document.id)
                            .where(DocumentClause.clause == ref, Document.effective_version.is_not(None))
                            .order_by(Document.code).limit(limit))
        out[ref].items = [Evidence("document", doc_id, f"{code} {title}", f"/documents/{doc_id}")
                          for doc_id, code, title in rows]
    return out


register_evidence_provider(document_evidence)
