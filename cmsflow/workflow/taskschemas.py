"""The declared input of every task form: which fields it takes, their types and lengths (pydantic v2).

Each form named in ``workflows/*.bpmn`` (``spiffworkflow:property name="form"``) and each built-in or registered
form (:mod:`cmsflow.workflow.taskforms`) has one entry in :data:`SCHEMAS`: whether it takes a ``decision`` and
a model of its ``data`` object (unknown keys refused). :func:`validate` runs before a task is completed (API
``POST /api/v1/tasks/<id>/complete``, the domain step endpoints and the task page all go through
:func:`cmsflow.workflow.service.complete_task`), so free-form input never reaches a handler, the history or a
signature.

Shapes: ``decision`` a string of at most 20 characters, only on forms that take one (which values are
accepted is the handler's check, with its own message); ``comment`` a string of at most 2000 characters;
``password`` a string of at most 256 characters; ``data`` an object whose keys are the form's fields.

Errors: :class:`cmsflow.core.errors.ValidationError` code ``invalid_task_input`` (400), message naming the
fields, ``details = {"fields": {name: message}}`` with ``decision``, ``comment``, ``password`` or
``data.<key>``.

Source: 21 CFR Part 11 §11.10(a)/(h) (valid input; device/operational checks) and EU GMP Annex 11 §5 (data
input checks) — what a signer records must be what the step asks for: an "approve" on a step without a decision
would otherwise read as "同意" in the record.
"""
from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints
from pydantic import ValidationError as PydanticError

from cmsflow.core.errors import ValidationError

COMMENT_MAX = 2000
DECISION_MAX = 20
PASSWORD_MAX = 256

Short = Annotated[str, StringConstraints(max_length=200)]
Text = Annotated[str, StringConstraints(max_length=10000)]
Number = Short | int | float
Ref = Short | int  # a user (username or id), a record id
Day = Short | date  # an ISO date (the demo and services hand dates)


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoData(_Data):
    """A form that takes no data."""


class ComplianceEvaluate(_Data):
    result: Short | None = None
    evidence: Text | None = None


class CarbonEmissions(_Data):
    verification_id: Ref | None = None


class CarbonDecision(_Data):
    decision: Short | None = None
    buy_quantity: Number | None = None
    sell_quantity: Number | None = None
    offset_quantity: Number | None = None
    price_limit: Number | None = None
    note: Text | None = None


class CarbonEvidence(_Data):
    evidence_note: Text | None = None


class ReviewPrepare(_Data):
    commentary: dict[Short, Text | None] | None = None
    attendees: Text | list[Short] | None = None
    planned_on: Day | None = None


class ReviewOutputs(_Data):
    suitability: Text | None = None
    adequacy: Text | None = None
    effectiveness: Text | None = None
    conclusion: Text | None = None
    policy_changes: Text | None = None
    objective_changes: Text | None = None
    system_changes: Text | None = None
    improvement: Text | None = None
    resource_needs: Text | None = None
    held_on: Day | None = None
    attendees: Text | list[Short] | None = None
    decisions: list[dict[Short, Any]] | None = None


class AuditPlan(_Data):
    start_date: Day | None = None
    end_date: Day | None = None
    team: list[Ref] | None = None
    auditees: list[Ref] | None = None
    clauses: list[Short] | None = None


class AuditReport(_Data):
    summary: Text | None = None
    conclusion: Text | None = None


class NcOwner(_Data):
    owner: Ref | None = None


class NcCorrection(_Data):
    correction: Text | None = None
    consequences: Text | None = None


class NcCause(_Data):
    whys: list[Text] | Text | None = None
    cause_categories: list[Short] | None = None
    root_cause: Text | None = None
    similar_check: Text | None = None
    similar_found: bool | Short | None = None
    system_change_needed: bool | Short | None = None
    system_change_note: Text | None = None
    system_change_document: Ref | None = None


class NcActions(_Data):
    actions: list[dict[Short, Any]] | None = None


class MaturityPlan(_Data):
    objective: Text | None = None
    criteria: Text | None = None
    scope: Text | None = None
    schedule: Text | None = None
    team: list[Short] | None = None


class MaturityDocuments(_Data):
    document_review: Text | None = None
    focus_points: Text | None = None


class MaturityOnsite(_Data):
    findings: dict[Short, Text | None] | None = None


class MaturityScore(_Data):
    scores: dict[Short, Any] | None = None
    intensity: Number | None = None
    industry_advanced: Number | None = None
    best_previous: Number | None = None
    conclusion: Text | None = None


# form name → (takes a decision, data model)
SCHEMAS: dict[str, tuple[bool, type[_Data]]] = {
    "approval": (True, NoData),
    "revise": (False, NoData),
    "acknowledge": (False, NoData),
    "compliance_evaluate": (True, ComplianceEvaluate),  # the result may come as the decision
    "compliance_confirm": (True, NoData),
    "carbon_compliance_emissions": (False, CarbonEmissions),
    "carbon_compliance_decision": (True, CarbonDecision),  # buy/sell/offset/hold, as decision or data.decision
    "carbon_compliance_execution": (False, NoData),
    "carbon_compliance_surrender": (False, NoData),
    "carbon_compliance_evidence": (False, CarbonEvidence),
    "review_prepare": (False, ReviewPrepare),
    "review_outputs": (True, ReviewOutputs),
    "audit_plan": (False, AuditPlan),
    "audit_checklist": (False, NoData),
    "audit_findings": (False, NoData),
    "audit_report": (False, AuditReport),
    "nc_accept": (True, NcOwner),
    "nc_dispute": (True, NcOwner),
    "nc_correction": (False, NcCorrection),
    "nc_cause": (False, NcCause),
    "nc_plan": (False, NcActions),
    "nc_implement": (False, NcActions),
    "nc_verify": (True, NoData),
    "maturity_plan": (False, MaturityPlan),
    "maturity_document_review": (False, MaturityDocuments),
    "maturity_onsite": (False, MaturityOnsite),
    "maturity_score": (False, MaturityScore),
}

_MESSAGES = {"extra_forbidden": "不接受此字段", "string_type": "必须是文字", "list_type": "必须是数组",
             "dict_type": "必须是对象", "bool_type": "必须是是/否", "int_type": "必须是整数"}


def _message(err: dict) -> str:
    if err["type"] == "string_too_long":
        return f"不能超过 {err['ctx']['max_length']} 个字符"
    return _MESSAGES.get(err["type"], "格式不正确")


def _text(value, name: str, limit: int, errors: dict) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors[name] = "必须是文字"
        return None
    if len(value) > limit:
        errors[name] = f"不能超过 {limit} 个字符"
    return value


def validate(form: str, decision, comment, password, data) -> tuple[str | None, str, dict]:
    """Check a submission against the form's schema; returns ``(decision or None, comment, data)``.

    A form without an entry takes neither a decision nor data. Raises ValidationError ``invalid_task_input``.
    """
    takes_decision, model = SCHEMAS.get(form, (False, NoData))
    errors: dict[str, str] = {}
    decision = _text(decision, "decision", DECISION_MAX, errors) or None
    if decision is not None and not takes_decision and "decision" not in errors:
        errors["decision"] = "此步骤没有结论选项，不接受 decision"
    comment = _text(comment, "comment", COMMENT_MAX, errors) or ""
    _text(password, "password", PASSWORD_MAX, errors)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        errors["data"] = "必须是对象"
    else:
        try:
            model.model_validate(data)
        except PydanticError as exc:
            for err in exc.errors():
                key = ".".join(str(p) for p in err["loc"][:1])
                errors.setdefault(f"data.{key}", _message(err))
    if errors:
        listed = "；".join(f"{name}：{msg}" for name, msg in errors.items())
        raise ValidationError(f"任务输入无效（{listed}）", code="invalid_task_input", details={"fields": errors})
    return decision, comment, data
