"""Documents of a dossier: uploads checked against the size cap and the type allow-list, stored
content-addressed in the document store (engine/storage/), recorded in the same transaction."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO

from sqlalchemy import select
from sqlalchemy.orm import Session

from config import Settings
from engine.errors import InvalidInput, NotFound, TooLarge
from engine.storage import MissingDocument, document_store
from models import Attachment

# Leading bytes of the formats whose content can be recognised; others are checked by name only.
_SIGNATURES = {
    "pdf": (b"%PDF-",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpg": (b"\xff\xd8\xff",),
    "jpeg": (b"\xff\xd8\xff",),
    "docx": (b"PK\x03\x04",),
    "xlsx": (b"PK\x03\x04",),
    "odt": (b"PK\x03\x04",),
    "ods": (b"PK\x03\x04",),
    "zip": (b"PK\x03\x04",),
    "doc": (b"\xd0\xcf\x11\xe0",),
    "xls": (b"\xd0\xcf\x11\xe0",),
}
_MEDIA_TYPES = {
    "pdf": "application/pdf",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "zip": "application/zip",
}
_UNSAFE_NAME = re.compile(r"[^\w.\- ()]+", re.UNICODE)


@dataclass(frozen=True)
class Upload:
    """A file handed in with a dossier or a step's result."""

    file_name: str
    data: bytes


def allowed_types(settings: Settings) -> list[str]:
    """The file extensions the office accepts."""
    return [t.strip().lower() for t in settings.upload_types.split(",") if t.strip()]


def check_upload(settings: Settings, upload: Upload) -> str:
    """Refuse files over the cap or of a type not allowed; returns the stored media type."""
    name = os.path.basename(upload.file_name or "").strip()
    if not name:
        raise InvalidInput("Tệp đính kèm không có tên.", "files")
    if len(upload.data) > settings.upload_max_bytes:
        limit = settings.upload_max_bytes / (1024 * 1024)
        raise TooLarge(f"Tệp “{name}” vượt quá dung lượng cho phép ({limit:g} MB).")
    if not upload.data:
        raise InvalidInput(f"Tệp “{name}” rỗng.", "files")
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    allowed = allowed_types(settings)
    if extension not in allowed:
        raise InvalidInput(f"Tệp “{name}” không thuộc loại được chấp nhận ({', '.join(allowed)}).", "files")
    signatures = _SIGNATURES.get(extension)
    if signatures and not upload.data.startswith(signatures):
        raise InvalidInput(f"Nội dung tệp “{name}” không đúng định dạng .{extension}.", "files")
    return _MEDIA_TYPES.get(extension, "application/octet-stream")


def store(
    settings: Settings,
    session: Session,
    *,
    dossier_id: int,
    kind: str,
    upload: Upload,
    officer_id: int | None,
    now: datetime,
    work_item_id: int | None = None,
) -> Attachment:
    """Write the file (content-addressed, so a rolled-back transaction leaves no wrong data) and its row."""
    media_type = check_upload(settings, upload)
    stored = document_store(settings).put(upload.data)
    name = _UNSAFE_NAME.sub("_", os.path.basename(upload.file_name))[:200]
    attachment = Attachment(
        dossier_id=dossier_id,
        work_item_id=work_item_id,
        kind=kind,
        file_name=name,
        media_type=media_type,
        size=stored.size,
        sha256=stored.sha256,
        stored_path=stored.key,
        uploaded_at=now,
        uploaded_by_id=officer_id,
        # A result is digitised when issued; an input when a scan names its checklist item
        # (engine/documents/digitisation.py).
        digitised_at=now if kind == "result" else None,
    )
    session.add(attachment)
    return attachment


def store_all(
    settings: Settings,
    session: Session,
    dossier_id: int,
    kind: str,
    uploads: Sequence[Upload],
    officer_id: int | None,
    now: datetime,
    work_item_id: int | None = None,
) -> list[Attachment]:
    """Store several uploads of one dossier (inputs at reception, or a step's results)."""
    return [
        store(
            settings,
            session,
            dossier_id=dossier_id,
            kind=kind,
            upload=upload,
            officer_id=officer_id,
            now=now,
            work_item_id=work_item_id,
        )
        for upload in uploads
    ]


def attachments_of(session: Session, dossier_id: int) -> list[Attachment]:
    """A dossier's documents in upload order."""
    return list(
        session.scalars(select(Attachment).where(Attachment.dossier_id == dossier_id).order_by(Attachment.id))
    )


def open_attachment(settings: Settings, session: Session, attachment_id: int) -> tuple[Attachment, IO[bytes]]:
    """The attachment row and a stream of its bytes (the caller closes it)."""
    attachment = session.get(Attachment, attachment_id)
    if attachment is None:
        raise NotFound("Không tìm thấy tài liệu.")
    return attachment, open_document(settings, attachment.stored_path)


def open_document(settings: Settings, key: str) -> IO[bytes]:
    """A stream of a stored document from the configured store; NotFound when its file is gone."""
    try:
        return document_store(settings).open(key)
    except MissingDocument:
        raise NotFound("Không tìm thấy tệp của tài liệu.") from None


def read_document(settings: Settings, key: str) -> bytes:
    """A stored document's bytes (for signing and digitising, which need them whole)."""
    with open_document(settings, key) as stream:
        return stream.read()
