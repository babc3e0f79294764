"""How documents appear in search: title, code and the text inside the current .docx."""
from __future__ import annotations

from sqlmodel import Session, select

from cmsflow.core.runtime import file_store
from cmsflow.core.storage import IntegrityError
from cmsflow.documents import templating
from cmsflow.documents.models import DOC_TYPES, Document, DocumentVersion
from cmsflow.search.backend import Entry
from cmsflow.search.service import register_provider


def _visibility(doc: Document) -> str:
    if doc.effective_version is not None or doc.status in ("superseded", "obsolete"):
        return "all"
    return (f"dept:{doc.department_id} user:{doc.author_id} role:management_representative "
            "role:admin role:top_management")


def document_entry(session: Session, doc_id: int) -> Entry | None:
    doc = session.get(Document, doc_id)
    if doc is None:
        return None
    number = doc.effective_version or doc.current_version
    row = session.exec(select(DocumentVersion).where(DocumentVersion.document_id == doc.id,
                                                     DocumentVersion.number == number)).first()
    try:
        body = templating.extract_text(file_store().get(row.file_sha256)) if row else ""
    except IntegrityError:
        body = ""
    return Entry(key=f"document:{doc.id}", type="document", id=doc.id, title=doc.title, code=doc.code,
                 body=f"{DOC_TYPES.get(doc.doc_type, '')} {body}", url=f"/documents/{doc.id}",
                 visibility=_visibility(doc))


def all_document_ids(session: Session):
    return session.exec(select(Document.id)).all()


register_provider("document", document_entry, all_document_ids)
