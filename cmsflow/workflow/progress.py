"""Where a process instance stands: its diagram drawn from the BPMN version it runs on, with the completed
path, the current step(s) and who holds them, and the history of each step (who, when, decision).

Reads only; the caller checks that the user may see the subject (the subject's own page does). The BPMN text
comes from ``ProcessSpec.bpmn_xml``; for a spec stored before that column existed, the current file is used
only when its content hash equals the stored spec's (same hash, same file), otherwise the diagram is reported
as unavailable rather than drawn from a file the instance does not run on.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from markupsafe import Markup
from sqlalchemy import func
from sqlmodel import Session, col, select

from cmsflow.auth.models import Department, User
from cmsflow.workflow import diagram, engine
from cmsflow.workflow.models import HumanTask, ProcessInstance, ProcessSpec


@dataclass
class StepRow:
    """One human task of the instance, for the step history table (``element`` is its BPMN element id)."""

    element: str
    title: str
    status: str
    holder: str
    created_at: datetime
    due_at: datetime | None
    completed_by: str | None
    completed_at: datetime | None
    decision: str | None
    comment: str | None
    anchor: bool = False  # the first row of its element: the diagram's link to the element lands here


@dataclass
class InstanceView:
    """What the page shows for one instance: the SVG (None with ``error`` when it cannot be drawn), the steps,
    and whether the instance runs on the workflow file as it is today (``on_current_file``)."""

    instance: ProcessInstance
    spec: ProcessSpec
    svg: Markup | None
    error: str | None
    steps: list[StepRow] = field(default_factory=list)
    on_current_file: bool = True


def _definitions() -> dict:
    from cmsflow.workflow.service import definitions

    return definitions()


def bpmn_text(spec: ProcessSpec) -> str | None:
    """The BPMN text of ``spec``: the stored one, or today's file when its content hash is the spec's."""
    if spec.bpmn_xml:
        return spec.bpmn_xml
    for defn in _definitions().values():
        if defn.content_hash == spec.content_hash and defn.bpmn_xml:
            return defn.bpmn_xml
    return None


def _holder(task: HumanTask, people: dict[int, User], depts: dict[int, str], role_label: Callable) -> str:
    if task.assignee_id and task.assignee_id in people:
        return people[task.assignee_id].display_name
    who = str(role_label(task.role)) if task.role else ""
    if task.department_id in depts:
        who = f"{depts[task.department_id]} · {who}" if who else depts[task.department_id]
    return who


def _state(session: Session, inst: ProcessInstance, holders: dict[str, str]) -> diagram.InstanceState:
    from cmsflow.workflow.service import _load

    completed, current, waiting, flows = engine.element_states(_load(session, inst))
    return diagram.InstanceState(completed=completed, current=current, waiting=waiting, flows=flows,
                                 holders=holders)


def instance_view(session: Session, inst: ProcessInstance, role_label: Callable[[str], str] = str,
                  words: dict[str, str] | None = None) -> InstanceView:
    """The diagram and step history of ``inst``; ``role_label`` turns role codes into words, ``words`` are the
    translated state words (see :data:`cmsflow.workflow.diagram.DEFAULT_WORDS`)."""
    spec = session.get(ProcessSpec, inst.spec_id)
    tasks = list(session.exec(select(HumanTask).where(HumanTask.instance_id == inst.id)
                              .order_by(col(HumanTask.created_at), col(HumanTask.id))))
    ids = {t.assignee_id for t in tasks} | {t.completed_by_id for t in tasks}
    people = {u.id: u for u in session.exec(select(User).where(col(User.id).in_(ids - {None})))} if ids else {}
    depts = {d.id: d.name for d in session.exec(select(Department))}
    steps = [StepRow(t.name, t.title, t.status, _holder(t, people, depts, role_label), t.created_at, t.due_at,
                     people[t.completed_by_id].display_name if t.completed_by_id in people else None,
                     t.completed_at, t.decision, t.comment) for t in tasks]
    seen: set[str] = set()
    for row in steps:
        row.anchor = row.element not in seen
        seen.add(row.element)
    holders: dict[str, str] = {}
    for t, row in zip(tasks, steps, strict=True):
        if t.status == "open":
            holders[t.name] = "、".join(filter(None, [holders.get(t.name), row.holder]))
    current_hashes = {d.content_hash for d in _definitions().values()}
    view = InstanceView(inst, spec, None, None, steps, on_current_file=spec.content_hash in current_hashes)
    text = bpmn_text(spec)
    if text is None:
        view.error = "该流程版本的 BPMN 文件未存档，无法绘制流程图"
        return view
    try:
        view.svg = diagram.render_svg(diagram.parse_cached(text), _state(session, inst, holders), words=words)
    except diagram.DiagramError as exc:
        view.error = str(exc)
    return view


def subject_views(session: Session, subject_type: str, subject_id: int, **kw) -> list[InstanceView]:
    """Every process instance of a subject, newest first (a nonconformity may have a corrective action and a
    dispute, a document one approval per version)."""
    rows = session.exec(select(ProcessInstance).where(ProcessInstance.subject_type == subject_type,
                                                      ProcessInstance.subject_id == subject_id)
                        .order_by(col(ProcessInstance.id).desc())).all()
    return [instance_view(session, inst, **kw) for inst in rows]


@dataclass
class SpecVersion:
    """One stored version of a workflow: its spec row, the instances running and finished on it, whether it is
    today's file."""

    spec: ProcessSpec
    running: int
    finished: int
    current: bool


def versions(session: Session, process_id: str) -> list[SpecVersion]:
    """Stored versions of ``process_id`` (a version is stored when its first instance starts), newest first."""
    counts: dict[tuple[int, str], int] = {}
    for spec_id, status, n in session.exec(
            select(ProcessInstance.spec_id, ProcessInstance.status, func.count())
            .where(ProcessInstance.process_id == process_id)
            .group_by(ProcessInstance.spec_id, ProcessInstance.status)):
        counts[(spec_id, status)] = n
    defn = _definitions().get(process_id)
    out = []
    for spec in session.exec(select(ProcessSpec).where(ProcessSpec.process_id == process_id)
                             .order_by(col(ProcessSpec.id).desc())):
        out.append(SpecVersion(spec, counts.get((spec.id, "running"), 0),
                               sum(n for (sid, st), n in counts.items() if sid == spec.id and st != "running"),
                               defn is not None and defn.content_hash == spec.content_hash))
    return out


def instance_counts(session: Session) -> dict[str, tuple[int, int]]:
    """``{process_id: (running, all)}`` over every instance."""
    out: dict[str, list[int]] = {}
    for pid, status, n in session.exec(select(ProcessInstance.process_id, ProcessInstance.status, func.count())
                                       .group_by(ProcessInstance.process_id, ProcessInstance.status)):
        pair = out.setdefault(pid, [0, 0])
        pair[1] += n
        if status == "running":
            pair[0] += n
    return {k: (v[0], v[1]) for k, v in out.items()}


def definition_svg(process_id: str, spec: ProcessSpec | None = None) -> Markup | None:
    """The plain diagram (no instance marks) of a stored version, or of today's file when ``spec`` is None."""
    text = bpmn_text(spec) if spec is not None else getattr(_definitions().get(process_id), "bpmn_xml", None)
    if not text:
        return None
    try:
        return diagram.render_svg(diagram.parse_cached(text))
    except diagram.DiagramError:
        return None
