"""The only code that touches SpiffWorkflow state: specs cached by sha256, state as JSON without the spec.

A dossier's row holds SpiffWorkflow's serialized task tree and data; the spec (identical for
every dossier of a process version) is parsed once per process and put back on load. When the
engine cannot advance (an expression of the diagram is refused or over its budget), the failure
is an InvalidProcess naming the step and the expression, raised before the caller writes anything.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from copy import deepcopy as copy_tree
from dataclasses import dataclass
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
from SpiffWorkflow.bpmn.parser.ProcessParser import ProcessParser
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.config import DEFAULT_CONFIG
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import WorkflowException
from SpiffWorkflow.util.task import TaskState

from engine.catalogue.bpmn_xml import BPMN_NS, parse_bpmn_xml
from engine.catalogue.expressions import SCRIPT_ENGINE, UnsafeExpression
from engine.catalogue.procedure_model import (
    ProcedureModel,
    ProcessGraph,
    allotment_timer,
    executable_process,
    read_model,
)
from engine.errors import InvalidProcess

# The query SpiffWorkflow indexes a process with: libxml2 evaluates it in time quadratic in the
# number of elements (2 s at 4,000 tasks), where walking the tree gives the same list at once.
_ALL_WITH_ID = ".//*[@id]"


class _LinearProcessParser(ProcessParser):
    """SpiffWorkflow's process parser with its one quadratic query answered by a walk of the tree."""

    def xpath(self, xpath: str) -> list:
        if xpath == _ALL_WITH_ID:
            return [
                e
                for e in self.node.iter()
                if e is not self.node and isinstance(e.tag, str) and "id" in e.attrib
            ]
        return super().xpath(xpath)


class EngineBpmnParser(BpmnParser):
    """The BPMN parser the engine and the checker use: SpiffWorkflow's, linear in the diagram's size.

    A boundary timer with a duration on a user task is that step's allotment in working time
    (procedure_model.allotment_timer). SpiffWorkflow would run it as a wall-clock timer and, once
    fired, cancel the step; so it is taken out of what SpiffWorkflow parses, and the engine's own
    due times (work_item.due_at, the watcher) are the only deadline it has.
    """

    PROCESS_PARSER_CLASS = _LinearProcessParser

    def add_bpmn_xml(self, bpmn: etree._Element, filename: str | None = None) -> None:
        """Add a document to parse, without the timers that are steps' allotments."""
        super().add_bpmn_xml(without_allotment_timers(bpmn), filename)


def without_allotment_timers(root: etree._Element) -> etree._Element:
    """A copy of the document without the boundary timers read as allotments (itself when it has none)."""
    timers: set[str] = set()
    durations = root.iter(f"{{{BPMN_NS}}}timeDuration")
    if next(durations, None) is None:
        return root  # no timer with a duration: nothing to index
    for process in root.iter(f"{{{BPMN_NS}}}process"):
        graph = ProcessGraph(process)
        for task_id in graph.boundaries:
            timer = allotment_timer(graph, task_id) if graph.kind.get(task_id) == "userTask" else None
            if timer is not None and not graph.outgoing.get(timer[0].get("id", "")):
                timers.add(timer[0].get("id", ""))
    if not timers:
        return root
    copy = copy_tree(root)
    boundary = f"{{{BPMN_NS}}}boundaryEvent"
    for element in list(copy.iter(boundary, f"{{{BPMN_NS}}}flowNodeRef")):
        key = element.get("id") if element.tag == boundary else (element.text or "").strip()
        parent = element.getparent()
        if key in timers and parent is not None:
            parent.remove(element)
    return copy


def sha256_of(bpmn_xml: str) -> str:
    """The key a process version's spec is cached under."""
    return hashlib.sha256(bpmn_xml.encode("utf-8")).hexdigest()


# The data key of the dossier's code, set on every workflow at its start (procedure_model.SYSTEM_NAMES).
DOSSIER_CODE = "dossier_code"


@dataclass(frozen=True)
class CompiledProcess:
    """A parsed process version: SpiffWorkflow's spec and the engine's model of it."""

    sha256: str
    spec: Any
    subprocess_specs: dict[str, Any]
    model: ProcedureModel
    # Whether the diagram names the dossier's code anywhere (an expression may route on it), so that
    # a workflow must start with its code known; True unless the BPMN text was looked at.
    names_dossier_code: bool = True


class _SpeclessWorkflowConverter(BpmnWorkflowConverter):
    """Serialize a workflow without its spec; the spec is supplied again on restore."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict:
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict, compiled: CompiledProcess | None = None) -> BpmnWorkflow:
        if compiled is None:
            raise ValueError("restoring a workflow needs its compiled process")
        workflow = self.target_class(
            compiled.spec, compiled.subprocess_specs, script_engine=SCRIPT_ENGINE, deserializing=True
        )
        from uuid import UUID

        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _make_serializer() -> BpmnWorkflowSerializer:
    config = dict(DEFAULT_CONFIG)
    config[BpmnWorkflow] = _SpeclessWorkflowConverter
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))


SERIALIZER = _make_serializer()


class SpecCache:
    """Process versions compiled once per process (LRU by sha256); safe to share between threads."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._items: OrderedDict[str, CompiledProcess] = OrderedDict()
        self._models: OrderedDict[str, ProcedureModel | None] = OrderedDict()
        self._versions: dict[int, str] = {}
        self._lock = threading.Lock()

    def model(self, sha256: str, load: Callable[[], str]) -> ProcedureModel | None:
        """The procedure model of a BPMN text (None when it does not parse); `load` gives the text on a miss.

        Unlike `get`, this never runs SpiffWorkflow's parser, so it also serves drafts that the
        engine could not run; the model depends on the text only, hence the sha256 key.
        """
        with self._lock:
            compiled = self._items.get(sha256)
            if compiled is not None:
                return compiled.model
            if sha256 in self._models:
                self._models.move_to_end(sha256)
                return self._models[sha256]
        text = load()
        try:
            model: ProcedureModel | None = read_model(
                parse_bpmn_xml(text, max_bytes=max(len(text.encode()), 1))
            )
        except Exception:  # a draft may hold anything that could be stored; it simply has no model
            model = None
        with self._lock:
            self._models[sha256] = model
            while len(self._models) > self._size:
                self._models.popitem(last=False)
        return model

    def for_version(self, version_id: int, load: Callable[[], tuple[str, str]]) -> CompiledProcess:
        """The compiled process of a process version; `load` gives (sha256, bpmn_xml) on a miss.

        A version that dossiers run on is approved and so immutable, which makes its id a safe key.
        """
        with self._lock:
            sha = self._versions.get(version_id)
            found = self._items.get(sha) if sha else None
            if sha and found is not None:
                self._items.move_to_end(sha)
                return found
        sha, bpmn_xml = load()
        compiled = self.get(bpmn_xml, sha)
        with self._lock:
            self._versions[version_id] = sha
        return compiled

    def get(self, bpmn_xml: str, sha256: str | None = None) -> CompiledProcess:
        """The compiled process for this BPMN text."""
        key = sha256 or sha256_of(bpmn_xml)
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        compiled = compile_process(bpmn_xml, key)
        with self._lock:
            self._items[key] = compiled
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return compiled


# SpiffWorkflow's parser messages the engine can meet, in Vietnamese (matched on the English text).
SPIFF_MESSAGES = (
    ("No start event found", "quy trình không có sự kiện bắt đầu"),
    ("Exactly one start event is required", "quy trình con phải có đúng một sự kiện bắt đầu"),
    ("A SubWorkflow Must contain an End event", "quy trình con phải có sự kiện kết thúc"),
    (
        "Non-default exclusive outgoing sequence flow without condition",
        "luồng đi ra từ cổng quyết định cần có điều kiện (hoặc là luồng mặc định)",
    ),
    ("Conditional event definition with missing condition", "sự kiện điều kiện chưa có điều kiện"),
    ("Time Specification Error", "biểu thức hẹn giờ không hợp lệ"),
    ("Unknown Time Specification", "sự kiện hẹn giờ chưa có thời điểm, thời lượng hay chu kỳ"),
    ("is missing from bpmn xml", "sự kiện trỏ tới thông điệp, tín hiệu hay lỗi chưa được khai báo"),
    ("Could not find messageRef", "sự kiện trỏ tới thông điệp chưa được khai báo"),
    # SpiffWorkflow 3.2 fails on a messageRef to no message with a TypeError of its own making.
    ("raise_validation_exception", "sự kiện trỏ tới thông điệp (messageRef) chưa được khai báo"),
    ("we found two items", "mã phần tử bị trùng, hoặc luồng trỏ tới phần tử không tồn tại"),
    ("Correlation", "thông điệp có khóa tương quan (correlation) chưa đầy đủ"),
    ("Data Store", "kho dữ liệu (data store) chưa được hỗ trợ"),
    ("Cannot resolve data", "liên kết dữ liệu (data association) trỏ tới dữ liệu không tồn tại"),
    ("Duplicate process ID", "mã quy trình bị trùng"),
    ("was not found", "quy trình được gọi không có trong tệp"),
    ("is not executable", 'quy trình chưa được đánh dấu là thực thi được (isExecutable="true")'),
    ("Ad hoc subprocesses", "quy trình con tùy ý (ad hoc) chưa được hỗ trợ theo cách vẽ này"),
    ("There is no support implemented for this task type", "loại phần tử này chưa được hỗ trợ"),
)
CANNOT_LOAD = "bộ máy quy trình không nạp được sơ đồ"


def spiff_message(exc: BaseException) -> str:
    """What SpiffWorkflow's error means, in Vietnamese, naming the element it names; never its English."""
    text = str(exc)
    meaning = next((vi for en, vi in SPIFF_MESSAGES if en.lower() in text.lower()), None)
    named = isinstance(exc, ValidationException)
    element = (getattr(exc, "name", "") or getattr(exc, "id", "")) if named else ""
    where = f" tại phần tử '{' '.join(str(element).split())}'" if element else ""
    if meaning is None:
        return f"{CANNOT_LOAD}{where}: cấu trúc này chưa được hỗ trợ; hãy vẽ lại bằng các phần tử cơ bản"
    return f"{CANNOT_LOAD}{where}: {meaning}"


def compile_process(bpmn_xml: str, sha256: str | None = None) -> CompiledProcess:
    """Parse BPMN text (already validated) into SpiffWorkflow specs and the engine model.

    Whatever SpiffWorkflow raises becomes an InvalidProcess in Vietnamese (the version was
    checked before it was approved, so this is a stored diagram the engine changed its mind on).
    """
    root = parse_bpmn_xml(bpmn_xml, max_bytes=max(len(bpmn_xml.encode("utf-8")), 1))
    process = executable_process(root)
    if process is None:
        raise InvalidProcess(
            "Phiên bản quy trình không có bpmn:process; cán bộ quản lý quy trình cần sửa lại"
        )
    process_id = process.get("id")
    try:
        parser = EngineBpmnParser()
        parser.add_bpmn_xml(etree.ElementTree(root).getroot(), filename="process.bpmn")
        spec = parser.get_spec(process_id)
        subprocess_specs = parser.get_subprocess_specs(process_id)
    except (RecursionError, Exception) as exc:  # the library raises plain errors on some input
        raise InvalidProcess(
            f"{spiff_message(exc)}. Cán bộ quản lý quy trình cần sửa phiên bản quy trình này."
        ) from exc
    return CompiledProcess(
        sha256 or sha256_of(bpmn_xml),
        spec,
        subprocess_specs,
        read_model(root),
        names_dossier_code=DOSSIER_CODE in bpmn_xml,
    )


def _name(task_spec: Any) -> str:
    return str(getattr(task_spec, "bpmn_name", None) or getattr(task_spec, "bpmn_id", None) or task_spec.name)


def _cannot_advance(exc: Exception, doing: str) -> InvalidProcess:
    """The domain error for an engine that stopped: which expression, where, and why, in Vietnamese."""
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, UnsafeExpression):
        cause = cause.__cause__ or cause.__context__
    failed = getattr(exc, "task", None)
    where = f' tại "{_name(failed.task_spec)}"' if failed is not None else ""
    if isinstance(cause, UnsafeExpression):
        spec = failed.task_spec if failed is not None else None
        what = "điều kiện" if spec is not None and "Gateway" in type(spec).__name__ else "biểu thức"
        detail = (
            f'{what} "{cause.expression}"{where} trong sơ đồ quy trình không tính được: {cause.explanation}'
        )
    else:
        # SpiffWorkflow's own words are English and name its internals: the cause keeps them for the log.
        detail = f"bộ máy quy trình dừng{where}: sơ đồ có phần tử hệ thống không chạy được"
    return InvalidProcess(
        f"{doing}: {detail}. Hồ sơ được giữ nguyên; cán bộ quản lý quy trình cần sửa phiên bản quy trình này."
    )


def set_start_value(workflow: BpmnWorkflow, key: str, value: Any) -> None:
    """Give a key of the workflow's start data its value after the start, wherever the workflow and
    its tasks hold it: the state is the one a start with that value gives, provided nothing the start
    ran read the key (the caller's to know: `CompiledProcess.names_dossier_code`)."""
    if key in workflow.data:
        workflow.data[key] = value
    for task in workflow.get_tasks():
        if key in task.data:
            task.data[key] = value


def new_workflow(compiled: CompiledProcess, data: dict[str, Any] | None = None) -> BpmnWorkflow:
    """Start a workflow on a compiled process and run it to its first human tasks."""
    workflow = BpmnWorkflow(compiled.spec, compiled.subprocess_specs, script_engine=SCRIPT_ENGINE)
    if data:
        workflow.data.update(data)
        workflow.task_tree.data.update(data)
    try:
        workflow.do_engine_steps()
    except (WorkflowException, UnsafeExpression) as exc:
        raise _cannot_advance(exc, "Không thể bắt đầu xử lý hồ sơ") from exc
    return workflow


def dump_state(workflow: BpmnWorkflow) -> str:
    """SpiffWorkflow's serialized state without the spec."""
    return SERIALIZER.serialize_json(workflow)


def load_state(state: str, compiled: CompiledProcess) -> BpmnWorkflow:
    """Restore a workflow from its serialized state and its compiled process."""
    dct = json.loads(state)
    SERIALIZER.migrate(dct)
    return SERIALIZER.registry.restore(dct, compiled=compiled)


def ready_user_tasks(workflow: BpmnWorkflow) -> list:
    """The human tasks waiting for an officer."""
    return [t for t in workflow.get_tasks(state=TaskState.READY) if isinstance(t.task_spec, UserTask)]


def run_user_task(workflow: BpmnWorkflow, task_uuid: str, data: dict[str, Any]) -> None:
    """Complete one ready user task with the officer's data and advance the engine."""
    from uuid import UUID

    task = workflow.get_task_from_id(UUID(task_uuid))
    if task is None or task.state != TaskState.READY:
        raise LookupError(f"task {task_uuid} is not waiting")
    task.data.update(data)
    try:
        task.run()
        workflow.do_engine_steps()
    except (WorkflowException, UnsafeExpression) as exc:
        # The workflow in memory is left half-advanced; the caller never dumps it.
        raise _cannot_advance(exc, f'Không thể hoàn thành bước "{_name(task.task_spec)}"') from exc


def cancel(workflow: BpmnWorkflow) -> None:
    """Cancel the workflow (withdrawal)."""
    workflow.cancel()
