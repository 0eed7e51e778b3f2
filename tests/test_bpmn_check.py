"""Tests of the BPMN checker: each builds a broken variant of a sample and pins the exact problem.

A problem is pinned by its message, the id of the element it names and its line, which must be
the line where that element (or, for attribute-level problems, the offending extension element)
sits in the modified text.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from click.testing import CliRunner

from bench.bpmn_check import generate_diagram
from engine.catalogue.bpmn_check import CheckResult, check_bpmn
from engine.catalogue.bpmn_xml import Problem, XmlRejected, parse_bpmn_xml
from engine.catalogue.procedure_model import Outcome, ProcedureModel, read_model
from engine.cli import main

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
    assert problem.message.startswith("XML sai cú pháp: ")
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
            "không được phép khai báo DOCTYPE hoặc thực thể (entity)",
        )
    ]
    assert result.model is None
    assert elapsed < 1.0  # 10**9 "lol"s expanded would take gigabytes and far longer
    with pytest.raises(XmlRejected) as info:
        parse_bpmn_xml(text)
    assert info.value.problem.message == "không được phép khai báo DOCTYPE hoặc thực thể (entity)"


def test_doctype_in_a_utf16_document_is_refused_like_in_utf8() -> None:
    text = replace_once(BIRTH, 'encoding="UTF-8"', 'encoding="UTF-16"')
    text = replace_once(text, "?>\n", '?>\n<!DOCTYPE bpmn:definitions [\n  <!ENTITY small "chữ">\n]>\n')
    result = check(text.encode("utf-16"))
    assert [p.message for p in result.problems] == ["không được phép khai báo DOCTYPE hoặc thực thể (entity)"]


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
        Problem(FILENAME, 1, "", "document", f"tệp có {size} byte, vượt quá giới hạn {size - 1} byte")
    ]
    assert refused.model is None
    assert check(BIRTH, max_bytes=size).ok


def test_unknown_bpmn_element_is_a_schema_error_at_its_line() -> None:
    text = replace_once(BIRTH, FIRST_FLOW, '    <bpmn:frobnicate id="Frob_1"/>\n' + FIRST_FLOW)
    result = check(text)
    problem = the_problem(result, "Frob_1", "lược đồ BPMN: ")
    assert "frobnicate': This element is not expected" in problem.message
    assert problem.line == line_of(text, 'id="Frob_1"')
    assert problem.name == "frobnicate"


def test_unknown_attribute_is_a_schema_error_naming_the_attribute_at_its_line() -> None:
    text = replace_once(BIRTH, SIGN_OPEN, SIGN_OPEN.replace(" id=", ' foo="bar" id='))
    result = check(text)
    assert len(result.problems) == 1
    problem = the_problem(result, "Task_Sign", "lược đồ BPMN: ")
    assert "The attribute 'foo' is not allowed" in problem.message
    assert problem.line == line_of(text, 'id="Task_Sign"')
    assert problem.name == "Ký giấy khai sinh"


# ----- every problem at once ------------------------------------------------------------------


def test_several_problems_are_all_reported_in_line_order() -> None:
    text = replace_once(BIRTH, '<mc:sla hours="1" counted="true"/>', "")
    text = replace_once(text, SIGN_SLA, "")
    text = replace_once(text, '<mc:lane role="leader"/>', '<mc:lane role="boss"/>')
    result = check(text)
    sla_message = (
        'tác vụ người dùng cần có <mc:sla hours="..." counted="true|false"/> trong extensionElements'
    )
    assert [(p.line, p.element_id, p.message) for p in result.problems] == [
        (
            line_of(text, 'role="boss"'),
            "Lane_Leader",
            "vai trò 'boss' không hợp lệ; hãy dùng một trong: desk, head, specialist, leader, clerk",
        ),
        (line_of(text, 'id="Task_Receive"'), "Task_Receive", sla_message),
        (line_of(text, 'id="Task_Sign"'), "Task_Sign", sla_message),
    ]


# ----- lanes and roles -----------------------------------------------------------------------


def test_user_task_outside_every_lane_is_reported() -> None:
    text = replace_once(BIRTH, "        <bpmn:flowNodeRef>Task_Sign</bpmn:flowNodeRef>\n", "")
    result = check(text)
    problem = the_problem(result, "Task_Sign", "tác vụ người dùng không thuộc làn nào nên không ai nhận được")
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
    problem = the_problem(result, "Lane_Leader", 'làn cần có <mc:lane role="..."/> trong extensionElements')
    assert "urn:motcua:bpmn:1" in problem.message
    assert problem.line == line_of(text, 'id="Lane_Leader"')
    assert len(result.problems) == 1


def test_unknown_role_is_reported_on_the_lane_at_the_mc_lane_line() -> None:
    text = replace_once(BIRTH, '<mc:lane role="specialist"/>', '<mc:lane role="supervisor"/>')
    result = check(text)
    # supervisor is a real role, but not one that can own a lane.
    problem = the_problem(result, "Lane_Specialist", "vai trò 'supervisor' không hợp lệ")
    assert problem.line == line_of(text, 'role="supervisor"')
    assert problem.name == "Công chức tư pháp - hộ tịch"
    assert len(result.problems) == 1


# ----- allotments and step kinds -------------------------------------------------------------


def test_user_task_without_mc_sla_is_reported_at_the_task() -> None:
    text = replace_once(BIRTH, SIGN_SLA, "")
    result = check(text)
    problem = the_problem(result, "Task_Sign", "tác vụ người dùng cần có <mc:sla")
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
    problem = the_problem(result, "Task_Sign", f"số giờ được giao '{shown}' phải là số giờ làm việc >= 0")
    assert problem.line == line_of(text, sla)
    assert len(result.problems) == 1


@pytest.mark.parametrize("hours", ["nan", "inf"])
def test_non_finite_allotted_hours_are_refused(hours: str) -> None:
    text = replace_once(BIRTH, SIGN_SLA, f'<mc:sla hours="{hours}" counted="true"/>')
    result = check(text, legal_hours=8)
    problem = the_problem(result, "Task_Sign", f"số giờ được giao '{hours}'")
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
    problem = the_problem(result, "Task_Sign", "counted='maybe' phải là true hoặc false")
    assert problem.line == line_of(text, 'counted="maybe"')


def test_unknown_step_kind_is_reported_at_the_task() -> None:
    text = replace_once(BIRTH, '<mc:step kind="supplement"/>', '<mc:step kind="archive"/>')
    result = check(text)
    problem = the_problem(
        result,
        "Task_WaitSupplement",
        "loại bước 'archive' không hợp lệ; hãy dùng một trong: supplement, return",
    )
    assert problem.line == line_of(text, 'id="Task_WaitSupplement"')
    assert len(result.problems) == 1


# ----- code in the diagram -------------------------------------------------------------------


def test_script_task_and_its_embedded_script_are_refused() -> None:
    text = sign_task_as("scriptTask", "      <bpmn:script>import os</bpmn:script>\n")
    result = check(text)
    line = line_of(text, 'id="Task_Sign"')
    refused = the_problem(result, "Task_Sign", "không được dùng tác vụ script (script task)")
    embedded = the_problem(result, "Task_Sign", "không được nhúng mã script vào sơ đồ")
    assert refused.line == embedded.line == line
    assert not result.ok


def test_service_task_is_refused() -> None:
    text = sign_task_as("serviceTask")
    result = check(text)
    problem = the_problem(
        result,
        "Task_Sign",
        "không được dùng tác vụ dịch vụ (service task): sơ đồ không được gọi dịch vụ bên ngoài",
    )
    assert problem.line == line_of(text, 'id="Task_Sign"')
    assert len(result.problems) == 1


def test_xhtml_script_in_extension_elements_is_refused_on_its_owner_at_its_line() -> None:
    script = '<script xmlns="http://www.w3.org/1999/xhtml">alert(1)</script>'
    text = replace_once(BIRTH, SIGN_SLA, SIGN_SLA + "\n        " + script)
    result = check(text)
    problem = the_problem(
        result, "Task_Sign", "phần tử <script> (http://www.w3.org/1999/xhtml) không được phép"
    )
    assert problem.name == "Ký giấy khai sinh"
    assert problem.line == line_of(text, script)
    assert len(result.problems) == 1
    assert result.unsafe == [problem]
    assert not result.storable


# ----- foreign content: what a browser could run ---------------------------------------------

SIGN_EXTENSION = "\n        "
DEFINITIONS_OPEN = '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"'


def with_sign_extension(fragment: str) -> str:
    """The birth sample with one more element in Task_Sign's extensionElements, on its own line."""
    return replace_once(BIRTH, SIGN_SLA, SIGN_SLA + SIGN_EXTENSION + fragment)


@pytest.mark.parametrize(
    ("fragment", "message"),
    [
        (
            '<div xmlns="http://www.w3.org/1999/xhtml" onclick="alert(1)">x</div>',
            "phần tử mở rộng <div> thuộc không gian tên http://www.w3.org/1999/xhtml không được phép",
        ),
        (
            '<svg xmlns="http://www.w3.org/2000/svg"><a href="#">x</a></svg>',
            "phần tử mở rộng <svg> thuộc không gian tên http://www.w3.org/2000/svg không được phép",
        ),
        (
            '<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0"/>',
            "phần tử mở rộng <stylesheet> thuộc không gian tên http://www.w3.org/1999/XSL/Transform "
            "không được phép",
        ),
        (
            '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="/etc/passwd" parse="text"/>',
            "phần tử mở rộng <include> thuộc không gian tên http://www.w3.org/2001/XInclude không được phép",
        ),
        (
            '<camunda:script xmlns:camunda="http://camunda.org/schema/1.0/bpmn" scriptFormat="js">x</camunda:script>',
            "phần tử <script> (http://camunda.org/schema/1.0/bpmn) không được phép",
        ),
        (
            '<spiffworkflow:preScript xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core">'
            "import os</spiffworkflow:preScript>",
            "phần tử <preScript> (http://spiffworkflow.org/bpmn/schema/1.0/core) không được phép",
        ),
        ('<mc:IFrame src="https://example.org"/>', "phần tử <IFrame> (urn:motcua:bpmn:1) không được phép"),
        ('<mc:object data="x"/>', "phần tử <object> (urn:motcua:bpmn:1) không được phép"),
        ('<mc:embed src="x"/>', "phần tử <embed> (urn:motcua:bpmn:1) không được phép"),
    ],
    ids=[
        "xhtml-div",
        "svg",
        "xslt",
        "xinclude",
        "camunda-script",
        "spiff-prescript",
        "iframe-any-case",
        "object",
        "embed",
    ],
)
def test_foreign_extension_element_is_refused_at_its_line_on_the_owning_task(
    fragment: str, message: str
) -> None:
    text = with_sign_extension(fragment)
    result = check(text)
    problem = the_problem(result, "Task_Sign", message)
    assert problem.line == line_of(text, fragment)
    # One problem for the foreign subtree; an element without a namespace is a schema error too.
    assert [p for p in result.problems if not p.message.startswith("lược đồ BPMN: ")] == [problem]
    assert result.unsafe == [problem]


@pytest.mark.parametrize(
    ("fragment", "note"),
    [
        (
            '<ext:widget xmlns:ext="urn:example:other-modeler" size="3"/>',
            "Đã bỏ 1 phần tử của phần mở rộng urn:example:other-modeler: hệ thống không dùng đến",
        ),
        (
            '<widget xmlns="">x</widget>',
            "Đã bỏ 1 phần tử của phần mở rộng không có không gian tên: hệ thống không dùng đến",
        ),
    ],
    ids=["unknown-namespace", "no-namespace"],
)
def test_inert_element_of_an_unknown_namespace_is_stripped_with_one_note(fragment: str, note: str) -> None:
    result = check(with_sign_extension(fragment), legal_hours=8)
    assert result.problems == []
    assert result.notes == [note]
    assert result.text is not None and "widget" not in result.text


def test_foreign_element_nested_in_a_tolerated_extension_is_refused() -> None:
    fragment = (
        '<camunda:properties xmlns:camunda="http://camunda.org/schema/1.0/bpmn">'
        '<h:a xmlns:h="http://www.w3.org/1999/xhtml" href="#">x</h:a></camunda:properties>'
    )
    text = with_sign_extension(fragment)
    result = check(text)
    problem = the_problem(
        result, "Task_Sign", "phần tử mở rộng <a> thuộc không gian tên http://www.w3.org/1999/xhtml"
    )
    assert problem.line == line_of(text, fragment)
    assert len(result.problems) == 1


@pytest.mark.parametrize(
    ("attribute", "message"),
    [
        (
            'xmlns:h="http://www.w3.org/1999/xhtml" h:onclick="alert(1)"',
            "thuộc tính {http://www.w3.org/1999/xhtml}onclick không được phép",
        ),
        (
            'xmlns:h="http://www.w3.org/1999/xhtml" h:title="x"',
            "thuộc tính {http://www.w3.org/1999/xhtml}title không được phép",
        ),
        (
            'xmlns:xlink="http://www.w3.org/1999/xlink" xlink:href="https://example.org"',
            "thuộc tính {http://www.w3.org/1999/xlink}href không được phép",
        ),
        (
            'xmlns:ext="urn:example:other-modeler" ext:onload="alert(1)"',
            "thuộc tính {urn:example:other-modeler}onload không được phép",
        ),
        (
            'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" camunda:formKey="JavaScript:alert(1)"',
            "không được dùng địa chỉ javascript: (thuộc tính {http://camunda.org/schema/1.0/bpmn}formKey)",
        ),
        (
            'xmlns:ext="urn:example:other-modeler" ext:link="java&#9;script:alert(1)"',
            "không được dùng địa chỉ javascript: (thuộc tính {urn:example:other-modeler}link)",
        ),
    ],
    ids=[
        "xhtml-onclick",
        "xhtml-any",
        "xlink-href",
        "event-handler-unknown-ns",
        "javascript-url",
        "javascript-tab",
    ],
)
def test_dangerous_attribute_on_a_task_is_refused_at_the_task(attribute: str, message: str) -> None:
    text = replace_once(BIRTH, SIGN_OPEN, SIGN_OPEN.replace(" id=", f" {attribute} id="))
    result = check(text)
    problem = the_problem(result, "Task_Sign", message)
    assert problem.line == line_of(text, 'id="Task_Sign"')
    assert result.problems == [problem]
    assert result.unsafe == [problem]


def test_attribute_of_an_unknown_namespace_on_a_task_is_kept_and_ignored() -> None:
    text = replace_once(
        BIRTH,
        SIGN_OPEN,
        SIGN_OPEN.replace(" id=", ' xmlns:ext="urn:example:other-modeler" ext:priority="3" id='),
    )
    result = check(text, legal_hours=8)
    assert result.problems == []
    assert result.model.steps["Task_Sign"].hours == 2


def test_javascript_url_in_a_documentation_text_is_refused() -> None:
    text = replace_once(
        BIRTH,
        "Giải quyết ngay trong ngày tiếp nhận",
        "Xem javascript:alert(document.cookie) ngay trong ngày tiếp nhận",
    )
    result = check(text)
    problem = the_problem(
        result,
        "Process_BirthRegistration",
        "không được dùng địa chỉ javascript: (trong nội dung của <documentation>)",
    )
    assert problem.line == line_of(text, "javascript:alert")
    assert result.problems == [problem]


def test_stylesheet_processing_instruction_is_refused() -> None:
    pi = '<?xml-stylesheet type="text/xsl" href="https://example.org/x.xsl"?>'
    text = replace_once(BIRTH, "?>\n", "?>\n" + pi + "\n")
    result = check(text)
    [problem] = result.problems
    assert problem.message == "không được dùng chỉ thị xử lý <?xml-stylesheet?>"
    assert problem.line == line_of(text, pi)
    assert problem.name == "document"
    assert result.unsafe == [problem]


OTHER_MODELER_NAMESPACES = (
    ' xmlns:camunda="http://camunda.org/schema/1.0/bpmn"'
    ' xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"'
    ' xmlns:modeler="http://camunda.org/schema/modeler/1.0"'
    ' xmlns:bioc="http://bpmn.io/schema/bpmn/biocolor/1.0"'
    ' xmlns:color="http://www.omg.org/spec/BPMN/non-normative/color/1.0"'
    ' xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"'
    ' modeler:executionPlatform="Camunda Platform" modeler:executionPlatformVersion="7.20.0"'
)


def test_diagram_from_another_modeler_with_harmless_extensions_is_accepted_as_it_is() -> None:
    text = replace_once(BIRTH, DEFINITIONS_OPEN, DEFINITIONS_OPEN + OTHER_MODELER_NAMESPACES)
    text = replace_once(
        text,
        SIGN_SLA,
        SIGN_SLA
        + '\n        <camunda:properties><camunda:property name="form" value="ky-giay"/></camunda:properties>'
        + '\n        <zeebe:taskDefinition type="sign" retries="3"/>'
        + "\n        <spiffworkflow:instructionsForEndUser>Ký số</spiffworkflow:instructionsForEndUser>",
    )
    text = replace_once(
        text,
        'bpmnElement="Task_Sign">',
        'bpmnElement="Task_Sign" bioc:stroke="#1e88e5" color:background-color="#bbdefb">',
    )
    result = check(text, legal_hours=8)
    assert result.problems == []
    assert result.storable
    plain = check(BIRTH, legal_hours=8).model
    assert {k: replace(v, line=0) for k, v in result.model.steps.items()} == {
        k: replace(v, line=0) for k, v in plain.steps.items()
    }
    assert result.model.longest_counted_hours == 7


def test_script_task_is_refused_for_approval_but_storable_as_a_draft() -> None:
    result = check(sign_task_as("scriptTask", "      <bpmn:script>import os</bpmn:script>\n"))
    assert not result.ok
    assert result.storable
    assert result.unsafe == []


def test_malformed_xml_is_not_storable() -> None:
    result = check(BIRTH.replace("</bpmn:definitions>", ""))
    assert not result.storable
    assert result.unsafe == result.problems


def test_condition_calling_import_is_refused() -> None:
    condition = "__import__('os').system('x')"
    text = replace_once(BIRTH, "outcome == 'refuse'", condition)
    result = check(text)
    problem = the_problem(result, "Flow_Record_Refuse", f"điều kiện '{condition}' bị từ chối: ")
    assert problem.message.endswith(
        "không được gọi '__import__('os').system'; chỉ được gọi len, int, float, str, abs, min, max, round"
    )
    assert problem.line == line_of(text, 'id="Flow_Record_Refuse"')
    assert problem.name == "Từ chối"
    assert len(result.problems) == 1


# ----- what an expression may cost -----------------------------------------------------------

FORWARD = "outcome == 'forward'"


def with_timer(expression: str, kind: str = "timeDuration") -> str:
    """The birth sample with a reminder timer on Task_Record that ends on its own end event."""
    timer = (
        '    <bpmn:boundaryEvent id="Timer_Record" name="Nhắc việc" cancelActivity="false" '
        'attachedToRef="Task_Record">\n      <bpmn:outgoing>Flow_Timer_End</bpmn:outgoing>\n'
        '      <bpmn:timerEventDefinition id="TimerDef_Record">\n'
        f'        <bpmn:{kind} xsi:type="bpmn:tFormalExpression">{escape(expression)}</bpmn:{kind}>\n'
        "      </bpmn:timerEventDefinition>\n    </bpmn:boundaryEvent>\n"
        '    <bpmn:endEvent id="End_Reminded" name="Đã nhắc">\n'
        "      <bpmn:incoming>Flow_Timer_End</bpmn:incoming>\n    </bpmn:endEvent>\n"
        '    <bpmn:sequenceFlow id="Flow_Timer_End" sourceRef="Timer_Record" targetRef="End_Reminded"/>\n'
    )
    return replace_once(BIRTH, FIRST_FLOW, timer + FIRST_FLOW)


COSTLY = [
    ("9**9**9 > 0", "không được dùng phép lũy thừa '**'"),
    ("len('a'*10**9) > 0", "không được nhân chuỗi hoặc danh sách (phép lặp '*')"),
    ("[c for c in outcome] == []", "không được dùng biểu thức sinh danh sách (comprehension)"),
    ("outcome.upper() == 'X'", "không được gọi 'outcome.upper'"),
    ("outcome.__class__ == 'x'", "không được truy cập thuộc tính '.__class__'"),
]


@pytest.mark.parametrize(("condition", "explanation"), COSTLY)
def test_costly_condition_is_refused_on_its_flow_at_its_line(condition: str, explanation: str) -> None:
    text = replace_once(BIRTH, FORWARD, escape(condition))
    started = time.perf_counter()
    result = check(text)
    assert time.perf_counter() - started < 2
    problem = the_problem(result, "Flow_Record_Forward", f"điều kiện '{condition}' bị từ chối: ")
    assert problem.message.startswith(f"điều kiện '{condition}' bị từ chối: {explanation}")
    assert (problem.line, problem.name) == (line_of(text, 'id="Flow_Record_Forward"'), "Đạt, trình ký")
    assert len(result.problems) == 1


def test_timer_with_a_literal_duration_is_accepted() -> None:
    assert check(with_timer("'PT2H'")).problems == []


@pytest.mark.parametrize(("expression", "explanation"), COSTLY[:2])
def test_costly_timer_expression_is_refused_on_its_event_at_its_line(
    expression: str, explanation: str
) -> None:
    text = with_timer(expression)
    [problem] = check(text).problems
    assert problem.element_id == "Timer_Record"
    assert problem.name == "Nhắc việc"
    assert problem.message == f"biểu thức hẹn giờ (timeDuration) '{expression}' bị từ chối: {explanation}"
    assert problem.line == line_of(text, "<bpmn:timeDuration")


@pytest.mark.parametrize(
    ("kind", "expression", "explanation"),
    [
        ("timeCycle", "'R/PT1H'", "chu kỳ hẹn giờ phải lặp từ 1 đến 100 lần (ví dụ 'R3/PT1H')"),
        ("timeCycle", "'R5/PT0S'", "khoảng cách giữa hai lần hẹn giờ phải lớn hơn 0"),
        (
            "timeDate",
            "'2026-13-01'",
            "'2026-13-01' không phải là thời điểm, khoảng thời gian hay chu kỳ ISO 8601",
        ),
        ("timeDuration", "2", "giá trị hẹn giờ phải là một chuỗi ISO 8601, ví dụ 'PT2H' hoặc 'R3/PT1H'"),
    ],
)
def test_timer_value_the_engine_cannot_bound_is_refused(kind: str, expression: str, explanation: str) -> None:
    [problem] = check(with_timer(expression, kind)).problems
    assert problem.element_id == "Timer_Record"
    assert problem.message.endswith(f"'{expression}' bị từ chối: {explanation}")


def test_condition_on_a_name_the_procedure_does_not_declare_is_refused() -> None:
    condition = "outcome == 'forward' and amount > 1000000"
    text = replace_once(BIRTH, FORWARD, escape(condition))
    problem = the_problem(check(text), "Flow_Record_Forward", "bị từ chối")
    assert problem.message == (
        f"điều kiện '{condition}' bị từ chối: tên 'amount' chưa được khai báo: chỉ được dùng channel, "
        'dossier_code, outcome và dữ liệu khai báo bằng <mc:data name="..."/>'
    )


def test_data_key_declared_on_a_step_may_be_used_in_conditions() -> None:
    text = replace_once(BIRTH, FORWARD, escape("outcome == 'forward' and amount > 1000000"))
    text = replace_once(
        text,
        '<mc:sla hours="4" counted="true"/>',
        '<mc:sla hours="4" counted="true"/><mc:data name="amount"/>',
    )
    assert check(text).problems == []


def test_data_key_that_cannot_be_a_name_is_refused_at_its_declaration() -> None:
    text = replace_once(
        BIRTH,
        '<mc:sla hours="4" counted="true"/>',
        '<mc:sla hours="4" counted="true"/><mc:data name="số tiền"/>',
    )
    [problem] = check(text).problems
    assert (problem.element_id, problem.line) == ("Task_Record", line_of(text, "<mc:data"))
    assert problem.message.startswith("tên dữ liệu 'số tiền' không hợp lệ: ")


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        (
            '<bpmn:standardLoopCharacteristics testBefore="true"/>',
            "không được dùng vòng lặp trên tác vụ (loop)",
        ),
        (
            "<bpmn:multiInstanceLoopCharacteristics><bpmn:loopCardinality>1000000</bpmn:loopCardinality>"
            "</bpmn:multiInstanceLoopCharacteristics>",
            "không được dùng tác vụ nhiều phiên bản (multi-instance)",
        ),
    ],
)
def test_loop_marker_on_a_task_is_refused(marker: str, message: str) -> None:
    text = sign_task_as("userTask", f"      {marker}\n")
    problem = the_problem(check(text), "Task_Sign", message)
    assert problem.line == line_of(text, marker[:25])


def test_loop_through_gateways_only_is_refused_because_the_engine_would_never_stop() -> None:
    elements = (
        '    <bpmn:exclusiveGateway id="Gateway_Again" name="Lặp?" default="Flow_Again_Return"/>\n'
        '    <bpmn:exclusiveGateway id="Gateway_Back" name="Quay lại"/>\n'
        '    <bpmn:sequenceFlow id="Flow_Again_Return" name="Xong" sourceRef="Gateway_Again" '
        'targetRef="Task_Return"/>\n'
        '    <bpmn:sequenceFlow id="Flow_Again_Back" name="Lặp lại" sourceRef="Gateway_Again" targetRef="Gateway_Back">'
        "<bpmn:conditionExpression xsi:type=\"bpmn:tFormalExpression\">outcome == 'again'</bpmn:conditionExpression>"
        "</bpmn:sequenceFlow>\n"
        '    <bpmn:sequenceFlow id="Flow_Back_Again" sourceRef="Gateway_Back" targetRef="Gateway_Again"/>\n'
    )
    text = with_extra_desk_tasks(elements, [])
    text = replace_once(
        text,
        '<bpmn:sequenceFlow id="Flow_Sign_Return" sourceRef="Task_Sign" targetRef="Task_Return"/>',
        '<bpmn:sequenceFlow id="Flow_Sign_Return" sourceRef="Task_Sign" targetRef="Gateway_Again"/>',
    )
    result = check(text)
    problem = the_problem(result, "Gateway_Again", "vòng lặp không qua bước nào phải chờ cán bộ xử lý")
    assert problem.message.startswith(
        "vòng lặp không qua bước nào phải chờ cán bộ xử lý (Gateway_Again, Gateway_Back): "
    )
    assert len(result.problems) == 1


def test_chain_too_long_for_the_engine_is_one_clear_problem() -> None:
    text = generate_diagram(700, branch_length=None)
    [problem] = check(text).problems
    assert problem.element_id == "Process_Bench"
    assert problem.message.startswith("bộ máy quy trình không nạp được: chuỗi phần tử nối tiếp nhau quá dài")


def test_check_of_a_long_procedure_takes_a_fraction_of_a_second_per_hundred_tasks() -> None:
    # Quadratic before: 1,000 tasks took about 20 s (2,000 tasks 100 s); linear now, under 1 s.
    text = generate_diagram(1000)
    started = time.perf_counter()
    result = check(text)
    elapsed = time.perf_counter() - started
    assert result.ok, result.problems[:3]
    assert len(result.model.steps) == 1000
    assert elapsed < 5.0


def test_model_of_a_long_chain_keeps_its_longest_path_and_hours_after_each_step() -> None:
    # The path walk copied the path at every node and scanned every node for boundary events:
    # this chain took 40 s; linear now, a few tenths of a second.
    root = parse_bpmn_xml(generate_diagram(1500, hours=0.5, branch_length=None))
    started = time.perf_counter()
    model = read_model(root)
    elapsed = time.perf_counter() - started
    assert model.longest_counted_hours == 750
    assert len(model.longest_path) == 1500
    assert model.longest_path[:2] == ["Task_Receive", "Task_00001"]
    assert model.hours_after["Task_Receive"] == 749.5
    assert model.hours_after["Task_Return"] == 0
    assert elapsed < 3.0


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
        result,
        "Flow_Record_Refuse",
        "luồng đi ra từ cổng quyết định cần có điều kiện (hoặc là luồng mặc định)",
    )
    assert problem.line == line_of(text, 'id="Flow_Record_Refuse"')
    assert len(result.problems) == 1


def test_decision_flow_marked_default_needs_no_condition() -> None:
    # The forward branch: a default branch into the refusal hand-over is refused (see below).
    text = replace_once(
        BIRTH,
        'targetRef="Task_Sign">\n      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">'
        "outcome == 'forward'</bpmn:conditionExpression>\n    </bpmn:sequenceFlow>",
        'targetRef="Task_Sign"/>',
    )
    text = replace_once(
        text,
        '<bpmn:exclusiveGateway id="Gateway_Record"',
        '<bpmn:exclusiveGateway default="Flow_Record_Forward" id="Gateway_Record"',
    )
    result = check(text)
    assert result.problems == []
    outcomes = result.model.steps["Task_Record"].outcomes
    assert Outcome(None, "Đạt, trình ký") in outcomes


def test_decision_flow_without_name_is_refused() -> None:
    text = replace_once(BIRTH, 'name="Từ chối" sourceRef="Gateway_Record"', 'sourceRef="Gateway_Record"')
    result = check(text)
    problem = the_problem(
        result, "Flow_Record_Refuse", "luồng quyết định cần có tên: đó là nút cán bộ bấm để chọn"
    )
    assert problem.name == "sequenceFlow"
    assert problem.line == line_of(text, 'id="Flow_Record_Refuse"')
    assert len(result.problems) == 1


def test_sequence_flow_with_dangling_target_is_reported() -> None:
    text = replace_once(BIRTH, 'targetRef="Task_Return"/>', 'targetRef="Task_Nowhere"/>')
    result = check(text)
    problem = the_problem(
        result, "Flow_Sign_Return", "targetRef 'Task_Nowhere' không trỏ tới phần tử nào của quy trình"
    )
    assert problem.line == line_of(text, 'id="Flow_Sign_Return"')
    # Its knock-on effect is reported too, on the element that lost its only incoming flow.
    assert "không có luồng tuần tự nào đi vào" in messages_about(result, "Task_Return")


def test_task_without_incoming_flow_is_reported_as_disconnected() -> None:
    elements = user_task("Task_Orphan", [], ["Flow_Orphan_End"])
    elements += (
        '    <bpmn:sequenceFlow id="Flow_Orphan_End" sourceRef="Task_Orphan" targetRef="End_Completed"/>\n'
    )
    text = with_extra_desk_tasks(elements, ["Task_Orphan"])
    result = check(text)
    assert messages_about(result, "Task_Orphan") == ["không có luồng tuần tự nào đi vào"]
    assert the_problem(result, "Task_Orphan", "đi vào").line == line_of(text, 'id="Task_Orphan"')
    assert len(result.problems) == 1


def test_tasks_in_a_loop_of_their_own_are_unreachable_from_the_start() -> None:
    elements = user_task("Task_IslandA", ["Flow_B_A"], ["Flow_A_B"])
    elements += user_task("Task_IslandB", ["Flow_A_B"], ["Flow_B_A"])
    elements += '    <bpmn:sequenceFlow id="Flow_A_B" sourceRef="Task_IslandA" targetRef="Task_IslandB"/>\n'
    elements += '    <bpmn:sequenceFlow id="Flow_B_A" sourceRef="Task_IslandB" targetRef="Task_IslandA"/>\n'
    text = with_extra_desk_tasks(elements, ["Task_IslandA", "Task_IslandB"])
    result = check(text)
    for task_id in ("Task_IslandA", "Task_IslandB"):
        assert messages_about(result, task_id) == ["không thể đi tới từ sự kiện bắt đầu"]
        problem = the_problem(result, task_id, "không thể đi tới")
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
        f"mã '{reserved}' được hệ thống dành riêng; hãy đổi mã khác (ví dụ '{reserved}Event')",
    )
    assert problem.line == line_of(text, f'id="{reserved}"')
    assert len(result.problems) == 1


def test_longest_counted_path_over_the_legal_time_is_reported_on_the_process() -> None:
    result = check(CAO_BANG, legal_hours=40)
    problem = the_problem(result, "Process_1_001806", "dọc theo nhánh dài nhất là 80 giờ làm việc")
    assert "vượt thời hạn giải quyết 40 giờ" in problem.message
    assert "(Task_Receive -> Task_Assign -> Task_Process -> Task_Review -> Task_Approve -> Task_Issue)" in (
        problem.message
    )
    assert problem.line == line_of(CAO_BANG, 'id="Process_1_001806"')
    assert len(result.problems) == 1
    assert result.model.longest_counted_hours == 80


def test_longest_counted_path_equal_to_the_legal_time_is_accepted() -> None:
    assert check(CAO_BANG, legal_hours=80).ok


# ----- the refusal hand-over -----------------------------------------------------------------

REFUSAL_BRANCH = (
    "nhánh dẫn đến bước trả văn bản từ chối '{step}' phải có điều kiện outcome == 'refuse' "
    "(kết quả dành riêng cho từ chối); hiện là {current}"
)
REFUSE_CONDITION = "outcome == 'refuse'</bpmn:conditionExpression>"
REFUSAL_TASK = '<bpmn:userTask id="Task_ReturnRefusal" name="Trả văn bản từ chối">'
REFUSED_END = '<bpmn:endEvent id="End_Refused" name="Đã trả văn bản từ chối">'


def test_refusal_hand_over_reached_with_another_outcome_is_refused_at_the_branch_line() -> None:
    text = replace_once(BIRTH, REFUSE_CONDITION, "outcome == 'reject'</bpmn:conditionExpression>")
    result = check(text)
    [problem] = result.problems
    line = line_of(text, 'id="Flow_Record_Refuse"')
    assert str(problem) == f"{FILENAME}:{line}: Từ chối (Flow_Record_Refuse): " + REFUSAL_BRANCH.format(
        step="Trả văn bản từ chối", current="outcome == 'reject'"
    )
    # A problem like any other: kept as a draft, never approved.
    assert result.storable
    assert not result.ok


@pytest.mark.parametrize(
    ("task_name", "end_name"),
    [
        ("TRẢ VĂN BẢN TỪ CHỐI", "Kết thúc"),
        ("Tra van ban tu choi", "Kết thúc"),
        ("Trả văn bản  Từ   Chối", "Kết thúc"),
        ("Trả kết quả cho công dân", "Đã trả văn bản TỪ CHỐI"),
    ],
    ids=["capitals", "no-diacritics", "mixed-case-and-spaces", "end-event"],
)
def test_refusal_hand_over_is_recognised_by_its_name_or_its_end_whatever_the_case_and_accents(
    task_name: str, end_name: str
) -> None:
    text = replace_once(BIRTH, REFUSE_CONDITION, "outcome == 'khong_dat'</bpmn:conditionExpression>")
    text = replace_once(text, REFUSAL_TASK, REFUSAL_TASK.replace("Trả văn bản từ chối", task_name))
    text = replace_once(text, REFUSED_END, REFUSED_END.replace("Đã trả văn bản từ chối", end_name))
    result = check(text)
    problem = the_problem(result, "Flow_Record_Refuse", "hiện là outcome == 'khong_dat'")
    assert problem.message == REFUSAL_BRANCH.format(step=task_name, current="outcome == 'khong_dat'")
    assert problem.line == line_of(text, 'id="Flow_Record_Refuse"')
    assert len(result.problems) == 1


def test_return_step_that_hands_over_no_refusal_may_follow_any_outcome() -> None:
    text = replace_once(BIRTH, REFUSE_CONDITION, "outcome == 'reject'</bpmn:conditionExpression>")
    text = replace_once(text, REFUSAL_TASK, REFUSAL_TASK.replace("Trả văn bản từ chối", "Trả hồ sơ"))
    text = replace_once(text, REFUSED_END, REFUSED_END.replace("Đã trả văn bản từ chối", "Đã trả hồ sơ"))
    assert check(text).problems == []


def test_default_branch_into_the_refusal_hand_over_is_refused() -> None:
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
    [problem] = check(text).problems
    assert (problem.element_id, problem.line) == (
        "Flow_Record_Refuse",
        line_of(text, 'id="Flow_Record_Refuse"'),
    )
    assert problem.message == REFUSAL_BRANCH.format(
        step="Trả văn bản từ chối", current="luồng mặc định (không có điều kiện)"
    )


def refusal_drafted_first(condition: str) -> str:
    """The birth sample with a desk step drafting the refusal between the decision and the hand-over."""
    elements = user_task("Task_DraftRefusal", ["Flow_Record_Refuse"], ["Flow_Draft_ReturnRefusal"])
    elements += (
        '    <bpmn:sequenceFlow id="Flow_Draft_ReturnRefusal" sourceRef="Task_DraftRefusal" '
        'targetRef="Task_ReturnRefusal"/>\n'
    )
    text = with_extra_desk_tasks(elements, ["Task_DraftRefusal"])
    text = replace_once(
        text,
        'sourceRef="Gateway_Record" targetRef="Task_ReturnRefusal"',
        'sourceRef="Gateway_Record" targetRef="Task_DraftRefusal"',
    )
    return replace_once(text, REFUSE_CONDITION, f"{condition}</bpmn:conditionExpression>")


def test_steps_between_the_refuse_branch_and_the_hand_over_are_allowed() -> None:
    assert check(refusal_drafted_first("outcome == 'refuse'")).problems == []


def test_branch_reaching_the_hand_over_through_other_steps_is_judged_at_the_decision() -> None:
    text = refusal_drafted_first("outcome == 'reject'")
    [problem] = check(text).problems
    assert (problem.element_id, problem.line) == (
        "Flow_Record_Refuse",
        line_of(text, 'id="Flow_Record_Refuse"'),
    )
    assert problem.message == REFUSAL_BRANCH.format(step="Trả văn bản từ chối", current="outcome == 'reject'")


def test_refuse_branch_leading_to_a_step_that_is_not_a_return_is_refused() -> None:
    text = replace_once(
        BIRTH,
        '<mc:step kind="return"/>\n      </bpmn:extensionElements>\n'
        "      <bpmn:incoming>Flow_Record_Refuse</bpmn:incoming>",
        "</bpmn:extensionElements>\n      <bpmn:incoming>Flow_Record_Refuse</bpmn:incoming>",
    )
    result = check(text)
    [problem] = result.problems
    line = line_of(text, 'id="Flow_Record_Refuse"')
    assert str(problem) == (
        f"{FILENAME}:{line}: Từ chối (Flow_Record_Refuse): nhánh outcome == 'refuse' phải dẫn đến bước trả "
        'văn bản từ chối qua Bộ phận Một cửa (tác vụ có <mc:step kind="return"/>); hiện dẫn đến '
        "'Trả văn bản từ chối' mà không qua bước trả nào"
    )
    assert result.storable


def test_refuse_branch_looping_back_to_processing_is_refused() -> None:
    text = replace_once(
        CAO_BANG,
        'sourceRef="Gateway_Approve" targetRef="Task_Process">\n'
        "      <bpmn:conditionExpression xsi:type=\"bpmn:tFormalExpression\">outcome == 'rework'",
        'sourceRef="Gateway_Approve" targetRef="Task_Process">\n'
        "      <bpmn:conditionExpression xsi:type=\"bpmn:tFormalExpression\">outcome == 'refuse'",
    )
    result = check(text)
    problem = the_problem(result, "Flow_Approve_Rework", "hiện dẫn đến 'Thẩm định hồ sơ' mà không qua")
    assert problem.line == line_of(text, 'id="Flow_Approve_Rework"')
    assert len(result.problems) == 1


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
        'tác vụ người dùng cần có <mc:sla hours="..." counted="true|false"/> trong extensionElements'
    )


# ----- the command ---------------------------------------------------------------------------


def test_cli_check_of_the_samples_exits_zero_and_reports_their_hours() -> None:
    paths = [str(CAO_BANG_PATH), str(NGHE_AN_PATH), str(BIRTH_PATH)]
    result = CliRunner().invoke(main, ["bpmn", "check", *paths])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"{CAO_BANG_PATH}: ok, 9 steps, 80 of 80 counted hours",
        f"{NGHE_AN_PATH}: không kiểm tra được mã cơ quan của các làn (000.00.01.H40, 000.00.12.H40): không có "
        "danh sách cơ quan (kiểm tra lại khi nhập vào hệ thống)",
        f"{NGHE_AN_PATH}: ok, 18 steps, 96 of 96 counted hours",
        f"{BIRTH_PATH}: ok, 6 steps, 7 of 8 counted hours",
    ]


UNKNOWN_PROCEDURE = "không kiểm tra được tổng thời gian: chưa biết thủ tục (hãy chỉ rõ --procedure)"


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
        'tác vụ người dùng cần có <mc:sla hours="..." counted="true|false"/> trong extensionElements',
        f"{path}:{refuse}: Từ chối (Flow_Record_Refuse): điều kiện '__import__('os').system('x')' "
        "bị từ chối: không được gọi '__import__('os').system'; chỉ được gọi len, int, float, str, abs, min, "
        "max, round",
        f"{path}: {UNKNOWN_PROCEDURE}",
    ]


@pytest.mark.parametrize("expression", ["9**9**9 > 0", "len('a'*10**9) > 0"])
def test_cli_check_refuses_each_costly_expression_as_a_condition_and_as_a_timer(
    tmp_path: Path, expression: str
) -> None:
    condition = tmp_path / "condition.bpmn"
    condition.write_text(replace_once(BIRTH, FORWARD, escape(expression)), encoding="utf-8")
    timer = tmp_path / "timer.bpmn"
    timer.write_text(with_timer(expression), encoding="utf-8")
    result = CliRunner().invoke(main, ["bpmn", "check", str(condition), str(timer)])
    assert result.exit_code == 1, result.output
    flow = line_of(BIRTH, 'id="Flow_Record_Forward"')
    timer_line = line_of(timer.read_text(encoding="utf-8"), "<bpmn:timeDuration")
    [first, _, second, _] = result.output.splitlines()
    assert first.startswith(
        f"{condition}:{flow}: Đạt, trình ký (Flow_Record_Forward): điều kiện '{expression}' bị từ chối: "
    )
    assert second.startswith(
        f"{timer}:{timer_line}: Nhắc việc (Timer_Record): biểu thức hẹn giờ (timeDuration) '{expression}' "
        "bị từ chối: "
    )


def test_cli_check_with_legal_hours_option_reports_the_overrun() -> None:
    result = CliRunner().invoke(main, ["bpmn", "check", "--legal-hours", "40", str(CAO_BANG_PATH)])
    assert result.exit_code == 1
    [line] = result.output.splitlines()
    process_line = line_of(CAO_BANG, 'id="Process_1_001806"')
    assert line.startswith(f"{CAO_BANG_PATH}:{process_line}: ")
    assert "dọc theo nhánh dài nhất là 80 giờ làm việc, vượt thời hạn giải quyết 40 giờ" in line


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
