"""Digitised documents and results for generated dossiers (số hóa): attachment rows only (metadata:
names, hashes, digitisation and signature marks), no files.

The proportions follow what provinces report under QĐ 766: every document of an online dossier is
digital; at the desk 65 % of dossiers have every required document scanned at receipt, 15 % only some
and 20 % none. 85 % of the dossiers settled with a result (not refused or withdrawn) have their result
digitised when it is ready. Scanned PDFs (70 %) and results (all PDFs) are signed by the agency (95 %
of them; the rest unsigned). 6 % of the desk's dossiers with scans come from a returning applicant of
the same agency and procedure, who gets one document reused from the earlier dossier instead of a new
scan (the dossier takes the earlier applicant's name, ID number and phone). What the service functions
would write (engine/documents/digitisation.py) is written here, except the audit events: one
attachment row per document, ids drawn here so reuses can name theirs.

The generator's writers draw each dossier's documents as they write it (`Digitiser.rows_of`, the
returning applicants drawn from the writer's own earlier dossiers).
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict, deque
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.search_text import search_text_of
from models import Agency, Procedure

P_ALL_SCANNED = 0.65
P_SOME_SCANNED = 0.15
P_RESULT_DIGITISED = 0.85
P_PDF_SCAN = 0.70
P_SIGNED = 0.95
P_RETURNING = 0.06
# What a reused document copies from the one it reuses (engine/documents/digitisation.py `reuse_in`).
REUSED_FIELDS = (
    "file_name",
    "media_type",
    "size",
    "sha256",
    "stored_path",
    "signature_status",
    "signer_name",
    "signer_organisation",
    "signed_at",
    "signature_checked_at",
)
RECENT = 200  # earlier dossiers kept per agency and procedure to draw returning applicants from


def _row(
    attachment_id: int,
    dossier_id: int,
    kind: str,
    name: str | None,
    at: datetime,
    officer_id: int | None,
    pdf: bool,
    signer: tuple[str, str] | None,
) -> dict:
    digest = hashlib.sha256(f"{dossier_id}:{attachment_id}".encode()).hexdigest()
    extension = "pdf" if pdf else "jpg"
    return {
        "id": attachment_id,
        "dossier_id": dossier_id,
        "work_item_id": None,
        "kind": kind,
        "file_name": f"{'ket-qua' if kind == 'result' else 'ban-quet'}-{attachment_id}.{extension}",
        "media_type": "application/pdf" if pdf else "image/jpeg",
        "size": 150_000 + attachment_id % 400_000,
        "sha256": digest,
        "stored_path": f"{digest[:2]}/{digest}",
        "uploaded_at": at,
        "uploaded_by_id": officer_id,
        "document_name": name,
        "digitised_at": at,
        "reused_from_attachment_id": None,
        "signature_status": ("valid" if signer else "unsigned") if pdf else None,
        "signer_name": signer[0] if signer else None,
        "signer_organisation": signer[1] if signer else None,
        "signed_at": at if signer else None,
        "signature_checked_at": at if pdf else None,
        "signature_note": None,
    }


class Digitiser:
    """Draws the digitised documents of dossiers in turn (a returning applicant reuses an earlier one's)."""

    def __init__(
        self, documents: dict[int, list[str]], agencies: dict[int, str], next_id: Callable[[], int]
    ) -> None:
        self.documents = documents  # required documents by procedure id
        self.agencies = agencies  # names by id
        self.next_id = next_id
        self.recent: dict[tuple[int, int], deque] = defaultdict(lambda: deque(maxlen=RECENT))

    @staticmethod
    def catalogue(session: Session) -> tuple[dict[int, list[str]], dict[int, str]]:
        """The required documents of each procedure and the agencies' names, by id."""
        documents = {p.id: list(p.required_documents or []) for p in session.scalars(select(Procedure))}
        return documents, {a.id: a.name for a in session.scalars(select(Agency))}

    def rows_of(
        self,
        dossier_id: int,
        code: str,
        agency_id: int,
        procedure_id: int,
        channel: str,
        status: str,
        received_at: datetime,
        received_by_id: int | None,
        judged_at: datetime | None,
        finished_at: datetime | None,
        refusal_reason: str | None,
        applicant: tuple[str | None, str | None, str | None, str | None],
        rng: random.Random,
        until: datetime,
    ) -> tuple[list[dict], dict | None]:
        """One dossier's attachment rows, and its new applicant details when it reuses a document.

        `applicant` is (name, ID number, phone, e-mail); the details are {"id": ..., column: value}.
        """
        agency = self.agencies[agency_id]
        signer = (f"Lãnh đạo {agency}", agency)
        names = self.documents.get(procedure_id, [])
        draw = rng.random()
        if channel == "online" or draw < P_ALL_SCANNED:
            scanned = list(names)
        elif draw < P_ALL_SCANNED + P_SOME_SCANNED and len(names) > 1:
            scanned = rng.sample(names, rng.randint(1, len(names) - 1))
        else:
            scanned = []
        at = min(received_at + timedelta(minutes=rng.randint(2, 30)), until)
        officer = None if channel == "online" else received_by_id
        recent = self.recent[(agency_id, procedure_id)]
        reused = None
        if scanned and channel != "online" and recent and rng.random() < P_RETURNING:
            reused = rng.choice(recent)
        reuse_name = next((n for n in scanned if n in reused[1]), None) if reused else None
        rows: list[dict] = []
        written_rows: dict[str, dict] = {}
        for name in scanned:
            pdf = channel == "online" or rng.random() < P_PDF_SCAN
            signed = pdf and rng.random() < P_SIGNED
            row = _row(
                self.next_id(), dossier_id, "input", name, at, officer, pdf, signer if signed else None
            )
            if reused is not None and name == reuse_name:
                source = reused[1][name]
                row |= {k: source[k] for k in REUSED_FIELDS} | {"reused_from_attachment_id": source["id"]}
            written_rows[name] = row
            rows.append(row)
        details = None
        if reused is not None and reuse_name is not None:
            name, id_number, phone = reused[0]
            details = {
                "id": dossier_id,
                "applicant_name": name,
                "applicant_id_number": id_number,
                "applicant_phone": phone,
                "search_text": search_text_of(code, name, phone, id_number, applicant[3]),
            }
        elif written_rows:
            recent.append((applicant[:3], written_rows))
        settled = status in ("returned", "result_ready") and refusal_reason is None
        if settled and rng.random() < P_RESULT_DIGITISED:
            issued = judged_at or finished_at or at
            rows.append(_row(self.next_id(), dossier_id, "result", None, issued, None, True, signer))
        return rows, details
