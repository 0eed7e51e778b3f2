"""Digitised documents and results: a scan marks its checklist item digitised, a PDF is signed with
the agency's certificate (PAdES) and the signature verified (also independently, with pyHanko's
validator); bad files and certificates are refused with nothing changed; the applicant's earlier
documents are reused only within the agency's rights; the QĐ 766 digitisation group counts the marks."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from sqlalchemy import func, select

from engine.catalogue.procedures import procedure_by_code
from engine.documents import digitisation as dg
from engine.documents.signing import SigningRefused, verify_pdf
from engine.errors import Forbidden, InvalidInput
from engine.runtime import dossiers as svc
from engine.runtime.attachments import Upload
from engine.statistics import indicators as ind
from engine.statistics.periods import parse_period
from models import Attachment, Dossier, DossierEvent, Officer
from tests.conftest import at

SO = "000.00.12.H40"  # Sở Nội vụ: receives 1.001806
XA = "000.01.25.H40"  # Ủy ban nhân dân xã Demo: receives NA.3854
APPLICANT = svc.Applicant(name="Trần Thị Bình", id_number="001203009999", phone="0912000111")
PASSWORD = "mat-khau-thu"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64


def _name(common: str, organisation: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


def _usage(ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=not ca,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


class Pki:
    """A test CA and signing certificates issued by it, as PKCS#12 files in per-case directories."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = _name("CA thử nghiệm", "Tổ chức chứng thực thử nghiệm")
        self.ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(self.ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(datetime(2020, 1, 1, tzinfo=UTC))
            .not_valid_after(datetime(2045, 1, 1, tzinfo=UTC))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_usage(True), critical=True)
            .sign(self.ca_key, hashes.SHA256())
        )

    def issue(self, case: str, organisation: str, not_before: datetime, not_after: datetime) -> str:
        """Write {case}/<agency code>.p12 for SO; the settings' path pattern for it."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name("Nguyễn Văn Ký", organisation))
            .issuer_name(self.ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(_usage(False), critical=True)
            .sign(self.ca_key, hashes.SHA256())
        )
        folder = self.root / case
        folder.mkdir()
        data = pkcs12.serialize_key_and_certificates(
            b"ky-so", key, cert, [self.ca], serialization.BestAvailableEncryption(PASSWORD.encode())
        )
        (folder / f"{SO}.p12").write_bytes(data)
        return str(folder / "{agency}.p12")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Certificates built once for the module: valid, expired, and issued to another organisation."""
    made = Pki(tmp_path_factory.mktemp("pki"))
    start, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2044, 1, 1, tzinfo=UTC)
    return {
        "ca": asn1_x509.Certificate.load(made.ca.public_bytes(serialization.Encoding.DER)),
        "valid": made.issue("valid", "SỞ NỘI VỤ", start, end),
        "expired": made.issue("expired", "Sở Nội vụ", datetime(2024, 1, 1, tzinfo=UTC), start),
        "wrong": made.issue("wrong", "Công ty Cổ phần Khác", start, end),
    }


def pdf(text: str = "Don de nghi") -> bytes:
    """A one-page PDF with a correct cross-reference table."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


@pytest.fixture
def signing_ctx(make_ctx, pki, tmp_path):
    """A context whose Sở Nội vụ signs with the valid certificate."""
    return make_ctx(
        signing_pkcs12=pki["valid"], signing_password=PASSWORD, attachments_dir=str(tmp_path / "files")
    )


def _officers(ctx) -> dict[str, int]:
    with ctx.uow() as uow:
        return {o.username: o.id for o in uow.session.scalars(select(Officer))}


def _receive(ctx, officer_id: int, code: str = "1.001806", when: str = "2026-11-23 08:00", **kw):
    with ctx.uow() as uow:
        documents = list(procedure_by_code(uow.session, code).required_documents)
    receipt = svc.receive_dossier(
        ctx,
        procedure_code=code,
        applicant=kw.pop("applicant", APPLICANT),
        channel="in_person",
        officer_id=officer_id,
        now=at(when),
        documents=documents,
        **kw,
    )
    return receipt, documents


def _counts(ctx) -> tuple[int, int]:
    with ctx.uow() as uow:
        s = uow.session
        return (
            s.scalar(select(func.count(Attachment.id))),
            s.scalar(select(func.count(DossierEvent.id)).where(DossierEvent.kind.like("document_%"))),
        )


def test_a_scan_marks_its_document_digitised_and_a_pdf_is_signed_and_verifies(signing_ctx, pki) -> None:
    ctx = signing_ctx
    desk = _officers(ctx)["sonv.motcua"]
    receipt, documents = _receive(ctx, desk)
    signed = dg.digitise_document(
        ctx, desk, receipt.code, documents[0], Upload("don.pdf", pdf()), at("2026-11-23 08:10")
    )
    image = dg.digitise_document(
        ctx, desk, receipt.code, documents[1], Upload("danh-sach.jpg", JPEG), at("2026-11-23 08:12")
    )
    assert (signed.document_name, signed.digitised_at) == (documents[0], at("2026-11-23 08:10"))
    assert signed.signature_status == "valid"
    assert (signed.signer_name, signed.signer_organisation) == ("Nguyễn Văn Ký", "SỞ NỘI VỤ")
    assert signed.signed_at is not None
    # An image scan is kept as given: digitised, not signed.
    assert (image.signature_status, image.digitised_at) == (None, at("2026-11-23 08:12"))
    # The stored file verifies independently of the engine: intact, trusted up to the test CA.
    data = (Path(ctx.settings.attachments_dir) / signed.stored_path).read_bytes()
    signature = PdfFileReader(io.BytesIO(data)).embedded_signatures[0]
    status = validate_pdf_signature(signature, ValidationContext(trust_roots=[pki["ca"]]))
    assert status.bottom_line and status.intact and status.valid
    assert signature.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"  # PAdES
    panel = dg.digitisation_panel(ctx, desk, receipt.code)
    with ctx.uow() as uow:
        kinds = list(
            uow.session.scalars(
                select(DossierEvent.kind)
                .where(DossierEvent.dossier_id == receipt.dossier_id, DossierEvent.kind.like("document_%"))
                .order_by(DossierEvent.id)
            )
        )
    assert kinds == ["document_digitised", "document_signed", "document_digitised"]
    # A PDF attached unsigned is signed later; a changed copy of a signed file no longer verifies.
    later = dg.digitise_document(
        ctx,
        desk,
        receipt.code,
        documents[2],
        Upload("hd.pdf", pdf("Hop dong")),
        at("2026-11-23 08:14"),
        sign=False,
    )
    assert later.signature_status == "unsigned"
    assert (
        dg.sign_document(ctx, desk, receipt.code, later.id, at("2026-11-23 08:15")).signature_status
        == "valid"
    )
    tampered = verify_pdf(data.replace(b"Don de nghi", b"Don de nghj"), (pki["ca"],))
    assert (tampered.status, tampered.note) == ("invalid", "Tài liệu đã bị thay đổi sau khi ký")
    panel = dg.digitisation_panel(ctx, desk, receipt.code)
    assert panel.digitised_count == 3 and len(panel.checklist) == len(documents) == 4
    assert [r.digitised for r in panel.checklist] == [True, True, True, False]
    # A document outside the checklist is refused by name.
    with pytest.raises(InvalidInput, match="không thuộc thành phần hồ sơ"):
        dg.digitise_document(
            ctx, desk, receipt.code, "Giấy khác", Upload("x.pdf", pdf()), at("2026-11-23 08:20")
        )


REFUSALS = [
    ("valid", b"khong phai pdf", "không đúng định dạng .pdf"),
    ("valid", b"%PDF-1.7\nrac rac rac", "PDF"),
    ("expired", None, "đã hết hạn ngày 01/01/2025"),
    ("wrong", None, "“Công ty Cổ phần Khác”, không phải cơ quan “Sở Nội vụ”"),
]


def test_bad_files_and_certificates_are_refused_and_nothing_is_marked(
    make_ctx, pki, tmp_path, caplog
) -> None:
    first = make_ctx(attachments_dir=str(tmp_path / "f"))
    desk = _officers(first)["sonv.motcua"]
    receipt, documents = _receive(first, desk)
    before = _counts(first)
    for case, data, message in REFUSALS:
        ctx = make_ctx(
            signing_pkcs12=pki[case], signing_password=PASSWORD, attachments_dir=str(tmp_path / "f")
        )
        upload = Upload("don.pdf", data if data is not None else pdf())
        caplog.clear()
        with pytest.raises(InvalidInput, match=message) as refused:
            dg.digitise_document(ctx, desk, receipt.code, documents[0], upload, at("2026-11-23 08:10"))
        assert refused.value.http_status == 422, case
        assert _counts(ctx) == before, case
        if data is None or data.startswith(b"%PDF"):
            assert isinstance(refused.value, SigningRefused), case
            assert any(r.name == "motcua.signing" and "refused" in r.getMessage() for r in caplog.records)
    assert not list((tmp_path / "f").glob("*/*"))  # no file of a refused document was kept either


def test_reuse_within_the_agency_is_recorded_and_counted_and_refused_across_agencies(signing_ctx) -> None:
    ctx = signing_ctx
    people = _officers(ctx)
    desk, commune = people["sonv.motcua"], people["xa.motcua"]
    first, documents = _receive(ctx, desk)
    for name in documents:
        dg.digitise_document(ctx, desk, first.code, name, Upload("scan.jpg", JPEG), at("2026-11-23 08:10"))
    second, _ = _receive(ctx, desk, when="2026-11-24 08:00")
    offered = dg.reusable_documents(ctx, desk, second.code)
    assert {o.dossier_code for o in offered} == {first.code} and len(offered) == len(documents)
    copy = dg.reuse_document(
        ctx, desk, second.code, offered[0].attachment_id, offered[0].document_name, at("2026-11-24 08:05")
    )
    assert copy.reused_from_attachment_id == offered[0].attachment_id and copy.digitised_at is not None
    # The commune's desk sees none of the province department's documents and cannot take them.
    other, commune_documents = _receive(ctx, commune, code="NA.3854", when="2026-11-24 09:00")
    assert dg.reusable_documents(ctx, commune, other.code) == []
    before = _counts(ctx)
    with pytest.raises(Forbidden, match="cơ quan khác"):
        dg.reuse_document(
            ctx, commune, other.code, offered[0].attachment_id, commune_documents[0], at("2026-11-24 09:05")
        )
    assert _counts(ctx) == before
    # QĐ 766: the first dossier has every document digitised, the second one of them (reused).
    with ctx.uow() as uow:
        counts = ind.agency_counts(uow.session, parse_period("2026-11"), SO, now=at("2026-11-30 17:00"))[0]
        score = ind.qd766_scores(uow.session, parse_period("2026-11"), SO, now=at("2026-11-30 17:00"))[0]
    assert (counts.received, counts.with_inputs, counts.with_some_inputs, counts.with_reuse) == (2, 1, 2, 1)
    group = next(g for g in score.groups if g.key == "digitisation")
    assert group.score == pytest.approx(22 * 1 / 2)  # no dossier resolved yet: inputs only
    assert "22 × 1 / 2 = 11" in group.formula and "1 hồ sơ sử dụng lại giấy tờ đã số hóa" in group.formula


def test_the_receiving_form_offers_and_attaches_earlier_documents_and_the_page_refuses_bad_scans(web) -> None:
    ctx = web.app.extensions["motcua"]
    desk = _officers(ctx)["sonv.motcua"]
    first, documents = _receive(ctx, desk, when="2026-11-20 08:00")
    scan = dg.digitise_document(
        ctx, desk, first.code, documents[2], Upload("hd.jpg", JPEG), at("2026-11-20 08:05")
    )
    web.login("sonv.motcua")
    query = {"applicant_id_number": APPLICANT.id_number, "procedure_code": "1.001806"}
    offer = web.get("/mot-cua/giay-to-da-so-hoa", query_string=query).get_data(as_text=True)
    assert f'name="reuse_{scan.id}"' in offer and first.code in offer
    answer = web.post(
        "/mot-cua/tiep-nhan",
        {
            "procedure_code": "1.001806",
            "applicant_name": APPLICANT.name,
            "applicant_id_number": APPLICANT.id_number,
            "applicant_phone": APPLICANT.phone,
            "channel": "in_person",
            "documents": documents[0],
            f"reuse_{scan.id}": documents[2],
            "submission_key": "reuse-form-1",
        },
        page="/mot-cua/tiep-nhan",
    )
    assert answer.status_code == 302
    with ctx.uow() as uow:
        copy = uow.session.scalars(
            select(Attachment).where(Attachment.reused_from_attachment_id == scan.id)
        ).one()
        code = uow.session.get_one(Dossier, copy.dossier_id).code
    assert copy.document_name == documents[2] and code != first.code
    # A scan that is not what its name says is refused on the dossier page: 422, the message, nothing stored.
    before = _counts(ctx)
    refused = web.post(
        f"/ho-so/{code}/so-hoa",
        {"document": documents[1], "file": (io.BytesIO(b"not a pdf"), "ds.pdf")},
        page=f"/ho-so/{code}",
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422
    assert "không đúng định dạng .pdf" in refused.get_data(as_text=True)
    assert _counts(ctx) == before
