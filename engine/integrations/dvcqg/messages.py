"""The portal's payloads, built from our rows: field names as the portal spells them, every value a
string, times as yyyyMMddHHmmss in Asia/Ho_Chi_Minh, an empty string for none."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.catalogue.procedure_model import ROLE_LABELS
from models import Agency, Dossier, DossierEvent, Officer, Procedure, Suspension, WorkItem
from models.portal import PortalMapping
from models.postal import PostalItem

VN = ZoneInfo("Asia/Ho_Chi_Minh")
SYNC_DOSSIER = "DongBoHoSoMC"
PROGRESS = "CapNhatTienDoHoSoMC"
LOOKUP = "TraCuuHoSo"
# The portal refuses over-long notes; a note is cut at a word with an ellipsis.
NOTE_LIMIT = 500
MAPPING_KINDS = ("status", "agency", "procedure", "field", "result_delivery", "applicant_type")
# HinhThuc is how the result goes back, not how the dossier came in: "1" by post (the applicant asked
# for it, engine/runtime/postal.py), "0" collected at the desk; rows of portal_mapping (kind
# "result_delivery") override them.
RESULT_DELIVERY_DEFAULTS = {"desk": "0", "post": "1"}
# Our states as the portal's status codes (TrangThaiHoSo) seen in connected systems, unverified
# against the official specification: rows of portal_mapping (kind "status") override them.
STATUS_DEFAULTS = {
    "received": "2",
    "processing": "4",
    "supplement": "5",
    "result_ready": "9",
    "returned": "10",
    "refused": "3",
    "withdrawn": "8",
}


def portal_time(moment: datetime | None) -> str:
    """yyyyMMddHHmmss in Vietnam's time, or "" for none."""
    return moment.astimezone(VN).strftime("%Y%m%d%H%M%S") if moment is not None else ""


def note(text: str | None, limit: int = NOTE_LIMIT) -> str:
    """A note the portal accepts: single spaces, at most `limit` characters."""
    flat = " ".join((text or "").split())
    if len(flat) <= limit:
        return flat
    return flat[: limit - 1].rsplit(" ", 1)[0] + "…"


class Mappings:
    """The editable mappings of one transaction, read once."""

    def __init__(self, session: Session) -> None:
        self.values: dict[tuple[str, str], str] = {
            (kind, local): portal
            for kind, local, portal in session.execute(
                select(PortalMapping.kind, PortalMapping.local, PortalMapping.portal)
            )
        }

    def get(self, kind: str, local: str, default: str | None = None) -> str:
        """The portal's value; MappingMissing when there is none and no default."""
        found = self.values.get((kind, local))
        if found is not None:
            return found
        if default is not None:
            return default
        raise MappingMissing(kind, local)

    def status(self, state: str) -> str:
        """The portal's status code of one of our states."""
        return self.get("status", state, STATUS_DEFAULTS.get(state))


class MappingMissing(LookupError):
    """A value with no portal code: the message cannot be built until an administrator maps it."""

    def __init__(self, kind: str, local: str) -> None:
        super().__init__(f"chưa có mã của Cổng cho {kind} {local!r} (bảng ánh xạ dvcqg)")
        self.kind = kind
        self.local = local


def state_of(dossier: Dossier, kinds: set[str]) -> str:
    """Our state as the portal counts it: a dossier just received is "received", then its status."""
    if dossier.status == "processing" and kinds == {"received"}:
        return "received"
    return dossier.status


def dossier_payload(session: Session, dossier: Dossier, state: str, mappings: Mappings) -> dict[str, Any]:
    """DongBoHoSoMC's record of the dossier as it stands (NgayHenTra is the appointment)."""
    procedure = session.get_one(Procedure, dossier.procedure_id)
    holder_id = session.scalar(
        select(WorkItem.agency_id)
        .where(WorkItem.dossier_id == dossier.id)
        .order_by(WorkItem.completed_at.is_not(None), WorkItem.id.desc())
        .limit(1)
    )
    holder = session.get(Agency, holder_id or dossier.agency_id)
    supplements = list(
        session.scalars(
            select(Suspension)
            .where(Suspension.dossier_id == dossier.id, Suspension.kind == "supplement")
            .order_by(Suspension.id)
        )
    )
    # The legal due time before each supplement and after it: the one computed at receipt, then the
    # one each complete supplement set (its supplement_received event), in order.
    dues: list[datetime | None] = [dossier.original_due_at]
    dues += [
        datetime.fromisoformat(payload["due_at"]) if payload.get("due_at") else None
        for payload in session.scalars(
            select(DossierEvent.payload)
            .where(DossierEvent.dossier_id == dossier.id, DossierEvent.kind == "supplement_received")
            .order_by(DossierEvent.id)
        )
    ]
    by_post = session.scalar(
        select(PostalItem.id).where(
            PostalItem.dossier_id == dossier.id,
            PostalItem.direction == "outbound",
            PostalItem.status != "cancelled",
        )
    )
    delivery = "desk" if by_post is None else "post"
    return {
        "MaHoSo": dossier.code,
        "MaTTHC": mappings.get("procedure", procedure.code, procedure.code),
        "TenTTHC": note(procedure.name, 1000),
        "MaLinhVuc": mappings.get("field", procedure.field, ""),
        "TenLinhVuc": procedure.field,
        "ChuHoSo": dossier.applicant_name,
        "LoaiDoiTuong": mappings.get("applicant_type", "citizen", "1"),
        "MaDoiTuong": dossier.applicant_id_number or "",
        "Email": dossier.applicant_email or "",
        "SoDienThoai": dossier.applicant_phone or "",
        "TrichYeuHoSo": note(f"{procedure.name} - {dossier.applicant_name}"),
        "NgayTiepNhan": portal_time(dossier.received_at),
        "NgayHenTra": portal_time(dossier.appointment_at or dossier.due_at),
        "TrangThaiHoSo": mappings.status(state),
        "NgayTra": portal_time(dossier.returned_at),
        "HinhThuc": mappings.get("result_delivery", delivery, RESULT_DELIVERY_DEFAULTS[delivery]),
        "NgayKetThucXuLy": portal_time(dossier.finished_at),
        "DonViXuLy": holder.name if holder is not None else "",
        "TaiLieuNop": [],
        "DanhSachLePhi": [],
        "DanhSachHoSoBoSung": [
            {
                "NgayYeuCau": portal_time(s.started_at),
                "NgayTiepNhanBoSung": portal_time(s.ended_at),
                "NoiDungBoSung": note("; ".join(s.details or []) or s.reason),
                "NgayHenTraTruoc": portal_time(dues[n] if n < len(dues) else None),
                "NgayHenTraMoi": portal_time(dues[n + 1] if n + 1 < len(dues) else None),
            }
            for n, s in enumerate(supplements)
        ],
        "DanhSachGiayToKetQua": [],
    }


def progress_payload(
    session: Session, dossier: Dossier, item: WorkItem, state: str, mappings: Mappings
) -> dict[str, Any]:
    """CapNhatTienDoHoSoMC for one step done: who, which unit, what, when, the step's legal end."""
    officer = session.get(Officer, item.completed_by_id) if item.completed_by_id else None
    agency = session.get(Agency, item.agency_id)
    outcome = f": {item.outcome}" if item.outcome and item.outcome != "cancelled" else ""
    return {
        "MaHoSo": dossier.code,
        "NguoiXuLy": officer.full_name if officer is not None else "",
        "ChucDanh": ROLE_LABELS.get(item.role, item.role),
        "ThoiDiemXuLy": portal_time(item.completed_at),
        "PhongBanXuLy": agency.name if agency is not None else "",
        "NoiDungXuLy": note(f"{item.task_name}{outcome}" + (f" - {item.comment}" if item.comment else "")),
        "TrangThai": mappings.status(state),
        "NgayBatDau": portal_time(item.created_at),
        "NgayKetThucTheoQuyDinh": portal_time(item.due_at),
    }
