"""The forms of a procedure (mẫu đơn, tờ khai): uploaded and removed by the procedure's process owner,
downloaded by everybody from the public catalogue.

A form is checked like a dossier's document (size cap, allowed types, content signature) and stored
content-addressed in the document store (engine/storage/), so a rolled-back upload leaves no wrong data.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from typing import IO

from sqlalchemy import select
from sqlalchemy.orm import Session

from config import Settings
from engine.catalogue.procedures import procedure_by_code
from engine.catalogue.versions import require_owner
from engine.context import Context
from engine.errors import InvalidInput, NotFound
from engine.runtime.attachments import Upload, check_upload, open_document
from engine.storage import document_store
from engine.usecase import active_officer, reading, require_aware, use_case
from models import ProcedureForm, UnitOfWork

TITLE_LENGTH = 255
MAX_FORMS = 30
DIGEST_LENGTH = 16  # the part of the file's sha256 that names it in the public address
_UNSAFE_NAME = re.compile(r"[^\w.\- ()]+", re.UNICODE)


@dataclass(frozen=True)
class FormFile:
    """A form as the public catalogue lists it: its title, file name, size and address key."""

    title: str
    file_name: str
    media_type: str
    size: int
    digest: str  # the first DIGEST_LENGTH hex digits of its sha256

    @property
    def extension(self) -> str:
        """The file's type as people name it: PDF, DOCX."""
        return self.file_name.rsplit(".", 1)[-1].upper() if "." in self.file_name else ""


@dataclass(frozen=True)
class OwnedForm:
    """A form as its process owner manages it (with its row id, never shown to the public)."""

    id: int
    title: str
    file_name: str
    size: int
    uploaded_at: datetime


def _write(settings: Settings, data: bytes) -> tuple[str, str]:
    stored = document_store(settings).put(data)
    return stored.sha256, stored.key


def forms_of(session: Session, procedure_id: int) -> list[ProcedureForm]:
    """A procedure's forms in upload order."""
    return list(
        session.scalars(
            select(ProcedureForm).where(ProcedureForm.procedure_id == procedure_id).order_by(ProcedureForm.id)
        )
    )


def public_forms(session: Session, procedure_id: int) -> list[FormFile]:
    """A procedure's forms as everybody may read them."""
    return [
        FormFile(f.title, f.file_name, f.media_type, f.size, f.sha256[:DIGEST_LENGTH])
        for f in forms_of(session, procedure_id)
    ]


def owned_forms(ctx: Context, code: str, *, uow: UnitOfWork | None = None) -> list[OwnedForm]:
    """A procedure's forms for its admin page (the page's own role check applies)."""
    with reading(ctx, uow) as session:
        procedure = procedure_by_code(session, code)
        return [
            OwnedForm(f.id, f.title, f.file_name, f.size, f.uploaded_at)
            for f in forms_of(session, procedure.id)
        ]


def add_form(ctx: Context, officer_id: int, code: str, title: str, upload: Upload, now: datetime) -> str:
    """Publish a form of the procedure; only a process owner of its owner agency may. Returns its title."""
    require_aware(now)
    title = " ".join((title or "").split())
    if not title:
        raise InvalidInput("Nhập tên mẫu đơn, tờ khai (ví dụ: Tờ khai đăng ký khai sinh).", "title")
    if len(title) > TITLE_LENGTH:
        raise InvalidInput(f"Tên mẫu đơn, tờ khai dài quá {TITLE_LENGTH} ký tự.", "title")
    with use_case(ctx, f"Thêm mẫu đơn, tờ khai của thủ tục {code}", "thủ tục") as uow:
        session = uow.session
        officer = active_officer(session, officer_id)
        procedure = procedure_by_code(session, code, lock=True)
        require_owner(officer, procedure)
        if len(forms_of(session, procedure.id)) >= MAX_FORMS:
            raise InvalidInput(f"Mỗi thủ tục có nhiều nhất {MAX_FORMS} mẫu đơn, tờ khai.", "file")
        media_type = check_upload(ctx.settings, upload)
        digest, stored = _write(ctx.settings, upload.data)
        session.add(
            ProcedureForm(
                procedure_id=procedure.id,
                title=title,
                file_name=_UNSAFE_NAME.sub("_", os.path.basename(upload.file_name))[:200],
                media_type=media_type,
                size=len(upload.data),
                sha256=digest,
                stored_path=stored,
                uploaded_at=now,
                uploaded_by_id=officer.id,
            )
        )
        uow.commit()
    return title


def remove_form(ctx: Context, officer_id: int, code: str, form_id: int) -> str:
    """Withdraw a form from the catalogue (its stored bytes stay: others may share them); its title."""
    with use_case(ctx, f"Gỡ mẫu đơn, tờ khai của thủ tục {code}", "thủ tục") as uow:
        session = uow.session
        officer = active_officer(session, officer_id)
        procedure = procedure_by_code(session, code, lock=True)
        require_owner(officer, procedure)
        form = session.get(ProcedureForm, form_id)
        if form is None or form.procedure_id != procedure.id:
            raise NotFound(f"Thủ tục {code} không có mẫu đơn, tờ khai này.")
        title = form.title
        session.delete(form)
        uow.commit()
    return title


def form_file(
    ctx: Context, code: str, digest: str, *, uow: UnitOfWork | None = None
) -> tuple[FormFile, IO[bytes]]:
    """A published form of the procedure by its address key, and a stream of its bytes (the caller
    closes it)."""
    with reading(ctx, uow) as session:
        procedure = procedure_by_code(session, code)
        for form in forms_of(session, procedure.id):
            if form.sha256[:DIGEST_LENGTH] == digest:
                found = FormFile(form.title, form.file_name, form.media_type, form.size, digest)
                return found, open_document(ctx.settings, form.stored_path)
    raise NotFound(f"Thủ tục {code} không có mẫu đơn, tờ khai này.")
