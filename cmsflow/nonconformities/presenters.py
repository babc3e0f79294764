"""Nonconformities as JSON, as a spreadsheet, and in search."""
from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.styles import Font
from sqlmodel import Session, select

from cmsflow.auth import permissions
from cmsflow.auth.models import Department, User
from cmsflow.core.exports import append_row
from cmsflow.history import service as history
from cmsflow.nonconformities import service
from cmsflow.nonconformities.models import SEVERITIES, SOURCES, STATUSES, Nonconformity
from cmsflow.search.backend import Entry
from cmsflow.search.service import register_provider


def username(session: Session, user_id: int | None) -> str | None:
    user = session.get(User, user_id) if user_id else None
    return user.username if user else None


def history_json(session: Session, subject_type: str, subject_id: int) -> list[dict]:
    return [{"at": e.at.isoformat(), "actor": e.actor_name, "action": e.action, "details": e.details}
            for e in history.for_subject(session, subject_type, subject_id)]


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def nc_json(session: Session, nc: Nonconformity, *, full: bool = False) -> dict:
    dept = session.get(Department, nc.department_id)
    task = service.open_task(session, nc)
    out = {"id": nc.id, "code": nc.code, "title": nc.title, "source": nc.source, "source_ref": nc.source_ref,
           "severity": nc.severity, "department": dept.code if dept else None, "status": nc.status,
           "raised_by": username(session, nc.raised_by_id), "raised_on": nc.raised_on.isoformat(),
           "clauses": service.clauses_of(session, nc), "owner": username(session, nc.owner_id),
           "current_step": task.name if task else None,
           "step_due_at": _iso(task.due_at) if task else None, "closed_at": _iso(nc.closed_at),
           "lock_version": nc.lock_version}
    if full:
        out.update({
            "description": nc.description, "evidence": nc.evidence, "dispute_reason": nc.dispute_reason,
            "correction": nc.correction, "consequences": nc.consequences, "whys": nc.whys,
            "cause_categories": nc.cause_categories, "root_cause": nc.root_cause,
            "similar_check": nc.similar_check, "similar_found": nc.similar_found,
            "system_change_needed": nc.system_change_needed, "system_change_note": nc.system_change_note,
            "system_change_document_id": nc.system_change_document_id, "cycle": nc.cycle,
            "verifier": username(session, nc.verifier_id), "implementer": username(session, nc.implementer_id),
            "verification_from": _iso(nc.verification_from), "verification_note": nc.verification_note,
            "verified_by": username(session, nc.verified_by_id), "verified_at": _iso(nc.verified_at),
            "actions": [{"id": a.id, "cycle": a.cycle, "seq": a.seq, "description": a.description,
                         "owner": username(session, a.owner_id), "due_date": a.due_date.isoformat(),
                         "status": a.status, "evidence": a.evidence, "completed_at": _iso(a.completed_at)}
                        for a in service.actions_of(session, nc)],
            "history": history_json(session, service.SUBJECT, nc.id),
        })
    return out


EXPORT_HEADERS = ["编号", "标题", "来源", "严重程度", "责任部门", "依据条款", "状态", "提出人", "提出日期",
                  "纠正", "根本原因", "纠正措施", "验证情况", "关闭时间"]


def export_xlsx(session: Session, rows: list[Nonconformity]) -> bytes:
    """The nonconformity register as .xlsx, one row per nonconformity, labels in Chinese."""
    wb = Workbook()
    ws = wb.active
    ws.title = "不符合项台账"
    append_row(ws, EXPORT_HEADERS)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    depts = {d.id: d.name for d in session.exec(select(Department))}
    for nc in rows:
        actions = "；".join(f"{a.seq}. {a.description}（{a.due_date}）"
                           for a in service.actions_of(session, nc, nc.cycle))
        append_row(ws, [nc.code, nc.title, SOURCES.get(nc.source, nc.source), SEVERITIES.get(nc.severity, nc.severity),
                   depts.get(nc.department_id, ""), "；".join(service.clauses_of(session, nc)),
                   STATUSES.get(nc.status, nc.status), username(session, nc.raised_by_id), nc.raised_on,
                   nc.correction or "", nc.root_cause or "", actions, nc.verification_note or "",
                   nc.closed_at.strftime("%Y-%m-%d %H:%M") if nc.closed_at else ""])
    for col, width in zip("ABCDEFGHIJKLMN", (14, 30, 12, 12, 12, 22, 12, 12, 12, 30, 30, 40, 30, 16), strict=True):
        ws.column_dimensions[col].width = width
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _entry(session: Session, nc_id: int) -> Entry | None:
    nc = session.get(Nonconformity, nc_id)
    if nc is None:
        return None
    body = " ".join(filter(None, [nc.description, nc.evidence, nc.correction, nc.root_cause,
                                  " ".join(nc.whys or []), SOURCES.get(nc.source, ""),
                                  " ".join(service.clauses_of(session, nc))]))
    return Entry(key=f"nonconformity:{nc.id}", type="nonconformity", id=nc.id, title=f"不符合项：{nc.title}",
                 code=nc.code, body=body, url=f"/nonconformities/{nc.id}",
                 visibility=permissions.nonconformity_visibility(nc))


def _ids(session: Session):
    return session.exec(select(Nonconformity.id)).all()


register_provider(service.SUBJECT, _entry, _ids)
