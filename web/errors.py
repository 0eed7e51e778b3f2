"""Errors as pages for people and as `{"error": code, "message": text}` for the API."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from engine.errors import DomainError
from engine.storage import StoreError

MESSAGES = {
    400: "Yêu cầu không hợp lệ.",
    401: "Vui lòng đăng nhập.",
    403: "Ông/bà không có quyền thực hiện thao tác này.",
    404: "Không tìm thấy trang hoặc dữ liệu yêu cầu.",
    405: "Phương thức không được hỗ trợ.",
    409: "Dữ liệu vừa được người khác thay đổi; vui lòng tải lại trang.",
    413: "Tệp tải lên vượt quá dung lượng cho phép.",
    422: "Dữ liệu nhập chưa hợp lệ.",
    429: "Quá nhiều lần thử; vui lòng đợi một lát rồi thử lại.",
    500: "Hệ thống gặp lỗi; vui lòng thử lại sau.",
    503: "Hệ thống tạm thời không sẵn sàng; vui lòng thử lại sau.",
}
CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid",
    429: "rate_limited",
    500: "internal",
    503: "unavailable",
}


def wants_json() -> bool:
    """API paths answer in JSON."""
    return request.path.startswith("/api/")


def error_response(status: int, code: str, message: str, **extra: object):
    """One error, as JSON for the API or as a page."""
    if wants_json():
        return jsonify({"error": code, "message": message, **extra}), status
    return render_template("error.html", status=status, message=message), status


def register(app: Flask) -> None:
    """Install the handlers."""

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):
        extra = {}
        if getattr(exc, "field", None):
            extra["field"] = exc.field
        if getattr(exc, "fields", None):
            extra["fields"] = exc.fields
        if getattr(exc, "problems", None):
            extra["problems"] = [str(p) for p in exc.problems]
        return error_response(exc.http_status, exc.code, exc.message, **extra)

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        return error_response(
            400, "csrf", "Phiên làm việc đã hết hạn hoặc biểu mẫu không hợp lệ; vui lòng tải lại trang."
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        status = exc.code or 500
        body, code = error_response(
            status, CODES.get(status, "error"), MESSAGES.get(status, exc.description or "")
        )
        # Keep what the exception says about the request (Allow on 405, Retry-After on 429).
        headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
        return body, code, headers

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def database_unavailable(exc: Exception):
        # The database went away (restart, failover, network): nothing was written, try again.
        app.logger.warning("database unavailable on %s %s: %s", request.method, request.path, exc)
        body, code = error_response(503, "unavailable", MESSAGES[503])
        return body, code, {"Retry-After": "5"}

    @app.errorhandler(StoreError)
    def store_unavailable(exc: StoreError):
        # The document store (shared directory, object store) did not answer: the use case's transaction
        # was rolled back, nothing recorded; /healthz reports it down (docs/deploy.md, Documents).
        app.logger.warning("document store unavailable on %s %s: %s", request.method, request.path, exc)
        message = "Kho lưu trữ tài liệu tạm thời không truy cập được; vui lòng thử lại sau."
        body, code = error_response(503, "unavailable", message)
        return body, code, {"Retry-After": "5"}

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal", MESSAGES[500])
