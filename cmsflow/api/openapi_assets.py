"""OpenAPI paths of /api/v1/assets (carbon assets, compliance cycles, verification, neutrality, disclosure)."""
from __future__ import annotations

from cmsflow.api.openapi import _json, _op, _path_id, _query, _ref

CYCLE_STEP_DOC = """Complete the compliance cycle's current step (carbon_compliance.bpmn). Body: decision, comment,
password, data. confirm_emissions (management representative): data.verification_id (a completed verification of
the year; default the latest). propose_decision: data.decision buy|sell|offset|hold, data.buy_quantity,
data.sell_quantity, data.offset_quantity (400 offset_limit_exceeded beyond the offset limit), data.price_limit,
data.note; the plan must cover the shortfall. approve_decision (top management): decision approve|reject,
password (signature). execute_decision: the recorded trades must cover the verified emissions (400
execution_incomplete). surrender_allowances: surrender transactions of this cycle must cover the verified emissions
(400 surrender_incomplete). record_evidence: an evidence file uploaded first (POST …/evidence), data.evidence_note."""

TRANSACTION = {"type": "object", "required": ["kind", "lot", "quantity", "account"], "properties": {
    "kind": {"enum": ["allocation", "purchase", "sale", "transfer", "pledge", "release", "surrender", "retirement"]},
    "lot": {"type": ["string", "integer"], "description": "lot code or id"},
    "quantity": {"type": "string", "description": "tCO2e (green certificates: MWh), > 0"},
    "account": {"type": ["string", "integer"], "description": "account code or id the units leave (or arrive in)"},
    "to_account": {"type": ["string", "integer"], "description": "transfer only"},
    "date": {"type": "string", "format": "date"}, "price": {"type": "string", "description": "CNY per unit"},
    "counterparty": {"type": "string"}, "cycle_id": {"type": "integer", "description": "surrender only"},
    "serial_start": {"type": "integer"}, "serial_end": {"type": "integer"}, "purpose": {"type": "string"},
    "note": {"type": "string"}}}


def _body(props: dict, required: list) -> dict:
    return {"application/json": {"schema": {"type": "object", "required": required,
                                            "properties": {k: {"type": t} for k, t in props.items()}}}}


def _file() -> dict:
    return {"multipart/form-data": {"schema": {"type": "object", "properties": {
        "file": {"type": "string", "format": "binary"}}}}}


def _register_paths(obj: dict) -> dict:
    return {
        "/assets/accounts": {
            "get": _op("Registry and trading accounts", obj, errors=(401,)),
            "post": _op("Open an account (management representative)", obj, status="201", body=_body(
                {"code": "string", "name": "string", "kind": "string", "institution": "string", "number": "string"},
                ["code", "name", "kind", "institution"]))},
        "/assets/lots": {
            "get": _op("Lots: allowances per compliance year, credit lots with serial ranges", obj, errors=(401,)),
            "post": _op("Register a lot (cea: compliance_year; credits: name, methodology, vintage, serial_prefix, "
                        "serial_start, serial_end; 409 serial_overlap)", obj, status="201", errors=(400, 401, 403, 409),
                        body=_body({"asset_type": "string", "name": "string", "compliance_year": "integer",
                                    "methodology": "string", "vintage": "integer", "registry": "string",
                                    "serial_prefix": "string", "serial_start": "integer", "serial_end": "integer"},
                                   ["asset_type"]))},
        "/assets/transactions": {
            "get": _op("Transactions (filters: kind, lot, account, cycle)", obj,
                       params=[_query(n) for n in ("kind", "lot", "account", "cycle")], errors=(400, 401, 404)),
            "post": _op("Record a movement; refused and nothing stored when a balance would go negative (400 "
                        "insufficient_balance), offsets exceed the limit (400 offset_limit_exceeded) or serials were "
                        "used before (409 serial_already_used, naming the earlier transaction)", obj, status="201",
                        body={"application/json": {"schema": TRANSACTION}}, errors=(400, 401, 403, 409))},
        "/assets/transactions/{id}/evidence": {
            "post": _op("Attach the transaction's evidence", obj, params=[_path_id("id")], body=_file(), status="201",
                        errors=(400, 401, 403, 404, 507)),
            "get": _op("Download the evidence", {"description": "file"}, params=[_path_id("id")], errors=(401, 404))},
        "/assets/holdings": {"get": _op("Balances per lot, account and status (held, pledged, surrendered, retired, "
                                        "sold), summed from transactions, valued at the latest price", obj,
                                        errors=(401,))},
        "/assets/export.xlsx": {"get": _op("Holdings, transactions and compliance cycles as .xlsx",
                                           {"description": "Excel file"}, errors=(401,))},
        "/assets/overview": {"get": _op("Dashboard: allowance position, days to the next surrender deadline, latest "
                                        "neutrality statement", obj, errors=(401,))},
    }


def _valuation_paths(obj: dict) -> dict:
    return {
        "/assets/prices": {
            "get": _op("Market prices (filter: asset_type)", obj, params=[_query("asset_type")], errors=(401,)),
            "post": _op("Enter a price, CNY per unit (same type and day replaces)", obj, status="201", body=_body(
                {"asset_type": "string", "date": "string", "price": "string", "source": "string"},
                ["asset_type", "price", "source"]))},
        "/assets/abatement": {"get": _op("Reduction measures by abatement cost (CNY/tCO2e) against the latest "
                                         "allowance price: advice abate | buy", obj, errors=(401,))},
        "/assets/measures": {"post": _op("Add a reduction measure", obj, status="201", body=_body(
            {"title": "string", "department": "string", "annual_reduction": "string", "investment": "string",
             "lifetime_years": "integer", "annual_cost": "string", "status": "string"},
            ["title", "department", "annual_reduction", "investment", "lifetime_years", "annual_cost"]))},
        "/assets/measures/{id}": {"put": _op("Update a measure (lock_version required; 409 stale_edit)", obj,
                                             params=[_path_id("id")], errors=(400, 401, 403, 404, 409),
                                             body=_body({"lock_version": "integer"}, ["lock_version"]))},
    }


def _cycle_paths(obj: dict) -> dict:
    step_params = [_path_id("id"), {"name": "step", "in": "path", "required": True, "schema": {"type": "string"}}]
    return {
        "/assets/cycles": {
            "get": _op("Compliance cycles with their allowance position", obj, errors=(401,)),
            "post": _op("Open the cycle of a compliance year; starts carbon_compliance.bpmn (409 cycle_exists)", obj,
                        status="201", errors=(400, 401, 403, 409), body=_body(
                            {"compliance_year": "integer", "deadline": "string", "department": "string"},
                            ["compliance_year"]))},
        "/assets/cycles/{id}": {"get": _op("One cycle: position, decision, surrender transactions, history", obj,
                                           params=[_path_id("id")])},
        "/assets/cycles/{id}/steps/{step}": {"post": _op(
            CYCLE_STEP_DOC, obj, params=step_params, body={"application/json": {"schema": _ref("Completion")}},
            errors=(400, 401, 403, 404, 409))},
        "/assets/cycles/{id}/evidence": {
            "post": _op("Upload the evidence of completion", obj, params=[_path_id("id")], body=_file(), status="201",
                        errors=(400, 401, 403, 404, 507)),
            "get": _op("Download it", {"description": "file"}, params=[_path_id("id")], errors=(401, 404))},
    }


def _verification_paths(obj: dict) -> dict:
    return {
        "/assets/verifications": {
            "get": _op("Third-party verifications", obj, errors=(401,)),
            "post": _op("Record an engagement (verifier, year, period, scope)", obj, status="201", body=_body(
                {"compliance_year": "integer", "period_start": "string", "period_end": "string", "scope": "string",
                 "verifier": "string", "lead_verifier": "string"}, ["compliance_year", "scope", "verifier"]))},
        "/assets/verifications/{id}": {"get": _op("One verification with the differences per source and findings",
                                                  obj, params=[_path_id("id")])},
        "/assets/verifications/{id}/result": {"put": _op(
            "The verified result: verified_emissions (default the sum of lines), lines [{emission_source, verified, "
            "note}], conclusion, lock_version", obj, params=[_path_id("id")], errors=(400, 401, 403, 404, 409),
            body=_body({"verified_emissions": "string", "lines": "array", "conclusion": "string",
                        "lock_version": "integer"}, ["conclusion"]))},
        "/assets/verifications/{id}/report": {"post": _op("Upload the verification report", obj,
                                                          params=[_path_id("id")], body=_file(), status="201",
                                                          errors=(400, 401, 403, 404, 507))},
        "/assets/verifications/{id}/findings": {"post": _op("Record a finding", obj, params=[_path_id("id")],
                                                            status="201", body=_body(
            {"description": "string", "severity": "string", "emission_source": "string"}, ["description"]))},
        "/assets/verification-findings/{id}/nonconformity": {"post": _op(
            "Raise a nonconformity from a finding (409 already_raised)", obj, params=[_path_id("id")], status="201",
            errors=(400, 401, 403, 404, 409), body=_body({"department": "string"}, ["department"]))},
    }


def _neutrality_paths(obj: dict) -> dict:
    return {
        "/assets/neutrality/balance": {"get": _op(
            "Emissions (accounting) minus unclaimed retirements (all, or the `transaction` ids) for from–to and the "
            "`source` boundary: net and status neutral | near_neutral | not_neutral", obj,
            params=[_query("from", True), _query("to", True), _query("source"), _query("transaction")],
            errors=(400, 401))},
        "/assets/neutrality": {
            "get": _op("Issued neutrality statements", obj, errors=(401,)),
            "post": _op("Issue a statement claiming retirements (409 already_claimed naming the earlier statement)",
                        obj, status="201", errors=(400, 401, 403, 409), body=_body(
                            {"period_start": "string", "period_end": "string", "boundary": "string",
                             "source_ids": "array", "transactions": "array"},
                            ["period_start", "period_end", "boundary", "transactions"]))},
        "/assets/neutrality/{id}": {"get": _op("One statement with its units", obj, params=[_path_id("id")])},
        "/assets/neutrality/{id}/statement.docx": {"get": _op("The statement (Word)", {"description": "Word file"},
                                                              params=[_path_id("id")], errors=(401, 404))},
    }


def _disclosure_paths(obj: dict) -> dict:
    criteria = {"code": "string", "title": "string", "mandatory": "boolean", "frequency": "string",
                "scope": "string", "audience": "string", "department": "string", "lock_version": "integer"}
    return {
        "/assets/disclosure-criteria": {
            "get": _op("Disclosure criteria", obj, errors=(401,)),
            "post": _op("Add criteria (frequency annual|semiannual|quarterly|event)", obj, status="201",
                        body=_body(criteria, ["code", "title", "frequency", "scope", "department"]))},
        "/assets/disclosure-criteria/{id}": {"put": _op("Update criteria (lock_version; 409 stale_edit)", obj,
                                                        params=[_path_id("id")], errors=(400, 401, 403, 404, 409),
                                                        body=_body(criteria, ["lock_version"]))},
        "/assets/disclosures": {
            "get": _op("Disclosure reports with the status of their controlled document", obj, errors=(401,)),
            "post": _op("Generate the report of a year (needs a completed verification) and submit it to "
                        "document_approval", obj, status="201", errors=(400, 401, 403, 404, 409),
                        body=_body({"criteria_id": "integer", "year": "integer"}, ["criteria_id", "year"]))},
    }


def assets_paths() -> dict:
    obj = _json({"type": "object"})
    return {**_register_paths(obj), **_valuation_paths(obj), **_cycle_paths(obj), **_verification_paths(obj),
            **_neutrality_paths(obj), **_disclosure_paths(obj)}
