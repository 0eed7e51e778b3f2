"""The summary of what changed between two versions of an internal procedure, as the approver reads it."""

from __future__ import annotations

from pathlib import Path

from engine.catalogue.bpmn_diff import diff_summary, hours_text
from engine.catalogue.bpmn_xml import parse_bpmn_xml
from engine.catalogue.procedure_model import Outcome, ProcedureModel, read_model

CAO_BANG = (Path(__file__).resolve().parent.parent / "workflows" / "bpmn" / "1.001806.bpmn").read_text(
    encoding="utf-8"
)
PROCESS_OPEN = '<bpmn:userTask id="Task_Process" name="Thẩm định hồ sơ">'
PROCESS_SLA = '<mc:sla hours="56" counted="true"/>'
RETURN_SLA = '<bpmn:userTask id="Task_Return" name="Trả kết quả">\n      <bpmn:extensionElements>\n        <mc:sla hours="4" counted="false"/>'
VERIFY = """    <bpmn:userTask id="Task_Verify" name="Xác minh thực tế">
      <bpmn:extensionElements>
        <mc:sla hours="16" counted="true"/>
      </bpmn:extensionElements>
      <bpmn:incoming>Flow_Assign_Process</bpmn:incoming>
      <bpmn:outgoing>Flow_Verify_Process</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="Flow_Verify_Process" sourceRef="Task_Verify" targetRef="Task_Process"/>
"""


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"expected exactly one {old!r}"
    return text.replace(old, new)


def model(text: str) -> ProcedureModel:
    return read_model(parse_bpmn_xml(text))


def with_verification_step() -> str:
    """1.001806 with a 16-hour site verification between the assignment and the appraisal."""
    text = replace_once(
        CAO_BANG,
        'sourceRef="Task_Assign" targetRef="Task_Process"/>',
        'sourceRef="Task_Assign" targetRef="Task_Verify"/>\n' + VERIFY.rstrip("\n"),
    )
    return replace_once(
        text,
        "        <bpmn:flowNodeRef>Task_Process</bpmn:flowNodeRef>\n",
        "        <bpmn:flowNodeRef>Task_Verify</bpmn:flowNodeRef>\n"
        "        <bpmn:flowNodeRef>Task_Process</bpmn:flowNodeRef>\n",
    )


def test_identical_versions_have_no_changes() -> None:
    diff = diff_summary(model(CAO_BANG), model(CAO_BANG))
    assert diff.empty
    assert diff.lines() == []
    assert (diff.total_hours_before, diff.total_hours_after) == (80, 80)


def test_an_added_step_is_listed_with_its_hours_and_raises_the_total() -> None:
    diff = diff_summary(model(CAO_BANG), model(with_verification_step()))
    assert [s.id for s in diff.steps_added] == ["Task_Verify"]
    assert diff.lines() == [
        "Thêm bước “Xác minh thực tế” (16 giờ)",
        "Tổng thời gian được tính theo nhánh dài nhất: 80 giờ → 96 giờ",
    ]


def test_a_removed_step_is_listed_and_lowers_the_total() -> None:
    diff = diff_summary(model(with_verification_step()), model(CAO_BANG))
    assert [s.id for s in diff.steps_removed] == ["Task_Verify"]
    assert diff.steps_added == []
    assert diff.lines() == [
        "Bỏ bước “Xác minh thực tế”",
        "Tổng thời gian được tính theo nhánh dài nhất: 96 giờ → 80 giờ",
    ]


def test_rename_allotment_and_counted_flag_are_changes_of_the_same_step_not_a_new_one() -> None:
    text = replace_once(
        CAO_BANG, PROCESS_OPEN, PROCESS_OPEN.replace("Thẩm định hồ sơ", "Thẩm định, xác minh")
    )
    text = replace_once(text, PROCESS_SLA, '<mc:sla hours="47.5" counted="true"/>')
    text = replace_once(text, RETURN_SLA, RETURN_SLA.replace('counted="false"', 'counted="true"'))
    diff = diff_summary(model(CAO_BANG), model(text))
    assert (diff.steps_added, diff.steps_removed) == ([], [])
    assert [(c.step_id, c.before, c.after) for c in diff.renamed] == [
        ("Task_Process", "Thẩm định hồ sơ", "Thẩm định, xác minh")
    ]
    assert [(c.step_id, c.before, c.after) for c in diff.hours_changed] == [("Task_Process", 56, 47.5)]
    assert [(c.step_id, c.before, c.after) for c in diff.counted_changed] == [("Task_Return", False, True)]
    assert diff.lines() == [
        "Đổi tên bước “Thẩm định hồ sơ” thành “Thẩm định, xác minh”",
        "Bước “Thẩm định, xác minh”: thời gian từ 56 giờ thành 47,5 giờ",
        "Bước “Trả kết quả”: nay được tính vào thời hạn giải quyết",
        "Tổng thời gian được tính theo nhánh dài nhất: 80 giờ → 75,5 giờ",
    ]


def test_a_lane_given_another_agency_and_a_step_moved_to_another_lane_are_listed() -> None:
    text = replace_once(CAO_BANG, '<mc:lane role="clerk"/>', '<mc:lane role="clerk" agency="000.00.01.H40"/>')
    text = replace_once(text, "        <bpmn:flowNodeRef>Task_Issue</bpmn:flowNodeRef>\n", "")
    text = replace_once(
        text,
        "        <bpmn:flowNodeRef>Task_Approve</bpmn:flowNodeRef>\n",
        "        <bpmn:flowNodeRef>Task_Approve</bpmn:flowNodeRef>\n"
        "        <bpmn:flowNodeRef>Task_Issue</bpmn:flowNodeRef>\n",
    )
    # The hand-over moves into the clerk lane, which keeps that lane (and its change) visible.
    text = replace_once(
        text,
        "      </bpmn:lane>\n    </bpmn:laneSet>",
        "        <bpmn:flowNodeRef>Task_Return</bpmn:flowNodeRef>\n      </bpmn:lane>\n    </bpmn:laneSet>",
    )
    text = replace_once(
        text,
        "        <bpmn:flowNodeRef>Task_Return</bpmn:flowNodeRef>\n        <bpmn:flowNodeRef>End_Completed",
        "        <bpmn:flowNodeRef>End_Completed",
    )
    diff = diff_summary(model(CAO_BANG), model(text))
    assert [(c.lane, c.before_agency, c.after_agency) for c in diff.lanes_changed] == [
        ("Văn thư", None, "000.00.01.H40")
    ]
    assert {(c.step_id, c.before, c.after) for c in diff.steps_moved} == {
        ("Task_Issue", "Văn thư", "Lãnh đạo cơ quan"),
        ("Task_Return", "Bộ phận Một cửa", "Văn thư"),
    }
    assert "Làn “Văn thư”: từ Văn thư thành Văn thư, 000.00.01.H40" in diff.lines()
    assert (
        "Bước “Vào số, đóng dấu, phát hành”: chuyển từ làn “Văn thư” (Văn thư) sang làn “Lãnh đạo cơ quan” "
        "(Lãnh đạo cơ quan)" in diff.lines()
    )
    assert diff.total_hours_before == diff.total_hours_after == 80
    assert not any(c.kind == "total_hours_changed" for c in diff.changes)


def test_a_lane_given_another_role_is_one_change_for_the_lane() -> None:
    text = replace_once(CAO_BANG, '<mc:lane role="clerk"/>', '<mc:lane role="leader"/>')
    diff = diff_summary(model(CAO_BANG), model(text))
    assert [(c.lane, c.before_role, c.after_role) for c in diff.lanes_changed] == [
        ("Văn thư", "clerk", "leader")
    ]
    assert diff.lines() == ["Làn “Văn thư”: từ Văn thư thành Lãnh đạo cơ quan"]


def test_decision_outcomes_added_removed_and_relabelled_are_listed_on_their_step() -> None:
    text = replace_once(CAO_BANG, 'name="Phê duyệt, ký số"', 'name="Đồng ý, ký số"')
    text = replace_once(
        text,
        '    <bpmn:sequenceFlow id="Flow_Review_Rework" name="Trả lại xử lý lại" sourceRef="Gateway_Review" '
        'targetRef="Task_Process">\n'
        "      <bpmn:conditionExpression xsi:type=\"bpmn:tFormalExpression\">outcome == 'rework'"
        "</bpmn:conditionExpression>\n    </bpmn:sequenceFlow>\n",
        "",
    )
    text = replace_once(
        text,
        '    <bpmn:sequenceFlow id="Flow_Issue_Return"',
        '    <bpmn:sequenceFlow id="Flow_Approve_Refuse" name="Không phê duyệt" sourceRef="Gateway_Approve" '
        'targetRef="Task_ReturnRefusal">\n'
        "      <bpmn:conditionExpression xsi:type=\"bpmn:tFormalExpression\">outcome == 'refuse'"
        "</bpmn:conditionExpression>\n    </bpmn:sequenceFlow>\n"
        '    <bpmn:sequenceFlow id="Flow_Issue_Return"',
    )
    diff = diff_summary(model(CAO_BANG), model(text))
    assert [(c.step_id, c.outcome) for c in diff.outcomes_added] == [
        ("Task_Approve", Outcome("refuse", "Không phê duyệt"))
    ]
    assert [(c.step_id, c.outcome) for c in diff.outcomes_removed] == [
        ("Task_Review", Outcome("rework", "Trả lại xử lý lại"))
    ]
    assert diff.lines() == [
        "Bước “Xem xét, trình lãnh đạo”: bỏ lựa chọn “Trả lại xử lý lại”",
        "Bước “Phê duyệt”: đổi tên lựa chọn “Phê duyệt, ký số” thành “Đồng ý, ký số”",
        "Bước “Phê duyệt”: thêm lựa chọn “Không phê duyệt”",
    ]


def test_a_not_counted_new_step_says_so() -> None:
    text = with_verification_step().replace(
        '<mc:sla hours="16" counted="true"/>', '<mc:sla hours="2" counted="false"/>'
    )
    diff = diff_summary(model(CAO_BANG), model(text))
    assert diff.lines() == ["Thêm bước “Xác minh thực tế” (2 giờ, không tính vào thời hạn)"]


def test_hours_are_written_the_vietnamese_way() -> None:
    assert [hours_text(h) for h in (16, 0.5, 7.25, None)] == [
        "16 giờ",
        "0,5 giờ",
        "7,25 giờ",
        "chưa đặt thời gian",
    ]
