"""Diagrams drawn in other modelers, as each exports them, on SQLite and PostgreSQL.

Each export below is written in the shape its tool gives it (its namespaces, its own attributes
and elements, colours, diagram interchange): a process owner imports it and gets a draft with
the tool's metadata stripped (one line per namespace), or a list of problems, one line each,
saying what to change. Active content stays refused. Conditions written for other engines get
the expected form and a rewrite; task kinds no officer works are refused with a hint; a second
executable pool and an unknown lane agency are problems; a step's boundary timer is its time.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from engine.catalogue import versions as v
from engine.catalogue.bpmn_check import check_bpmn
from engine.catalogue.bpmn_xml import BPMN_NS
from engine.catalogue.workflow_state import compile_process, new_workflow, ready_user_tasks
from engine.cli import main
from engine.context import Context
from engine.errors import InvalidProcess
from engine.runtime import dossiers as svc
from tests.conftest import Officers, at, open_items
from tests.test_browser import CHROMIUM, page, server  # noqa: F401  (the browser and the app it serves)

CODE = "1.001806"  # 10 working days: 80 hours
OWNER = "sonv.quytrinh"
APPROVER = "vp.pheduyet"
MC = "urn:motcua:bpmn:1"
STANDARD = {
    "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "http://www.omg.org/spec/BPMN/20100524/DI",
    "http://www.omg.org/spec/DD/20100524/DC",
    "http://www.omg.org/spec/DD/20100524/DI",
    "http://www.w3.org/2001/XMLSchema-instance",
    MC,
}
# The steps every export draws: id, name, lane, working hours, the same as an ISO 8601 duration.
STEPS = (
    ("Task_Receive", "Tiếp nhận hồ sơ", "Lane_Desk", 4, "PT4H"),
    ("Task_Process", "Thẩm định hồ sơ", "Lane_Specialist", 16, "PT16H"),
    ("Task_Sign", "Ký duyệt kết quả", "Lane_Head", 8, "P1D"),
    ("Task_Return", "Trả kết quả", "Lane_Desk", 1, "PT1H"),
)
LANES = (("Lane_Desk", "Bộ phận Một cửa", "desk"), ("Lane_Specialist", "Chuyên viên", "specialist"),
         ("Lane_Head", "Trưởng phòng", "head"))  # fmt: skip


@dataclass
class Export:
    """How one modeler writes the same small procedure."""

    modeler: str
    bpmn: str  # the prefix of BPMN elements: "bpmn:", "semantic:", or "" (default namespace)
    namespaces: dict[str, str]  # the tool's own prefixes
    definitions: str = ""  # its attributes on bpmn:definitions
    task_attrs: str = ""  # its attributes on every task
    task_ext: str = ""  # its elements in every task's extensionElements
    lane_ext: str = ""  # its elements in every lane's extensionElements
    shape_attrs: str = ""  # colours on every shape
    roles: bool = True  # the lanes carry the engine's <mc:lane role="..."/>
    allotment: str = "sla"  # "sla" (<mc:sla/>), "timer" (boundary timers) or "both"
    task_tags: dict[str, str] = field(default_factory=dict)  # step id -> another task kind
    names: dict[str, str] = field(default_factory=dict)  # step id -> the name as drawn
    condition: str | None = None  # a decision after Task_Process: the condition of its way on
    lane_agency: str | None = None  # the specialist lane's agency code
    second_pool: bool = False  # a second executable process (the citizen's pool)

    def flows(self) -> list[tuple[str, str, str, str, str | None]]:
        """The sequence flows: id, source, target, name, condition."""
        flows: list[tuple[str, str, str, str, str | None]] = [
            ("Flow_1", "Start_1", "Task_Receive", "", None),
            ("Flow_2", "Task_Receive", "Task_Process", "", None),
        ]
        if self.condition is not None:
            flows += [
                ("Flow_3", "Task_Process", "Gateway_Process", "", None),
                ("Flow_Approve", "Gateway_Process", "Task_Sign", "Đạt", self.condition),
                ("Flow_Rework", "Gateway_Process", "Task_Receive", "Bổ sung", None),
            ]
        else:
            flows.append(("Flow_3", "Task_Process", "Task_Sign", "", None))
        return [
            *flows,
            ("Flow_4", "Task_Sign", "Task_Return", "", None),
            ("Flow_5", "Task_Return", "End_1", "", None),
        ]

    def text(self) -> str:
        """The export as the tool writes it."""
        b = self.bpmn
        declared = "".join(f' xmlns:{p}="{u}"' for p, u in self.namespaces.items())
        own = (
            ' xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"'
            if not b
            else f' xmlns:{b[:-1]}="http://www.omg.org/spec/BPMN/20100524/MODEL"'
        )
        lines = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            f"<{b}definitions{own}"
            ' xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"'
            ' xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" xmlns:di="http://www.omg.org/spec/DD/20100524/DI"'
            f' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:mc="{MC}"{declared}'
            f' id="Definitions_1" targetNamespace="http://bpmn.io/schema/bpmn"{self.definitions}>',
            f'  <{b}collaboration id="Collaboration_1">',
            f'    <{b}participant id="Participant_Office" name="Sở Lao động" processRef="Process_Office"/>',
        ]
        if self.second_pool:
            lines.append(
                f'    <{b}participant id="Participant_Citizen" name="Công dân" processRef="Process_Citizen"/>'
            )
        lines += [
            f"  </{b}collaboration>",
            f'  <{b}process id="Process_Office" name="Công nhận cơ sở" isExecutable="true">',
        ]
        lines.append(f'    <{b}laneSet id="LaneSet_1">')
        members: dict[str, list[str]] = {lane: [] for lane, _, _ in LANES}
        members["Lane_Desk"] += ["Start_1", "End_1"]
        for step_id, _, lane, _, _ in STEPS:
            members[lane].append(step_id)
            if self.allotment in ("timer", "both"):
                members[lane].append(f"Timer_{step_id}")
        if self.condition is not None:
            members["Lane_Specialist"].append("Gateway_Process")
        for lane, name, role in LANES:
            agency = f' agency="{self.lane_agency}"' if self.lane_agency and role == "specialist" else ""
            ext = (f'<mc:lane role="{role}"{agency}/>' if self.roles else "") + self.lane_ext
            lines.append(f'      <{b}lane id="{lane}" name="{name}">')
            if ext:
                lines.append(f"        <{b}extensionElements>{ext}</{b}extensionElements>")
            lines += [f"        <{b}flowNodeRef>{n}</{b}flowNodeRef>" for n in members[lane]]
            lines.append(f"      </{b}lane>")
        lines.append(f"    </{b}laneSet>")
        lines.append(f'    <{b}startEvent id="Start_1" name="Hồ sơ được tiếp nhận"/>')
        # A step lists its flows in and out, as every modeler writes them.
        refs = {
            step_id: "".join(f"<{b}incoming>{f[0]}</{b}incoming>" for f in self.flows() if f[2] == step_id)
            + "".join(f"<{b}outgoing>{f[0]}</{b}outgoing>" for f in self.flows() if f[1] == step_id)
            for step_id, *_ in STEPS
        }
        for step_id, name, _, hours, duration in STEPS:
            tag = self.task_tags.get(step_id, "userTask")
            shown = self.names.get(step_id, name)
            ext = self.task_ext
            if self.allotment in ("sla", "both"):
                ext = f'<mc:sla hours="{hours}" counted="true"/>' + ext
            if step_id == "Task_Return":
                ext = '<mc:step kind="return"/>' + ext
            lines.append(f'    <{b}{tag} id="{step_id}" name="{shown}"{self.task_attrs}>')
            if ext:
                lines.append(f"      <{b}extensionElements>{ext}</{b}extensionElements>")
            lines.append(f"      {refs[step_id]}")
            lines.append(f"    </{b}{tag}>")
            if self.allotment in ("timer", "both"):
                lines += [
                    f'    <{b}boundaryEvent id="Timer_{step_id}" name="Hạn {duration}" cancelActivity="false" '
                    f'attachedToRef="{step_id}">',
                    f'      <{b}timerEventDefinition id="TimerDef_{step_id}">'
                    f'<{b}timeDuration xsi:type="{b}tFormalExpression">{duration}</{b}timeDuration>'
                    f"</{b}timerEventDefinition>",
                    f"    </{b}boundaryEvent>",
                ]
        lines.append(f'    <{b}endEvent id="End_1" name="Đã trả kết quả"/>')
        flows = self.flows()
        if self.condition is not None:
            lines.append(
                f'    <{b}exclusiveGateway id="Gateway_Process" name="Kết quả?" default="Flow_Rework"/>'
            )
        for flow_id, source, target, name, condition in flows:
            named = f' name="{name}"' if name else ""
            if condition is None:
                lines.append(
                    f'    <{b}sequenceFlow id="{flow_id}"{named} sourceRef="{source}" targetRef="{target}"/>'
                )
            else:
                lines += [
                    f'    <{b}sequenceFlow id="{flow_id}"{named} sourceRef="{source}" targetRef="{target}">',
                    f'      <{b}conditionExpression xsi:type="{b}tFormalExpression">{escape(condition)}'
                    f"</{b}conditionExpression>",
                    f"    </{b}sequenceFlow>",
                ]
        lines.append(f"  </{b}process>")
        if self.second_pool:
            lines += [
                f'  <{b}process id="Process_Citizen" name="Công dân" isExecutable="true">',
                f'    <{b}startEvent id="Start_Citizen"/>',
                f'    <{b}sequenceFlow id="Flow_Citizen" sourceRef="Start_Citizen" targetRef="End_Citizen"/>',
                f'    <{b}endEvent id="End_Citizen"/>',
                f"  </{b}process>",
            ]
        lines += [
            '  <bpmndi:BPMNDiagram id="BPMNDiagram_1">',
            '    <bpmndi:BPMNPlane id="Plane_1" bpmnElement="Collaboration_1">',
        ]
        # The pool and its lanes, then the nodes in a row (the pool holds them: y 100 to 340).
        lines += [
            '      <bpmndi:BPMNShape id="Participant_Office_di" bpmnElement="Participant_Office" isHorizontal="true">',
            '        <dc:Bounds x="40" y="60" width="1100" height="300"/>',
            "      </bpmndi:BPMNShape>",
        ]
        for index, (lane, _, _) in enumerate(LANES):
            lines += [
                f'      <bpmndi:BPMNShape id="{lane}_di" bpmnElement="{lane}" isHorizontal="true">',
                f'        <dc:Bounds x="70" y="{60 + index * 100}" width="1070" height="100"/>',
                "      </bpmndi:BPMNShape>",
            ]
        x = 100
        top = {lane: 70 + index * 100 for index, (lane, _, _) in enumerate(LANES)}
        shapes = [("Start_1", "Lane_Desk"), *[(s[0], s[2]) for s in STEPS], ("End_1", "Lane_Desk")]
        for element, lane in shapes:
            lines += [
                f'      <bpmndi:BPMNShape id="{element}_di" bpmnElement="{element}"{self.shape_attrs}>',
                f'        <dc:Bounds x="{x}" y="{top[lane]}" width="100" height="80"/>',
                "      </bpmndi:BPMNShape>",
            ]
            x += 150
        for flow_id, *_ in flows:
            lines += [
                f'      <bpmndi:BPMNEdge id="{flow_id}_di" bpmnElement="{flow_id}">',
                '        <di:waypoint x="0" y="0"/><di:waypoint x="10" y="0"/>',
                "      </bpmndi:BPMNEdge>",
            ]
        lines += ["    </bpmndi:BPMNPlane>", "  </bpmndi:BPMNDiagram>", f"</{b}definitions>", ""]
        return "\n".join(lines)


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


CAMUNDA = Export(
    "Camunda Modeler",
    "bpmn:",
    {
        "camunda": "http://camunda.org/schema/1.0/bpmn",
        "modeler": "http://camunda.org/schema/modeler/1.0",
        "bioc": "http://bpmn.io/schema/bpmn/biocolor/1.0",
        "color": "http://www.omg.org/spec/BPMN/non-normative/color/1.0",
    },
    definitions=' exporter="Camunda Modeler" exporterVersion="5.20.0" modeler:executionPlatform="Camunda Platform"'
    ' modeler:executionPlatformVersion="7.20.0"',
    task_attrs=' camunda:assignee="${officer}" camunda:candidateGroups="mot-cua" camunda:formKey="embedded:app:x.html"',
    task_ext='<camunda:inputOutput><camunda:inputParameter name="ma">${dossier}</camunda:inputParameter>'
    "</camunda:inputOutput>",
    shape_attrs=' bioc:stroke="#1e88e5" bioc:fill="#bbdefb" color:background-color="#bbdefb"'
    ' color:border-color="#1e88e5"',
)
SIGNAVIO = Export(
    "Signavio",
    "",
    {"signavio": "http://www.signavio.com"},
    definitions=' exporter="Signavio Process Editor, http://www.signavio.com" exporterVersion="17.6.0"',
    task_ext='<signavio:signavioMetaData metaKey="bgcolor" metaValue="#ffffcc"/>'
    '<signavio:signavioMetaData metaKey="risklevel" metaValue=""/>',
    lane_ext='<signavio:signavioMetaData metaKey="bgcolor" metaValue=""/>',
    roles=False,
    task_tags={"Task_Process": "task"},
)
BIZAGI = Export(
    "Bizagi Modeler",
    "",
    {"bizagi": "http://www.bizagi.com/bpmn20"},
    definitions=' exporter="Bizagi Modeler" exporterVersion="3.1.0.011"',
    task_ext="<bizagi:BizagiExtensions><bizagi:BizagiProperties>"
    '<bizagi:BizagiProperty name="bgColor" value="#ECEFFF"/><bizagi:BizagiProperty name="borderColor" value="#03689A"/>'
    "</bizagi:BizagiProperties></bizagi:BizagiExtensions>",
    task_tags={"Task_Sign": "manualTask"},
    names={"Task_Process": "Thẩm định&#10;hồ sơ", "Task_Sign": "Ký duyệt&#10;kết quả"},
)
ADONIS = Export(
    "ADONIS",
    "bpmn:",
    {"adonis": "http://www.boc-group.com"},
    definitions=' exporter="ADONIS" exporterVersion="14.0" adonis:modelId="mod.12345"',
    task_attrs=' adonis:objectId="obj.678" adonis:class="Task"',
    task_ext='<adonis:attribute name="Responsible" type="STRING">Chuyên viên</adonis:attribute>',
    shape_attrs=' adonis:fillColor="#ffffff"',
    allotment="timer",
)
TRISOTECH = Export(
    "Trisotech",
    "semantic:",
    {"triso": "http://www.trisotech.com/2015/triso/modeling", "trisofeed": "http://trisotech.com/feed"},
    definitions=' triso:logoChoice="Default" triso:linkToDefinition="true" exporter="Trisotech Workflow Modeler"'
    ' trisofeed:feedId="f-01"',
    task_attrs=' triso:userConstraints="true"',
    task_ext='<triso:style fill="#FFFFFF" stroke="#000000"/>',
    shape_attrs=' triso:fillColor="#ffffff"',
    condition='= outcome = "duyet"',
)
VISUAL_PARADIGM = Export(
    "Visual Paradigm",
    "bpmn2:",
    {"vp": "http://www.visual-paradigm.com"},
    definitions=' exporter="Visual Paradigm" exporterVersion="17.1" vp:projectId="P1"',
    task_attrs=' vp:modelId="m1"',
    shape_attrs=' vp:fillColor="#C0D0E0"',
    task_tags={"Task_Sign": "sendTask"},
)
EXPORTS = [CAMUNDA, SIGNAVIO, BIZAGI, ADONIS, TRISOTECH, VISUAL_PARADIGM]


def check(text: str, **kw) -> object:
    kw.setdefault("legal_hours", 80)
    return check_bpmn(text, filename="export.bpmn", **kw)


def import_draft(ctx: Context, officers: Officers, text: str, filename: str = "export.bpmn") -> v.DraftResult:
    return v.create_draft(
        ctx, CODE, officers[OWNER], text.encode(), at("2026-11-20 09:00"), filename=filename
    )


def approve(ctx: Context, officers: Officers, version_id: int) -> v.VersionSummary:
    v.submit(ctx, version_id, officers[OWNER], at("2026-11-20 10:00"))
    return v.approve(
        ctx,
        version_id,
        officers[APPROVER],
        decision_number="118/QĐ-UBND",
        decision_date=date(2026, 11, 20),
        now=at("2026-11-20 14:00"),
    )


def stored_text(ctx: Context, version_id: int) -> str:
    with ctx.uow() as uow:
        return v.version_xml(uow.session, version_id).text


# ----- each modeler's export -----------------------------------------------------------------


@pytest.mark.parametrize("export", EXPORTS, ids=[e.modeler for e in EXPORTS])
def test_each_modelers_export_is_stored_as_a_draft_without_its_metadata_and_one_line_per_namespace(
    ctx, officers, export: Export
):
    draft = import_draft(ctx, officers, export.text())
    # One summary line per namespace of the tool, naming it; nothing of it is stored.
    assert len(draft.notes) == len(export.namespaces), draft.notes
    for uri in export.namespaces.values():
        [line] = [n for n in draft.notes if f"({uri})" in n or f"mở rộng {uri}:" in n]
        assert line.startswith("Đã bỏ ")
    stored = stored_text(ctx, draft.version_id)
    root = etree.fromstring(stored.encode())
    assert {etree.QName(e).namespace for e in root.iter(etree.Element)} <= STANDARD
    assert all(
        etree.QName(k).namespace in (None, *STANDARD) for e in root.iter(etree.Element) for k in e.attrib
    )
    assert set(root.nsmap.values()) <= STANDARD
    # Every problem left is one line naming what to change.
    for problem in draft.problems:
        assert "\n" not in str(problem)
    # Checked again as stored, it gives the same problems: the lines are those of the stored text.
    again = check_bpmn(stored, filename=f"{CODE}.bpmn", legal_hours=80)
    assert [p.message for p in again.problems] == [p.message for p in draft.problems]
    assert again.notes == []


def test_camunda_export_with_the_engines_lanes_and_allotments_is_valid_once_stripped(ctx, officers):
    draft = import_draft(ctx, officers, CAMUNDA.text())
    assert draft.problems == []
    assert draft.notes == [
        "Đã bỏ 2 thuộc tính của Camunda Modeler (http://camunda.org/schema/modeler/1.0): hệ thống không dùng đến",
        "Đã bỏ 4 phần tử và 12 thuộc tính của Camunda Modeler (http://camunda.org/schema/1.0/bpmn): hệ thống "
        "không dùng đến",
        "Đã bỏ 12 thuộc tính của bpmn.io (màu sắc) (http://bpmn.io/schema/bpmn/biocolor/1.0): hệ thống không "
        "dùng đến",
        "Đã bỏ 12 thuộc tính của BPMN in Color (màu sắc) (http://www.omg.org/spec/BPMN/non-normative/color/1.0): "
        "hệ thống không dùng đến",
    ]
    assert draft.counted_hours == 29
    assert approve(ctx, officers, draft.version_id).status == "active"


def test_signavio_export_is_kept_as_a_draft_with_one_line_per_problem_saying_what_to_change(ctx, officers):
    draft = import_draft(ctx, officers, SIGNAVIO.text())
    shown = [str(p) for p in draft.problems]
    assert shown == [f"export.bpmn:{p.line}: {p.name} ({p.element_id}): {p.message}" for p in draft.problems]
    messages = {(p.element_id, p.message) for p in draft.problems}
    assert (
        "Task_Process",
        "tác vụ chưa có loại (task) không giao được cho cán bộ nào: hồ sơ sẽ dừng mãi ở bước này; hãy đổi "
        "thành User Task (tác vụ người dùng)",
    ) in messages
    for lane, _, _ in LANES:
        assert (lane, f'làn cần có <mc:lane role="..."/> trong extensionElements ({MC})') in messages
    assert draft.notes == ["Đã bỏ 11 phần tử của Signavio (http://www.signavio.com): hệ thống không dùng đến"]


def test_a_name_drawn_on_two_lines_prints_its_problem_on_one(tmp_path: Path):
    path = tmp_path / "bizagi.bpmn"
    path.write_text(BIZAGI.text(), encoding="utf-8")
    result = CliRunner().invoke(main, ["bpmn", "check", "--legal-hours", "80", str(path)])
    assert result.exit_code == 1
    [sign] = [line for line in result.output.splitlines() if "(Task_Sign)" in line]
    assert sign.startswith(f"{path}:")
    assert (
        ": Ký duyệt kết quả (Task_Sign): tác vụ thủ công (manual task) không giao được cho cán bộ nào" in sign
    )
    assert sign.endswith("hãy đổi thành User Task (tác vụ người dùng)")
    assert all(line.startswith(f"{path}:") for line in result.output.splitlines())
    assert "Đã bỏ 4 phần tử của Bizagi Modeler (http://www.bizagi.com/bpmn20)" in result.output


@pytest.mark.parametrize(
    ("tag", "label"),
    [
        ("task", "tác vụ chưa có loại (task)"),
        ("manualTask", "tác vụ thủ công (manual task)"),
        ("sendTask", "tác vụ gửi thông điệp (send task)"),
        ("receiveTask", "tác vụ nhận thông điệp (receive task)"),
        ("businessRuleTask", "tác vụ quy tắc nghiệp vụ (business rule task)"),
    ],
)
def test_a_task_no_officer_works_is_refused_with_the_hint_to_make_it_a_user_task(tag: str, label: str):
    export = Export("bpmn.io", "bpmn:", {}, task_tags={"Task_Process": tag})
    result = check(export.text())
    [problem] = result.problems
    assert problem.element_id == "Task_Process"
    assert label in problem.message
    assert problem.message.endswith("hãy đổi thành User Task (tác vụ người dùng)")
    assert result.storable


def test_a_plain_task_cannot_be_approved(ctx, officers):
    draft = import_draft(
        ctx, officers, Export("bpmn.io", "bpmn:", {}, task_tags={"Task_Sign": "task"}).text()
    )
    with pytest.raises(InvalidProcess) as refused:
        v.submit(ctx, draft.version_id, officers[OWNER], at("2026-11-20 10:00"))
    assert "hãy đổi thành User Task" in refused.value.message


# ----- active content stays refused ----------------------------------------------------------


@pytest.mark.parametrize(
    ("fragment", "message"),
    [
        ('<camunda:script scriptFormat="javascript">alert(1)</camunda:script>', "phần tử <script>"),
        (
            '<camunda:properties><camunda:property name="x" value="javascript:alert(1)"/></camunda:properties>',
            "không được dùng địa chỉ javascript:",
        ),
        ('<camunda:property name="x" onload="alert(1)"/>', "thuộc tính onload không được phép"),
        (
            '<camunda:properties><h:iframe xmlns:h="http://www.w3.org/1999/xhtml" src="x"/></camunda:properties>',
            "phần tử <iframe>",
        ),
        ('<camunda:property name="x" value="&lt;script&gt;alert(1)&lt;/script&gt;"/>', "chứa mã HTML"),
        ("<camunda:doc><div>x</div></camunda:doc>", "phần tử <div> (không có không gian tên) là mã HTML"),
    ],
    ids=["script", "javascript-url", "handler", "iframe", "escaped-script", "html-markup"],
)
def test_active_content_in_an_export_is_still_refused_and_nothing_is_stored(
    ctx, officers, fragment: str, message: str
):
    export = Export(
        "Camunda Modeler", "bpmn:", {"camunda": "http://camunda.org/schema/1.0/bpmn"}, task_ext=fragment
    )
    result = check(export.text())
    assert not result.storable
    assert all(message in p.message for p in result.unsafe), result.unsafe
    assert len(result.unsafe) == len(STEPS)  # one line per task carrying it
    assert result.text is None and result.notes == []
    with pytest.raises(InvalidProcess) as refused:
        import_draft(ctx, officers, export.text())
    assert "chưa có gì được lưu" in refused.value.message
    with ctx.uow() as uow:
        assert [s.number for s in v.versions_of(uow.session, CODE)] == [1]


def test_a_doctype_is_still_refused():
    text = CAMUNDA.text().replace("?>\n", '?>\n<!DOCTYPE x [<!ENTITY e "x">]>\n', 1)
    result = check(text)
    assert not result.storable
    assert "DOCTYPE" in result.problems[0].message


# ----- conditions written for other engines --------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "language", "rewrite"),
    [
        ("${approved}", "JUEL", "outcome == 'approved'"),
        ("${!approved}", "JUEL", "outcome != 'approved'"),
        ("${outcome == 'duyet'}", "JUEL", "outcome == 'duyet'"),
        ('#{outcome eq "duyet"}', "JUEL", "outcome == 'duyet'"),
        (
            "${outcome == 'duyet' && channel == 'online'}",
            "JUEL",
            "outcome == 'duyet' and channel == 'online'",
        ),
        ("= approved", "FEEL", "outcome == 'approved'"),
        ('= outcome = "duyet"', "FEEL", "outcome == 'duyet'"),
        ("${execution.getVariable('x')}", "JUEL", None),
    ],
)
def test_a_condition_for_another_engine_shows_the_expected_form_and_the_rewrite(
    condition: str, language: str, rewrite: str | None
):
    result = check(Export("Camunda Modeler", "bpmn:", {}, condition=condition).text())
    [problem] = result.problems
    assert problem.element_id == "Flow_Approve"
    assert problem.message.startswith(f"điều kiện '{condition}' viết bằng ngôn ngữ {language}")
    assert "là biểu thức như outcome == 'duyet'" in problem.message
    if rewrite is None:
        assert "viết lại thành" not in problem.message
    else:
        assert problem.message.endswith(f"; viết lại thành: {rewrite}")


def test_the_rewrite_offered_is_accepted_as_it_is():
    result = check(Export("Camunda Modeler", "bpmn:", {}, condition="outcome == 'approved'").text())
    assert result.problems == []


def test_a_condition_that_is_not_an_expression_says_the_expected_form_in_vietnamese():
    [problem] = check(Export("x", "bpmn:", {}, condition="approved = yes").text()).problems
    assert problem.message == (
        "điều kiện 'approved = yes' bị từ chối: biểu thức sai cú pháp ở ký tự thứ 10; biểu thức có dạng như "
        "outcome == 'duyet'"
    )


# ----- what SpiffWorkflow says is said in Vietnamese -----------------------------------------

ASCII_WORDS = ("Error", "error", "exception", "Exception", "not found", "must", "invalid", "TypeError")


@pytest.mark.parametrize(
    "breakage",
    [
        # A timer event without any time: SpiffWorkflow's parser raises its own error.
        lambda t: t.replace(
            '<bpmn:startEvent id="Start_1" name="Hồ sơ được tiếp nhận"/>',
            '<bpmn:startEvent id="Start_1" name="Hồ sơ được tiếp nhận"/>'
            '<bpmn:intermediateCatchEvent id="Wait_1" name="Chờ"><bpmn:timerEventDefinition id="T1"/>'
            "</bpmn:intermediateCatchEvent>",
        ).replace(
            '<bpmn:sequenceFlow id="Flow_1" sourceRef="Start_1" targetRef="Task_Receive"/>',
            '<bpmn:sequenceFlow id="Flow_1" sourceRef="Start_1" targetRef="Wait_1"/>'
            '<bpmn:sequenceFlow id="Flow_1b" sourceRef="Wait_1" targetRef="Task_Receive"/>',
        ),
        # A message event naming no message.
        lambda t: t.replace(
            '<bpmn:startEvent id="Start_1" name="Hồ sơ được tiếp nhận"/>',
            '<bpmn:startEvent id="Start_1" name="Hồ sơ được tiếp nhận"/>'
            '<bpmn:intermediateCatchEvent id="Wait_1" name="Chờ thư"><bpmn:messageEventDefinition id="M1" '
            'messageRef="Nowhere"/></bpmn:intermediateCatchEvent>',
        ).replace(
            '<bpmn:sequenceFlow id="Flow_1" sourceRef="Start_1" targetRef="Task_Receive"/>',
            '<bpmn:sequenceFlow id="Flow_1" sourceRef="Start_1" targetRef="Wait_1"/>'
            '<bpmn:sequenceFlow id="Flow_1b" sourceRef="Wait_1" targetRef="Task_Receive"/>',
        ),
    ],
    ids=["timer-without-time", "message-without-definition"],
)
def test_no_spiffworkflow_message_reaches_the_process_owner_raw(breakage):
    text = breakage(Export("bpmn.io", "bpmn:", {}).text())
    result = check(text)
    assert result.problems
    for problem in result.problems:
        assert "\n" not in str(problem)
        assert not any(word in problem.message for word in ASCII_WORDS), problem.message
    assert any(
        p.message.startswith("bộ máy quy trình không nạp được sơ đồ tại phần tử 'Chờ")
        for p in result.problems
    )


def test_a_stored_diagram_spiffworkflow_cannot_load_is_a_vietnamese_invalid_process():
    text = Export("bpmn.io", "bpmn:", {}).text().replace('isExecutable="true"', 'isExecutable="true"', 1)
    broken = text.replace(
        '<bpmn:sequenceFlow id="Flow_1" sourceRef="Start_1" targetRef="Task_Receive"/>',
        '<bpmn:sequenceFlow id="Flow_1" sourceRef="Start_1" targetRef="Task_Receive"/>'
        '<bpmn:sequenceFlow id="Flow_1x" sourceRef="Start_1" targetRef="Nowhere"/>',
    )
    with pytest.raises(InvalidProcess) as refused:
        compile_process(broken)
    assert refused.value.message.startswith(
        "bộ máy quy trình không nạp được sơ đồ tại phần tử 'Hồ sơ được tiếp nhận': mã phần tử bị trùng, hoặc luồng "
        "trỏ tới phần tử không tồn tại"
    )
    assert not any(word in refused.value.message for word in ASCII_WORDS)


# ----- pools, lanes, legal time --------------------------------------------------------------


def test_a_second_executable_pool_is_refused_with_the_reason():
    result = check(Export("bpmn.io", "bpmn:", {}, second_pool=True).text())
    [problem] = result.problems
    assert problem.element_id == "Process_Citizen"
    assert problem.message.startswith("sơ đồ có 2 quy trình thực thi được (Công nhận cơ sở, Công dân); ")
    assert 'isExecutable="false"' in problem.message


def test_a_second_pool_that_is_not_executable_is_accepted():
    text = Export("bpmn.io", "bpmn:", {}, second_pool=True).text()
    text = text.replace('<bpmn:process id="Process_Citizen" name="Công dân" isExecutable="true">',
                        '<bpmn:process id="Process_Citizen" name="Công dân" isExecutable="false">')  # fmt: skip
    assert check(text).problems == []


def test_an_unknown_lane_agency_is_a_problem_against_the_database(ctx, officers):
    draft = import_draft(ctx, officers, Export("bpmn.io", "bpmn:", {}, lane_agency="000.99.99.H99").text())
    [problem] = draft.problems
    assert problem.element_id == "Lane_Specialist"
    assert problem.message.startswith("cơ quan '000.99.99.H99' của làn chưa có trong danh sách cơ quan")
    with pytest.raises(InvalidProcess):
        v.submit(ctx, draft.version_id, officers[OWNER], at("2026-11-20 10:00"))
    known = import_draft(ctx, officers, Export("bpmn.io", "bpmn:", {}, lane_agency="000.00.12.H40").text())
    assert known.problems == []


def test_the_cli_check_without_a_database_says_it_could_not_verify_the_lane_agency(tmp_path: Path):
    path = tmp_path / "lane.bpmn"
    path.write_text(Export("bpmn.io", "bpmn:", {}, lane_agency="000.99.99.H99").text(), encoding="utf-8")
    result = CliRunner().invoke(main, ["bpmn", "check", "--legal-hours", "80", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"{path}: không kiểm tra được mã cơ quan của các làn (000.99.99.H99): không có danh sách cơ quan "
        "(kiểm tra lại khi nhập vào hệ thống)",
        f"{path}: ok, 4 steps, 29 of 80 counted hours",
    ]


def test_the_cli_check_of_a_file_outside_the_catalogue_says_the_legal_time_was_not_checked(tmp_path: Path):
    path = tmp_path / "new.bpmn"
    path.write_text(Export("bpmn.io", "bpmn:", {}).text(), encoding="utf-8")
    result = CliRunner().invoke(main, ["bpmn", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"{path}: không kiểm tra được tổng thời gian: chưa biết thủ tục (hãy chỉ rõ --procedure)",
        f"{path}: ok, 4 steps, 29 counted hours",
    ]


def test_the_cli_check_with_a_procedure_applies_its_legal_time_and_its_agencies(
    ctx, tmp_path: Path, monkeypatch
):
    monkeypatch.setenv("MOTCUA_DATABASE_URL", ctx.settings.database_url)
    path = tmp_path / "long.bpmn"
    text = Export("bpmn.io", "bpmn:", {}, lane_agency="000.99.99.H99").text()
    path.write_text(text.replace('<mc:sla hours="16"', '<mc:sla hours="70"'), encoding="utf-8")
    result = CliRunner().invoke(main, ["bpmn", "check", "--procedure", CODE, str(path)])
    assert result.exit_code == 1, result.output
    [over, lane] = result.output.splitlines()
    assert f"{path}:" in over and f"{path}:" in lane
    assert "cơ quan '000.99.99.H99' của làn chưa có trong danh sách cơ quan" in lane
    assert (
        "tổng thời gian được tính dọc theo nhánh dài nhất là 83 giờ làm việc, vượt thời hạn giải quyết 80 giờ"
        in over
    )


# ----- a step's time the standard way: boundary timers ---------------------------------------


def test_boundary_timers_are_read_as_the_steps_working_hours():
    result = check(ADONIS.text())
    assert result.problems == []
    assert {s.id: s.hours for s in result.model.steps.values()} == {
        "Task_Receive": 4,
        "Task_Process": 16,  # PT16H
        "Task_Sign": 8,  # P1D: one working day
        "Task_Return": 1,
    }
    two_days = check(ADONIS.text().replace(">P1D<", ">P2D<"))
    assert two_days.model.steps["Task_Sign"].hours == 16
    half_hour = check(ADONIS.text().replace(">PT1H<", ">PT30M<"))
    assert half_hour.model.steps["Task_Return"].hours == 0.5


def test_a_timer_and_an_mc_sla_that_disagree_are_a_problem():
    text = Export("bpmn.io", "bpmn:", {}, allotment="both").text()
    assert check(text).problems == []
    [problem] = check(text.replace(">PT16H<", ">P3D<")).problems
    assert problem.element_id == "Task_Process"
    assert problem.message == (
        "bước có hai thời gian được giao khác nhau: <mc:sla hours=\"16\"/> và sự kiện hẹn giờ 'P3D' (24 giờ làm "
        "việc); hãy giữ một"
    )


@pytest.mark.parametrize("duration", ["P1M", "PT", "tomorrow"])
def test_a_timer_that_is_not_a_working_duration_is_a_problem(duration: str):
    [problem] = check(ADONIS.text().replace(">PT16H<", f">{duration}<")).problems
    assert problem.element_id == "Timer_Task_Process"
    assert problem.message.startswith(f"thời lượng '{duration}' của sự kiện hẹn giờ trên bước phải là")


def test_a_step_timer_that_would_take_its_own_branch_is_a_problem():
    text = ADONIS.text().replace(
        '<bpmn:endEvent id="End_1" name="Đã trả kết quả"/>',
        '<bpmn:endEvent id="End_1" name="Đã trả kết quả"/><bpmn:endEvent id="End_Late" name="Quá hạn"/>'
        '<bpmn:sequenceFlow id="Flow_Late" sourceRef="Timer_Task_Process" targetRef="End_Late"/>',
    )
    [problem] = check(text).problems
    assert problem.element_id == "Timer_Task_Process"
    assert "hãy xóa luồng đi ra từ sự kiện này" in problem.message


def test_spiffworkflow_never_runs_a_step_timer():
    compiled = compile_process(ADONIS.text())
    assert not any("Timer" in name for name in compiled.spec.task_specs)
    workflow = new_workflow(compiled)
    [task] = ready_user_tasks(workflow)
    assert task.task_spec.bpmn_id == "Task_Receive"
    # Nothing is waiting on a clock: the step stays with the officer however late it is.
    assert [t for t in workflow.get_tasks() if "Timer" in str(t.task_spec.name)] == []


def test_a_dossier_on_a_diagram_with_timers_gets_each_steps_due_time_from_them(ctx, officers):
    draft = import_draft(ctx, officers, ADONIS.text())
    assert draft.problems == []
    assert approve(ctx, officers, draft.version_id).status == "active"
    received = at("2026-11-23 08:00")
    receipt = svc.receive_dossier(
        ctx,
        procedure_code=CODE,
        applicant=svc.Applicant(name="Trần Thị Bình", id_number="001203004006", phone="0912345679"),
        channel="in_person",
        officer_id=officers["sonv.motcua"],
        now=received,
    )
    [first] = open_items(ctx, receipt.dossier_id)
    assert (first.task_id, float(first.allotted_hours)) == ("Task_Receive", 4)
    assert first.due_at == ctx.calendar.add_working_hours(received, 4)
    done = at("2026-11-23 10:00")
    svc.complete(ctx, first.id, officers["sonv.motcua"], now=done)
    [second] = open_items(ctx, receipt.dossier_id)
    assert (second.task_id, float(second.allotted_hours)) == ("Task_Process", 16)  # PT16H
    assert second.due_at == ctx.calendar.add_working_hours(done, 16)
    svc.complete(ctx, second.id, officers["sonv.chuyenvien1"], now=at("2026-11-24 09:00"))
    [third] = open_items(ctx, receipt.dossier_id)
    assert (third.task_id, float(third.allotted_hours)) == ("Task_Sign", 8)  # P1D
    assert third.due_at == ctx.calendar.add_working_hours(at("2026-11-24 09:00"), 8)


def test_bpmn_namespace_is_what_the_exports_use():
    # The exports above write BPMN under three prefixes and as the default namespace.
    for export in EXPORTS:
        root = etree.fromstring(export.text().encode())
        assert etree.QName(root).namespace == BPMN_NS


# ----- the editor offers the change to a User Task -------------------------------------------


@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="Debian's chromium is installed by `make test`")
def test_the_editor_changes_a_plain_task_into_a_user_task_and_undo_restores_it(page, backend, app):  # noqa: F811
    from playwright.sync_api import expect
    from sqlalchemy import select

    from models import Officer
    from tests.test_browser import shot, sign_in

    ctx = app.extensions["motcua"]
    with ctx.uow() as uow:
        owner = uow.session.scalar(select(Officer.id).where(Officer.username == OWNER))
    text = Export("bpmn.io", "bpmn:", {}, task_tags={"Task_Process": "task"}).text()
    draft = v.create_draft(ctx, CODE, owner, text.encode(), at("2026-11-20 09:00"), filename="export.bpmn")
    [problem] = draft.problems
    assert problem.element_id == "Task_Process"

    sign_in(page, OWNER)
    page.goto(f"/quy-trinh/phien-ban/{draft.version_id}/sua")
    page.wait_for_selector("#canvas[data-ready=true]")
    expect(page.locator("#problem-count")).to_have_text("1")
    page.locator('[data-element-id="Task_Process"]').first.click()
    expect(page.locator("#panel .alert")).to_contain_text("không giao bước này cho cán bộ nào")
    shot(page, "modelers-plain-task", backend)
    page.get_by_role("button", name="Đổi thành User Task").click()
    expect(page.locator("#problem-count")).to_have_text("0")
    kind = "() => window.motcuaEditor.modeler.get('elementRegistry').get('Task_Process').type"
    assert page.evaluate(kind) == "bpmn:UserTask"
    # The step keeps its allotment and its lane: the side form of a user task shows them.
    assert page.input_value("#f-hours") == "16"
    expect(page.locator("#panel")).to_contain_text("Làn “Chuyên viên”")
    shot(page, "modelers-user-task", backend)
    page.click("#undo")
    assert page.evaluate(kind) == "bpmn:Task"
    expect(page.locator("#problem-count")).to_have_text("1")
