"""SpiffWorkflow wrapper: parse and validate BPMN files, create, (de)serialise and step workflows.

Nothing outside ``cmsflow.workflow`` imports SpiffWorkflow; callers use ``cmsflow.workflow.service``.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from uuid import UUID

from lxml import etree
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

from cmsflow.workflow.restricted import RestrictedEnvironment

TIMER_EVENTS = {"DurationTimerEventDefinition", "TimeDateEventDefinition", "CycleTimerEventDefinition"}


class WorkflowDefinitionError(Exception):
    """A BPMN file in ``workflows/`` failed to parse or validate; the message names the file."""


class StepError(Exception):
    """The engine refused a step (e.g. the task is no longer ready)."""


class RestrictedScriptEngine(PythonScriptEngine):
    """Script engine whose service calls surface the original error (the library's handler is buggy)."""

    def call_service(self, task, **kwargs):
        return self.environment.call_service(task.data, **kwargs)


SCRIPT_ENGINE = RestrictedScriptEngine(environment=RestrictedEnvironment())

_registry = BpmnWorkflowSerializer.configure(SPIFF_CONFIG)
_registry.register(date, lambda v: {"value": v.isoformat()}, lambda v: date.fromisoformat(v["value"]))
_registry.register(Decimal, lambda v: {"value": str(v)}, lambda v: Decimal(v["value"]))
SERIALIZER = BpmnWorkflowSerializer(_registry)


@dataclass
class Definition:
    """One executable process parsed from a BPMN file, with its serialised spec and content hash."""

    process_id: str
    name: str
    file_name: str
    content_hash: str
    spec: object
    subprocess_specs: dict
    spec_json: str = field(repr=False, default="")
    lanes: dict = field(default_factory=dict)  # lane name -> lane id (the role name)
    bpmn_xml: str = field(repr=False, default="")  # the file's text: its diagram is drawn from it


@dataclass
class ReadyTask:
    """A READY user task as the inbox needs it."""

    uuid: str
    name: str
    title: str
    lane: str | None
    properties: dict
    data: dict


def _lane_ids(raw: bytes) -> dict[str, str]:
    """SpiffWorkflow reports a task's lane by its *name*; map names back to ids (the role names)."""
    root = etree.fromstring(raw)
    return {lane.get("name") or lane.get("id"): lane.get("id")
            for lane in root.iter("{http://www.omg.org/spec/BPMN/20100524/MODEL}lane")}


def load_definitions(directory: str | Path) -> dict[str, Definition]:
    """Parse and validate every ``*.bpmn`` file; raises WorkflowDefinitionError naming a broken file."""
    found: dict[str, Definition] = {}
    for path in sorted(Path(directory).glob("*.bpmn")):
        raw = path.read_bytes()
        try:
            lanes = _lane_ids(raw)
            parser = SpiffBpmnParser(validator=VALIDATOR)
            parser.add_bpmn_file(str(path))
            pids = parser.get_process_ids()
            for pid in pids:
                spec = parser.get_spec(pid)
                subs = parser.get_subprocess_specs(pid)
                # Stored specs are keyed by this hash: a file holding several processes (pools) needs one
                # per process; a single-process file keeps the plain file hash (rows stored before stay valid).
                digest = content_hash(raw, pid, len(pids))
                found[pid] = Definition(pid, spec.description or pid, path.name, digest, spec, subs, lanes=lanes,
                                        bpmn_xml=raw.decode("utf-8"))
        except Exception as exc:  # the parser raises many types; all mean "this file is broken"
            raise WorkflowDefinitionError(f"{path.name}: {exc}") from exc
    for d in found.values():
        wf = BpmnWorkflow(d.spec, d.subprocess_specs, script_engine=SCRIPT_ENGINE)
        full = json.loads(SERIALIZER.serialize_json(wf))
        d.spec_json = json.dumps({"spec": full["spec"], "subprocess_specs": full["subprocess_specs"]})
    return found


def new_workflow(defn: Definition, data: dict) -> BpmnWorkflow:
    """Instantiate ``defn`` with ``data`` on the start task and run it up to the first wait state."""
    wf = BpmnWorkflow(defn.spec, defn.subprocess_specs, script_engine=SCRIPT_ENGINE)
    for task in wf.get_tasks(state=TaskState.READY):
        task.data.update(data)
    wf.do_engine_steps()
    return wf


def dump(wf: BpmnWorkflow) -> str:
    """Instance JSON without the spec (stored once per content hash)."""
    full = json.loads(SERIALIZER.serialize_json(wf))
    full.pop("spec", None)
    full.pop("subprocess_specs", None)
    return json.dumps(full, ensure_ascii=False)


def restore(state: str, spec_json: str) -> BpmnWorkflow:
    """Rebuild a workflow from instance JSON plus its stored spec JSON."""
    full = json.loads(state)
    full.update(json.loads(spec_json))
    wf = SERIALIZER.deserialize_json(json.dumps(full))
    wf.script_engine = SCRIPT_ENGINE
    return wf


def ready_user_tasks(wf: BpmnWorkflow, lanes: dict[str, str]) -> list[ReadyTask]:
    """READY user tasks; ``lanes`` maps lane names to lane ids (see ``Definition.lanes``)."""
    out = []
    for task in wf.get_tasks(state=TaskState.READY, manual=True):
        spec = task.task_spec
        out.append(ReadyTask(uuid=str(task.id), name=spec.bpmn_id, title=spec.bpmn_name or spec.bpmn_id,
                             lane=lanes.get(spec.lane, spec.lane),
                             properties=dict(spec.extensions.get("properties", {})), data=dict(task.data)))
    return out


def complete_user_task(wf: BpmnWorkflow, task_uuid: str, data: dict) -> None:
    """Merge ``data`` into a READY user task, complete it and run engine steps; StepError if not READY."""
    try:
        task = wf.get_task_from_id(UUID(task_uuid))
    except Exception as exc:
        raise StepError("任务不存在于流程实例中") from exc
    if task.state != TaskState.READY:
        raise StepError("任务已不处于待办状态")
    task.data.update(data)
    task.run()
    wf.do_engine_steps()


def fire_timers(wf: BpmnWorkflow) -> None:
    """Refresh timers (an expired timer fires only after this) and run engine steps."""
    wf.refresh_timers()
    wf.do_engine_steps()


def next_timer_at(wf: BpmnWorkflow) -> datetime | None:
    """Earliest pending timer (aware UTC), or None; call ``fire_timers`` first so timers are armed."""
    times = []
    for event in wf.waiting_events():
        if event.event_type in TIMER_EVENTS and isinstance(event.value, str):
            when = datetime.fromisoformat(event.value)
            times.append(when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC))
    return min(times) if times else None


def content_hash(raw: bytes, process_id: str, processes_in_file: int = 1) -> str:
    """The stored-spec key of a BPMN file's process (see :func:`load_definitions`): SHA-256 hex of the file,
    or of the file plus ``#process_id`` when the file holds several processes."""
    return hashlib.sha256(raw if processes_in_file == 1 else raw + b"#" + process_id.encode()).hexdigest()


def element_states(wf: BpmnWorkflow) -> tuple[dict[str, int], set[str], set[str], set[tuple[str, str]]]:
    """Where an instance stands, by BPMN element id, through loops, parallel branches, timers and
    subprocesses: ``(completed {id: times}, current ids (ready/started tasks), waiting ids (timers, messages),
    taken flows {(source id, target id)})``. A flow counts as taken when a task of its target was reached from
    a completed task of its source (the engine's task tree, engine-internal tasks skipped)."""
    completed: dict[str, int] = {}
    current: set[str] = set()
    waiting: set[str] = set()
    flows: set[tuple[str, str]] = set()
    reached = TaskState.COMPLETED | TaskState.READY | TaskState.STARTED | TaskState.WAITING | TaskState.ERROR
    workflows = [wf, *getattr(wf, "subprocesses", {}).values()]
    for w in workflows:
        for task in w.get_tasks():
            bid = getattr(task.task_spec, "bpmn_id", None)
            if not bid:
                continue
            if task.state == TaskState.COMPLETED:
                completed[bid] = completed.get(bid, 0) + 1
            elif task.state in (TaskState.READY, TaskState.STARTED, TaskState.ERROR):
                current.add(bid)
            elif task.state == TaskState.WAITING:
                waiting.add(bid)
            if task.state & reached:
                parent = task.parent
                while parent is not None and not getattr(parent.task_spec, "bpmn_id", None):
                    parent = parent.parent
                if parent is not None and parent.state == TaskState.COMPLETED:
                    flows.add((parent.task_spec.bpmn_id, bid))
    return completed, current, waiting, flows


def is_completed(wf: BpmnWorkflow) -> bool:
    return wf.is_completed()


def workflow_data(wf: BpmnWorkflow) -> dict:
    """Data of the last completed task (the process's current variables)."""
    last = wf.last_task
    return dict(last.data) if last is not None else {}
