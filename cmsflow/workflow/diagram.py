"""The process diagram of a workflow instance, drawn on the server from the BPMN file's own diagram
interchange (BPMN 2.0 DI: ``bpmndi:BPMNShape`` bounds and ``bpmndi:BPMNEdge`` waypoints) as inline SVG.

Why on the server rather than bpmn-js in the browser: the diagram is drawn from the BPMN text stored with the
spec the instance runs on (``ProcessSpec.bpmn_xml``), needs no script (the CSP ``script-src 'self'`` holds and
the page works without JavaScript), prints with the page, and the state marks can be asserted in pytest.
The price is fidelity: only the element kinds our workflows use are drawn in detail (events, tasks, gateways,
pools, lanes, sequence flows); any other element is drawn as a plain box with its name.

Shapes: :func:`parse` reads a BPMN document into :class:`Diagram`; :func:`render_svg` draws it with the
marks of :class:`InstanceState` (completed elements and how often, current and waiting ones, the flows taken).
Raises :class:`DiagramError` when the text is not BPMN or has no diagram interchange.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from xml.sax.saxutils import escape

from lxml import etree
from markupsafe import Markup

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
DI = "http://www.omg.org/spec/DD/20100524/DI"

TASKS = {"task", "userTask", "serviceTask", "scriptTask", "manualTask", "sendTask", "receiveTask",
         "businessRuleTask", "callActivity", "subProcess"}
EVENTS = {"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent"}
GATEWAYS = {"exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway"}
CONTAINERS = {"participant", "lane"}


class DiagramError(ValueError):
    """The BPMN text could not be read or has no diagram interchange (DI) to draw."""


@dataclass
class Shape:
    """One drawn element: ``kind`` is the BPMN tag (``userTask``, ``lane``…); bounds in diagram units (px)."""

    id: str
    kind: str
    name: str
    x: float
    y: float
    w: float
    h: float
    timer: bool = False
    label: tuple[float, float, float, float] | None = None


@dataclass
class Edge:
    """A sequence flow from ``source`` to ``target`` through ``points`` [(x, y), …]."""

    id: str
    source: str
    target: str
    name: str
    points: list[tuple[float, float]]
    label: tuple[float, float, float, float] | None = None


@dataclass
class Diagram:
    """Everything :func:`render_svg` draws; ``box`` is (min x, min y, width, height) of the drawing."""

    shapes: list[Shape]
    edges: list[Edge]
    box: tuple[float, float, float, float]

    def flow_node_names(self) -> dict[str, str]:
        """``{element id: name}`` of the steps (tasks, events, gateways), for the step table."""
        return {s.id: s.name for s in self.shapes if s.kind not in CONTAINERS}


@dataclass
class InstanceState:
    """Where an instance stands, by BPMN element id: how often each element completed (loops count twice),
    which are current (a ready task) or waiting (a timer or message), which flows were taken, and who holds
    each current step (a printed name or role)."""

    completed: dict[str, int] = field(default_factory=dict)
    current: set[str] = field(default_factory=set)
    waiting: set[str] = field(default_factory=set)
    flows: set[tuple[str, str]] = field(default_factory=set)
    holders: dict[str, str] = field(default_factory=dict)


def _bounds(el) -> tuple[float, float, float, float] | None:
    b = el.find(f"{{{DC}}}Bounds")
    if b is None:
        return None
    return tuple(float(b.get(k, 0)) for k in ("x", "y", "width", "height"))  # type: ignore[return-value]


def parse(bpmn_xml: str | bytes) -> Diagram:
    """Read the first diagram of a BPMN document (all pools of its collaboration).

    Raises DiagramError on text that is not XML, or on a document without ``bpmndi:BPMNDiagram``."""
    raw = bpmn_xml.encode("utf-8") if isinstance(bpmn_xml, str) else bpmn_xml
    try:
        root = etree.fromstring(raw, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        raise DiagramError(f"不是有效的 BPMN 文件：{exc}") from exc
    elements = {el.get("id"): el for el in root.iter() if isinstance(el.tag, str) and el.get("id")}
    plane = root.find(f".//{{{BPMNDI}}}BPMNPlane")
    if plane is None:
        raise DiagramError("BPMN 文件不含图形信息（BPMN DI），无法绘制流程图")
    shapes, edges, xs, ys = [], [], [], []
    for di in plane.iter(f"{{{BPMNDI}}}BPMNShape"):
        el, box = elements.get(di.get("bpmnElement")), _bounds(di)
        if el is None or box is None:
            continue
        kind = etree.QName(el).localname
        label = di.find(f"{{{BPMNDI}}}BPMNLabel")
        shapes.append(Shape(el.get("id"), kind, el.get("name") or "", *box,
                            timer=el.find(f"{{{BPMN}}}timerEventDefinition") is not None,
                            label=_bounds(label) if label is not None else None))
        xs += [box[0], box[0] + box[2]]
        ys += [box[1], box[1] + box[3]]
    for di in plane.iter(f"{{{BPMNDI}}}BPMNEdge"):
        el = elements.get(di.get("bpmnElement"))
        points = [(float(p.get("x", 0)), float(p.get("y", 0))) for p in di.iter(f"{{{DI}}}waypoint")]
        if el is None or len(points) < 2:
            continue
        label = di.find(f"{{{BPMNDI}}}BPMNLabel")
        edges.append(Edge(el.get("id"), el.get("sourceRef") or "", el.get("targetRef") or "", el.get("name") or "",
                          points, label=_bounds(label) if label is not None else None))
        xs += [p[0] for p in points]
        ys += [p[1] for p in points]
    if not shapes:
        raise DiagramError("BPMN 文件不含图形信息（BPMN DI），无法绘制流程图")
    # containers first, so the steps are drawn over their pool and lane
    shapes.sort(key=lambda s: (s.kind not in CONTAINERS, s.kind != "participant"))
    pad = 10
    return Diagram(shapes, edges, (min(xs) - pad, min(ys) - pad, max(xs) - min(xs) + 2 * pad,
                                   max(ys) - min(ys) + 2 * pad))


@lru_cache(maxsize=64)
def parse_cached(bpmn_xml: str) -> Diagram:
    """:func:`parse`, kept per BPMN text: a stored version's text never changes, and the item pages draw the
    same few versions on every view. The result is shared: callers must not change it."""
    return parse(bpmn_xml)


def _wrap(text: str, width: float, size: float = 12) -> list[str]:
    """Break ``text`` into lines that fit ``width`` px (a CJK character is ``size`` wide, others ~0.6 of it)."""
    lines, line, used = [], "", 0.0
    for ch in text:
        w = size if ord(ch) > 0x2E80 else size * 0.6
        if ch == "\n" or (used + w > width and line):
            lines.append(line)
            line, used = ("", 0.0) if ch == "\n" else (ch, w)
            continue
        line += ch
        used += w
    if line:
        lines.append(line)
    return lines


def _text(lines: list[str], cx: float, top: float, size: float = 12, cls: str = "wf-label") -> str:
    out = []
    for i, line in enumerate(lines):
        out.append(f'<text class="{cls}" x="{cx:.1f}" y="{top + (i + 1) * (size + 2):.1f}" '
                   f'text-anchor="middle" font-size="{size}">{escape(line)}</text>')
    return "".join(out)


def _state_class(shape: Shape, state: InstanceState | None) -> str:
    if state is None:
        return ""
    if shape.id in state.current:
        return " wf-current"
    if shape.id in state.waiting:
        return " wf-waiting"
    if shape.id in state.completed:
        return " wf-completed"
    return " wf-pending"


def _container(s: Shape) -> str:
    band = 30
    name = escape(s.name)
    cx, cy = s.x + band / 2, s.y + s.h / 2
    return (f'<g class="wf-{s.kind}"><rect x="{s.x}" y="{s.y}" width="{s.w}" height="{s.h}"/>'
            f'<line x1="{s.x + band}" y1="{s.y}" x2="{s.x + band}" y2="{s.y + s.h}"/>'
            f'<text class="wf-label" x="{cx:.1f}" y="{cy:.1f}" text-anchor="middle" font-size="13" '
            f'transform="rotate(-90 {cx:.1f} {cy:.1f})" dominant-baseline="middle">{name}</text></g>')


def _node(s: Shape, state: InstanceState | None) -> str:
    parts = []
    if s.kind in EVENTS:
        r = min(s.w, s.h) / 2
        cx, cy = s.x + s.w / 2, s.y + s.h / 2
        parts.append(f'<circle class="wf-shape" cx="{cx}" cy="{cy}" r="{r}"/>')
        if s.kind in ("intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent"):
            parts.append(f'<circle class="wf-inner" cx="{cx}" cy="{cy}" r="{r - 3}"/>')
        if s.timer:
            parts.append(f'<circle class="wf-inner" cx="{cx}" cy="{cy}" r="{r * 0.55:.1f}"/>'
                         f'<path class="wf-inner" d="M{cx} {cy - r * 0.45:.1f} L{cx} {cy} L{cx + r * 0.35:.1f} {cy}"/>')
        lx, ly, lw = (s.label[0] + s.label[2] / 2, s.label[1] - 12, max(s.label[2], 60)) if s.label else \
            (cx, s.y + s.h, 90)
        parts.append(_text(_wrap(s.name, lw), lx, ly))
    elif s.kind in GATEWAYS:
        cx, cy = s.x + s.w / 2, s.y + s.h / 2
        parts.append(f'<polygon class="wf-shape" points="{cx},{s.y} {s.x + s.w},{cy} {cx},{s.y + s.h} {s.x},{cy}"/>')
        d = s.w * 0.2
        if s.kind == "parallelGateway":
            parts.append(f'<path class="wf-mark" d="M{cx - d} {cy} H{cx + d} M{cx} {cy - d} V{cy + d}"/>')
        elif s.kind == "exclusiveGateway":
            parts.append(f'<path class="wf-mark" d="M{cx - d} {cy - d} L{cx + d} {cy + d} M{cx + d} {cy - d} '
                         f'L{cx - d} {cy + d}"/>')
        else:
            parts.append(f'<circle class="wf-mark" cx="{cx}" cy="{cy}" r="{d}"/>')
        lx, ly, lw = (s.label[0] + s.label[2] / 2, s.label[1] - 12, max(s.label[2], 60)) if s.label else \
            (cx, s.y + s.h, 90)
        parts.append(_text(_wrap(s.name, lw), lx, ly))
    else:
        parts.append(f'<rect class="wf-shape" x="{s.x}" y="{s.y}" width="{s.w}" height="{s.h}" rx="10"/>')
        if s.kind == "userTask":  # a person: head and shoulders
            parts.append(f'<circle class="wf-mark" cx="{s.x + 12}" cy="{s.y + 10}" r="3.5"/>'
                         f'<path class="wf-mark" d="M{s.x + 5} {s.y + 21} Q{s.x + 12} {s.y + 12} {s.x + 19} '
                         f'{s.y + 21}"/>')
        elif s.kind in ("serviceTask", "scriptTask"):  # a gear, drawn as a dashed ring
            parts.append(f'<circle class="wf-mark wf-gear" cx="{s.x + 12}" cy="{s.y + 12}" r="6"/>')
        lines = _wrap(s.name, s.w - 12)[:4]
        parts.append(_text(lines, s.x + s.w / 2, s.y + (s.h - len(lines) * 14) / 2 - 2))
    if state is not None and state.completed.get(s.id, 0) > 1:  # passed more than once: a loop
        parts.append(f'<g class="wf-count"><rect x="{s.x + s.w - 22}" y="{s.y - 9}" width="26" height="16" rx="8"/>'
                     f'<text x="{s.x + s.w - 9}" y="{s.y + 3}" text-anchor="middle" font-size="11">'
                     f'×{state.completed[s.id]}</text></g>')
    return "".join(parts)


def _title(s: Shape, state: InstanceState | None, words: dict[str, str]) -> str:
    bits = [s.name or s.id]
    if state is not None:
        if s.id in state.current:
            bits.append(words["current"] + (f"：{state.holders[s.id]}" if s.id in state.holders else ""))
        elif s.id in state.waiting:
            bits.append(words["waiting"])
        elif s.id in state.completed:
            n = state.completed[s.id]
            bits.append(words["completed"] + (f" ×{n}" if n > 1 else ""))
    return escape(" · ".join(bits))


DEFAULT_WORDS = {"current": "当前步骤", "waiting": "等待中", "completed": "已完成", "title": "流程图"}


def render_svg(diagram: Diagram, state: InstanceState | None = None, step_href: str = "#wf-step-",
               words: dict[str, str] | None = None) -> Markup:
    """Inline SVG of ``diagram``; with ``state``, steps carry the classes ``wf-completed`` / ``wf-current`` /
    ``wf-waiting`` / ``wf-pending`` and taken flows ``wf-taken``; each step links to ``step_href + id`` (its
    history row on the page) and has a ``<title>`` naming its state and holder. ``words`` translates the
    state words (keys of :data:`DEFAULT_WORDS`). All text is escaped."""
    words = {**DEFAULT_WORDS, **(words or {})}
    x, y, w, h = diagram.box
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="wf-diagram" role="img" viewBox="{x:.0f} {y:.0f} '
           f'{w:.0f} {h:.0f}" width="{w:.0f}" height="{h:.0f}"><title>{escape(words["title"])}</title>',
           '<defs><marker id="wf-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" class="wf-arrowhead"/></marker></defs>']
    for s in diagram.shapes:
        if s.kind in CONTAINERS:
            out.append(_container(s))
    for e in diagram.edges:
        taken = state is not None and (e.source, e.target) in state.flows
        pts = " ".join(f"{px:.1f},{py:.1f}" for px, py in e.points)
        out.append(f'<g class="wf-flow{" wf-taken" if taken else ""}" data-flow="{escape(e.id)}">'
                   f'<polyline points="{pts}" marker-end="url(#wf-arrow)"/>')
        if e.name:
            lx, ly = (e.label[0] + e.label[2] / 2, e.label[1] - 12) if e.label else \
                ((e.points[0][0] + e.points[1][0]) / 2, (e.points[0][1] + e.points[1][1]) / 2 - 14)
            out.append(_text(_wrap(e.name, 80, 11), lx, ly, 11, "wf-flow-label"))
        out.append("</g>")
    for s in diagram.shapes:
        if s.kind in CONTAINERS:
            continue
        out.append(f'<a href="{escape(step_href + s.id)}" class="wf-step{_state_class(s, state)}" '
                   f'data-element="{escape(s.id)}"><title>{_title(s, state, words)}</title>{_node(s, state)}</a>')
    out.append("</svg>")
    return Markup("".join(out))
