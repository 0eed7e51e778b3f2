"""`motcua check` of documents: every document a row refers to (a dossier's attachment, a signed
copy, a procedure's form, a feedback's file) is in the store and its bytes still hash to the row's
sha256.

Rows are read in id batches in short transactions; each file is streamed through the hash in
chunks, never held whole in memory; a key several rows share (the same scan attached twice, a
document reused in another dossier) is read once per batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from engine.context import Context
from engine.storage import MissingDocument, StoreError, document_store
from models import Attachment, Dossier, Procedure, ProcedureForm
from models.dossier import OPEN_STATUSES


@dataclass
class DocumentReport:
    """Documents checked, and those missing or changed, each described for the operator."""

    checked: int = 0
    missing: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Nothing missing, changed or unreadable."""
        return not (self.missing or self.mismatched or self.unreadable)

    def lines(self) -> list[str]:
        """The report as the command prints it."""
        out = [f"Thiếu tệp: {line}" for line in self.missing]
        out += [f"Tệp bị thay đổi (sha256 khác): {line}" for line in self.mismatched]
        out += [f"Không đọc được tệp: {line}" for line in self.unreadable]
        out.append(f"Đã kiểm tra {self.checked} tài liệu, {len(out)} tài liệu lỗi")
        return out


def _verify(
    ctx: Context, report: DocumentReport, rows: list[tuple[str, str, str]], seen: dict[tuple[str, str], str]
) -> None:
    """Check (label, key, sha256) rows, recording each failure under its label."""
    store = document_store(ctx.settings)
    for label, key, expected in rows:
        report.checked += 1
        outcome = seen.get((key, expected))
        if outcome is None:
            try:
                digest, _size = store.digest(key)
                outcome = "ok" if digest == expected else "mismatched"
            except MissingDocument:
                outcome = "missing"
            except StoreError as exc:
                outcome = f"unreadable ({exc})"
            seen[(key, expected)] = outcome
        if outcome == "missing":
            report.missing.append(f"{label} ({key})")
        elif outcome == "mismatched":
            report.mismatched.append(f"{label} ({key})")
        elif outcome != "ok":
            report.unreadable.append(f"{label} ({key}): {outcome}")


def check_documents(ctx: Context, *, batch: int = 500, open_only: bool = False) -> DocumentReport:
    """Check every document of every dossier (only open dossiers' with `open_only`) and every form."""
    report = DocumentReport()
    last_id = 0
    while True:
        with ctx.uow() as uow:
            query = (
                select(
                    Attachment.id,
                    Dossier.code,
                    Attachment.file_name,
                    Attachment.stored_path,
                    Attachment.sha256,
                )
                .join(Dossier, Dossier.id == Attachment.dossier_id)
                .where(Attachment.id > last_id)
                .order_by(Attachment.id)
                .limit(batch)
            )
            if open_only:
                query = query.where(Dossier.status.in_(OPEN_STATUSES))
            found = list(uow.session.execute(query))
        if not found:
            break
        last_id = found[-1][0]
        rows = [
            (f"hồ sơ {code}, tài liệu {id_} “{name}”", key, digest) for id_, code, name, key, digest in found
        ]
        _verify(ctx, report, rows, {})
    last_id = 0
    while True:
        with ctx.uow() as uow:
            forms = list(
                uow.session.execute(
                    select(
                        ProcedureForm.id,
                        Procedure.code,
                        ProcedureForm.title,
                        ProcedureForm.stored_path,
                        ProcedureForm.sha256,
                    )
                    .join(Procedure, Procedure.id == ProcedureForm.procedure_id)
                    .where(ProcedureForm.id > last_id)
                    .order_by(ProcedureForm.id)
                    .limit(batch)
                )
            )
        if not forms:
            break
        last_id = forms[-1][0]
        rows = [
            (f"thủ tục {code}, mẫu đơn “{title}”", key, digest) for _id, code, title, key, digest in forms
        ]
        _verify(ctx, report, rows, {})
    return report


__all__ = ["DocumentReport", "check_documents"]
