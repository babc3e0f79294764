"""Controlled-document rules: numbering, drafts from templates or uploads, submission for approval,
revision, publication (from the BPMN ``publish_document`` service) and withdrawal.

Clauses: DB44/T 1944 §7.5, T/CECA-G §8.2, DB14/T 2970 §7.5, 工业碳中和管理体系 §7.5.
"""
from __future__ import annotations

from datetime import date

from sqlmodel import Session, select

from cmsflow.auth import permissions
from cmsflow.auth.models import Department, User
from cmsflow.auth.service import department_by_code, users_in_role
from cmsflow.core import signals
from cmsflow.core.db import utcnow
from cmsflow.core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from cmsflow.core.models import next_value
from cmsflow.core.runtime import config, file_store, template_catalog
from cmsflow.documents import templating
from cmsflow.documents.models import DOC_TYPES, Document, DocumentClause, DocumentVersion
from cmsflow.history import service as history
from cmsflow.standards import service as standards
from cmsflow.workflow import segregation, services
from cmsflow.workflow import service as workflow

PROCESS_ID = "document_approval"
SUBJECT = "document"
AUTHOR_ROLES = ("staff", "department_head", "management_representative", "admin")
MANAGE_ROLES = ("management_representative", "admin")


def can_author(user: User, department_id: int) -> bool:
    """Staff and heads write documents of their own department; MR and admin of any."""
    if user.role in MANAGE_ROLES:
        return True
    return user.role in AUTHOR_ROLES and user.department_id == department_id


def can_view(session: Session, user: User, doc: Document) -> bool:
    """Published (effective, superseded, obsolete) documents are visible to all; drafts to the system owners,
    the author, the head of the owning department and whoever holds a task on it
    (:func:`cmsflow.auth.permissions.document_condition`)."""
    return permissions.may_see(session, user, Document, doc.id, permissions.document_condition(user))


def get_document(session: Session, doc_id: int, user: User) -> Document:
    """The document if ``user`` may see it; NotFound otherwise (the same answer as for no such document)."""
    doc = session.get(Document, doc_id)
    if doc is None or not can_view(session, user, doc):
        raise NotFound("文件不存在")
    return doc


def versions(session: Session, doc: Document) -> list[DocumentVersion]:
    q = select(DocumentVersion).where(DocumentVersion.document_id == doc.id).order_by(DocumentVersion.number)
    return list(session.exec(q))


def version(session: Session, doc: Document, number: int) -> DocumentVersion:
    row = session.exec(select(DocumentVersion).where(DocumentVersion.document_id == doc.id,
                                                     DocumentVersion.number == number)).first()
    if row is None:
        raise NotFound(f"版本 {number} 不存在")
    return row


def clauses(session: Session, doc: Document) -> list[str]:
    q = select(DocumentClause.clause).where(DocumentClause.document_id == doc.id).order_by(DocumentClause.clause)
    return list(session.exec(q))


def next_code(session: Session, doc_type: str) -> str:
    """Allocate the next code for ``doc_type``, e.g. ``CEMS-PR-007`` (prefix configurable per type)."""
    prefix = config()["DOC_CODE_PREFIXES"][doc_type]
    n = next_value(session, f"doc-code:{prefix}")
    return f"{prefix}-{n:0{config()['DOC_CODE_DIGITS']}d}"


def _render_context(session: Session, doc: Document, number: int, author: User, fields: dict) -> dict:
    dept = session.get(Department, doc.department_id)
    return {**fields, "organisation": config()["ORGANISATION_NAME"], "title": doc.title, "code": doc.code,
            "version": number, "department": dept.name, "author": author.display_name,
            "date": date.today().isoformat(), "clauses": [clause_label(c) for c in clauses(session, doc)]}


def clause_label(ref: str) -> str:
    """``TCECAG:8.2`` → ``T/CECA-G 00XX—2023 8.2`` for people and printed documents."""
    return standards.label(ref)


def _content(session: Session, doc: Document, number: int, actor: User, template: str | None,
             fields: dict | None, upload: tuple[str, bytes] | None) -> dict:
    """Produce the draft file from a template or an upload; returns DocumentVersion column values."""
    if upload is not None:
        filename, data = upload
        name = templating.validate_docx(data, filename)
        sha = file_store().put(session, data, templating.DOCX_MIME)
        return {"source": "upload", "template": None, "fields": {}, "draft_sha256": sha,
                "original_filename": name}
    info = template_catalog().get(template or "")
    if info is None:
        raise ValidationError(f"模板 {template} 不存在", code="unknown_template")
    if info.doc_type != doc.doc_type:
        raise ValidationError(f"模板 {info.name} 用于「{DOC_TYPES[info.doc_type]}」，与文件类型不符",
                              code="template_type_mismatch")
    clean = templating.clean_fields(info, fields)
    data = templating.render(info, _render_context(session, doc, number, actor, clean))
    sha = file_store().put(session, data, templating.DOCX_MIME)
    return {"source": "template", "template": info.name, "fields": clean, "draft_sha256": sha,
            "original_filename": None}


def create_document(session: Session, actor: User, *, title: str, doc_type: str, department: str,
                    template: str | None = None, fields: dict | None = None, clauses: list | None = None,
                    upload: tuple[str, bytes] | None = None) -> Document:
    """Create a document with version 1 as a draft. Raises ValidationError / PermissionDenied."""
    title = (title or "").strip()
    if not title:
        raise ValidationError("标题不能为空", code="title_required")
    if doc_type not in DOC_TYPES:
        raise ValidationError(f"未知文件类型 {doc_type}", code="invalid_doc_type")
    dept = department_by_code(session, department or "")
    if not can_author(actor, dept.id):
        raise PermissionDenied("您无权为该部门编制文件")
    if upload is None and doc_type == "external":
        raise ValidationError("外来文件须上传原件", code="upload_required")
    refs = standards.validate_refs(clauses)
    doc = Document(code=next_code(session, doc_type), title=title, doc_type=doc_type,
                   department_id=dept.id, author_id=actor.id, status="draft")
    session.add(doc)
    session.flush()
    for ref in refs:
        session.add(DocumentClause(document_id=doc.id, clause=ref))
    session.flush()
    values = _content(session, doc, 1, actor, template, fields, upload)
    session.add(DocumentVersion(document_id=doc.id, number=1, status="draft", created_by_id=actor.id, **values))
    history.record(session, actor, "document_created", SUBJECT, doc.id, code=doc.code, title=title,
                   source=values["source"])
    _changed(session, doc)
    return doc


def _check_lock(doc: Document, expected: int | None) -> None:
    if expected is not None and expected != doc.lock_version:
        raise Conflict("文件已被他人修改，请刷新后重试（您的内容未保存）", code="stale_edit")
    doc.lock_version += 1
    doc.updated_at = utcnow()


def _open_revise_task(session: Session, doc: Document, actor: User):
    for task in workflow.tasks_for_subject(session, SUBJECT, doc.id, status="open"):
        if task.name == "revise_draft" and task.assignee_id == actor.id:
            return task
    return None


def upload_version(session: Session, actor: User, doc: Document, filename: str, data: bytes,
                   change_summary: str = "", expected_lock: int | None = None) -> DocumentVersion:
    """Upload a .docx: replaces the open draft (or a draft returned for revision), or starts a new
    draft version when the latest is effective. Refused uploads store nothing."""
    if not can_author(actor, doc.department_id):
        raise PermissionDenied("您无权修改该文件")
    latest = version(session, doc, doc.current_version)
    if latest.status == "in_review" and _open_revise_task(session, doc, actor) is None:
        raise Conflict("文件正在审批中，不能替换内容", code="in_review")
    if latest.status in ("draft", "in_review"):
        values = _content(session, doc, latest.number, actor, None, None, (filename, data))
        for key, val in values.items():
            setattr(latest, key, val)
        if change_summary:
            latest.change_summary = change_summary
        target = latest
    elif latest.status == "effective":
        values = _content(session, doc, latest.number + 1, actor, None, None, (filename, data))
        target = _new_version(session, doc, actor, values, change_summary)
    else:
        raise Conflict("已作废的文件不能上传新版本", code="obsolete")
    _check_lock(doc, expected_lock)
    history.record(session, actor, "file_uploaded", SUBJECT, doc.id, version=target.number,
                   sha256=target.draft_sha256, filename=target.original_filename)
    _changed(session, doc)
    return target


def update_draft_fields(session: Session, actor: User, doc: Document, fields: dict,
                        expected_lock: int | None = None) -> DocumentVersion:
    """Re-render the latest draft from its template with new field values."""
    if not can_author(actor, doc.department_id):
        raise PermissionDenied("您无权修改该文件")
    latest = version(session, doc, doc.current_version)
    editable = latest.status == "draft" or (latest.status == "in_review" and _open_revise_task(session, doc, actor))
    if not editable or latest.source != "template":
        raise Conflict("当前版本不可编辑", code="not_editable")
    values = _content(session, doc, latest.number, actor, latest.template, fields, None)
    for key, val in values.items():
        setattr(latest, key, val)
    _check_lock(doc, expected_lock)
    history.record(session, actor, "draft_edited", SUBJECT, doc.id, version=latest.number)
    _changed(session, doc)
    return latest


def _new_version(session: Session, doc: Document, actor: User, values: dict, summary: str) -> DocumentVersion:
    row = DocumentVersion(document_id=doc.id, number=doc.current_version + 1, status="draft",
                          created_by_id=actor.id, change_summary=summary or None, **values)
    session.add(row)
    doc.current_version = row.number
    doc.status = "draft"
    session.flush()
    return row


@segregation.register_authors(SUBJECT)
def _version_authors(session: Session, data: dict) -> set[int]:
    """The authors of the version under approval: who created it (besides who submitted it)."""
    row = session.get(DocumentVersion, data.get("version_id") or 0)
    return {row.created_by_id} if row is not None and row.created_by_id else set()


def _precheck_signers(session: Session, actor: User, doc: Document, latest: DocumentVersion) -> None:
    """Segregation of duties before anything is stored: review, MR approval (and top approval for a manual or
    policy) each need a distinct signer who did not author the version; ValidationError ``no_eligible_signer``."""
    steps = [("部门负责人审核", "department_head", doc.department_id),
             ("管理者代表批准", "management_representative", None)]
    if doc.doc_type in ("manual", "policy"):
        steps.append(("最高管理者批准", "top_management", None))
    segregation.precheck(session, SUBJECT, steps, {actor.id, *([latest.created_by_id] if latest.created_by_id else [])})


def submit(session: Session, actor: User, doc: Document) -> DocumentVersion:
    """Send the latest draft into ``document_approval``; Conflict unless it is a draft; ValidationError
    ``no_eligible_signer`` when segregation of duties leaves nobody to sign a step (``_precheck_signers``)."""
    if actor.id != doc.author_id and not can_author(actor, doc.department_id):
        raise PermissionDenied("只有编制人或本部门人员可以提交审批")
    latest = version(session, doc, doc.current_version)
    if latest.status != "draft":
        raise Conflict("只有草稿可以提交审批", code="not_draft")
    _precheck_signers(session, actor, doc, latest)
    latest.status = doc.status = "in_review"
    data = {"document_id": doc.id, "version_id": latest.id, "doc_type": doc.doc_type,
            "author_id": actor.id, "department_id": doc.department_id,
            "reminder_after": config()["REVIEW_REMINDER_AFTER"]}
    inst = workflow.start_process(session, PROCESS_ID, SUBJECT, doc.id, data, actor)
    latest.instance_id = inst.id
    _check_lock(doc, None)
    history.record(session, actor, "document_submitted", SUBJECT, doc.id, version=latest.number)
    _changed(session, doc)
    return latest


def revise(session: Session, actor: User, doc: Document, change_summary: str = "") -> DocumentVersion:
    """Start a new draft version from the effective one (same template fields or the same file)."""
    if not can_author(actor, doc.department_id):
        raise PermissionDenied("您无权修订该文件")
    latest = version(session, doc, doc.current_version)
    if latest.status != "effective":
        raise Conflict("只有生效版本可以修订（已有修订在进行中或文件已作废）", code="not_effective")
    if latest.source == "template":
        values = _content(session, doc, latest.number + 1, actor, latest.template, latest.fields, None)
    else:
        values = {"source": "upload", "template": None, "fields": {}, "draft_sha256": latest.draft_sha256,
                  "original_filename": latest.original_filename}
    row = _new_version(session, doc, actor, values, change_summary)
    _check_lock(doc, None)
    history.record(session, actor, "revision_started", SUBJECT, doc.id, version=row.number,
                   summary=change_summary)
    _changed(session, doc)
    return row


def withdraw(session: Session, actor: User, doc: Document, reason: str, password: str) -> None:
    """Withdraw the effective version (→ obsolete); management representative only, signed."""
    if actor.role not in MANAGE_ROLES:
        raise PermissionDenied("只有管理者代表可以作废文件")
    workflow.verify_signature(session, actor, password)
    if not (reason or "").strip():
        raise ValidationError("请填写作废原因", code="reason_required")
    if doc.effective_version is None:
        raise Conflict("没有生效版本可作废", code="not_effective")
    eff = version(session, doc, doc.effective_version)
    eff.status = "obsolete"
    doc.effective_version = None
    if doc.current_version == eff.number:
        doc.status = "obsolete"
    _check_lock(doc, None)
    history.record(session, actor, "document_withdrawn", SUBJECT, doc.id, version=eff.number, reason=reason)
    _changed(session, doc)


@services.register("publish_document")
def publish_document(step, data: dict) -> list[int]:
    """BPMN service: make the approved version effective, supersede the previous one, stamp the file.

    Returns the user ids of the owning department's staff (read-acknowledgement tasks).
    """
    session: Session = step.session
    row = session.get(DocumentVersion, data["version_id"])
    doc = session.get(Document, row.document_id)
    approver = session.get(User, data.get("last_actor_id")) if data.get("last_actor_id") else None
    if doc.effective_version is not None:
        old = version(session, doc, doc.effective_version)
        old.status = "superseded"
        session.flush()
    today = date.today()
    stamped = templating.stamp(file_store().get(row.draft_sha256), code=doc.code, version=row.number,
                               effective_date=today.isoformat(),
                               approver=approver.display_name if approver else "")
    row.effective_sha256 = file_store().put(session, stamped, templating.DOCX_MIME)
    row.status, row.effective_date, row.approved_at = "effective", today, utcnow()
    row.approved_by_id = approver.id if approver else None
    doc.status, doc.effective_version = "effective", row.number
    _check_lock(doc, None)
    session.flush()
    history.record(session, approver, "document_published", SUBJECT, doc.id, version=row.number,
                   sha256=row.effective_sha256)
    _changed(session, doc)
    return [u.id for u in users_in_role(session, "staff", doc.department_id)]


def _changed(session: Session, doc: Document) -> None:
    signals.subject_changed.send(SUBJECT, subject_id=doc.id, session=session)


def read_file(session: Session, doc: Document, number: int) -> tuple[DocumentVersion, bytes]:
    """The version's file (stamped copy once effective), verified against its SHA-256."""
    row = version(session, doc, number)
    return row, file_store().get(row.file_sha256)


def register_statement(user: User, *, doc_type=None, department=None, status=None, text=None, clause=None):
    """The register query (a ``Select`` of Document ordered by code) with :func:`can_view` in SQL: drafts are
    hidden from those who may not see them. ``clause`` is a clause reference (``TCECAG:8.2``)."""
    q = select(Document)
    visible = permissions.document_condition(user)
    if visible is not None:
        q = q.where(visible)
    if doc_type:
        q = q.where(Document.doc_type == doc_type)
    if department:
        q = q.join(Department, Department.id == Document.department_id).where(Department.code == department)
    if status == "effective":
        q = q.where(Document.effective_version.is_not(None))
    elif status:
        q = q.where(Document.status == status)
    if text:
        like = f"%{text.strip()}%"
        q = q.where(Document.title.ilike(like) | Document.code.ilike(like))
    if clause:
        q = q.where(Document.id.in_(select(DocumentClause.document_id).where(DocumentClause.clause == clause)))
    return q.order_by(Document.code)
