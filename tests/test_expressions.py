"""Tests of the restricted condition evaluator and of the SpiffWorkflow integration built on it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

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
        ("[c.__class__ for c in outcome]", "access to '__class__' is not allowed"),
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


def test_list_comprehension_is_evaluated_by_simpleeval_not_by_python() -> None:
    # simpleeval's EvalWithCompoundTypes implements comprehensions itself: the element and the
    # condition are evaluated by the same restricted evaluator, so they are harmless.
    check_expression("[c for c in ()]")
    assert evaluate("[c for c in ()]", {}) == []
    assert evaluate("[x for x in [1, 2, 3] if x > 1]", {}) == [2, 3]
    assert evaluate("len([c for c in outcome]) == 7", {"outcome": "approve"}) is True


def test_comprehension_cannot_blow_up_memory() -> None:
    with pytest.raises(UnsafeExpression, match="Comprehension generates too many elements"):
        evaluate("[a for a in 'x' * 5000 for b in 'x' * 5000]", {})


def test_set_comprehension_is_not_supported_by_the_evaluator() -> None:
    with pytest.raises(UnsafeExpression, match="SetComp is not available"):
        evaluate("{c for c in 'ab'}", {})


def test_huge_string_is_refused() -> None:
    with pytest.raises(UnsafeExpression, match="will not evaluate something that long"):
        evaluate("'a' * 10 ** 9", {})


def test_format_method_is_refused_by_simpleeval() -> None:
    # str.format can reach attributes ('{0.__class__}'), so simpleeval blocks the method itself.
    with pytest.raises(UnsafeExpression, match="this method is not available"):
        evaluate("outcome.format", {"outcome": "{0.__class__}"})


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
    with pytest.raises(WorkflowTaskException) as info:
        complete(workflow, "Task_Record", {"outcome": "forward"})
    assert info.value.error_type == "UnsafeExpression"
    assert info.value.task.task_spec.name == "Gateway_Record"
    assert isinstance(info.value.__context__, UnsafeExpression)
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
    with pytest.raises(WorkflowTaskException):
        complete(restored, "Task_Record", {"outcome": "forward"})
    assert not sentinel.exists()


def test_state_cannot_be_restored_without_its_compiled_process(birth: CompiledProcess) -> None:
    state = dump_state(new_workflow(birth))
    with pytest.raises(ValueError, match="needs its compiled process"):
        load_state(state, None)  # type: ignore[arg-type]
