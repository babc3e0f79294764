"""Internal audits and nonconformities of the demo company, texts in ``improvement.yaml``.

Everything goes through the services and workflows a user drives: nonconformities are raised and
stepped through ``corrective_action.bpmn`` to different stages; the 2026 audit programme is approved
with the management representative's signature; one audit runs to its signed, distributed report, one
stops during the on-site audit and the rest wait for their lead auditors.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from flask import current_app
from sqlmodel import Session

from cmsflow.audits import programmes
from cmsflow.audits import service as audits
from cmsflow.audits.models import Audit, AuditFinding
from cmsflow.auth.models import User
from cmsflow.demo.seed import DEMO_PASSWORD
from cmsflow.nonconformities import service as nonconformities
from cmsflow.nonconformities.models import Nonconformity
from cmsflow.workflow import service as workflow
from cmsflow.workflow.models import ProcessInstance

DATA = Path(__file__).with_name("improvement.yaml")


def seed_improvement(session: Session, users: dict[str, User]) -> None:
    """Add the nonconformities and the audit programme with its audits (the caller commits)."""
    data = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    for spec in data["nonconformities"]:
        _nonconformity(session, users, spec)
    for audit, spec in _programme(session, users, data["programme"]):
        if spec.get("run"):
            _run_audit(session, users, audit, spec["run"])


# --- nonconformities -------------------------------------------------------------------------------

def _nonconformity(session: Session, users: dict[str, User], spec: dict) -> Nonconformity:
    with _verification_wait(spec.get("verification_wait_days")):
        nc = nonconformities.raise_nonconformity(
            session, users[spec["raised_by"]], title=spec["title"], description=spec["description"],
            source=spec["source"], department=spec["department"], severity=spec["severity"],
            clauses=spec["clauses"], evidence=spec.get("evidence", ""), verifier=spec.get("verifier"),
            raised_on=spec["raised_on"])
        _steps(session, users, nc, spec.get("steps", []))
    if spec.get("overdue"):
        _backdate_open_step(session, nc)
    return nc


@contextmanager
def _verification_wait(days: int | None) -> Iterator[None]:
    """Run one case with another effectiveness-verification wait (None: leave the configured one).

    The wait reaches the case twice: as the process variable ``verification_wait`` when it is raised
    (the BPMN timer duration) and as ``verification_from`` at implementation, so both run inside.
    """
    if days is None:
        yield
        return
    cfg = current_app.config
    saved, cfg["CA_VERIFICATION_WAIT_DAYS"] = cfg["CA_VERIFICATION_WAIT_DAYS"], days
    try:
        yield
    finally:
        cfg["CA_VERIFICATION_WAIT_DAYS"] = saved


def _steps(session: Session, users: dict[str, User], nc: Nonconformity, steps: list[dict]) -> None:
    for spec in steps:
        nonconformities.complete_step(session, nc, users[spec["by"]], spec["step"], decision=spec.get("decision"),
                                      comment=spec.get("comment", ""), data=_step_data(session, nc, spec))
        if spec["step"] == "implementation":
            _let_wait_elapse(session, nc)


def _step_data(session: Session, nc: Nonconformity, spec: dict) -> dict:
    data = dict(spec.get("data") or {})
    if spec["step"] == "action_plan":
        today = date.today()
        data["actions"] = [{"description": a["description"], "owner": a["owner"],
                            "due_date": (today + timedelta(days=a["due_in_days"])).isoformat()}
                           for a in data["actions"]]
    if spec["step"] == "implementation":
        planned = nonconformities.actions_of(session, nc, nc.cycle)
        data["actions"] = [{"id": a.id, "evidence": text} for a, text in zip(planned, spec["evidence"], strict=True)]
    return data


def _let_wait_elapse(session: Session, nc: Nonconformity) -> None:
    """Step the case's process as the worker does, so an elapsed wait opens the verification task.

    With a zero wait the timer normally fires already while the implementation step is saved; this
    covers the case where it has not yet. With the configured wait nothing is due and nothing changes.
    """
    if nc.status == "awaiting_verification":
        workflow.fire_timers_of(session, session.get(ProcessInstance, nc.instance_id))


def _backdate_open_step(session: Session, nc: Nonconformity) -> None:
    """Make the case overdue: the one direct row change of the demo.

    The demo enters the case today although it was raised on ``raised_on``; its open step gets the due
    date it would have had if entered that day (``raised_on`` + CA_STEP_DUE_DAYS, 17:00 local time),
    which lies in the past. The step's reminder timers in the process keep counting from today.
    """
    task = nonconformities.open_task(session, nc)
    cfg = current_app.config
    due = nc.raised_on + timedelta(days=cfg["CA_STEP_DUE_DAYS"])
    task.due_at = datetime.combine(due, time(17, 0), tzinfo=ZoneInfo(cfg["TIMEZONE"])).astimezone(UTC)
    session.flush()


# --- audit programme and audits -------------------------------------------------------------------

def _programme(session: Session, users: dict[str, User], spec: dict) -> list[tuple[Audit, dict]]:
    """Create, fill, submit and approve the programme; approval starts one process per audit."""
    author = users[spec["author"]]
    prog = programmes.create_programme(session, author, title=spec["title"], period_start=spec["period_start"],
                                       period_end=spec["period_end"], objectives=spec["objectives"],
                                       criteria=spec["criteria"])
    planned = [(programmes.add_audit(session, author, prog, title=a["title"], month=a["month"],
                                     departments=a["departments"], clauses=a["clauses"],
                                     lead_auditor=a["lead_auditor"]), a) for a in spec["audits"]]
    programmes.submit_programme(session, author, prog)
    workflow.complete_step(session, programmes.PROGRAMME, prog.id, "approve_programme", users[spec["approver"]],
                           decision="approve", comment=spec.get("approval_comment", ""), password=DEMO_PASSWORD)
    return planned


def _run_audit(session: Session, users: dict[str, User], audit: Audit, run: dict) -> None:
    """Carry an audit from its plan up to ``run["until"]`` (``record_findings`` or ``closed``)."""
    lead = session.get(User, audit.lead_auditor_id)
    lines = _prepare(session, audit, lead, run)
    for item in run["checklist"]:
        if item.get("result"):
            audits.record(session, lead, audit, lines[item["clause"]], _finding(item))
    if run["until"] == "record_findings":
        return
    _audit_step(session, audit, lead, "record_findings")  # raises the nonconformities of the findings
    _audit_step(session, audit, lead, "draft_report", data=run["report"])
    _audit_step(session, audit, users[run["approver"]], "approve_report", decision="approve",
                comment=run.get("approval_comment", ""), password=DEMO_PASSWORD)
    for item in run["checklist"]:
        if item.get("nonconformity_steps"):
            nc = nonconformities.get(session, lines[item["clause"]].nonconformity_id)
            _steps(session, users, nc, item["nonconformity_steps"])


def _prepare(session: Session, audit: Audit, lead: User, run: dict) -> dict[str, AuditFinding]:
    """Plan the audit, word the generated checklist's questions, confirm it; returns lines by clause."""
    _audit_step(session, audit, lead, "plan_audit", data=run["plan"])
    lines = {line.clause: line for line in audits.findings_of(session, audit)}
    for item in run["checklist"]:
        audits.record(session, lead, audit, lines[item["clause"]], {"question": item["question"]})
    _audit_step(session, audit, lead, "prepare_checklist")
    return lines


def _audit_step(session: Session, audit: Audit, user: User, step: str, **kwargs) -> None:
    workflow.complete_step(session, programmes.AUDIT, audit.id, step, user, **kwargs)


def _finding(item: dict) -> dict:
    values = {"result": item["result"], "objective_evidence": item.get("objective_evidence", "")}
    if item.get("department"):
        values["department"] = item["department"]
    return values
