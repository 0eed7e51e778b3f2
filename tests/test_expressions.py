"""Tests of the restricted evaluator (its language and its budget) and of the SpiffWorkflow integration."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.catalogue import expressions
from engine.catalogue.bpmn_check import check_bpmn
from engine.catalogue.expressions import (
    SCRIPT_ENGINE,
    RestrictedEnvironment,
    RestrictedScriptEngine,
    UnsafeExpression,
    check_expression,
    evaluate,
)
from engine.catalogue.workflow_state import (
    CompiledProcess,
    compile_process,
    dump_state,
    load_state,
    new_workflow,
    ready_user_tasks,
    run_user_task,
)
from engine.errors import InvalidProcess

BIRTH = (Path(__file__).resolve().parent.parent / "workflows" / "bpmn" / "birth-registration.bpmn").read_text(
    encoding="utf-8"
)
FORWARD = "outcome == 'forward'"


def with_forward_condition(condition: str) -> str:
    """The birth sample with the 'forward' gateway condition replaced (not checked by check_bpmn)."""
    assert BIRTH.count(FORWARD) == 1
    return BIRTH.replace(FORWARD, escape(condition))


def ready_names(workflow: BpmnWorkflow) -> list[str]:
    return [t.task_spec.name for t in ready_user_tasks(workflow)]


def complete(workflow: BpmnWorkflow, name: str, data: dict[str, object]) -> None:
    """Complete the only ready user task, which must be `name`."""
    [task] = ready_user_tasks(workflow)
    assert task.task_spec.name == name
    run_user_task(workflow, str(task.id), data)


@pytest.fixture(scope="module")
def birth() -> CompiledProcess:
    return compile_process(BIRTH)


# ----- the evaluator -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [("approve", True), ("rework", False), ("", False)],
)
def test_outcome_condition_is_true_only_for_its_own_value(outcome: str, expected: bool) -> None:
    assert evaluate("outcome == 'approve'", {"outcome": outcome}) is expected


def test_condition_may_use_whitelisted_functions_and_data() -> None:
    data = {"outcome": "approve", "amount": 1500, "documents": ["a", "b", "c"]}
    assert evaluate("len(documents) >= 3 and amount > 1000", data) is True
    assert evaluate("outcome in ['approve', 'forward']", data) is True
    assert evaluate("round(amount / 7, 1)", data) == 214.3


def test_unknown_name_raises_unsafe_expression() -> None:
    with pytest.raises(UnsafeExpression, match="'outcome' is not defined"):
        evaluate("outcome == 'approve'", {})
    # check_expression alone cannot know the data, so the name is only refused on evaluation.
    check_expression("missing == 1")
    with pytest.raises(UnsafeExpression, match="'missing' is not defined"):
        evaluate("missing == 1", {"outcome": "approve"})


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("__import__('os')", "call to '__import__' is not allowed"),
        ("open('/etc/passwd')", "call to 'open' is not allowed"),
        ("outcome.__class__", "access to '__class__' is not allowed"),
        ("().__class__.__bases__[0].__subclasses__()", "is not allowed"),
        ("lambda: 1", "this construct is not allowed in a condition"),
        ("(x := 1)", "this construct is not allowed in a condition"),
        ("eval('1')", "call to 'eval' is not allowed"),
        ("exec('1')", "call to 'exec' is not allowed"),
        ("getattr(outcome, 'upper')", "call to 'getattr' is not allowed"),
        ("type(outcome)", "call to 'type' is not allowed"),
        ("outcome.upper()", "call to 'outcome.upper' is not allowed"),
        ("__builtins__", "name '__builtins__' is not allowed"),
        ("[c.__class__ for c in outcome]", "comprehensions are not allowed"),
        ("outcome ==", "not a valid expression"),
        ("   ", "empty condition"),
    ],
)
def test_unsafe_expression_is_refused_by_check_and_by_evaluate(expression: str, message: str) -> None:
    with pytest.raises(UnsafeExpression) as checked:
        check_expression(expression)
    assert message in str(checked.value)
    with pytest.raises(UnsafeExpression) as evaluated:
        evaluate(expression, {"outcome": "approve"})
    assert message in str(evaluated.value)


def test_dunder_access_is_refused_even_with_a_data_name_that_looks_harmless() -> None:
    # A dossier field holding a function must not become a way out of the sandbox.
    def helper() -> None:
        return None

    with pytest.raises(UnsafeExpression, match="access to '__globals__' is not allowed"):
        evaluate("f.__globals__", {"f": helper})


@pytest.mark.parametrize(
    ("expression", "message", "explanation"),
    [
        ("9**9**9 > 0", "operator '**' is not allowed", "không được dùng phép lũy thừa '**'"),
        ("4000000 ** 4000000 > 0", "operator '**' is not allowed", "không được dùng phép lũy thừa '**'"),
        ("len('a' * 10) > 0", "repetition of a string or a list", "không được nhân chuỗi hoặc danh sách"),
        ("len([0] * 10) > 0", "repetition of a string or a list", "không được nhân chuỗi hoặc danh sách"),
        ("'%999999999d' % 1 == ''", "string formatting with '%'", "không được định dạng chuỗi bằng '%'"),
        ("1 << 30 > 0", "operator '<<' is not allowed", "không được dùng phép toán bit '<<'"),
        ("f'{outcome:>999999999}' == ''", "f-strings are not allowed", "chuỗi định dạng f-string"),
        ("[c for c in outcome]", "comprehensions are not allowed", "comprehension"),
        ("{c for c in outcome}", "comprehensions are not allowed", "comprehension"),
        ("outcome.format", "access to 'format' is not allowed", "không được truy cập thuộc tính '.format'"),
        ("outcome[0] == 'a'", "subscripts are not allowed", "không được lấy phần tử bằng [...]"),
        ("round(1, -10 ** 8) == 0", "round() takes a literal number of digits", "số chữ số của round"),
        ("max(outcome, key=len)", "named or unpacked arguments", "chỉ được truyền tham số theo vị trí"),
        ("list(outcome)", "call to 'list' is not allowed", "không được gọi 'list'"),
        ("len('" + "x" * 201 + "') > 0", "string literal longer than 200", "chuỗi hằng dài quá 200 ký tự"),
        ("outcome == 10000000000000000", "number literal above", "số hằng vượt giới hạn"),
        ("outcome in [" + ", ".join(["1"] * 51) + "]", "more than 50 items", "danh sách hằng có quá 50"),
        ("outcome == '" + "x" * 990 + "'", "expression longer than 1000", "biểu thức dài quá 1000 ký tự"),
    ],
)
def test_costly_expression_is_refused_by_check_and_by_evaluate_at_once(
    expression: str, message: str, explanation: str
) -> None:
    with pytest.raises(UnsafeExpression) as checked:
        check_expression(expression)
    assert message in str(checked.value)
    assert explanation in checked.value.explanation
    started = time.perf_counter()
    with pytest.raises(UnsafeExpression) as evaluated:
        evaluate(expression, {"outcome": "approve"})
    assert time.perf_counter() - started < 0.1
    assert evaluated.value.explanation == checked.value.explanation


def test_condition_may_use_only_the_names_it_is_given() -> None:
    check_expression("outcome == 'approve' and amount > 1000", {"outcome", "amount"})
    with pytest.raises(UnsafeExpression) as refused:
        check_expression("outcome == 'approve' and amout > 1000", {"outcome", "amount"})
    assert refused.value.explanation.startswith(
        "tên 'amout' chưa được khai báo: chỉ được dùng amount, outcome"
    )
    # The functions called are not names of the data.
    check_expression("len(outcome) > 3", {"outcome"})


@pytest.mark.parametrize(
    ("expression", "data", "explanation"),
    [
        ("len(text * times) > 0", {"text": "ab", "times": 10**6}, "không được nhân chuỗi hoặc danh sách"),
        ("big * big * big > 0", {"big": 10**1000}, "số vượt quá 4096 bit"),
        ("len(text + text) > 0", {"text": "x" * 6000}, "kết quả dài quá 10000 phần tử"),
        ("pattern % 1 == ''", {"pattern": "%999999999d"}, "không được định dạng chuỗi bằng '%'"),
    ],
)
def test_evaluation_refuses_growth_from_the_dossier_data_within_its_budget(
    expression: str, data: dict[str, object], explanation: str
) -> None:
    check_expression(expression, set(data))  # the language cannot tell what the data holds
    started = time.perf_counter()
    with pytest.raises(UnsafeExpression) as refused:
        evaluate(expression, data)
    assert time.perf_counter() - started < 0.1
    assert refused.value.explanation == f"vượt giới hạn tính toán của một biểu thức: {explanation}"


def test_evaluation_stops_after_its_operations_and_its_time(monkeypatch: pytest.MonkeyPatch) -> None:
    expression = "outcome == 'a' or outcome == 'b' or outcome == 'c'"
    assert evaluate(expression, {"outcome": "c"}) is True
    monkeypatch.setattr(expressions, "MAX_OPERATIONS", 5)
    with pytest.raises(UnsafeExpression, match="over the evaluation budget") as counted:
        evaluate(expression, {"outcome": "c"})
    assert counted.value.explanation.endswith("quá 5 phép tính")
    monkeypatch.setattr(expressions, "MAX_OPERATIONS", 2000)
    monkeypatch.setattr(expressions, "TIME_BUDGET_SECONDS", -1.0)
    with pytest.raises(UnsafeExpression) as timed:
        evaluate(expression, {"outcome": "c"})
    assert timed.value.explanation.endswith("quá -1000 ms")


def test_evaluation_does_not_widen_the_functions_a_condition_may_call() -> None:
    # simpleeval's compound-type evaluator adds list, dict, set and tuple to the functions it is given.
    assert evaluate("outcome in ('a', 'b')", {"outcome": "a"}) is True
    with pytest.raises(UnsafeExpression, match="call to 'dict' is not allowed"):
        check_expression("dict() == {}")


def test_round_keeps_to_a_few_digits() -> None:
    assert evaluate("round(amount / 7, 2)", {"amount": 100}) == 14.29
    assert evaluate("round(amount)", {"amount": 2.6}) == 3


# ----- the script engine ---------------------------------------------------------------------


def test_script_engine_validate_uses_the_same_rules() -> None:
    engine = RestrictedScriptEngine()
    engine.validate(FORWARD)
    with pytest.raises(UnsafeExpression, match="call to '__import__' is not allowed"):
        engine.validate("__import__('os')")


def test_restricted_environment_never_executes_scripts_or_services(tmp_path: Path) -> None:
    sentinel = tmp_path / "ran"
    environment = RestrictedEnvironment()
    with pytest.raises(UnsafeExpression, match="scripts are disabled"):
        environment.execute(f"open({str(sentinel)!r}, 'w').close()", {})
    with pytest.raises(UnsafeExpression, match="service tasks are disabled"):
        environment.call_service({}, operation_name="x")
    assert not sentinel.exists()


def test_script_engine_execute_refuses_a_script_on_a_task(birth: CompiledProcess, tmp_path: Path) -> None:
    sentinel = tmp_path / "ran"
    workflow = new_workflow(birth)
    [task] = ready_user_tasks(workflow)
    with pytest.raises(WorkflowTaskException) as info:
        RestrictedScriptEngine().execute(task, f"open({str(sentinel)!r}, 'w').close()")
    assert info.value.error_type == "UnsafeExpression"
    assert "scripts are disabled" in str(info.value)
    assert not sentinel.exists()


# ----- the workflow ----------------------------------------------------------------------------


def test_new_workflow_waits_at_the_first_user_task(birth: CompiledProcess) -> None:
    workflow = new_workflow(birth)
    assert ready_names(workflow) == ["Task_Receive"]
    assert workflow.script_engine is SCRIPT_ENGINE


@pytest.mark.parametrize(
    ("outcome", "next_task"),
    [("forward", "Task_Sign"), ("refuse", "Task_ReturnRefusal"), ("supplement", "Task_WaitSupplement")],
)
def test_gateway_routes_on_the_chosen_outcome(birth: CompiledProcess, outcome: str, next_task: str) -> None:
    workflow = new_workflow(birth)
    complete(workflow, "Task_Receive", {})
    complete(workflow, "Task_Record", {"outcome": outcome})
    assert ready_names(workflow) == [next_task]


def test_forward_path_runs_to_completion(birth: CompiledProcess) -> None:
    workflow = new_workflow(birth)
    complete(workflow, "Task_Receive", {})
    complete(workflow, "Task_Record", {"outcome": "forward"})
    complete(workflow, "Task_Sign", {})
    complete(workflow, "Task_Return", {})
    assert workflow.is_completed()
    assert ready_names(workflow) == []


def test_run_user_task_refuses_a_task_that_is_not_waiting(birth: CompiledProcess) -> None:
    workflow = new_workflow(birth)
    [task] = ready_user_tasks(workflow)
    run_user_task(workflow, str(task.id), {})
    with pytest.raises(LookupError, match="is not waiting"):
        run_user_task(workflow, str(task.id), {})


def test_malicious_gateway_condition_fails_at_the_gateway_without_importing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    real_getcwd = os.getcwd

    def spy() -> str:
        calls.append("getcwd")
        return real_getcwd()

    text = with_forward_condition("__import__('os').getcwd() == 'x'")
    assert not check_bpmn(text).ok  # the checker would refuse it; compile it anyway
    compiled = compile_process(text)
    monkeypatch.setattr(os, "getcwd", spy)
    workflow = new_workflow(compiled)
    complete(workflow, "Task_Receive", {})
    with pytest.raises(InvalidProcess) as refused:
        complete(workflow, "Task_Record", {"outcome": "forward"})
    info = refused.value.__cause__
    assert isinstance(info, WorkflowTaskException)
    assert info.error_type == "UnsafeExpression"
    assert info.task.task_spec.name == "Gateway_Record"
    assert isinstance(info.__context__, UnsafeExpression)
    assert calls == []
    assert ready_names(workflow) == []
    [gateway] = [t for t in workflow.get_tasks() if t.task_spec.name == "Gateway_Record"]
    assert gateway.state == TaskState.ERROR


def _drive_to_gateway(workflow: BpmnWorkflow) -> None:
    """Run the two first user tasks with SpiffWorkflow's own API (works for any script engine)."""
    for _ in range(2):
        [task] = [
            t for t in workflow.get_tasks(state=TaskState.READY) if t.task_spec.name.startswith("Task_")
        ]
        task.data["outcome"] = "forward"
        task.run()
        workflow.do_engine_steps()


def test_condition_that_would_write_a_file_writes_nothing(tmp_path: Path) -> None:
    sentinel = tmp_path / "pwned"
    compiled = compile_process(with_forward_condition(f"open({str(sentinel)!r}, 'w').close() is None"))
    workflow = new_workflow(compiled)
    with pytest.raises(WorkflowTaskException) as info:
        _drive_to_gateway(workflow)
    assert info.value.error_type == "UnsafeExpression"
    assert not sentinel.exists()


def test_control_spiffworkflow_default_engine_would_write_that_file(tmp_path: Path) -> None:
    # Shows the sentinel above is meaningful: without the restricted engine the condition runs.
    sentinel = tmp_path / "pwned"
    compiled = compile_process(with_forward_condition(f"open({str(sentinel)!r}, 'w').close() is None"))
    workflow = BpmnWorkflow(compiled.spec, compiled.subprocess_specs)
    workflow.do_engine_steps()
    _drive_to_gateway(workflow)
    assert sentinel.exists()
    assert ready_names(workflow) == ["Task_Sign"]


COSTLY = ["9**9**9 > 0", "len('a'*10**9) > 0", "4000000 ** 4000000 > 0"]


def with_timer(expression: str, kind: str = "timeDuration") -> str:
    """The birth sample with a reminder timer (non-interrupting) on Task_Record (not checked by check_bpmn)."""
    timer = (
        '    <bpmn:boundaryEvent id="Timer_Record" name="Nhắc việc" cancelActivity="false" '
        'attachedToRef="Task_Record">\n      <bpmn:outgoing>Flow_Timer_End</bpmn:outgoing>\n'
        f'      <bpmn:timerEventDefinition id="TimerDef_Record"><bpmn:{kind} xsi:type="bpmn:tFormalExpression">'
        f"{escape(expression)}</bpmn:{kind}></bpmn:timerEventDefinition>\n    </bpmn:boundaryEvent>\n"
        '    <bpmn:endEvent id="End_Reminded" name="Đã nhắc"><bpmn:incoming>Flow_Timer_End</bpmn:incoming>'
        "</bpmn:endEvent>\n"
        '    <bpmn:sequenceFlow id="Flow_Timer_End" sourceRef="Timer_Record" targetRef="End_Reminded"/>\n'
        "  </bpmn:process>"
    )
    assert BIRTH.count("  </bpmn:process>") == 1
    return BIRTH.replace("  </bpmn:process>", timer)


@pytest.mark.parametrize("condition", COSTLY)
def test_costly_condition_that_slipped_in_stops_the_step_at_once_with_a_clear_error(condition: str) -> None:
    workflow = new_workflow(compile_process(with_forward_condition(condition)))
    complete(workflow, "Task_Receive", {})
    started = time.perf_counter()
    with pytest.raises(InvalidProcess) as refused:
        complete(workflow, "Task_Record", {"outcome": "forward"})
    assert time.perf_counter() - started < 0.5
    assert refused.value.http_status == 422
    assert refused.value.message.startswith(
        f'Không thể hoàn thành bước "Kiểm tra, ghi sổ hộ tịch": điều kiện "{condition}" tại "Kết quả kiểm tra?" '
        "trong sơ đồ quy trình không tính được: không được "
    )
    assert refused.value.message.endswith(
        "Hồ sơ được giữ nguyên; cán bộ quản lý quy trình cần sửa phiên bản quy trình này."
    )


def test_timer_expression_is_evaluated_by_the_restricted_engine() -> None:
    workflow = new_workflow(compile_process(with_timer("'PT2H'")))
    complete(workflow, "Task_Receive", {})
    assert ready_names(workflow) == ["Task_Record"]


@pytest.mark.parametrize("expression", COSTLY)
def test_costly_timer_that_slipped_in_stops_the_step_before_it_with_a_clear_error(expression: str) -> None:
    workflow = new_workflow(compile_process(with_timer(expression)))
    started = time.perf_counter()
    with pytest.raises(InvalidProcess) as refused:
        complete(workflow, "Task_Receive", {})
    assert time.perf_counter() - started < 0.5
    assert refused.value.message.startswith(
        f'Không thể hoàn thành bước "Tiếp nhận hồ sơ đăng ký khai sinh": biểu thức "{expression}" tại "Nhắc việc"'
    )


def test_condition_failing_on_receipt_is_a_clear_error_too() -> None:
    # A gateway right after the start event is decided while the dossier is received.
    text = BIRTH.replace('targetRef="Task_Receive"', 'targetRef="Gateway_Start"', 1).replace(
        "  </bpmn:process>",
        '    <bpmn:exclusiveGateway id="Gateway_Start" name="Kênh?" default="Flow_Start_Default"/>\n'
        '    <bpmn:sequenceFlow id="Flow_Start_Default" sourceRef="Gateway_Start" targetRef="Task_Receive"/>\n'
        '    <bpmn:sequenceFlow id="Flow_Start_Costly" sourceRef="Gateway_Start" targetRef="Task_Receive">'
        '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">9**9**9 &gt; 0</bpmn:conditionExpression>'
        "</bpmn:sequenceFlow>\n  </bpmn:process>",
    )
    with pytest.raises(InvalidProcess, match=r'^Không thể bắt đầu xử lý hồ sơ: điều kiện "9\*\*9\*\*9 > 0"'):
        new_workflow(compile_process(text))


# ----- state without the spec ------------------------------------------------------------------


def test_dumped_state_round_trips_without_the_spec(birth: CompiledProcess) -> None:
    workflow = new_workflow(birth, {"dossier": "H40.01-250301-0001"})
    complete(workflow, "Task_Receive", {})
    state = dump_state(workflow)
    restored = load_state(state, birth)

    before = [(str(t.id), t.task_spec.name) for t in ready_user_tasks(workflow)]
    after = [(str(t.id), t.task_spec.name) for t in ready_user_tasks(restored)]
    assert after == before
    assert [name for _, name in after] == ["Task_Record"]
    assert restored.data["dossier"] == "H40.01-250301-0001"
    assert restored.script_engine is SCRIPT_ENGINE

    complete(restored, "Task_Record", {"outcome": "refuse"})
    assert ready_names(restored) == ["Task_ReturnRefusal"]


def test_dumped_state_has_no_spec_and_is_much_smaller_than_spiffs_default(birth: CompiledProcess) -> None:
    workflow = new_workflow(birth)
    complete(workflow, "Task_Receive", {})
    state = json.loads(dump_state(workflow))
    default = BpmnWorkflowSerializer().serialize_json(workflow)
    assert "spec" in json.loads(default)  # control: SpiffWorkflow's own form carries it
    assert "spec" not in state
    assert "subprocess_specs" not in state
    assert len(dump_state(workflow)) * 2 < len(default)


def test_restored_workflow_keeps_refusing_malicious_conditions(tmp_path: Path) -> None:
    sentinel = tmp_path / "pwned"
    compiled = compile_process(with_forward_condition(f"open({str(sentinel)!r}, 'w').close() is None"))
    workflow = new_workflow(compiled)
    complete(workflow, "Task_Receive", {})
    restored = load_state(dump_state(workflow), compiled)
    with pytest.raises(InvalidProcess):
        complete(restored, "Task_Record", {"outcome": "forward"})
    assert not sentinel.exists()


def test_state_cannot_be_restored_without_its_compiled_process(birth: CompiledProcess) -> None:
    state = dump_state(new_workflow(birth))
    with pytest.raises(ValueError, match="needs its compiled process"):
        load_state(state, None)  # type: ignore[arg-type]
