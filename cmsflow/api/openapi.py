"""OpenAPI 3.1 description of /api/v1."""
from __future__ import annotations

ERR = {"$ref": "#/components/responses/Error"}


def _op(summary: str, ok: dict, *, body: dict | None = None, params: list | None = None,
        errors=(400, 401, 403, 404), status: str = "200") -> dict:
    """One operation. Every operation behind the bearer token may also answer 401 (no, expired or revoked token)
    and 403 (the caller's role or department may not do this), so both are always documented."""
    codes = sorted({*errors, 401, 403})
    op = {"summary": summary, "responses": {status: ok, **{str(c): ERR for c in codes}}}
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


PAGING = [{"name": "page", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}},
          {"name": "per_page", "in": "query", "required": False,
           "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}}]
PAGE_FIELDS = {"page": {"type": "integer"}, "per_page": {"type": "integer"}, "pages": {"type": "integer"},
               "total": {"type": "integer"}}


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
        "decision": {"type": "string", "description": "approval forms: approve | reject; other forms name theirs"},
        "comment": {"type": "string"},
        "data": {"type": "object", "description": "form input for the task's form (see the domain's step docs)"},
        "password": {"type": "string", "description": "re-entered password: the electronic signature"}}},
    "Token": {"type": "object", "properties": {
        "id": {"type": "integer"}, "created_at": {"type": "string", "format": "date-time"},
        "expires_at": {"type": "string", "format": "date-time"},
        "revoked_at": {"type": ["string", "null"], "format": "date-time"},
        "current": {"type": "boolean", "description": "the token of this request"}}},
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
                                                 "password": {"type": "string"}}}}}, errors=(400, 401, 429)),
            "description": "401 invalid_credentials, or account_locked after LOGIN_MAX_FAILURES wrong passwords in "
                           "a row; 403 password_change_required while the password is a temporary one set by an "
                           "administrator (change it on /account first); 429 rate_limited over LOGIN_RATE_LIMIT "
                           "per client address.",
            "security": []}},
        "/tokens": {"get": _op("The caller's API tokens (never their values)", _json({"type": "object", "properties": {
            "tokens": {"type": "array", "items": _ref("Token")}}}), errors=(401,))},
        "/tokens/{id}": {"delete": _op("Revoke one of the caller's tokens; it is refused from then on (401 "
                                       "token_revoked)", _json(_ref("Token")), params=[_path_id("id")],
                                       errors=(401, 404))},
        "/doc-templates": {"get": _op("Word templates and their fields", _json(
            {"type": "array", "items": _ref("Template")}), errors=(401,))},
        "/documents": {
            "get": _op("Document register, a page at a time", _json({"type": "object", "properties": {
                "documents": {"type": "array", "items": _ref("Document")}, **PAGE_FIELDS}}),
                params=[_query("doc_type"), _query("department"), _query("status"), _query("q"), _query("clause"),
                        *PAGING]),
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
            errors=(400, 401, 403, 404, 409, 413, 507), status="201")},
        "/documents/{id}/versions/{number}/file": {"get": _op(
            "Download a version's .docx (the stamped controlled copy once effective)",
            {"description": "Word file", "content": {
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document": {}}},
            params=[_path_id("id"), _path_id("number")])},
        "/tasks": {"get": _op("The caller's open tasks, oldest first, a page at a time", _json(
            {"type": "object", "properties": {"tasks": {"type": "array", "items": _ref("Task")}, **PAGE_FIELDS}}),
            params=PAGING, errors=(401,))},
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
            "get": _op("Records of a register, a page at a time (filters: any filterable field, q)",
                       _json({"type": "object", "properties": PAGE_FIELDS}), params=[_name(), *PAGING],
                       errors=(400, 401, 404)),
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
            params=[_query("q", True), {"name": "limit", "in": "query", "required": False, "schema": {
                "type": "integer", "minimum": 1, "maximum": 100, "default": 20}}], errors=(400, 401))},
    }
    paths.update(nonconformity_paths())
    paths.update(audit_paths())
    paths.update(review_paths())
    paths.update(compliance_paths())
    paths.update(carbon_paths())
    paths.update(maturity_paths())
    from cmsflow.api.openapi_assets import assets_paths  # imports the helpers above

    paths.update(assets_paths())
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


NC_STEP_DOC = """Complete the nonconformity's current step. Body: decision, comment, data.
accept: decision accept|dispute (dispute needs comment), data.owner (username, same department).
decide_dispute: decision uphold|withdraw, comment required, data.owner optional.
correction: data.correction (required), data.consequences.
cause_analysis: data.whys (list), data.cause_categories (people|equipment|material|method|environment|measurement),
data.root_cause, data.similar_check, data.similar_found (bool), data.system_change_needed (bool),
data.system_change_note, data.system_change_document (document code).
action_plan: data.actions = [{description, owner (username), due_date (YYYY-MM-DD)}].
implementation: data.actions = [{id, evidence}] — every action needs evidence.
verification: decision effective|not_effective, comment required; never by the implementer; 409
verification_too_early during the waiting period."""


def nonconformity_paths() -> dict:
    j = "application/json"
    obj = _json({"type": "object"})
    new_nc = {"type": "object", "required": ["title", "description", "source", "department"], "properties": {
        "title": {"type": "string"}, "description": {"type": "string"}, "evidence": {"type": "string"},
        "source": {"enum": ["internal_audit", "compliance_evaluation", "monitoring", "management_review",
                            "interested_party", "external_audit", "verification", "carbon_compliance",
                            "other"]},
        "department": {"type": "string", "description": "department code"},
        "severity": {"enum": ["minor", "major"]}, "clauses": {"type": "array", "items": {"type": "string"}},
        "verifier": {"type": "string", "description": "username"},
        "raised_on": {"type": "string", "format": "date"}}}
    filters = [_query(n) for n in ("source", "status", "department", "clause", "overdue", "q")]
    return {
        "/nonconformities": {
            "get": _op("Nonconformity register, a page at a time (status=open for all open ones; overdue=1)",
                       _json({"type": "object", "properties": PAGE_FIELDS}), params=[*filters, *PAGING],
                       errors=(401,)),
            "post": _op("Raise a nonconformity; starts corrective_action.bpmn", obj,
                        body={j: {"schema": new_nc}}, status="201", errors=(400, 401, 403))},
        "/nonconformities/{id}": {"get": _op("One nonconformity with its chain, actions and history", obj,
                                             params=[_path_id("id")])},
        "/nonconformities/{id}/steps/{step}": {"post": _op(
            NC_STEP_DOC, obj, params=[_path_id("id"), {"name": "step", "in": "path", "required": True,
                                                       "schema": {"type": "string"}}],
            body={j: {"schema": _ref("Completion")}}, errors=(400, 401, 403, 404, 409))},
        "/nonconformities/export": {"get": _op("The register as .xlsx (same filters)", {"description": "file"},
                                               params=filters, errors=(401,))},
        "/nonconformities/statistics": {"get": _op(
            "Counts by source, status, severity, department, clause, month; average days to close",
            obj, params=[_query("from"), _query("to")], errors=(400, 401))},
    }


AUDIT_STEP_DOC = """Complete the audit's current step. plan_audit: data.start_date, data.end_date (YYYY-MM-DD),
data.team and data.auditees (usernames), data.clauses (optional); an auditor of an audited department is
refused (auditor_not_independent). prepare_checklist and record_findings: no data (every line needs a
result first). draft_report: data.summary, data.conclusion (renders the Word report).
approve_report: decision approve|reject, password (electronic signature)."""


def audit_paths() -> dict:
    j = "application/json"
    obj = _json({"type": "object"})
    planned = {"type": "object", "properties": {
        "title": {"type": "string"}, "month": {"type": "string", "example": "2026-05"},
        "departments": {"type": "array", "items": {"type": "string"}},
        "clauses": {"type": "array", "items": {"type": "string"}}, "lead_auditor": {"type": "string"}}}
    programme = {"type": "object", "required": ["title", "period_start", "period_end"], "properties": {
        "title": {"type": "string"}, "period_start": {"type": "string", "format": "date"},
        "period_end": {"type": "string", "format": "date"}, "objectives": {"type": "string"},
        "criteria": {"type": "array", "items": {"type": "string"}}, "audits": {"type": "array", "items": planned}}}
    line = {"type": "object", "properties": {
        "clause": {"type": "string"}, "question": {"type": "string"}, "department": {"type": "string"},
        "result": {"enum": ["conformity", "observation", "minor", "major"]}, "objective_evidence": {"type": "string"}}}
    ids = [_path_id("id")]
    line_ids = [_path_id("id"), _path_id("line")]
    step = {"name": "step", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "/audit-programmes": {
            "get": _op("Audit programmes with their audits and coverage", obj, errors=(401,)),
            "post": _op("Create a draft programme (optionally with its planned audits)", obj,
                        body={j: {"schema": programme}}, status="201", errors=(400, 401, 403))},
        "/audit-programmes/{id}": {"get": _op(
            "One programme: audits and coverage (clauses and departments not yet covered)", obj, params=ids)},
        "/audit-programmes/{id}/audits": {"post": _op("Add a planned audit to a draft programme", obj, params=ids,
                                                      body={j: {"schema": planned}}, status="201",
                                                      errors=(400, 401, 403, 404, 409))},
        "/audit-programmes/{id}/submit": {"post": _op("Submit for the management representative's approval", obj,
                                                      params=ids, errors=(400, 401, 403, 404, 409))},
        "/audits": {"get": _op("All audits", obj, errors=(401,))},
        "/audits/{id}": {"get": _op("One audit with its checklist, findings and history", obj, params=ids)},
        "/audits/{id}/steps/{step}": {"post": _op(AUDIT_STEP_DOC, obj, params=[*ids, step],
                                                  body={j: {"schema": _ref("Completion")}},
                                                  errors=(400, 401, 403, 404, 409))},
        "/audits/{id}/checklist": {"post": _op("Add a checklist line (audit team, checklist/on-site steps)", obj,
                                               params=ids, body={j: {"schema": line}}, status="201",
                                               errors=(400, 401, 403, 404, 409))},
        "/audits/{id}/checklist/{line}": {
            "put": _op("Record a line's result and objective evidence", obj, params=line_ids,
                       body={j: {"schema": line}}, errors=(400, 401, 403, 404, 409)),
            "delete": _op("Remove a line", {"description": "removed"}, params=line_ids, status="204",
                          errors=(401, 403, 404, 409))},
        "/audits/{id}/checklist/{line}/attachments": {"post": _op(
            "Attach evidence (PDF, JPG/PNG, .docx, .xlsx)", obj, params=line_ids, status="201",
            body={"multipart/form-data": {"schema": {"type": "object", "properties": {
                "file": {"type": "string", "format": "binary"}}}}}, errors=(400, 401, 403, 404, 409, 507))},
        "/audits/{id}/report": {"get": _op("The audit report .docx (the signed record once approved)", {
            "description": "Word file"}, params=ids)},
    }


REVIEW_STEP_DOC = """Complete the review's current step. prepare_review (management representative):
data.commentary = {input key: text}, data.attendees (names), data.planned_on (meeting date).
hold_review (top management): decision record|return (return needs comment); data.suitability, data.adequacy,
data.effectiveness, data.conclusion (required), data.policy_changes, data.objective_changes, data.system_changes,
data.improvement, data.resource_needs, data.held_on, data.attendees, data.decisions = [{kind
(improvement|system_change|policy|objectives|resources|corrective), description, owner (username), due_on}].
sign_minutes (top management): decision approve|reject, password (electronic signature); approval creates the
actions (corrective → nonconformity) and files the signed minutes."""

COMPLIANCE_STEP_DOC = """Complete the evaluation's current step. evaluate_obligation (head of the owning
department): data.result compliant|non_compliant|not_applicable, data.evidence (required).
confirm_evaluation (management representative): decision confirm|return (return needs comment); a confirmed
non_compliant result raises a nonconformity."""


def _step_params() -> list:
    return [_path_id("id"), {"name": "step", "in": "path", "required": True, "schema": {"type": "string"}}]


def review_paths() -> dict:
    j = "application/json"
    obj = _json({"type": "object"})
    new = {"type": "object", "required": ["period_start", "period_end"], "properties": {
        "period_start": {"type": "string", "format": "date"}, "period_end": {"type": "string", "format": "date"},
        "planned_on": {"type": "string", "format": "date"}, "title": {"type": "string"}}}
    schedule = {"type": "object", "required": ["next_review_on"], "properties": {
        "next_review_on": {"type": "string", "format": "date"}, "interval_months": {"type": "integer"},
        "preparation_days": {"type": "integer"}}}
    docx = {"description": "Word file"}
    return {
        "/management-reviews": {
            "get": _op("Management reviews, newest first, and the review schedule", obj, errors=(401,)),
            "post": _op("Start a review of a period by hand; inputs are gathered from the records at once", obj,
                        body={j: {"schema": new}}, status="201", errors=(400, 401, 403))},
        "/management-reviews/{id}": {"get": _op(
            "One review: inputs with their figures, commentary, outputs, decisions, actions, history", obj,
            params=[_path_id("id")])},
        "/management-reviews/{id}/inputs/refresh": {"post": _op(
            "Gather the inputs again (while the management representative prepares)", obj,
            params=[_path_id("id")])},
        "/management-reviews/{id}/steps/{step}": {"post": _op(
            REVIEW_STEP_DOC, obj, params=_step_params(), body={j: {"schema": _ref("Completion")}},
            errors=(400, 401, 403, 404, 409))},
        "/management-reviews/{id}/input-report.docx": {"get": _op("The review input report", docx,
                                                                  params=[_path_id("id")], errors=(401, 404))},
        "/management-reviews/{id}/minutes.docx": {"get": _op("The minutes: signed record, else the draft", docx,
                                                             params=[_path_id("id")], errors=(401, 404))},
        "/management-reviews/schedule": {
            "get": _op("The review cycle (next date, interval in months, preparation days)", obj, errors=(401,)),
            "put": _op("Plan the review cycle; restarts management_review_schedule", obj,
                       body={j: {"schema": schedule}}, errors=(400, 401, 403))},
        "/review-actions": {"get": _op("Open actions of management reviews (mine=1: the caller's)", obj,
                                       params=[_query("mine")], errors=(401,))},
        "/review-actions/{id}/complete": {"post": _op(
            "The owner reports an action done (note required; a corrective action needs its nonconformity closed)",
            obj, params=[_path_id("id")], body={j: {"schema": {"type": "object", "required": ["note"],
                                                                 "properties": {"note": {"type": "string"}}}}})},
    }


def compliance_paths() -> dict:
    j = "application/json"
    obj = _json({"type": "object"})
    period = [_query("from"), _query("to")]
    return {
        "/compliance-evaluations": {
            "get": _op("Compliance evaluations (filters: status, result, trigger, obligation)", obj,
                       params=[_query(n) for n in ("status", "result", "trigger", "obligation")], errors=(400, 401)),
            "post": _op("Start an evaluation of one obligation now (management representative)", obj,
                        body={j: {"schema": {"type": "object", "required": ["obligation_id"],
                                             "properties": {"obligation_id": {"type": "integer"}}}}},
                        status="201")},
        "/compliance-evaluations/{id}": {"get": _op("One evaluation with the obligation text it was made against",
                                                    obj, params=[_path_id("id")])},
        "/compliance-evaluations/{id}/steps/{step}": {"post": _op(
            COMPLIANCE_STEP_DOC, obj, params=_step_params(), body={j: {"schema": _ref("Completion")}},
            errors=(400, 401, 403, 404, 409))},
        "/compliance-evaluations/due": {"get": _op(
            "Obligations whose evaluation is overdue, and those due within `days` (default 30)", obj,
            params=[_query("days")], errors=(400, 401))},
        "/compliance-evaluations/summary": {"get": _op(
            "Per obligation the latest evaluation confirmed in the period, with totals", obj, params=period,
            errors=(400, 401))},
        "/compliance-evaluations/report.docx": {"get": _op("The compliance evaluation report of the period",
                                                           {"description": "Word file"}, params=period,
                                                           errors=(400, 401))},
    }


def carbon_paths() -> dict:
    j = "application/json"
    obj = _json({"type": "object"})
    months = [_query("from"), _query("to")]
    body = lambda props, req: {j: {"schema": {"type": "object", "required": req,  # noqa: E731
                                              "properties": {k: {"type": t} for k, t in props.items()}}}}
    return {
        "/carbon/factors": {
            "get": _op("Emission factor library, every version (filter: code)", obj, params=[_query("code")],
                       errors=(401,)),
            "post": _op("Add a factor, or a new version of (code, year); stored results do not change", obj,
                        body=body({"code": "string", "year": "integer", "name": "string", "kind": "string",
                                   "value": "string", "unit": "string", "gas": "string", "source": "string",
                                   "note": "string"}, ["code", "year", "kind", "value", "unit", "source"]),
                        status="201")},
        "/carbon/methods": {"get": _op("How each emission source is accounted", obj, errors=(401,))},
        "/carbon/methods/{id}": {"put": _op(
            "Set a source's method (combustion|process|electricity|heat|exported_electricity|exported_heat), "
            "activity unit and factor codes by role (ncv, carbon_content, oxidation | emission_factor)", obj,
            params=[_path_id("id")], body=body({"method": "string", "unit": "string", "factors": "object"},
                                               ["method", "unit", "factors"]))},
        "/carbon/activity": {
            "get": _op("Activity data of months from–to (YYYY-MM; filter: source) with current results", obj,
                       params=[*months, _query("source")], errors=(400, 401)),
            "post": _op("Enter a month's activity data of a source (a correction needs lock_version); "
                        "returns the stored result with its breakdown", obj,
                        body=body({"emission_source": "string", "period": "string", "quantity": "string",
                                   "unit": "string", "data_source": "string", "instrument": "string",
                                   "note": "string", "lock_version": "integer"},
                                  ["emission_source", "period", "quantity", "unit"]),
                        status="201", errors=(400, 401, 403, 409))},
        "/carbon/activity/import": {"post": _op(
            "Import activity data (.xlsx/.csv, columns 排放源 月份 数量 单位 数据来源 计量器具编号 说明): every row "
            "validated and accounted; any error stores nothing (error.details.rows)", obj,
            body={"multipart/form-data": {"schema": {"type": "object", "properties": {
                "file": {"type": "string", "format": "binary"}}}}}, status="201")},
        "/carbon/activity/{id}/evidence": {
            "post": _op("Attach the evidence file of an activity record (PDF, JPG/PNG, Word, Excel)", obj,
                        params=[_path_id("id")], body={"multipart/form-data": {"schema": {"type": "object",
                            "properties": {"file": {"type": "string", "format": "binary"}}}}}, status="201",
                        errors=(400, 401, 403, 404, 507)),
            "get": _op("Download the evidence file", {"description": "file"}, params=[_path_id("id")],
                       errors=(401, 404))},
        "/carbon/output": {
            "get": _op("Production output per product and month", obj, params=months, errors=(400, 401)),
            "post": _op("Enter a month's output of a product (intensity denominator)", obj,
                        body=body({"product": "string", "product_name": "string", "period": "string",
                                   "quantity": "string", "unit": "string"}, ["product", "period", "quantity", "unit"]),
                        status="201")},
        "/carbon/results/{id}": {"get": _op("One result with its breakdown: activity, factor versions, steps", obj,
                                            params=[_path_id("id")])},
        "/carbon/emissions": {"get": _op(
            "Totals in tCO2e of months from–to by group (source|department|facility|month|year|method)", obj,
            params=[*months, _query("group")], errors=(400, 401))},
        "/carbon/intensity": {"get": _op("Intensity C = E/Q of a product, overall and per month (T/CECA-G (1))",
                                         obj, params=[*months, _query("product", True)], errors=(400, 401, 404))},
        "/carbon/recalculations": {
            "get": _op("Logged recalculations", obj, errors=(401,)),
            "post": _op("Recalculate months from–to with the current factors (reason required)", obj,
                        body=body({"from": "string", "to": "string", "reason": "string"}, ["from", "to", "reason"]),
                        status="201")},
        "/carbon/indicators": {"get": _op("Monitored intensities with their deviations", obj, errors=(401,))},
        "/carbon/indicators/{product}": {"put": _op(
            "Set a product's intensity target (tCO2e per unit), deviation threshold (%) and department", obj,
            params=[{"name": "product", "in": "path", "required": True, "schema": {"type": "string"}}],
            body=body({"name": "string", "target": "string", "threshold_percent": "string", "department": "string",
                       "sources": "array"},
                      ["target", "threshold_percent", "department"]))},
    }


MATURITY_STEP_DOC = """Complete the evaluation's current step (lead evaluator, then top management).
plan_evaluation: data.objective, data.criteria, data.scope, data.schedule (required), data.team (names).
document_review: data.document_review (required), data.focus_points. onsite_evaluation: data.findings =
{plan, do, check, act} (at least one). score_evaluation: data.scores = {item code: {score, justification,
evidence}} for every item of the scheme (a deduction needs a justification), data.intensity (else from the
carbon data of the evaluation's product), data.industry_advanced or data.best_previous, data.conclusion.
approve_report (top management): decision approve|reject, password."""


def maturity_paths() -> dict:
    j = "application/json"
    obj = _json({"type": "object"})
    new = {"type": "object", "required": ["title", "period_start", "period_end", "lead"], "properties": {
        "title": {"type": "string"}, "period_start": {"type": "string", "format": "date"},
        "period_end": {"type": "string", "format": "date"}, "lead": {"type": "string"},
        "team": {"type": "array", "items": {"type": "string"}}, "product": {"type": "string"}}}
    return {
        "/maturity/scheme": {"get": _op("The scoring scheme: Table A.1 items, A.2 bands, weights, star bands", obj,
                                        errors=(401,))},
        "/maturity-evaluations": {
            "get": _op("Maturity evaluations", obj, errors=(401,)),
            "post": _op("Open an evaluation; starts maturity_evaluation.bpmn", obj, body={j: {"schema": new}},
                        status="201", errors=(400, 401, 403))},
        "/maturity-evaluations/{id}": {"get": _op(
            "One evaluation with scores, computed totals, rating and evidence suggestions", obj,
            params=[_path_id("id")])},
        "/maturity-evaluations/{id}/steps/{step}": {"post": _op(
            MATURITY_STEP_DOC, obj, params=_step_params(), body={j: {"schema": _ref("Completion")}},
            errors=(400, 401, 403, 404, 409))},
        "/maturity-evaluations/{id}/report.docx": {"get": _op("The report: signed record, else the draft",
                                                              {"description": "Word file"}, params=[_path_id("id")],
                                                              errors=(401, 404))},
    }
