"""The closed value sets of the domain, each value with its Vietnamese label, in one place.

Each set is a `StrEnum`: a member is the plain string stored in the database (so comparisons with
strings, JSON and SQL parameters keep working) and carries the label the user interface, the
printed forms and the messages show. The tuples and label dictionaries the models export
(`DOSSIER_STATUSES`, `STATUS_LABELS`, ...) are derived from these, and the CHECK constraints
on the columns are spelled by `check_in`.

A new value is added here, with its label, and in a migration that widens the column's CHECK.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self


class Vocabulary(StrEnum):
    """A closed set of stored string values, each with its Vietnamese label."""

    _label: str

    def __new__(cls, value: str, label: str = "") -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member._label = label
        return member

    @property
    def label(self) -> str:
        """The Vietnamese label shown to users."""
        return self._label

    @classmethod
    def values(cls) -> tuple[str, ...]:
        """Every stored value, in declaration order."""
        return tuple(member.value for member in cls)

    @classmethod
    def labels(cls) -> dict[str, str]:
        """Stored value -> Vietnamese label."""
        return {member.value: member.label for member in cls}

    @classmethod
    def label_of(cls, value: str | None, default: str = "") -> str:
        """The label of a stored value; `default` for None or a value outside the set."""
        if value is None or value not in cls._value2member_map_:
            return default
        return cls(value).label

    @classmethod
    def check_in(cls, column: str) -> str:
        """The SQL of a CHECK constraint that keeps `column` inside this set (NULL passes a CHECK)."""
        return f"{column} IN ({', '.join(repr(value) for value in cls.values())})"


# ---------------------------------------------------------------------------
# dossiers and their steps


class DossierStatus(Vocabulary):
    """Trạng thái hồ sơ."""

    # Somebody works on it.
    PROCESSING = "processing", "Đang giải quyết"
    # Waiting for the applicant; the clock is stopped.
    SUPPLEMENT = "supplement", "Chờ bổ sung"
    # At the hand-over step.
    RESULT_READY = "result_ready", "Chờ trả kết quả"
    # Finished.
    RETURNED = "returned", "Đã trả kết quả"
    REFUSED = "refused", "Từ chối"
    WITHDRAWN = "withdrawn", "Dừng giải quyết (rút hồ sơ)"


class Channel(Vocabulary):
    """Hình thức nộp hồ sơ: every report splits by it."""

    IN_PERSON = "in_person", "Trực tiếp"
    POSTAL = "postal", "Qua bưu chính công ích"
    ONLINE = "online", "Trực tuyến"


class ResultClass(Vocabulary):
    """How a dossier or a step finished against its due time."""

    EARLY = "early", "Trước hạn"
    ON_TIME = "on_time", "Đúng hạn"
    LATE = "late", "Quá hạn"


class Level(Vocabulary):
    """Cấp giải quyết: the level of an agency and of a procedure in the catalogue."""

    PROVINCE = "province", "Cấp tỉnh"
    DEPARTMENT = "department", "Cấp sở, ngành"
    DISTRICT = "district", "Cấp huyện"
    COMMUNE = "commune", "Cấp xã"


class WorkItemKind(Vocabulary):
    """The special steps; an ordinary step has no kind (None)."""

    SUPPLEMENT = "supplement", "Chờ người nộp bổ sung hồ sơ"
    RETURN = "return", "Trả kết quả cho người nộp"


class EventKind(Vocabulary):
    """What the audit trail of a dossier records (Lịch sử xử lý)."""

    RECEIVED = "received", "Tiếp nhận hồ sơ"
    STEP_OPENED = "step_opened", "Chuyển đến bước"
    STEP_COMPLETED = "step_completed", "Hoàn thành bước"
    CLAIMED = "claimed", "Nhận xử lý"
    RELEASED = "released", "Trả lại danh sách chung"
    REASSIGNED = "reassigned", "Chuyển người xử lý"
    ASSIGNED = "assigned", "Phân công xử lý"
    SUPPLEMENT_REQUESTED = "supplement_requested", "Yêu cầu bổ sung hồ sơ"
    SUPPLEMENT_RECEIVED = "supplement_received", "Tiếp nhận hồ sơ bổ sung"
    REFUSED = "refused", "Từ chối giải quyết"
    RETURNED = "returned", "Trả kết quả"
    WITHDRAWN = "withdrawn", "Dừng giải quyết (rút hồ sơ)"
    APPOINTMENT_MOVED = "appointment_moved", "Hẹn lại ngày trả kết quả"
    APOLOGY_DRAFTED = "apology_drafted", "Lập dự thảo phiếu xin lỗi"
    APOLOGY_EDITED = "apology_edited", "Sửa dự thảo phiếu xin lỗi"
    APOLOGY_ISSUED = "apology_issued", "Ký phát hành phiếu xin lỗi"
    REPAIRED = "repaired", "Sửa dữ liệu hồ sơ cho khớp quy trình"
    RATED = "rated", "Công dân đánh giá"
    # The result goes back by post (bưu chính công ích): asked for, delivered, sent back undelivered.
    POSTAL_REQUESTED = "postal_requested", "Đăng ký nhận kết quả qua bưu chính"
    POSTAL_DELIVERED = "postal_delivered", "Bưu chính đã phát kết quả"
    POSTAL_RETURNED = "postal_returned", "Bưu gửi kết quả bị chuyển hoàn"
    PAYMENT_RECORDED = "payment_recorded", "Thu phí, lệ phí"
    FEE_WAIVED = "fee_waived", "Miễn thu phí, lệ phí"
    DOCUMENT_DIGITISED = "document_digitised", "Số hóa thành phần hồ sơ"
    DOCUMENT_SIGNED = "document_signed", "Ký số tài liệu"


# ---------------------------------------------------------------------------
# fees and payments


class PaymentMethod(Vocabulary):
    """Hình thức nộp phí, lệ phí."""

    CASH = "cash", "Tiền mặt"
    TRANSFER = "transfer", "Chuyển khoản"
    ONLINE = "online", "Thanh toán trực tuyến"


class PaymentStatus(Vocabulary):
    """The life of a payment: pending until paid, failed or cancelled."""

    PENDING = "pending", "Chờ thanh toán"
    PAID = "paid", "Đã thanh toán"
    FAILED = "failed", "Không thành công"
    CANCELLED = "cancelled", "Đã hủy"


class PostalDirection(Vocabulary):
    """Which way a postal item goes (bưu chính công ích)."""

    INBOUND = "inbound", "Hồ sơ gửi đến qua bưu chính"
    OUTBOUND = "outbound", "Kết quả gửi đi qua bưu chính"


class PostalStatus(Vocabulary):
    """Trạng thái bưu gửi: inbound items are received; outbound ones are prepared, handed to the
    post, then delivered or returned to the sender (or cancelled before the hand-over)."""

    RECEIVED = "received", "Đã nhận từ bưu chính"
    PREPARED = "prepared", "Chờ chuyển bưu chính"
    HANDED_OVER = "handed_over", "Đã giao bưu chính"
    DELIVERED = "delivered", "Đã phát thành công"
    RETURNED_TO_SENDER = "returned_to_sender", "Chuyển hoàn (không phát được)"
    CANCELLED = "cancelled", "Hủy gửi qua bưu chính"


# ---------------------------------------------------------------------------
# the catalogue


class ProcessStatus(Vocabulary):
    """The life of a process version: draft -> submitted -> approved -> active -> retired."""

    DRAFT = "draft", "Bản nháp"
    SUBMITTED = "submitted", "Chờ phê duyệt"
    APPROVED = "approved", "Đã phê duyệt"
    ACTIVE = "active", "Đang áp dụng"
    RETIRED = "retired", "Ngừng áp dụng"


class VersionAction(Vocabulary):
    """One entry of a process version's audit trail."""

    CREATED = "created", "Tạo bản nháp"
    SAVED = "saved", "Lưu bản nháp"
    SUBMITTED = "submitted", "Trình phê duyệt"
    WITHDRAWN = "withdrawn", "Rút lại để sửa"
    RETURNED = "returned", "Trả lại để sửa"
    APPROVED = "approved", "Phê duyệt"
    ACTIVATED = "activated", "Đưa vào áp dụng"
    RETIRED = "retired", "Ngừng áp dụng"
    IMPORTED = "imported", "Nhập từ tệp"


# ---------------------------------------------------------------------------
# deadlines


class AlertKind(Vocabulary):
    """What the SLA watcher raises."""

    DUE_SOON = "due_soon", "Sắp đến hạn"
    OVERDUE = "overdue", "Quá hạn"
    APOLOGY_REQUIRED = "apology_required", "Cần phiếu xin lỗi"
    LATE_UNAPOLOGISED = "late_unapologised", "Quá hạn, chưa có phiếu xin lỗi"
    LATE_AGAIN = "late_again", "Trễ hẹn lần hai"


class LetterStatus(Vocabulary):
    """Phiếu xin lỗi và hẹn lại ngày trả kết quả (form 04): draft, edited, issued."""

    # Raised by the watcher (or by hand).
    DRAFT = "draft", "Dự thảo"
    # Reason or new appointment changed.
    EDITED = "edited", "Dự thảo đã sửa"
    # Signed by the head of the agency at fault; the appointment has moved.
    ISSUED = "issued", "Đã ký phát hành"


class Urgency(Vocabulary):
    """How close an open step is to its due time (see engine.urgency)."""

    OVERDUE = "overdue", "Quá hạn"
    SOON = "soon", "Sắp đến hạn"
    OK = "ok", "Còn hạn"
    PAUSED = "paused", "Tạm dừng"


VOCABULARIES: tuple[type[Vocabulary], ...] = (
    DossierStatus,
    Channel,
    ResultClass,
    Level,
    WorkItemKind,
    EventKind,
    PaymentMethod,
    PaymentStatus,
    PostalDirection,
    PostalStatus,
    ProcessStatus,
    VersionAction,
    AlertKind,
    LetterStatus,
    Urgency,
)

__all__ = [
    "VOCABULARIES",
    "AlertKind",
    "Channel",
    "DossierStatus",
    "EventKind",
    "LetterStatus",
    "Level",
    "PaymentMethod",
    "PaymentStatus",
    "PostalDirection",
    "PostalStatus",
    "ProcessStatus",
    "ResultClass",
    "Urgency",
    "VersionAction",
    "Vocabulary",
    "WorkItemKind",
]
