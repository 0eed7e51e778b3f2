"""Benchmark: `check_bpmn` and the procedure model on generated diagrams of growing size.

    .venv/bin/python -m bench.bpmn_check [--sizes 500,1000,2000,4000] [--runs 3]

Each diagram is what a long internal procedure looks like: three lanes (desk, specialist,
head), the desk's reception, user tasks with their allotted hours and, after every fourth task,
an exclusive gateway whose `rework` branch goes back to the task before (a loop) while
`forward` goes on, then the hand-over of the result. Two shapes:

- branches: the tasks between reception and hand-over in parallel branches of 40 (a parallel
  split and join); SpiffWorkflow loads it, so the check runs to the end and finds it valid;
- one chain: every task after the other, the shape of the 0.6 MB diagram of the finding;
  SpiffWorkflow's recursive parser cannot load a chain of several hundred elements, so the
  check ends with that one problem (it still walks everything before);
- branches again with Camunda Modeler's attributes and extension element on every task: the
  check strips them (one summary line) and writes the stripped document, as an import does.

For each size, best of `--runs`: the XML parse alone (the linear baseline of the same run), the
whole check (`check_bpmn`: parse, schema, the engine's rules, the model, SpiffWorkflow's own
parse) and the procedure model alone (`read_model`: steps, longest counted path, hours after
each step). Printed: milliseconds, microseconds per task, the ratio to the previous size (near
2 when the size doubles for a linear check, 4 for a quadratic one) and check / parse. Not part
of the test suite; exits 0 whatever the numbers.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from importlib.metadata import version as package_version

from engine.catalogue.bpmn_check import check_bpmn
from engine.catalogue.bpmn_xml import parse_bpmn_xml
from engine.catalogue.procedure_model import read_model

HEADER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
    'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" xmlns:di="http://www.omg.org/spec/DD/20100524/DI" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:mc="urn:motcua:bpmn:1" '
    'id="Definitions_Bench" targetNamespace="urn:motcua:procedures">\n'
)
LANES = (("Lane_Desk", "desk"), ("Lane_Specialist", "specialist"), ("Lane_Head", "head"))
# A gateway after every GATEWAY_EVERY tasks of a branch: a rework loop back to the task before it.
GATEWAY_EVERY = 4
# SpiffWorkflow's parser follows the flows recursively: a single chain of a few hundred steps
# exceeds Python's recursion limit, so the valid diagrams run their steps in parallel branches.
BRANCH_LENGTH = 40


# What Camunda Modeler adds to every task: its own attributes and an extension element, stripped on
# import (one summary line per namespace) before the engine's rules run.
CAMUNDA_NS = 'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" '
CAMUNDA_TASK = ' camunda:assignee="${officer}" camunda:candidateGroups="mot-cua"'
CAMUNDA_EXTENSION = '<camunda:properties><camunda:property name="form" value="x"/></camunda:properties>'


class _Diagram:
    """Collects the elements of a generated process and writes them as one BPMN document."""

    def __init__(self, di: bool, vendor: bool = False) -> None:
        self.di = di
        self.vendor = vendor
        self.lane_nodes: dict[str, list[str]] = {lane: [] for lane, _ in LANES}
        self.elements: dict[str, tuple[str, str, str]] = {}  # id -> (tag, name, extension)
        self.flows: list[str] = []
        self.shapes: list[str] = []
        self.incoming: dict[str, list[str]] = {}
        self.outgoing: dict[str, list[str]] = {}
        self.x = 0

    def node(self, tag: str, node_id: str, name: str, lane: str, extension: str = "") -> str:
        self.elements[node_id] = (tag, name, extension)
        self.lane_nodes[lane].append(node_id)
        if self.di:
            self.shapes.append(
                f'      <bpmndi:BPMNShape id="{node_id}_di" bpmnElement="{node_id}">'
                f'<dc:Bounds x="{self.x}" y="60" width="100" height="80"/></bpmndi:BPMNShape>'
            )
            self.x += 150
        return node_id

    def task(self, node_id: str, name: str, lane: str, hours: float, kind: str = "") -> str:
        step = f'<mc:step kind="{kind}"/>' if kind else ""
        ext = f'<mc:sla hours="{hours}" counted="true"/>{step}'
        return self.node("userTask", node_id, name, lane, ext)

    def flow(self, source: str, target: str, name: str = "", condition: str = "") -> None:
        flow_id = f"Flow_{len(self.flows) + 1:06d}"
        named = f' name="{name}"' if name else ""
        if condition:
            self.flows.append(
                f'    <bpmn:sequenceFlow id="{flow_id}"{named} sourceRef="{source}" targetRef="{target}">'
                f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}'
                "</bpmn:conditionExpression></bpmn:sequenceFlow>"
            )
        else:
            self.flows.append(
                f'    <bpmn:sequenceFlow id="{flow_id}"{named} sourceRef="{source}" targetRef="{target}"/>'
            )
        self.outgoing.setdefault(source, []).append(flow_id)
        self.incoming.setdefault(target, []).append(flow_id)
        if self.di:
            self.shapes.append(
                f'      <bpmndi:BPMNEdge id="{flow_id}_di" bpmnElement="{flow_id}">'
                f'<di:waypoint x="{self.x}" y="80"/><di:waypoint x="{self.x + 50}" y="80"/></bpmndi:BPMNEdge>'
            )

    def text(self) -> str:
        nodes = []
        for node_id, (tag, name, extension) in self.elements.items():
            attrs = ""
            if self.vendor and tag == "userTask":
                extension, attrs = extension + CAMUNDA_EXTENSION, CAMUNDA_TASK
            ext = f"<bpmn:extensionElements>{extension}</bpmn:extensionElements>" if extension else ""
            refs = "".join(f"<bpmn:incoming>{f}</bpmn:incoming>" for f in self.incoming.get(node_id, []))
            refs += "".join(f"<bpmn:outgoing>{f}</bpmn:outgoing>" for f in self.outgoing.get(node_id, []))
            nodes.append(f'    <bpmn:{tag} id="{node_id}" name="{name}"{attrs}>{ext}{refs}</bpmn:{tag}>')
        lanes = []
        for lane, role in LANES:
            members = "".join(f"<bpmn:flowNodeRef>{n}</bpmn:flowNodeRef>" for n in self.lane_nodes[lane])
            lanes.append(
                f'      <bpmn:lane id="{lane}" name="{role}"><bpmn:extensionElements>'
                f'<mc:lane role="{role}"/></bpmn:extensionElements>{members}</bpmn:lane>'
            )
        diagram = (
            '  <bpmndi:BPMNDiagram id="Diagram_Bench"><bpmndi:BPMNPlane id="Plane_Bench" '
            'bpmnElement="Process_Bench">\n'
            + "\n".join(self.shapes)
            + "\n  </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>\n"
            if self.di
            else ""
        )
        header = HEADER.replace("xmlns:mc=", CAMUNDA_NS + "xmlns:mc=") if self.vendor else HEADER
        return (
            header
            + '  <bpmn:process id="Process_Bench" name="Quy trình dài" isExecutable="true">\n'
            + '    <bpmn:laneSet id="LaneSet_Bench">\n'
            + "\n".join(lanes)
            + "\n    </bpmn:laneSet>\n"
            + "\n".join(nodes + self.flows)
            + "\n  </bpmn:process>\n"
            + diagram
            + "</bpmn:definitions>\n"
        )


def generate_diagram(
    tasks: int,
    *,
    hours: float = 0.01,
    branch_length: int | None = BRANCH_LENGTH,
    di: bool = False,
    vendor: bool = False,
) -> str:
    """A diagram with `tasks` user tasks: received at the desk, worked in branches, handed over.

    The steps between the first and the last run in parallel branches of `branch_length` tasks
    (one single chain when None), each with a rework loop after every fourth task; with `vendor`,
    every task also carries Camunda Modeler's attributes and extension element.
    """
    assert tasks >= 3
    d = _Diagram(di, vendor)
    d.node("startEvent", "Start_Received", "Tiếp nhận", "Lane_Desk")
    first = d.task("Task_Receive", "Tiếp nhận hồ sơ", "Lane_Desk", hours)
    last = "Task_Return"
    d.flow("Start_Received", first)
    middle = tasks - 2
    length = branch_length or middle
    branches = [min(length, middle - start) for start in range(0, middle, length)]
    split = join = None
    if len(branches) > 1:
        split = d.node("parallelGateway", "Gateway_Split", "Chia việc", "Lane_Head")
        join = d.node("parallelGateway", "Gateway_Join", "Tổng hợp", "Lane_Head")
        d.flow(first, split)

    def link(source: str, target: str) -> None:
        # The way on out of a rework gateway is its `forward` outcome.
        if d.elements[source][0] == "exclusiveGateway":
            d.flow(source, target, "Chuyển tiếp", "outcome == 'forward'")
        else:
            d.flow(source, target)

    number = 0
    for size in branches:
        previous = split or first
        before: str | None = None
        for position in range(1, size + 1):
            number += 1
            lane = LANES[1 + number % 2][0]
            current = d.task(f"Task_{number:05d}", f"Bước {number}", lane, hours)
            link(previous, current)
            previous = current
            if position % GATEWAY_EVERY == 0 and before is not None:
                previous = d.node("exclusiveGateway", f"Gateway_{number:05d}", "Kết quả?", lane)
                d.flow(current, previous)
                d.flow(previous, before, "Làm lại", "outcome == 'rework'")
            before = current
        link(previous, join or last)
    if join is not None:
        d.flow(join, last)
    d.task(last, "Trả kết quả", "Lane_Desk", hours, "return")
    d.node("endEvent", "End_Done", "Đã trả kết quả", "Lane_Desk")
    d.flow(last, "End_Done")
    return d.text()


def best_of(runs: int, action: Callable[[], object]) -> float:
    """The fastest of `runs` calls, in seconds."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def cpu_best_of(runs: int, action: Callable[[], object]) -> float:
    """The least processor time of `runs` calls, in seconds: what the call costs on a busy machine."""
    times = []
    for _ in range(runs):
        started = time.process_time()
        action()
        times.append(time.process_time() - started)
    return min(times)


def measure(
    tasks: int, runs: int, branch_length: int | None, vendor: bool = False
) -> tuple[int, float, float, float, bool, float]:
    """Bytes, seconds to parse (the baseline), to check and to build the model, whether it is valid,
    and the check's processor seconds."""
    data = generate_diagram(tasks, branch_length=branch_length, vendor=vendor).encode("utf-8")
    result = check_bpmn(data, max_bytes=len(data))
    assert result.model is not None and len(result.model.steps) == tasks
    parse = best_of(runs, lambda: parse_bpmn_xml(data, max_bytes=len(data)))
    check = best_of(runs, lambda: check_bpmn(data, max_bytes=len(data)))
    root = parse_bpmn_xml(data, max_bytes=len(data))
    model = best_of(runs, lambda: read_model(root))
    cpu = cpu_best_of(runs, lambda: check_bpmn(data, max_bytes=len(data)))
    return len(data), parse, check, model, result.ok, cpu


def main() -> None:
    """Time the check and the model at each size and print the ratios."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="500,1000,2000,4000", help="numbers of tasks, comma-separated")
    parser.add_argument("--runs", type=int, default=3, help="runs per size; the fastest counts")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    print(
        f"Python {platform.python_version()}, lxml {package_version('lxml')}, "
        f"SpiffWorkflow {package_version('SpiffWorkflow')}, {platform.machine()}, {os.cpu_count()} CPUs"
    )
    shapes = (
        ("branches of 40 tasks", BRANCH_LENGTH, False),
        ("branches of 40 tasks, with Camunda Modeler's metadata to strip", BRANCH_LENGTH, True),
        ("one chain", None, False),
    )
    for shape, branch_length, vendor in shapes:
        print(
            f"\n{shape}: ratio = time / time at the previous size; check/parse = check / XML parse; "
            "cpu = the check's processor time"
        )
        print(
            f"{'tasks':>6} {'KB':>6} {'valid':>5} {'parse ms':>9} {'check ms':>9} {'µs/task':>8} "
            f"{'ratio':>6} {'check/parse':>11} {'cpu ms':>8} {'model ms':>9} {'µs/task':>8} {'ratio':>6}"
        )
        previous: tuple[float, float] | None = None
        for tasks in sizes:
            size, parse, check, model, ok, cpu = measure(tasks, args.runs, branch_length, vendor)
            ratio_check = f"{check / previous[0]:6.2f}" if previous else "     -"
            ratio_model = f"{model / previous[1]:6.2f}" if previous else "     -"
            print(
                f"{tasks:>6} {size / 1024:>6.0f} {'yes' if ok else 'no':>5} {parse * 1000:>9.1f} "
                f"{check * 1000:>9.1f} {check / tasks * 1e6:>8.0f} {ratio_check} {check / parse:>11.1f} "
                f"{cpu * 1000:>8.1f} {model * 1000:>9.1f} {model / tasks * 1e6:>8.0f} {ratio_model}"
            )
            previous = (check, model)


if __name__ == "__main__":
    main()
