"""How the JSON API's declaration becomes request checks and the OpenAPI document (spectree).

A view declares its operation with `@operation(...)` and its input by annotating `json`, `query` or
`headers` with a model of web/api_schemas.py; spectree validates the request against those models
and generates the OpenAPI 3.1 document from the same models. This module adds what the API does
its own way: bodies are read as strict JSON whatever their content type (an empty body is `{}`),
a validation failure becomes the Vietnamese `{"error", "message", "field"}` answer, a path value
outside its schema is not found, and paths are written relative to the server URL /api/v1.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from copy import deepcopy
from functools import cache
from typing import Any

from pydantic import TypeAdapter, ValidationError
from spectree import Response, SecurityScheme, SpecTree, Tag
from spectree.models import SecuritySchemeData, Server
from spectree.plugins.base import Context
from spectree.plugins.flask_plugin import FlaskPlugin

from engine.errors import InvalidInput, NotFound
from web import api_schemas as schema
from web.guards import check_value

PREFIX = "/api/v1"
DOSSIERS = Tag(name="dossiers", description="Hồ sơ")
WORK_ITEMS = Tag(name="work-items", description="Bước xử lý")
CATALOGUE = Tag(name="catalogue", description="Danh mục thủ tục hành chính")
META = Tag(name="meta", description="The API itself")
ERRORS = {
    400: "Yêu cầu không hợp lệ.",
    401: "Thiếu mã truy cập, hoặc mã không hợp lệ hay đã bị thu hồi.",
    403: "Không có quyền: hồ sơ hoặc bước xử lý của cơ quan khác, hoặc vai trò không phù hợp.",
    404: "Không tìm thấy.",
    409: "Xung đột: bước đã hoàn thành, đã được người khác nhận, hoặc trạng thái không cho phép.",
    413: "Nội dung yêu cầu hoặc tệp tải lên vượt quá dung lượng cho phép.",
    422: "Dữ liệu chưa hợp lệ; `field` nêu trường có lỗi.",
    429: "Quá nhiều yêu cầu từ cùng một địa chỉ; thử lại sau thời gian nêu trong Retry-After.",
}
TYPE_NAMES = {
    "string_type": "phải là chuỗi ký tự",
    "int_type": "phải là số nguyên",
    "int_parsing": "phải là số nguyên",
    "int_from_float": "phải là số nguyên",
    "float_type": "phải là số",
    "float_parsing": "phải là số",
    "bool_type": "phải là true hoặc false",
    "bool_parsing": "phải là true hoặc false",
    "list_type": "phải là danh sách",
    "dict_type": "phải là đối tượng JSON",
    "model_type": "phải là đối tượng JSON",
    "model_attributes_type": "phải là đối tượng JSON",
    "none_required": "phải là null",
    "string_pattern_mismatch": "không đúng định dạng",
    "string_too_short": "không được để trống",
}


# ---------------------------------------------------------------------------
# validation failures as the officer reads them


def _present(loc: tuple, data: Any) -> list[str | int]:
    """The part of an error's location that exists in the input (pydantic adds union tags)."""
    path: list[str | int] = []
    for part in loc:
        in_object = isinstance(data, dict) and part in data
        in_array = isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        if not (in_object or in_array):
            break
        data = data[part]
        path.append(part)
    return path


def _field(problem: dict, data: Any, root: str) -> str:
    path = _present(problem["loc"], data)
    if problem["type"] == "missing":
        path.append(problem["loc"][-1])
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or root


def _reason(problem: dict) -> str:
    kind, ctx = problem["type"], problem.get("ctx", {})
    if kind in TYPE_NAMES:
        return TYPE_NAMES[kind]
    if kind == "literal_error":
        options = [option.strip("'") for option in ctx["expected"].replace(" or ", ", ").split(", ")]
        return "phải là một trong: " + ", ".join(options)
    if kind == "string_too_long":
        return f"dài quá {ctx['max_length']} ký tự"
    if kind == "too_long":
        unit = "trường" if ctx.get("field_type") == "Dictionary" else "phần tử"
        return f"có nhiều nhất {ctx['max_length']} {unit}"
    if kind == "too_short":
        return f"cần ít nhất {ctx['min_length']} phần tử"
    if kind == "greater_than_equal":
        return f"phải từ {ctx['ge']} trở lên"
    if kind == "less_than_equal":
        return f"không được lớn hơn {ctx['le']}"
    return "không hợp lệ"


def invalid_input(error: ValidationError, data: Any, root: str) -> InvalidInput:
    """The first problem of a validation failure, naming its field as the request names it."""
    problems = error.errors(include_url=False)
    first = problems[0]
    field = _field(first, data, root)
    if first["type"] == "missing":
        return InvalidInput(f"Thiếu trường bắt buộc “{field}”.", field)
    if first["type"] == "extra_forbidden":
        return InvalidInput(f"Trường “{field}” không được hỗ trợ.", field)
    # A value that fits none of several types fails once per type, all at the same field.
    alternatives = sum(1 for p in problems if _field(p, data, root) == field)
    reason = "không hợp lệ" if alternatives > 1 else _reason(first)
    return InvalidInput(f"Giá trị của “{field}” {reason}.", field)


def _validated(model: Any, data: Any, root: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_input(exc, data, root) from None


def refuse_nul(values: Any, path: str = "") -> None:
    """No column holds NUL, a control character or a lone surrogate: refuse them (web/guards.py) before
    any query sees them."""
    if isinstance(values, str):
        check_value(values, path or "body", shown=path or "body")
    elif isinstance(values, dict):
        for key, value in values.items():
            refuse_nul(key, path or "body")
            refuse_nul(value, f"{path}.{key}" if path else str(key))
    elif isinstance(values, list):
        for index, value in enumerate(values):
            refuse_nul(value, f"{path}[{index}]")


def _no_constants(name: str) -> None:
    raise ValueError(name)


def read_json(raw: bytes) -> Any:
    """The request body as JSON; an empty body is `{}`."""
    if not raw.strip():
        return {}
    try:
        # NaN and Infinity are not JSON and no database column takes them.
        return json.loads(raw, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput("Nội dung yêu cầu không phải JSON hợp lệ.", "body") from exc


@cache
def _path_adapter(name: str) -> TypeAdapter:
    return TypeAdapter(schema.PATH_PARAMETERS[name][0])


# ---------------------------------------------------------------------------
# spectree, the API's way


class ApiPlugin(FlaskPlugin):
    """spectree's Flask plugin with the API's reading of requests and its paths."""

    def find_routes(self) -> Iterator[Any]:
        """Only the API's routes."""
        for rule in self.get_current_app().url_map.iter_rules():
            if rule.rule.startswith(PREFIX + "/"):
                yield rule

    def parse_path(self, route: Any, path_parameter_descriptions: Any) -> tuple[str, list]:
        """Paths relative to the server URL; path parameters as declared in web/api_schemas.py."""
        path, parameters = super().parse_path(route, path_parameter_descriptions)
        for parameter in parameters:
            declared = _path_adapter(parameter["name"]).json_schema()
            parameter["description"] = declared.pop("description", "")
            parameter["schema"] = declared
        return path.removeprefix(PREFIX), parameters

    def request_validation(
        self, request: Any, query: Any, json: Any, form: Any, headers: Any, cookies: Any
    ) -> None:
        """Path, headers, query, then body: the first failure is answered, in Vietnamese."""
        for name, value in (request.view_args or {}).items():
            if name in schema.PATH_PARAMETERS:
                try:
                    _path_adapter(name).validate_python(value)
                except ValidationError as exc:
                    raise NotFound(schema.PATH_PARAMETERS[name][1].format(value)) from exc
        checked_headers = _validated(headers, dict(request.headers), "headers") if headers else None
        checked_query = _validated(query, request.args.to_dict(), "query") if query else None
        body = None
        if json:
            payload = read_json(request.get_data(cache=True))
            refuse_nul(payload)  # first: pydantic names a lone surrogate only "không hợp lệ"
            body = _validated(json, payload, "body")
        request.context = Context(checked_query, body, None, checked_headers, None)

    def validate_response(
        self, resp: Any, resp_model: Any, skip_validation: bool, force_resp_serialize: bool
    ) -> tuple[Any, Any]:
        """Answers are built as the declared models already; they are not validated twice."""
        return super().validate_response(resp, resp_model, True, force_resp_serialize)


spec = SpecTree(
    backend=ApiPlugin,
    mode="strict",
    title="motcua API",
    version="1.0.0",
    description="The one-stop office's dossiers and work items for officers, the online portal and other "
    "systems. Authenticate with `Authorization: Bearer <token>` (`motcua token create`). Times are ISO "
    "8601 in Asia/Ho_Chi_Minh. Errors are `{error, message, field?}`; messages are in Vietnamese and "
    "meant to be shown as they are. Strings must not contain NUL, other control characters "
    "(tab and line breaks aside) or lone surrogates.",
    servers=[Server(url=PREFIX)],
    security_schemes=[
        SecurityScheme(
            name="bearer",
            data=SecuritySchemeData(type="http", scheme="bearer", description="An API token."),
        )
    ],
    security={"bearer": []},
    validation_error_model=schema.Error,
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda _parent, child: child,
    page_templates={},
)


class Answers(Response):
    """spectree's responses, with the headers an answer carries."""

    def __init__(self, headers: dict[int, dict[str, str]], **code_models: Any) -> None:
        super().__init__(**code_models)
        self.headers = headers

    def generate_spec(self, naming_strategy: Callable = spec.naming_strategy) -> dict[str, Any]:
        """The responses, each with its headers."""
        responses = super().generate_spec(naming_strategy)
        for status, headers in self.headers.items():
            responses[str(status)]["headers"] = {
                name: {"description": text, "schema": {"type": "string"}} for name, text in headers.items()
            }
        return responses


def operation(
    operation_id: str,
    tag: Tag,
    answers: Mapping[int, tuple[type, str]],
    *errors: int,
    public: bool = False,
    headers: dict[int, dict[str, str]] | None = None,
) -> Callable:
    """Declare a view as an operation of the document: its answers, and the errors every operation of
    its kind may give (400 unreadable, 401 without a valid token, 413 a body too large, 422 input)."""

    def decorate(view: Callable) -> Callable:
        statuses = {400, 422, *errors}
        if not public:
            statuses.add(401)
        if "json" in view.__annotations__:
            statuses.add(413)
        models = {f"HTTP_{status}": answer for status, answer in answers.items()}
        models |= {f"HTTP_{status}": (schema.Error, ERRORS[status]) for status in sorted(statuses)}
        return spec.validate(
            resp=Answers(headers or {}, **models),
            tags=[tag],
            operation_id=operation_id,
            security={} if public else None,
        )(view)

    return decorate


@cache
def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of /api/v1, generated from the declarations (first call in a request)."""
    doc = deepcopy(spec.spec)
    components = doc["components"]["schemas"]
    for methods in doc["paths"].values():
        for op in methods.values():
            body = op.get("requestBody")
            if body:
                # A body with no required field may be left out: an empty body reads as `{}`.
                ref = body["content"]["application/json"]["schema"]["$ref"]
                body["required"] = bool(components[ref.rsplit("/", 1)[-1]].get("required"))
    return json.loads(json.dumps(doc))  # spectree's enums as plain strings
