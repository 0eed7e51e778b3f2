"""JSON API under /api/v1 for the online portal and other systems, authenticated by bearer token.

Each view is declared once: `@operation` names its answers and the annotations of `json`, `query`
and `headers` name the models of web/api_schemas.py its input is validated against (web/api_spec.py);
the OpenAPI document served at /api/v1/openapi.json is generated from the same declarations. A view
calls the same engine use case the pages call and answers with a model of web/api_schemas.py.
A request reads (the token, then what it answers) in the request's one unit of work, like a page; an
action gives that unit of work up after the token check, since its use case is its own transaction
and checks who may act, and reads its answer afterwards.
Errors are answered by web/errors.py as `{"error", "message", "field"?}` with the domain error's
status. Times are ISO 8601 in the office's time zone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, g, request, url_for

from engine.accounts import token_holder
from engine.catalogue.catalogue_admin import ProcedureInput, create_procedure, update_procedure
from engine.catalogue.procedures import CatalogueEntry, catalogue_entry, desk_catalogue
from engine.errors import InvalidFields, InvalidInput, NotFound, Unauthenticated
from engine.runtime import dossiers as svc
from engine.runtime.dossier_lists import ListQuery, dossier_list
from engine.runtime.dossier_views import EVENT_LABELS, DossierView, dossier_page, task_page
from engine.runtime.inbox import officer_inbox
from engine.runtime.postal import PostalIntake
from models.dossier import STATUS_LABELS
from models.vocabulary import PostalStatus
from web import api_schemas as schema
from web.alerts import READ_ONLY_METHODS
from web.api_spec import CATALOGUE, DOSSIERS, META, PREFIX, WORK_ITEMS, document, operation, refuse_nul
from web.helpers import decoded_uploads, end_request_uow, engine_ctx, now, request_uow

bp = Blueprint("api", __name__, url_prefix=PREFIX)

PUBLIC_ENDPOINTS = {"api.health", "api.openapi_document"}
# The engine names applicant fields after the desk form; the API names them by their JSON path.
FIELD_NAMES = {
    "applicant_name": "applicant.name",
    "applicant_id_number": "applicant.id_number",
    "applicant_phone": "applicant.phone",
    "applicant_email": "applicant.email",
    "applicant_address": "applicant.address",
}


# ---------------------------------------------------------------------------
# authentication and request checks


@bp.before_request
def authenticate() -> None:
    """Every endpoint but the document and the health check needs a valid bearer token."""
    refuse_nul(dict(request.view_args or {}) | request.args.to_dict())
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Thiếu mã truy cập; gửi kèm tiêu đề Authorization: Bearer <mã truy cập>.")
    try:
        g.api_officer_id = token_holder(engine_ctx(), token.strip(), uow=request_uow())
    finally:
        # An action's use case is its own transaction (SQLite lets one transaction at a time write).
        if request.method not in READ_ONLY_METHODS:
            end_request_uow()


@bp.after_request
def api_headers(response: Response) -> Response:
    """Dossiers hold personal data: never cached; a 401 names the scheme to use."""
    response.headers["Cache-Control"] = "no-store"
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="motcua"'
    return response


@contextmanager
def _api_fields() -> Iterator[None]:
    """Name the fields of the engine's errors as the request body names them."""
    try:
        yield
    except InvalidInput as exc:
        exc.field = FIELD_NAMES.get(exc.field or "", exc.field)
        if isinstance(exc, InvalidFields):
            exc.fields = {FIELD_NAMES.get(k, k): v for k, v in exc.fields.items()}
        raise


# ---------------------------------------------------------------------------
# representations


def _time(moment: datetime | None) -> str | None:
    return moment.astimezone(engine_ctx().calendar.tz).isoformat() if moment else None


def _officer_ref(officer_id: int | None, names: dict[int | None, str]) -> schema.Officer | None:
    return None if officer_id is None else schema.Officer(id=officer_id, name=names.get(officer_id))


def _work_items(view: DossierView) -> dict[int, schema.WorkItem]:
    """The dossier's work items by id, in the order they opened."""
    return {
        item.id: schema.WorkItem(
            id=item.id,
            dossier_code=view.dossier.code,
            step_id=item.task_id,
            step=item.task_name,
            kind=item.kind,
            role=item.role,
            agency=view.agencies.get(item.agency_id),
            assignee=_officer_ref(item.assignee_id, view.officers),
            open=item.is_open,
            created_at=_time(item.created_at),
            claimed_at=_time(item.claimed_at),
            due_at=_time(item.due_at),
            allotted_hours=float(item.allotted_hours),
            completed_at=_time(item.completed_at),
            completed_by=_officer_ref(item.completed_by_id, view.officers),
            outcome=item.outcome,
            comment=item.comment,
            used_hours=None if item.used_hours is None else float(item.used_hours),
            result_class=item.result_class,
        )
        for item in view.items
    }


def _dossier(view: DossierView) -> schema.Dossier:
    d = view.dossier
    return schema.Dossier(
        code=d.code,
        status=d.status,
        status_label=STATUS_LABELS[d.status],
        procedure=schema.Named(code=view.procedure.code, name=view.procedure.name),
        process_version=view.version.number,
        agency=schema.Named(code=view.agency.code, name=view.agency.name),
        applicant=schema.ApplicantView(
            name=d.applicant_name,
            id_number=d.applicant_id_number,
            phone=d.applicant_phone,
            email=d.applicant_email,
            address=d.applicant_address,
        ),
        channel=d.channel,
        received_at=_time(d.received_at),
        received_by=view.officers.get(d.received_by_id) if d.received_by_id else None,
        due_at=_time(d.due_at),
        legal_due_at=_time(d.due_at),
        original_due_at=_time(d.original_due_at),
        appointment_at=_time(d.appointment_at or d.due_at),
        appointment_moved_at=_time(d.appointment_moved_at),
        late=d.is_late_at(now()),
        late_at=_time(d.late_at),
        judged_at=_time(d.judged_at),
        finished_at=_time(d.finished_at),
        returned_at=_time(d.returned_at),
        returned_to=d.returned_to,
        result_class=d.result_class,
        refusal_reason=d.refusal_reason,
        withdrawal_reason=d.withdrawal_reason,
        documents=view.documents_received,
        attachments=[
            schema.Attachment(
                id=a.id,
                kind=a.kind,
                file_name=a.file_name,
                media_type=a.media_type,
                size=a.size,
                sha256=a.sha256,
                uploaded_at=_time(a.uploaded_at),
            )
            for a in view.attachments
        ],
        work_items=list(_work_items(view).values()),
        suspensions=[
            schema.Suspension(
                kind=s.kind,
                reason=s.reason,
                details=list(s.details or []),
                started_at=_time(s.started_at),
                ended_at=_time(s.ended_at),
                paused_hours=None if s.paused_hours is None else float(s.paused_hours),
            )
            for s in view.suspensions
        ],
        events=[
            schema.Event(
                id=e.id,
                at=_time(e.at),
                kind=e.kind,
                label=EVENT_LABELS.get(e.kind, e.kind),
                officer=view.officers.get(e.officer_id) if e.officer_id else None,
                payload=e.payload or {},
            )
            for e in view.events
        ],
    )


def _dossier_of(code: str) -> schema.Dossier:
    """The dossier, for a caller allowed to see it, read in the request's unit of work."""
    return _dossier(dossier_page(engine_ctx(), g.api_officer_id, code, uow=request_uow()))


def _task_of(item_id: int) -> schema.Task:
    """The work item and the ways on its step offers, read in the request's unit of work."""
    page = task_page(engine_ctx(), g.api_officer_id, item_id, uow=request_uow())
    view = page.view
    return schema.Task(
        work_item=_work_items(view.dossier)[view.item.id],
        dossier_code=view.dossier.dossier.code,
        outcomes=[schema.Outcome(value=o.value, label=o.label) for o in page.outcomes],
        can_supplement=page.can_supplement,
        can_refuse=page.can_refuse,
    )


def _completion(result: svc.Completion) -> schema.Completion:
    return schema.Completion(
        dossier_code=result.dossier_code,
        status=result.status,
        opened_work_item_ids=result.opened_work_item_ids,
    )


# ---------------------------------------------------------------------------
# endpoints

STEP_DONE = {200: (schema.Completion, "The step is done; where the dossier stands now.")}
WORK_ITEM_NOW = {200: (schema.Task, "The work item as it is now.")}


@bp.get("/health")
@operation("health", META, {200: (schema.Health, "Up.")}, public=True)
def health() -> schema.Health:
    """Liveness of the API."""
    return schema.Health(status="ok")


@bp.get("/openapi.json")
@operation("openapi", META, {200: (schema.Document, "The OpenAPI document.")}, public=True)
def openapi_document() -> dict[str, Any]:
    """This document."""
    return document()


@bp.get("/procedures")
@operation(
    "listProcedures",
    CATALOGUE,
    {200: (schema.Procedures, "The procedures the caller's desk may receive, by code.")},
)
def procedures() -> schema.Procedures:
    """The procedures the desk of the caller's agency may receive (thẩm quyền tiếp nhận: the
    catalogue's receiving level and agencies), with legal times, fees, required documents and
    active versions. A procedure not listed is refused by `receiveDossier` with 403."""
    entries = desk_catalogue(engine_ctx(), g.api_officer_id, uow=request_uow())
    return schema.Procedures(procedures=[_procedure(e) for e in entries])


def _procedure(entry: CatalogueEntry) -> schema.Procedure:
    return schema.Procedure(
        code=entry.code,
        name=entry.name,
        field=entry.field,
        level=entry.level,
        legal_time=schema.LegalTime(value=entry.legal_time_value, unit=entry.legal_time_unit),
        fee=entry.fee,
        fees=[schema.FeeLine(name=f.name, amount=f.amount, exempt=f.exempt) for f in entry.fees],
        required_documents=entry.required_documents,
        online_level=entry.online_level,
        owner_agency=entry.owner_agency_code,
        receiving_level=entry.receiving_level,
        receiving_agencies=list(entry.receiving_agencies),
        has_active_version=entry.active_version is not None,
        active_version=entry.active_version,
    )


def _applicant(applicant: schema.Applicant) -> svc.Applicant:
    """The applicant as the engine takes it: an empty string is no value."""
    return svc.Applicant(
        name=applicant.name,
        id_number=applicant.id_number or None,
        phone=applicant.phone or None,
        email=applicant.email or None,
        address=applicant.address or None,
    )


def _procedure_input(json: schema.ProcedureIn) -> ProcedureInput:
    return ProcedureInput(
        code=json.code,
        name=json.name,
        field=json.field,
        level=json.level,
        legal_time_value=json.legal_time.value,
        legal_time_unit=json.legal_time.unit,
        owner_agency=json.owner_agency,
        fee=json.fee,
        fees=tuple(line.model_dump() for line in json.fees or ()),
        required_documents=tuple(json.required_documents or ()),
        online_level=json.online_level,
        receiving_level=json.receiving_level,
        receiving_agencies=tuple(json.receiving_agencies or ()),
    )


def _procedure_of(code: str) -> schema.Procedure:
    return _procedure(catalogue_entry(engine_ctx(), code, uow=request_uow()))


@bp.post("/procedures")
@operation(
    "createProcedure",
    CATALOGUE,
    {201: (schema.Procedure, "Added to the catalogue, with no internal procedure yet.")},
    403,
)
def create_procedure_api(json: schema.ProcedureIn) -> Any:
    """Add a procedure (a process owner for their own agency, an administrator for any).

    Every field problem comes in one 422 answer under `fields`. The new procedure has no active
    version: its internal procedure is drafted, submitted and approved before dossiers arrive.
    """
    saved = create_procedure(engine_ctx(), g.api_officer_id, _procedure_input(json), now())
    return _procedure_of(saved.code), 201


@bp.put("/procedures/<code>")
@operation("updateProcedure", CATALOGUE, {200: (schema.Procedure, "The procedure as saved.")}, 403, 404)
def update_procedure_api(code: str, json: schema.ProcedureIn) -> schema.Procedure:
    """Change a procedure's catalogue data; its code never changes (the body's code is ignored).

    A new legal time applies to dossiers received from then on.
    """
    update_procedure(engine_ctx(), g.api_officer_id, code, _procedure_input(json), now())
    return _procedure_of(code)


@bp.post("/portal/dossiers")
@operation(
    "pushOnlineDossier",
    DOSSIERS,
    {
        201: (schema.PortalReceipt, "Received online at the competent desk."),
        200: (schema.PortalReceipt, "This portal code was received before: its receipt."),
    },
    403,
    409,
    413,
)
def push_online_dossier(json: schema.PortalPush) -> Any:
    """Receive an online dossier pushed by the public service portal (its service account only).

    Idempotent on `portal_code`; the same code with other content is refused with 409. Documents are
    fetched from the hosts in MOTCUA_DVCQG_DOCUMENT_HOSTS only, within the upload size limit. An
    unknown procedure is 422, an agency that does not receive it 403; nothing is half-received.
    """
    from engine.integrations.dvcqg.inbound import OnlineDossier, RemoteDocument, receive_online

    push = OnlineDossier(
        portal_code=json.portal_code,
        procedure_code=json.procedure_code,
        agency_code=json.agency,
        applicant=_applicant(json.applicant),
        documents=tuple(RemoteDocument(d.name, d.url) for d in json.documents or []),
        data=json.data or {},
    )
    with _api_fields():
        try:
            receipt = receive_online(engine_ctx(), g.api_officer_id, push, now())
        except NotFound as exc:
            raise InvalidInput(exc.message, "procedure_code") from exc
    body = schema.PortalReceipt(
        portal_code=receipt.portal_code,
        dossier_code=receipt.dossier_code,
        agency=receipt.agency_code,
        received_at=_time(receipt.received_at) or "",
        appointment_at=_time(receipt.due_at) or "",
        repeated=receipt.repeated,
    )
    return body, 200 if receipt.repeated else 201


@bp.post("/dossiers")
@operation(
    "receiveDossier",
    DOSSIERS,
    {
        201: (schema.Dossier, "Received: the dossier with its code, appointment and first steps."),
        200: (schema.Dossier, "The same Idempotency-Key was received before: that dossier."),
    },
    403,
    409,
    headers={201: {"Location": "The dossier's URL."}},
)
def receive_dossier(json: schema.ReceiveDossier, headers: schema.ReceiveHeaders) -> Any:
    """Receive a dossier (the desk, or the online portal's service account).

    Only a procedure the caller's desk may receive (listProcedures); otherwise 403. Every field
    problem comes in one 422 answer under `fields`. With `forward`, the desk's first step is
    completed in the same transaction. A repeated Idempotency-Key returns the first dossier with 200.
    """
    key = headers.idempotency_key
    with _api_fields():
        try:
            receipt = svc.receive_dossier(
                engine_ctx(),
                procedure_code=json.procedure_code,
                applicant=_applicant(json.applicant),
                channel=json.channel,
                officer_id=g.api_officer_id,
                now=now(),
                data=json.data,
                documents=json.documents,
                uploads=decoded_uploads(json.files or []),
                # Keys are the caller's own: scoped to the account, so two callers never collide.
                submission_key=f"api:{g.api_officer_id}:{key}" if key else None,
                no_contact=json.no_contact,
                forward=json.forward,
                postal=PostalIntake(
                    json.postal_item_number, None, json.result_by_post, json.delivery_address
                ),
            )
        except NotFound as exc:
            raise InvalidInput(exc.message, "procedure_code") from exc
    status = 200 if receipt.repeated else 201
    location = url_for("api.get_dossier", code=receipt.code)
    return _dossier_of(receipt.code), status, {"Location": location}


@bp.get("/dossiers")
@operation("listDossiers", DOSSIERS, {200: (schema.DossierList, "A page of the dossier list.")})
def list_dossiers(query: schema.DossierListQuery) -> schema.DossierList:
    """The dossiers my agency received or holds or held a step of, with the count of each state."""
    found = dossier_list(
        engine_ctx(),
        g.api_officer_id,
        ListQuery(
            state=query.state,
            q=(query.q or "").strip(),
            procedure_code=query.procedure,
            sort=query.sort,
            page=query.page,
            per_page=query.per_page,
        ),
        now=now(),
        choices=False,
        uow=request_uow(),
    )
    return schema.DossierList(
        items=[
            schema.DossierListRow(
                code=r.code,
                applicant_name=r.applicant_name,
                procedure_code=r.procedure_code,
                procedure_name=r.procedure_name,
                channel=r.channel,
                status=r.status,
                received_at=_time(r.received_at),
                appointment_at=_time(r.appointment_at),
                legal_due_at=_time(r.due_at),
                current_steps=r.steps,
                holders=r.holders,
                remaining_hours=r.remaining_hours,
                urgency=r.urgency,
            )
            for r in found.rows
        ],
        total=found.total,
        counts=found.counts,
        count_limit=found.count_limit,
        page=query.page,
        per_page=query.per_page,
    )


@bp.get("/dossiers/<code>")
@operation("getDossier", DOSSIERS, {200: (schema.Dossier, "The dossier.")}, 403, 404)
def get_dossier(code: str) -> schema.Dossier:
    """A dossier with its work items, suspensions, documents and events."""
    return _dossier_of(code)


@bp.post("/dossiers/<code>/resume")
@operation("resumeDossier", DOSSIERS, {200: (schema.Completion, "Processing again.")}, 403, 404, 409)
def resume_dossier(code: str, json: schema.Resume) -> schema.Completion:
    """The supplement arrived at the desk: the clock restarts (or resumes)."""
    with _api_fields():
        result = svc.resume(engine_ctx(), code, g.api_officer_id, now(), note=json.note or None)
    return _completion(result)


@bp.post("/dossiers/<code>/withdraw")
@operation("withdrawDossier", DOSSIERS, {200: (schema.Dossier, "The dossier, withdrawn.")}, 403, 404, 409)
def withdraw_dossier(code: str, json: schema.Withdraw) -> schema.Dossier:
    """The applicant withdraws: the workflow is cancelled and open steps are closed."""
    with _api_fields():
        svc.withdraw(engine_ctx(), code, g.api_officer_id, reason=json.reason, now=now())
    return _dossier_of(code)


@bp.post("/postal-items/<item_number>/status")
@operation(
    "reportPostalItem",
    DOSSIERS,
    {200: (schema.PostalItemState, "The item as it stands (also when the report was recorded before).")},
    403,
    404,
    409,
)
def report_postal_item(item_number: str, json: schema.PostalReport) -> schema.PostalItemState:
    """The carrier reports a result it was handed as delivered or returned to the sender (its service
    account, role "postal", or the receiving desk). Idempotent: the same report again changes nothing.
    An unknown item number is 404, a malformed one 422, any other change of a reported item 409."""
    from engine.runtime import postal

    moment = None
    if json.at is not None:
        try:
            moment = datetime.fromisoformat(json.at)
        except ValueError as exc:
            raise InvalidInput(
                "Thời điểm không đúng định dạng ISO 8601, ví dụ 2026-11-25T10:00:00+07:00", "at"
            ) from exc
    update = postal.record_delivery(
        engine_ctx(),
        g.api_officer_id,
        item_number,
        status=json.status,
        now=now(),
        at=moment,
        carrier=json.carrier,
        note=json.note,
    )
    return schema.PostalItemState(
        item_number=update.item_number,
        carrier=update.carrier,
        dossier_code=update.dossier_code,
        status=update.status,
        status_label=PostalStatus.label_of(update.status),
        handed_at=_time(update.handed_at),
        closed_at=_time(update.closed_at),
        changed=update.changed,
    )


@bp.get("/work-items")
@operation("listWorkItems", WORK_ITEMS, {200: (schema.Inbox, "A page of the inbox.")})
def list_work_items(query: schema.InboxQuery) -> schema.Inbox:
    """My open work items and my pool, most urgent first, with the counts of each."""
    page = officer_inbox(
        engine_ctx(),
        g.api_officer_id,
        now=now(),
        scope=query.scope,
        procedure_code=query.procedure,
        status=query.status,
        limit=query.limit,
        offset=query.offset,
        with_procedures=False,
        uow=request_uow(),
    )
    return schema.Inbox(
        items=[
            schema.InboxRow(
                id=r.work_item_id,
                dossier_code=r.dossier_code,
                procedure_code=r.procedure_code,
                procedure_name=r.procedure_name,
                step=r.step,
                kind=r.kind,
                role=r.role,
                received_at=_time(r.received_at),
                created_at=_time(r.created_at),
                due_at=_time(r.due_at),
                assignee=None
                if r.assignee_id is None
                else schema.Officer(id=r.assignee_id, name=r.assignee_name),
                remaining_hours=r.remaining_hours,
                urgency=r.urgency,
            )
            for r in page.rows
        ],
        total=page.total,
        counts=schema.InboxCounts(**page.counts),
        limit=query.limit,
        offset=query.offset,
    )


@bp.get("/work-items/<int:item_id>")
@operation("getWorkItem", WORK_ITEMS, {200: (schema.Task, "The work item.")}, 403, 404)
def get_work_item(item_id: int) -> schema.Task:
    """A work item of the caller's agency with the outcomes its step offers."""
    return _task_of(item_id)


@bp.post("/work-items/<int:item_id>/claim")
@operation("claimWorkItem", WORK_ITEMS, WORK_ITEM_NOW, 403, 404, 409)
def claim_work_item(item_id: int) -> schema.Task:
    """Take a pool item into the caller's own inbox."""
    svc.claim(engine_ctx(), item_id, g.api_officer_id, now())
    return _task_of(item_id)


@bp.post("/work-items/<int:item_id>/release")
@operation("releaseWorkItem", WORK_ITEMS, WORK_ITEM_NOW, 403, 404, 409)
def release_work_item(item_id: int) -> schema.Task:
    """Give an own item back to the pool."""
    svc.unclaim(engine_ctx(), item_id, g.api_officer_id, now())
    return _task_of(item_id)


@bp.post("/work-items/<int:item_id>/assign")
@operation("assignWorkItem", WORK_ITEMS, WORK_ITEM_NOW, 403, 404, 409)
def assign_work_item(item_id: int, json: schema.AssignWorkItem) -> schema.Task:
    """Assign an open step to a named officer of its agency and role (a head or supervisor only)."""
    with _api_fields():
        svc.assign(engine_ctx(), item_id, g.api_officer_id, json.officer, now())
    return _task_of(item_id)


@bp.post("/work-items/<int:item_id>/complete")
@operation("completeWorkItem", WORK_ITEMS, STEP_DONE, 403, 404, 409)
def complete_work_item(item_id: int, json: schema.CompleteStep) -> schema.Completion:
    """Complete the step with an outcome; the workflow advances (optionally assigning what it opens)."""
    with _api_fields():
        result = svc.complete(
            engine_ctx(),
            item_id,
            g.api_officer_id,
            now=now(),
            outcome=json.outcome or None,
            comment=(json.comment or "").strip() or None,
            data=json.data,
            assign_to=json.assign_to or None,
        )
    return _completion(result)


@bp.post("/work-items/<int:item_id>/supplement")
@operation("requestSupplement", WORK_ITEMS, STEP_DONE, 403, 404, 409)
def request_supplement(item_id: int, json: schema.RequestSupplement) -> schema.Completion:
    """Ask for every missing document at once; the dossier's clock stops."""
    with _api_fields():
        result = svc.request_supplement(
            engine_ctx(),
            item_id,
            g.api_officer_id,
            missing=json.missing,
            reason=json.reason,
            late_reason=json.late_reason,
            now=now(),
        )
    return _completion(result)


@bp.post("/work-items/<int:item_id>/refuse")
@operation("refuseWorkItem", WORK_ITEMS, STEP_DONE, 403, 404, 409)
def refuse_work_item(item_id: int, json: schema.Refuse) -> schema.Completion:
    """Refuse the dossier with the reasons; it goes back through the desk."""
    with _api_fields():
        result = svc.refuse(engine_ctx(), item_id, g.api_officer_id, reason=json.reason, now=now())
    return _completion(result)


@bp.post("/work-items/<int:item_id>/return")
@operation("returnResult", WORK_ITEMS, STEP_DONE, 403, 404, 409)
def return_result(item_id: int, json: schema.ReturnResult) -> schema.Completion:
    """Hand the result (or the refusal) over; the dossier is finished. Refused with 409 while the
    dossier's fee is neither paid in full nor waived (docs/payments.md)."""
    with _api_fields():
        result = svc.return_result(
            engine_ctx(),
            item_id,
            g.api_officer_id,
            collected_by=json.collected_by,
            now=now(),
        )
    return _completion(result)
