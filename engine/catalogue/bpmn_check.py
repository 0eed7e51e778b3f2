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
from collections.abc import Collection, Iterator
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
    one_line,
    parse_bpmn_xml,
)
from engine.catalogue.expressions import UnsafeExpression, check_expression
from engine.catalogue.procedure_model import (
    FLOW_NODE_TAGS,
    STEP_KINDS,
    STEP_ROLES,
    ProcedureModel,
    ProcessGraph,
    allotment_timer,
    condition_text,
    data_declarations,
    declared_names,
    executable_process,
    iso_working_hours,
    mc_child,
    outcome_of_condition,
    read_model,
    valid_data_name,
)
from engine.catalogue.workflow_state import EngineBpmnParser, spiff_message
from models import WorkItem

# The version of the rules below: a result stored with a process version under an older version
# is checked again when it is shown (raise it whenever a rule is added or changed).
CHECK_RULES = 4

# Task types that would run code or call out of the engine.
FORBIDDEN_TASKS = {
    "scriptTask": "không được dùng tác vụ script (script task): điều kiện và dữ liệu do hệ thống xử lý",
    "serviceTask": "không được dùng tác vụ dịch vụ (service task): sơ đồ không được gọi dịch vụ bên ngoài",
    "businessRuleTask": "không được dùng tác vụ quy tắc nghiệp vụ (business rule task): hệ thống không "
    "chạy bảng quyết định; hãy đổi thành User Task (tác vụ người dùng)",
    # What bpmn.io and Camunda Modeler draw by default: the engine would wait there for ever,
    # with no officer to act, so every dossier would stop at that step.
    "task": "tác vụ chưa có loại (task) không giao được cho cán bộ nào: hồ sơ sẽ dừng mãi ở bước này; "
    "hãy đổi thành User Task (tác vụ người dùng)",
    "manualTask": "tác vụ thủ công (manual task) không giao được cho cán bộ nào: hồ sơ sẽ dừng mãi ở bước "
    "này; hãy đổi thành User Task (tác vụ người dùng)",
    "sendTask": "tác vụ gửi thông điệp (send task): hệ thống không gửi thông điệp BPMN; hãy đổi thành "
    "User Task (tác vụ người dùng)",
    "receiveTask": "tác vụ nhận thông điệp (receive task): hệ thống không nhận thông điệp BPMN nên hồ sơ "
    "sẽ dừng mãi ở bước này; hãy đổi thành User Task (tác vụ người dùng)",
    "callActivity": "chưa hỗ trợ gọi quy trình khác (call activity): hãy đưa các bước vào quy trình này",
}
# The namespaces the engine reads: BPMN, its diagram interchange, and the project's extensions.
ALLOWED_NS = frozenset({BPMN_NS, BPMNDI_NS, DC_NS, DI_NS, MC_NS})
# Other modelers' metadata (colours, their own ids and settings, layout hints): stripped on import
# and save, one summary line per namespace, unless it carries something a browser could run. The
# names say whose it is in that line; a namespace not listed is named by its URI.
VENDOR_NAMESPACES = {
    "http://camunda.org/schema/1.0/bpmn": "Camunda Modeler",
    "http://camunda.org/schema/zeebe/1.0": "Camunda 8 (Zeebe)",
    "http://camunda.org/schema/modeler/1.0": "Camunda Modeler",
    "http://bpmn.io/schema/bpmn/biocolor/1.0": "bpmn.io (màu sắc)",
    "http://www.omg.org/spec/BPMN/non-normative/color/1.0": "BPMN in Color (màu sắc)",
    "http://spiffworkflow.org/bpmn/schema/1.0/core": "SpiffArena",
    "http://www.signavio.com": "Signavio",
    "http://www.bizagi.com/bpmn20": "Bizagi Modeler",
    "http://www.boc-group.com": "ADONIS (BOC)",
    "http://www.trisotech.com/2015/triso/modeling": "Trisotech",
    "http://www.trisotech.com/2014/triso/bpmn": "Trisotech",
    "http://www.trisotech.com/to": "Trisotech",
    "http://www.softwareag.com/aris/bpmn2": "ARIS",
    "http://www.ids-scheer.com/aris/bpmn2": "ARIS",
    "http://www.visual-paradigm.com/bpmn": "Visual Paradigm",
    "http://www.visual-paradigm.com": "Visual Paradigm",
    "http://activiti.org/bpmn": "Activiti",
    "http://flowable.org/bpmn": "Flowable",
    "http://www.jboss.org/drools": "jBPM",
    "http://bpmn.sourceforge.net": "Yaoqiang",
    "http://www.itp-commerce.com": "ITP Process Modeler",
    "http://www.omg.org/spec/BPMN/20100524/DI-XMI": "OMG DI",
}
# Namespaces a browser renders or executes: markup, scripts, links, transformations, inclusions.
ACTIVE_NS = frozenset({XHTML_NS, SVG_NS, XLINK_NS, XSLT_NS, MATHML_NS, *XINCLUDE_NS})
# Element names refused in every namespace but BPMN's (bpmn:script is the body of a script task,
# refused with it); preScript/postScript are SpiffWorkflow's scripts.
FORBIDDEN_ELEMENT_NAMES = frozenset({"script", "iframe", "object", "embed", "prescript", "postscript"})
# "java\tscript:" still runs in a browser: whitespace inside the scheme is skipped by URL parsers.
SCRIPT_URL = re.compile(r"(?:j\s*a\s*v\s*a|v\s*b)\s*s\s*c\s*r\s*i\s*p\s*t\s*:", re.IGNORECASE)
# A data: URL a browser would render as a document or run.
DATA_URL = re.compile(
    r"data\s*:\s*(?:text/html|image/svg|application/(?:x-)?javascript|text/javascript)", re.I
)
# Markup a browser would run, written as escaped text inside another modeler's metadata.
ESCAPED_ACTIVE_MARKUP = re.compile(
    r"<\s*/?\s*(?:script|iframe|object|embed|svg|math|applet|frame|base|meta|form)\b|<[^>]*\son[a-z]+\s*=",
    re.IGNORECASE,
)
# HTML element names refused in every namespace but the engine's own (markup, whatever its prefix).
HTML_ELEMENT_NAMES = frozenset(
    [
        "html",
        "body",
        "div",
        "span",
        "a",
        "img",
        "frame",
        "frameset",
        "applet",
        "form",
        "input",
        "button",
        "svg",
        "math",
    ]
)
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
    # What the check did or could not do, for the person who reads it (not problems: they do not
    # keep a version from approval): the metadata stripped per modeler, the caps not checked.
    notes: list[str] = field(default_factory=list)
    # The document to store when other modelers' metadata was stripped from it (None: as given).
    text: str | None = None

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
            name = one_line(element.get("name") or local_name(element))
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
    agencies: Collection[str] | None = None,
) -> CheckResult:
    """Check a BPMN document and return every problem found (empty when valid) and its model.

    `legal_hours` caps the counted hours (None: the procedure is unknown, said in a note);
    `agencies` are the agency codes a lane may name (None: not verified, said in a note).
    """
    result = CheckResult(filename)
    try:
        root = parse_bpmn_xml(data, filename=filename, max_bytes=max_bytes)
    except XmlRejected as exc:
        result.problems.append(exc.problem)
        result.unsafe.append(exc.problem)
        return result
    report = _Reporter(filename, root)
    stripped = _check_foreign_content(root, report)
    if stripped and not report.unsafe:
        result.notes.extend(_vendor_summary(stripped))
        result.text = _stripped_text(root)
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
    _check_pools(root, process, report)

    graph = ProcessGraph(process)
    _check_forbidden_tasks(root, report)
    _check_references(root, graph, report)
    _check_connectivity(graph, report)
    _check_loops(graph, report)
    refused = _check_expressions(root, graph, report)
    _check_gateways(graph, report)
    _check_timers(graph, report)
    model = read_model(root)
    if model.longest_counted_hours > MAX_COUNTED_HOURS:
        report.at(process, f"tổng số giờ được tính {model.longest_counted_hours:g} quá lớn", unsafe=True)
    _check_steps(graph, model, report)
    _check_agencies(graph, model, report, agencies, result.notes)
    _check_refusals(graph, model, report, refused)
    if legal_hours is None:
        result.notes.append("không kiểm tra được tổng thời gian: chưa biết thủ tục (hãy chỉ rõ --procedure)")
    elif model.longest_counted_hours > legal_hours + 1e-9:
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


def _check_pools(root: etree._Element, process: etree._Element, report: _Reporter) -> None:
    """One executable process per document: the engine runs one process per procedure."""
    executable = [
        p for p in root.findall(f"{{{BPMN_NS}}}process") if p.get("isExecutable", "false").lower() == "true"
    ]
    if len(executable) < 2:
        return
    shown = ", ".join(p.get("name") or p.get("id") or "" for p in executable)
    for other in executable:
        if other is process:
            continue
        report.at(
            other,
            f"sơ đồ có {len(executable)} quy trình thực thi được ({shown}); hệ thống chạy một quy trình "
            'cho mỗi thủ tục: hãy để các bể (pool) còn lại là isExecutable="false" (ví dụ bể của công '
            "dân) hoặc tách thành thủ tục riêng",
        )


def _check_agencies(
    graph: ProcessGraph,
    model: ProcedureModel,
    report: _Reporter,
    agencies: Collection[str] | None,
    notes: list[str],
) -> None:
    """The agency a lane hands its steps to must exist, or the first dossier stops at the hand-over."""
    named: dict[str, etree._Element] = {}
    for lane in graph.lanes:
        ext = graph.lane_extension(lane)
        code = (ext.get("agency") or "").strip() if ext is not None else ""
        if code and code not in named:
            named[code] = lane
    if not named:
        return
    if agencies is None:
        notes.append(
            "không kiểm tra được mã cơ quan của các làn ("
            + ", ".join(sorted(named))
            + "): không có danh sách cơ quan (kiểm tra lại khi nhập vào hệ thống)"
        )
        return
    known = set(agencies)
    for code, lane in named.items():
        if code not in known:
            ext = graph.lane_extension(lane)
            report.at(
                lane,
                f"cơ quan '{code}' của làn chưa có trong danh sách cơ quan của hệ thống: hồ sơ sẽ không "
                "chuyển được đến làn này; hãy sửa mã cơ quan hoặc thêm cơ quan trước",
                ext.sourceline if ext is not None else None,
            )


def _owner(element: etree._Element) -> etree._Element | None:
    """The nearest BPMN or DI element with an id at or above this one: what the editor can select."""
    owner: etree._Element | None = element
    while owner is not None and not (
        owner.get("id") and etree.QName(owner).namespace in (BPMN_NS, BPMNDI_NS)
    ):
        owner = owner.getparent()
    return owner


XML_NS = "http://www.w3.org/XML/1998/namespace"
# Attribute namespaces kept on the engine's own elements: no namespace (BPMN's own attributes),
# xsi:type, xml:lang and the namespaces the engine reads.
KEPT_ATTRIBUTE_NS = frozenset({None, XSI_NS, XML_NS, *ALLOWED_NS})


@dataclass
class _Stripped:
    """How much of one namespace's metadata was removed."""

    elements: int = 0
    attributes: int = 0


def _vendor_summary(stripped: dict[str | None, _Stripped]) -> list[str]:
    """One line per namespace whose metadata was removed, naming the modeler when known."""
    lines = []
    for namespace, counts in stripped.items():
        parts = [f"{counts.elements} phần tử"] if counts.elements else []
        parts += [f"{counts.attributes} thuộc tính"] if counts.attributes else []
        label = VENDOR_NAMESPACES.get(namespace or "")
        if label:
            whose = f"{label} ({namespace})"
        elif namespace:
            whose = f"phần mở rộng {namespace}"
        else:
            whose = "phần mở rộng không có không gian tên"
        lines.append(f"Đã bỏ {' và '.join(parts)} của {whose}: hệ thống không dùng đến")
    return lines


def _split(tag: str) -> tuple[str | None, str]:
    """Namespace and local name of a Clark-notation tag, without building a QName (once per node)."""
    if tag[:1] == "{":
        namespace, _, name = tag[1:].partition("}")
        return namespace, name
    return None, tag


def _element_refusal(element: etree._Element) -> str | None:
    """Why an element is refused outright (something a browser would run or render), if it is."""
    namespace, name = _split(str(element.tag))
    if name.lower() in FORBIDDEN_ELEMENT_NAMES and namespace != BPMN_NS:
        return (
            f"phần tử <{name}> ({namespace or 'không có không gian tên'}) không được phép: "
            "có thể chứa mã chạy trên trình duyệt"
        )
    if namespace in ACTIVE_NS:
        return f"phần tử mở rộng <{name}> thuộc không gian tên {namespace} không được phép"
    if name.lower() in HTML_ELEMENT_NAMES and namespace not in (BPMN_NS, BPMNDI_NS, DC_NS, DI_NS):
        return f"phần tử <{name}> ({namespace or 'không có không gian tên'}) là mã HTML, không được phép"
    return None


def _attribute_refusal(key: str, value: str, *, vendor: bool) -> str | None:
    """Why an attribute is refused (an event handler, a markup namespace, a URL that runs), if it is."""
    namespace, name = _split(key)
    shown = key
    # On another modeler's element its own attributes have no namespace: onload= there is a handler too.
    handler_namespaces = (XSI_NS, XML_NS, *ALLOWED_NS) if vendor else KEPT_ATTRIBUTE_NS
    if namespace in ACTIVE_NS or (namespace not in handler_namespaces and EVENT_HANDLER.match(name)):
        return f"thuộc tính {shown} không được phép: trình duyệt có thể chạy nó"
    # Every URL that runs has a colon, all markup a '<': most values are skipped at once.
    if ":" in value and SCRIPT_URL.search(value):
        return f"không được dùng địa chỉ javascript: (thuộc tính {shown})"
    if ":" in value and DATA_URL.search(value):
        return f"không được dùng địa chỉ data: chạy được trên trình duyệt (thuộc tính {shown})"
    if vendor and "<" in value and ESCAPED_ACTIVE_MARKUP.search(value):
        return f"thuộc tính {shown} chứa mã HTML có thể chạy trên trình duyệt"
    return None


def _text_refusal(element: etree._Element, text: str, *, vendor: bool) -> str | None:
    if ":" not in text and "<" not in text:
        return None
    name = local_name(element)
    if SCRIPT_URL.search(text):
        return f"không được dùng địa chỉ javascript: (trong nội dung của <{name}>)"
    if vendor and DATA_URL.search(text):
        return f"không được dùng địa chỉ data: chạy được trên trình duyệt (trong nội dung của <{name}>)"
    if vendor and ESCAPED_ACTIVE_MARKUP.search(text):
        return f"nội dung của <{name}> chứa mã HTML có thể chạy trên trình duyệt"
    return None


def _report_active(element: etree._Element, report: _Reporter, *, vendor: bool) -> bool:
    """Report what a browser could run on this element itself; whether anything was found."""
    found = False
    for key, value in element.attrib.items():
        message = _attribute_refusal(key, value, vendor=vendor)
        if message:
            report.at(_owner(element), message, element.sourceline, unsafe=True)
            found = True
    for text in (element.text, element.tail):
        message = _text_refusal(element, text, vendor=vendor) if text else None
        if message:
            report.at(_owner(element), message, element.sourceline, unsafe=True)
            return True
    return found


def _report_active_inside(top: etree._Element, report: _Reporter) -> bool:
    """Report everything a browser could run inside another modeler's element; whether anything was."""
    found = False
    stack = [top]
    while stack:
        element = stack.pop()
        if not isinstance(element.tag, str):
            continue
        refusal = _element_refusal(element)
        if refusal is not None:
            # One problem for the refused subtree: its children go with it.
            report.at(_owner(element), refusal, element.sourceline, unsafe=True)
            found = True
            continue
        found = _report_active(element, report, vendor=True) or found
        stack.extend(reversed(element))
    return found


def _remove_keeping_layout(element: etree._Element) -> None:
    """Remove an element; the text after it stays where it was (lxml drops it with the element)."""
    parent = element.getparent()
    if parent is None:
        return
    tail = element.tail or ""
    previous = element.getprevious()
    if tail.strip():
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(element)


def _check_foreign_content(root: etree._Element, report: _Reporter) -> dict[str | None, _Stripped]:
    """Refuse what a browser could run; strip other modelers' inert metadata and say how much.

    Active content anywhere (scripts, frames, markup, event handlers, javascript: URLs) is refused
    and makes the document unfit even for a draft. Elements and attributes of any other namespace
    that carry none of it are removed from the tree; what was removed is returned per namespace.
    """
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
    stripped: dict[str | None, _Stripped] = {}
    removals: list[etree._Element] = []
    stack = [root]
    while stack:
        element = stack.pop()
        if not isinstance(element.tag, str):
            continue
        namespace = _split(element.tag)[0]
        refusal = _element_refusal(element)
        if refusal is not None:
            # One problem for the foreign subtree: its children are refused with it.
            report.at(_owner(element), refusal, element.sourceline, unsafe=True)
            continue
        if namespace not in ALLOWED_NS:
            if not _report_active_inside(element, report):
                removals.append(element)
                stripped.setdefault(namespace, _Stripped()).elements += 1
            continue
        if not _report_active(element, report, vendor=False):
            for key in [k for k in element.attrib if k[:1] == "{" and _split(k)[0] not in KEPT_ATTRIBUTE_NS]:
                stripped.setdefault(_split(key)[0], _Stripped()).attributes += 1
                del element.attrib[key]
        stack.extend(reversed(element))
    for element in removals:
        _remove_keeping_layout(element)
    return stripped


def _stripped_text(root: etree._Element) -> str:
    """The document once stripped, with the namespace declarations nothing uses any more removed."""
    # Prefixes of the engine's namespaces stay declared: attribute values such as
    # xsi:type="bpmn:tFormalExpression" name them where lxml cannot see it.
    keep = [prefix for prefix, uri in root.nsmap.items() if prefix and uri in (*ALLOWED_NS, XSI_NS)]
    etree.cleanup_namespaces(root, keep_ns_prefixes=keep)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        + etree.tostring(root.getroottree(), encoding="unicode")
        + "\n"
    )


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
    # A step's timer is its allotment, not a way on: it has no outgoing flow (see _check_timers).
    timers = allotment_timers(graph)
    for node_id, node in graph.nodes.items():
        if node.getparent() is not graph.process:
            continue  # inside a sub-process: its own start and end
        tag = local_name(node)
        if tag not in ("startEvent", "boundaryEvent") and not graph.incoming.get(node_id):
            report.at(node, "không có luồng tuần tự nào đi vào")
        if tag != "endEvent" and not graph.outgoing.get(node_id) and node_id not in timers:
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


# The one form a condition takes here: the outcome an officer chose at the step before.
EXPECTED_CONDITION = "outcome == 'duyet'"
# ${...} and #{...}: JUEL, the expression language of Camunda 7, Activiti and Flowable.
JUEL = re.compile(r"^\s*[$#]\{(?P<body>.*)\}\s*$", re.DOTALL)
# = ...: FEEL, the expression language of Camunda 8 (Zeebe).
FEEL = re.compile(r"^\s*=(?!=)(?P<body>.*)$", re.DOTALL)
# Word by word, how the operators of those languages are written here.
_OPERATORS = (
    (re.compile(r"&&"), " and "),
    (re.compile(r"\|\|"), " or "),
    (re.compile(r"!(?!=)"), " not "),
    (re.compile(r"\beq\b"), "=="),
    (re.compile(r"\bne\b"), "!="),
    (re.compile(r"(?<![=!<>])=(?!=)"), "=="),  # FEEL compares with a single =
    (re.compile(r"\btrue\b"), "True"),
    (re.compile(r"\bfalse\b"), "False"),
)
_BARE_NAME = re.compile(r"^(?P<not>not\s+|!\s*)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)$")


def _rewritten(body: str, names: frozenset[str]) -> str | None:
    """The condition in this engine's language, when the translation is mechanical; else None."""
    body = " ".join(body.split())
    bare = _BARE_NAME.match(body)
    if bare is not None and bare.group("name") not in ("true", "false"):
        name, negated = bare.group("name"), bare.group("not") is not None
        if name in names and name != "outcome":
            return f"not {name}" if negated else name
        # A flag the other engine's form set is, here, the outcome the officer chooses.
        return f"outcome {'!=' if negated else '=='} '{name}'"
    candidate = body
    for pattern, replacement in _OPERATORS:
        candidate = pattern.sub(replacement, candidate)
    candidate = " ".join(candidate.split())
    try:
        check_expression(candidate, names)
    except UnsafeExpression:
        return None
    value = outcome_of_condition(candidate)
    return f"outcome == '{value}'" if value is not None else candidate


def _other_language(text: str, names: frozenset[str]) -> str | None:
    """The message for a condition written in another engine's language (JUEL, FEEL), if it is one."""
    for pattern, language in ((JUEL, "JUEL (Camunda 7, Activiti, Flowable)"), (FEEL, "FEEL (Camunda 8)")):
        match = pattern.match(text)
        if match is None:
            continue
        message = (
            f"điều kiện '{text}' viết bằng ngôn ngữ {language} mà hệ thống không dùng; điều kiện ở đây "
            f"là biểu thức như {EXPECTED_CONDITION} (kết quả cán bộ chọn ở bước trước)"
        )
        rewrite = _rewritten(match.group("body"), names)
        return message + (f"; viết lại thành: {rewrite}" if rewrite else "")
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
        foreign = _other_language(text, names)
        if foreign is not None:
            refused.add(flow.get("id", ""))
            report.at(flow, foreign)
            continue
        try:
            check_expression(text, names)
        except UnsafeExpression as exc:
            refused.add(flow.get("id", ""))
            report.at(flow, f"điều kiện '{text}' bị từ chối: {exc.explanation}")
    timers = allotment_timers(graph)
    for element in root.iter(f"{{{BPMN_NS}}}*"):
        what = EXPRESSION_ELEMENTS.get(local_name(element))
        parent = element.getparent()
        grandparent = parent.getparent() if parent is not None else None
        if what is not None and grandparent is not None and grandparent.get("id") in timers:
            continue  # a step's allotment, read as working time by _check_timers, never evaluated
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


def allotment_timers(graph: ProcessGraph) -> dict[str, tuple[str, str]]:
    """The boundary timers read as a step's allotment: event id -> (user task id, duration text)."""
    found: dict[str, tuple[str, str]] = {}
    for task_id in graph.boundaries:
        if graph.kind.get(task_id) == "userTask":
            timer = allotment_timer(graph, task_id)
            if timer is not None:
                found[timer[0].get("id", "")] = (task_id, timer[1])
    return found


def _check_timers(graph: ProcessGraph, report: _Reporter) -> None:
    """A step's boundary timer is its time in working hours: a duration, and the only one it has."""
    for event_id, (task_id, text) in allotment_timers(graph).items():
        event, task = graph.nodes[event_id], graph.nodes[task_id]
        hours = iso_working_hours(text)
        if hours is None:
            report.at(
                event,
                f"thời lượng '{text}' của sự kiện hẹn giờ trên bước phải là khoảng thời gian ISO 8601 theo "
                "tuần, ngày, giờ, phút (ví dụ PT16H = 16 giờ, P2D = 2 ngày làm việc, PT30M = 30 phút)",
            )
            continue
        if graph.outgoing.get(event_id):
            report.at(
                event,
                f"sự kiện hẹn giờ '{text}' trên bước được đọc là thời gian được giao của bước ({hours:g} giờ "
                "làm việc); hệ thống tự nhắc việc và cảnh báo khi quá hạn chứ không rẽ nhánh theo giờ: hãy "
                f"xóa luồng đi ra từ sự kiện này, hoặc viết '{text}' trong dấu nháy nếu nhánh phải chạy theo "
                "giờ đồng hồ",
            )
        sla = mc_child(task, "sla")
        written = sla.get("hours") if sla is not None else None
        sla_hours = _float_or_none(written)
        if sla_hours is not None and abs(sla_hours - hours) > 1e-9:
            report.at(
                task,
                f'bước có hai thời gian được giao khác nhau: <mc:sla hours="{written}"/> và sự kiện '
                f"hẹn giờ '{text}' ({hours:g} giờ làm việc); hãy giữ một",
            )


def _float_or_none(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


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
        if sla is None and allotment_timer(graph, step.id) is not None:
            pass  # its allotment is a boundary timer, checked by _check_timers
        elif sla is None:
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
    """Let SpiffWorkflow build the spec too, so the engine will accept what passed here.

    Its errors are English and sometimes plain TypeErrors: none is shown as it is; each becomes
    one Vietnamese line on the element it names (spiff_message).
    """
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
        report.at(element if element is not None else process, spiff_message(exc))
    except RecursionError:
        report.at(process, TOO_DEEP)
    except Exception as exc:  # the engine's parser raises plain errors on some malformed input
        report.at(process, spiff_message(exc))
