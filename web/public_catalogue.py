"""The public procedure catalogue: /thu-tuc (search, paging) and /thu-tuc/<code> (one procedure), its
forms and diagram, the same data as JSON at /api/v1/public/procedures without a token, and the process
owner's form uploads on the procedure's admin page.

Pages and answers are the same for everybody, so they are cacheable (Cache-Control public, ETag); a
page rendered for a signed-in officer carries their name in the header and is kept private. Every
public endpoint counts against one rate limit per client address.
"""

from __future__ import annotations

from typing import Annotated, Any

from flask import (
    Blueprint,
    Response,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user
from pydantic import Field

from engine.errors import DomainError, InvalidInput
from engine.feedback import procedure_answers
from engine.publication.catalogue import (
    MAX_PAGE,
    QUERY_LENGTH,
    PublicProcedure,
    SearchPage,
    public_diagram,
    public_procedure,
    search_procedures,
)
from engine.publication.forms import DIGEST_LENGTH, add_form, remove_form
from engine.publication.forms import form_file as find_form_file
from engine.runtime.attachments import Upload
from web import api_schemas as schema
from web.api_spec import PREFIX, Tag, operation, refuse_nul
from web.dossiers import xml_response
from web.extensions import limiter
from web.helpers import engine_ctx, now, officer, request_uow, roles_required

bp = Blueprint("public_catalogue", __name__, url_prefix="/thu-tuc")
api_bp = Blueprint("public_api", __name__, url_prefix=PREFIX + "/public")
owner_bp = Blueprint("procedure_forms", __name__, url_prefix="/quy-trinh")
PUBLIC = Tag(name="public", description="Thông tin công khai, không cần mã truy cập")


def _limit() -> str:
    return engine_ctx().settings.public_catalogue_rate_limit


public_budget = limiter.shared_limit(_limit, scope="public_catalogue")


def _cacheable(response: Response) -> Response:
    """Public and conditional for everybody; private for a signed-in officer (the page names them)."""
    response.vary.add("Cookie")
    if current_user.is_authenticated:
        response.headers["Cache-Control"] = "private, no-store"
        return response
    response.headers["Cache-Control"] = f"public, max-age={engine_ctx().settings.public_catalogue_max_age}"
    response.add_etag()
    return response.make_conditional(request)


def _no_store_on_errors(response: Response) -> Response:
    """An error (404, 422, 429) is never kept by a cache."""
    if response.status_code not in (200, 304):
        response.headers["Cache-Control"] = "no-store"
    return response


bp.after_request(_no_store_on_errors)
api_bp.after_request(_no_store_on_errors)


def _page_number(text: str | None) -> int:
    try:
        page = int(text or 1)
    except ValueError:
        return 1
    return min(max(page, 1), MAX_PAGE)


# ---------------------------------------------------------------------------
# pages


@bp.get("")
@public_budget
def index():
    """Search the catalogue by name or code, field, level and agency; one page of results."""
    refuse_nul(request.args.to_dict())
    args = {k: (request.args.get(k) or "").strip() for k in ("q", "field", "level", "agency")}
    status, error = 200, None
    try:
        page = _page_number(request.args.get("page"))
        found = search_procedures(engine_ctx(), page=page, uow=request_uow(), **args)
    except InvalidInput as exc:
        status, error = exc.http_status, exc.message
        found = search_procedures(engine_ctx(), uow=request_uow())
        found = SearchPage([], 0, 1, 1, found.per_page, found.fields, found.levels, found.agencies)
    html = render_template("public_catalogue.html", found=found, args=args, error=error, max_q=QUERY_LENGTH)
    response = make_response(html, status)
    return _cacheable(response) if status == 200 else response


@bp.get("/<code>")
@public_budget
def procedure(code: str):
    """One procedure: who receives it, legal time, documents, fees, forms, how to submit, the internal
    procedure with its diagram and decision, and its on-time rate."""
    p = public_procedure(engine_ctx(), code, now=now(), uow=request_uow())
    answers = procedure_answers(engine_ctx(), p.code, uow=request_uow())  # docs/feedback.md
    return _cacheable(make_response(render_template("public_procedure.html", p=p, answers=answers)))


@bp.get("/<code>/so-do.bpmn")
@public_budget
def diagram(code: str):
    """The active internal procedure's diagram for the read-only viewer, as inert XML."""
    return _cacheable(xml_response(public_diagram(engine_ctx(), code, uow=request_uow())))


@bp.get("/<code>/bieu-mau/<digest>")
@public_budget
def form_file(code: str, digest: str):
    """Download a form; never shown inline, whatever its type."""
    if len(digest) != DIGEST_LENGTH or not all(c in "0123456789abcdef" for c in digest):
        return render_template("error.html", status=404, message="Không tìm thấy mẫu đơn, tờ khai."), 404
    found, stream = find_form_file(engine_ctx(), code, digest, uow=request_uow())
    response = send_file(stream, mimetype=found.media_type, as_attachment=True, download_name=found.file_name)
    response.content_length = found.size
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


# ---------------------------------------------------------------------------
# the process owner's forms (on the procedure's admin page)


@owner_bp.post("/<code>/bieu-mau")
@roles_required("process_owner")
def upload_form(code: str):
    """Publish a form of the procedure."""
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise InvalidInput("Chọn tệp mẫu đơn, tờ khai để tải lên.", "file")
        title = add_form(
            engine_ctx(),
            officer().id,
            code,
            request.form.get("title") or "",
            Upload(upload.filename, upload.read()),
            now(),
        )
    except DomainError as exc:
        if exc.http_status in (403, 404):
            raise
        flash(exc.message, "danger")
        return redirect(url_for("processes.procedure", code=code))
    flash(f"Đã đăng mẫu “{title}” lên trang thủ tục công khai.", "success")
    return redirect(url_for("processes.procedure", code=code))


@owner_bp.post("/<code>/bieu-mau/<int:form_id>/go")
@roles_required("process_owner")
def delete_form(code: str, form_id: int):
    """Withdraw a form from the public page."""
    title = remove_form(engine_ctx(), officer().id, code, form_id)
    flash(f"Đã gỡ mẫu “{title}”.", "success")
    return redirect(url_for("processes.procedure", code=code))


# ---------------------------------------------------------------------------
# the public API


class PublicProcedureQuery(schema.Parameters):
    """Search, filters and page of the public catalogue."""

    q: Annotated[
        str,
        Field(
            max_length=QUERY_LENGTH, description="Words of the name or code; case and diacritics are ignored."
        ),
    ] = ""
    field: Annotated[str, Field(max_length=255, description="Lĩnh vực, as listed.")] = ""
    level: Annotated[str, Field(max_length=20, description="province, district or commune.")] = ""
    agency: Annotated[str, Field(max_length=40, description="An agency code: what it owns or receives.")] = ""
    page: Annotated[int, Field(ge=1, le=MAX_PAGE)] = 1


class PublicProcedureSummary(schema.Shape):
    """A procedure in the list."""

    code: str
    name: str
    field: str
    level: str
    legal_time: str
    agency: str
    online: str
    url: str


class PublicProcedureList(schema.Shape):
    """One page of the public catalogue."""

    procedures: list[PublicProcedureSummary]
    total: int
    page: int
    pages: int
    per_page: int


class PublicFee(schema.Shape):
    """A fee or charge, in đồng."""

    name: str
    amount: int
    exempt: str


class PublicForm(schema.Shape):
    """A form to download."""

    title: str
    file_name: str
    size: int
    url: str


class PublicStepOut(schema.Shape):
    """A step of the internal procedure."""

    name: str
    who: str
    time: str
    hours: float | None
    counted: bool


class PublicProcessOut(schema.Shape):
    """The approved internal procedure."""

    decision_number: str
    decision_date: str | None = Field(description="YYYY-MM-DD")
    steps: list[PublicStepOut]
    diagram_url: str


class PublicOnTime(schema.Shape):
    """Dossiers resolved in the last 12 months and the early or on-time ones (as in Biểu 06)."""

    first_day: str
    last_day: str
    resolved: int
    on_time: int
    rate: float | None


class PublicProcedureOut(schema.Shape):
    """A procedure as published."""

    code: str
    name: str
    field: str
    level: str
    legal_time: str
    legal_time_value: float
    legal_time_unit: str
    owner_agency: str
    receiving: str
    receiving_agencies: list[str]
    required_documents: list[str]
    fees: list[PublicFee]
    fee_text: str = Field(description="The fee as the catalogue words it when no fee list is stated.")
    forms: list[PublicForm]
    online_level: str
    submission: list[str]
    process: PublicProcessOut | None
    on_time: PublicOnTime | None


def _public_json(model: Any) -> Response:
    response = make_response(model.model_dump_json(), 200)
    response.mimetype = "application/json"
    return _cacheable(response)


@api_bp.get("/procedures")
@public_budget
@operation(
    "listPublicProcedures",
    PUBLIC,
    {200: (PublicProcedureList, "One page of the public procedure catalogue.")},
    404,
    public=True,
)
def procedures(query: PublicProcedureQuery) -> Response:
    """The public catalogue, searched by name or code (ignoring case and diacritics), field, level and
    agency, 20 a page. No token; rate-limited per client; cacheable."""
    found = search_procedures(
        engine_ctx(),
        query.q,
        field=query.field,
        level=query.level,
        agency=query.agency,
        page=query.page,
        uow=request_uow(),
    )
    return _public_json(
        PublicProcedureList(
            procedures=[
                PublicProcedureSummary(
                    code=r.code,
                    name=r.name,
                    field=r.field,
                    level=r.level,
                    legal_time=r.legal_time,
                    agency=r.agency,
                    online=r.online_label,
                    url=url_for("public_catalogue.procedure", code=r.code, _external=True),
                )
                for r in found.rows
            ],
            total=found.total,
            page=found.page,
            pages=found.pages,
            per_page=found.per_page,
        )
    )


def procedure_out(p: PublicProcedure) -> PublicProcedureOut:
    """The API's shape of a published procedure."""
    process = None
    if p.process is not None:
        process = PublicProcessOut(
            decision_number=p.process.decision_number,
            decision_date=p.process.decision_date.isoformat() if p.process.decision_date else None,
            steps=[
                PublicStepOut(name=s.name, who=s.who, time=s.time, hours=s.hours, counted=s.counted)
                for s in p.process.steps
            ],
            diagram_url=url_for("public_catalogue.diagram", code=p.code, _external=True),
        )
    on_time = None
    if p.on_time is not None:
        on_time = PublicOnTime(
            first_day=p.on_time.first_day.isoformat(),
            last_day=p.on_time.last_day.isoformat(),
            resolved=p.on_time.resolved,
            on_time=p.on_time.on_time,
            rate=p.on_time.rate,
        )
    return PublicProcedureOut(
        code=p.code,
        name=p.name,
        field=p.field,
        level=p.level,
        legal_time=p.legal_time,
        legal_time_value=p.legal_time_value,
        legal_time_unit=p.legal_time_unit,
        owner_agency=p.owner_agency,
        receiving=p.receiving,
        receiving_agencies=p.receiving_agencies,
        required_documents=p.required_documents,
        fees=[PublicFee(name=f.name, amount=f.amount, exempt=f.exempt) for f in p.fees],
        fee_text=p.fee_text,
        forms=[
            PublicForm(
                title=f.title,
                file_name=f.file_name,
                size=f.size,
                url=url_for("public_catalogue.form_file", code=p.code, digest=f.digest, _external=True),
            )
            for f in p.forms
        ],
        online_level=p.online_level,
        submission=p.submission,
        process=process,
        on_time=on_time,
    )


@api_bp.get("/procedures/<procedure_code>")
@public_budget
@operation(
    "getPublicProcedure",
    PUBLIC,
    {200: (PublicProcedureOut, "The procedure as its public page shows it.")},
    404,
    public=True,
)
def procedure_json(procedure_code: str) -> Response:
    """One procedure as its public page shows it. No token; rate-limited per client; cacheable."""
    found = public_procedure(engine_ctx(), procedure_code, now=now(), uow=request_uow())
    return _public_json(procedure_out(found))
