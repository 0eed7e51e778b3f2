"""The procedure catalogue file (`workflows/bpmn/catalogue.toml`): its one reader.

The loader, `motcua bpmn check`, `bpmn export` and `bpmn import` all read it through here.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from engine.errors import InvalidInput
from models.catalogue import RECEIVING_AGENCY_LEVELS, legal_budget_hours


def catalogue_path(workflows_dir: str | Path) -> Path:
    """Where the catalogue of a workflows folder lives."""
    return Path(workflows_dir) / "bpmn" / "catalogue.toml"


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file as a dict; a missing or malformed file is a named InvalidInput."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise InvalidInput(f"{path.name}: không tìm thấy tệp") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path.name}: tệp TOML không hợp lệ: {exc}") from exc


def catalogue_entries(path: Path) -> list[dict[str, Any]]:
    """The procedure entries of a catalogue; none when the file does not exist."""
    if not path.exists():
        return []
    return list(read_toml(path).get("procedure", []))


def catalogue_file_names(catalogue: Path) -> dict[str, str]:
    """BPMN file name per procedure code, as the catalogue names them (empty without a catalogue)."""
    return {entry["code"]: entry["bpmn"] for entry in catalogue_entries(catalogue) if "bpmn" in entry}


def catalogue_budgets(catalogue: Path, hours_per_day: int) -> dict[str, float]:
    """Legal hours per BPMN file name, read from the catalogue next to the files."""
    budgets: dict[str, float] = {}
    for entry in catalogue_entries(catalogue):
        legal = entry.get("legal_time") or {}
        if "bpmn" in entry and "value" in legal:
            budgets[entry["bpmn"]] = legal_budget_hours(float(legal["value"]), legal["unit"], hours_per_day)
    return budgets


def receiving_of(entry: dict[str, Any], file_name: str) -> tuple[str, list[str]]:
    """Who receives an entry's dossiers: its receiving level (default: its own level) and the agency
    codes that alone may receive it (default: every agency of that level); a bad value names the entry."""
    code = entry.get("code", "?")
    level = entry.get("receiving_level", entry.get("level"))
    if level not in RECEIVING_AGENCY_LEVELS:
        raise InvalidInput(
            f"{file_name}: thủ tục {code}: cấp tiếp nhận (receiving_level) {level!r} không hợp lệ; "
            f"chọn một trong: {', '.join(RECEIVING_AGENCY_LEVELS)}"
        )
    agencies = entry.get("receiving_agencies", [])
    if not isinstance(agencies, list) or not all(isinstance(a, str) and a.strip() for a in agencies):
        raise InvalidInput(
            f"{file_name}: thủ tục {code}: receiving_agencies phải là danh sách mã cơ quan tiếp nhận"
        )
    return level, [a.strip() for a in agencies]
