"""The one permission layer: which roles may reach each route (pages and API alike, deny by default) and which
records a user may see (documents, nonconformities, reviews; the same rules for pages, API lists and search).

Two levels, as in EU GMP Annex 11 §12 / 21 CFR Part 11 §11.10(d) and OWASP ASVS 4.0.3 V4.1.3, V4.1.5, V4.2.1:
- **Route rules** (:data:`ROUTES`): every registered endpoint names the roles that may call it; an endpoint
  without a rule is refused for everyone (and logged), so a new route cannot be reachable by accident.
  ``tests/security/route_matrix.py`` holds the same table, reviewed by hand; the suite fails when they differ.
- **Object rules**: a department head sees their department's items; staff see effective documents, their own
  drafts and what they have tasks on; the management representative, top management, internal auditors (for
  nonconformities) and the administrator see all. Writes are further checked by each service (author of which
  department, owner of which action, the person a task is assigned to).

No Flask imports: the web and API hooks call :func:`check_route`.
"""
from __future__ import annotations

import logging

from sqlalchemy import or_
from sqlmodel import select

from cmsflow.auth.models import ROLES, User
from cmsflow.core.errors import PermissionDenied

log = logging.getLogger(__name__)

PUBLIC = "public"  # no sign-in needed (the login page, static files, the token endpoint, the API description)

ALL = frozenset(ROLES)
SYSTEM = ALL - {"staff"}  # management-system records beyond one's own work: audits, reviews, evaluations
MANAGERS = frozenset({"management_representative", "admin"})
REVIEWERS = frozenset({"management_representative", "top_management", "admin"})
PLANNERS = frozenset({"management_representative", "internal_auditor", "admin"})
AUTHORS = frozenset({"management_representative", "department_head", "staff", "admin"})
TRADERS = frozenset({"management_representative", "department_head", "staff", "admin"})  # + asset department
ADMIN = frozenset({"admin"})
SEE_ALL = frozenset({"management_representative", "top_management", "admin"})
SEE_ALL_NONCONFORMITIES = SEE_ALL | {"internal_auditor"}


def _rules(roles, *endpoints: str) -> dict:
    return dict.fromkeys(endpoints, roles)


ROUTES: dict[str, frozenset[str] | str] = {
    **_rules(PUBLIC, "auth.login", "static", "web.static", "web.set_language", "api.token", "api.openapi"),
    # one's own work: home, inbox, tasks, notifications, account, search
    **_rules(ALL, "web.home", "web.notifications", "auth.account", "auth.logout", "auth.revoke_token",
             "workflow.inbox", "workflow.task", "search.page", "api.tasks", "api.complete_task", "api.list_tokens",
             "api.revoke_token", "api.search_view"),
    # account administration (create, change, deactivate, unlock, reset a password; departments)
    **_rules(ADMIN, "auth.users", "auth.update_user", "auth.unlock_user", "auth.create_user", "auth.set_user_active",
             "auth.reset_password", "auth.departments", "auth.create_department", "auth.rename_department"),
    # failed process steps: the error and a retry (tests/security/test_faults.py)
    **_rules(ADMIN, "workflow.failures", "workflow.retry_failure"),
    # the workflow definitions: each BPMN file, its stored versions and their instances, the diagram
    **_rules(MANAGERS, "workflow.definitions", "workflow.definition"),
    # documented information: everyone reads (object rules); authors write (department checked by the service)
    **_rules(ALL, "documents.register", "documents.detail", "documents.download", "api.list_documents",
             "api.get_document", "api.version_file", "api.doc_templates"),
    **_rules(AUTHORS, "documents.new", "documents.new_upload", "documents.new_upload_form", "documents.edit",
             "documents.upload", "documents.revise", "documents.submit", "api.create_document", "api.upload_version",
             "api.revise", "api.submit"),
    **_rules(MANAGERS, "documents.withdraw", "api.withdraw"),
    # nonconformities: anyone raises; who sees which is an object rule; steps go to whoever holds the task
    **_rules(ALL, "nonconformities.index", "nonconformities.detail", "nonconformities.new", "nonconformities.step",
             "nonconformities.export", "api.nc_list", "api.nc_get", "api.nc_raise", "api.nc_step", "api.nc_export"),
    **_rules(SYSTEM, "api.nc_statistics"),
    # registers: read by all; the service decides who maintains which register
    **_rules(ALL, "registers.index", "registers.records", "registers.detail", "registers.export", "registers.new",
             "registers.import_records", "api.registers_index", "api.register_list", "api.register_get",
             "api.register_export", "api.register_create", "api.register_update", "api.register_import"),
    # standards: the list for all; coverage for the management system's people; choosing them for managers
    **_rules(ALL, "standards.index", "api.list_standards"),
    **_rules(SYSTEM, "standards.coverage", "standards.coverage_xlsx", "api.standard_coverage"),
    **_rules(MANAGERS, "api.set_applicable"),
    # carbon data: entered by departments; factors, methods, indicators and recalculation by managers
    **_rules(ALL, "carbon.index", "carbon.result", "api.carbon_emissions", "api.carbon_intensity",
             "api.carbon_result", "api.carbon_indicators"),
    **_rules(AUTHORS, "carbon.activity", "carbon.activity_evidence", "carbon.activity_import",
             "carbon.activity_template", "api.carbon_activity_add", "api.carbon_activity_evidence",
             "api.carbon_activity_evidence_get", "api.carbon_activity_import", "api.carbon_activity_list",
             "api.carbon_output_add", "api.carbon_output_list"),
    **_rules(SYSTEM, "carbon.factors", "api.carbon_factors", "api.carbon_methods", "api.carbon_recalculations"),
    **_rules(MANAGERS, "api.carbon_factor_add", "api.carbon_method_set", "api.carbon_indicator_set",
             "api.carbon_recalculate"),
    # maturity evaluation (T/CECA-G)
    **_rules(SYSTEM, "carbon.maturity_index", "carbon.maturity_detail", "carbon.maturity_report",
             "carbon.maturity_step", "api.maturity_list", "api.maturity_get", "api.maturity_report",
             "api.maturity_scheme", "api.maturity_step"),
    **_rules(REVIEWERS, "carbon.maturity_new", "api.maturity_create"),
    # internal audit: programmes planned by auditors and the MR; audits seen by the management system's people
    **_rules(SYSTEM, "audits.index", "audits.programme", "audits.detail", "audits.finding", "audits.report",
             "audits.step", "audits.add_line", "audits.record_line", "api.audit_list", "api.audit_get",
             "api.audit_report", "api.audit_step", "api.checklist_add", "api.checklist_attach",
             "api.checklist_record", "api.checklist_remove", "api.programme_list", "api.programme_get"),
    **_rules(PLANNERS, "audits.new_programme", "audits.add_audit", "audits.submit_programme",
             "api.programme_create", "api.programme_add_audit", "api.programme_submit"),
    # management review: action owners (anyone) see their review and complete their action
    **_rules(ALL, "reviews.detail", "reviews.complete_action", "api.review_get", "api.review_actions",
             "api.review_action_complete"),
    **_rules(SYSTEM, "reviews.index", "reviews.docx", "reviews.step", "api.review_list", "api.review_input_report",
             "api.review_minutes", "api.review_step", "api.review_schedule_get"),
    **_rules(REVIEWERS, "reviews.new", "reviews.refresh", "reviews.schedule", "api.review_create",
             "api.review_refresh", "api.review_schedule_set"),
    # compliance evaluation
    **_rules(SYSTEM, "compliance.index", "compliance.detail", "compliance.report_docx", "compliance.step",
             "api.evaluation_list", "api.evaluation_get", "api.evaluation_report", "api.evaluation_step",
             "api.evaluation_summary", "api.evaluation_due"),
    **_rules(MANAGERS, "compliance.start", "api.evaluation_start"),
    # carbon assets: the asset department's head and staff trade (the service checks the department)
    **_rules(ALL, "assets.index", "assets.register", "assets.transactions", "assets.transaction_evidence",
             "api.asset_overview", "api.asset_holdings", "api.asset_accounts", "api.asset_lots",
             "api.asset_transactions", "api.asset_transaction_evidence_get", "api.asset_prices", "assets.export",
             "api.asset_export"),
    **_rules(TRADERS, "assets.add_lot", "assets.add_price", "assets.add_transaction", "api.asset_lot_create",
             "api.asset_price_add", "api.asset_transaction_record", "api.asset_transaction_evidence"),
    **_rules(SYSTEM, "assets.cycles", "assets.cycle", "assets.cycle_evidence", "assets.cycle_step",
             "assets.verifications", "assets.verification_page", "assets.verification_report", "assets.measure",
             "assets.neutrality_index", "assets.statement", "assets.statement_docx", "assets.disclosure_index",
             "api.asset_cycles", "api.asset_cycle", "api.asset_cycle_evidence_get",
             "api.asset_cycle_step", "api.asset_verifications", "api.asset_verification", "api.asset_abatement",
             "api.asset_neutrality_balance", "api.asset_statements", "api.asset_statement",
             "api.asset_statement_docx", "api.asset_disclosures", "api.asset_criteria"),
    **_rules(MANAGERS, "assets.add_account", "assets.open_cycle", "assets.new_verification",
             "assets.verification_finding", "assets.verification_result", "assets.issue_statement",
             "assets.save_measure", "assets.save_criteria", "assets.prepare_report", "api.asset_account_open",
             "api.asset_cycle_open", "api.asset_cycle_evidence", "api.asset_verification_create",
             "api.asset_verification_finding", "api.asset_verification_report", "api.asset_verification_result",
             "api.asset_statement_issue", "api.asset_measure_add", "api.asset_measure_update",
             "api.asset_criteria_create", "api.asset_criteria_update", "api.asset_disclosure_prepare",
             "api.asset_finding_nonconformity"),
}


class NoRouteRule(PermissionDenied):
    """An endpoint with no entry in :data:`ROUTES`: refused for everyone (deny by default)."""

    code = "no_route_rule"


def is_public(endpoint: str | None) -> bool:
    """True for the few endpoints that need no sign-in."""
    return ROUTES.get(endpoint or "") == PUBLIC


def route_allowed(role: str | None, endpoint: str) -> bool:
    """Whether ``role`` (None: not signed in) may call ``endpoint``; False for an endpoint without a rule."""
    rule = ROUTES.get(endpoint)
    if rule == PUBLIC:
        return True
    return rule is not None and role in rule


def check_route(user: User | None, endpoint: str) -> None:
    """Raise PermissionDenied (``forbidden``, or ``no_route_rule`` — logged — for an endpoint nobody listed)
    unless the user's role may call ``endpoint``."""
    if endpoint not in ROUTES:
        log.error("endpoint %s has no rule in cmsflow.auth.permissions.ROUTES: refused", endpoint)
        raise NoRouteRule(f"功能 {endpoint} 未配置访问权限，已拒绝")
    if not route_allowed(getattr(user, "role", None), endpoint):
        raise PermissionDenied("您的角色无权使用此功能", code="forbidden")


# --- object rules ----------------------------------------------------------------------------------------------

def subject_tokens(user: User) -> set[str]:
    """The visibility tokens a user holds: ``user:<id>``, ``role:<role>`` and, for a department head,
    ``head:<department id>`` (search entries carry the tokens of who may see them; "all" is for everyone)."""
    tokens = {f"user:{user.id}", f"role:{user.role}"}
    if user.role == "department_head" and user.department_id is not None:
        tokens.add(f"head:{user.department_id}")
    return tokens


def visible(user: User, visibility: str) -> bool:
    """Whether a search entry's ``visibility`` ("all" or space-separated tokens) admits ``user``."""
    return visibility == "all" or bool(subject_tokens(user) & set(visibility.split()))


def _task_subject_ids(subject_type: str, user: User):
    """SQL: ids of the records of ``subject_type`` on which ``user`` holds or held a task (personally, or by
    role in their department)."""
    from cmsflow.workflow.assignment import holder_filter
    from cmsflow.workflow.models import HumanTask

    return select(HumanTask.subject_id).where(HumanTask.subject_type == subject_type, holder_filter(user))


def document_condition(user: User):
    """SQL condition on Document: published versions for all; drafts for the system owners, the author, the
    head of the owning department and whoever has a task on the document. None: no restriction."""
    from cmsflow.documents.models import Document

    if user.role in SEE_ALL:
        return None
    mine = [Document.effective_version.is_not(None), Document.status.in_(("superseded", "obsolete")),
            Document.author_id == user.id, Document.id.in_(_task_subject_ids("document", user))]
    if user.role == "department_head":
        mine.append(Document.department_id == user.department_id)
    return or_(*mine)


def document_visibility(doc) -> str:
    """The search visibility of a document (see :func:`visible`); task holders are added by the caller."""
    if doc.effective_version is not None or doc.status in ("superseded", "obsolete"):
        return "all"
    return " ".join(sorted({f"head:{doc.department_id}", f"user:{doc.author_id}",
                            *(f"role:{r}" for r in SEE_ALL)}))


def nonconformity_condition(user: User):
    """SQL condition on Nonconformity: all for the MR, top management, internal auditors and the administrator;
    a department head their department's; anyone those they raised, own, implement or verify, or hold a task
    on. None: no restriction."""
    from cmsflow.nonconformities.models import Nonconformity

    if user.role in SEE_ALL_NONCONFORMITIES:
        return None
    mine = [Nonconformity.raised_by_id == user.id, Nonconformity.owner_id == user.id,
            Nonconformity.implementer_id == user.id, Nonconformity.verifier_id == user.id,
            Nonconformity.id.in_(_task_subject_ids("nonconformity", user))]
    if user.role == "department_head":
        mine.append(Nonconformity.department_id == user.department_id)
    return or_(*mine)


def nonconformity_visibility(nc) -> str:
    """The search visibility of a nonconformity (see :func:`visible`)."""
    people = {nc.raised_by_id, nc.owner_id, nc.implementer_id, nc.verifier_id} - {None}
    return " ".join(sorted({f"head:{nc.department_id}", *(f"user:{u}" for u in people),
                            *(f"role:{r}" for r in SEE_ALL_NONCONFORMITIES)}))


def may_see(session, user: User, model, row_id: int, condition) -> bool:
    """Whether the row ``row_id`` of ``model`` satisfies ``condition`` (None: everyone may see it)."""
    if condition is None:
        return True
    return session.exec(select(model.id).where(model.id == row_id, condition)).first() is not None


def review_condition(user: User):
    """SQL condition on ManagementReview: staff see the reviews in which they own an action; the others all
    (None: no restriction)."""
    from cmsflow.reviews.models import ManagementReview, ReviewAction

    if user.role != "staff":
        return None
    return ManagementReview.id.in_(select(ReviewAction.review_id).where(ReviewAction.owner_id == user.id))


def review_visibility(owner_ids) -> str:
    """The search visibility of a management review: every role but staff, and the owners of its actions."""
    return " ".join(sorted({*(f"role:{r}" for r in SYSTEM), *(f"user:{u}" for u in owner_ids)}))


# The search visibility of records whose pages only the management system's people reach (audits, compliance
# evaluations, carbon compliance cycles, verifications): the roles of SYSTEM.
SYSTEM_VISIBILITY = " ".join(sorted(f"role:{r}" for r in SYSTEM))


# --- object rules for writes: records owned by a department ---------------------------------------------------
# A department's records (register records, monthly activity data and their evidence) are written by that
# department's head and staff, by the management representative and by the administrator; giving a record to
# another department is for the last two alone (OWASP ASVS 4.0.3 V4.2.1; 21 CFR Part 11 §11.10(d), (g)).
# Pages, API and imports call the same checks through each domain's service.

DEPARTMENT_WRITERS = frozenset({"department_head", "staff"})
WRITE_ANY_DEPARTMENT = MANAGERS


def may_write_department(user: User, department_id: int | None,
                         writers: frozenset[str] = DEPARTMENT_WRITERS) -> bool:
    """Whether ``user`` may write a record owned by ``department_id`` (None: owned by no department — the
    managers' alone). ``writers``: the roles of the owning department that maintain this kind of record."""
    if user.role in WRITE_ANY_DEPARTMENT:
        return True
    return (department_id is not None and user.role in writers and user.department_id == department_id)


def check_department_write(user: User, department_id: int | None, what: str, *,
                           new_department_id: int | None = None, moving: bool = False,
                           writers: frozenset[str] = DEPARTMENT_WRITERS) -> None:
    """Raise PermissionDenied (``other_department``, or ``move_refused`` for giving the record to another
    department) unless ``user`` may write ``what`` owned by ``department_id`` and, when ``moving``, give it to
    ``new_department_id``. The message names the rule, in Chinese."""
    if not may_write_department(user, department_id, writers):
        raise PermissionDenied(f"您只能维护本部门的{what}；此记录属于其他部门", code="other_department")
    if moving and new_department_id != department_id and user.role not in WRITE_ANY_DEPARTMENT:
        raise PermissionDenied(f"只有管理者代表或系统管理员可以把{what}移交给其他部门", code="move_refused")
