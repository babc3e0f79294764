"""How documents appear in search: title, code and the text inside the current .docx."""
from __future__ import annotations

from sqlmodel import Session, select

from cmsflow.auth import permissions
from cmsflow.core.runtime import file_store
from cmsflow.core.storage import IntegrityError
from cmsflow.documents import templating
from cmsflow.documents.models import DOC_TYPES, Document, DocumentVersion
from cmsflow.search.backend import Entry
from cmsflow.search.service import register_provider
from cmsflow.workflow.models import HumanTask


def _visibility(session: Session, doc: Document) -> str:
    """Published: everyone; a draft: :func:`cmsflow.auth.permissions.document_visibility` plus the people
    holding a task on it (department-scoped tasks reach that department's head)."""
    base = permissions.document_visibility(doc)
    if base == "all":
        return base
    tokens = set(base.split())
    for task in session.exec(select(HumanTask).where(HumanTask.subject_type == "document",
                                                     HumanTask.subject_id == doc.id)):
        if task.assignee_id is not None:
            tokens.add(f"user:{task.assignee_id}")
        elif task.role == "department_head" and task.department_id is not None:
            tokens.add(f"head:{task.department_id}")
        elif task.role and task.department_id is None:
            tokens.add(f"role:{task.role}")
    return " ".join(sorted(tokens))


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
                 visibility=_visibility(session, doc))


def all_document_ids(session: Session):
    return session.exec(select(Document.id)).all()


register_provider("document", document_entry, all_document_ids)
