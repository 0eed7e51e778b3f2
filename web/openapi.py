"""The OpenAPI 3.1 document of the JSON API, as plain dicts.

The request schemas here are also what the API validates request bodies and parameters against
(web/api.py), so the document and the checks cannot disagree. Lengths follow the columns the
values are stored in.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from engine.runtime.inbox import SCOPES, URGENCIES
from models.dossier import CHANNELS, DOSSIER_STATUSES, RESULT_CLASSES

PREFIX = "/api/v1"
MAX_ID = 2**31 - 1  # work item ids are 32-bit integers in the database
TEXT_MAX = 4000

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    """A reference to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def text(max_length: int, *, min_length: int | None = None, nullable: bool = False, **extra: Any) -> Schema:
    """A string schema of bounded length."""
    schema: Schema = {"type": ["string", "null"] if nullable else "string", "maxLength": max_length}
    if min_length is not None:
        schema["minLength"] = min_length
    return {**schema, **extra}


def nullable(schema: Schema) -> Schema:
    """The schema, or null."""
    return {"anyOf": [schema, {"type": "null"}]}


TIME = {"type": "string", "format": "date-time", "examples": ["2026-11-23T08:00:00+07:00"]}
OPTIONAL_TIME = {"type": ["string", "null"], "format": "date-time"}
NAME_OR_NULL = {"type": ["string", "null"]}

# Values the workflow's conditions read: flat, named like identifiers, scalar (nested objects could
# be mistaken for serialized workflow objects when the state is stored).
DATA = {
    "type": "object",
    "description": "Dữ liệu của hồ sơ mà các điều kiện trong quy trình đọc (giá trị đơn, không lồng nhau).",
    "maxProperties": 50,
    "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]{0,63}$", "not": {"const": "typename"}},
    "additionalProperties": {
        "anyOf": [
            {"type": "string", "maxLength": TEXT_MAX},
            {"type": "number"},
            {"type": "boolean"},
            {"type": "null"},
        ]
    },
}

SCHEMAS: dict[str, Schema] = {
    "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "description": "Stable code, e.g. invalid, forbidden, conflict."},
            "message": {"type": "string", "description": "What went wrong, for the officer, in Vietnamese."},
            "field": {"type": "string", "description": "The request field at fault, e.g. applicant.name."},
            "problems": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Applicant": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name"],
        "properties": {
            "name": text(255, min_length=1, examples=["Nguyễn Văn An"]),
            "id_number": text(20, nullable=True, description="Số định danh cá nhân (12 chữ số)"),
            "phone": text(20, nullable=True, examples=["0912345678"]),
            "email": text(255, nullable=True),
            "address": text(1000, nullable=True),
        },
    },
    "Upload": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "content_base64"],
        "properties": {
            "name": text(255, min_length=1, examples=["don-de-nghi.pdf"]),
            "content_base64": {"type": "string", "contentEncoding": "base64"},
        },
    },
    "ReceiveDossier": {
        "type": "object",
        "additionalProperties": False,
        "required": ["procedure_code", "applicant"],
        "properties": {
            "procedure_code": text(40, min_length=1, examples=["1.001806"]),
            "applicant": ref("Applicant"),
            "channel": {"type": "string", "enum": list(CHANNELS), "default": "online"},
            "documents": {
                "type": "array",
                "maxItems": 50,
                "items": text(1000),
                "description": "The checklist of documents handed in.",
            },
            "data": DATA,
            "files": {"type": "array", "maxItems": 20, "items": ref("Upload")},
        },
    },
    "CompleteStep": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "outcome": text(40, nullable=True, description="One of the step's outcome values."),
            "comment": text(TEXT_MAX, nullable=True),
            "data": DATA,
        },
    },
    "RequestSupplement": {
        "type": "object",
        "additionalProperties": False,
        "required": ["missing", "reason"],
        "properties": {
            "missing": {"type": "array", "maxItems": 50, "items": text(1000)},
            "reason": text(TEXT_MAX),
        },
    },
    "Refuse": {
        "type": "object",
        "additionalProperties": False,
        "required": ["reason"],
        "properties": {"reason": text(TEXT_MAX)},
    },
    "ReturnResult": {
        "type": "object",
        "additionalProperties": False,
        "required": ["collected_by"],
        "properties": {"collected_by": text(255)},
    },
    "Resume": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"note": text(TEXT_MAX, nullable=True)},
    },
    "Withdraw": {
        "type": "object",
        "additionalProperties": False,
        "required": ["reason"],
        "properties": {"reason": text(TEXT_MAX)},
    },
    "Officer": {
        "type": "object",
        "required": ["id", "name"],
        "properties": {"id": {"type": "integer"}, "name": NAME_OR_NULL},
    },
    "WorkItem": {
        "type": "object",
        "required": ["id", "dossier_code", "step_id", "step", "role", "open", "created_at", "due_at"],
        "properties": {
            "id": {"type": "integer"},
            "dossier_code": {"type": "string"},
            "step_id": {"type": "string", "description": "BPMN id of the step."},
            "step": {"type": "string"},
            "kind": {"type": ["string", "null"], "enum": [None, "supplement", "return"]},
            "role": {"type": "string"},
            "agency": NAME_OR_NULL,
            "assignee": nullable(ref("Officer")),
            "open": {"type": "boolean"},
            "created_at": TIME,
            "claimed_at": OPTIONAL_TIME,
            "due_at": OPTIONAL_TIME,
            "allotted_hours": {"type": "number"},
            "completed_at": OPTIONAL_TIME,
            "completed_by": nullable(ref("Officer")),
            "outcome": {"type": ["string", "null"]},
            "comment": {"type": ["string", "null"]},
            "used_hours": {"type": ["number", "null"]},
            "result_class": {"type": ["string", "null"], "enum": [None, *RESULT_CLASSES]},
        },
    },
    "Outcome": {
        "type": "object",
        "required": ["value", "label"],
        "properties": {"value": {"type": ["string", "null"]}, "label": {"type": "string"}},
    },
    "Task": {
        "type": "object",
        "required": ["work_item", "dossier_code", "outcomes", "can_supplement", "can_refuse"],
        "properties": {
            "work_item": ref("WorkItem"),
            "dossier_code": {"type": "string"},
            "outcomes": {
                "type": "array",
                "items": ref("Outcome"),
                "description": "The outcomes `complete` accepts; a null value is the step's default way on.",
            },
            "can_supplement": {
                "type": "boolean",
                "description": "Whether the step may ask for a supplement.",
            },
            "can_refuse": {"type": "boolean", "description": "Whether the step may refuse the dossier."},
        },
    },
    "Event": {
        "type": "object",
        "required": ["id", "at", "kind", "label", "payload"],
        "properties": {
            "id": {"type": "integer"},
            "at": TIME,
            "kind": {"type": "string"},
            "label": {"type": "string"},
            "officer": NAME_OR_NULL,
            "payload": {"type": "object"},
        },
    },
    "Suspension": {
        "type": "object",
        "required": ["kind", "reason", "details", "started_at", "ended_at"],
        "properties": {
            "kind": {"type": "string"},
            "reason": {"type": "string"},
            "details": {"type": "array", "items": {"type": "string"}},
            "started_at": TIME,
            "ended_at": OPTIONAL_TIME,
            "paused_hours": {"type": ["number", "null"]},
        },
    },
    "Attachment": {
        "type": "object",
        "required": ["id", "kind", "file_name", "media_type", "size", "uploaded_at"],
        "properties": {
            "id": {"type": "integer"},
            "kind": {"type": "string", "enum": ["input", "result"]},
            "file_name": {"type": "string"},
            "media_type": {"type": "string"},
            "size": {"type": "integer"},
            "sha256": {"type": "string"},
            "uploaded_at": TIME,
        },
    },
    "Dossier": {
        "type": "object",
        "required": ["code", "status", "procedure", "applicant", "received_at", "work_items", "events"],
        "properties": {
            "code": {"type": "string", "examples": ["000.00.12.H40-261123-0001"]},
            "status": {"type": "string", "enum": list(DOSSIER_STATUSES)},
            "status_label": {"type": "string"},
            "procedure": {
                "type": "object",
                "required": ["code", "name"],
                "properties": {"code": {"type": "string"}, "name": {"type": "string"}},
            },
            "process_version": {"type": "integer"},
            "agency": {
                "type": "object",
                "required": ["code", "name"],
                "properties": {"code": {"type": "string"}, "name": {"type": "string"}},
            },
            "applicant": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string"},
                    "id_number": NAME_OR_NULL,
                    "phone": NAME_OR_NULL,
                    "email": NAME_OR_NULL,
                    "address": NAME_OR_NULL,
                },
            },
            "channel": {"type": "string", "enum": list(CHANNELS)},
            "received_at": TIME,
            "received_by": NAME_OR_NULL,
            "due_at": OPTIONAL_TIME,
            "original_due_at": OPTIONAL_TIME,
            "appointment_moved_at": OPTIONAL_TIME,
            "finished_at": OPTIONAL_TIME,
            "returned_at": OPTIONAL_TIME,
            "returned_to": NAME_OR_NULL,
            "result_class": {"type": ["string", "null"], "enum": [None, *RESULT_CLASSES]},
            "refusal_reason": NAME_OR_NULL,
            "withdrawal_reason": NAME_OR_NULL,
            "documents": {"type": "array", "items": {"type": "string"}},
            "attachments": {"type": "array", "items": ref("Attachment")},
            "work_items": {"type": "array", "items": ref("WorkItem")},
            "suspensions": {"type": "array", "items": ref("Suspension")},
            "events": {"type": "array", "items": ref("Event")},
        },
    },
    "Completion": {
        "type": "object",
        "required": ["dossier_code", "status", "opened_work_item_ids"],
        "properties": {
            "dossier_code": {"type": "string"},
            "status": {"type": "string", "enum": list(DOSSIER_STATUSES)},
            "opened_work_item_ids": {"type": "array", "items": {"type": "integer"}},
        },
    },
    "InboxRow": {
        "type": "object",
        "required": ["id", "dossier_code", "procedure_code", "step", "role", "due_at", "urgency"],
        "properties": {
            "id": {"type": "integer"},
            "dossier_code": {"type": "string"},
            "procedure_code": {"type": "string"},
            "procedure_name": {"type": "string"},
            "step": {"type": "string"},
            "kind": {"type": ["string", "null"]},
            "role": {"type": "string"},
            "received_at": TIME,
            "created_at": TIME,
            "due_at": OPTIONAL_TIME,
            "assignee": nullable(ref("Officer")),
            "remaining_hours": {
                "type": ["number", "null"],
                "description": "Working hours left; negative when overdue; null while the clock is stopped.",
            },
            "urgency": {"type": "string", "enum": [*URGENCIES, "paused"]},
        },
    },
    "Inbox": {
        "type": "object",
        "required": ["items", "total", "counts", "limit", "offset"],
        "properties": {
            "items": {"type": "array", "items": ref("InboxRow")},
            "total": {"type": "integer", "description": "Items matching the filters."},
            "counts": {
                "type": "object",
                "required": ["all", "mine", "pool", "overdue", "soon"],
                "properties": {k: {"type": "integer"} for k in ("all", "mine", "pool", "overdue", "soon")},
            },
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
        },
    },
    "Procedure": {
        "type": "object",
        "required": ["code", "name", "field", "level", "legal_time", "fee", "required_documents"],
        "properties": {
            "code": {"type": "string"},
            "name": {"type": "string"},
            "field": {"type": "string"},
            "level": {"type": "string"},
            "legal_time": {
                "type": "object",
                "required": ["value", "unit"],
                "properties": {
                    "value": {"type": "number"},
                    "unit": {"type": "string", "enum": ["days", "hours"]},
                },
            },
            "fee": {"type": "string"},
            "required_documents": {"type": "array", "items": {"type": "string"}},
            "online_level": {"type": "string"},
            "owner_agency": {"type": "string"},
            "has_active_version": {"type": "boolean"},
            "active_version": {"type": ["integer", "null"]},
        },
    },
    "Procedures": {
        "type": "object",
        "required": ["procedures"],
        "properties": {"procedures": {"type": "array", "items": ref("Procedure")}},
    },
    "Health": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string"}},
    },
}

ERRORS = {
    400: "Yêu cầu không hợp lệ.",
    401: "Thiếu mã truy cập, hoặc mã không hợp lệ hay đã bị thu hồi.",
    403: "Không có quyền: hồ sơ hoặc bước xử lý của cơ quan khác, hoặc vai trò không phù hợp.",
    404: "Không tìm thấy.",
    409: "Xung đột: bước đã hoàn thành, đã được người khác nhận, hoặc trạng thái không cho phép.",
    413: "Nội dung yêu cầu hoặc tệp tải lên vượt quá dung lượng cho phép.",
    422: "Dữ liệu chưa hợp lệ; `field` nêu trường có lỗi.",
}

CODE_PARAM = {
    "name": "code",
    "in": "path",
    "required": True,
    "description": "Dossier code (mã hồ sơ).",
    "schema": {"type": "string", "minLength": 1, "maxLength": 40, "examples": ["000.00.12.H40-261123-0001"]},
}
ITEM_PARAM = {
    "name": "item_id",
    "in": "path",
    "required": True,
    "description": "Work item id.",
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
}
IDEMPOTENCY_PARAM = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "A key of the client's choosing; a repeated submission with the same key returns "
    "the first dossier (200) instead of receiving a second one.",
    "schema": {"type": "string", "pattern": "^[!-~]{1,64}$"},
}
INBOX_PARAMS = [
    {
        "name": "scope",
        "in": "query",
        "description": "mine: my own items; pool: unclaimed items of my roles; all: both.",
        "schema": {"type": "string", "enum": list(SCOPES), "default": "all"},
    },
    {"name": "status", "in": "query", "schema": {"type": "string", "enum": list(URGENCIES)}},
    {
        "name": "procedure",
        "in": "query",
        "description": "Only items of this procedure (code).",
        "schema": {"type": "string", "minLength": 1, "maxLength": 40},
    },
    {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
    },
    {
        "name": "offset",
        "in": "query",
        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID, "default": 0},
    },
]


def _json(schema: Schema, description: str, headers: dict | None = None) -> dict:
    response: dict = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


def _errors(*statuses: int) -> dict:
    return {str(s): {"$ref": f"#/components/responses/E{s}"} for s in statuses}


def _op(
    operation_id: str,
    summary: str,
    tag: str,
    responses: dict,
    *,
    parameters: list | None = None,
    body: str | None = None,
    body_required: bool = True,
    public: bool = False,
) -> dict:
    operation: dict = {"operationId": operation_id, "summary": summary, "tags": [tag]}
    if parameters:
        operation["parameters"] = parameters
    if body:
        operation["requestBody"] = {
            "required": body_required,
            "content": {"application/json": {"schema": ref(body)}},
        }
        # A body over the request size cap, or a file over the upload cap.
        responses = {**responses, **_errors(413)}
    # 400: an HTTP request the server cannot read at all (e.g. a broken Content-Length).
    responses = {**responses, **_errors(400)}
    if public:
        operation["security"] = []
    else:
        responses = {**responses, **_errors(401)}
    # Bodies and parameters are validated, and malformed JSON is refused, with 422.
    operation["responses"] = {**responses, **_errors(422)} if (body or parameters) else responses
    return operation


def _action(operation_id: str, summary: str, body: str | None, *, body_required: bool = True) -> dict:
    return {
        "post": _op(
            operation_id,
            summary,
            "work-items",
            {"200": _json(ref("Completion"), "The step is done; where the dossier stands now.")}
            | _errors(403, 404, 409),
            parameters=[ITEM_PARAM],
            body=body,
            body_required=body_required,
        )
    }


def _claim(operation_id: str, summary: str) -> dict:
    return {
        "post": _op(
            operation_id,
            summary,
            "work-items",
            {"200": _json(ref("Task"), "The work item as it is now.")} | _errors(403, 404, 409),
            parameters=[ITEM_PARAM],
        )
    }


PATHS: dict[str, dict] = {
    "/health": {
        "get": _op("health", "Liveness of the API", "meta", {"200": _json(ref("Health"), "Up.")}, public=True)
    },
    "/openapi.json": {
        "get": _op(
            "openapi",
            "This document",
            "meta",
            {
                "200": {
                    "description": "The OpenAPI document.",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
            public=True,
        )
    },
    "/procedures": {
        "get": _op(
            "listProcedures",
            "The procedure catalogue",
            "catalogue",
            {"200": _json(ref("Procedures"), "Every procedure, by code.")},
        )
    },
    "/dossiers": {
        "post": _op(
            "receiveDossier",
            "Receive a dossier (the desk, or the online portal's service account)",
            "dossiers",
            {
                "201": _json(
                    ref("Dossier"),
                    "Received: the dossier with its code, appointment and first steps.",
                    {"Location": {"schema": {"type": "string"}, "description": "The dossier's URL."}},
                ),
                "200": _json(ref("Dossier"), "The same Idempotency-Key was received before: that dossier."),
            }
            | _errors(403, 409),
            parameters=[IDEMPOTENCY_PARAM],
            body="ReceiveDossier",
        )
    },
    "/dossiers/{code}": {
        "get": _op(
            "getDossier",
            "A dossier with its work items, suspensions, documents and events",
            "dossiers",
            {"200": _json(ref("Dossier"), "The dossier.")} | _errors(403, 404),
            parameters=[CODE_PARAM],
        )
    },
    "/dossiers/{code}/resume": {
        "post": _op(
            "resumeDossier",
            "The supplement arrived: the clock restarts (or resumes)",
            "dossiers",
            {"200": _json(ref("Completion"), "Processing again.")} | _errors(403, 404, 409),
            parameters=[CODE_PARAM],
            body="Resume",
            body_required=False,
        )
    },
    "/dossiers/{code}/withdraw": {
        "post": _op(
            "withdrawDossier",
            "The applicant withdraws the dossier",
            "dossiers",
            {"200": _json(ref("Dossier"), "The dossier, withdrawn.")} | _errors(403, 404, 409),
            parameters=[CODE_PARAM],
            body="Withdraw",
        )
    },
    "/work-items": {
        "get": _op(
            "listWorkItems",
            "My open work items and my pool, most urgent first, with counts",
            "work-items",
            {"200": _json(ref("Inbox"), "A page of the inbox.")},
            parameters=INBOX_PARAMS,
        )
    },
    "/work-items/{item_id}": {
        "get": _op(
            "getWorkItem",
            "A work item with the outcomes its step offers",
            "work-items",
            {"200": _json(ref("Task"), "The work item.")} | _errors(403, 404),
            parameters=[ITEM_PARAM],
        )
    },
    "/work-items/{item_id}/claim": _claim("claimWorkItem", "Take a pool item"),
    "/work-items/{item_id}/release": _claim("releaseWorkItem", "Give an own item back to the pool"),
    "/work-items/{item_id}/complete": _action(
        "completeWorkItem", "Complete the step with an outcome", "CompleteStep", body_required=False
    ),
    "/work-items/{item_id}/supplement": _action(
        "requestSupplement", "Ask for every missing document at once (the clock stops)", "RequestSupplement"
    ),
    "/work-items/{item_id}/refuse": _action("refuseWorkItem", "Refuse, with the reasons", "Refuse"),
    "/work-items/{item_id}/return": _action("returnResult", "Hand the result over", "ReturnResult"),
}


@cache
def document() -> dict:
    """The OpenAPI 3.1 document of /api/v1."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "motcua API",
            "version": "1.0.0",
            "description": "The one-stop office's dossiers and work items for officers, the online portal "
            "and other systems. Authenticate with `Authorization: Bearer <token>` (`motcua token create`). "
            "Times are ISO 8601 in Asia/Ho_Chi_Minh. Errors are `{error, message, field?}`; messages are in "
            "Vietnamese and meant to be shown as they are. Strings must not contain the NUL character.",
        },
        "servers": [{"url": PREFIX}],
        "security": [{"bearer": []}],
        "tags": [
            {"name": "dossiers", "description": "Hồ sơ"},
            {"name": "work-items", "description": "Bước xử lý"},
            {"name": "catalogue", "description": "Danh mục thủ tục hành chính"},
            {"name": "meta", "description": "The API itself"},
        ],
        "paths": PATHS,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "An API token."}
            },
            "schemas": SCHEMAS,
            "responses": {f"E{status}": _json(ref("Error"), text_) for status, text_ in ERRORS.items()},
        },
    }


def operation(operation_id: str) -> dict:
    """One operation of the document by its id."""
    for methods in PATHS.values():
        for op in methods.values():
            if op["operationId"] == operation_id:
                return op
    raise KeyError(operation_id)


def component(name: str) -> Schema:
    """A standalone JSON Schema (2020-12) for a component, its references resolvable."""
    return {**ref(name), "components": {"schemas": SCHEMAS}}
