"""Runtime settings.

Every field has a default that runs on a laptop (SQLite file, in-process scheduler,
notifications to the log) and can be overridden by an environment variable named
``MOTCUA_<FIELD>`` in upper case, e.g. ``MOTCUA_DATABASE_URL``.
"""

from __future__ import annotations

import ipaddress
import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from datetime import time
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _parse_time(text: str) -> time:
    hours, minutes = text.strip().split(":")
    return time(int(hours), int(minutes))


def _parse_periods(text: str) -> tuple[tuple[time, time], ...]:
    """Parse ``07:30-11:30,13:00-17:00`` into ordered (start, end) pairs."""
    periods = []
    for chunk in text.split(","):
        start, end = chunk.split("-")
        periods.append((_parse_time(start), _parse_time(end)))
    periods.sort()
    for (s1, e1), (s2, _e2) in itertools.pairwise(periods):
        if not s1 < e1 <= s2:
            raise ValueError(f"office hours overlap or are empty: {text!r}")
    if periods and not periods[-1][0] < periods[-1][1]:
        raise ValueError(f"office hours are empty: {text!r}")
    return tuple(periods)


def _parse_proxies(text: str) -> int | tuple[str, ...]:
    """A count of proxy hops (``1``), or the proxies' networks (``10.0.0.0/8,127.0.0.1``)."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    return tuple(str(ipaddress.ip_network(chunk.strip(), strict=False)) for chunk in text.split(","))


def _parse_positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise ValueError("expected a positive number")
        return value

    return parse


@dataclass(frozen=True)
class Settings:
    """All settings of one running instance."""

    database_url: str = f"sqlite:///{PROJECT_ROOT / 'instance' / 'motcua.db'}"
    timezone: str = "Asia/Ho_Chi_Minh"
    # Office hours of a working day; the default is the common 8-hour day.
    office_hours: tuple[tuple[time, time], ...] = (
        (time(7, 30), time(11, 30)),
        (time(13, 0), time(17, 0)),
    )
    # A dossier received at or after the cut-off counts from the next working day.
    cutoff: time = time(15, 0)
    # "hours": due = start + days x 8 working hours; "days": close of the Nth working day.
    due_convention: str = "hours"
    hours_per_day: int = 8
    # "restart": after a supplement the processing time starts again from zero;
    # "pause": the clock resumes where it stopped.
    supplement_mode: str = "restart"
    # A request to supplement made later than this many working days after the clock started is a
    # late request (the agency's fault): it needs a recorded reason and is counted.
    supplement_window_days: float = 3.0
    # TOML file with the province's extra days off and extra working days.
    calendar_file: str = str(PROJECT_ROOT / "config" / "calendar.toml")
    bpmn_max_bytes: int = 2 * 1024 * 1024
    workflows_dir: str = str(PROJECT_ROOT / "workflows")
    attachments_dir: str = str(PROJECT_ROOT / "instance" / "attachments")
    # Where documents (scans, results, forms, feedback files) are kept (engine/storage/): "dir" is
    # `attachments_dir` (a shared file system with several hosts), "s3" an S3-compatible object store.
    # Empty means "dir" on a laptop; a production instance must choose (docs/deploy.md).
    document_store: str = ""
    s3_endpoint_url: str = ""  # empty: AWS itself; e.g. https://s3.example.gov.vn for MinIO, Ceph
    s3_bucket: str = ""
    s3_region: str = ""
    s3_prefix: str = ""  # prepended to every object's key, e.g. "motcua/"
    # Empty: boto3's own chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, ~/.aws, an instance role).
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""

    # Web app. An empty secret key means: generate one once and keep it in instance/secret_key.
    secret_key: str = ""
    # Earlier secret keys (comma separated), still accepted for cookies signed before a rotation;
    # new cookies are signed with `secret_key` only (docs/deploy.md, secret rotation).
    secret_key_fallbacks: tuple[str, ...] = ()
    # The front-end files served at /vendor/ (a directory laid out like node_modules). Empty: the
    # copy inside an installed wheel (web/vendor_assets), else the checkout's node_modules.
    assets_dir: str = ""
    public_base_url: str = "http://127.0.0.1:8000"
    # The place name (địa danh) printed before the date on every form: "<place>, ngày ... tháng ...".
    # Empty prints a dotted blank to fill in by hand rather than some other province's name.
    place_name: str = ""
    upload_max_bytes: int = 20 * 1024 * 1024
    upload_types: str = "pdf,jpg,jpeg,png,doc,docx,xls,xlsx,odt,ods,zip"
    login_rate_limit: str = "10 per minute"
    lookup_rate_limit: str = "20 per minute"
    # The public procedure catalogue (/thu-tuc, /api/v1/public/procedures): requests per client
    # address, and how long browsers and proxies may keep a page or answer (seconds).
    public_catalogue_rate_limit: str = "120 per minute"
    public_catalogue_max_age: int = 300
    # Citizens' feedback (/phan-anh): submissions per client address, the content's length in
    # characters, and each attachment's size (PDF, JPEG or PNG, at most three files).
    feedback_rate_limit: str = "5 per hour"
    feedback_max_chars: int = 4000
    feedback_upload_max_bytes: int = 5 * 1024 * 1024
    # memory:// is per process; production uses e.g. redis://127.0.0.1:6379.
    ratelimit_storage_uri: str = "memory://"
    # Prepended to every rate-limit key: instances sharing one Redis count apart.
    ratelimit_key_prefix: str = ""
    session_cookie_secure: bool = False
    # A session ends after this many minutes without a request, and this many hours after sign-in.
    session_idle_minutes: int = 30
    session_max_hours: float = 8.0
    # The reverse proxies in front of the app: a number of hops (each appends to X-Forwarded-For),
    # or their networks. 0 (none) ignores X-Forwarded-* headers, which any client can forge.
    trusted_proxies: int | tuple[str, ...] = 0

    # SLA watcher (working hours unless named otherwise).
    warning_hours: float = 4.0
    apology_window_hours: float = 8.0
    realert_hours: float = 24.0  # wall-clock hours between reminders of an unresolved late dossier
    # "inprocess": the web server runs the scheduler itself (single-process default);
    # "off": a separate `motcua scheduler` process runs it (production).
    scheduler: str = "inprocess"
    scheduler_interval_seconds: int = 60
    scheduler_lease_seconds: int = 180

    # Notifications. An empty SMTP host or SMS gateway URL writes those messages to the log.
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = "motcua@localhost"
    smtp_starttls: bool = False
    sms_gateway_url: str = ""
    sms_gateway_token: str = ""
    sms_sender: str = "MOTCUA"
    dispatch_max_attempts: int = 6
    dispatch_backoff_seconds: int = 60

    # The national public service portal (Cổng Dịch vụ công quốc gia) adapter. An empty URL turns the
    # sync off; messages are still not queued then. Paths are joined to the URL.
    dvcqg_url: str = ""
    dvcqg_auth_path: str = "/auth"
    dvcqg_integration_path: str = "/integration"
    dvcqg_username: str = ""
    dvcqg_password: str = ""
    # The unit code (mã đơn vị) the portal knows the province by; agencies may map to their own.
    dvcqg_madonvi: str = ""
    dvcqg_timeout_seconds: float = 15.0
    dvcqg_max_attempts: int = 10
    dvcqg_backoff_seconds: int = 60
    dvcqg_workers: int = 4
    # Hosts the documents of online dossiers pushed by the portal may be fetched from (comma
    # separated); a URL on any other host is refused. Only https, unless the host is listed as
    # "http://host" (a portal inside the province's network).
    dvcqg_document_hosts: str = ""

    # The online payment gateway adapter (engine/payments/gateway.py, docs/payments.md). An empty URL
    # turns online payment and the reconciliation job off. The secret signs requests and callbacks
    # (HMAC-SHA256); a payment still pending after `payment_pending_minutes` is asked about.
    payment_gateway_url: str = ""
    payment_merchant_id: str = ""
    payment_secret: str = ""
    payment_pending_minutes: int = 15
    payment_timeout_seconds: float = 10.0
    # A signed callback older or newer than this many seconds is refused (with its nonce, replay-safe).
    payment_callback_max_age_seconds: int = 300
    payment_callback_rate_limit: str = "60 per minute"

    # Signing digitised documents and results (PAdES; engine/documents/signing.py, docs/digitisation.md).
    # The agency's PKCS#12 file: "{agency}" in the path is replaced by the signing agency's code, so
    # each agency has its own certificate; empty turns signing off. The certificate's organisation (O)
    # must be the agency's name, or the name `signing_organisations` maps its code to
    # ("CODE=Organisation;CODE2=..."). Trust roots: a PEM file of CA certificates; empty trusts the CA
    # certificates inside the agency's PKCS#12 file.
    signing_pkcs12: str = ""
    signing_password: str = ""
    signing_organisations: str = ""
    signing_trust_roots: str = ""

    # Operations. An empty metrics token serves /metrics to loopback clients only (and to nobody
    # behind a trusted proxy, where the proxy's own address is loopback).
    metrics_token: str = ""
    log_level: str = "INFO"
    extra: dict[str, str] = field(default_factory=dict)

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with some fields changed (tests and the CLI use this)."""
        return replace(self, **changes)

    @property
    def production(self) -> bool:
        """A production instance: one served over HTTPS (MOTCUA_SESSION_COOKIE_SECURE=true, as every
        production instance sets it, docs/deploy.md) must name its choices rather than run on defaults."""
        return self.session_cookie_secure


def _parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


_PARSERS: dict[str, Callable[[str], object]] = {
    "office_hours": _parse_periods,
    "cutoff": _parse_time,
    "hours_per_day": int,
    "bpmn_max_bytes": int,
    "upload_max_bytes": int,
    "public_catalogue_max_age": int,
    "feedback_max_chars": _parse_positive(int),
    "feedback_upload_max_bytes": _parse_positive(int),
    "session_cookie_secure": _parse_bool,
    "session_idle_minutes": _parse_positive(int),
    "session_max_hours": _parse_positive(float),
    "trusted_proxies": _parse_proxies,
    "secret_key_fallbacks": lambda text: tuple(key.strip() for key in text.split(",") if key.strip()),
    "warning_hours": float,
    "apology_window_hours": float,
    "supplement_window_days": float,
    "realert_hours": float,
    "scheduler_interval_seconds": int,
    "scheduler_lease_seconds": int,
    "smtp_port": int,
    "smtp_starttls": _parse_bool,
    "dispatch_max_attempts": int,
    "dispatch_backoff_seconds": int,
    "dvcqg_timeout_seconds": _parse_positive(float),
    "dvcqg_max_attempts": _parse_positive(int),
    "dvcqg_backoff_seconds": _parse_positive(int),
    "dvcqg_workers": _parse_positive(int),
    "payment_pending_minutes": _parse_positive(int),
    "payment_timeout_seconds": _parse_positive(float),
    "payment_callback_max_age_seconds": _parse_positive(int),
    "log_level": str.upper,
}

_CHOICES = {
    "due_convention": ("hours", "days"),
    "supplement_mode": ("restart", "pause"),
    "scheduler": ("inprocess", "off"),
    "document_store": ("dir", "s3"),
    "log_level": ("DEBUG", "INFO", "WARNING", "ERROR"),
}


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build settings from defaults overridden by ``MOTCUA_*`` environment variables."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(Settings):
        if f.name == "extra":
            continue
        raw = env.get(f"MOTCUA_{f.name.upper()}")
        if raw is None or raw == "":
            continue
        parser = _PARSERS.get(f.name, str)
        try:
            values[f.name] = parser(raw)
        except ValueError as exc:
            raise ValueError(f"MOTCUA_{f.name.upper()}={raw!r}: {exc}") from exc
        allowed = _CHOICES.get(f.name)
        if allowed and values[f.name] not in allowed:
            raise ValueError(f"MOTCUA_{f.name.upper()} must be one of {', '.join(allowed)}")
    return Settings(**values)
