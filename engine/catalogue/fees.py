"""A procedure's fees and charges (phí, lệ phí) as data: what is due, in đồng, and who is exempt."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from engine.errors import InvalidInput


@dataclass(frozen=True)
class FeeLine:
    """One fee or charge of a procedure: its name, its amount in đồng and who is exempt from it."""

    name: str
    amount: int
    exempt: str = ""

    def as_data(self) -> dict[str, object]:
        """The line as stored in `Procedure.fees`."""
        return {"name": self.name, "amount": self.amount, "exempt": self.exempt}


def fee_lines(stored: Iterable[Mapping[str, object]] | None) -> list[FeeLine]:
    """The lines stored in `Procedure.fees`, in their order."""
    lines = []
    for line in stored or []:
        amount = line.get("amount", 0)
        lines.append(
            FeeLine(
                str(line.get("name", "")),
                amount if isinstance(amount, int) else 0,
                str(line.get("exempt", "") or ""),
            )
        )
    return lines


def total_due(stored: Iterable[Mapping[str, object]] | None) -> int:
    """What an applicant who is exempt from nothing pays, in đồng."""
    return sum(line.amount for line in fee_lines(stored))


def parse_fee_lines(raw: Iterable[Mapping[str, object]], where: str = "") -> list[FeeLine]:
    """Fee lines typed by a person or read from a file, every bad one named at once."""
    lines: list[FeeLine] = []
    problems: list[str] = []
    for number, line in enumerate(raw, start=1):
        name = str(line.get("name", "") or "").strip()
        amount = line.get("amount", 0)
        if isinstance(amount, str):
            digits = amount.replace(".", "").replace(",", "").replace(" ", "").removesuffix("đồng").strip()
            amount = int(digits) if digits.isdigit() else None
        if not name:
            problems.append(f"dòng phí {number}: thiếu tên khoản phí, lệ phí")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
            problems.append(f"dòng phí {number}: số tiền phải là số nguyên không âm (đồng)")
            continue
        lines.append(FeeLine(name, amount, str(line.get("exempt", "") or "").strip()))
    if problems:
        raise InvalidInput(f"{where}{'; '.join(problems)}")
    return lines


def format_vnd(amount: int) -> str:
    """An amount as Vietnamese documents write it: `1.250.000 đồng`."""
    return f"{amount:,}".replace(",", ".") + " đồng"
