"""What changed between two versions of an internal procedure, as the approver reads it.

Steps are matched by their BPMN id, so a renamed step is a rename, not a removal and an addition.
Lanes are matched by name: a lane whose role or agency changed is one change, a step that moved
to another lane is another. Every change has a one-line Vietnamese rendering for the catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.catalogue.procedure_model import STEP_ROLES, Outcome, ProcedureModel, Step


def hours_text(hours: float | None) -> str:
    """Working hours the way Vietnamese officers write them: '16 giờ', '0,5 giờ'."""
    if hours is None:
        return "chưa đặt thời gian"
    return f"{hours:g}".replace(".", ",") + " giờ"


def _quoted(text: str) -> str:
    return f"“{text}”"


def _lane_text(role: str | None, agency: str | None) -> str:
    role_text = STEP_ROLES.get(role or "", role or "chưa có vai trò")
    return f"{role_text}, {agency}" if agency else role_text


@dataclass(frozen=True)
class Change:
    """One difference between two versions; `text` is what the catalogue and the approver see."""

    kind: str
    text: str
    step_id: str | None = None
    before: object = None
    after: object = None


@dataclass(frozen=True)
class ValueChange:
    """A step whose attribute changed from one value to another."""

    step_id: str
    step_name: str
    before: object
    after: object


@dataclass(frozen=True)
class LaneChange:
    """A lane (by name) whose role or agency changed; role and agency None mean unset."""

    lane: str
    before_role: str | None
    before_agency: str | None
    after_role: str | None
    after_agency: str | None


@dataclass(frozen=True)
class OutcomeChange:
    """A choice at the end of a step that was added or removed."""

    step_id: str
    step_name: str
    outcome: Outcome


@dataclass
class VersionDiff:
    """Everything that changed from an old procedure model to a new one."""

    steps_added: list[Step] = field(default_factory=list)
    steps_removed: list[Step] = field(default_factory=list)
    renamed: list[ValueChange] = field(default_factory=list)
    hours_changed: list[ValueChange] = field(default_factory=list)
    counted_changed: list[ValueChange] = field(default_factory=list)
    lanes_changed: list[LaneChange] = field(default_factory=list)
    steps_moved: list[ValueChange] = field(default_factory=list)
    outcomes_added: list[OutcomeChange] = field(default_factory=list)
    outcomes_removed: list[OutcomeChange] = field(default_factory=list)
    outcomes_relabelled: list[ValueChange] = field(default_factory=list)
    total_hours_before: float = 0.0
    total_hours_after: float = 0.0
    changes: list[Change] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Nothing the summary reports changed."""
        return not self.changes

    def lines(self) -> list[str]:
        """The Vietnamese one-liners, in the order the catalogue shows them."""
        return [c.text for c in self.changes]


def _step_added_text(step: Step) -> str:
    counted = "" if step.counted else ", không tính vào thời hạn"
    return f"Thêm bước {_quoted(step.name)} ({hours_text(step.hours)}{counted})"


def _lanes(model: ProcedureModel) -> dict[str, tuple[str | None, str | None]]:
    lanes: dict[str, tuple[str | None, str | None]] = {}
    for step in model.steps.values():
        if step.lane is not None:
            lanes.setdefault(step.lane, (step.role, step.agency_code))
    return lanes


def diff_summary(old_model: ProcedureModel, new_model: ProcedureModel) -> VersionDiff:
    """Compare two procedure models: steps, allotments, counted flags, lanes, outcomes, total hours."""
    old, new = old_model.steps, new_model.steps
    diff = VersionDiff(
        total_hours_before=old_model.longest_counted_hours, total_hours_after=new_model.longest_counted_hours
    )
    add = diff.changes.append
    for step in new.values():
        if step.id not in old:
            diff.steps_added.append(step)
            add(Change("step_added", _step_added_text(step), step.id, None, step.hours))
    for step in old.values():
        if step.id not in new:
            diff.steps_removed.append(step)
            add(Change("step_removed", f"Bỏ bước {_quoted(step.name)}", step.id, step.hours, None))
    both = [(old[i], s) for i, s in new.items() if i in old]
    for before, after in both:
        if before.name != after.name:
            diff.renamed.append(ValueChange(after.id, after.name, before.name, after.name))
            text = f"Đổi tên bước {_quoted(before.name)} thành {_quoted(after.name)}"
            add(Change("step_renamed", text, after.id, before.name, after.name))
    for before, after in both:
        if before.hours != after.hours:
            diff.hours_changed.append(ValueChange(after.id, after.name, before.hours, after.hours))
            text = (
                f"Bước {_quoted(after.name)}: thời gian từ {hours_text(before.hours)} "
                f"thành {hours_text(after.hours)}"
            )
            add(Change("hours_changed", text, after.id, before.hours, after.hours))
    for before, after in both:
        if before.counted != after.counted:
            diff.counted_changed.append(ValueChange(after.id, after.name, before.counted, after.counted))
            what = "nay được tính" if after.counted else "không còn tính"
            text = f"Bước {_quoted(after.name)}: {what} vào thời hạn giải quyết"
            add(Change("counted_changed", text, after.id, before.counted, after.counted))
    old_lanes, new_lanes = _lanes(old_model), _lanes(new_model)
    for lane, (role, agency) in new_lanes.items():
        if lane in old_lanes and old_lanes[lane] != (role, agency):
            before_role, before_agency = old_lanes[lane]
            diff.lanes_changed.append(LaneChange(lane, before_role, before_agency, role, agency))
            text = (
                f"Làn {_quoted(lane)}: từ {_lane_text(before_role, before_agency)} "
                f"thành {_lane_text(role, agency)}"
            )
            add(Change("lane_changed", text, None, old_lanes[lane], (role, agency)))
    for before, after in both:
        if before.lane != after.lane:
            diff.steps_moved.append(ValueChange(after.id, after.name, before.lane, after.lane))
            text = (
                f"Bước {_quoted(after.name)}: chuyển từ làn {_quoted(before.lane or 'không có làn')} "
                f"({_lane_text(before.role, before.agency_code)}) sang làn "
                f"{_quoted(after.lane or 'không có làn')} ({_lane_text(after.role, after.agency_code)})"
            )
            add(Change("step_moved", text, after.id, before.lane, after.lane))
    for before, after in both:
        old_outcomes = {o.value: o for o in before.outcomes}
        new_outcomes = {o.value: o for o in after.outcomes}
        for value, outcome in new_outcomes.items():
            if value not in old_outcomes:
                diff.outcomes_added.append(OutcomeChange(after.id, after.name, outcome))
                text = f"Bước {_quoted(after.name)}: thêm lựa chọn {_quoted(outcome.label)}"
                add(Change("outcome_added", text, after.id, None, outcome))
            elif old_outcomes[value].label != outcome.label:
                label_before = old_outcomes[value].label
                diff.outcomes_relabelled.append(
                    ValueChange(after.id, after.name, label_before, outcome.label)
                )
                text = (
                    f"Bước {_quoted(after.name)}: đổi tên lựa chọn {_quoted(label_before)} "
                    f"thành {_quoted(outcome.label)}"
                )
                add(Change("outcome_relabelled", text, after.id, label_before, outcome.label))
        for value, outcome in old_outcomes.items():
            if value not in new_outcomes:
                diff.outcomes_removed.append(OutcomeChange(after.id, after.name, outcome))
                text = f"Bước {_quoted(after.name)}: bỏ lựa chọn {_quoted(outcome.label)}"
                add(Change("outcome_removed", text, after.id, outcome, None))
    if abs(diff.total_hours_before - diff.total_hours_after) > 1e-9:
        text = (
            "Tổng thời gian được tính theo nhánh dài nhất: "
            f"{hours_text(diff.total_hours_before)} → {hours_text(diff.total_hours_after)}"
        )
        add(Change("total_hours_changed", text, None, diff.total_hours_before, diff.total_hours_after))
    return diff
