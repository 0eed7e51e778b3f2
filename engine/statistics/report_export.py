"""Biểu 06/VPCP/KSTT as an XLSX workbook (openpyxl, merged two-row header), as CSV and as a text table.

Each carries the moment its numbers are judged at (the end of a closed period, or now).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import BinaryIO, TextIO

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter

from engine.statistics.reports import COLUMNS, GROUPING_LABELS, Report, ReportRow

FORM_NAME = "Biểu số 06/VPCP/KSTT"
TITLE = "TÌNH HÌNH, KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH"
HEADER_ROW = 8  # the first of the two header rows
FIRST_DATA_ROW = HEADER_ROW + 3  # after the two header rows and the column-number row
FIRST_NUMBER_COLUMN = 3  # A: STT, B: the row's field / level / agency

_THIN = Side(style="thin")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)
_BOLD = Font(bold=True)


def _header_groups() -> list[tuple[str, int, int]]:
    """(first-row heading, first column, last column) for each run of columns of one group."""
    groups: list[tuple[str, int, int]] = []
    for offset, column in enumerate(COLUMNS):
        index = FIRST_NUMBER_COLUMN + offset
        if groups and groups[-1][0] == column.group:
            groups[-1] = (column.group, groups[-1][1], index)
        else:
            groups.append((column.group, index, index))
    return groups


def build_workbook(report: Report) -> Workbook:
    """The report in the Biểu 06 layout: title, agency, period, moment, merged header, rows, total."""
    book = Workbook()
    sheet = book.active
    sheet.title = "Biểu 06"
    last = FIRST_NUMBER_COLUMN + len(COLUMNS) - 1
    last_letter = get_column_letter(last)
    sheet["A1"] = FORM_NAME
    sheet["A1"].font = Font(italic=True)
    for row, text, font in (
        (2, TITLE, Font(bold=True, size=13)),
        (3, f"Đơn vị báo cáo: {report.agency_name}", _BOLD),
        (4, f"Kỳ báo cáo: {report.period.title} ({report.period.label})", None),
        (5, report.as_of_title, None),
        (6, "Đơn vị tính: hồ sơ", Font(italic=True)),
    ):
        sheet.merge_cells(f"A{row}:{last_letter}{row}")
        cell = sheet.cell(row=row, column=1, value=text)
        cell.alignment = Alignment(horizontal="center")
        if font is not None:
            cell.font = font

    top, bottom = HEADER_ROW, HEADER_ROW + 1
    for col, text in ((1, "STT"), (2, GROUPING_LABELS[report.group_by])):
        sheet.merge_cells(start_row=top, start_column=col, end_row=bottom, end_column=col)
        sheet.cell(row=top, column=col, value=text)
    for heading, first, last_col in _header_groups():
        if first == last_col:
            sheet.merge_cells(start_row=top, start_column=first, end_row=bottom, end_column=first)
        else:
            sheet.merge_cells(start_row=top, start_column=first, end_row=top, end_column=last_col)
            for offset in range(first, last_col + 1):
                sheet.cell(row=bottom, column=offset, value=COLUMNS[offset - FIRST_NUMBER_COLUMN].label)
        sheet.cell(row=top, column=first, value=heading)
    for col in range(1, last + 1):
        sheet.cell(row=bottom + 1, column=col, value=f"({col})")
        for row in (top, bottom, bottom + 1):
            cell = sheet.cell(row=row, column=col)
            cell.alignment = _CENTER
            cell.border = _BOX
            cell.font = _BOLD if row != bottom + 1 else Font(italic=True)

    row_index = FIRST_DATA_ROW
    for number, report_row in enumerate(report.rows, start=1):
        _write_row(sheet, row_index, str(number), report_row, bold=False)
        row_index += 1
    _write_row(sheet, row_index, "", report.total, bold=True)

    sheet.column_dimensions["A"].width = 6
    sheet.column_dimensions["B"].width = 36
    for col in range(FIRST_NUMBER_COLUMN, last + 1):
        sheet.column_dimensions[get_column_letter(col)].width = 12
    sheet.row_dimensions[top].height = 32
    sheet.row_dimensions[bottom].height = 45
    sheet.freeze_panes = sheet.cell(row=FIRST_DATA_ROW, column=FIRST_NUMBER_COLUMN)
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth = 1
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    return book


def _write_row(sheet, row: int, number: str, report_row: ReportRow, *, bold: bool) -> None:  # type: ignore[no-untyped-def]
    values = [number, report_row.label, *(report_row.counts[c.key] for c in COLUMNS)]
    for col, value in enumerate(values, start=1):
        cell = sheet.cell(row=row, column=col, value=value)
        cell.border = _BOX
        if bold:
            cell.font = _BOLD
        if col != 2:
            cell.alignment = Alignment(horizontal="center" if col == 1 else "right")


def write_xlsx(report: Report, target: str | Path | BinaryIO) -> None:
    """Write the report as an XLSX workbook to a path or a binary stream."""
    build_workbook(report).save(target)


def xlsx_bytes(report: Report) -> bytes:
    """The XLSX workbook as bytes (for a download)."""
    buffer = io.BytesIO()
    write_xlsx(report, buffer)
    return buffer.getvalue()


def csv_header(report: Report) -> list[str]:
    """The CSV header: STT, the grouping, then 'group - column' for each Biểu 06 column."""
    names = [c.label if c.label == c.group else f"{c.group} - {c.label}" for c in COLUMNS]
    return ["STT", GROUPING_LABELS[report.group_by], *names]


def write_csv(report: Report, target: TextIO) -> None:
    """Write the report as CSV with the same columns and rows as the workbook."""
    writer = csv.writer(target)
    writer.writerow(csv_header(report))
    for number, row in enumerate(report.rows, start=1):
        writer.writerow([number, row.label, *(row.counts[c.key] for c in COLUMNS)])
    writer.writerow(["", report.total.label, *(report.total.counts[c.key] for c in COLUMNS)])


def csv_text(report: Report) -> str:
    """The CSV as text."""
    buffer = io.StringIO(newline="")
    write_csv(report, buffer)
    return buffer.getvalue()


SHORT_LABELS = {
    "received_total": "Tiếp nhận",
    "received_online": "Tr.tuyến",
    "received_in_person": "Tr.tiếp/BC",
    "received_carried": "Kỳ trước",
    "resolved_total": "Đã GQ",
    "resolved_early": "Trước hạn",
    "resolved_on_time": "Đúng hạn",
    "resolved_late": "Quá hạn",
    "resolved_late_letter": "QH có XL",
    "resolved_late_no_letter": "QH không XL",
    "in_progress_total": "Đang GQ",
    "in_progress_not_due": "Chưa đến",
    "in_progress_overdue": "Quá hạn",
    "refused": "Từ chối",
    "withdrawn": "Rút HS",
    "supplement": "Chờ BS",
}


def format_table(report: Report) -> str:
    """The report as a plain-text table for the terminal."""
    label_width = max(
        [len(r.label) for r in [*report.rows, report.total]] + [len(GROUPING_LABELS[report.group_by])]
    )
    label_width = min(label_width, 40)
    widths = [max(len(SHORT_LABELS[c.key]), 6) for c in COLUMNS]
    lines = [
        f"{TITLE}",
        f"Đơn vị báo cáo: {report.agency_name}",
        f"Kỳ báo cáo: {report.period.title} ({report.period.label})",
        report.as_of_title,
        "",
        " ".join(
            [GROUPING_LABELS[report.group_by][:label_width].ljust(label_width)]
            + [SHORT_LABELS[c.key].rjust(w) for c, w in zip(COLUMNS, widths, strict=True)]
        ),
    ]
    for row in [*report.rows, report.total]:
        lines.append(
            " ".join(
                [row.label[:label_width].ljust(label_width)]
                + [str(row.counts[c.key]).rjust(w) for c, w in zip(COLUMNS, widths, strict=True)]
            )
        )
    return "\n".join(lines)
