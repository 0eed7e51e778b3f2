"""The payment gateway adapter: a small, documented HTTP interface (docs/payments.md).

The national payment platform's exact interface is not public; this adapter speaks a plain one that
a thin proxy in front of any gateway can offer:

- ``POST {url}/payments`` with ``{"merchant_id", "reference", "amount", "description", "return_url",
  "callback_url"}`` answers ``{"gateway_reference", "checkout_url", "qr"}``;
- ``GET {url}/payments/{reference}?merchant_id=...`` answers ``{"reference", "status", "amount",
  "gateway_reference"}`` with status one of pending, paid, failed, cancelled;
- the gateway calls back ``POST /thanh-toan/callback`` with ``{"merchant_id", "reference",
  "gateway_reference", "amount", "status"}``.

Every request and callback is signed: headers ``X-Timestamp`` (Unix seconds), ``X-Nonce`` (at most 80
characters) and ``X-Signature``, the hex HMAC-SHA256 with the shared secret of
``"{timestamp}.{nonce}."`` followed by the raw body (the path for a GET). No secret reaches a log line.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from config import Settings

STATUSES = ("pending", "paid", "failed", "cancelled")
MAX_NONCE = 80


class GatewayError(Exception):
    """The gateway could not be reached or answered something unusable; `message` is shown."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class CheckoutRequest:
    """Where the citizen pays: the gateway's page and a QR payload for a banking app."""

    gateway_reference: str
    checkout_url: str
    qr_payload: str


@dataclass(frozen=True)
class GatewayStatus:
    """What the gateway says of one payment."""

    reference: str
    status: str
    amount: int
    gateway_reference: str


@dataclass(frozen=True)
class Callback:
    """A callback whose signature held: what the gateway says happened."""

    merchant_id: str
    reference: str
    gateway_reference: str
    amount: int
    status: str
    nonce: str
    timestamp: int


def signature(secret: str, timestamp: str, nonce: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"{timestamp}.{nonce}."`` + body with the shared secret."""
    message = f"{timestamp}.{nonce}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(
    secret: str, body: bytes, *, timestamp: int | None = None, nonce: str | None = None
) -> dict[str, str]:
    """The three signature headers of a request or callback."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(16)
    return {"X-Timestamp": stamp, "X-Nonce": nonce, "X-Signature": signature(secret, stamp, nonce, body)}


class CallbackRefused(Exception):
    """A callback that is not the gateway's, is stale or does not parse; `message` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def verify_callback(settings: Settings, body: bytes, headers: dict[str, str], now_seconds: float) -> Callback:
    """The callback's content when its signature, age and fields hold; CallbackRefused otherwise."""
    if not settings.payment_secret:
        raise CallbackRefused("Chưa cấu hình khóa bí mật của cổng thanh toán")
    stamp = headers.get("X-Timestamp", "")
    nonce = headers.get("X-Nonce", "")
    given = headers.get("X-Signature", "")
    if not stamp.isdigit() or not nonce or len(nonce) > MAX_NONCE or not given:
        raise CallbackRefused("Thiếu hoặc sai chữ ký (X-Timestamp, X-Nonce, X-Signature)")
    expected = signature(settings.payment_secret, stamp, nonce, body)
    if not hmac.compare_digest(expected, given.strip().lower()):
        raise CallbackRefused("Chữ ký không đúng")
    if abs(now_seconds - int(stamp)) > settings.payment_callback_max_age_seconds:
        raise CallbackRefused("Thời điểm ký (X-Timestamp) quá cũ hoặc ở tương lai")
    try:
        data = json.loads(body)
    except ValueError:
        raise CallbackRefused("Nội dung không phải JSON") from None
    if not isinstance(data, dict):
        raise CallbackRefused("Nội dung không đúng dạng")
    amount = data.get("amount")
    status = data.get("status")
    fields = {key: data.get(key) for key in ("merchant_id", "reference", "gateway_reference")}
    if (
        not all(isinstance(value, str) and 0 < len(value) <= 80 for value in fields.values())
        or not isinstance(amount, int)
        or isinstance(amount, bool)
        or status not in STATUSES
    ):
        raise CallbackRefused(
            "Thiếu hoặc sai trường: merchant_id, reference, gateway_reference, amount, status"
        )
    return Callback(
        merchant_id=str(fields["merchant_id"]),
        reference=str(fields["reference"]),
        gateway_reference=str(fields["gateway_reference"]),
        amount=amount,
        status=str(status),
        nonce=nonce,
        timestamp=int(stamp),
    )


class Gateway:
    """The adapter's client: create a checkout, ask about a payment."""

    def __init__(self, settings: Settings) -> None:
        if not settings.payment_gateway_url:
            raise GatewayError("Chưa cấu hình cổng thanh toán trực tuyến")
        self.settings = settings
        self.base = settings.payment_gateway_url.rstrip("/")

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        raw = json.dumps(body, ensure_ascii=False).encode() if body is not None else b""
        signed = raw if body is not None else path.encode()
        headers = {"Accept": "application/json", **signed_headers(self.settings.payment_secret, signed)}
        if body is not None:
            headers["Content-Type"] = "application/json; charset=utf-8"
        request = urllib.request.Request(self.base + path, data=raw or None, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.settings.payment_timeout_seconds) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise GatewayError(f"Cổng thanh toán trả lỗi HTTP {exc.code}") from None
        except urllib.error.URLError as exc:
            raise GatewayError(f"Không kết nối được cổng thanh toán: {exc.reason}") from None
        except (TimeoutError, ConnectionError, OSError):
            raise GatewayError("Cổng thanh toán không trả lời") from None
        except ValueError:
            raise GatewayError("Cổng thanh toán trả về nội dung không phải JSON") from None
        if not isinstance(answer, dict):
            raise GatewayError("Cổng thanh toán trả về nội dung không đúng dạng")
        return answer

    def create(
        self, reference: str, amount: int, description: str, return_url: str, callback_url: str
    ) -> CheckoutRequest:
        """Ask the gateway for a checkout of `amount` đồng under our `reference`."""
        answer = self._call(
            "POST",
            "/payments",
            {
                "merchant_id": self.settings.payment_merchant_id,
                "reference": reference,
                "amount": amount,
                "description": description,
                "return_url": return_url,
                "callback_url": callback_url,
            },
        )
        checkout = answer.get("checkout_url")
        if not isinstance(checkout, str) or not checkout.startswith(("https://", "http://")):
            raise GatewayError("Cổng thanh toán không trả về địa chỉ thanh toán")
        return CheckoutRequest(
            str(answer.get("gateway_reference") or ""), checkout, str(answer.get("qr") or "")
        )

    def status(self, reference: str) -> GatewayStatus:
        """What the gateway says of the payment with our `reference`."""
        query = urllib.parse.urlencode({"merchant_id": self.settings.payment_merchant_id})
        answer = self._call("GET", f"/payments/{urllib.parse.quote(reference, safe='')}?{query}")
        status, amount = answer.get("status"), answer.get("amount")
        if status not in STATUSES or not isinstance(amount, int) or answer.get("reference") != reference:
            raise GatewayError("Cổng thanh toán trả lời trạng thái không đúng dạng")
        return GatewayStatus(reference, str(status), amount, str(answer.get("gateway_reference") or ""))
