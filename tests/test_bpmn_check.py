"""Tests of the BPMN checker: each builds a broken variant of a sample and pins the exact problem.

A problem is pinned by its message, the id of the element it names and its line, which must be
the line where that element (or, for attribute-level problems, the offending extension element)
sits in the modified text.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.bpmn_check import CheckResult, check_bpmn
from engine.bpmn_xml import Problem, XmlRejected, parse_bpmn_xml
from engine.cli import main
from engine.procedure_model import Outcome, ProcedureModel, read_model

SAMPLES = Path(__file__).resolve().parent.parent / "workflows" / "bpmn"
BIRTH_PATH = SAMPLES / "birth-registration.bpmn"
CAO_BANG_PATH = SAMPLES / "1.001806.bpmn"
NGHE_AN_PATH = SAMPLES / "nghe-an-allowance.bpmn"
BIRTH = BIRTH_PATH.read_text(encoding="utf-8")
CAO_BANG = CAO_BANG_PATH.read_text(encoding="utf-8")
FILENAME = "variant.bpmn"

SIGN_SLA = '<mc:sla hours="2" counted="true"/>'
SIGN_OPEN = '<bpmn:userTask id="Task_Sign" name="Ký giấy khai sinh">'
SIGN_CLOSE = "<bpmn:outgoing>Flow_Sign_Return</bpmn:outgoing>\n    </bpmn:userTask>"
FIRST_FLOW = '    <bpmn:sequenceFlow id="Flow_Start_Receive"'


# ----- helpers -------------------------------------------------------------------------------


def replace_once(text: str, old: str, new: str) -> str:
    """Replace a fragment that must occur exactly once, so a variant can never silently equal its sample."""
    assert text.count(old) == 1, f"expected exactly one {old!r}, found {text.count(old)}"
    return text.replace(old, new)


def line_of(text: str, needle: str) -> int:
    """1-based number of the only line containing needle."""
    hits = [number for number, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(hits) == 1, f"expected {needle!r} on exactly one line, found it on {hits}"
    return hits[0]


def check(text: str | bytes, **kwargs: object) -> CheckResult:
    return check_bpmn(text, filename=FILENAME, **kwargs)


def the_problem(result: CheckResult, element_id: str, fragment: str) -> Problem:
    """The single problem about element_id whose message contains fragment."""
    hits = [p for p in result.problems if p.element_id == element_id and fragment in p.message]
    shown = "\n".join(str(p) for p in result.problems) or "(no problems)"
    assert len(hits) == 1, f"no single problem on {element_id!r} with {fragment!r} among:\n{shown}"
    return hits[0]


def messages_about(result: CheckResult, element_id: str) -> list[str]:
    return [p.message for p in result.problems if p.element_id == element_id]


def sign_task_as(kind: str, extra: str = "") -> str:
    """The birth sample with Task_Sign turned into another task type (same id, same line)."""
    text = replace_once(BIRTH, SIGN_OPEN, SIGN_OPEN.replace("userTask", kind))
    return replace_once(
        text,
        SIGN_CLOSE,
        f"<bpmn:outgoing>Flow_Sign_Return</bpmn:outgoing>\n{extra}    </bpmn:{kind}>",
    )


def user_task(task_id: str, incoming: list[str], outgoing: list[str]) -> str:
    flows = [f"      <bpmn:incoming>{f}</bpmn:incoming>\n" for f in incoming]
    flows += [f"      <bpmn:outgoing>{f}</bpmn:outgoing>\n" for f in outgoing]
    return (
        f'    <bpmn:userTask id="{task_id}" name="Bước {task_id}">\n'
        "      <bpmn:extensionElements>\n"
        '        <mc:sla hours="1" counted="true"/>\n'
        "      </bpmn:extensionElements>\n"
        f"{''.join(flows)}"
        "    </bpmn:userTask>\n"
    )


def with_extra_desk_tasks(elements: str, task_ids: list[str]) -> str:
    """The birth sample with extra elements in the process, their tasks put in the desk lane."""
    refs = "".join(f"        <bpmn:flowNodeRef>{t}</bpmn:flowNodeRef>\n" for t in task_ids)
    anchor = "        <bpmn:flowNodeRef>End_Completed</bpmn:flowNodeRef>\n"
    text = replace_once(BIRTH, anchor, anchor + refs)
    return replace_once(text, FIRST_FLOW, elements + FIRST_FLOW)


# ----- the samples ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "legal_hours", "steps", "longest"),
    [
        (CAO_BANG_PATH, 80, 9, 80),
        (NGHE_AN_PATH, 96, 18, 96),
        (BIRTH_PATH, 8, 6, 7),
    ],
    ids=["1.001806", "nghe-an", "birth"],
)
def test_sample_is_valid_within_its_legal_time(
    path: Path, legal_hours: float, steps: int, longest: float
) -> None:
    result = check_bpmn(path.read_bytes(), filename=path.name, legal_hours=legal_hours)
    assert result.problems == []
    assert result.ok
    assert len(result.model.steps) == steps
    assert result.model.longest_counted_hours == longest


def test_longest_counted_path_of_1_001806_follows_the_counted_steps_and_skips_the_loops() -> None:
    model = check(CAO_BANG).model
    assert model.longest_path == [
        "Task_Receive",
        "Task_Assign",
        "Task_Process",
        "Task_Review",
        "Task_Approve",
        "Task_Issue",
    ]


def test_utf16_encoded_sample_without_doctype_is_valid() -> None:
    text = replace_once(BIRTH, 'encoding="UTF-8"', 'encoding="UTF-16"')
    result = check(text.encode("utf-16"), legal_hours=8)
    assert result.problems == []
    assert result.model.longest_counted_hours == 7


# ----- refused before or while parsing -------------------------------------------------------


def test_malformed_xml_is_reported_at_its_line_and_yields_no_model() -> None:
    text = replace_once(BIRTH, 'name="Ký giấy khai sinh"', 'name="Ký <giấy khai sinh"')
    result = check(text)
    [problem] = result.problems
    assert problem.line == line_of(text, 'id="Task_Sign"')
    assert problem.name == "document"
    assert problem.message.startswith("malformed XML: ")
    assert "'<'" in problem.message
    assert result.model is None


def test_unclosed_element_is_reported_at_the_line_where_the_mismatch_is_found() -> None:
    text = replace_once(BIRTH, SIGN_SLA, SIGN_SLA.replace("/>", ">"))
    [problem] = check(text).problems
    # The parser notices at the next closing tag, the line after the unclosed mc:sla.
    assert problem.line == line_of(text, '<mc:sla hours="2" counted="true">') + 1
    assert "Opening and ending tag mismatch: sla" in problem.message


def _billion_laughs() -> str:
    levels = ['  <!ENTITY lol0 "lol">\n']
    levels += [f'  <!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">\n' for i in range(1, 10)]
    return "<!DOCTYPE bpmn:definitions [\n" + "".join(levels) + "]>\n"


@pytest.mark.parametrize(
    ("doctype", "reference"),
    [
        (_billion_laughs(), "&lol9;"),
        ('<!DOCTYPE bpmn:definitions [\n  <!ENTITY xxe SYSTEM "file:///etc/passwd">\n]>\n', "&xxe;"),
    ],
    ids=["billion-laughs", "external-entity"],
)
def test_doctype_with_entities_is_refused_before_parsing(doctype: str, reference: str) -> None:
    text = replace_once(BIRTH, "?>\n", "?>\n" + doctype)
    text = replace_once(text, "Quy trình nội bộ đăng ký", f"{reference} Quy trình nội bộ đăng ký")
    started = time.perf_counter()
    result = check(text)
    elapsed = time.perf_counter() - started
    assert result.problems == [
        Problem(
            FILENAME,
            line_of(text, "<!DOCTYPE"),
            "",
            "document",
            "DOCTYPE and entity declarations are not allowed",
        )
    ]
    assert result.model is None
    assert elapsed < 1.0  # 10**9 "lol"s expanded would take gigabytes and far longer
    with pytest.raises(XmlRejected) as info:
        parse_bpmn_xml(text)
    assert info.value.problem.message == "DOCTYPE and entity declarations are not allowed"


def test_doctype_in_a_utf16_document_is_refused_like_in_utf8() -> None:
    text = replace_once(BIRTH, 'encoding="UTF-8"', 'encoding="UTF-16"')
    text = replace_once(text, "?>\n", '?>\n<!DOCTYPE bpmn:definitions [\n  <!ENTITY small "chữ">\n]>\n')
    result = check(text.encode("utf-16"))
    assert [p.message for p in result.problems] == ["DOCTYPE and entity declarations are not allowed"]


def test_entity_reference_in_a_utf16_document_is_reported_not_raised() -> None:
    text = replace_once(BIRTH, 'encoding="UTF-8"', 'encoding="UTF-16"')
    text = replace_once(text, "?>\n", '?>\n<!DOCTYPE bpmn:definitions [\n  <!ENTITY small "chữ">\n]>\n')
    text = replace_once(text, "Quy trình nội bộ đăng ký", "&small; Quy trình nội bộ đăng ký")
    result = check(text.encode("utf-16"))
    assert not result.ok


def test_file_over_the_size_limit_is_refused_and_one_at_the_limit_is_not() -> None:
    size = len(BIRTH.encode("utf-8"))
    refused = check(BIRTH, max_bytes=size - 1)
    assert refused.problems == [
        Problem(FILENAME, 1, "", "document", f"file is {size} bytes; the limit is {size - 1} bytes")
    ]
    assert refused.model is None
    assert check(BIRTH, max_bytes=size).ok


def test_unknown_bpmn_element_is_a_schema_error_at_its_line() -> None:
    text = replace_once(BIRTH, FIRST_FLOW, '    <bpmn:frobnicate id="Frob_1"/>\n' + FIRST_FLOW)
    result = check(text)
    problem = the_problem(result, "Frob_1", "schema: ")
    assert "frobnicate': This element is not expected" in problem.message
    assert problem.line == line_of(text, 'id="Frob_1"')
    assert problem.name == "frobnicate"


def test_unknown_attribute_is_a_schema_error_naming_the_attribute_at_its_line() -> None:
    text = replace_once(BIRTH, SIGN_OPEN, SIGN_OPEN.replace(" id=", ' foo="bar" id='))
    result = check(text)
    assert len(result.problems) == 1
    problem = the_problem(result, "Task_Sign", "schema: ")
    assert "The attribute 'foo' is not allowed" in problem.message
    assert problem.line == line_of(text, 'id="Task_Sign"')
    assert problem.name == "Ký giấy khai sinh"


# ----- every problem at once ------------------------------------------------------------------


def test_several_problems_are_all_reported_in_line_order() -> None:
    text = replace_once(BIRTH, '<mc:sla hours="1" counted="true"/>', "")
    text = replace_once(text, SIGN_SLA, "")
    text = replace_once(text, '<mc:lane role="leader"/>', '<mc:lane role="boss"/>')
    result = check(text)
    sla_message = 'user task needs <mc:sla hours="..." counted="true|false"/> in its extensionElements'
    assert [(p.line, p.element_id, p.message) for p in result.problems] == [
        (
            line_of(text, 'role="boss"'),
            "Lane_Leader",
            "role 'boss' is not known; use one of: desk, head, specialist, leader, clerk",
        ),
        (line_of(text, 'id="Task_Receive"'), "Task_Receive", sla_message),
        (line_of(text, 'id="Task_Sign"'), "Task_Sign", sla_message),
    ]


# ----- lanes and roles -----------------------------------------------------------------------


def test_user_task_outside_every_lane_is_reported() -> None:
    text = replace_once(BIRTH, "        <bpmn:flowNodeRef>Task_Sign</bpmn:flowNodeRef>\n", "")
    result = check(text)
    problem = the_problem(result, "Task_Sign", "user task is not in a lane, so nobody would receive it")
    assert problem.line == line_of(text, 'id="Task_Sign"')
    assert len(result.problems) == 1


def test_lane_without_mc_lane_extension_is_reported() -> None:
    text = replace_once(
        BIRTH,
        '        <bpmn:extensionElements>\n          <mc:lane role="leader"/>\n'
        "        </bpmn:extensionElements>\n",
        "",
    )
    result = check(text)
    problem = the_problem(result, "Lane_Leader", 'lane needs <mc:lane role="..."/> in its extensionElements')
    assert "urn:motcua:bpmn:1" in problem.message
    assert problem.line == line_of(text, 'id="Lane_Leader"')
    assert len(result.problems) == 1


def test_unknown_role_is_reported_on_the_lane_at_the_mc_lane_line() -> None:
    text = replace_once(BIRTH, '<mc:lane role="specialist"/>', '<mc:lane role="supervisor"/>')
    result = check(text)
    # supervisor is a real role, but not one that can own a lane.
    problem = the_problem(result, "Lane_Specialist", "role 'supervisor' is not known")
    assert problem.line == line_of(text, 'role="supervisor"')
    assert problem.name == "Công chức tư pháp - hộ tịch"
    assert len(result.problems) == 1


# ----- allotments and step kinds -------------------------------------------------------------


def test_user_task_without_mc_sla_is_reported_at_the_task() -> None:
    text = replace_once(BIRTH, SIGN_SLA, "")
    result = check(text)
    problem = the_problem(result, "Task_Sign", "user task needs <mc:sla")
    assert problem.line == line_of(text, 'id="Task_Sign"')
    assert len(result.problems) == 1


@pytest.mark.parametrize(
    ("sla", "shown"),
    [
        ('<mc:sla counted="true"/>', "None"),
        ('<mc:sla hours="-2" counted="true"/>', "-2"),
        ('<mc:sla hours="two" counted="true"/>', "two"),
        ('<mc:sla hours="" counted="true"/>', ""),
    ],
    ids=["missing-hours", "negative", "non-numeric", "empty"],
)
def test_bad_allotted_hours_are_reported_at_the_sla_line(sla: str, shown: str) -> None:
    text = replace_once(BIRTH, SIGN_SLA, sla)
    result = check(text)
    problem = the_problem(
        result, "Task_Sign", f"allotted hours '{shown}' must be a number of working hours >= 0"
    )
    assert problem.line == line_of(text, sla)
    assert len(result.problems) == 1


@pytest.mark.parametrize("hours", ["nan", "inf"])
def test_non_finite_allotted_hours_are_refused(hours: str) -> None:
    text = replace_once(BIRTH, SIGN_SLA, f'<mc:sla hours="{hours}" counted="true"/>')
    result = check(text, legal_hours=8)
    problem = the_problem(result, "Task_Sign", f"allotted hours '{hours}'")
    assert problem.line == line_of(text, f'hours="{hours}"')


def test_nan_allotment_does_not_let_a_procedure_over_its_legal_time_pass() -> None:
    text = replace_once(
        CAO_BANG, '<mc:sla hours="8" counted="true"/>', '<mc:sla hours="800" counted="true"/>'
    )
    assert not check(text, legal_hours=80).ok  # control: the overrun alone is caught
    receive = '<bpmn:userTask id="Task_Receive" name="Tiếp nhận, số hóa, ký số và chuyển hồ sơ">\n'
    sla = '      <bpmn:extensionElements>\n        <mc:sla hours="4" counted="true"/>'
    text = replace_once(text, receive + sla, receive + sla.replace('hours="4"', 'hours="nan"'))
    assert not check(text, legal_hours=80).ok


def test_counted_flag_that_is_not_a_boolean_is_reported() -> None:
    text = replace_once(BIRTH, SIGN_SLA, '<mc:sla hours="2" counted="maybe"/>')
    result = check(text)
    problem = the_problem(result, "Task_Sign", "counted='maybe' must be true or false")
    assert problem.line == line_of(text, 'counted="maybe"')


def test_unknown_step_kind_is_reported_at_the_task() -> None:
    text = replace_once(BIRTH, '<mc:step kind="supplement"/>', '<mc:step kind="archive"/>')
    result = check(text)
    problem = the_problem(
        result, "Task_WaitSupplement", "step kind 'archive' is not known; use one of: supplement, return"
    )
    assert problem.line == line_of(text, 'id="Task_WaitSupplement"')
    assert len(result.problems) == 1


# ----- code in the diagram -------------------------------------------------------------------


def test_script_task_and_its_embedded_script_are_refused() -> None:
    text = sign_task_as("scriptTask", "      <bpmn:script>import os</bpmn:script>\n")
    result = check(text)
    line = line_of(text, 'id="Task_Sign"')
    refused = the_problem(result, "Task_Sign", "script tasks are not allowed")
    embedded = the_problem(result, "Task_Sign", "embedded scripts are not allowed")
    assert refused.line == embedded.line == line
    assert not result.ok


def test_service_task_is_refused() -> None:
    text = sign_task_as("serviceTask")
    result = check(text)
    problem = the_problem(
        result, "Task_Sign", "service tasks are not allowed: a diagram cannot call services"
    )
    assert problem.line == line_of(text, 'id="Task_Sign"')
    assert len(result.problems) == 1


def test_xhtml_script_in_extension_elements_is_refused_on_its_owner() -> None:
    text = replace_once(
        BIRTH,
        SIGN_SLA,
        SIGN_SLA + '\n        <script xmlns="http://www.w3.org/1999/xhtml">alert(1)</script>',
    )
    result = check(text)
    problem = the_problem(
        result, "Task_Sign", "extension element script from http://www.w3.org/1999/xhtml is not allowed"
    )
    assert problem.line == line_of(text, 'id="Task_Sign"')
    assert len(result.problems) == 1


def test_condition_calling_import_is_refused() -> None:
    condition = "__import__('os').system('x')"
    text = replace_once(BIRTH, "outcome == 'refuse'", condition)
    result = check(text)
    problem = the_problem(result, "Flow_Record_Refuse", f"condition '{condition}' is refused: call to")
    assert "is not allowed" in problem.message
    assert problem.line == line_of(text, 'id="Flow_Record_Refuse"')
    assert problem.name == "Từ chối"
    assert len(result.problems) == 1


# ----- gateways and flows --------------------------------------------------------------------


def test_decision_flow_without_condition_is_refused() -> None:
    text = replace_once(
        BIRTH,
        'targetRef="Task_ReturnRefusal">\n      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">'
        "outcome == 'refuse'</bpmn:conditionExpression>\n    </bpmn:sequenceFlow>",
        'targetRef="Task_ReturnRefusal"/>',
    )
    result = check(text)
    problem = the_problem(
        result, "Flow_Record_Refuse", "a flow leaving a decision needs a condition (or be the default flow)"
    )
    assert problem.line == line_of(text, 'id="Flow_Record_Refuse"')
    assert len(result.problems) == 1


def test_decision_flow_marked_default_needs_no_condition() -> None:
    text = replace_once(
        BIRTH,
        'targetRef="Task_ReturnRefusal">\n      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">'
        "outcome == 'refuse'</bpmn:conditionExpression>\n    </bpmn:sequenceFlow>",
        'targetRef="Task_ReturnRefusal"/>',
    )
    text = replace_once(
        text,
        '<bpmn:exclusiveGateway id="Gateway_Record"',
        '<bpmn:exclusiveGateway default="Flow_Record_Refuse" id="Gateway_Record"',
    )
    result = check(text)
    assert result.problems == []
    outcomes = result.model.steps["Task_Record"].outcomes
    assert Outcome(None, "Từ chối") in outcomes


def test_decision_flow_without_name_is_refused() -> None:
    text = replace_once(BIRTH, 'name="Từ chối" sourceRef="Gateway_Record"', 'sourceRef="Gateway_Record"')
    result = check(text)
    problem = the_problem(
        result, "Flow_Record_Refuse", "a decision flow needs a name: it is the button the officer clicks"
    )
    assert problem.name == "sequenceFlow"
    assert problem.line == line_of(text, 'id="Flow_Record_Refuse"')
    assert len(result.problems) == 1


def test_sequence_flow_with_dangling_target_is_reported() -> None:
    text = replace_once(BIRTH, 'targetRef="Task_Return"/>', 'targetRef="Task_Nowhere"/>')
    result = check(text)
    problem = the_problem(
        result, "Flow_Sign_Return", "targetRef 'Task_Nowhere' does not name an element of the process"
    )
    assert problem.line == line_of(text, 'id="Flow_Sign_Return"')
    # Its knock-on effect is reported too, on the element that lost its only incoming flow.
    assert "has no incoming sequence flow" in messages_about(result, "Task_Return")


def test_task_without_incoming_flow_is_reported_as_disconnected() -> None:
    elements = user_task("Task_Orphan", [], ["Flow_Orphan_End"])
    elements += (
        '    <bpmn:sequenceFlow id="Flow_Orphan_End" sourceRef="Task_Orphan" targetRef="End_Completed"/>\n'
    )
    text = with_extra_desk_tasks(elements, ["Task_Orphan"])
    result = check(text)
    assert messages_about(result, "Task_Orphan") == ["has no incoming sequence flow"]
    assert the_problem(result, "Task_Orphan", "no incoming").line == line_of(text, 'id="Task_Orphan"')
    assert len(result.problems) == 1


def test_tasks_in_a_loop_of_their_own_are_unreachable_from_the_start() -> None:
    elements = user_task("Task_IslandA", ["Flow_B_A"], ["Flow_A_B"])
    elements += user_task("Task_IslandB", ["Flow_A_B"], ["Flow_B_A"])
    elements += '    <bpmn:sequenceFlow id="Flow_A_B" sourceRef="Task_IslandA" targetRef="Task_IslandB"/>\n'
    elements += '    <bpmn:sequenceFlow id="Flow_B_A" sourceRef="Task_IslandB" targetRef="Task_IslandA"/>\n'
    text = with_extra_desk_tasks(elements, ["Task_IslandA", "Task_IslandB"])
    result = check(text)
    for task_id in ("Task_IslandA", "Task_IslandB"):
        assert messages_about(result, task_id) == ["cannot be reached from the start event"]
        problem = the_problem(result, task_id, "cannot be reached")
        assert problem.line == line_of(text, f'id="{task_id}"')
    assert len(result.problems) == 2


@pytest.mark.parametrize(
    ("old_id", "reserved"),
    [("Start_Received", "Start"), ("End_Completed", "End")],
)
def test_engine_reserved_ids_are_refused(old_id: str, reserved: str) -> None:
    text = BIRTH.replace(old_id, reserved)
    assert text != BIRTH
    result = check(text)
    problem = the_problem(
        result,
        reserved,
        f"the id '{reserved}' is reserved by the engine; rename it (e.g. '{reserved}Event')",
    )
    assert problem.line == line_of(text, f'id="{reserved}"')
    assert len(result.problems) == 1


def test_longest_counted_path_over_the_legal_time_is_reported_on_the_process() -> None:
    result = check(CAO_BANG, legal_hours=40)
    problem = the_problem(result, "Process_1_001806", "add up to 80 working hours")
    assert "more than the legal time of 40 hours" in problem.message
    assert "(Task_Receive -> Task_Assign -> Task_Process -> Task_Review -> Task_Approve -> Task_Issue)" in (
        problem.message
    )
    assert problem.line == line_of(CAO_BANG, 'id="Process_1_001806"')
    assert len(result.problems) == 1
    assert result.model.longest_counted_hours == 80


def test_longest_counted_path_equal_to_the_legal_time_is_accepted() -> None:
    assert check(CAO_BANG, legal_hours=80).ok


# ----- the printed form ----------------------------------------------------------------------


def test_problem_prints_as_file_line_name_id_message() -> None:
    assert str(Problem("a.bpmn", 12, "Task_X", "Ký", "bad")) == "a.bpmn:12: Ký (Task_X): bad"
    assert str(Problem("a.bpmn", 3, "", "document", "bad")) == "a.bpmn:3: document: bad"


def test_reported_problem_prints_with_the_variant_file_name_and_task_line() -> None:
    text = replace_once(BIRTH, SIGN_SLA, "")
    [problem] = check(text).problems
    line = line_of(text, 'id="Task_Sign"')
    assert str(problem) == (
        f"{FILENAME}:{line}: Ký giấy khai sinh (Task_Sign): "
        'user task needs <mc:sla hours="..." counted="true|false"/> in its extensionElements'
    )


# ----- the command ---------------------------------------------------------------------------


def test_cli_check_of_the_samples_exits_zero_and_reports_their_hours() -> None:
    paths = [str(CAO_BANG_PATH), str(NGHE_AN_PATH), str(BIRTH_PATH)]
    result = CliRunner().invoke(main, ["bpmn", "check", *paths])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"{CAO_BANG_PATH}: ok, 9 steps, 80 of 80 counted hours",
        f"{NGHE_AN_PATH}: ok, 18 steps, 96 of 96 counted hours",
        f"{BIRTH_PATH}: ok, 6 steps, 7 of 8 counted hours",
    ]


def test_cli_check_of_a_broken_file_exits_one_and_prints_each_problem(tmp_path: Path) -> None:
    text = replace_once(BIRTH, SIGN_SLA, "")
    text = replace_once(text, "outcome == 'refuse'", "__import__('os').system('x')")
    path = tmp_path / "broken.bpmn"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["bpmn", "check", str(BIRTH_PATH), str(path)])
    assert result.exit_code == 1, result.output
    sign = line_of(text, 'id="Task_Sign"')
    refuse = line_of(text, 'id="Flow_Record_Refuse"')
    assert result.output.splitlines() == [
        f"{BIRTH_PATH}: ok, 6 steps, 7 of 8 counted hours",
        f"{path}:{sign}: Ký giấy khai sinh (Task_Sign): "
        'user task needs <mc:sla hours="..." counted="true|false"/> in its extensionElements',
        f"{path}:{refuse}: Từ chối (Flow_Record_Refuse): condition '__import__('os').system('x')' "
        "is refused: call to '__import__('os').system' is not allowed",
    ]


def test_cli_check_with_legal_hours_option_reports_the_overrun() -> None:
    result = CliRunner().invoke(main, ["bpmn", "check", "--legal-hours", "40", str(CAO_BANG_PATH)])
    assert result.exit_code == 1
    [line] = result.output.splitlines()
    process_line = line_of(CAO_BANG, 'id="Process_1_001806"')
    assert line.startswith(f"{CAO_BANG_PATH}:{process_line}: ")
    assert "add up to 80 working hours, more than the legal time of 40 hours" in line


def test_cli_check_of_a_missing_file_exits_one(tmp_path: Path) -> None:
    missing = tmp_path / "missing.bpmn"
    result = CliRunner().invoke(main, ["bpmn", "check", str(missing)])
    assert result.exit_code == 1
    assert result.output.startswith(f"{missing}:0: document: cannot read: ")


# ----- the procedure model -------------------------------------------------------------------


@pytest.fixture(scope="module")
def cao_bang_model() -> ProcedureModel:
    return read_model(parse_bpmn_xml(CAO_BANG))


def test_outcomes_of_a_step_come_from_its_gateway_conditions_with_their_labels(
    cao_bang_model: ProcedureModel,
) -> None:
    step = cao_bang_model.steps["Task_Process"]
    assert step.outcomes == (
        Outcome("forward", "Đạt, trình trưởng phòng"),
        Outcome("supplement", "Yêu cầu bổ sung"),
        Outcome("refuse", "Từ chối"),
    )
    assert step.outcome_values() == ["forward", "supplement", "refuse"]
    assert step.needs_outcome
    assert step.hours == 56
    assert step.counted
    assert (step.lane, step.role) == ("Chuyên viên thụ lý", "specialist")


def test_return_step_has_kind_return_and_is_not_counted(cao_bang_model: ProcedureModel) -> None:
    step = cao_bang_model.steps["Task_Return"]
    assert step.kind == "return"
    assert step.counted is False
    assert step.hours == 4
    assert step.outcomes == ()
    assert not step.needs_outcome
    assert step.line == line_of(CAO_BANG, 'id="Task_Return"')


def test_province_steps_of_nghe_an_carry_their_agency_codes() -> None:
    model = read_model(parse_bpmn_xml(NGHE_AN_PATH.read_bytes()))
    agencies = {step_id: step.agency_code for step_id, step in model.steps.items()}
    assert agencies["Task_ProvinceReceive"] == "000.00.12.H40"
    assert agencies["Task_Draft"] == "000.00.12.H40"
    assert agencies["Task_ProvinceAssign"] == "000.00.12.H40"
    assert agencies["Task_Opinion"] == "000.00.01.H40"
    assert agencies["Task_ProvinceSign"] == "000.00.01.H40"
    assert agencies["Task_ProvinceIssue"] == "000.00.01.H40"
    # Commune steps belong to the agency that received the dossier.
    assert agencies["Task_CommuneReceive"] is None
    assert set(agencies.values()) == {None, "000.00.12.H40", "000.00.01.H40"}
