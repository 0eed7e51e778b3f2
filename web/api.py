"""JSON API under /api/v1 for the online portal and other systems, authenticated by bearer token.

Each view checks the token, validates the request against the schemas of the OpenAPI document
(web/openapi.py), calls the same engine use case the pages call, and writes the result as JSON.
Errors are answered by web/errors.py as `{"error", "message", "field"?}` with the domain error's
status. Times are ISO 8601 in the office's time zone.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from typing import Any

import jsonschema_rs
from flask import Blueprint, Response, g, jsonify, request, url_for
from sqlalchemy.orm import Session

from engine.accounts import officer_for_token
from engine.catalogue.procedures import procedure_catalogue, procedure_id_by_code
from engine.errors import InvalidInput, NotFound, Unauthenticated
from engine.runtime import dossiers as svc
from engine.runtime.access import require_view, require_view_item
from engine.runtime.attachments import Upload
from engine.runtime.dossier_views import EVENT_LABELS, DossierView, dossier_view, task_view
from engine.runtime.inbox import inbox
from models import Officer, WorkItem
from models.dossier import STATUS_LABELS
from web.helpers import engine_ctx, now
from web.openapi import MAX_ID, PREFIX, component, document, operation

bp = Blueprint("api", __name__, url_prefix=PREFIX)

PUBLIC_ENDPOINTS = {"api.health", "api.openapi_document"}
SPECIAL_OUTCOMES = ("supplement", "refuse")
# The engine names applicant fields after the desk form; the API names them by their JSON path.
FIELD_NAMES = {
    "applicant_name": "applicant.name",
    "applicant_id_number": "applicant.id_number",
    "applicant_phone": "applicant.phone",
    "applicant_email": "applicant.email",
    "applicant_address": "applicant.address",
}
TYPE_NAMES = {
    "string": "chuỗi ký tự",
    "integer": "số nguyên",
    "number": "số",
    "boolean": "true hoặc false",
    "array": "danh sách",
    "object": "đối tượng JSON",
    "null": "null",
}


# ---------------------------------------------------------------------------
# authentication and request checks


@bp.before_request
def authenticate() -> None:
    """Every endpoint but the document and the health check needs a valid bearer token."""
    _refuse_nul(dict(request.view_args or {}) | request.args.to_dict())
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Thiếu mã truy cập; gửi kèm tiêu đề Authorization: Bearer <mã truy cập>.")
    with engine_ctx().uow() as uow:
        g.api_officer_id = officer_for_token(uow.session, token.strip()).id


@bp.after_request
def api_headers(response: Response) -> Response:
    """Dossiers hold personal data: never cached; a 401 names the scheme to use."""
    response.headers["Cache-Control"] = "no-store"
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="motcua"'
    return response


def _me(session: Session) -> Officer:
    return session.get(Officer, g.api_officer_id)


def _refuse_nul(values: Any, path: str = "") -> None:
    """No database stores the NUL character in text; refuse it before any query sees it."""
    if isinstance(values, str):
        if "\x00" in values:
            raise InvalidInput(f"“{path or 'body'}” chứa ký tự NUL không hợp lệ.", path or "body")
    elif isinstance(values, dict):
        for key, value in values.items():
            _refuse_nul(key, path or "body")
            _refuse_nul(value, f"{path}.{key}" if path else str(key))
    elif isinstance(values, list):
        for index, value in enumerate(values):
            _refuse_nul(value, f"{path}[{index}]")


@cache
def _body_validator(schema_name: str) -> jsonschema_rs.Draft202012Validator:
    return jsonschema_rs.Draft202012Validator(component(schema_name))


@cache
def _parameter_validator(operation_id: str, name: str) -> jsonschema_rs.Draft202012Validator:
    (param,) = [p for p in operation(operation_id)["parameters"] if p["name"] == name]
    return jsonschema_rs.Draft202012Validator(param["schema"])


def _field(path: list, extra: str | None = None) -> str:
    parts = [*path, extra] if extra is not None else list(path)
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _problem(error: jsonschema_rs.ValidationError, root: str) -> InvalidInput:
    """A schema violation as the officer-readable error naming the field."""
    kind, details = error.kind.name, error.kind.as_dict()
    path = list(error.instance_path)
    if kind == "required":
        field = _field(path, details["property"])
        return InvalidInput(f"Thiếu trường bắt buộc “{field}”.", field)
    if kind == "additionalProperties":
        field = _field(path, details["unexpected"][0])
        return InvalidInput(f"Trường “{field}” không được hỗ trợ.", field)
    field = _field(path) or root
    messages = {
        "type": lambda: "phải là " + " hoặc ".join(TYPE_NAMES.get(t, t) for t in details.get("types", [])),
        "enum": lambda: "phải là một trong: " + ", ".join(str(o) for o in details.get("options", [])),
        "maxLength": lambda: f"dài quá {details['limit']} ký tự",
        "minLength": lambda: "không được để trống",
        "maxItems": lambda: f"có nhiều nhất {details['limit']} phần tử",
        "minItems": lambda: f"cần ít nhất {details['limit']} phần tử",
        "maxProperties": lambda: f"có nhiều nhất {details['limit']} trường",
        "minimum": lambda: f"phải từ {details['limit']} trở lên",
        "maximum": lambda: f"không được lớn hơn {details['limit']}",
        "pattern": lambda: "không đúng định dạng",
    }
    reason = messages[kind]() if kind in messages else "không hợp lệ"
    return InvalidInput(f"Giá trị của “{field}” {reason}.", field)


def _validate(validator: jsonschema_rs.Draft202012Validator, value: Any, root: str) -> None:
    error = next(validator.iter_errors(value), None)
    if error is not None:
        raise _problem(error, root)


def _no_constants(name: str) -> None:
    raise ValueError(name)


def _body(schema_name: str) -> dict[str, Any]:
    """The JSON body, checked against its schema in the OpenAPI document; an empty body is `{}`."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        payload: Any = {}
    else:
        try:
            # NaN and Infinity are not JSON and no database column takes them.
            payload = json.loads(raw, parse_constant=_no_constants)
        except (ValueError, RecursionError) as exc:
            raise InvalidInput("Nội dung yêu cầu không phải JSON hợp lệ.", "body") from exc
    _validate(_body_validator(schema_name), payload, "body")
    _refuse_nul(payload)
    return payload


def _parameters(operation_id: str, location: str) -> dict[str, Any]:
    """The operation's query or header parameters, converted and checked against their schemas."""
    source = request.args if location == "query" else request.headers
    values: dict[str, Any] = {}
    for param in operation(operation_id).get("parameters", []):
        if param["in"] != location:
            continue
        name, schema = param["name"], param["schema"]
        raw = source.get(name)
        if raw is None:
            if "default" in schema:
                values[name] = schema["default"]
            continue
        value: Any = raw
        if schema.get("type") == "integer":
            try:
                value = int(raw)
            except ValueError as exc:
                raise InvalidInput(f"Giá trị của “{name}” phải là số nguyên.", name) from exc
        _validate(_parameter_validator(operation_id, name), value, name)
        values[name] = value
    return values


def _item_id(item_id: int) -> int:
    if item_id > MAX_ID:
        raise NotFound(f"Không tìm thấy bước xử lý số {item_id}")
    return item_id


def _require_item(item_id: int) -> int:
    """The work item exists and belongs to the caller's agency (checked before the action)."""
    with engine_ctx().uow() as uow:
        item = uow.session.get(WorkItem, _item_id(item_id))
        if item is None:
            raise NotFound(f"Không tìm thấy bước xử lý số {item_id}")
        require_view_item(_me(uow.session), item)
    return item_id


def _require_dossier(code: str) -> None:
    """The dossier exists and the caller's agency received it or takes part in it."""
    with engine_ctx().uow() as uow:
        require_view(uow.session, _me(uow.session), svc.dossier_by_code(uow.session, code))


@contextmanager
def _api_fields() -> Iterator[None]:
    """Name the fields of the engine's errors as the request body names them."""
    try:
        yield
    except InvalidInput as exc:
        exc.field = FIELD_NAMES.get(exc.field or "", exc.field)
        raise


# ---------------------------------------------------------------------------
# representations


def _time(moment: datetime | None) -> str | None:
    return moment.astimezone(engine_ctx().calendar.tz).isoformat() if moment else None


def _officer_ref(officer_id: int | None, names: dict[int, str]) -> dict | None:
    return None if officer_id is None else {"id": officer_id, "name": names.get(officer_id)}


def _work_item(item: WorkItem, code: str, view: DossierView) -> dict:
    return {
        "id": item.id,
        "dossier_code": code,
        "step_id": item.task_id,
        "step": item.task_name,
        "kind": item.kind,
        "role": item.role,
        "agency": view.agencies.get(item.agency_id),
        "assignee": _officer_ref(item.assignee_id, view.officers),
        "open": item.is_open,
        "created_at": _time(item.created_at),
        "claimed_at": _time(item.claimed_at),
        "due_at": _time(item.due_at),
        "allotted_hours": float(item.allotted_hours),
        "completed_at": _time(item.completed_at),
        "completed_by": _officer_ref(item.completed_by_id, view.officers),
        "outcome": item.outcome,
        "comment": item.comment,
        "used_hours": None if item.used_hours is None else float(item.used_hours),
        "result_class": item.result_class,
    }


def _dossier(view: DossierView) -> dict:
    d = view.dossier
    return {
        "code": d.code,
        "status": d.status,
        "status_label": STATUS_LABELS[d.status],
        "procedure": {"code": view.procedure.code, "name": view.procedure.name},
        "process_version": view.version.number,
        "agency": {"code": view.agency.code, "name": view.agency.name},
        "applicant": {
            "name": d.applicant_name,
            "id_number": d.applicant_id_number,
            "phone": d.applicant_phone,
            "email": d.applicant_email,
            "address": d.applicant_address,
        },
        "channel": d.channel,
        "received_at": _time(d.received_at),
        "received_by": view.officers.get(d.received_by_id) if d.received_by_id else None,
        "due_at": _time(d.due_at),
        "original_due_at": _time(d.original_due_at),
        "appointment_moved_at": _time(d.appointment_moved_at),
        "finished_at": _time(d.finished_at),
        "returned_at": _time(d.returned_at),
        "returned_to": d.returned_to,
        "result_class": d.result_class,
        "refusal_reason": d.refusal_reason,
        "withdrawal_reason": d.withdrawal_reason,
        "documents": view.documents_received,
        "attachments": [
            {
                "id": a.id,
                "kind": a.kind,
                "file_name": a.file_name,
                "media_type": a.media_type,
                "size": a.size,
                "sha256": a.sha256,
                "uploaded_at": _time(a.uploaded_at),
            }
            for a in view.attachments
        ],
        "work_items": [_work_item(i, d.code, view) for i in view.items],
        "suspensions": [
            {
                "kind": s.kind,
                "reason": s.reason,
                "details": list(s.details or []),
                "started_at": _time(s.started_at),
                "ended_at": _time(s.ended_at),
                "paused_hours": None if s.paused_hours is None else float(s.paused_hours),
            }
            for s in view.suspensions
        ],
        "events": [
            {
                "id": e.id,
                "at": _time(e.at),
                "kind": e.kind,
                "label": EVENT_LABELS.get(e.kind, e.kind),
                "officer": view.officers.get(e.officer_id) if e.officer_id else None,
                "payload": e.payload or {},
            }
            for e in view.events
        ],
    }


def _dossier_json(code: str) -> dict:
    ctx = engine_ctx()
    with ctx.uow() as uow:
        return _dossier(dossier_view(ctx, uow.session, _me(uow.session), code))


def _task_json(item_id: int) -> dict:
    ctx = engine_ctx()
    with ctx.uow() as uow:
        view = task_view(ctx, uow.session, _me(uow.session), _item_id(item_id))
        values = view.step.outcome_values()
        return {
            "work_item": _work_item(view.item, view.dossier.dossier.code, view.dossier),
            "dossier_code": view.dossier.dossier.code,
            "outcomes": [
                {"value": o.value, "label": o.label}
                for o in view.step.outcomes
                if o.value not in SPECIAL_OUTCOMES
            ],
            "can_supplement": "supplement" in values,
            "can_refuse": "refuse" in values,
        }


def _completion(result: svc.Completion) -> Response:
    return jsonify(
        {
            "dossier_code": result.dossier_code,
            "status": result.status,
            "opened_work_item_ids": result.opened_work_item_ids,
        }
    )


# ---------------------------------------------------------------------------
# endpoints


@bp.get("/health")
def health():  # type: ignore[no-untyped-def]
    """Liveness of the API."""
    return jsonify({"status": "ok"})


@bp.get("/openapi.json")
def openapi_document():  # type: ignore[no-untyped-def]
    """The OpenAPI document of this API."""
    return jsonify(document())


@bp.get("/procedures")
def procedures():  # type: ignore[no-untyped-def]
    """The procedure catalogue with legal times, fees, required documents and active versions."""
    with engine_ctx().uow() as uow:
        entries = procedure_catalogue(uow.session)
    return jsonify(
        {
            "procedures": [
                {
                    "code": e.code,
                    "name": e.name,
                    "field": e.field,
                    "level": e.level,
                    "legal_time": {"value": e.legal_time_value, "unit": e.legal_time_unit},
                    "fee": e.fee,
                    "required_documents": e.required_documents,
                    "online_level": e.online_level,
                    "owner_agency": e.owner_agency_code,
                    "has_active_version": e.active_version is not None,
                    "active_version": e.active_version,
                }
                for e in entries
            ]
        }
    )


def _uploads(files: list[dict]) -> list[Upload]:
    uploads = []
    for index, item in enumerate(files):
        try:
            data = base64.b64decode(item["content_base64"], validate=True)
        except (binascii.Error, ValueError) as exc:
            field = f"files[{index}].content_base64"
            raise InvalidInput(f"Nội dung tệp “{item['name']}” không phải base64 hợp lệ.", field) from exc
        uploads.append(Upload(item["name"], data))
    return uploads


@bp.post("/dossiers")
def receive_dossier():  # type: ignore[no-untyped-def]
    """Receive a dossier; a repeated Idempotency-Key returns the first dossier with 200."""
    headers = _parameters("receiveDossier", "header")
    body = _body("ReceiveDossier")
    applicant = body["applicant"]
    key = headers.get("Idempotency-Key")
    with _api_fields():
        try:
            receipt = svc.receive_dossier(
                engine_ctx(),
                procedure_code=body["procedure_code"],
                applicant=svc.Applicant(
                    name=applicant["name"],
                    id_number=applicant.get("id_number") or None,
                    phone=applicant.get("phone") or None,
                    email=applicant.get("email") or None,
                    address=applicant.get("address") or None,
                ),
                channel=body.get("channel", "online"),
                officer_id=g.api_officer_id,
                now=now(),
                data=body.get("data"),
                documents=body.get("documents"),
                uploads=_uploads(body.get("files", [])),
                # Keys are the caller's own: scoped to the account, so two callers never collide.
                submission_key=f"api:{g.api_officer_id}:{key}" if key else None,
            )
        except NotFound as exc:
            raise InvalidInput(exc.message, "procedure_code") from exc
    status = 200 if receipt.repeated else 201
    location = url_for("api.get_dossier", code=receipt.code)
    return jsonify(_dossier_json(receipt.code)), status, {"Location": location}


@bp.get("/dossiers/<code>")
def get_dossier(code: str):  # type: ignore[no-untyped-def]
    """A dossier with its work items, suspensions, documents and events."""
    return jsonify(_dossier_json(code))


@bp.post("/dossiers/<code>/resume")
def resume_dossier(code: str):  # type: ignore[no-untyped-def]
    """The supplement arrived at the desk: the dossier is processed again."""
    body = _body("Resume")
    _require_dossier(code)
    with _api_fields():
        result = svc.resume(engine_ctx(), code, g.api_officer_id, now(), note=body.get("note") or None)
    return _completion(result)


@bp.post("/dossiers/<code>/withdraw")
def withdraw_dossier(code: str):  # type: ignore[no-untyped-def]
    """The applicant withdraws: the workflow is cancelled and open steps are closed."""
    body = _body("Withdraw")
    _require_dossier(code)
    with _api_fields():
        svc.withdraw(engine_ctx(), code, g.api_officer_id, reason=body["reason"], now=now())
    return jsonify(_dossier_json(code))


@bp.get("/work-items")
def list_work_items():  # type: ignore[no-untyped-def]
    """My open work items and my pool, due time ascending, with the counts of each."""
    query = _parameters("listWorkItems", "query")
    ctx = engine_ctx()
    with ctx.uow() as uow:
        procedure_id = None
        if "procedure" in query:
            procedure_id = procedure_id_by_code(uow.session, query["procedure"])
            if procedure_id is None:
                raise InvalidInput(f"Thủ tục {query['procedure']} không có trong danh mục.", "procedure")
        page = inbox(
            uow.session,
            ctx.calendar,
            _me(uow.session),
            now=now(),
            scope=query["scope"],
            procedure_id=procedure_id,
            status=query.get("status"),
            limit=query["limit"],
            offset=query["offset"],
            day_hours=ctx.settings.hours_per_day,
        )
    return jsonify(
        {
            "items": [
                {
                    "id": r.work_item_id,
                    "dossier_code": r.dossier_code,
                    "procedure_code": r.procedure_code,
                    "procedure_name": r.procedure_name,
                    "step": r.step,
                    "kind": r.kind,
                    "role": r.role,
                    "received_at": _time(r.received_at),
                    "created_at": _time(r.created_at),
                    "due_at": _time(r.due_at),
                    "assignee": None
                    if r.assignee_id is None
                    else {"id": r.assignee_id, "name": r.assignee_name},
                    "remaining_hours": r.remaining_hours,
                    "urgency": r.urgency,
                }
                for r in page.rows
            ],
            "total": page.total,
            "counts": page.counts,
            "limit": query["limit"],
            "offset": query["offset"],
        }
    )


@bp.get("/work-items/<int:item_id>")
def get_work_item(item_id: int):  # type: ignore[no-untyped-def]
    """A work item of the caller's agency with the outcomes its step offers."""
    return jsonify(_task_json(item_id))


@bp.post("/work-items/<int:item_id>/claim")
def claim_work_item(item_id: int):  # type: ignore[no-untyped-def]
    """Take a pool item into the caller's own inbox."""
    svc.claim(engine_ctx(), _require_item(item_id), g.api_officer_id, now())
    return jsonify(_task_json(item_id))


@bp.post("/work-items/<int:item_id>/release")
def release_work_item(item_id: int):  # type: ignore[no-untyped-def]
    """Give an own item back to the pool."""
    svc.unclaim(engine_ctx(), _require_item(item_id), g.api_officer_id, now())
    return jsonify(_task_json(item_id))


@bp.post("/work-items/<int:item_id>/complete")
def complete_work_item(item_id: int):  # type: ignore[no-untyped-def]
    """Complete the step with an outcome; the workflow advances."""
    body = _body("CompleteStep")
    with _api_fields():
        result = svc.complete(
            engine_ctx(),
            _require_item(item_id),
            g.api_officer_id,
            now=now(),
            outcome=body.get("outcome") or None,
            comment=(body.get("comment") or "").strip() or None,
            data=body.get("data"),
        )
    return _completion(result)


@bp.post("/work-items/<int:item_id>/supplement")
def request_supplement(item_id: int):  # type: ignore[no-untyped-def]
    """Ask for every missing document at once; the dossier's clock stops."""
    body = _body("RequestSupplement")
    with _api_fields():
        result = svc.request_supplement(
            engine_ctx(),
            _require_item(item_id),
            g.api_officer_id,
            missing=body["missing"],
            reason=body["reason"],
            now=now(),
        )
    return _completion(result)


@bp.post("/work-items/<int:item_id>/refuse")
def refuse_work_item(item_id: int):  # type: ignore[no-untyped-def]
    """Refuse the dossier with the reasons; it goes back through the desk."""
    body = _body("Refuse")
    with _api_fields():
        result = svc.refuse(
            engine_ctx(), _require_item(item_id), g.api_officer_id, reason=body["reason"], now=now()
        )
    return _completion(result)


@bp.post("/work-items/<int:item_id>/return")
def return_result(item_id: int):  # type: ignore[no-untyped-def]
    """Hand the result (or the refusal) over; the dossier is finished."""
    body = _body("ReturnResult")
    with _api_fields():
        result = svc.return_result(
            engine_ctx(),
            _require_item(item_id),
            g.api_officer_id,
            collected_by=body["collected_by"],
            now=now(),
        )
    return _completion(result)
