"""Every shape of the JSON API under /api/v1, declared once as pydantic models.

The views read their input through these models (web/api_spec.py validates requests against them)
and build their answers as these models; the OpenAPI document is generated from them. Text limits
are the engine's (engine/runtime/dossiers.py `TEXT_LIMITS`, the columns' sizes); the few bounds that
exist only at the API (list lengths, page size) are stated here and nowhere else.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.fields import FieldInfo

from engine.runtime.dossier_lists import MAX_PER_PAGE, SEARCH_LENGTH, SORT_VALUES, STATES
from engine.runtime.dossiers import DATA_KEY, TEXT_LIMITS
from engine.runtime.inbox import SCOPES, URGENCIES
from models.dossier import CHANNELS, DOSSIER_STATUSES, RESULT_CLASSES

MAX_ID = 2**31 - 1  # ids are 32-bit integers in the database
DOCUMENT_LENGTH = 1000  # one line of a document checklist
MAX_DOCUMENTS = 50
MAX_FILES = 20
MAX_DATA_KEYS = 50
MAX_PAGE = 500


def _tidy(schema: dict[str, Any]) -> None:
    """Property titles repeat the property names, and a null default on a field that cannot be null
    only means the field may be left out: the document shows neither."""
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
        nullable = any(branch.get("type") == "null" for branch in prop.get("anyOf", []))
        if "default" in prop and prop["default"] is None and not nullable:
            del prop["default"]


def absent(**kwargs: Any) -> FieldInfo:
    """An optional parameter or field that may be left out but, when sent, is never null."""
    return Field(None, **kwargs)


def text(field: str | int, **kwargs: Any) -> Any:
    """A string bounded by the engine's limit for `field` (or by a number of characters)."""
    limit = TEXT_LIMITS[field] if isinstance(field, str) else field
    return Annotated[str, Field(max_length=limit, **kwargs)]


class Shape(BaseModel):
    """A JSON object the API answers with: every field is always present."""

    model_config = ConfigDict(json_schema_extra=_tidy)


class Input(BaseModel):
    """A JSON object the API reads: unknown fields are refused and no value is converted."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_tidy)


class Parameters(BaseModel):
    """Query or header parameters: strings converted to their types, others ignored."""

    model_config = ConfigDict(json_schema_extra=_tidy)


# ---------------------------------------------------------------------------
# path parameters


DossierCode = Annotated[
    str,
    Field(
        min_length=1,
        max_length=TEXT_LIMITS["dossier_code"],
        description="Dossier code (mã hồ sơ).",
        examples=["000.00.12.H40-261123-0001"],
    ),
]
WorkItemId = Annotated[int, Field(ge=1, le=MAX_ID, description="Work item id.")]
# A path value outside its schema names nothing that exists: it is answered 404 with the message.
PATH_PARAMETERS: dict[str, tuple[Any, str]] = {
    "code": (DossierCode, "Không tìm thấy hồ sơ {}"),
    "item_id": (WorkItemId, "Không tìm thấy bước xử lý số {}"),
    "procedure_code": (
        Annotated[str, Field(min_length=1, max_length=40, description="Procedure code (mã thủ tục).")],
        "Không tìm thấy thủ tục {}",
    ),
    "item_number": (
        Annotated[
            str, Field(min_length=1, max_length=40, description="Postal item number (số hiệu bưu gửi).")
        ],
        "Không có bưu gửi số hiệu {}",
    ),
}


# ---------------------------------------------------------------------------
# requests


def _keys_by_name(schema: dict[str, Any]) -> None:
    """Pydantic writes a key pattern as patternProperties; the API refuses every other key."""
    ((pattern, values),) = schema.pop("patternProperties").items()
    schema["propertyNames"] = {"pattern": pattern}
    schema["additionalProperties"] = values


DataKey = Annotated[str, Field(pattern=DATA_KEY.pattern)]
DataValue = int | float | bool | text("comment") | None
# Values the workflow's conditions read: flat, named like identifiers, scalar (nested objects could
# be mistaken for serialized workflow objects when the state is stored).
Data = Annotated[
    dict[DataKey, DataValue],
    Field(
        max_length=MAX_DATA_KEYS,
        description="Dữ liệu của hồ sơ mà các điều kiện trong quy trình đọc (giá trị đơn, không lồng nhau).",
        json_schema_extra=_keys_by_name,
    ),
]


class Applicant(Input):
    """The person or organisation applying."""

    name: text("applicant_name", min_length=1, examples=["Nguyễn Văn An"])
    id_number: text("applicant_id_number", description="Số định danh cá nhân (12 chữ số)") | None = None
    phone: text("applicant_phone", examples=["0912345678"]) | None = None
    email: text("applicant_email") | None = None
    address: text("applicant_address") | None = None


class Upload(Input):
    """A file handed in with the dossier, its content in base64."""

    name: text("file_name", min_length=1, examples=["don-de-nghi.pdf"])
    content_base64: Annotated[str, Field(json_schema_extra={"contentEncoding": "base64"})]


class PortalDocument(Input):
    """A document the portal holds, fetched by motcua from an allowed host."""

    name: text(DOCUMENT_LENGTH, min_length=1, examples=["Văn bản đề nghị"])
    url: Annotated[
        str, Field(min_length=8, max_length=2000, examples=["https://dichvucong.gov.vn/tep/123.pdf"])
    ]


class PortalPush(Input):
    """An online dossier pushed by the public service portal (Cổng Dịch vụ công)."""

    portal_code: Annotated[
        str,
        Field(
            min_length=1, max_length=70, description="The portal's own dossier code (MaHoSo of the portal)"
        ),
    ]
    procedure_code: text("procedure_code", min_length=1, examples=["1.001806"])
    agency: (
        Annotated[str, Field(max_length=40, description="The receiving agency's code, when several may")]
        | None
    ) = None
    applicant: Applicant
    documents: list[PortalDocument] = absent(max_length=30)
    data: Data = absent()


class PortalReceipt(Shape):
    """Our receipt of a pushed dossier."""

    portal_code: str
    dossier_code: str
    agency: str
    received_at: str
    appointment_at: str
    repeated: bool


class ReceiveDossier(Input):
    """A dossier handed in at the desk or through the online portal."""

    procedure_code: text("procedure_code", min_length=1, examples=["1.001806"])
    applicant: Applicant
    channel: Literal[CHANNELS] = "online"
    documents: list[text(DOCUMENT_LENGTH)] = absent(
        max_length=MAX_DOCUMENTS,
        description="The checklist of documents handed in; when sent, at least one of the procedure's "
        "required_documents.",
    )
    data: Data = absent()
    files: list[Upload] = absent(max_length=MAX_FILES)
    no_contact: bool = Field(
        False,
        description="The citizen gave neither phone nor ID number: the lookup is by dossier code only. "
        "Without it, applicant.phone or applicant.id_number is required.",
    )
    forward: bool = Field(
        False,
        description="Also complete the desk's first step with its forwarding outcome, in the same "
        "transaction: the dossier lands in the next officer's inbox.",
    )
    postal_item_number: text(40) | None = absent(
        description="The item number (số hiệu bưu gửi) the dossier came under; required with channel "
        "postal (docs/postal.md).",
    )
    result_by_post: bool = Field(
        False, description="The applicant asks for the result by post, to delivery_address."
    )
    delivery_address: text(1000) | None = absent()


class ReceiveHeaders(Parameters):
    """Headers of a dossier submission."""

    idempotency_key: str = absent(
        alias="Idempotency-Key",
        pattern=r"^[!-~]{1,64}$",
        description="A key of the client's choosing; a repeated submission with the same key returns "
        "the first dossier (200) instead of receiving a second one.",
    )


REASON_WHEN_SENT_BACK = "Required, as the reason, when the outcome sends the dossier back for rework."
ASSIGN_TO = (
    "User name of an officer to whom the steps this completion opens are assigned (a head or "
    "supervisor of the agency only); left out, they go to the shared pool."
)


class CompleteStep(Input):
    """The outcome of a step, with a comment and data for the workflow's conditions."""

    outcome: text("outcome", description="One of the step's outcome values.") | None = None
    comment: text("comment", description=REASON_WHEN_SENT_BACK) | None = None
    data: Data = absent()
    assign_to: text("username", description=ASSIGN_TO) | None = None


class AssignWorkItem(Input):
    """The officer an open step is assigned to."""

    officer: text("username", description="User name of an active officer of the step's agency and role.")


class RequestSupplement(Input):
    """Every missing document at once, and why."""

    missing: list[text(DOCUMENT_LENGTH)] = Field(max_length=MAX_DOCUMENTS)
    reason: text("reason")
    late_reason: text("reason") | None = Field(
        default=None,
        description="Why the request comes late: required after 3 working days from receipt.",
    )


class Refuse(Input):
    """The reasons of a refusal."""

    reason: text("reason")


class ReturnResult(Input):
    """Who collected the result."""

    collected_by: text("collected_by")


class PostalReport(Input):
    """A carrier's report on a result it was handed: delivered, or returned to the sender."""

    status: Literal["delivered", "returned_to_sender"]
    # When it happened, ISO 8601 with its offset; the time of the request when left out.
    at: Annotated[str, Field(max_length=40, json_schema_extra={"format": "date-time"})] | None = absent()
    # The carrier's name, needed only when two carriers used the same number.
    carrier: text(120) | None = absent()
    note: text("note") | None = absent()


class PostalItemState(Shape):
    """A postal item as it stands; `changed` is false when the report had been recorded before."""

    item_number: str
    carrier: str
    dossier_code: str
    status: str
    status_label: str
    handed_at: str | None
    closed_at: str | None
    changed: bool


class Resume(Input):
    """A note on the supplement received."""

    note: text("note") | None = None


class Withdraw(Input):
    """Why the applicant withdraws."""

    reason: text("reason")


class InboxQuery(Parameters):
    """Filters and page of the inbox."""

    scope: Literal[SCOPES] = Field(
        "all", description="mine: my own items; pool: unclaimed items of my roles; all: both."
    )
    status: Literal[URGENCIES] = absent()
    procedure: str = absent(
        min_length=1,
        max_length=TEXT_LIMITS["procedure_code"],
        description="Only items of this procedure (code).",
    )
    limit: int = Field(50, ge=1, le=MAX_PAGE)
    offset: int = Field(0, ge=0, le=MAX_ID)


class DossierListQuery(Parameters):
    """State, search, procedure and page of the dossier list."""

    state: Literal[tuple(STATES)] = absent(
        description="new: received, no step completed yet; processing: under way; supplement; "
        "result_ready; returned; refused; withdrawn; late: running past the legal due time; soon: "
        "running, due within the warning window."
    )
    q: str = absent(
        max_length=SEARCH_LENGTH,
        description="Part of the code, applicant name, phone, ID number or e-mail; case, diacritics, "
        "tone placement and spaces in numbers are ignored.",
    )
    procedure: str = absent(
        min_length=1, max_length=TEXT_LIMITS["procedure_code"], description="Only this procedure (code)."
    )
    sort: Literal[SORT_VALUES] = Field("-received", description="A key; a leading '-' sorts descending.")
    page: int = Field(1, ge=1, le=MAX_ID)
    per_page: int = Field(50, ge=1, le=MAX_PER_PAGE)


# ---------------------------------------------------------------------------
# answers

# Times are written by the views in the office's time zone (`datetime.isoformat`).
DATE_TIME = {"format": "date-time", "examples": ["2026-11-23T08:00:00+07:00"]}
Time = Annotated[str, Field(json_schema_extra=DATE_TIME)]
OptionalTime = Annotated[str | None, Field(json_schema_extra=DATE_TIME)]


class Error(Shape):
    """Every error: a stable code and a message for the officer, in Vietnamese."""

    error: str = Field(description="Stable code, e.g. invalid, forbidden, conflict.")
    message: str = Field(description="What went wrong, for the officer, in Vietnamese.")
    field: str = absent(description="The request field at fault, e.g. applicant.name.")
    fields: dict[str, str] = absent(
        description="Every field at fault with its message, when several were checked at once "
        "(e.g. documents and contact)."
    )
    problems: list[str] = absent()


class Health(Shape):
    """The API answers."""

    status: str


class Document(Shape):
    """An OpenAPI document."""

    model_config = ConfigDict(extra="allow")


class Officer(Shape):
    """An officer by id and name."""

    id: int
    name: str | None


class Named(Shape):
    """A procedure or an agency by code and name."""

    code: str
    name: str


class ApplicantView(Shape):
    """The applicant as the dossier records them."""

    name: str
    id_number: str | None
    phone: str | None
    email: str | None
    address: str | None


class WorkItem(Shape):
    """One step of a dossier, open or done."""

    id: int
    dossier_code: str
    step_id: str = Field(description="BPMN id of the step.")
    step: str
    kind: Literal["supplement", "return"] | None
    role: str
    agency: str | None
    assignee: Officer | None
    open: bool
    created_at: Time
    claimed_at: OptionalTime
    due_at: OptionalTime
    allotted_hours: float
    completed_at: OptionalTime
    completed_by: Officer | None
    outcome: str | None
    comment: str | None
    used_hours: float | None
    result_class: Literal[RESULT_CLASSES] | None


class Outcome(Shape):
    """A way on from a step."""

    value: str | None
    label: str


class Task(Shape):
    """A work item with what its step lets the officer do."""

    work_item: WorkItem
    dossier_code: str
    outcomes: list[Outcome] = Field(
        description="The outcomes `complete` accepts; a null value is the step's default way on."
    )
    can_supplement: bool = Field(description="Whether the step may ask for a supplement.")
    can_refuse: bool = Field(description="Whether the step may refuse the dossier.")


class Event(Shape):
    """One line of the dossier's audit trail."""

    id: int
    at: Time
    kind: str
    label: str
    officer: str | None
    payload: dict[str, Any]


class Suspension(Shape):
    """A time the dossier's clock stood still."""

    kind: str
    reason: str
    details: list[str]
    started_at: Time
    ended_at: OptionalTime
    paused_hours: float | None


class Attachment(Shape):
    """A file of the dossier."""

    id: int
    kind: Literal["input", "result"]
    file_name: str
    media_type: str
    size: int
    sha256: str
    uploaded_at: Time


class Dossier(Shape):
    """A dossier with its work items, suspensions, documents and events."""

    code: str = Field(examples=["000.00.12.H40-261123-0001"])
    status: Literal[DOSSIER_STATUSES]
    status_label: str
    procedure: Named
    process_version: int
    agency: Named
    applicant: ApplicantView
    channel: Literal[CHANNELS]
    received_at: Time
    received_by: str | None
    due_at: OptionalTime = Field(
        description="The legal due time (hạn giải quyết theo quy định); lateness is judged against it."
    )
    legal_due_at: OptionalTime = Field(description="The same legal due time, by its name.")
    original_due_at: OptionalTime = Field(description="The legal due time computed at receipt.")
    appointment_at: OptionalTime = Field(
        description="The appointment told to the applicant (ngày hẹn trả kết quả); a letter moves it once."
    )
    appointment_moved_at: OptionalTime
    late: bool = Field(description="Whether the dossier is late (once late, always late).")
    late_at: OptionalTime = Field(
        description="When it became late: the legal due time its running clock passed."
    )
    judged_at: OptionalTime = Field(description="When its result class was fixed.")
    finished_at: OptionalTime
    returned_at: OptionalTime
    returned_to: str | None
    result_class: Literal[RESULT_CLASSES] | None
    refusal_reason: str | None
    withdrawal_reason: str | None
    documents: list[str]
    attachments: list[Attachment]
    work_items: list[WorkItem]
    suspensions: list[Suspension]
    events: list[Event]


class Completion(Shape):
    """Where the dossier stands after a step."""

    dossier_code: str
    status: Literal[DOSSIER_STATUSES]
    opened_work_item_ids: list[int]


class InboxRow(Shape):
    """One line of the inbox."""

    id: int
    dossier_code: str
    procedure_code: str
    procedure_name: str
    step: str
    kind: str | None
    role: str
    received_at: Time
    created_at: Time
    due_at: OptionalTime
    assignee: Officer | None
    remaining_hours: float | None = Field(
        description="Working hours left; negative when overdue; null while the clock is stopped."
    )
    urgency: Literal[(*URGENCIES, "paused")]


class InboxCounts(Shape):
    """How many items each filter shows."""

    all: int
    mine: int
    pool: int
    overdue: int
    soon: int


class Inbox(Shape):
    """A page of the inbox."""

    items: list[InboxRow]
    total: int = Field(description="Items matching the filters.")
    counts: InboxCounts
    limit: int
    offset: int


class DossierListRow(Shape):
    """One dossier of the list."""

    code: str
    applicant_name: str
    procedure_code: str
    procedure_name: str
    channel: Literal[CHANNELS]
    status: Literal[DOSSIER_STATUSES]
    received_at: Time
    appointment_at: OptionalTime
    legal_due_at: OptionalTime
    current_steps: list[str]
    holders: list[str] = Field(description="Who holds the open steps: the officer, else the agency.")
    remaining_hours: float | None = Field(
        description="Working hours to the legal due time while running; negative when overdue."
    )
    urgency: Literal[(*URGENCIES, "paused")] | None = Field(description="Null once finished.")


class DossierList(Shape):
    """A page of the dossiers the caller's agency received or holds or held a step of."""

    items: list[DossierListRow]
    total: int = Field(description="Dossiers matching the query (counted up to count_limit).")
    counts: dict[str, int] = Field(
        description="Dossiers in each state with the same search and procedure (up to count_limit)."
    )
    count_limit: int = Field(description="A count equal to it means at least that many.")
    page: int
    per_page: int


class LegalTime(Shape):
    """The time the law gives the procedure."""

    value: float
    unit: Literal["days", "hours"]


class FeeLine(Shape):
    """One fee or charge (phí, lệ phí) of a procedure."""

    name: str
    amount: int = Field(description="In đồng")
    exempt: str = Field(description="Who is exempt from it (empty: nobody)")


class FeeLineIn(Input):
    """One fee or charge (phí, lệ phí) of a procedure."""

    name: Annotated[str, Field(min_length=1, max_length=255)]
    amount: Annotated[int, Field(ge=0, le=1_000_000_000, description="In đồng")]
    exempt: Annotated[str, Field(max_length=1000)] = ""


class Procedure(Shape):
    """A procedure of the catalogue."""

    code: str
    name: str
    field: str
    level: str
    legal_time: LegalTime
    fee: str
    fees: list[FeeLine] = Field(description="Each fee or charge in đồng; empty when free")
    required_documents: list[str]
    online_level: str
    owner_agency: str
    receiving_level: str = Field(description="Cấp tiếp nhận: agencies of this level receive it.")
    receiving_agencies: list[str] = Field(
        description="When not empty, only these agencies' desks receive it (agency codes)."
    )
    has_active_version: bool
    active_version: int | None


class LegalTimeIn(Input):
    """The time the law gives the procedure: working days (0 is "trong ngày") or working hours."""

    value: Annotated[float, Field(ge=0, le=3650)]
    unit: Literal["days", "hours"]


class ProcedureIn(Input):
    """A procedure to add to the catalogue, or its new data (the code of an existing one never changes)."""

    code: Annotated[str, Field(min_length=1, max_length=40, examples=["1.001806"])]
    name: Annotated[str, Field(min_length=1, max_length=2000)]
    field: Annotated[str, Field(min_length=1, max_length=255)]
    level: Literal["province", "district", "commune"]
    legal_time: LegalTimeIn
    owner_agency: Annotated[str, Field(min_length=1, max_length=255, description="Agency code or exact name")]
    fee: Annotated[str, Field(max_length=2000)] = ""
    fees: list[FeeLineIn] = absent(max_length=20)
    required_documents: list[Annotated[str, Field(max_length=1000)]] = absent(max_length=100)
    online_level: Literal["none", "partial", "full"] = "partial"
    receiving_level: Literal["province", "department", "district", "commune"] | None = None
    receiving_agencies: list[Annotated[str, Field(max_length=40)]] = absent(max_length=200)


class Procedures(Shape):
    """The procedure catalogue."""

    procedures: list[Procedure]
