"""What the engine needs to know about a procedure's BPMN, read once per process version.

Steps (user tasks) with their lane, role, target agency, allotted working hours and the
outcomes an officer can choose; and the counted hours along the longest path, which the
law caps at the procedure's legal time.
"""

from __future__ import annotations

import ast
import keyword
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from lxml import etree

from engine.catalogue.bpmn_xml import BPMN_NS, MC_NS, NSMAP, local_name
from engine.catalogue.expressions import SAFE_FUNCTIONS

# What officers see for each role, in messages and in the web app.
ROLE_LABELS = {
    "desk": "Bộ phận Một cửa",
    "head": "Lãnh đạo phòng",
    "specialist": "Chuyên viên",
    "leader": "Lãnh đạo cơ quan",
    "clerk": "Văn thư",
    "supervisor": "Giám sát",
    "process_owner": "Quản lý quy trình",
    "approver": "Phê duyệt quy trình",
    "admin": "Quản trị hệ thống",
    # A service account: the public service portal pushing online dossiers through the API.
    "portal": "Tài khoản tích hợp Cổng dịch vụ công",
    # A service account: the postal carrier reporting results delivered or returned to the sender.
    "postal": "Tài khoản tích hợp bưu chính",
}
# Roles that can own a lane (and so a step); other roles work outside the flow.
STEP_ROLES = {role: ROLE_LABELS[role] for role in ("desk", "head", "specialist", "leader", "clerk")}
OTHER_ROLES = {
    role: ROLE_LABELS[role]
    for role in ("supervisor", "process_owner", "approver", "admin", "portal", "postal")
}
ALL_ROLES = {**STEP_ROLES, **OTHER_ROLES}
STEP_KINDS = ("supplement", "return")
# The names every expression of a diagram may use: the engine sets them on every dossier.
SYSTEM_NAMES = {
    "outcome": "kết quả xử lý cán bộ chọn khi hoàn thành bước",
    "dossier_code": "mã hồ sơ",
    "channel": "hình thức nộp hồ sơ",
}
# A data key a diagram declares (<mc:data name="..."/>), as the runtime accepts step data keys.
DATA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")

FLOW_NODE_TAGS = {
    "startEvent",
    "endEvent",
    "intermediateCatchEvent",
    "intermediateThrowEvent",
    "boundaryEvent",
    "task",
    "userTask",
    "manualTask",
    "scriptTask",
    "serviceTask",
    "sendTask",
    "receiveTask",
    "businessRuleTask",
    "callActivity",
    "subProcess",
    "exclusiveGateway",
    "inclusiveGateway",
    "parallelGateway",
    "eventBasedGateway",
    "complexGateway",
}


@dataclass(frozen=True)
class Outcome:
    """A choice an officer can make at the end of a step; value None is the gateway's default.

    `returns` marks a send-back: its flow goes back to an earlier step (a back edge of the graph),
    so the officer must say why. `next_steps` are the ids of the steps it opens (through gateways).
    Neither is compared: two outcomes are the same choice when value and label are.
    """

    value: str | None
    label: str
    returns: bool = field(default=False, compare=False)
    next_steps: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class Step:
    """One user task of the procedure."""

    id: str
    name: str
    lane: str | None
    role: str | None
    agency_code: str | None  # None: the agency that received the dossier
    hours: float | None
    counted: bool
    kind: str | None
    outcomes: tuple[Outcome, ...]
    line: int
    # `<mc:lane agency-from="key"/>`: the agency is the one whose code an earlier step put into the
    # dossier's data under this key (e.g. the competent agency a feedback was classified to).
    agency_key: str | None = None

    @property
    def needs_outcome(self) -> bool:
        """Whether completing this step must name one of its outcomes."""
        return bool(self.outcomes) and not any(o.value is None for o in self.outcomes)

    def outcome_values(self) -> list[str]:
        """The outcome values an officer may choose."""
        return [o.value for o in self.outcomes if o.value is not None]


@dataclass
class ProcedureModel:
    """The parts of one BPMN process the engine and the web app read."""

    process_id: str
    process_name: str
    steps: dict[str, Step] = field(default_factory=dict)
    longest_counted_hours: float = 0.0
    longest_path: list[str] = field(default_factory=list)
    # Counted hours still ahead after each step, for the new appointment of an apology letter.
    hours_after: dict[str, float] = field(default_factory=dict)
    # The steps a step without outcomes opens when completed (through gateways and events).
    plain_next: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def next_steps(self, step_id: str, outcome: str | None = None) -> tuple[str, ...]:
        """Ids of the steps completing `step_id` with `outcome` opens (the default way when None)."""
        step = self.steps[step_id]
        if not step.outcomes:
            return self.plain_next.get(step_id, ())
        chosen = self.outcome_of(step_id, outcome)
        return chosen.next_steps if chosen is not None else ()

    def outcome_of(self, step_id: str, outcome: str | None) -> Outcome | None:
        """The step's outcome of that value; its default when the value names none of them."""
        outcomes = self.steps[step_id].outcomes
        found = next((o for o in outcomes if o.value is not None and o.value == outcome), None)
        return found or next((o for o in outcomes if o.value is None), None)


def outcome_of_condition(expression: str) -> str | None:
    """The value of a condition of the form `outcome == 'value'`, else None."""
    try:
        tree = ast.parse(expression.strip(), mode="eval").body
    except SyntaxError:
        return None
    if (
        isinstance(tree, ast.Compare)
        and len(tree.ops) == 1
        and isinstance(tree.ops[0], ast.Eq)
        and isinstance(tree.left, ast.Name)
        and tree.left.id == "outcome"
        and isinstance(tree.comparators[0], ast.Constant)
        and isinstance(tree.comparators[0].value, str)
    ):
        return tree.comparators[0].value
    return None


def _bpmn(tag: str) -> str:
    return f"{{{BPMN_NS}}}{tag}"


def mc_child(element: etree._Element, name: str) -> etree._Element | None:
    """The first project extension element of that name under an element."""
    wanted = f"{{{MC_NS}}}{name}"
    for extensions in _children(element):
        if extensions.tag == _EXTENSIONS:
            for child in _children(extensions):
                if child.tag == wanted:
                    return child
    return None


_EXTENSIONS = f"{{{BPMN_NS}}}extensionElements"


def _children(element: etree._Element) -> Iterator[etree._Element]:
    # Sibling by sibling: lxml's iterchildren(tag) and path queries cost time in the number of
    # children each time they start, and a lane has one child per node of the process.
    try:
        child: etree._Element | None = element[0]
    except IndexError:
        return
    while child is not None:
        yield child
        child = child.getnext()


def condition_text(flow: etree._Element) -> str | None:
    """The text of a sequence flow's condition expression, if any."""
    cond = flow.find(_bpmn("conditionExpression"))
    if cond is None:
        return None
    return (cond.text or "").strip()


class ProcessGraph:
    """Flow nodes and sequence flows of one process, indexed for the checks and the model."""

    def __init__(self, process: etree._Element) -> None:
        self.process = process
        self.nodes: dict[str, etree._Element] = {}
        self.flows: dict[str, etree._Element] = {}
        self.outgoing: dict[str, list[etree._Element]] = {}
        self.incoming: dict[str, list[etree._Element]] = {}
        self.lane_of: dict[str, etree._Element] = {}
        self.lanes: list[etree._Element] = []
        self._lane_extensions: dict[int, etree._Element | None] = {}
        # The local tag of each node, and the boundary events attached to each node.
        self.kind: dict[str, str] = {}
        self.boundaries: dict[str, list[str]] = {}
        for element in process.iter():
            if not isinstance(element.tag, str) or etree.QName(element).namespace != BPMN_NS:
                continue
            tag = local_name(element)
            element_id = element.get("id")
            if tag in FLOW_NODE_TAGS and element_id:
                self.nodes[element_id] = element
                self.kind[element_id] = tag
                if tag == "boundaryEvent":
                    self.boundaries.setdefault(element.get("attachedToRef", ""), []).append(element_id)
            elif tag == "sequenceFlow" and element_id:
                self.flows[element_id] = element
            elif tag == "lane":
                self.lanes.append(element)
        for flow in self.flows.values():
            self.outgoing.setdefault(flow.get("sourceRef", ""), []).append(flow)
            self.incoming.setdefault(flow.get("targetRef", ""), []).append(flow)
        for lane in self.lanes:
            for ref in lane.findall(_bpmn("flowNodeRef")):
                node_id = (ref.text or "").strip()
                # A lane inside a child lane set wins over its parent lane.
                self.lane_of[node_id] = lane

    def lane_extension(self, lane: etree._Element) -> etree._Element | None:
        """A lane's `<mc:lane>`, read once per lane (a lane has a child for each of its nodes)."""
        key = id(lane)
        if key not in self._lane_extensions:
            self._lane_extensions[key] = mc_child(lane, "lane")
        return self._lane_extensions[key]

    def starts(self) -> list[str]:
        """Ids of the process's start events (not those of sub-processes)."""
        return [
            node_id
            for node_id, node in self.nodes.items()
            if self.kind[node_id] == "startEvent" and node.getparent() is self.process
        ]

    def successors(self, node_id: str) -> list[str]:
        """Targets of a node's outgoing flows, plus the boundary events attached to it."""
        result = [f.get("targetRef", "") for f in self.outgoing.get(node_id, [])]
        return result + self.boundaries.get(node_id, [])

    def reachable(self) -> set[str]:
        """Nodes reachable from a start event."""
        seen: set[str] = set()
        stack = list(self.starts())
        while stack:
            node = stack.pop()
            if node in seen or node not in self.nodes:
                continue
            seen.add(node)
            stack.extend(self.successors(node))
        return seen


def _float(text: str | None) -> float | None:
    """A finite number from an attribute, else None (NaN would defeat the legal-time cap)."""
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


# A timer's day is a working day of 8 hours (the legal working day, also the default of the
# `hours_per_day` setting) and its week five of them: the model depends on the text alone.
TIMER_HOURS_PER_DAY = 8.0
TIMER_DAYS_PER_WEEK = 5
_ISO_DURATION = re.compile(
    r"^P(?!$)(?:(?P<w>\d+(?:[.,]\d+)?)W)?(?:(?P<d>\d+(?:[.,]\d+)?)D)?"
    r"(?:T(?=\d)(?:(?P<h>\d+(?:[.,]\d+)?)H)?(?:(?P<m>\d+(?:[.,]\d+)?)M)?(?:(?P<s>\d+(?:[.,]\d+)?)S)?)?$"
)


def iso_working_hours(text: str) -> float | None:
    """Working hours of an ISO 8601 duration (`PT16H`, `P2D` = 16, `PT30M`), quoted or not; None if not one.

    Years and months have no fixed number of working days, so they are not durations here.
    """
    value = text.strip().strip("'\"").strip().upper()
    match = _ISO_DURATION.match(value)
    if match is None:
        return None
    part = {k: float(v.replace(",", ".")) if v else 0.0 for k, v in match.groupdict().items()}
    days = part["w"] * TIMER_DAYS_PER_WEEK + part["d"]
    return round(days * TIMER_HOURS_PER_DAY + part["h"] + part["m"] / 60 + part["s"] / 3600, 4)


def allotment_timer(graph: ProcessGraph, task_id: str) -> tuple[etree._Element, str] | None:
    """The boundary timer with a duration on a user task, read as the step's allotment, and its text.

    The standard way other modelers give a step its time: a timer that leads nowhere, or whose
    duration is written bare as Camunda Modeler writes it (`PT16H`, not the expression 'PT16H'
    of a reminder that takes its own branch). The engine reads the duration as working time and
    never runs the timer (engine/catalogue/workflow_state.py takes it out of what SpiffWorkflow sees).
    """
    for event_id in graph.boundaries.get(task_id, []):
        duration = graph.nodes[event_id].find(f"{_bpmn('timerEventDefinition')}/{_bpmn('timeDuration')}")
        if duration is None:
            continue
        text = (duration.text or "").strip()
        if not graph.outgoing.get(event_id) or _ISO_DURATION.match(text.upper()):
            return graph.nodes[event_id], text
    return None


def read_step(graph: ProcessGraph, task: etree._Element) -> Step:
    """Read one user task's lane, role, agency, allotment, kind and outcomes."""
    task_id = task.get("id", "")
    lane = graph.lane_of.get(task_id)
    lane_ext = graph.lane_extension(lane) if lane is not None else None
    sla = mc_child(task, "sla")
    step_ext = mc_child(task, "step")
    outcomes: list[Outcome] = []
    out = graph.outgoing.get(task_id, [])
    if len(out) == 1:
        target = graph.nodes.get(out[0].get("targetRef", ""))
        if target is not None and local_name(target) in ("exclusiveGateway", "inclusiveGateway"):
            default = target.get("default")
            for flow in graph.outgoing.get(target.get("id", ""), []):
                label = flow.get("name") or ""
                if flow.get("id") == default:
                    outcomes.append(Outcome(None, label or "Mặc định"))
                    continue
                value = outcome_of_condition(condition_text(flow) or "")
                if value is not None:
                    outcomes.append(Outcome(value, label or value))
    counted_text = (sla.get("counted") if sla is not None else None) or "true"
    return Step(
        id=task_id,
        name=(task.get("name") or task_id).strip(),
        lane=(lane.get("name") if lane is not None else None),
        role=(lane_ext.get("role") if lane_ext is not None else None),
        agency_code=(lane_ext.get("agency") or None) if lane_ext is not None else None,
        hours=_float(sla.get("hours")) if sla is not None else _timer_hours(graph, task_id),
        counted=counted_text.strip().lower() not in ("false", "0", "no"),
        kind=(step_ext.get("kind") if step_ext is not None else None),
        outcomes=tuple(outcomes),
        line=task.sourceline or 0,
        agency_key=(lane_ext.get("agency-from") or None) if lane_ext is not None else None,
    )


def _timer_hours(graph: ProcessGraph, task_id: str) -> float | None:
    timer = allotment_timer(graph, task_id)
    return iso_working_hours(timer[1]) if timer is not None else None


Tails = dict[str, tuple[float, str | None]]


Walk = tuple[list[str], set[tuple[str, str]]]


def _depth_first(graph: ProcessGraph) -> Walk:
    """Nodes in depth-first finishing order from the starts, and the back edges met on the way.

    An edge to a node on the current path is a back edge: a loop (rework, supplement) closes there.
    """
    order: list[str] = []
    back: set[tuple[str, str]] = set()
    state: dict[str, int] = {}
    for start in graph.starts():
        if start in state:
            continue
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(graph.successors(start)))]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                state[node] = 2
                order.append(node)
                continue
            if child not in graph.nodes:
                continue
            if state.get(child) == 1:
                back.add((node, child))
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(graph.successors(child))))
    return order, back


def _longest_tails(graph: ProcessGraph, steps: dict[str, Step], walk: Walk | None = None) -> Tails:
    """For each node, the counted hours of the longest way from it to an end, and the next node on it.

    Depth-first from the starts; a back edge (a loop: rework, supplement) is not followed, so loops
    count once. Each node keeps only the next node of its longest way, so the whole walk is linear
    in the nodes and flows.
    """
    weight = {sid: (s.hours or 0.0) if s.counted else 0.0 for sid, s in steps.items()}
    order, back = walk if walk is not None else _depth_first(graph)
    best: Tails = {}
    for node in order:  # reverse topological order of the loop-free graph
        hours, after = 0.0, None
        for child in graph.successors(node):
            if (node, child) in back or child not in best:
                continue
            if best[child][0] > hours:
                hours, after = best[child][0], child
        best[node] = (weight.get(node, 0.0) + hours, after)
    return best


def _steps_ahead(
    graph: ProcessGraph, edges: list[tuple[str, str]], back: set[tuple[str, str]]
) -> tuple[bool, tuple[str, ...]]:
    """The user tasks reached from these edges through non-task nodes, and whether a back edge was taken."""
    returns = False
    found: list[str] = []
    seen: set[str] = set()
    stack = list(reversed(edges))
    while stack:
        source, node = stack.pop()
        returns = returns or (source, node) in back
        if node in seen or node not in graph.nodes:
            continue
        seen.add(node)
        if graph.kind[node] == "userTask":
            found.append(node)
            continue
        stack.extend((node, child) for child in reversed(graph.successors(node)))
    return returns, tuple(found)


def _ways_on(
    graph: ProcessGraph, task_id: str, back: set[tuple[str, str]]
) -> tuple[tuple[str, ...], dict[str | None, tuple[bool, tuple[str, ...]]]]:
    """What completing a step opens: its next steps without an outcome, and per outcome (as read_step
    reads outcomes) whether it sends the dossier back and the steps it opens."""
    _, plain = _steps_ahead(graph, [(task_id, t) for t in graph.successors(task_id)], back)
    ways: dict[str | None, tuple[bool, tuple[str, ...]]] = {}
    out = graph.outgoing.get(task_id, [])
    target = graph.nodes.get(out[0].get("targetRef", "")) if len(out) == 1 else None
    if target is not None and local_name(target) in ("exclusiveGateway", "inclusiveGateway"):
        gateway = target.get("id", "")
        for flow in graph.outgoing.get(gateway, []):
            edge = [(gateway, flow.get("targetRef", ""))]
            if flow.get("id") == target.get("default"):
                ways[None] = _steps_ahead(graph, edge, back)
                continue
            value = outcome_of_condition(condition_text(flow) or "")
            if value is not None and value not in ways:
                ways[value] = _steps_ahead(graph, edge, back)
    return plain, ways


def longest_counted_path(
    graph: ProcessGraph, steps: dict[str, Step], tails: Tails | None = None
) -> tuple[float, list[str]]:
    """Counted hours along the longest path from a start event, loops (rework, supplement) cut once."""
    best = tails if tails is not None else _longest_tails(graph, steps)
    candidates = [(best[s][0], s) for s in graph.starts() if s in best]
    if not candidates:
        return 0.0, []
    hours, node = max(candidates, key=lambda c: c[0])
    path: list[str] = []
    current: str | None = node
    while current is not None:
        if current in steps:
            path.append(current)
        current = best[current][1]
    return round(hours, 4), path


def counted_hours_after(
    graph: ProcessGraph, steps: dict[str, Step], tails: Tails | None = None
) -> dict[str, float]:
    """For each step, the counted hours of the longest path after it (the step itself excluded)."""
    best = tails if tails is not None else _longest_tails(graph, steps)
    own = {sid: (s.hours or 0.0) if s.counted else 0.0 for sid, s in steps.items()}
    return {sid: round(best[sid][0] - own[sid] if sid in best else 0.0, 4) for sid in steps}


def data_declarations(process: etree._Element) -> list[etree._Element]:
    """The `<mc:data name="..."/>` elements of the process and of its tasks."""
    return list(process.iter(f"{{{MC_NS}}}data"))


def valid_data_name(name: str) -> bool:
    """Whether a declared data key can be used in an expression and sent as step data."""
    return bool(DATA_NAME.match(name)) and not keyword.iskeyword(name) and name not in SAFE_FUNCTIONS


def declared_names(process: etree._Element) -> frozenset[str]:
    """The names the procedure declares: the system's names and its `<mc:data>` keys.

    These are the only names an expression of the diagram may use (checked at `bpmn check`).
    """
    names = set(SYSTEM_NAMES)
    for declaration in data_declarations(process):
        name = (declaration.get("name") or "").strip()
        if valid_data_name(name):
            names.add(name)
    return frozenset(names)


def executable_process(root: etree._Element) -> etree._Element | None:
    """The document's executable process (the first one if several)."""
    processes = root.findall(_bpmn("process"))
    for process in processes:
        if process.get("isExecutable", "false").lower() == "true":
            return process
    return processes[0] if processes else None


def read_model(root: etree._Element) -> ProcedureModel:
    """Build the procedure model from a parsed (and validated) BPMN document."""
    process = executable_process(root)
    if process is None:
        raise ValueError("the document has no bpmn:process")
    graph = ProcessGraph(process)
    model = ProcedureModel(process_id=process.get("id", ""), process_name=process.get("name") or "")
    for node_id, node in graph.nodes.items():
        if local_name(node) == "userTask":
            model.steps[node_id] = read_step(graph, node)
    walk = _depth_first(graph)
    for step_id, step in model.steps.items():
        plain, ways = _ways_on(graph, step_id, walk[1])
        model.plain_next[step_id] = plain
        model.steps[step_id] = replace(
            step,
            outcomes=tuple(
                replace(o, returns=ways[o.value][0], next_steps=ways[o.value][1]) if o.value in ways else o
                for o in step.outcomes
            ),
        )
    tails = _longest_tails(graph, model.steps, walk)
    model.longest_counted_hours, model.longest_path = longest_counted_path(graph, model.steps, tails)
    model.hours_after = counted_hours_after(graph, model.steps, tails)
    return model


__all__ = [
    "ALL_ROLES",
    "NSMAP",
    "ROLE_LABELS",
    "STEP_KINDS",
    "STEP_ROLES",
    "SYSTEM_NAMES",
    "Outcome",
    "ProcedureModel",
    "ProcessGraph",
    "Step",
    "declared_names",
    "read_model",
]
