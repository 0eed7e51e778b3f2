"""Online dossiers pushed by the public service portal: fetched, checked and received at the
competent agency's desk as channel "online", once per portal code.

The documents are fetched before the transaction (only from the configured hosts, within the upload
size limit); the dossier is then received in one transaction, so a bad document, an unknown
procedure or an agency that does not handle it leaves nothing half-received. The receipt goes back
in the answer and, through the outbox, to the portal as the dossier's first DongBoHoSoMC.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from config import Settings
from engine.catalogue.competence import may_receive
from engine.catalogue.procedures import procedure_by_code
from engine.context import Context
from engine.errors import Conflict, Forbidden, InvalidFields, InvalidInput, NotFound, TooLarge
from engine.runtime.attachments import Upload
from engine.runtime.dossiers import Applicant, check_data, receive_in, validate_applicant
from engine.usecase import active_officer, require_aware, use_case
from models import Agency, Dossier, DossierEvent

KEY_PREFIX = "dvcqg:"
MAX_DOCUMENTS = 30


@dataclass(frozen=True)
class RemoteDocument:
    """A document the portal holds, by name and URL."""

    name: str
    url: str


@dataclass(frozen=True)
class OnlineDossier:
    """What the portal pushes: its own code, the procedure by national code, the applicant, documents."""

    portal_code: str
    procedure_code: str
    applicant: Applicant
    agency_code: str | None = None
    documents: tuple[RemoteDocument, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """What makes two pushes of one portal code the same dossier."""
        content = {
            "procedure": self.procedure_code,
            "agency": self.agency_code,
            "applicant": [self.applicant.name.strip(), self.applicant.id_number, self.applicant.phone],
            "documents": sorted(d.url for d in self.documents),
        }
        return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@dataclass(frozen=True)
class OnlineReceipt:
    """Our receipt of a pushed dossier; `repeated` when the portal code was received before."""

    portal_code: str
    dossier_code: str
    agency_code: str
    received_at: datetime
    due_at: datetime
    repeated: bool = False


def allowed_hosts(settings: Settings) -> dict[str, str]:
    """Host -> scheme allowed, from `dvcqg_document_hosts` ("portal.gov.vn,http://10.0.0.5")."""
    hosts: dict[str, str] = {}
    for entry in settings.dvcqg_document_hosts.split(","):
        entry = entry.strip()
        if not entry:
            continue
        scheme, _, host = entry.rpartition("://")
        hosts[host.lower().rstrip("/")] = scheme or "https"
    return hosts


def fetch_documents(settings: Settings, documents: Sequence[RemoteDocument]) -> list[Upload]:
    """Download the documents from the allowed hosts, each within the upload size limit."""
    if len(documents) > MAX_DOCUMENTS:
        raise InvalidInput(f"Tối đa {MAX_DOCUMENTS} tài liệu một hồ sơ", "documents")
    hosts = allowed_hosts(settings)
    uploads = []
    for number, document in enumerate(documents, 1):
        where = f"documents[{number}]"
        parts = urlsplit(document.url)
        host = (parts.hostname or "").lower()
        if host not in hosts or parts.scheme != hosts[host] or parts.username or parts.password:
            raise InvalidInput(
                f"Tài liệu {number} ({document.name}): địa chỉ {parts.scheme}://{host} không thuộc các máy "
                "chủ được phép tải tài liệu (MOTCUA_DVCQG_DOCUMENT_HOSTS)",
                where,
            )
        try:
            with urllib.request.urlopen(document.url, timeout=settings.dvcqg_timeout_seconds) as response:
                content = response.read(settings.upload_max_bytes + 1)
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise InvalidInput(
                f"Tài liệu {number} ({document.name}): không tải được ({exc})", where
            ) from None
        if len(content) > settings.upload_max_bytes:
            limit = settings.upload_max_bytes // (1024 * 1024)
            raise TooLarge(f"Tài liệu {number} ({document.name}) vượt quá {limit} MB")
        suffix = PurePosixPath(parts.path).suffix
        name = document.name if PurePosixPath(document.name).suffix else f"{document.name}{suffix}"
        uploads.append(Upload(name, content))
    return uploads


def _agency(session: Any, push: OnlineDossier, procedure: Any) -> Agency:
    if push.agency_code:
        agency = session.scalars(select(Agency).where(Agency.code == push.agency_code)).one_or_none()
        if agency is None:
            raise NotFound(f"Cơ quan {push.agency_code} không có trong danh sách cơ quan")
    else:
        listed = list(procedure.receiving_agencies or [])
        if len(listed) != 1:
            raise InvalidInput(
                f"Thủ tục {procedure.code} được tiếp nhận ở nhiều cơ quan; cần ghi cơ quan tiếp nhận",
                "agency",
            )
        agency = session.scalars(select(Agency).where(Agency.code == listed[0])).one()
    if not may_receive(procedure, agency):
        raise Forbidden(f"{agency.name} không tiếp nhận thủ tục {procedure.code}")
    return agency


def receive_online(
    ctx: Context,
    caller_id: int,
    push: OnlineDossier,
    now: datetime,
    *,
    fetch: Callable[[Settings, Sequence[RemoteDocument]], list[Upload]] = fetch_documents,
) -> OnlineReceipt:
    """Tiếp nhận hồ sơ trực tuyến từ Cổng: idempotent on the portal's code; another push of the same
    code with different content is refused (409)."""
    require_aware(now)
    code = push.portal_code.strip()
    problems: dict[str, str] = {}
    if not code or len(code) > 70:
        problems["portal_code"] = "Mã hồ sơ của Cổng bắt buộc, tối đa 70 ký tự"
    try:
        validate_applicant(push.applicant)
    except InvalidInput as exc:
        problems[f"applicant.{(exc.field or 'name').removeprefix('applicant_')}"] = exc.message
    if not (push.applicant.phone or push.applicant.id_number):
        problems["applicant.phone"] = "Cần số điện thoại hoặc số giấy tờ tùy thân để công dân tra cứu hồ sơ"
    if problems:
        raise InvalidFields(problems)
    data = check_data(push.data)
    key = KEY_PREFIX + code
    fingerprint = push.fingerprint()
    with ctx.uow() as uow:
        # Before fetching anything: a repeated push is answered from what was received.
        caller = active_officer(uow.session, caller_id)
        if not caller.has_role("portal"):
            raise Forbidden("Chỉ tài khoản tích hợp của Cổng dịch vụ công được gửi hồ sơ trực tuyến")
        earlier = _earlier(uow.session, key, fingerprint)
        if earlier is not None:
            return earlier
    uploads = fetch(ctx.settings, push.documents)
    with use_case(ctx, "Tiếp nhận hồ sơ trực tuyến từ Cổng") as uow:
        session = uow.session
        earlier = _earlier(session, key, fingerprint)  # a push that raced this one
        if earlier is not None:
            return earlier
        procedure = procedure_by_code(session, push.procedure_code)
        agency = _agency(session, push, procedure)
        dossier, _, _ = receive_in(
            ctx,
            session,
            procedure=procedure,
            agency=agency,
            received_by_id=None,
            applicant=push.applicant,
            channel="online",
            now=now,
            data=data,
            documents=[d.name for d in push.documents],
            uploads=uploads,
            submission_key=key,
            received_note={"portal_code": code, "portal_fingerprint": fingerprint},
        )
        receipt = OnlineReceipt(code, dossier.code, agency.code, dossier.received_at, dossier.due_at)  # type: ignore[arg-type]
        uow.commit()
    return receipt


def _earlier(session: Any, key: str, fingerprint: str) -> OnlineReceipt | None:
    dossier = session.scalars(select(Dossier).where(Dossier.submission_key == key)).one_or_none()
    if dossier is None:
        return None
    agency = session.get(Agency, dossier.agency_id)
    received = session.scalars(
        select(DossierEvent.payload).where(
            DossierEvent.dossier_id == dossier.id, DossierEvent.kind == "received"
        )
    ).first()
    if (received or {}).get("portal_fingerprint") != fingerprint:
        raise Conflict(
            f"Mã hồ sơ của Cổng {key.removeprefix(KEY_PREFIX)} đã được tiếp nhận (hồ sơ {dossier.code}) "
            "với nội dung khác; không tiếp nhận lại"
        )
    return OnlineReceipt(
        key.removeprefix(KEY_PREFIX),
        dossier.code,
        agency.code,
        dossier.received_at,
        dossier.due_at,
        repeated=True,
    )
