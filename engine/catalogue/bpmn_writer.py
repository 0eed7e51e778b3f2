"""A step table becomes a laid-out BPMN diagram in the house style of workflows/bpmn/1.001806.bpmn.

One lane per responsible role (and agency), in the order the table first names them; one user
task per step with its `<mc:sla>`; the supplement and refusal branches after the check step;
rework after the approval step; the hand-over at the desk as the return step, not counted.

Which step is which, read from the table:
- the check step (where the officer may ask for a supplement or refuse) is the first specialist
  step, else the first step not done by the desk, else the first step;
- the approval step (where the leader may send the work back to the check step) is the last
  leader step after the check step, else the last head step after it; without one, no rework;
- the return step is the last row when it is the desk's "trả kết quả"; without one, a "Trả kết
  quả" step at the desk is added, not counted.

Layout: a left-to-right grid, one column per node and one row (lane) per role, so no two shapes
overlap; a flow goes straight along its lane when nothing stands between, otherwise it leaves
its node vertically to a free channel at the top or bottom of its lane, runs along it and
enters the target vertically through the target's own column.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from lxml import etree

from engine.catalogue.bpmn_xml import BPMN_NS, BPMNDI_NS, DC_NS, DI_NS, MC_NS, XSI_NS
from engine.catalogue.procedure_model import STEP_ROLES
from engine.catalogue.step_table import TableStep, fold

# What names a refusal's hand-over (engine/catalogue/bpmn_check.py reads task names the same way).
REFUSAL_WORDS = "tu choi"

NSMAP = {"bpmn": BPMN_NS, "bpmndi": BPMNDI_NS, "dc": DC_NS, "di": DI_NS, "xsi": XSI_NS, "mc": MC_NS}
LANE_NAME_LIMIT = 255

# Grid, in diagram units (bpmn-js pixels at 100 %).
POOL_X, POOL_Y, POOL_HEADER = 160, 80, 30
FIRST_COLUMN_X = POOL_X + POOL_HEADER + 60
COLUMN_WIDTH = 150
LANE_HEIGHT = 160
TASK_W, TASK_H = 100, 80
GATEWAY_SIZE = 50
EVENT_SIZE = 36
LABEL_W, LABEL_H = 90, 27
# Free bands above and below the nodes of a lane, where flows run between columns.
CHANNEL_OFFSETS = (10, 18, 26, 34)


@dataclass(frozen=True)
class Roles:
    """The special steps of a table: where to check, where to approve, where to hand over."""

    check: int | None
    approval: int | None
    returned: int


def with_return_step(steps: Sequence[TableStep], return_hours: float) -> list[TableStep]:
    """The steps, with a not-counted "Trả kết quả" at the desk added when the table has no hand-over last."""
    ordered = list(steps)
    if ordered and ordered[-1].hands_over:
        return ordered
    desk = next((s for s in ordered if s.role == "desk"), None)
    number = (ordered[-1].number if ordered else 0) + 1
    return [
        *ordered,
        TableStep(
            row=0,
            number=number,
            content="Trả kết quả",
            responsible=desk.responsible if desk else STEP_ROLES["desk"],
            role="desk",
            agency=desk.agency if desk else None,
            hours=return_hours,
            counted=False,
            time_text="Không tính",
        ),
    ]


def special_steps(steps: Sequence[TableStep]) -> Roles:
    """Indexes of the check, approval and return steps (the last step is the return step)."""
    returned = len(steps) - 1
    working = list(range(returned))
    check = next((i for i in working if steps[i].role == "specialist"), None)
    if check is None:
        check = next((i for i in working if steps[i].role != "desk"), working[0] if working else None)
    approval = None
    if check is not None:
        for role in ("leader", "head"):
            found = [i for i in working if i > check and steps[i].role == role]
            if found:
                approval = found[-1]
                break
    return Roles(check, approval, returned)


# ---------------------------------------------------------------------------
# the graph


@dataclass
class _Node:
    id: str
    tag: str  # startEvent, endEvent, userTask, exclusiveGateway
    name: str
    lane: int
    column: int = 0
    sla: tuple[float, bool] | None = None
    kind: str | None = None
    documentation: str | None = None
    incoming: list[str] = field(default_factory=list)
    outgoing: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        if self.tag == "userTask":
            return TASK_W, TASK_H
        if self.tag == "exclusiveGateway":
            return GATEWAY_SIZE, GATEWAY_SIZE
        return EVENT_SIZE, EVENT_SIZE

    def bounds(self) -> tuple[int, int, int, int]:
        width, height = self.size
        cx, cy = _center(self.column, self.lane)
        return cx - width // 2, cy - height // 2, width, height


@dataclass
class _Flow:
    id: str
    source: str
    target: str
    name: str | None = None
    outcome: str | None = None


@dataclass
class _Lane:
    id: str
    name: str
    role: str
    agency: str | None
    nodes: list[str] = field(default_factory=list)


def _center(column: int, lane: int) -> tuple[int, int]:
    return (
        FIRST_COLUMN_X + column * COLUMN_WIDTH + TASK_W // 2,
        POOL_Y + lane * LANE_HEIGHT + LANE_HEIGHT // 2,
    )


def safe_id(text: str) -> str:
    """An XML id (NCName) from a procedure code: "1.001806" -> "1_001806"."""
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


class _Graph:
    def __init__(self) -> None:
        self.nodes: dict[str, _Node] = {}
        self.flows: list[_Flow] = []
        self.lanes: list[_Lane] = []
        self._lane_index: dict[tuple[str, str | None], int] = {}

    def lane(self, role: str, agency: str | None, name: str) -> int:
        key = (role, agency)
        if key not in self._lane_index:
            taken = {lane.id for lane in self.lanes}
            base = f"Lane_{role.capitalize()}"
            lane_id, n = base, 2
            while lane_id in taken:
                lane_id, n = f"{base}_{n}", n + 1
            self._lane_index[key] = len(self.lanes)
            self.lanes.append(_Lane(lane_id, name[:LANE_NAME_LIMIT], role, agency))
        return self._lane_index[key]

    def add(self, node: _Node) -> _Node:
        node.column = len(self.nodes)
        self.nodes[node.id] = node
        self.lanes[node.lane].nodes.append(node.id)
        return node

    def connect(self, source: str, target: str, name: str | None = None, outcome: str | None = None) -> None:
        flow = _Flow(f"Flow_{source}_{target}", source, target, name, outcome)
        outgoing = self.nodes[source].outgoing
        if outcome in ("forward", "approve") and outgoing:
            # The way on comes first: officers see the outcomes as buttons in the document's order.
            self.flows.insert(next(i for i, f in enumerate(self.flows) if f.id == outgoing[0]), flow)
            outgoing.insert(0, flow.id)
        else:
            self.flows.append(flow)
            outgoing.append(flow.id)
        self.nodes[target].incoming.append(flow.id)


def _build(steps: Sequence[TableStep]) -> _Graph:
    graph = _Graph()
    special = special_steps(steps)
    lanes = [graph.lane(s.role, s.agency, s.responsible) for s in steps]
    desk_lane = next((lanes[i] for i, s in enumerate(steps) if s.role == "desk"), lanes[-1])
    task_ids = [f"Task_Step{s.number}" for s in steps]
    graph.add(_Node("Start_Received", "startEvent", "Hồ sơ được tiếp nhận", lanes[0]))
    previous = "Start_Received"
    pending_name: str | None = None
    pending_outcome: str | None = None
    for index, step in enumerate(steps):
        returned = index == special.returned
        name, documentation = step.content, None
        if returned and REFUSAL_WORDS in fold(step.content):
            # "Trả kết quả (hoặc văn bản từ chối)": a return step named for a refusal is the refusal's
            # hand-over to the checker, reachable only by `refuse`; the wording is kept as its text.
            name, documentation = "Trả kết quả", step.content
        graph.add(
            _Node(
                task_ids[index],
                "userTask",
                name,
                lanes[index],
                documentation=documentation,
                sla=(step.hours, step.counted),
                kind="return" if returned else None,
            )
        )
        graph.connect(previous, task_ids[index], pending_name, pending_outcome)
        previous, pending_name, pending_outcome = task_ids[index], None, None
        if index == special.check:
            gateway = graph.add(
                _Node("Gateway_Check", "exclusiveGateway", "Kết quả kiểm tra hồ sơ?", lanes[index])
            )
            graph.connect(task_ids[index], gateway.id)
            wait = graph.add(
                _Node(
                    "Task_WaitSupplement",
                    "userTask",
                    "Chờ công dân bổ sung hồ sơ",
                    desk_lane,
                    sla=(0.0, False),
                    kind="supplement",
                )
            )
            graph.connect(gateway.id, wait.id, "Yêu cầu bổ sung", "supplement")
            graph.connect(wait.id, task_ids[index])
            refusal = graph.add(
                _Node(
                    "Task_ReturnRefusal",
                    "userTask",
                    "Trả văn bản từ chối",
                    desk_lane,
                    sla=(steps[special.returned].hours, False),
                    kind="return",
                )
            )
            graph.connect(gateway.id, refusal.id, "Từ chối", "refuse")
            end = graph.add(_Node("End_Refused", "endEvent", "Đã trả văn bản từ chối", desk_lane))
            graph.connect(refusal.id, end.id)
            previous, pending_name, pending_outcome = gateway.id, "Đạt, chuyển bước tiếp theo", "forward"
        elif index == special.approval and special.check is not None:
            gateway = graph.add(
                _Node("Gateway_Approve", "exclusiveGateway", "Ý kiến lãnh đạo?", lanes[index])
            )
            graph.connect(task_ids[index], gateway.id)
            graph.connect(gateway.id, task_ids[special.check], "Trả lại xử lý lại", "rework")
            previous, pending_name, pending_outcome = gateway.id, "Phê duyệt", "approve"
    end = graph.add(_Node("End_Completed", "endEvent", "Đã trả kết quả", lanes[special.returned]))
    graph.connect(previous, end.id, pending_name, pending_outcome)
    return graph


# ---------------------------------------------------------------------------
# routing


class _Router:
    """Waypoints for every flow, through the free gaps of the grid."""

    def __init__(self, graph: _Graph) -> None:
        self.graph = graph
        self.occupied = {(n.lane, n.column) for n in graph.nodes.values()}
        self._channel_use: dict[tuple[int, str], int] = {}
        self._entries: dict[tuple[str, str], int] = {}

    def _channel(self, lane: int, side: str) -> int:
        used = self._channel_use.get((lane, side), 0)
        self._channel_use[(lane, side)] = used + 1
        offset = CHANNEL_OFFSETS[used % len(CHANNEL_OFFSETS)]
        top = POOL_Y + lane * LANE_HEIGHT
        return top + offset if side == "top" else top + LANE_HEIGHT - offset

    def _port_x(self, node: _Node, side: str) -> int:
        """Where a flow leaves or enters a node's top or bottom: spread along a task's side."""
        x, _, width, _ = node.bounds()
        used = self._entries.get((node.id, side), 0)
        self._entries[(node.id, side)] = used + 1
        if node.tag != "userTask":
            return x + width // 2
        return x + width // 2 + (0, 20, -20, 35, -35)[used % 5]

    def route(self, flow: _Flow) -> list[tuple[int, int]]:
        source, target = self.graph.nodes[flow.source], self.graph.nodes[flow.target]
        sx, sy, sw, sh = source.bounds()
        tx, ty, _, th = target.bounds()
        scy, tcy = sy + sh // 2, ty + th // 2
        if (
            source.lane == target.lane
            and target.column > source.column
            and all((source.lane, c) not in self.occupied for c in range(source.column + 1, target.column))
        ):
            return [(sx + sw, scy), (tx, tcy)]
        # Up when the target lies above, else down; back along the same lane goes under the nodes.
        side = "top" if target.lane < source.lane else "bottom"
        if target.lane == source.lane:
            side = "top" if target.column > source.column else "bottom"
        channel = self._channel(source.lane, side)
        start_x = self._port_x(source, side)
        start_y = sy if side == "top" else sy + sh
        enters_below = target.lane < source.lane or (target.lane == source.lane and side == "bottom")
        entry_x = self._port_x(target, "bottom" if enters_below else "top")
        end_y = ty + th if enters_below else ty
        return [(start_x, start_y), (start_x, channel), (entry_x, channel), (entry_x, end_y)]


# ---------------------------------------------------------------------------
# writing


def _el(parent: etree._Element, ns: str, tag: str, **attrs: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{ns}}}{tag}", attrs)


def _hours(value: float) -> str:
    return f"{value:g}"


def table_bpmn(
    steps: Sequence[TableStep],
    *,
    procedure_code: str,
    procedure_name: str,
    legal_text: str,
    source: str,
    return_hours: float = 4.0,
) -> str:
    """The BPMN text of an internal procedure drawn from its step table (steps in order, already checked)."""
    ordered = with_return_step(steps, return_hours)
    graph = _build(ordered)
    key = safe_id(procedure_code)
    process_id = f"Process_{key}"
    root = etree.Element(
        f"{{{BPMN_NS}}}definitions",
        nsmap=NSMAP,
        attrib={
            "id": f"Definitions_{key}",
            "targetNamespace": "urn:motcua:procedures",
            "exporter": "motcua step table",
            "exporterVersion": "1",
        },
    )
    collaboration = _el(root, BPMN_NS, "collaboration", id=f"Collaboration_{key}")
    _el(
        collaboration,
        BPMN_NS,
        "participant",
        id=f"Participant_{key}",
        name=f"Quy trình nội bộ thủ tục {procedure_code} ({legal_text})",
        processRef=process_id,
    )
    process = _el(root, BPMN_NS, "process", id=process_id, name=procedure_name, isExecutable="true")
    documentation = _el(process, BPMN_NS, "documentation")
    counted = sum(s.hours for s in ordered if s.counted)
    documentation.text = (
        f"Quy trình nội bộ giải quyết thủ tục hành chính {procedure_code}, lập từ bảng các bước {source}. "
        f"Thời hạn giải quyết: {legal_text}; các bước được tính cộng lại {_hours(counted)} giờ làm việc."
    )
    lane_set = _el(process, BPMN_NS, "laneSet", id=f"LaneSet_{key}")
    for lane in graph.lanes:
        element = _el(lane_set, BPMN_NS, "lane", id=lane.id, name=lane.name)
        extensions = _el(element, BPMN_NS, "extensionElements")
        attrs = {"role": lane.role} | ({"agency": lane.agency} if lane.agency else {})
        _el(extensions, MC_NS, "lane", **attrs)
        for node_id in lane.nodes:
            _el(element, BPMN_NS, "flowNodeRef").text = node_id
    flows = {f.id: f for f in graph.flows}
    for node in graph.nodes.values():
        element = _el(process, BPMN_NS, node.tag, id=node.id, name=node.name)
        if node.documentation:
            _el(element, BPMN_NS, "documentation").text = node.documentation
        if node.sla is not None:
            extensions = _el(element, BPMN_NS, "extensionElements")
            hours, is_counted = node.sla
            _el(extensions, MC_NS, "sla", hours=_hours(hours), counted="true" if is_counted else "false")
            if node.kind:
                _el(extensions, MC_NS, "step", kind=node.kind)
        for flow_id in node.incoming:
            _el(element, BPMN_NS, "incoming").text = flow_id
        for flow_id in node.outgoing:
            _el(element, BPMN_NS, "outgoing").text = flow_id
    for flow in graph.flows:
        attrs = {"id": flow.id} | ({"name": flow.name} if flow.name else {})
        element = _el(process, BPMN_NS, "sequenceFlow", **attrs, sourceRef=flow.source, targetRef=flow.target)
        if flow.outcome:
            condition = _el(element, BPMN_NS, "conditionExpression")
            condition.set(f"{{{XSI_NS}}}type", "bpmn:tFormalExpression")
            condition.text = f"outcome == '{flow.outcome}'"
    _diagram(root, graph, key, flows)
    return etree.tostring(root, encoding="UTF-8", xml_declaration=True, pretty_print=True).decode("utf-8")


def _bounds(parent: etree._Element, x: int, y: int, width: int, height: int) -> None:
    _el(parent, DC_NS, "Bounds", x=str(x), y=str(y), width=str(width), height=str(height))


def _label_at(points: list[tuple[int, int]]) -> tuple[int, int]:
    """Where a flow's name goes: under a straight flow's start, else above its run along a channel,
    next to the target, so the outcomes of one gateway do not cover each other."""
    if len(points) == 2:
        return points[0][0] + 6, points[0][1] + 4
    (ax, channel), (bx, _) = points[1], points[2]
    x = max(bx - LABEL_W - 6, ax + 6) if bx >= ax else bx + 6
    return x, channel - LABEL_H - 1


def _diagram(root: etree._Element, graph: _Graph, key: str, flows: dict[str, _Flow]) -> None:
    diagram = _el(root, BPMNDI_NS, "BPMNDiagram", id=f"BPMNDiagram_{key}")
    plane = _el(diagram, BPMNDI_NS, "BPMNPlane", id=f"BPMNPlane_{key}", bpmnElement=f"Collaboration_{key}")
    columns = len(graph.nodes)
    width = FIRST_COLUMN_X - POOL_X + columns * COLUMN_WIDTH + 20
    height = len(graph.lanes) * LANE_HEIGHT
    pool = _el(plane, BPMNDI_NS, "BPMNShape", id=f"Participant_{key}_di", bpmnElement=f"Participant_{key}")
    pool.set("isHorizontal", "true")
    _bounds(pool, POOL_X, POOL_Y, width, height)
    for index, lane in enumerate(graph.lanes):
        shape = _el(
            plane, BPMNDI_NS, "BPMNShape", id=f"{lane.id}_di", bpmnElement=lane.id, isHorizontal="true"
        )
        _bounds(shape, POOL_X + POOL_HEADER, POOL_Y + index * LANE_HEIGHT, width - POOL_HEADER, LANE_HEIGHT)
    for node in graph.nodes.values():
        shape = _el(plane, BPMNDI_NS, "BPMNShape", id=f"{node.id}_di", bpmnElement=node.id)
        if node.tag == "exclusiveGateway":
            shape.set("isMarkerVisible", "true")
        x, y, w, h = node.bounds()
        _bounds(shape, x, y, w, h)
        if node.tag != "userTask":
            label = _el(shape, BPMNDI_NS, "BPMNLabel")
            if node.tag == "exclusiveGateway":
                # Below the diamond: its outcomes leave through the top and the right.
                _bounds(label, x + w // 2 - LABEL_W // 2, y + h + 12, LABEL_W, LABEL_H)
            else:
                _bounds(label, x + w // 2 - LABEL_W // 2, y + h + 5, LABEL_W, LABEL_H)
    router = _Router(graph)
    for flow in graph.flows:
        edge = _el(plane, BPMNDI_NS, "BPMNEdge", id=f"{flow.id}_di", bpmnElement=flow.id)
        points = router.route(flow)
        for px, py in points:
            _el(edge, DI_NS, "waypoint", x=str(px), y=str(py))
        if flows[flow.id].name:
            label = _el(edge, BPMNDI_NS, "BPMNLabel")
            _bounds(label, *_label_at(points), LABEL_W, LABEL_H)
