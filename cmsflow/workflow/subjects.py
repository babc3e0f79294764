"""What a task is about, in words: "CEMS-PR-001 温室气体排放管理程序" instead of "文件 #1" in the inbox, on the
home page and on the task page. One query per subject type on the page, whatever the number of tasks."""
from __future__ import annotations

from importlib import import_module

from sqlmodel import Session, col, select

# subject_type → (module, model); the model has ``code`` and, most of them, ``title``
MODELS = {
    "document": ("cmsflow.documents.models", "Document"),
    "nonconformity": ("cmsflow.nonconformities.models", "Nonconformity"),
    "audit": ("cmsflow.audits.models", "Audit"),
    "audit_programme": ("cmsflow.audits.models", "AuditProgramme"),
    "management_review": ("cmsflow.reviews.models", "ManagementReview"),
    "compliance_evaluation": ("cmsflow.compliance.models", "ComplianceEvaluation"),
    "compliance_cycle": ("cmsflow.assets.models", "ComplianceCycle"),
    "maturity_evaluation": ("cmsflow.carbon.models", "MaturityEvaluation"),
}


def names(session: Session, tasks) -> dict[tuple[str, int], str]:
    """``{(subject_type, subject_id): "code title"}`` for the subjects of ``tasks`` (unknown types are left out,
    the caller shows the type and number instead)."""
    wanted: dict[str, set[int]] = {}
    for task in tasks:
        if task.subject_type in MODELS and task.subject_id is not None:
            wanted.setdefault(task.subject_type, set()).add(task.subject_id)
    out = {}
    for subject_type, ids in wanted.items():
        module, name = MODELS[subject_type]
        model = getattr(import_module(module), name)
        for row in session.exec(select(model).where(col(model.id).in_(ids))):
            out[(subject_type, row.id)] = " ".join(filter(None, [row.code, getattr(row, "title", "")]))
    return out
