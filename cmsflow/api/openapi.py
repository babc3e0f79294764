"""OpenAPI 3.1 description of /api/v1."""
from __future__ import annotations

ERR = {"$ref": "#/components/responses/Error"}


def _op(summary: str, ok: dict, *, body: dict | None = None, params: list | None = None,
        errors=(400, 401, 403, 404), status: str = "200") -> dict:
    op = {"summary": summary, "responses": {status: ok, **{str(c): ERR for c in errors}}}
    if body:
        op["requestBody"] = {"required": True, "content": body}
    if params:
        op["parameters"] = params
    return op


def _json(schema: dict) -> dict:
    return {"description": "OK", "content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _path_id(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "integer"}}


def _name() -> dict:
    return {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}


def _query(name: str, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "schema": {"type": "string"}}


SCHEMAS = {
    "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}}, "required": ["code", "message"]}}},
    "Version": {"type": "object", "properties": {
        "number": {"type": "integer"}, "status": {"enum": ["draft", "in_review", "effective", "superseded",
                                                           "obsolete"]},
        "sha256": {"type": "string"}, "effective_date": {"type": ["string", "null"], "format": "date"}}},
    "Document": {"type": "object", "properties": {
        "id": {"type": "integer"}, "code": {"type": "string"}, "title": {"type": "string"},
        "doc_type": {"type": "string"}, "department": {"type": "string"}, "status": {"type": "string"},
        "current_version": {"type": "integer"}, "clauses": {"type": "array", "items": {"type": "string"}},
        "versions": {"type": "array", "items": _ref("Version")}}},
    "NewDocument": {"type": "object", "required": ["title", "doc_type", "department", "template"],
                    "properties": {"title": {"type": "string"}, "doc_type": {"type": "string"},
                                   "department": {"type": "string", "description": "department code"},
                                   "template": {"type": "string"}, "fields": {"type": "object"},
                                   "clauses": {"type": "array", "items": {"type": "string",
                                                                          "example": "TCECAG:8.2"}}}},
    "Task": {"type": "object", "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"}, "title": {"type": "string"},
        "process": {"type": "string"}, "lane": {"type": "string"},
        "subject": {"type": "object", "properties": {"type": {"type": "string"}, "id": {"type": "integer"}}},
        "created_at": {"type": "string", "format": "date-time"},
        "due_at": {"type": ["string", "null"], "format": "date-time"}}},
    "Completion": {"type": "object", "properties": {
        "decision": {"enum": ["approve", "reject"]}, "comment": {"type": "string"},
        "password": {"type": "string", "description": "re-entered password: the electronic signature"}}},
    "Template": {"type": "object", "properties": {"name": {"type": "string"}, "title": {"type": "string"},
                                                  "doc_type": {"type": "string"},
                                                  "fields": {"type": "array", "items": {"type": "object"}}}},
}


def spec() -> dict:
    doc = _json(_ref("Document"))
    j = "application/json"
    paths = {
        "/auth/token": {"post": {**_op("Exchange username/password for a bearer token", _json(
            {"type": "object", "properties": {"token": {"type": "string"}}}), body={j: {"schema": {
                "type": "object", "properties": {"username": {"type": "string"},
                                                 "password": {"type": "string"}}}}}, errors=(400, 401)),
            "security": []}},
        "/doc-templates": {"get": _op("Word templates and their fields", _json(
            {"type": "array", "items": _ref("Template")}), errors=(401,))},
        "/documents": {
            "get": _op("Document register", _json({"type": "object", "properties": {
                "documents": {"type": "array", "items": _ref("Document")}}}),
                params=[_query("doc_type"), _query("department"), _query("status"), _query("q")]),
            "post": _op("Create a document from a template (version 1, draft)", doc,
                        body={j: {"schema": _ref("NewDocument")}}, status="201")},
        "/documents/{id}": {"get": _op("One document with its versions", doc, params=[_path_id("id")])},
        "/documents/{id}/submit": {"post": _op("Submit the draft for approval", doc, params=[_path_id("id")],
                                               errors=(400, 401, 403, 404, 409))},
        "/documents/{id}/revise": {"post": _op("Start a revision of the effective version", doc,
                                               params=[_path_id("id")], errors=(401, 403, 404, 409),
                                               status="201")},
        "/documents/{id}/withdraw": {"post": _op(
            "Withdraw the effective version (management representative; signed with the password)", doc,
            params=[_path_id("id")], body={j: {"schema": {"type": "object", "properties": {
                "reason": {"type": "string"}, "password": {"type": "string"}}}}},
            errors=(400, 401, 403, 404, 409))},
        "/documents/{id}/versions": {"post": _op(
            "Upload a .docx (replaces the draft or starts a new version)", doc, params=[_path_id("id")],
            body={"multipart/form-data": {"schema": {"type": "object", "properties": {
                "file": {"type": "string", "format": "binary"}, "change_summary": {"type": "string"},
                "lock_version": {"type": "integer", "description": "from GET; a stale value gives 409"}}}}},
            errors=(400, 401, 403, 404, 409, 413), status="201")},
        "/documents/{id}/versions/{number}/file": {"get": _op(
            "Download a version's .docx (the stamped controlled copy once effective)",
            {"description": "Word file", "content": {
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document": {}}},
            params=[_path_id("id"), _path_id("number")])},
        "/tasks": {"get": _op("The caller's open tasks", _json({"type": "object", "properties": {
            "tasks": {"type": "array", "items": _ref("Task")}}}), errors=(401,))},
        "/tasks/{id}/complete": {"post": _op(
            "Complete a task; approval tasks are electronic signatures (password required)",
            _json({"type": "object"}), body={j: {"schema": _ref("Completion")}}, params=[_path_id("id")],
            errors=(400, 401, 403, 404, 409))},
        "/standards": {"get": _op("The clause library's standards and which apply", _json(
            {"type": "array", "items": {"type": "object"}}), errors=(401,))},
        "/standards/applicable": {"put": _op(
            "Choose the applicable standards (administrator or management representative)", _json(
                {"type": "object"}), body={j: {"schema": {"type": "object", "properties": {
                    "codes": {"type": "array", "items": {"type": "string"}}}}}}, errors=(400, 401, 403, 404))},
        "/standards/{code}/coverage": {"get": _op(
            "Clause tree with linked effective documents and records; gaps where documented information is "
            "required but missing", _json({"type": "object"}),
            params=[{"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}],
            errors=(401, 404))},
        "/registers": {"get": _op("The registers and their fields", _json({"type": "array", "items": {
            "type": "object"}}), errors=(401,))},
        "/registers/{name}": {
            "get": _op("Records of a register (filters: any filterable field, q)", _json({"type": "object"}),
                       params=[_name()], errors=(400, 401, 404)),
            "post": _op("Create a record (field errors in error.details.fields)", _json({"type": "object"}),
                        params=[_name()], body={j: {"schema": {"type": "object"}}}, status="201")},
        "/registers/{name}/{id}": {
            "get": _op("One record", _json({"type": "object"}), params=[_name(), _path_id("id")]),
            "put": _op("Update a record (send lock_version; a stale one gives 409)", _json({"type": "object"}),
                       params=[_name(), _path_id("id")], body={j: {"schema": {"type": "object"}}},
                       errors=(400, 401, 403, 404, 409))},
        "/registers/{name}/export": {"get": _op("Export as .xlsx or .csv (format=xlsx|csv)", {
            "description": "file"}, params=[_name(), _query("format")])},
        "/registers/{name}/import": {"post": _op(
            "Import .xlsx/.csv: all rows validated; any error stores nothing (error.details.rows)",
            _json({"type": "object"}), params=[_name()], body={"multipart/form-data": {"schema": {
                "type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}}},
            status="201")},
        "/search": {"get": _op("Full-text search (Chinese), only what the caller may see", _json(
            {"type": "object", "properties": {"results": {"type": "array", "items": {"type": "object"}}}}),
            params=[_query("q", True)], errors=(400, 401))},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "cmsflow API", "version": "1.0.0",
                 "description": "Controlled documents and workflow tasks of a carbon emission management system."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {"schemas": SCHEMAS,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                       "responses": {"Error": {"description": "Error", "content": {
                           "application/json": {"schema": _ref("Error")}}}}},
    }
