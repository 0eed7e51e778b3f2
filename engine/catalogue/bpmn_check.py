"""Validation of an internal procedure's BPMN: safety of the upload, schema, then the engine's rules.

Every problem is reported, not only the first, as `file:line: name (id): message` in Vietnamese,
so the process owner can fix a diagram in one pass. Problems that make a document unfit even to
be stored (it does not parse, is too large, or carries content a browser could run) are also
listed in `CheckResult.unsafe`; the others still let it be kept as a draft, never approved.
"""

from __future__ import annotations

import ast
import functools
import os
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from engine.catalogue.bpmn_xml import (
    BPMN_NS,
    BPMNDI_NS,
    DC_NS,
    DEFAULT_MAX_BYTES,
    DI_NS,
    MATHML_NS,
    MC_NS,
    SVG_NS,
    XHTML_NS,
    XINCLUDE_NS,
    XLINK_NS,
    XSI_NS,
    XSLT_NS,
    Problem,
    XmlRejected,
    local_name,
    parse_bpmn_xml,
)
from engine.catalogue.expressions import UnsafeExpression, check_expression
from engine.catalogue.procedure_model import (
    FLOW_NODE_TAGS,
    STEP_KINDS,
    STEP_ROLES,
    ProcedureModel,
    ProcessGraph,
    condition_text,
    data_declarations,
    declared_names,
    executable_process,
    mc_child,
    outcome_of_condition,
    read_model,
    valid_data_name,
)
from engine.catalogue.workflow_state import EngineBpmnParser
from models import WorkItem

# The version of the rules below: a result stored with a process version under an older version
# is checked again when it is shown (raise it whenever a rule is added or changed).
CHECK_RULES = 3

# Task types that would run code or call out of the engine.
FORBIDDEN_TASKS = {
    "scriptTask": "không được dùng tác vụ script (script task): điều kiện và dữ liệu do hệ thống xử lý",
    "serviceTask": "không được dùng tác vụ dịch vụ (service task): sơ đồ không được gọi dịch vụ bên ngoài",
    "businessRuleTask": "không được dùng tác vụ quy tắc nghiệp vụ (business rule task)",
    "callActivity": "chưa hỗ trợ gọi quy trình khác (call activity): hãy đưa các bước vào quy trình này",
}
# The namespaces the engine reads: BPMN, its diagram interchange, and the project's extensions.
ALLOWED_NS = frozenset({BPMN_NS, BPMNDI_NS, DC_NS, DI_NS, MC_NS})
# Other modelers' extensions: kept in the file so a diagram survives a round trip, ignored by
# the engine and by the editor's side form. Their elements are still checked below for names
# a browser would run (a camunda:script is refused like any other script).
TOLERATED_NS = {
    "http://camunda.org/schema/1.0/bpmn": "Camunda",
    "http://camunda.org/schema/zeebe/1.0": "Zeebe",
    "http://camunda.org/schema/modeler/1.0": "Camunda Modeler",
    "http://bpmn.io/schema/bpmn/biocolor/1.0": "bpmn.io",
    "http://www.omg.org/spec/BPMN/non-normative/color/1.0": "BPMN in Color",
    "http://spiffworkflow.org/bpmn/schema/1.0/core": "SpiffWorkflow",
}
# Namespaces a browser renders or executes: markup, scripts, links, transformations, inclusions.
ACTIVE_NS = frozenset({XHTML_NS, SVG_NS, XLINK_NS, XSLT_NS, MATHML_NS, *XINCLUDE_NS})
# Element names refused in every namespace but BPMN's (bpmn:script is the body of a script task,
# refused with it); preScript/postScript are SpiffWorkflow's scripts.
FORBIDDEN_ELEMENT_NAMES = frozenset({"script", "iframe", "object", "embed", "prescript", "postscript"})
# "java\tscript:" still runs in a browser: whitespace inside the scheme is skipped by URL parsers.
SCRIPT_URL = re.compile(r"(?:j\s*a\s*v\s*a|v\s*b)\s*s\s*c\s*r\s*i\s*p\s*t\s*:", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"^on[a-z]+$", re.IGNORECASE)
# SpiffWorkflow names its own internal task specs like this; a BPMN element with the same id
# silently replaces them and the workflow never leaves its start.
RESERVED_IDS = {"Start", "End", "Root"}
# The reserved outcome of `refuse` (engine/runtime/dossiers.py): only a branch with exactly this
# condition records the refusal and its reason; any other branch is a plain completion.
REFUSE_OUTCOME = "refuse"
# What names a refusal hand-over ("Trả văn bản từ chối"), without case or diacritics.
REFUSAL_WORDS = "tu choi"
DECISION_GATEWAYS = ("exclusiveGateway", "inclusiveGateway")
# Elements whose text the engine evaluates as an expression (besides conditions on flows), with
# what the problem calls them. Every one is held to the expression language of expressions.py.
EXPRESSION_ELEMENTS = {
    "condition": "điều kiện của sự kiện",
    "timeDate": "biểu thức hẹn giờ (timeDate)",
    "timeDuration": "biểu thức hẹn giờ (timeDuration)",
    "timeCycle": "biểu thức hẹn giờ (timeCycle)",
    "loopCondition": "điều kiện lặp",
    "loopCardinality": "số lần lặp",
    "completionCondition": "điều kiện hoàn thành",
    "activationCondition": "điều kiện kích hoạt",
    "messagePath": "biểu thức lấy dữ liệu thông điệp",
    "dataPath": "biểu thức lấy dữ liệu",
    "from": "biểu thức gán (from)",
    "to": "biểu thức gán (to)",
    "transformation": "biểu thức chuyển đổi dữ liệu",
}
# Loop markers make the engine repeat a task by itself, as often as an expression says.
FORBIDDEN_MARKERS = {
    "standardLoopCharacteristics": "không được dùng vòng lặp trên tác vụ (loop): hãy vẽ vòng lặp bằng luồng "
    "tuần tự quay lại qua một cổng quyết định",
    "multiInstanceLoopCharacteristics": "không được dùng tác vụ nhiều phiên bản (multi-instance): hãy vẽ "
    "từng bước bằng một tác vụ riêng",
}
# Nodes where the engine stops and waits (for an officer or an event); a loop must pass one.
WAITING_NODES = frozenset(
    {"userTask", "manualTask", "task", "receiveTask", "intermediateCatchEvent", "eventBasedGateway"}
)
# A timer's cycle may repeat at most this many times.
MAX_TIMER_CYCLES = 100


@functools.cache
def _schema() -> etree.XMLSchema:
    import SpiffWorkflow.bpmn.parser as spiff_parser

    path = os.path.join(os.path.dirname(spiff_parser.__file__), "schema", "BPMN20.xsd")
    return etree.XMLSchema(etree.parse(path))


@dataclass
class CheckResult:
    """The outcome of checking one document: its problems and, when it parses, its model.

    `unsafe` lists the problems that forbid even storing the document as a draft (it does not
    parse, is too large, or carries content a browser could run); every problem forbids approval.
    """

    filename: str
    problems: list[Problem] = field(default_factory=list)
    model: ProcedureModel | None = None
    unsafe: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No problem found."""
        return not self.problems

    @property
    def storable(self) -> bool:
        """Whether the document may be kept as a draft despite its problems."""
        return not self.unsafe


class _Reporter:
    def __init__(self, filename: str, root: etree._Element) -> None:
        self.filename = filename
        self.problems: list[Problem] = []
        self.unsafe: list[Problem] = []
        self._by_line: dict[int, etree._Element] = {}
        for element in root.iter():
            if (
                isinstance(element.tag, str)
                and element.sourceline
                and element.sourceline not in self._by_line
            ):
                self._by_line[element.sourceline] = element

    def at(
        self, element: etree._Element | None, message: str, line: int | None = None, *, unsafe: bool = False
    ) -> None:
        if element is None:
            problem = Problem(self.filename, line or 1, "", "document", message)
        else:
            name = element.get("name") or local_name(element)
            problem = Problem(
                self.filename, line or element.sourceline or 1, element.get("id", ""), name, message
            )
        self.problems.append(problem)
        if unsafe:
            self.unsafe.append(problem)

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
        result.unsafe.append(exc.problem)
        return result
    report = _Reporter(filename, root)
    _check_foreign_content(root, report)
    _check_lengths(root, report)

    schema = _schema()
    if not schema.validate(root):
        for error in schema.error_log:
            report.at_line(error.line, f"lược đồ BPMN: {error.message}")

    process = executable_process(root)
    if process is None:
        report.at(root, "tài liệu không có bpmn:process")
        result.problems = sorted(set(report.problems))
        result.unsafe = sorted(set(report.unsafe))
        return result
    if process.get("isExecutable", "false").lower() != "true":
        report.at(process, 'quy trình chưa được đánh dấu là thực thi được (isExecutable="true")')

    graph = ProcessGraph(process)
    _check_forbidden_tasks(root, report)
    _check_references(root, graph, report)
    _check_connectivity(graph, report)
    _check_loops(graph, report)
    refused = _check_expressions(root, graph, report)
    _check_gateways(graph, report)
    model = read_model(root)
    if model.longest_counted_hours > MAX_COUNTED_HOURS:
        report.at(process, f"tổng số giờ được tính {model.longest_counted_hours:g} quá lớn", unsafe=True)
    _check_steps(graph, model, report)
    _check_refusals(graph, model, report, refused)
    if legal_hours is not None and model.longest_counted_hours > legal_hours + 1e-9:
        path = " -> ".join(model.longest_path)
        report.at(
            process,
            f"tổng thời gian được tính dọc theo nhánh dài nhất là {model.longest_counted_hours:g} giờ "
            f"làm việc, vượt thời hạn giải quyết {legal_hours:g} giờ ({path})",
        )
    if not report.problems:
        _check_with_spiff(root, filename, report)
    result.problems = sorted(set(report.problems))
    result.unsafe = sorted(set(report.unsafe))
    result.model = model
    return result


def _owner(element: etree._Element) -> etree._Element | None:
    """The nearest BPMN or DI element with an id at or above this one: what the editor can select."""
    owner: etree._Element | None = element
    while owner is not None and not (
        owner.get("id") and etree.QName(owner).namespace in (BPMN_NS, BPMNDI_NS)
    ):
        owner = owner.getparent()
    return owner


def _namespace_shown(namespace: str | None) -> str:
    return namespace if namespace else "(không có không gian tên)"


def _check_foreign_content(root: etree._Element, report: _Reporter) -> None:
    """Refuse what a browser could run: foreign markup, script-like elements, javascript: URLs."""
    for node in [*root.itersiblings(preceding=True), *root.iter(etree.PI), *root.itersiblings()]:
        if isinstance(node, etree._ProcessingInstruction):
            # <?xml-stylesheet?> makes a browser run an XSLT over the raw file.
            parent = node.getparent()
            report.at(
                _owner(parent) if parent is not None else None,
                f"không được dùng chỉ thị xử lý <?{node.target}?>",
                node.sourceline,
                unsafe=True,
            )
    stack = [root]
    while stack:
        element = stack.pop()
        if not isinstance(element.tag, str):
            continue
        qname = etree.QName(element)
        namespace, name = qname.namespace, qname.localname
        refusal = None
        if name.lower() in FORBIDDEN_ELEMENT_NAMES and namespace != BPMN_NS:
            refusal = (
                f"phần tử <{name}> ({_namespace_shown(namespace)}) không được phép: "
                "có thể chứa mã chạy trên trình duyệt"
            )
        elif namespace in ACTIVE_NS:
            refusal = f"phần tử mở rộng <{name}> thuộc không gian tên {namespace} không được phép"
        elif namespace not in ALLOWED_NS and namespace not in TOLERATED_NS:
            refusal = (
                f"phần tử mở rộng <{name}> thuộc không gian tên lạ {_namespace_shown(namespace)} không "
                f"được phép; chỉ chấp nhận BPMN, DI và {MC_NS}"
            )
        if refusal is not None:
            # One problem for the foreign subtree: its children are refused with it.
            report.at(_owner(element), refusal, element.sourceline, unsafe=True)
            continue
        _check_attributes(element, report)
        for text in (element.text, element.tail):
            if text and SCRIPT_URL.search(text):
                report.at(
                    _owner(element),
                    f"không được dùng địa chỉ javascript: (trong nội dung của <{name}>)",
                    element.sourceline,
                    unsafe=True,
                )
                break
        stack.extend(reversed(element))


# What a diagram's text becomes once stored or run: ids (the process's and each step's) and lane names
# in 255-character columns, outcome values in a 40-character one, a step's hours in NUMERIC(8, 2) and
# the longest counted path's in NUMERIC(12, 4).
ID_LIMIT = WorkItem.task_id.type.length
LANE_LIMIT = WorkItem.lane.type.length
OUTCOME_LIMIT = WorkItem.outcome.type.length
MAX_STEP_HOURS = 10_000
MAX_COUNTED_HOURS = 1_000_000


def _check_lengths(root: etree._Element, report: _Reporter) -> None:
    """Ids, lane names, outcome values and allotments the database could not hold; an id or a number of
    hours too large even to store the draft is refused outright."""
    for element in root.iter(etree.Element):
        name = local_name(element)
        if len(element.get("id") or "") > ID_LIMIT:
            report.at(element, f"mã phần tử dài quá {ID_LIMIT} ký tự", element.sourceline, unsafe=True)
        if name == "lane" and len(element.get("name") or "") > LANE_LIMIT:
            report.at(element, f"tên làn dài quá {LANE_LIMIT} ký tự")
        if name == "sequenceFlow":
            value = outcome_of_condition(condition_text(element) or "")
            if value is not None and len(value) > OUTCOME_LIMIT:
                report.at(element, f"giá trị kết quả trong điều kiện dài quá {OUTCOME_LIMIT} ký tự")
        if element.tag == f"{{{MC_NS}}}sla":
            try:
                hours = float(element.get("hours") or 0)
            except ValueError:
                continue  # reported with the step
            if hours > MAX_STEP_HOURS:
                report.at(
                    _owner(element),
                    f"số giờ được giao {hours:g} vượt quá {MAX_STEP_HOURS:,} giờ làm việc".replace(",", "."),
                    element.sourceline,
                    unsafe=True,
                )


def _check_attributes(element: etree._Element, report: _Reporter) -> None:
    # Attributes in other namespaces are allowed on BPMN elements (the BPMN schema itself
    # allows them, and modelers use them for colours and their own settings): a value is an
    # inert string that bpmn-js keeps and writes back, never renders as markup. Only the
    # namespaces a browser gives meaning to (XHTML, SVG, XLink, ...) and event-handler names
    # are refused, and a javascript: URL is refused in any attribute.
    for key, value in element.attrib.items():
        attr = etree.QName(key)
        shown = f"{{{attr.namespace}}}{attr.localname}" if attr.namespace else attr.localname
        if attr.namespace in ACTIVE_NS or (
            attr.namespace not in (None, BPMN_NS, XSI_NS, MC_NS, *ALLOWED_NS)
            and EVENT_HANDLER.match(attr.localname)
        ):
            report.at(
                _owner(element),
                f"thuộc tính {shown} không được phép: trình duyệt có thể chạy nó",
                element.sourceline,
                unsafe=True,
            )
        elif SCRIPT_URL.search(value):
            report.at(
                _owner(element),
                f"không được dùng địa chỉ javascript: (thuộc tính {shown})",
                element.sourceline,
                unsafe=True,
            )


def _check_forbidden_tasks(root: etree._Element, report: _Reporter) -> None:
    for element in root.iter(f"{{{BPMN_NS}}}*"):
        name = local_name(element)
        if name in FORBIDDEN_TASKS:
            report.at(element, FORBIDDEN_TASKS[name])
        elif name in FORBIDDEN_MARKERS:
            report.at(element.getparent(), FORBIDDEN_MARKERS[name], element.sourceline)
        elif name == "script":
            report.at(element.getparent(), "không được nhúng mã script vào sơ đồ")


def _check_references(root: etree._Element, graph: ProcessGraph, report: _Reporter) -> None:
    for node_id, node in graph.nodes.items():
        if node_id in RESERVED_IDS or node_id.endswith(".EndJoin"):
            report.at(
                node, f"mã '{node_id}' được hệ thống dành riêng; hãy đổi mã khác (ví dụ '{node_id}Event')"
            )
    for flow in graph.flows.values():
        for attr in ("sourceRef", "targetRef"):
            ref = flow.get(attr)
            if ref not in graph.nodes:
                report.at(flow, f"{attr} '{ref}' không trỏ tới phần tử nào của quy trình")
    for node in graph.nodes.values():
        default = node.get("default")
        if default and (
            default not in graph.flows or graph.flows[default].get("sourceRef") != node.get("id")
        ):
            report.at(node, f"luồng mặc định '{default}' không phải là luồng đi ra của cổng này")
        attached = node.get("attachedToRef")
        if local_name(node) == "boundaryEvent" and attached not in graph.nodes:
            report.at(node, f"attachedToRef '{attached}' không trỏ tới phần tử nào của quy trình")
    for lane in graph.lanes:
        for entry in lane.findall(f"{{{BPMN_NS}}}flowNodeRef"):
            target = (entry.text or "").strip()
            if target not in graph.nodes:
                report.at(
                    lane, f"flowNodeRef '{target}' không trỏ tới phần tử nào của quy trình", entry.sourceline
                )
    known = {e.get("id") for e in root.iter() if isinstance(e.tag, str) and e.get("id")}
    for shape in root.iter(f"{{{BPMNDI_NS}}}BPMNShape", f"{{{BPMNDI_NS}}}BPMNEdge"):
        ref = shape.get("bpmnElement")
        if ref and ref not in known:
            report.at(shape, f"hình vẽ trỏ tới phần tử không tồn tại '{ref}'")


def _check_connectivity(graph: ProcessGraph, report: _Reporter) -> None:
    starts = graph.starts()
    if not starts:
        report.at(graph.process, "quy trình không có sự kiện bắt đầu")
    elif len(starts) > 1:
        for extra in starts[1:]:
            report.at(graph.nodes[extra], "quy trình có nhiều hơn một sự kiện bắt đầu")
    reachable = graph.reachable()
    for node_id, node in graph.nodes.items():
        if node.getparent() is not graph.process:
            continue  # inside a sub-process: its own start and end
        tag = local_name(node)
        if tag not in ("startEvent", "boundaryEvent") and not graph.incoming.get(node_id):
            report.at(node, "không có luồng tuần tự nào đi vào")
        if tag != "endEvent" and not graph.outgoing.get(node_id):
            report.at(node, "không có luồng tuần tự nào đi ra")
        if starts and node_id not in reachable and graph.incoming.get(node_id):
            report.at(node, "không thể đi tới từ sự kiện bắt đầu")


def _strongly_connected(graph: ProcessGraph) -> list[list[str]]:
    """The loops of the process: its strongly connected components that hold a cycle (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    loops: list[list[str]] = []
    for root in graph.nodes:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work: list[tuple[str, Iterator[str]]] = [(root, iter(graph.successors(root)))]
        while work:
            node, children = work[-1]
            for child in children:
                if child not in graph.nodes:
                    continue
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph.successors(child))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in graph.successors(node):
                        loops.append(component)
    return loops


def _waits(graph: ProcessGraph, node_id: str) -> bool:
    """Whether the engine stops at this node until an officer or an event moves it on."""
    kind = graph.kind[node_id]
    if kind == "subProcess":
        return any(local_name(e) in WAITING_NODES for e in graph.nodes[node_id].iter(f"{{{BPMN_NS}}}*"))
    return kind in WAITING_NODES


def _check_loops(graph: ProcessGraph, report: _Reporter) -> None:
    """A loop must pass a step where the engine waits; otherwise it runs forever inside one request."""
    for component in _strongly_connected(graph):
        if any(_waits(graph, node_id) for node_id in component):
            continue
        members = sorted(component, key=lambda n: graph.nodes[n].sourceline or 0)
        shown = ", ".join(members[:5]) + (", ..." if len(members) > 5 else "")
        report.at(
            graph.nodes[members[0]],
            f"vòng lặp không qua bước nào phải chờ cán bộ xử lý ({shown}): bộ máy quy trình sẽ chạy "
            "vòng này mãi không dừng; vòng lặp phải đi qua ít nhất một tác vụ người dùng",
        )


def _expression_owner(element: etree._Element) -> etree._Element | None:
    """The flow node or flow an expression belongs to, else the nearest element with an id."""
    owner: etree._Element | None = element.getparent()
    while owner is not None:
        if etree.QName(owner).namespace == BPMN_NS and (
            local_name(owner) in FLOW_NODE_TAGS or local_name(owner) == "sequenceFlow"
        ):
            return owner
        owner = owner.getparent()
    return _owner(element)


def _check_timer(element: etree._Element, text: str) -> str | None:
    """What is wrong with a literal timer value (the engine parses it as ISO 8601), if anything."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None  # computed from the dossier's data: only the expression language applies
    if not isinstance(value, str):
        return "giá trị hẹn giờ phải là một chuỗi ISO 8601, ví dụ 'PT2H' hoặc 'R3/PT1H'"
    try:
        if local_name(element) == "timeCycle":
            cycles, _start, duration = TimerEventDefinition.parse_iso_recurring_interval(value)
            if not 0 < cycles <= MAX_TIMER_CYCLES:
                return f"chu kỳ hẹn giờ phải lặp từ 1 đến {MAX_TIMER_CYCLES} lần (ví dụ 'R3/PT1H')"
            if duration.total_seconds() <= 0:
                return "khoảng cách giữa hai lần hẹn giờ phải lớn hơn 0"
        elif local_name(element) == "timeDuration":
            TimerEventDefinition.parse_iso_duration(value)
        else:
            TimerEventDefinition.parse_time_or_duration(value)
    except Exception:  # the engine's own parser raises plain errors on every kind of bad input
        return f"'{value}' không phải là thời điểm, khoảng thời gian hay chu kỳ ISO 8601"
    return None


def _check_expressions(root: etree._Element, graph: ProcessGraph, report: _Reporter) -> set[str]:
    """Hold every expression to the language and the declared names; returns the refused flow ids."""
    names = declared_names(graph.process)
    for declaration in data_declarations(graph.process):
        name = (declaration.get("name") or "").strip()
        if not valid_data_name(name):
            report.at(
                _expression_owner(declaration),
                f"tên dữ liệu '{name}' không hợp lệ: cần bắt đầu bằng chữ cái hoặc '_', chỉ gồm chữ cái "
                "không dấu, chữ số và '_', tối đa 64 ký tự, và không trùng từ khóa hay tên hàm",
                declaration.sourceline,
            )
    refused: set[str] = set()
    for flow in graph.flows.values():
        text = condition_text(flow)
        if text is None:
            continue
        try:
            check_expression(text, names)
        except UnsafeExpression as exc:
            refused.add(flow.get("id", ""))
            report.at(flow, f"điều kiện '{text}' bị từ chối: {exc.explanation}")
    for element in root.iter(f"{{{BPMN_NS}}}*"):
        what = EXPRESSION_ELEMENTS.get(local_name(element))
        parent = element.getparent()
        # bpmn:from and bpmn:to are expressions only inside an assignment.
        if what is None or (
            local_name(element) in ("from", "to") and (parent is None or local_name(parent) != "assignment")
        ):
            continue
        text = (element.text or "").strip()
        try:
            check_expression(text, names)
        except UnsafeExpression as exc:
            report.at(
                _expression_owner(element),
                f"{what} '{text}' bị từ chối: {exc.explanation}",
                element.sourceline,
            )
            continue
        if local_name(element) in ("timeDate", "timeDuration", "timeCycle"):
            wrong = _check_timer(element, text)
            if wrong:
                report.at(
                    _expression_owner(element), f"{what} '{text}' bị từ chối: {wrong}", element.sourceline
                )
    return refused


def _check_gateways(graph: ProcessGraph, report: _Reporter) -> None:
    for node_id, node in graph.nodes.items():
        tag = graph.kind[node_id]
        outgoing = graph.outgoing.get(node_id, [])
        if tag not in DECISION_GATEWAYS or len(outgoing) < 2:
            continue
        for flow in outgoing:
            if condition_text(flow) is None and flow.get("id") != node.get("default"):
                report.at(flow, "luồng đi ra từ cổng quyết định cần có điều kiện (hoặc là luồng mặc định)")


def _check_steps(graph: ProcessGraph, model: ProcedureModel, report: _Reporter) -> None:
    for lane in graph.lanes:
        ext = mc_child(lane, "lane")
        if ext is None:
            report.at(lane, f'làn cần có <mc:lane role="..."/> trong extensionElements ({MC_NS})')
        elif ext.get("role") not in STEP_ROLES:
            report.at(
                lane,
                f"vai trò '{ext.get('role')}' không hợp lệ; hãy dùng một trong: {', '.join(STEP_ROLES)}",
                ext.sourceline,
            )
    for step in model.steps.values():
        task = graph.nodes[step.id]
        if step.lane is None and graph.lane_of.get(step.id) is None:
            report.at(task, "tác vụ người dùng không thuộc làn nào nên không ai nhận được")
        sla = mc_child(task, "sla")
        if sla is None:
            report.at(
                task,
                'tác vụ người dùng cần có <mc:sla hours="..." counted="true|false"/> trong extensionElements',
            )
        elif step.hours is None or step.hours < 0:
            report.at(
                task,
                f"số giờ được giao '{sla.get('hours')}' phải là số giờ làm việc >= 0",
                sla.sourceline,
            )
        elif (sla.get("counted") or "true").strip().lower() not in ("true", "false", "1", "0", "yes", "no"):
            report.at(task, f"counted='{sla.get('counted')}' phải là true hoặc false", sla.sourceline)
        if step.kind is not None and step.kind not in STEP_KINDS:
            report.at(
                task, f"loại bước '{step.kind}' không hợp lệ; hãy dùng một trong: {', '.join(STEP_KINDS)}"
            )
        out = graph.outgoing.get(step.id, [])
        if len(out) == 1:
            gateway = graph.nodes.get(out[0].get("targetRef", ""))
            if gateway is not None and local_name(gateway) == "exclusiveGateway":
                for flow in graph.outgoing.get(gateway.get("id", ""), []):
                    if flow.get("id") != gateway.get("default") and not flow.get("name"):
                        report.at(flow, "luồng quyết định cần có tên: đó là nút cán bộ bấm để chọn")


def _folded(text: str) -> str:
    """Lower case without diacritics: "TỪ CHỐI", "Từ chối" and "tu choi" all fold to "tu choi"."""
    decomposed = unicodedata.normalize("NFD", text.casefold().replace("đ", "d"))
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def _names_refusal(node: etree._Element | None) -> bool:
    return node is not None and REFUSAL_WORDS in _folded(node.get("name") or "")


def _refusal_ends(graph: ProcessGraph) -> set[str]:
    """Nodes from which a refusal-named end event is reached through events and gateways only.

    Walked back from those end events through gateways and intermediate events, once for the
    whole process (a step hands over a refusal when one of its targets is in this set).
    """
    found = {n for n, node in graph.nodes.items() if graph.kind[n] == "endEvent" and _names_refusal(node)}
    stack = list(found)
    while stack:
        node_id = stack.pop()
        for flow in graph.incoming.get(node_id, []):
            source = flow.get("sourceRef", "")
            kind = graph.kind.get(source, "")
            if source not in found and (kind.endswith("Gateway") or kind.startswith("intermediate")):
                found.add(source)
                stack.append(source)
    return found


def _is_plain_passage(graph: ProcessGraph, node_id: str) -> bool:
    """A node the way to a step goes straight through: one outgoing flow, and that flow unconditioned."""
    out = graph.outgoing.get(node_id, [])
    return len(out) == 1 and condition_text(out[0]) is None


def _deciding_flows(graph: ProcessGraph, node_id: str, refused: set[str]) -> list[tuple[etree._Element, str]]:
    """The flows that decide a dossier goes to this node, each with what it currently says.

    Walks back along unconditioned flows through tasks, events and merging gateways (nodes with a
    single outgoing flow) to the branches that chose this way: conditioned flows, default flows,
    and unconditioned branches of a fork or of a start or boundary event. A decision flow without
    a condition, or with a condition the checker refused (`refused`), is already a problem and
    not repeated.
    """
    deciding: list[tuple[etree._Element, str]] = []
    seen = {node_id}
    stack = list(graph.incoming.get(node_id, []))
    while stack:
        flow = stack.pop()
        source_id = flow.get("sourceRef", "")
        source = graph.nodes.get(source_id)
        text = condition_text(flow)
        if text is not None:
            if flow.get("id", "") not in refused:
                deciding.append((flow, text))
        elif source is None:
            continue
        elif flow.get("id") == source.get("default"):
            deciding.append((flow, "luồng mặc định (không có điều kiện)"))
        elif graph.kind[source_id] in ("startEvent", "boundaryEvent") or not _is_plain_passage(
            graph, source_id
        ):
            if graph.kind[source_id] not in DECISION_GATEWAYS:
                deciding.append((flow, "luồng không có điều kiện"))
        elif source_id not in seen:
            seen.add(source_id)
            stack.extend(graph.incoming.get(source_id, []))
    return sorted(deciding, key=lambda d: d[0].sourceline or 0)


def _leads_to_return_step(
    graph: ProcessGraph, model: ProcedureModel, node_id: str, known: dict[str, bool]
) -> bool:
    """Whether the straight way from a node (no branch, no end on the way) reaches a return step.

    `known` keeps the answer of every node walked, so the walks of all refusal flows together
    visit each node once.
    """
    walked: list[str] = []
    seen: set[str] = set()
    answer = False
    while node_id in graph.nodes and node_id not in seen:
        if node_id in known:
            answer = known[node_id]
            break
        step = model.steps.get(node_id)
        walked.append(node_id)
        if step is not None and step.kind == "return":
            answer = True
            break
        seen.add(node_id)
        if graph.kind[node_id] == "endEvent" or not _is_plain_passage(graph, node_id):
            break
        node_id = graph.outgoing[node_id][0].get("targetRef", "")
    for walked_id in walked:
        known[walked_id] = answer
    return answer


def _check_refusals(graph: ProcessGraph, model: ProcedureModel, report: _Reporter, refused: set[str]) -> None:
    """The refusal hand-over is reached only by the reserved outcome, and that outcome only leads there.

    `refuse` records the refusal reason that makes the hand-over a refusal; a step handing over a
    refusal reached by any other branch would close the dossier as resolved, without a reason.
    """
    refusal_ends = _refusal_ends(graph)
    for step in model.steps.values():
        if step.kind != "return":
            continue
        task = graph.nodes[step.id]
        targets = (f.get("targetRef", "") for f in graph.outgoing.get(step.id, []))
        if not (_names_refusal(task) or any(t in refusal_ends for t in targets)):
            continue
        for flow, current in _deciding_flows(graph, step.id, refused):
            if outcome_of_condition(current) == REFUSE_OUTCOME:
                continue
            report.at(
                flow,
                f"nhánh dẫn đến bước trả văn bản từ chối '{step.name}' phải có điều kiện "
                f"outcome == '{REFUSE_OUTCOME}' (kết quả dành riêng cho từ chối); hiện là {current}",
            )
    known: dict[str, bool] = {}
    for flow in graph.flows.values():
        if outcome_of_condition(condition_text(flow) or "") != REFUSE_OUTCOME:
            continue
        target = graph.nodes.get(flow.get("targetRef", ""))
        if target is None:
            continue  # a dangling reference, already reported
        if not _leads_to_return_step(graph, model, target.get("id", ""), known):
            shown = target.get("name") or target.get("id", "")
            report.at(
                flow,
                f"nhánh outcome == '{REFUSE_OUTCOME}' phải dẫn đến bước trả văn bản từ chối qua Bộ phận "
                f"Một cửa (tác vụ có <mc:step kind=\"return\"/>); hiện dẫn đến '{shown}' mà không qua "
                "bước trả nào",
            )


# The engine's parser follows the flows recursively: a very long chain of elements cannot be
# loaded at all, whatever it holds.
TOO_DEEP = (
    "bộ máy quy trình không nạp được: chuỗi phần tử nối tiếp nhau quá dài; hãy chia quy trình "
    "thành ít bước hơn hoặc đặt các bước độc lập song song"
)


def _caused_by_recursion(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, RecursionError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "RecursionError" in str(exc)


def _check_with_spiff(root: etree._Element, filename: str, report: _Reporter) -> None:
    """Let SpiffWorkflow build the spec too, so the engine will accept what passed here."""
    parser = EngineBpmnParser()
    process = executable_process(root)
    assert process is not None  # check_bpmn returns before this when there is none
    try:
        parser.add_bpmn_xml(root, filename)
        parser.get_spec(process.get("id"))
    except ValidationException as exc:
        if _caused_by_recursion(exc):
            report.at(process, TOO_DEEP)
            return
        element = None
        if getattr(exc, "id", ""):
            element = next((e for e in root.iter() if isinstance(e.tag, str) and e.get("id") == exc.id), None)
        report.at(element, f"bộ máy quy trình không nạp được: {exc}")
    except RecursionError:
        report.at(process, TOO_DEEP)
    except Exception as exc:  # the engine's parser raises plain errors on some malformed input
        report.at(process, f"bộ máy quy trình không nạp được: {type(exc).__name__}: {exc}")
