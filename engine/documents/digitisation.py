"""Digitisation of a dossier's documents and results (số hóa hồ sơ, kết quả giải quyết TTHC).

- A required document (one of the procedure's `required_documents`, the receiving checklist) is
  digitised when its scan is attached to it at the desk (`digitise_document`), or when an earlier
  digitised document of the same applicant is reused for it (`reuse_document`).
- A result is digitised when it is issued: a result attachment is marked when stored
  (engine/runtime/attachments.py).
- A PDF is signed with the agency's certificate when the install signs (engine/documents/signing.py)
  and its signature is verified; `sign_document` signs a PDF already attached (a result). An image
  scan is kept unsigned.
- Reuse: the desk sees the applicant's earlier digitised documents and results, matched by the ID
  number, only from dossiers its agency may see (engine/runtime/access.py); the copy names the
  attachment it reuses.
Every change is one transaction with its audit event; a refusal changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.context import Context
from engine.documents import signing
from engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from engine.runtime.access import require_view, visible_to_agency_sql
from engine.runtime.attachments import Upload, check_upload, read_document, store
from engine.runtime.dossiers import dossier_by_code, record_event
from engine.usecase import active_officer, reading, require_aware, use_case
from models import Agency, Attachment, Dossier, DossierEvent, Officer, Procedure, UnitOfWork, WorkItem

LOG = logging.getLogger("motcua.digitisation")

SIGNATURE_LABELS = {
    None: "Không phải tệp PDF",
    "unsigned": "Chưa ký số",
    "valid": "Chữ ký số hợp lệ",
    "invalid": "Chữ ký số không hợp lệ",
}
# How many of the applicant's earlier documents the desk is offered, newest first.
REUSE_LIMIT = 50


@dataclass(frozen=True)
class ChecklistRow:
    """One required document of the dossier's procedure and the scans that digitise it."""

    name: str
    received: bool  # ticked on the receiving form
    scans: list[Attachment]

    @property
    def digitised(self) -> bool:
        """Whether a digitised scan is attached to it."""
        return any(a.digitised_at is not None for a in self.scans)


@dataclass(frozen=True)
class ReusableDocument:
    """An earlier digitised document or result of the same applicant, offered for reuse."""

    attachment_id: int
    dossier_code: str
    kind: str
    document_name: str | None
    file_name: str
    digitised_at: datetime
    signature_status: str | None


@dataclass(frozen=True)
class DigitisationPanel:
    """The dossier page's digitisation card."""

    dossier: Dossier
    checklist: list[ChecklistRow]
    other_inputs: list[Attachment]
    results: list[Attachment]
    reusable: list[ReusableDocument] = field(default_factory=list)
    can_digitise: bool = False  # the desk of the receiving agency
    signing_enabled: bool = False

    @property
    def digitised_count(self) -> int:
        """Required documents with a digitised scan."""
        return sum(1 for row in self.checklist if row.digitised)


def _required(session: Session, dossier: Dossier) -> list[str]:
    procedure = session.get_one(Procedure, dossier.procedure_id)
    return list(procedure.required_documents or [])


def _received_documents(session: Session, dossier: Dossier) -> set[str]:
    event = session.scalars(
        select(DossierEvent)
        .where(DossierEvent.dossier_id == dossier.id, DossierEvent.kind == "received")
        .order_by(DossierEvent.id)
    ).first()
    return set((event.payload or {}).get("documents") or []) if event is not None else set()


def _desk_of(session: Session, officer: Officer, dossier: Dossier) -> None:
    if not officer.has_role("desk"):
        raise Forbidden("Chỉ cán bộ Bộ phận Một cửa mới được số hóa thành phần hồ sơ")
    if dossier.agency_id != officer.agency_id:
        raise Forbidden(
            f"Hồ sơ {dossier.code} do cơ quan khác tiếp nhận; "
            "chỉ Bộ phận Một cửa nơi tiếp nhận mới số hóa hồ sơ này"
        )


def _open(dossier: Dossier) -> None:
    if not dossier.is_open:
        raise Conflict(f"Hồ sơ {dossier.code} đã kết thúc; không bổ sung thành phần hồ sơ số hóa được nữa.")


def _checked_name(session: Session, dossier: Dossier, document_name: str) -> str:
    name = " ".join((document_name or "").split())
    required = _required(session, dossier)
    match = next((r for r in required if " ".join(r.split()) == name), None)
    if match is None:
        raise InvalidInput(
            f"“{name[:200] or '(trống)'}” không thuộc thành phần hồ sơ của thủ tục; "
            "chọn một giấy tờ trong danh sách.",
            "document",
        )
    return match


def _apply_check(attachment: Attachment, check: signing.SignatureCheck, now: datetime) -> None:
    attachment.signature_status = check.status
    attachment.signer_name = check.signer_name
    attachment.signer_organisation = check.signer_organisation
    attachment.signed_at = check.signed_at
    attachment.signature_note = check.note
    attachment.signature_checked_at = now


def _sign_bytes(ctx: Context, agency: Agency, data: bytes, reason: str, now: datetime) -> tuple[bytes, tuple]:
    certificate = signing.agency_certificate(ctx.settings, agency, now)
    signed = signing.sign_pdf(certificate, data, reason=reason, agency=agency)
    return signed, certificate.trust_roots


def _store_checked(
    ctx: Context,
    session: Session,
    dossier: Dossier,
    officer: Officer,
    upload: Upload,
    now: datetime,
    *,
    sign: bool,
    reason: str,
) -> tuple[Attachment, bool]:
    """Store an input scan; a PDF is signed (when asked and the install signs) and verified."""
    media_type = check_upload(ctx.settings, upload)
    data = upload.data
    signed = False
    roots: tuple = ()
    if media_type == signing.PDF_MEDIA_TYPE:
        if sign and signing.signing_enabled(ctx.settings):
            agency = session.get_one(Agency, officer.agency_id)
            data, roots = _sign_bytes(ctx, agency, data, reason, now)
            signed = True
        else:
            roots = signing.trust_roots_for(ctx.settings, session.get_one(Agency, officer.agency_id))
    attachment = store(
        ctx.settings,
        session,
        dossier_id=dossier.id,
        kind="input",
        upload=Upload(upload.file_name, data),
        officer_id=officer.id,
        now=now,
    )
    if media_type == signing.PDF_MEDIA_TYPE:
        check = signing.verify_pdf(data, roots)
        if signed and check.status != "valid":
            LOG.warning("signature of %s did not verify: %s", upload.file_name, check.note)
            raise signing.SigningRefused(
                f"Chữ ký số vừa tạo không kiểm tra được ({check.note}); tài liệu chưa được lưu.", "file"
            )
        _apply_check(attachment, check, now)
    return attachment, signed


def digitise_document(
    ctx: Context,
    officer_id: int,
    code: str,
    document_name: str,
    upload: Upload,
    now: datetime,
    *,
    sign: bool = True,
) -> Attachment:
    """Attach the scan of one required document to a dossier, marked digitised (and signed if a PDF)."""
    require_aware(now)
    with use_case(ctx, "Số hóa thành phần hồ sơ") as uow:
        session = uow.session
        officer = active_officer(session, officer_id)
        dossier = dossier_by_code(session, code)
        _desk_of(session, officer, dossier)
        _open(dossier)
        name = _checked_name(session, dossier, document_name)
        attachment, signed = _store_checked(
            ctx, session, dossier, officer, upload, now, sign=sign, reason=f"Số hóa: {name[:200]}"
        )
        attachment.document_name = name
        attachment.digitised_at = now
        session.flush()
        record_event(
            session,
            dossier,
            "document_digitised",
            officer.id,
            now,
            attachment_id=attachment.id,
            document=name,
            file=attachment.file_name,
            signature=attachment.signature_status,
        )
        if signed:
            record_event(
                session,
                dossier,
                "document_signed",
                officer.id,
                now,
                attachment_id=attachment.id,
                document=name,
            )
        uow.commit()
        session.refresh(attachment)
        session.expunge(attachment)
        return attachment


def _signable(session: Session, officer: Officer, attachment: Attachment, dossier: Dossier) -> None:
    require_view(session, officer, dossier)
    if attachment.kind == "input":
        _desk_of(session, officer, dossier)
        return
    item = session.get(WorkItem, attachment.work_item_id) if attachment.work_item_id else None
    agency_id = item.agency_id if item is not None else dossier.agency_id
    if officer.agency_id != agency_id:
        raise Forbidden("Kết quả này do cơ quan khác ban hành; chỉ cơ quan ban hành mới ký số kết quả")


def sign_document(ctx: Context, officer_id: int, code: str, attachment_id: int, now: datetime) -> Attachment:
    """Sign an attached PDF (a result, or a scan attached before signing was set up) with the agency's
    certificate; the row then points at the signed file and its verified signature."""
    require_aware(now)
    with use_case(ctx, "Ký số tài liệu") as uow:
        session = uow.session
        officer = active_officer(session, officer_id)
        dossier = dossier_by_code(session, code)
        attachment = session.get(Attachment, attachment_id)
        if attachment is None or attachment.dossier_id != dossier.id:
            raise NotFound("Không tìm thấy tài liệu.")
        _signable(session, officer, attachment, dossier)
        if attachment.media_type != signing.PDF_MEDIA_TYPE:
            raise InvalidInput(
                f"Tệp “{attachment.file_name}” không phải PDF; chỉ ký số được tài liệu PDF.", "file"
            )
        if attachment.signature_status == "valid" and attachment.signer_organisation:
            raise Conflict(f"Tài liệu “{attachment.file_name}” đã có chữ ký số hợp lệ.")
        data = read_document(ctx.settings, attachment.stored_path)  # NotFound when its file is gone
        agency = session.get_one(Agency, officer.agency_id)
        signed, roots = _sign_bytes(ctx, agency, data, f"Ký số: {attachment.file_name}", now)
        check = signing.verify_pdf(signed, roots)
        if check.status != "valid":
            raise signing.SigningRefused(f"Chữ ký số vừa tạo không kiểm tra được ({check.note}).", "file")
        stored = store(
            ctx.settings,
            session,
            dossier_id=dossier.id,
            kind=attachment.kind,
            upload=Upload(attachment.file_name, signed),
            officer_id=officer.id,
            now=now,
        )
        previous = attachment.sha256
        attachment.sha256, attachment.size, attachment.stored_path = (
            stored.sha256,
            stored.size,
            stored.stored_path,
        )
        session.expunge(stored)
        if attachment.kind == "result" and attachment.digitised_at is None:
            attachment.digitised_at = now
        _apply_check(attachment, check, now)
        record_event(
            session,
            dossier,
            "document_signed",
            officer.id,
            now,
            attachment_id=attachment.id,
            file=attachment.file_name,
            unsigned_sha256=previous,
        )
        uow.commit()
        session.refresh(attachment)
        session.expunge(attachment)
        return attachment


def _reusable(
    session: Session, officer: Officer, id_number: str | None, exclude_dossier_id: int | None = None
) -> list[ReusableDocument]:
    """The applicant's earlier digitised documents and results in dossiers the officer's agency may see."""
    id_number = (id_number or "").strip()
    if not id_number:
        return []
    conditions = [
        Dossier.applicant_id_number == id_number,
        Attachment.digitised_at.is_not(None),
        Attachment.reused_from_attachment_id.is_(None),
        visible_to_agency_sql(officer.agency_id),
    ]
    if exclude_dossier_id is not None:
        conditions.append(Dossier.id != exclude_dossier_id)
    rows = session.execute(
        select(Attachment, Dossier.code)
        .join(Dossier, Dossier.id == Attachment.dossier_id)
        .where(*conditions)
        .order_by(Attachment.digitised_at.desc(), Attachment.id.desc())
        .limit(REUSE_LIMIT)
    )
    return [
        ReusableDocument(
            a.id,
            code,
            a.kind,
            a.document_name,
            a.file_name,
            a.digitised_at or a.uploaded_at,
            a.signature_status,
        )
        for a, code in rows
    ]


def reusable_documents(
    ctx: Context, officer_id: int, code: str, *, uow: UnitOfWork | None = None
) -> list[ReusableDocument]:
    """The applicant's earlier digitised documents and results the officer's agency may see."""
    with reading(ctx, uow) as session:
        officer = active_officer(session, officer_id)
        dossier = dossier_by_code(session, code)
        _desk_of(session, officer, dossier)
        return _reusable(session, officer, dossier.applicant_id_number, dossier.id)


def reusable_for_applicant(
    ctx: Context, officer_id: int, id_number: str | None, *, uow: UnitOfWork | None = None
) -> list[ReusableDocument]:
    """On the receiving form: the earlier digitised documents of the applicant with this ID number."""
    with reading(ctx, uow) as session:
        officer = active_officer(session, officer_id)
        if not officer.has_role("desk"):
            raise Forbidden("Chức năng này dành cho cán bộ Bộ phận Một cửa")
        return _reusable(session, officer, id_number)


def reuse_in(
    session: Session,
    officer: Officer,
    dossier: Dossier,
    source_attachment_id: int,
    document_name: str,
    now: datetime,
) -> Attachment:
    """Inside the caller's transaction: attach an earlier digitised document of the same applicant to
    a required document of the dossier; the copy names the attachment it reuses. The caller checked
    that the officer is the receiving desk."""
    name = _checked_name(session, dossier, document_name)
    source = session.get(Attachment, source_attachment_id)
    if source is None:
        raise NotFound("Không tìm thấy giấy tờ đã số hóa được chọn.")
    if source.reused_from_attachment_id is not None:
        source = session.get_one(Attachment, source.reused_from_attachment_id)
    origin = session.get_one(Dossier, source.dossier_id)
    allowed = session.scalar(
        select(Dossier.id).where(Dossier.id == origin.id, visible_to_agency_sql(officer.agency_id))
    )
    if allowed is None:
        LOG.warning("reuse of attachment %s refused: dossier of another agency", source.id)
        raise Forbidden(
            "Giấy tờ được chọn thuộc hồ sơ của cơ quan khác; ông/bà không có quyền sử dụng lại giấy tờ này."
        )
    if not dossier.applicant_id_number or origin.applicant_id_number != dossier.applicant_id_number:
        raise InvalidInput(
            "Giấy tờ được chọn không thuộc cùng người nộp (số định danh cá nhân khác nhau).", "reuse"
        )
    if source.digitised_at is None:
        raise InvalidInput("Giấy tờ được chọn chưa được số hóa nên không sử dụng lại được.", "reuse")
    if origin.id == dossier.id:
        raise InvalidInput("Giấy tờ được chọn đã thuộc hồ sơ này.", "reuse")
    copy = Attachment(
        dossier_id=dossier.id,
        kind="input",
        file_name=source.file_name,
        media_type=source.media_type,
        size=source.size,
        sha256=source.sha256,
        stored_path=source.stored_path,
        uploaded_at=now,
        uploaded_by_id=officer.id,
        document_name=name,
        digitised_at=now,
        reused_from_attachment_id=source.id,
        signature_status=source.signature_status,
        signer_name=source.signer_name,
        signer_organisation=source.signer_organisation,
        signed_at=source.signed_at,
        signature_checked_at=source.signature_checked_at,
        signature_note=source.signature_note,
    )
    session.add(copy)
    session.flush()
    record_event(
        session,
        dossier,
        "document_digitised",
        officer.id,
        now,
        attachment_id=copy.id,
        document=name,
        file=copy.file_name,
        reused_from_attachment_id=source.id,
        reused_from_dossier=origin.code,
    )
    return copy


def reuse_document(
    ctx: Context, officer_id: int, code: str, source_attachment_id: int, document_name: str, now: datetime
) -> Attachment:
    """Attach an earlier digitised document of the same applicant to a required document, instead of
    asking for it again."""
    require_aware(now)
    with use_case(ctx, "Sử dụng lại giấy tờ đã số hóa") as uow:
        session = uow.session
        officer = active_officer(session, officer_id)
        dossier = dossier_by_code(session, code)
        _desk_of(session, officer, dossier)
        _open(dossier)
        copy = reuse_in(session, officer, dossier, source_attachment_id, document_name, now)
        uow.commit()
        session.refresh(copy)
        session.expunge(copy)
        return copy


def digitisation_panel(
    ctx: Context, officer_id: int, code: str, *, uow: UnitOfWork | None = None
) -> DigitisationPanel:
    """The digitisation card of the dossier page: each required document with its scans, the results
    with their signatures and, for the receiving desk, the applicant's documents that can be reused."""
    with reading(ctx, uow) as session:
        officer = active_officer(session, officer_id)
        dossier = dossier_by_code(session, code)
        require_view(session, officer, dossier)
        attachments = list(
            session.scalars(
                select(Attachment).where(Attachment.dossier_id == dossier.id).order_by(Attachment.id)
            )
        )
        received = _received_documents(session, dossier)
        required = _required(session, dossier)
        rows = [
            ChecklistRow(name, name in received, [a for a in attachments if a.document_name == name])
            for name in required
        ]
        named = {a.id for row in rows for a in row.scans}
        can = officer.has_role("desk") and officer.agency_id == dossier.agency_id
        return DigitisationPanel(
            dossier=dossier,
            checklist=rows,
            other_inputs=[a for a in attachments if a.kind == "input" and a.id not in named],
            results=[a for a in attachments if a.kind == "result"],
            reusable=_reusable(session, officer, dossier.applicant_id_number, dossier.id) if can else [],
            can_digitise=can and dossier.is_open,
            signing_enabled=signing.signing_enabled(ctx.settings),
        )
