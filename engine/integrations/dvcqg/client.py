"""The portal adapter's HTTP session: log in with the username and password, reuse the session until
the adapter refuses it, then log in again once. No credential or session reaches a log line."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from typing import Any

from config import Settings

# What adapters answer for an expired or unknown session (HTTP status or error_code).
SESSION_REFUSED_CODES = {"401", "403", "-401", "SESSION_EXPIRED", "INVALID_SESSION"}


class PortalError(Exception):
    """A call that did not succeed; `message` is what the administrator's page shows."""

    def __init__(self, message: str, *, refused_session: bool = False, uncertain: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.refused_session = refused_session
        # Sent, but no answer came back (timeout, dropped connection): it may have arrived.
        self.uncertain = uncertain


class AdapterClient:
    """One process's client of the adapter: the session is shared by the sender's threads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._session: str | None = None
        self._lock = threading.Lock()

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            self.settings.dvcqg_url.rstrip("/") + path,
            data=json.dumps(body, ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json; charset=utf-8", "Accept": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.settings.dvcqg_timeout_seconds) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            refused = str(exc.code) in SESSION_REFUSED_CODES
            raise PortalError(f"Cổng trả lỗi HTTP {exc.code}", refused_session=refused) from None
        except urllib.error.URLError as exc:
            # Refused before anything was sent (no route, connection refused, DNS).
            raise PortalError(f"không kết nối được Cổng: {exc.reason}") from None
        except (TimeoutError, ConnectionError, OSError) as exc:
            raise PortalError(f"Cổng không trả lời: {exc}", uncertain=True) from None
        try:
            answer = json.loads(raw)
        except ValueError:
            raise PortalError("Cổng trả về nội dung không phải JSON") from None
        if not isinstance(answer, dict):
            raise PortalError("Cổng trả về nội dung không đúng dạng")
        code = str(answer.get("error_code", "0"))
        if code != "0":
            message = str(answer.get("message") or answer.get("error_message") or "")[:300]
            raise PortalError(
                f"Cổng từ chối (error_code {code}){': ' + message if message else ''}",
                refused_session=code in SESSION_REFUSED_CODES,
            )
        return answer

    def _login(self) -> str:
        answer = self._post(
            self.settings.dvcqg_auth_path,
            {"username": self.settings.dvcqg_username, "password": self.settings.dvcqg_password},
        )
        session = answer.get("session")
        if not isinstance(session, str) or not session:
            raise PortalError("Cổng không cấp phiên làm việc (session) khi đăng nhập")
        return session

    def session(self, *, renew: bool = False, refused: str | None = None) -> str:
        """The current session; a new one when asked to renew the session that was refused."""
        with self._lock:
            if self._session is None or (renew and self._session == refused):
                self._session = self._login()
            return self._session

    def call(self, service: str, madonvi: str, fields: dict[str, Any]) -> dict[str, Any]:
        """One call of a service; a refused session is renewed once and the call repeated."""
        session = self.session()
        body = {"session": session, "madonvi": madonvi, "service": service, **fields}
        try:
            return self._post(self.settings.dvcqg_integration_path, body)
        except PortalError as exc:
            if not exc.refused_session:
                raise
        body["session"] = self.session(renew=True, refused=session)
        return self._post(self.settings.dvcqg_integration_path, body)
