"""PDF signatures (PAdES) with the agency's certificate, and their verification, with pyHanko.

The certificate is a PKCS#12 file named by `Settings.signing_pkcs12`, where "{agency}" stands for the
signing agency's code (one file per agency; a path without it is one certificate for the install and
then still has to name the agency). Before anything is signed the certificate is checked: it opens
with `Settings.signing_password`, it is valid at the moment of signing, and its subject organisation
(O) is the agency's name or the name `Settings.signing_organisations` maps the agency's code to.
Every refusal is a `SigningRefused` (422) with a Vietnamese message, logged; nothing is signed then.

Verification reads the last signature of a PDF and validates it against the trust roots
(`Settings.signing_trust_roots`, else the CA certificates inside the agency's PKCS#12 file), with no
network fetching: "valid" when the document is intact since signing and the signer's chain reaches
a trust root, "invalid" otherwise (with pyHanko's summary), "unsigned" when the PDF has no signature.
Only PDFs are signed: an image scan (JPEG, PNG) is kept as the applicant's document, unsigned.
"""

from __future__ import annotations

import asyncio
import io
import logging
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12
from cryptography.x509.oid import NameOID
from pyhanko.keys import load_certs_from_pemder
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from config import Settings
from engine.errors import InvalidInput
from models import Agency

LOG = logging.getLogger("motcua.signing")

PDF_MEDIA_TYPE = "application/pdf"


class SigningRefused(InvalidInput):
    """The document or the certificate does not allow signing; nothing was signed."""

    code = "signing_refused"


@dataclass(frozen=True)
class SignatureCheck:
    """What verification found in a PDF."""

    status: str  # "unsigned" | "valid" | "invalid"
    signer_name: str | None = None
    signer_organisation: str | None = None
    signed_at: datetime | None = None
    note: str | None = None


@dataclass(frozen=True)
class AgencyCertificate:
    """The agency's signing key and certificate, checked, and the trust roots that verify it."""

    signer: signers.SimpleSigner
    organisation: str
    common_name: str
    trust_roots: tuple[asn1_x509.Certificate, ...]


def signing_enabled(settings: Settings) -> bool:
    """Whether the install signs documents at all."""
    return bool(settings.signing_pkcs12.strip())


def _normalise(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def expected_organisation(settings: Settings, agency: Agency) -> str:
    """The organisation the agency's certificate must name: the mapped name, else the agency's name."""
    for pair in settings.signing_organisations.split(";"):
        code, _, name = pair.partition("=")
        if code.strip() == agency.code and name.strip():
            return name.strip()
    return agency.name


def _refuse(agency: Agency, message: str) -> SigningRefused:
    LOG.warning("signing refused for agency %s: %s", agency.code, message)
    return SigningRefused(message, "file")


def _name(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str:
    values = cert.subject.get_attributes_for_oid(oid)
    return str(values[0].value) if values else ""


def agency_certificate(settings: Settings, agency: Agency, now: datetime) -> AgencyCertificate:
    """The agency's certificate when it may sign at `now`, else SigningRefused naming why."""
    if not signing_enabled(settings):
        raise _refuse(agency, "Hệ thống chưa được cấu hình chứng thư số để ký (MOTCUA_SIGNING_PKCS12).")
    path = Path(settings.signing_pkcs12.replace("{agency}", agency.code))
    try:
        data = path.read_bytes()
    except OSError:
        raise _refuse(agency, f"Không tìm thấy tệp chứng thư số của cơ quan {agency.name}.") from None
    password = settings.signing_password.encode() or None
    try:
        key, cert, others = pkcs12.load_key_and_certificates(data, password)
    except ValueError:
        raise _refuse(
            agency, f"Không mở được chứng thư số của cơ quan {agency.name} (tệp hỏng hoặc sai mật khẩu)."
        ) from None
    if key is None or cert is None:
        raise _refuse(agency, f"Tệp chứng thư số của cơ quan {agency.name} không có khóa ký.")
    moment = now.astimezone(UTC)
    if moment > cert.not_valid_after_utc:
        raise _refuse(
            agency,
            f"Chứng thư số của cơ quan {agency.name} đã hết hạn ngày "
            f"{cert.not_valid_after_utc.strftime('%d/%m/%Y')}; không ký được tài liệu.",
        )
    if moment < cert.not_valid_before_utc:
        raise _refuse(
            agency,
            f"Chứng thư số của cơ quan {agency.name} chỉ có hiệu lực từ ngày "
            f"{cert.not_valid_before_utc.strftime('%d/%m/%Y')}.",
        )
    organisation = _name(cert, NameOID.ORGANIZATION_NAME)
    expected = expected_organisation(settings, agency)
    if _normalise(organisation) != _normalise(expected):
        raise _refuse(
            agency,
            f"Chứng thư số cấp cho tổ chức “{organisation or 'không ghi tên'}”, không phải cơ quan "
            f"“{expected}”; không ký được tài liệu.",
        )
    signer = signers.SimpleSigner.load_pkcs12_data(data, [], passphrase=password)
    if settings.signing_trust_roots.strip():
        roots = tuple(load_certs_from_pemder([settings.signing_trust_roots.strip()]))
    else:
        roots = tuple(asn1_x509.Certificate.load(c.public_bytes(Encoding.DER)) for c in others)
    return AgencyCertificate(signer, organisation, _name(cert, NameOID.COMMON_NAME), roots)


def _reader(data: bytes) -> PdfFileReader:
    if not data.startswith(b"%PDF-"):
        raise InvalidInput("Tệp không phải là tài liệu PDF hợp lệ.", "file")
    try:
        return PdfFileReader(io.BytesIO(data), strict=False)
    except (PdfError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise InvalidInput(f"Tệp PDF bị hỏng, không đọc được ({exc.__class__.__name__}).", "file") from None


def sign_pdf(certificate: AgencyCertificate, data: bytes, *, reason: str, agency: Agency) -> bytes:
    """The PDF with one more signature (PAdES baseline B) by the agency's certificate."""
    try:
        reader = _reader(data)
        count = len(reader.embedded_signatures)
        writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
        meta = signers.PdfSignatureMetadata(
            field_name=f"ChuKySo{count + 1}",
            subfilter=fields.SigSeedSubFilter.PADES,
            md_algorithm="sha256",
            reason=reason,
            name=certificate.common_name or None,
        )
        output = signers.sign_pdf(writer, meta, signer=certificate.signer)
    except InvalidInput as exc:
        raise _refuse(agency, exc.message) from None
    except (PdfError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise _refuse(agency, f"Không ký được tệp PDF: tệp bị hỏng ({exc.__class__.__name__}).") from None
    return output.getvalue()


def _subject(cert: asn1_x509.Certificate) -> tuple[str | None, str | None]:
    native = cert.subject.native
    return native.get("common_name"), native.get("organization_name")


def verify_pdf(data: bytes, trust_roots: tuple[asn1_x509.Certificate, ...] | list) -> SignatureCheck:
    """The state of the last signature of a PDF (InvalidInput when it is no readable PDF)."""
    reader = _reader(data)
    try:
        signatures = reader.embedded_signatures
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        return SignatureCheck("invalid", note=f"Không đọc được chữ ký ({exc.__class__.__name__})")
    if not signatures:
        return SignatureCheck("unsigned")
    signature = signatures[-1]
    context = ValidationContext(trust_roots=list(trust_roots), allow_fetching=False)
    try:
        status = asyncio.run(async_validate_pdf_signature(signature, context))
    except Exception as exc:  # any failure of a foreign signature makes it invalid
        return SignatureCheck("invalid", note=f"Không kiểm tra được chữ ký ({exc.__class__.__name__})")
    name, organisation = _subject(status.signing_cert)
    signed_at = status.signer_reported_dt
    if status.bottom_line:
        return SignatureCheck("valid", name, organisation, signed_at)
    if not status.intact:
        note = "Tài liệu đã bị thay đổi sau khi ký"
    elif not status.valid:
        note = "Chữ ký không khớp với chứng thư số"
    else:
        note = "Chứng thư số không thuộc tổ chức cung cấp dịch vụ chứng thực được tin cậy"
    return SignatureCheck("invalid", name, organisation, signed_at, note)


def trust_roots_for(settings: Settings, agency: Agency) -> tuple[asn1_x509.Certificate, ...]:
    """The roots that verify documents at this agency (empty when nothing is configured)."""
    if settings.signing_trust_roots.strip():
        return tuple(load_certs_from_pemder([settings.signing_trust_roots.strip()]))
    if not signing_enabled(settings):
        return ()
    path = Path(settings.signing_pkcs12.replace("{agency}", agency.code))
    try:
        _, _, others = pkcs12.load_key_and_certificates(
            path.read_bytes(), settings.signing_password.encode() or None
        )
    except (OSError, ValueError):
        return ()
    return tuple(asn1_x509.Certificate.load(c.public_bytes(Encoding.DER)) for c in others)
