"""Effective controlled documents as evidence in the clause-coverage view."""
from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, select

from cmsflow.documents.models import Document, DocumentClause
from cmsflow.standards.service import Evidence, Found, register_evidence_provider


def document_evidence(session: Session, refs: set[str], limit: int) -> dict[str, Found]:
    """Per clause reference: how many effective documents are linked, and the first ``limit`` by code
    (two queries whatever the number of documents)."""
    linked = (DocumentClause.clause.in_(refs), Document.effective_version.is_not(None))
    out = {ref: Found(total) for ref, total in session.exec(
        select(DocumentClause.clause, func.count()).join(Document, Document.id == DocumentClause.document_id)
        .where(*linked).group_by(DocumentClause.clause))}
    rank = func.row_number().over(partition_by=DocumentClause.clause, order_by=Document.code).label("rank")
    ranked = (select(DocumentClause.clause, Document.id, Document.code, Document.title, rank)
              .join(Document, Document.id == DocumentClause.document_id).where(*linked).subquery())
    rows = session.exec(select(ranked.c.clause, ranked.c.id, ranked.c.code, ranked.c.title)
                        .where(ranked.c.rank <= limit).order_by(ranked.c.clause, ranked.c.code))
    for ref, doc_id, code, title in rows:
        out[ref].items.append(Evidence("document", doc_id, f"{code} {title}", f"/documents/{doc_id}"))
    return out


register_evidence_provider(document_evidence)
