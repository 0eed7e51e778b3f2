"""One input guard in front of every view: what the database cannot hold never reaches it.

Before any view runs, `check_request` reads every string the request brings (path values, query and
form fields with their names, file names) and refuses, with a Vietnamese message naming the field:

- a character no column can hold (NUL, other control characters, lone surrogates), as the engine's
  text guard defines it (`engine.runtime.dossiers.unsafe_character`);
- a value longer than any field of the site needs, or a hidden field longer than its column;
- a field the views read as an integer that is not one, or is beyond the database's integer;
- a date typed in a form outside the years reports cover (`engine.statistics.periods`).

An id in a path is bounded by the `int` converter: an id beyond the database's integer names nothing,
so no route matches and the answer is 404. The JSON API validates its query and body against its
declared models (web/api_spec.py), whose strings pass `check_value` too. The engine checks again
where it takes a value (`check_text`, `parse_period`), for the CLI and the tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from flask import Flask, request
from werkzeug.routing import IntegerConverter, Map

from engine.errors import InvalidInput, NotFound
from engine.runtime.dossiers import TEXT_LIMITS, unsafe_character
from engine.statistics.periods import FIRST_YEAR, LAST_YEAR
from web.api_schemas import MAX_ID

# No query value of the site is longer (a search, a period, a code, a return path); a form's longest
# field is the checklist of missing documents, 50 lines of at most 1,000 characters.
QUERY_VALUE_LIMIT = 1_000
FORM_VALUE_LIMIT = 50_000
FIELD_NAME_LIMIT = 100
# Hidden fields the page fills in: nobody types them, so a wrong one is answered here, not beside a box.
HIDDEN_FIELD_LIMITS = {"submission_key": TEXT_LIMITS["submission_key"]}
# Query and form fields the pages read as integers (the API declares its own).
INTEGER_FIELDS = ("page", "procedure", "to", "assign_to", "item", "id")
# Dates typed in a form, as YYYY-MM-DD.
DATE_FIELDS = ("decision_date", "new_due_date")
YEAR = re.compile(r"^\s*(\d{4})-")
DIGITS = re.compile(r"^[0-9]+$")
LABELS = {
    "q": "Tìm kiếm",
    "period": "Kỳ báo cáo",
    "agency": "Cơ quan",
    "page": "Trang",
    "procedure": "Thủ tục",
    "procedure_code": "Thủ tục",
    "username": "Tên đăng nhập",
    "password": "Mật khẩu",
    "ma": "Mã hồ sơ",
    "code": "Mã hồ sơ",
    "last4": "4 số cuối",
    "applicant_name": "Họ tên người nộp",
    "applicant_id_number": "Số định danh cá nhân",
    "applicant_phone": "Số điện thoại",
    "applicant_email": "Thư điện tử",
    "applicant_address": "Địa chỉ",
    "documents": "Thành phần hồ sơ",
    "missing": "Giấy tờ cần bổ sung",
    "reason": "Lý do",
    "late_reason": "Lý do chậm",
    "refusal_reason": "Lý do từ chối",
    "comment": "Ý kiến xử lý",
    "note": "Ghi chú",
    "collected_by": "Người nhận kết quả",
    "postal_item_number": "Số hiệu bưu gửi",
    "item_number": "Số hiệu bưu gửi",
    "postal_carrier": "Doanh nghiệp bưu chính",
    "delivery_address": "Địa chỉ nhận kết quả qua bưu chính",
    "submission_key": "Mã gửi biểu mẫu",
    "to": "Cán bộ nhận bàn giao",
    "assign_to": "Giao cho",
    "item": "Hồ sơ được chọn",
    "id": "Mục được chọn",
    "decision_number": "Số quyết định",
    "decision_date": "Ngày ký quyết định",
    "new_due_date": "Ngày hẹn mới",
    "new_due_time": "Giờ hẹn mới",
    "files": "Tệp đính kèm",
    "file": "Tệp",
}


class DatabaseInt(IntegerConverter):
    """`<int:...>` in every route: a non-negative integer the database's 32-bit integer holds.

    A larger one names no row, so the route does not match and the answer is 404 before any query
    (PostgreSQL refuses such a parameter for an integer column, SQLite one beyond 64 bits).
    """

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        super().__init__(map, *args, **kwargs)
        self.max = MAX_ID if self.max is None else min(self.max, MAX_ID)


def label(field: str) -> str:
    """The field as the officer reads it: its Vietnamese label, else its name."""
    return LABELS.get(field, field)


def check_value(value: str, field: str, limit: int | None = None, *, shown: str | None = None) -> None:
    """Refuse a string no column can hold, or longer than `limit`, naming `field` (shown as `shown`)."""
    name = shown or label(field)
    unsafe = unsafe_character(value)
    if unsafe is not None:
        raise InvalidInput(f"“{name}” chứa {unsafe} không hợp lệ.", field)
    if limit is not None and len(value) > limit:
        thousands = f"{limit:,}".replace(",", ".")  # 50.000, the Vietnamese way
        raise InvalidInput(f"“{name}” dài quá {thousands} ký tự.", field)


def _check_integer(value: str, field: str) -> None:
    text = value.strip()
    if not text:
        return
    if not DIGITS.match(text):
        raise InvalidInput(f"“{label(field)}” phải là số nguyên không âm.", field)
    if len(text) > len(str(MAX_ID)) or int(text) > MAX_ID:
        # Beyond the database's integer: no such row.
        raise NotFound(f"Không tìm thấy “{label(field)}” số {text[:20]}.")


def _check_date(value: str, field: str) -> None:
    found = YEAR.match(value)
    if found and not FIRST_YEAR <= int(found.group(1)) <= LAST_YEAR:
        raise InvalidInput(
            f"“{label(field)}” phải là một ngày trong các năm từ {FIRST_YEAR} đến {LAST_YEAR}.", field
        )


def _fields(pairs: Iterable[tuple[str, str]], limit: int, *, pages: bool) -> None:
    for field, value in pairs:
        check_value(field, field[:FIELD_NAME_LIMIT], FIELD_NAME_LIMIT, shown="tên trường")
        check_value(value, field, HIDDEN_FIELD_LIMITS.get(field, limit))
        if pages and field in INTEGER_FIELDS:
            _check_integer(value, field)
        if pages and field in DATE_FIELDS:
            _check_date(value, field)


def check_request() -> None:
    """Refuse what the database cannot hold in the path, the query and the form, before the view."""
    for value in (request.view_args or {}).values():
        if isinstance(value, str) and unsafe_character(value) is not None:
            # A path value with such a character names nothing that exists.
            raise NotFound("Không tìm thấy trang hoặc dữ liệu yêu cầu.")
    pages = request.blueprint != "api"  # the API declares its parameters and checks them itself
    _fields(request.args.items(multi=True), QUERY_VALUE_LIMIT, pages=pages)
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        _fields(request.form.items(multi=True), FORM_VALUE_LIMIT, pages=pages)
        for field, upload in request.files.items(multi=True):
            check_value(field, field[:FIELD_NAME_LIMIT], FIELD_NAME_LIMIT, shown="tên trường")
            check_value(upload.filename or "", field, TEXT_LIMITS["file_name"])


def register(app: Flask) -> None:
    """Bound every `<int:...>` of the routes and check each request before its view.

    Called before the blueprints are registered, since a route takes its converter when added.
    """
    app.url_map.converters["int"] = DatabaseInt
    app.before_request(check_request)
