"""Delivery channels of the notification outbox: in-app, e-mail over SMTP, SMS over an HTTP gateway.

When the SMTP host or the SMS gateway URL setting is empty, those messages go to the log
instead (the laptop default), so nothing is lost and nothing needs a mail server.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

from config import Settings

LOG = logging.getLogger("motcua.notifications")
TIMEOUT_SECONDS = 15


class ChannelError(Exception):
    """A message could not be delivered; the dispatcher retries it later."""


class Channel(Protocol):
    """Something that delivers one message to one address."""

    name: str

    def send(self, address: str | None, subject: str, body: str) -> None:
        """Deliver the message or raise ChannelError."""
        ...


class InAppChannel:
    """In-app notifications are delivered by being stored; the officer reads them in the web app."""

    name = "in_app"

    def send(self, address: str | None, subject: str, body: str) -> None:
        """Nothing to do: the row itself is the delivered message."""


@dataclass
class LogChannel:
    """Writes the message to the log; used when a channel is not configured."""

    name: str

    def send(self, address: str | None, subject: str, body: str) -> None:
        """Log the message as if it had been sent, with the citizen's address masked."""
        LOG.info("%s to %s: %s | %s", self.name, masked(address), subject, body)


def masked(address: str | None) -> str:
    """A phone number or e-mail address as a log may show it: its last three characters only."""
    if not address:
        return "-"
    return "*" * max(len(address) - 3, 0) + address[-3:]


@dataclass
class SmtpChannel:
    """E-mail through an SMTP server (settings smtp_*)."""

    host: str
    port: int = 25
    sender: str = "motcua@localhost"
    user: str = ""
    password: str = ""
    starttls: bool = False
    timeout: float = TIMEOUT_SECONDS
    name: str = "email"

    def send(self, address: str | None, subject: str, body: str) -> None:
        """Send one plain-text UTF-8 e-mail."""
        if not address:
            raise ChannelError("no e-mail address")
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = address
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        message.set_content(body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password)
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise ChannelError(f"SMTP {self.host}:{self.port}: {exc}") from exc


@dataclass
class SmsGatewayChannel:
    """SMS through an HTTP gateway: POST JSON {to, text, sender}, bearer token, any 2xx is success.

    Gateways differ; this adapter speaks the common JSON shape, and another gateway needs
    only another class with the same `send`.
    """

    url: str
    token: str = ""
    sender: str = "MOTCUA"
    timeout: float = TIMEOUT_SECONDS
    name: str = "sms"

    def send(self, address: str | None, subject: str, body: str) -> None:
        """Post one SMS to the gateway."""
        if not address:
            raise ChannelError("no phone number")
        payload = json.dumps({"to": address, "text": body, "sender": self.sender}).encode("utf-8")
        request = urllib.request.Request(self.url, data=payload, method="POST")
        request.add_header("Content-Type", "application/json; charset=utf-8")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status = response.status
                response.read()
        except urllib.error.HTTPError as exc:
            raise ChannelError(f"SMS gateway answered {exc.code} {exc.reason}") from exc
        except (OSError, urllib.error.URLError) as exc:
            raise ChannelError(f"SMS gateway unreachable: {exc}") from exc
        if not 200 <= status < 300:
            raise ChannelError(f"SMS gateway answered {status}")


def channels_from_settings(settings: Settings) -> dict[str, Channel]:
    """The channels the settings configure; an empty host or URL means: write to the log."""
    email: Channel
    sms: Channel
    if settings.smtp_host:
        email = SmtpChannel(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            user=settings.smtp_user,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
        )
    else:
        email = LogChannel("email")
    if settings.sms_gateway_url:
        sms = SmsGatewayChannel(
            url=settings.sms_gateway_url, token=settings.sms_gateway_token, sender=settings.sms_sender
        )
    else:
        sms = LogChannel("sms")
    return {"in_app": InAppChannel(), "email": email, "sms": sms}
