"""Validation of an internal procedure's BPMN: schema, then the engine's semantic rules.

Every problem is reported, not only the first, as `file:line: name (id): message`, so the
process owner can fix a diagram in one pass.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException

from engine.bpmn_xml import (
    BPMN_NS,
    DEFAULT_MAX_BYTES,
    MC_NS,
    Problem,
    XmlRejected,
    local_name,
    parse_bpmn_xml,
)
from engine.expressions import UnsafeExpression, check_expression
from engine.procedure_model import (
    STEP_KINDS,
    STEP_ROLES,
    ProcedureModel,
    ProcessGraph,
    condition_text,
    executable_process,
    mc_child,
    read_model,
)

# Task types that would run code or call out of the engine.
FORBIDDEN_TASKS = {
    "scriptTask": "script tasks are not allowed: conditions and data are handled by the engine",
    "serviceTask": "service tasks are not allowed: a diagram cannot call services",
    "businessRuleTask": "business rule tasks are not allowed",
    "callActivity": "call activities are not supported: put the steps in this procedure",
}
FORBIDDEN_EXTENSION_NAMES = {"script", "preScript", "postScript"}
XHTML_NS = "http://www.w3.org/1999/xhtml"
# SpiffWorkflow names its own internal task specs like this; a BPMN element with the same id
# silently replaces them and the workflow never leaves its start.
RESERVED_IDS = {"Start", "End", "Root"}


@functools.cache
def _schema() -> etree.XMLSchema:
    import SpiffWorkflow.bpmn.parser as spiff_parser

    path = os.path.join(os.path.dirname(spiff_parser.__file__), "schema", "BPMN20.xsd")
    return etree.XMLSchema(etree.parse(path))


@dataclass
class CheckResult:
    """The outcome of checking one document: its problems and, when it parses, its model."""

    filename: str
    problems: list[Problem] = field(default_factory=list)
    model: ProcedureModel | None = None

    @property
    def ok(self) -> bool:
        """No problem found."""
        return not self.problems


class _Reporter:
    def __init__(self, filename: str, root: etree._Element) -> None:
        self.filename = filename
        self.problems: list[Problem] = []
        self._by_line: dict[int, etree._Element] = {}
        for element in root.iter():
            if (
                isinstance(element.tag, str)
                and element.sourceline
                and element.sourceline not in self._by_line
            ):
                self._by_line[element.sourceline] = element

    def at(self, element: etree._Element | None, message: str, line: int | None = None) -> None:
        if element is None:
            self.problems.append(Problem(self.filename, line or 1, "", "document", message))
            return
        name = element.get("name") or local_name(element)
        self.problems.append(
            Problem(self.filename, line or element.sourceline or 1, element.get("id", ""), name, message)
        )

    def at_line(self, line: int, message: str) -> None:
        self.at(self._by_line.get(line), message, line=line)


def check_bpmn(
    data: bytes | str,
    *,
    filename: str = "<upload>",
    legal_hours: float | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> CheckResult:
    """Check a BPMN document and return every problem found (empty when valid) and its model."""
    result = CheckResult(filename)
    try:
        root = parse_bpmn_xml(data, filename=filename, max_bytes=max_bytes)
    except XmlRejected as exc:
        result.problems.append(exc.problem)
        return result
    report = _Reporter(filename, root)

    schema = _schema()
    if not schema.validate(root):
        for error in schema.error_log:
            report.at_line(error.line, f"schema: {error.message}")

    process = executable_process(root)
    if process is None:
        report.at(root, "the document has no bpmn:process")
        result.problems = sorted(report.problems)
        return result
    if process.get("isExecutable", "false").lower() != "true":
        report.at(process, 'the process is not marked executable (isExecutable="true")')

    graph = ProcessGraph(process)
    _check_forbidden(root, report)
    _check_references(root, graph, report)
    _check_connectivity(graph, report)
    _check_gateways(graph, report)
    model = read_model(root)
    _check_steps(graph, model, report)
    if legal_hours is not None and model.longest_counted_hours > legal_hours + 1e-9:
        path = " -> ".join(model.longest_path)
        report.at(
            process,
            f"the counted allotments along the longest path add up to {model.longest_counted_hours:g} "
            f"working hours, more than the legal time of {legal_hours:g} hours ({path})",
        )
    if not report.problems:
        _check_with_spiff(root, filename, report)
    result.problems = sorted(set(report.problems))
    result.model = model
    return result


def _check_forbidden(root: etree._Element, report: _Reporter) -> None:
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        qname = etree.QName(element)
        if qname.namespace == BPMN_NS and qname.localname in FORBIDDEN_TASKS:
            report.at(element, FORBIDDEN_TASKS[qname.localname])
        elif qname.namespace == BPMN_NS and qname.localname == "script":
            report.at(element.getparent(), "embedded scripts are not allowed")
        elif qname.namespace == XHTML_NS or (
            qname.namespace != BPMN_NS and qname.localname in FORBIDDEN_EXTENSION_NAMES
        ):
            owner = element.getparent()
            while owner is not None and not owner.get("id"):
                owner = owner.getparent()
            report.at(owner, f"extension element {qname.localname} from {qname.namespace} is not allowed")


def _check_references(root: etree._Element, graph: ProcessGraph, report: _Reporter) -> None:
    for node_id, node in graph.nodes.items():
        if node_id in RESERVED_IDS or node_id.endswith(".EndJoin"):
            report.at(
                node, f"the id '{node_id}' is reserved by the engine; rename it (e.g. '{node_id}Event')"
            )
    for flow in graph.flows.values():
        for attr in ("sourceRef", "targetRef"):
            ref = flow.get(attr)
            if ref not in graph.nodes:
                report.at(flow, f"{attr} '{ref}' does not name an element of the process")
    for node in graph.nodes.values():
        default = node.get("default")
        if default and (
            default not in graph.flows or graph.flows[default].get("sourceRef") != node.get("id")
        ):
            report.at(node, f"default flow '{default}' is not an outgoing flow of this gateway")
        attached = node.get("attachedToRef")
        if local_name(node) == "boundaryEvent" and attached not in graph.nodes:
            report.at(node, f"attachedToRef '{attached}' does not name an element of the process")
    for lane in graph.lanes:
        for ref in lane.findall(f"{{{BPMN_NS}}}flowNodeRef"):
            target = (ref.text or "").strip()
            if target not in graph.nodes:
                report.at(
                    lane, f"flowNodeRef '{target}' does not name an element of the process", ref.sourceline
                )
    known = {e.get("id") for e in root.iter() if isinstance(e.tag, str) and e.get("id")}
    for shape in root.iter(
        "{http://www.omg.org/spec/BPMN/20100524/DI}BPMNShape",
        "{http://www.omg.org/spec/BPMN/20100524/DI}BPMNEdge",
    ):
        ref = shape.get("bpmnElement")
        if ref and ref not in known:
            report.at(shape, f"diagram element refers to unknown element '{ref}'")


def _check_connectivity(graph: ProcessGraph, report: _Reporter) -> None:
    starts = graph.starts()
    if not starts:
        report.at(graph.process, "the process has no start event")
    elif len(starts) > 1:
        for extra in starts[1:]:
            report.at(graph.nodes[extra], "the process has more than one start event")
    reachable = graph.reachable()
    for node_id, node in graph.nodes.items():
        if node.getparent() is not graph.process:
            continue  # inside a sub-process: its own start and end
        tag = local_name(node)
        if tag not in ("startEvent", "boundaryEvent") and not graph.incoming.get(node_id):
            report.at(node, "has no incoming sequence flow")
        if tag != "endEvent" and not graph.outgoing.get(node_id):
            report.at(node, "has no outgoing sequence flow")
        if starts and node_id not in reachable and graph.incoming.get(node_id):
            report.at(node, "cannot be reached from the start event")


def _check_gateways(graph: ProcessGraph, report: _Reporter) -> None:
    for node_id, node in graph.nodes.items():
        tag = local_name(node)
        outgoing = graph.outgoing.get(node_id, [])
        for flow in outgoing:
            text = condition_text(flow)
            if text is None:
                decision = tag in ("exclusiveGateway", "inclusiveGateway") and len(outgoing) > 1
                if decision and flow.get("id") != node.get("default"):
                    report.at(flow, "a flow leaving a decision needs a condition (or be the default flow)")
                continue
            try:
                check_expression(text)
            except UnsafeExpression as exc:
                report.at(flow, f"condition '{text}' is refused: {exc}")


def _check_steps(graph: ProcessGraph, model: ProcedureModel, report: _Reporter) -> None:
    for lane in graph.lanes:
        ext = mc_child(lane, "lane")
        if ext is None:
            report.at(lane, f'lane needs <mc:lane role="..."/> in its extensionElements ({MC_NS})')
        elif ext.get("role") not in STEP_ROLES:
            report.at(
                lane,
                f"role '{ext.get('role')}' is not known; use one of: {', '.join(STEP_ROLES)}",
                ext.sourceline,
            )
    for step in model.steps.values():
        task = graph.nodes[step.id]
        if step.lane is None and graph.lane_of.get(step.id) is None:
            report.at(task, "user task is not in a lane, so nobody would receive it")
        sla = mc_child(task, "sla")
        if sla is None:
            report.at(
                task, 'user task needs <mc:sla hours="..." counted="true|false"/> in its extensionElements'
            )
        elif step.hours is None or step.hours < 0:
            report.at(
                task,
                f"allotted hours '{sla.get('hours')}' must be a number of working hours >= 0",
                sla.sourceline,
            )
        elif (sla.get("counted") or "true").strip().lower() not in ("true", "false", "1", "0", "yes", "no"):
            report.at(task, f"counted='{sla.get('counted')}' must be true or false", sla.sourceline)
        if step.kind is not None and step.kind not in STEP_KINDS:
            report.at(task, f"step kind '{step.kind}' is not known; use one of: {', '.join(STEP_KINDS)}")
        out = graph.outgoing.get(step.id, [])
        if len(out) == 1:
            gateway = graph.nodes.get(out[0].get("targetRef", ""))
            if gateway is not None and local_name(gateway) == "exclusiveGateway":
                for flow in graph.outgoing.get(gateway.get("id", ""), []):
                    if flow.get("id") != gateway.get("default") and not flow.get("name"):
                        report.at(flow, "a decision flow needs a name: it is the button the officer clicks")


def _check_with_spiff(root: etree._Element, filename: str, report: _Reporter) -> None:
    """Let SpiffWorkflow build the spec too, so the engine will accept what passed here."""
    parser = BpmnParser()
    process = executable_process(root)
    try:
        parser.add_bpmn_xml(root, filename)
        parser.get_spec(process.get("id"))
    except ValidationException as exc:
        element = None
        if getattr(exc, "id", ""):
            element = next((e for e in root.iter() if isinstance(e.tag, str) and e.get("id") == exc.id), None)
        report.at(element, f"engine: {exc}")
    except Exception as exc:  # the engine's parser raises plain errors on some malformed input
        report.at(process, f"engine: {type(exc).__name__}: {exc}")
