"""REST API under /api/v1: bearer tokens, JSON errors ``{"error": {"code", "message"}}``."""
from __future__ import annotations

import io

from flask import Blueprint, g, jsonify, request, send_file

from cmsflow.auth import permissions
from cmsflow.auth import service as auth
from cmsflow.core.db import db_session
from cmsflow.core.errors import CmsflowError, NotFound, PermissionDenied, ValidationError
from cmsflow.core.inputs import MESSAGE as UNSTORABLE_MESSAGE
from cmsflow.core.inputs import unstorable
from cmsflow.core.runtime import config, template_catalog
from cmsflow.documents import service as documents
from cmsflow.documents.presenters import document_json, file_response_args
from cmsflow.registers import service as registers
from cmsflow.registers import specs as register_specs
from cmsflow.registers import transfer
from cmsflow.search import service as search
from cmsflow.standards import service as standards
from cmsflow.web.pagination import paginate
from cmsflow.web.setup import commit, csrf, limiter, login_rate_limit, login_rate_limit_off
from cmsflow.workflow import service as workflow
from cmsflow.workflow.models import HumanTask

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(blueprint)


class Unauthorized(CmsflowError):
    status = 401
    code = "unauthorized"


@blueprint.before_request
def _authenticate():
    if permissions.is_public(request.endpoint):
        return None
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise Unauthorized("缺少 Bearer 令牌")
    g.api_user, g.api_token = auth.token_user(db_session(), header[7:].strip())  # TokenRefused: 401 + reason
    permissions.check_route(g.api_user, request.endpoint)  # the same route rules as the pages
    return None


def read_json() -> dict:
    """The request's JSON object; 400 ``invalid_json`` when it is not one, 400 ``invalid_characters`` when a string
    holds NUL or an unpaired surrogate (``"\\u0000"``, ``"\\ud800"``: valid JSON, but not storable text)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError("请求体必须是 JSON 对象", code="invalid_json")
    if unstorable(body):
        raise ValidationError(UNSTORABLE_MESSAGE, code="invalid_characters")
    return body


@blueprint.post("/auth/token")
@limiter.limit(login_rate_limit, exempt_when=login_rate_limit_off)
def token():
    """A bearer token for username + password: 401 ``invalid_credentials`` / ``account_locked`` (lockout as on
    the sign-in page), 403 ``password_change_required`` while the password is a temporary one an administrator set
    (the user changes it on /account first; OWASP ASVS 4.0.3 V2.1, 21 CFR Part 11 §11.300(b)), 429
    ``rate_limited`` over LOGIN_RATE_LIMIT per client address."""
    body = read_json()
    cfg = config()
    try:
        user = auth.sign_in(db_session(), str(body.get("username", "")), str(body.get("password", "")), via="api",
                            max_failures=cfg["LOGIN_MAX_FAILURES"], lockout_minutes=cfg["LOGIN_LOCKOUT_MINUTES"])
    except auth.LoginRefused:
        commit()  # keep the failure count and the history entries
        raise
    if user.must_change_password:
        commit()  # the sign-in was right: its history entry and the cleared failure count stay
        raise PermissionDenied("请先在网页“我的账户”中修改管理员设置的临时密码，再获取令牌",
                               code="password_change_required")
    value = auth.issue_token(db_session(), user, cfg["API_TOKEN_TTL_HOURS"])
    commit()
    return jsonify({"token": value, "expires_in": cfg["API_TOKEN_TTL_HOURS"] * 3600})


def _token_json(row) -> dict:
    return {"id": row.id, "created_at": row.created_at.isoformat(), "expires_at": row.expires_at.isoformat(),
            "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
            "current": row.id == g.api_token.id}


@blueprint.get("/tokens")
def list_tokens():
    """The caller's tokens (never their values)."""
    return jsonify({"tokens": [_token_json(t) for t in auth.tokens_of(db_session(), g.api_user)]})


@blueprint.delete("/tokens/<int:token_id>")
def revoke_token(token_id: int):
    """Revoke one of the caller's tokens (the current one too); 404 for another user's."""
    row = auth.revoke_token(db_session(), g.api_user, token_id)
    commit()
    return jsonify(_token_json(row))


@blueprint.get("/openapi.json")
def openapi():
    from cmsflow.api.openapi import spec

    return jsonify(spec())


@blueprint.get("/doc-templates")
def doc_templates():
    return jsonify([t.as_dict() for t in template_catalog().values()])


@blueprint.get("/documents")
def list_documents():
    args = request.args
    stmt = documents.register_statement(g.api_user, doc_type=args.get("doc_type"), department=args.get("department"),
                                        status=args.get("status"), text=args.get("q"), clause=args.get("clause"))
    page = paginate(stmt, args, per_page=None, session=db_session())
    return jsonify({"documents": [document_json(db_session(), d) for d in page.items], **page.as_dict()})


@blueprint.post("/documents")
def create_document():
    body = read_json()
    fields = body.get("fields") or {}
    clause_refs = body.get("clauses") or []
    if not isinstance(fields, dict) or not isinstance(clause_refs, list):
        raise ValidationError("fields 必须是对象，clauses 必须是数组", code="invalid_json")
    doc = documents.create_document(db_session(), g.api_user, title=str(body.get("title", "")),
                                    doc_type=str(body.get("doc_type", "")),
                                    department=str(body.get("department", "")),
                                    template=body.get("template"), fields=fields, clauses=clause_refs)
    commit()
    return jsonify(document_json(db_session(), doc)), 201


@blueprint.get("/documents/<int:doc_id>")
def get_document(doc_id: int):
    doc = documents.get_document(db_session(), doc_id, g.api_user)
    return jsonify(document_json(db_session(), doc))


@blueprint.post("/documents/<int:doc_id>/submit")
def submit(doc_id: int):
    doc = documents.get_document(db_session(), doc_id, g.api_user)
    documents.submit(db_session(), g.api_user, doc)
    commit()
    return jsonify(document_json(db_session(), doc))


@blueprint.post("/documents/<int:doc_id>/revise")
def revise(doc_id: int):
    body = read_json() if request.get_json(silent=True) else {}  # the body is optional
    doc = documents.get_document(db_session(), doc_id, g.api_user)
    documents.revise(db_session(), g.api_user, doc, str(body.get("change_summary", "")))
    commit()
    return jsonify(document_json(db_session(), doc)), 201


@blueprint.post("/documents/<int:doc_id>/versions")
def upload_version(doc_id: int):
    doc = documents.get_document(db_session(), doc_id, g.api_user)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationError("请以 multipart 字段 file 上传 .docx 文件", code="file_required")
    lock = request.form.get("lock_version", "")
    documents.upload_version(db_session(), g.api_user, doc, upload.filename, upload.read(),
                             request.form.get("change_summary", ""),
                             expected_lock=int(lock) if lock.isdigit() else None)
    commit()
    return jsonify(document_json(db_session(), doc)), 201


@blueprint.post("/documents/<int:doc_id>/withdraw")
def withdraw(doc_id: int):
    body = read_json()
    doc = documents.get_document(db_session(), doc_id, g.api_user)
    documents.withdraw(db_session(), g.api_user, doc, str(body.get("reason", "")), str(body.get("password", "")))
    commit()
    return jsonify(document_json(db_session(), doc))


@blueprint.get("/documents/<int:doc_id>/versions/<int:number>/file")
def version_file(doc_id: int, number: int):
    doc = documents.get_document(db_session(), doc_id, g.api_user)
    row, data = documents.read_file(db_session(), doc, number)
    return send_file(**file_response_args(doc, row, data))


def _task_json(t: HumanTask) -> dict:
    return {"id": t.id, "name": t.name, "title": t.title, "process": t.process_id, "lane": t.lane,
            "form": t.form, "signature": t.signature_meaning, "assignment_note": t.assignment_note,
            "subject": {"type": t.subject_type, "id": t.subject_id},
            "created_at": t.created_at.isoformat(), "due_at": t.due_at.isoformat() if t.due_at else None}


@blueprint.get("/tasks")
def tasks():
    page = paginate(workflow.inbox_statement(g.api_user), request.args, per_page=None, session=db_session())
    return jsonify({"tasks": [_task_json(t) for t in page.items], **page.as_dict()})


@blueprint.post("/tasks/<int:task_id>/complete")
def complete_task(task_id: int):
    body = read_json()
    if db_session().get(HumanTask, task_id) is None:
        raise NotFound("任务不存在")
    data = body.get("data") or {}
    if not isinstance(data, dict):
        raise ValidationError("data 必须是对象", code="invalid_json")
    task = workflow.complete_task(db_session(), task_id, g.api_user, decision=body.get("decision"),
                                  comment=body.get("comment"), password=body.get("password"),
                                  data=data)  # types and lengths: cmsflow/workflow/taskschemas.py
    commit()
    return jsonify({"task": _task_json(task), "status": task.status})


@blueprint.get("/standards")
def list_standards():
    applicable = set(standards.applicable_codes(db_session()))
    return jsonify([{"code": std.code, "designation": std.designation, "title": std.title, "title_en": std.title_en,
                     "clauses": len(std.clauses), "applicable": std.code in applicable}
                    for std in standards.library().values()])


@blueprint.put("/standards/applicable")
def set_applicable():
    codes = read_json().get("codes")
    if not isinstance(codes, list):
        raise ValidationError("codes 必须是标准代码数组", code="invalid_json")
    result = standards.set_applicable(db_session(), g.api_user, [str(c) for c in codes])
    commit()
    return jsonify({"applicable": result})


@blueprint.get("/standards/<code>/coverage")
def standard_coverage(code: str):
    return jsonify(standards.coverage_json(code, standards.coverage(db_session(), code)))


@blueprint.get("/registers")
def registers_index():
    return jsonify([{"name": sp.name, "title": sp.title, "title_en": sp.title_en,
                     "fields": [{"name": f.name, "label": f.label, "label_en": f.label_en, "type": f.type,
                                 "required": f.required, "choices": f.choices} for f in sp.fields]}
                    for sp in register_specs.SPECS.values()])


@blueprint.get("/registers/<name>")
def register_list(name: str):
    sp = register_specs.spec(name)
    stmt = registers.statement(db_session(), sp, request.args, request.args.get("q"))
    page = paginate(stmt, request.args, per_page=None, session=db_session())
    return jsonify({"records": [registers.as_json(db_session(), sp, r) for r in page.items], **page.as_dict()})


@blueprint.post("/registers/<name>")
def register_create(name: str):
    sp = register_specs.spec(name)
    row = registers.create(db_session(), g.api_user, sp, read_json())
    commit()
    return jsonify(registers.as_json(db_session(), sp, row)), 201


@blueprint.get("/registers/<name>/<int:record_id>")
def register_get(name: str, record_id: int):
    sp = register_specs.spec(name)
    return jsonify(registers.as_json(db_session(), sp, registers.get(db_session(), sp, record_id)))


@blueprint.put("/registers/<name>/<int:record_id>")
def register_update(name: str, record_id: int):
    sp = register_specs.spec(name)
    row = registers.update(db_session(), g.api_user, sp, record_id, read_json())
    commit()
    return jsonify(registers.as_json(db_session(), sp, row))


@blueprint.get("/registers/<name>/export")
def register_export(name: str):
    sp = register_specs.spec(name)
    fmt = request.args.get("format", "xlsx")
    rows = registers.query(db_session(), sp, request.args, request.args.get("q"))
    data = transfer.export(db_session(), sp, rows, fmt)
    return send_file(io.BytesIO(data), mimetype=transfer.MIME[fmt],
                     as_attachment=True, download_name=f"{sp.name}.{fmt}")


@blueprint.post("/registers/<name>/import")
def register_import(name: str):
    sp = register_specs.spec(name)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationError("请以 multipart 字段 file 上传 .xlsx 或 .csv", code="file_required")
    n = transfer.import_file(db_session(), g.api_user, sp, upload.filename, upload.read())
    commit()
    return jsonify({"imported": n}), 201


@blueprint.get("/search")
def search_view():
    q = request.args.get("q", "").strip()
    if not q:
        raise ValidationError("缺少查询参数 q", code="query_required")
    limit = request.args.get("limit", "").strip() or "20"
    if not (limit.isascii() and limit.isdigit()) or not 1 <= int(limit) <= 100:  # no sign, spaces, "1e9", "²"
        raise ValidationError("limit 必须是 1 至 100 之间的整数", code="invalid_limit")
    hits = search.search(g.api_user, q, limit=int(limit))
    return jsonify({"results": [{"type": h.type, "id": h.id, "title": h.title, "snippet": h.snippet,
                                 "url": h.url} for h in hits]})


# Domain routes on this blueprint (imported last: they import ``blueprint`` and ``read_json`` from here).
from cmsflow.api import assets as _assets  # noqa: E402,F401
from cmsflow.api import audits as _audits  # noqa: E402,F401
from cmsflow.api import carbon as _carbon  # noqa: E402,F401
from cmsflow.api import compliance as _compliance  # noqa: E402,F401
from cmsflow.api import maturity as _maturity  # noqa: E402,F401
from cmsflow.api import nonconformities as _nonconformities  # noqa: E402,F401
from cmsflow.api import reviews as _reviews  # noqa: E402,F401
