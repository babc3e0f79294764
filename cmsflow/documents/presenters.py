"""Shapes of documents for JSON and file downloads (shared by the API and the pages)."""
from __future__ import annotations

import io

from sqlmodel import Session

from cmsflow.auth.models import Department
from cmsflow.documents import service as documents
from cmsflow.documents.models import Document, DocumentVersion
from cmsflow.documents.templating import DOCX_MIME


def version_json(v: DocumentVersion) -> dict:
    return {"number": v.number, "status": v.status, "sha256": v.file_sha256,
            "effective_date": v.effective_date.isoformat() if v.effective_date else None,
            "source": v.source, "template": v.template, "change_summary": v.change_summary}


def document_json(session: Session, doc: Document) -> dict:
    dept = session.get(Department, doc.department_id)
    return {"id": doc.id, "code": doc.code, "title": doc.title, "doc_type": doc.doc_type,
            "department": dept.code if dept else None, "status": doc.status,
            "current_version": doc.current_version, "effective_version": doc.effective_version,
            "lock_version": doc.lock_version, "clauses": documents.clauses(session, doc),
            "versions": [version_json(v) for v in documents.versions(session, doc)]}


def file_response_args(doc: Document, row: DocumentVersion, data: bytes) -> dict:
    suffix = "受控" if row.effective_sha256 else row.status
    return {"path_or_file": io.BytesIO(data), "mimetype": DOCX_MIME, "as_attachment": True,
            "download_name": f"{doc.code}-V{row.number}-{doc.title}-{suffix}.docx", "etag": row.file_sha256}
