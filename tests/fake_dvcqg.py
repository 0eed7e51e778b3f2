"""A local fake of the national portal's adapter (HTTP on 127.0.0.1) for the sync tests.

It validates every payload strictly (required fields, string values, yyyyMMddHHmmss dates, status
codes 1-10, isUpdating consistent with what it holds) and can refuse logins, expire sessions, be
down, answer slowly, and drop the connection after storing a message.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DATE = re.compile(r"^(\d{14})?$")
STATUSES = {str(n) for n in range(1, 11)}
RECORD_FIELDS = (
    "MaHoSo", "MaTTHC", "TenTTHC", "MaLinhVuc", "TenLinhVuc", "ChuHoSo", "LoaiDoiTuong", "MaDoiTuong",
    "Email", "SoDienThoai", "TrichYeuHoSo", "NgayTiepNhan", "NgayHenTra", "TrangThaiHoSo", "NgayTra",
    "HinhThuc", "NgayKetThucXuLy", "DonViXuLy",
)  # fmt: skip
RECORD_LISTS = ("TaiLieuNop", "DanhSachLePhi", "DanhSachHoSoBoSung", "DanhSachGiayToKetQua")
RECORD_DATES = ("NgayTiepNhan", "NgayHenTra", "NgayTra", "NgayKetThucXuLy")
PROGRESS_FIELDS = (
    "MaHoSo", "NguoiXuLy", "ChucDanh", "ThoiDiemXuLy", "PhongBanXuLy", "NoiDungXuLy", "TrangThai",
    "NgayBatDau", "NgayKetThucTheoQuyDinh",
)  # fmt: skip
PROGRESS_DATES = ("ThoiDiemXuLy", "NgayBatDau", "NgayKetThucTheoQuyDinh")


class FakeAdapter:
    """The adapter's state and fault switches; `url` is where it listens."""

    def __init__(self, username: str = "motcua", password: str = "bi-mat-cong") -> None:
        self.username, self.password = username, password
        self.sessions: set[str] = set()
        self.logins = 0
        self.records: dict[str, dict[str, Any]] = {}
        self.progress: dict[str, list[dict[str, Any]]] = {}
        self.accepted: list[tuple[str, str, dict[str, Any]]] = []  # (service, MaHoSo, item) in arrival order
        self.bodies: list[dict[str, Any]] = []
        self.arrived: list[str] = []  # each request's service, as soon as it arrives (before any delay)
        self.down = False
        self.refuse_logins = False
        self.delay = 0.0
        self.drop_after_store = 0  # the next N stored messages get no answer
        self.refuse_codes: set[str] = set()  # MaHoSo the adapter answers with an error
        self.lock = threading.Lock()
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def expire_sessions(self) -> None:
        with self.lock:
            self.sessions.clear()

    def services(self, code: str) -> list[str]:
        """The services accepted for one dossier, in arrival order."""
        return [service for service, ma, _ in self.accepted if ma == code]

    # -----------------------------------------------------------------------

    def _validate(self, service: str, body: dict[str, Any]) -> str | None:
        if not isinstance(body.get("madonvi"), str) or not body["madonvi"]:
            return "madonvi thiếu"
        items = body.get("data")
        if not isinstance(items, list) or not items:
            return "data phải là danh sách khác rỗng"
        for item in items:
            if service == "DongBoHoSoMC":
                if body.get("isUpdating") not in ("True", "False"):
                    return "isUpdating phải là True hoặc False"
                for name in RECORD_FIELDS:
                    if not isinstance(item.get(name), str):
                        return f"{name} thiếu hoặc không phải chuỗi"
                for name in RECORD_LISTS:
                    if not isinstance(item.get(name), list):
                        return f"{name} phải là danh sách"
                for name in RECORD_DATES:
                    if not DATE.match(item[name]):
                        return f"{name} sai định dạng yyyyMMddHHmmss: {item[name]!r}"
                if item["TrangThaiHoSo"] not in STATUSES:
                    return f"TrangThaiHoSo không hợp lệ: {item['TrangThaiHoSo']!r}"
                known = item["MaHoSo"] in self.records
                if (body["isUpdating"] == "True") != known:
                    return f"isUpdating={body['isUpdating']} nhưng hồ sơ {'đã' if known else 'chưa'} có"
            elif service == "CapNhatTienDoHoSoMC":
                for name in PROGRESS_FIELDS:
                    if not isinstance(item.get(name), str):
                        return f"{name} thiếu hoặc không phải chuỗi"
                for name in PROGRESS_DATES:
                    if not DATE.match(item[name]):
                        return f"{name} sai định dạng: {item[name]!r}"
                if item["TrangThai"] not in STATUSES:
                    return f"TrangThai không hợp lệ: {item['TrangThai']!r}"
                if item["MaHoSo"] not in self.records:
                    return f"hồ sơ {item['MaHoSo']} chưa được đồng bộ"
                if len(item["NoiDungXuLy"]) > 500:
                    return "NoiDungXuLy dài quá 500 ký tự"
            elif service == "DongBoDanhGia":
                for name in ("MaDonVi", "Thang", "Nam", "TongSoDanhGia", "HaiLong", "KhongHaiLong"):
                    if not isinstance(item.get(name), str) or not item[name]:
                        return f"{name} thiếu hoặc không phải chuỗi"
                if int(item["HaiLong"]) + int(item["KhongHaiLong"]) != int(item["TongSoDanhGia"]):
                    return "TongSoDanhGia khác tổng HaiLong và KhongHaiLong"
            else:
                return f"dịch vụ không hỗ trợ: {service}"
        return None

    def _store(self, service: str, body: dict[str, Any]) -> None:
        for item in body["data"]:
            if service == "DongBoDanhGia":
                self.accepted.append((service, f"{item['MaDonVi']}:{item['Nam']}-{item['Thang']}", item))
                continue
            code = item["MaHoSo"]
            self.accepted.append((service, code, item))
            if service == "DongBoHoSoMC":
                self.records[code] = dict(item)
            else:
                self.progress.setdefault(code, []).append(dict(item))

    def _answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        """(HTTP status, JSON answer); None drops the connection."""
        if self.down:
            return 503, {"error_code": "503", "message": "bảo trì"}
        if path == "/auth":
            with self.lock:
                self.logins += 1
                if (
                    self.refuse_logins
                    or body.get("username") != self.username
                    or body.get("password") != self.password
                ):
                    return 200, {"error_code": "-1", "message": "sai tài khoản"}
                session = f"s-{self.logins}"
                self.sessions.add(session)
            return 200, {"error_code": 0, "session": session}
        if path != "/integration":
            return 404, {"error_code": "404"}
        with self.lock:
            self.bodies.append(body)
            if body.get("session") not in self.sessions:
                return 200, {"error_code": "401", "message": "phiên hết hạn"}
            service = body.get("service", "")
            if service == "TraCuuHoSo":
                code = body.get("MaHoSo", "")
                record = self.records.get(code)
                if record is None:
                    return 200, {"error_code": 0, "data": None}
                return 200, {"error_code": 0, "data": {**record, "TienDo": self.progress.get(code, [])}}
            codes = {item.get("MaHoSo") for item in body.get("data") or [] if isinstance(item, dict)}
            if codes & self.refuse_codes:
                return 200, {"error_code": "500", "message": "lỗi xử lý"}
            problem = self._validate(service, body)
            if problem:
                return 200, {"error_code": "400", "message": problem}
            self._store(service, body)
            if self.drop_after_store:
                self.drop_after_store -= 1
                return 200, None
        return 200, {"error_code": 0}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        adapter = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = {}
                adapter.arrived.append(str(body.get("service", self.path)))
                status, answer = adapter._answer(self.path, body)
                if adapter.delay:
                    time.sleep(adapter.delay)  # handled at once, answered slowly
                if answer is None:
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                raw = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        return Handler
