"""A local fake of the payment gateway (HTTP on 127.0.0.1) for the online payment tests.

It speaks the adapter's interface (engine/payments/gateway.py, docs/payments.md): it checks the
signature of every request, keeps the payments it was asked to create, serves a checkout page whose
button pays, calls back signed (or, on request, late, repeated, replayed or forged), and answers
status queries.
"""

from __future__ import annotations

import html
import json
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from engine.payments.gateway import signature, signed_headers


class FakeGateway:
    """The gateway's state and switches; `url` is where it listens."""

    def __init__(self, merchant_id: str = "MOTCUA01", secret: str = "khoa-bi-mat-thu-nghiem") -> None:
        self.merchant_id, self.secret = merchant_id, secret
        self.payments: dict[str, dict[str, Any]] = {}
        self.callbacks_sent: list[tuple[bytes, dict[str, str], int]] = []  # body, headers, our answer
        self.send_callbacks = True  # False: the citizen closes the tab and no callback ever comes
        self.callback_delay = 0.0
        self.repeat_callbacks = 1  # each callback sent this many times, each with a fresh nonce
        self.refused_signatures = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- what the tests drive ------------------------------------------------------------------

    def callback(
        self,
        reference: str,
        *,
        status: str = "paid",
        amount: int | None = None,
        secret: str | None = None,
        nonce: str | None = None,
        timestamp: int | None = None,
        merchant_id: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """A callback about a payment, signed with the shared secret unless another is given."""
        payment = self.payments[reference]
        body = json.dumps(
            {
                "merchant_id": merchant_id or self.merchant_id,
                "reference": reference,
                "gateway_reference": payment["gateway_reference"],
                "amount": payment["amount"] if amount is None else amount,
                "status": status,
            }
        ).encode()
        return body, signed_headers(secret or self.secret, body, timestamp=timestamp, nonce=nonce)

    def pay(self, reference: str, status: str = "paid") -> None:
        """The citizen pays (or the bank refuses): the state changes and the callbacks go out."""
        with self.lock:
            self.payments[reference]["status"] = status
        if self.send_callbacks:
            threading.Thread(target=self._send_callbacks, args=(reference, status), daemon=True).start()

    def _send_callbacks(self, reference: str, status: str) -> None:
        time.sleep(self.callback_delay)
        for _ in range(self.repeat_callbacks):
            body, headers = self.callback(reference, status=status)
            self.post_callback(self.payments[reference]["callback_url"], body, headers)

    def post_callback(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST a callback to the app; its HTTP status."""
        request = urllib.request.Request(
            url, data=body, headers={"Content-Type": "application/json", **headers}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        with self.lock:
            self.callbacks_sent.append((body, headers, status))
        return status

    # -- the HTTP side ---------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(
                self, status: int, body: dict[str, Any] | str, content_type: str = "application/json"
            ) -> None:
                raw = (json.dumps(body) if isinstance(body, dict) else body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type + "; charset=utf-8")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _signed(self, signed: bytes) -> bool:
                stamp, nonce = self.headers.get("X-Timestamp", ""), self.headers.get("X-Nonce", "")
                good = self.headers.get("X-Signature", "") == signature(gateway.secret, stamp, nonce, signed)
                if not good:
                    gateway.refused_signatures += 1
                return good

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                path = urllib.parse.urlparse(self.path).path
                if path == "/payments":
                    if not self._signed(raw):
                        return self._answer(401, {"error": "bad signature"})
                    data = json.loads(raw)
                    if data.get("merchant_id") != gateway.merchant_id or not isinstance(
                        data.get("amount"), int
                    ):
                        return self._answer(400, {"error": "bad request"})
                    reference = data["reference"]
                    with gateway.lock:
                        gateway.payments[reference] = {
                            **data,
                            "status": "pending",
                            "gateway_reference": f"GW{len(gateway.payments) + 1:06d}",
                        }
                    return self._answer(
                        200,
                        {
                            "gateway_reference": gateway.payments[reference]["gateway_reference"],
                            "checkout_url": f"{gateway.url}/checkout/{reference}",
                            "qr": f"00020101021238570010A000000727{reference}5303704540{data['amount']}",
                        },
                    )
                if path.startswith("/checkout/") and path.endswith("/pay"):
                    reference = path.split("/")[2]
                    if reference not in gateway.payments:
                        return self._answer(404, {"error": "unknown"})
                    gateway.pay(reference)
                    back = gateway.payments[reference]["return_url"]
                    self.send_response(303)
                    self.send_header("Location", back)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                return self._answer(404, {"error": "not found"})

            def do_GET(self) -> None:
                parsed = urllib.parse.urlparse(self.path)
                parts = parsed.path.split("/")
                if parsed.path.startswith("/payments/"):
                    if not self._signed(self.path.encode()):
                        return self._answer(401, {"error": "bad signature"})
                    reference = urllib.parse.unquote(parts[2])
                    payment = gateway.payments.get(reference)
                    if payment is None:
                        return self._answer(404, {"error": "unknown"})
                    return self._answer(
                        200,
                        {
                            "reference": reference,
                            "status": payment["status"],
                            "amount": payment["amount"],
                            "gateway_reference": payment["gateway_reference"],
                        },
                    )
                if parsed.path.startswith("/checkout/"):
                    reference = parts[2]
                    payment = gateway.payments.get(reference)
                    if payment is None:
                        return self._answer(404, "<p>Không có giao dịch</p>", "text/html")
                    page = (
                        "<!doctype html><html lang='vi'><head><meta charset='utf-8'><title>Cổng thanh toán"
                        "</title></head><body><h1>Cổng thanh toán (thử nghiệm)</h1>"
                        f"<p>{html.escape(payment['description'])}</p><p id='amount'>{payment['amount']} đồng</p>"
                        f"<form method='post' action='/checkout/{reference}/pay'>"
                        "<button type='submit' id='pay'>Thanh toán</button></form></body></html>"
                    )
                    return self._answer(200, page, "text/html")
                return self._answer(404, {"error": "not found"})

        return Handler
