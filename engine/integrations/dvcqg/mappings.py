"""The editable mappings of our codes to the portal's: statuses, agencies' madonvi, procedures' national
codes, fields, channels, applicant types."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from engine.accounts import require_admin
from engine.context import Context
from engine.errors import InvalidInput
from engine.integrations.dvcqg.messages import MAPPING_KINDS, RESULT_DELIVERY_DEFAULTS, STATUS_DEFAULTS
from engine.usecase import reading
from models import UnitOfWork
from models.portal import PortalMapping
from models.vocabulary import DossierStatus

# The states the portal hears of: the dossier statuses, and "received" for a dossier just received.
STATE_LABELS = {"received": "Mới tiếp nhận", **DossierStatus.labels()}
DELIVERY_LABELS = {"desk": "Nhận kết quả trực tiếp", "post": "Nhận kết quả qua bưu chính công ích"}
KIND_LABELS = {
    "status": "Trạng thái hồ sơ (TrangThaiHoSo)",
    "agency": "Mã đơn vị của cơ quan (madonvi)",
    "procedure": "Mã TTHC quốc gia (MaTTHC)",
    "field": "Mã lĩnh vực (MaLinhVuc)",
    "result_delivery": "Hình thức trả kết quả (HinhThuc)",
    "applicant_type": "Loại đối tượng (LoaiDoiTuong)",
}


@dataclass(frozen=True)
class MappingRow:
    """One mapping as the page and the command list it; `default` when no row overrides it."""

    kind: str
    local: str
    portal: str
    default: bool = False

    @property
    def local_label(self) -> str:
        """Our value as officers read it (a state's Vietnamese name), else the value itself."""
        if self.kind == "status":
            return STATE_LABELS.get(self.local, self.local)
        if self.kind == "result_delivery":
            return DELIVERY_LABELS.get(self.local, self.local)
        return self.local


def mapping_rows(
    ctx: Context, admin_id: int | None = None, *, uow: UnitOfWork | None = None
) -> list[MappingRow]:
    """Every stored mapping, and the status codes still at their defaults."""
    with reading(ctx, uow) as session:
        require_admin(session, admin_id, "Bảng ánh xạ Cổng Dịch vụ công quốc gia")
        rows = [
            MappingRow(kind, local, portal)
            for kind, local, portal in session.execute(
                select(PortalMapping.kind, PortalMapping.local, PortalMapping.portal).order_by(
                    PortalMapping.kind, PortalMapping.local
                )
            )
        ]
    stored = {(r.kind, r.local) for r in rows}
    defaults = [("status", STATUS_DEFAULTS), ("result_delivery", RESULT_DELIVERY_DEFAULTS)]
    rows += [
        MappingRow(kind, local, code, True)
        for kind, values in defaults
        for local, code in values.items()
        if (kind, local) not in stored
    ]
    return sorted(rows, key=lambda r: (r.kind, r.local))


def set_mapping(ctx: Context, kind: str, local: str, portal: str, admin_id: int | None = None) -> None:
    """Set (or with an empty portal value, remove) one mapping; new messages use it at once."""
    if kind not in MAPPING_KINDS:
        raise InvalidInput(
            f"Loại ánh xạ {kind!r} không có; chọn một trong: {', '.join(MAPPING_KINDS)}", "kind"
        )
    local, portal = local.strip(), portal.strip()
    if not local or len(local) > 80 or len(portal) > 80:
        raise InvalidInput("Giá trị ánh xạ bắt buộc, tối đa 80 ký tự", "local")
    with ctx.uow() as uow:
        require_admin(uow.session, admin_id, "Bảng ánh xạ Cổng Dịch vụ công quốc gia")
        row = uow.session.scalars(
            select(PortalMapping).where(PortalMapping.kind == kind, PortalMapping.local == local)
        ).one_or_none()
        if not portal:
            if row is not None:
                uow.session.delete(row)
        elif row is None:
            uow.session.add(PortalMapping(kind=kind, local=local, portal=portal))
        else:
            row.portal = portal
        uow.commit()
